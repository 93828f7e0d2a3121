/* Shared bodies of the fuzz targets: see targets.h. Compiled into each
 * tests/fuzz/fuzz_*.c and into tests/unit/test_fuzz_regressions.c by
 * #include, so both builds need nothing beyond libnnctl.a. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_spec.h"
#include "data/dataset.h"
#include "io/keras/h5file.h"
#include "model/model.h"
#include "spec/spec.h"
#include "session/session.h"
#include "train/train_spec.h"

#include "fuzz/targets.h"

/* ---- inputs as files ---------------------------------------------------- */

typedef struct {
    int fd;
    char path[128];
    bool unlink_path;
} fuzz_file;

/* An anonymous in-memory file holding data, reachable by path. Nothing to
 * unlink: it disappears when closed. */
static bool fuzz_file_open(fuzz_file *f, const void *data, size_t size)
{
    f->unlink_path = false;
    f->fd = memfd_create("nnctl-fuzz", MFD_CLOEXEC);
    if (f->fd < 0) {
        perror("memfd_create");
        abort(); /* the harness cannot run: say so loudly */
    }
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(f->fd, p, left);
        if (w <= 0) {
            perror("write to memfd");
            abort();
        }
        p += w;
        left -= (size_t)w;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
    return true;
}

static void fuzz_file_close(fuzz_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->unlink_path)
        unlink(f->path);
    f->unlink_path = false;
}

/* A real temporary file, for libraries that need one: libhdf5 resolves the
 * path it opens (realpath), which fails for a memfd. Unlinked by
 * fuzz_file_close right after use. */
static void fuzz_file_open_tmp(fuzz_file *f, const void *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(f->path, sizeof f->path, "%s/nnctl-fuzz-XXXXXX",
             dir && *dir && strlen(dir) < sizeof f->path - 24 ? dir : "/tmp");
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        perror("mkstemp");
        abort();
    }
    f->unlink_path = true;
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(f->fd, p, left);
        if (w <= 0) {
            perror("write to a temporary file");
            fuzz_file_close(f);
            abort();
        }
        p += w;
        left -= (size_t)w;
    }
    close(f->fd);
    f->fd = -1;
}

/* NN_FUZZ_VERBOSE=1: print why an input was rejected (seed checking). */
static bool verbose(void)
{
    const char *v = getenv("NN_FUZZ_VERBOSE");
    return v && *v && *v != '0';
}

/* ---- spec ------------------------------------------------------------- */

#define FUZZ_MAX_OVERRIDES 64

/* Reads the document the way the commands do: model, train, data, then the
 * unknown-key check on the root. Nothing is allocated on an engine. */
static void read_spec(nn_spec *s)
{
    nn_error err;
    nn_spec_node *root = nn_spec_root(s), *ms = NULL, *ts = NULL, *ds = NULL;
    if (!root)
        return;
    nn_model *m = NULL;
    if (nn_spec_group(root, "model", false, &ms, &err) == NN_OK && ms &&
        nn_model_from_spec(ms, &m, &err) != NN_OK)
        m = NULL;
    if (m && nn_spec_group(root, "train", false, &ts, &err) == NN_OK && ts) {
        nn_train_cfg tc;
        memset(&tc, 0, sizeof tc);
        (void)nn_spec_train(ts, m, &tc, &err);
    }
    nn_model_free(m);
    if (nn_spec_group(root, "data", false, &ds, &err) == NN_OK && ds) {
        nn_data_cfg dc;
        memset(&dc, 0, sizeof dc);
        (void)nn_spec_data(ds, &dc, &err);
    }
    (void)nn_spec_check_unknown(root, &err);
}

static bool has_include(const char *text)
{
    for (const char *p = strchr(text, '@'); p; p = strchr(p + 1, '@'))
        if (strncasecmp(p + 1, "include", 7) == 0)
            return true;
    return false;
}

int nn_fuzz_spec(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    /* libconfig's @include would read any file named by the input (even
     * /dev/zero or a FIFO): that is the spec's author's business, not what
     * is fuzzed here. */
    if (has_include(buf)) {
        free(buf);
        return 0;
    }

    /* "spec text \n%%\n override \n override ..." */
    char *overrides = NULL;
    for (char *p = buf; p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (p[0] == '%' && p[1] == '%' && (p[2] == '\n' || p[2] == '\0' || p[2] == '\r')) {
            *p = '\0';
            overrides = p + 2;
            overrides += strspn(overrides, "\r");
            if (*overrides == '\n')
                overrides++;
            break;
        }
        if (!*p)
            break;
    }

    nn_error err;
    nn_spec *s = NULL;
    if (nn_spec_load_string(&s, buf, "fuzz.cfg", &err) != NN_OK) {
        free(buf);
        return 0;
    }
    int n_over = 0;
    for (char *line = overrides; line && *line && n_over < FUZZ_MAX_OVERRIDES; n_over++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[len - 1] = '\0';
        (void)nn_spec_override(s, line, &err);
        line = nl ? nl + 1 : NULL;
    }

    /* what a model file stores must load again */
    char *text = NULL;
    if (nn_spec_to_text(s, &text, &err) == NN_OK) {
        nn_spec *again = NULL;
        if (nn_spec_load_string(&again, text, "fuzz.cfg (written)", &err) != NN_OK) {
            fprintf(stderr, "nn_spec_to_text wrote a spec that does not load: %s\n---\n%s---\n",
                    err.msg, text);
            abort();
        }
        read_spec(again);
        nn_spec_free(again);
        free(text);
    }
    read_spec(s);
    nn_spec_free(s);
    free(buf);
    return 0;
}

/* ---- idx -------------------------------------------------------------- */

#define FUZZ_IDX_MAX_N 4096

static size_t put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4;
}

/* A valid uint8 IDX: n labels (1 dim), or n 2x2 images (3 dims). */
static uint8_t *make_idx(uint32_t n, bool images, size_t *len)
{
    int ndim = images ? 3 : 1;
    size_t body = images ? (size_t)n * 4 : n;
    size_t hdr = 4 + 4 * (size_t)ndim;
    uint8_t *b = calloc(1, hdr + body + 1);
    if (!b)
        return NULL;
    size_t o = put_be32(b, 0x00000800u | (uint32_t)ndim);
    o += put_be32(b + o, n);
    if (images) {
        o += put_be32(b + o, 2);
        o += put_be32(b + o, 2);
    }
    for (size_t i = 0; i < body; i++)
        b[o + i] = (uint8_t)(images ? i * 37 : i % 3);
    *len = hdr + body;
    return b;
}

static void load_pair(const uint8_t *images, size_t images_len, const uint8_t *labels,
                      size_t labels_len)
{
    fuzz_file fi, fl;
    fuzz_file_open(&fi, images, images_len);
    fuzz_file_open(&fl, labels, labels_len);
    nn_dataset d;
    nn_error err;
    memset(&d, 0, sizeof d);
    if (nn_dataset_load_idx(fi.path, fl.path, &d, &err) == NN_OK) {
        /* touch every sample the way a batch would */
        size_t count = d.n < 64 ? d.n : 64;
        uint32_t idx[64];
        for (size_t i = 0; i < count; i++)
            idx[i] = (uint32_t)(d.n - 1 - i);
        float *x = malloc((count ? count : 1) * (d.sample_size ? d.sample_size : 1) * sizeof *x);
        float *y = malloc((count ? count : 1) * (size_t)(d.n_classes > 0 ? d.n_classes : 1) *
                          sizeof *y);
        if (x && y) {
            nn_dataset_gather_x(&d, idx, count, x);
            nn_dataset_gather_y(&d, idx, count, d.n_classes, y);
            nn_dataset_gather_y(&d, idx, count, false, y);
        }
        free(x);
        free(y);
    }
    nn_dataset_free(&d);
    fuzz_file_close(&fi);
    fuzz_file_close(&fl);
}

int nn_fuzz_idx(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);
    nn_idx idx;
    nn_error err;
    memset(&idx, 0, sizeof idx);
    uint32_t n = 1;
    if (nn_idx_read(f.path, &idx, &err) == NN_OK) {
        if (idx.ndim >= 1 && idx.dims[0] > 0)
            n = idx.dims[0] < FUZZ_IDX_MAX_N ? idx.dims[0] : FUZZ_IDX_MAX_N;
        free(idx.data);
    }
    fuzz_file_close(&f);

    size_t len;
    uint8_t *labels = make_idx(n, false, &len);
    if (labels) {
        load_pair(data, size, labels, len);
        free(labels);
    }
    uint8_t *images = make_idx(n, true, &len);
    if (images) {
        load_pair(images, len, data, size);
        free(images);
    }
    return 0;
}

/* ---- png -------------------------------------------------------------- */

/* Rewrites every complete chunk's CRC: libpng rejects a chunk whose CRC is
 * wrong before looking at it, so without this nearly every mutation dies
 * there (and libpng itself is not instrumented for coverage). */
static void png_fix_crcs(uint8_t *p, size_t size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || memcmp(p, sig, 8) != 0)
        return;
    size_t o = 8;
    while (size - o >= 12) {
        uint32_t len = (uint32_t)p[o] << 24 | (uint32_t)p[o + 1] << 16 |
                       (uint32_t)p[o + 2] << 8 | p[o + 3];
        if (len > size - o - 12)
            break;
        uint32_t crc = (uint32_t)crc32(0L, p + o + 4, (uInt)len + 4);
        put_be32(p + o + 8 + len, crc);
        o += 12 + (size_t)len;
    }
}

int nn_fuzz_png(const uint8_t *input, size_t size)
{
    uint8_t *data = malloc(size ? size : 1);
    if (!data)
        return 0;
    memcpy(data, input, size);
    png_fix_crcs(data, size);
    fuzz_file f;
    fuzz_file_open(&f, data, size);
    free(data);
    uint8_t *pixels = NULL;
    int h = 0, w = 0, c = 0;
    bool dropped = false;
    nn_error err;
    nn_status rc = nn_png_read(f.path, &pixels, &h, &w, &c, &dropped, &err);
    if (rc != NN_OK && verbose())
        fprintf(stderr, "nn_png_read: %s\n", err.msg);
    if (rc == NN_OK) {
        /* every pixel must be there */
        size_t n = (size_t)h * (size_t)w * (size_t)c;
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += pixels[i];
        if (h <= 0 || w <= 0 || (c != 1 && c != 3)) {
            fprintf(stderr, "nn_png_read: %dx%dx%d (sum %u)\n", h, w, c, sum);
            abort();
        }
    }
    free(pixels);
    fuzz_file_close(&f);
    return 0;
}

/* ---- model files ------------------------------------------------------ */

int nn_fuzz_model(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open_tmp(&f, data, size);
    /* libhdf5 parses in this process, where the fuzzer sees its coverage
     * (nnctl itself parses in a sandboxed child: src/io/keras/h5_sandbox.c) */
    nn_h5_sandbox_enable(false);
    nn_session s;
    nn_error err;
    memset(&s, 0, sizeof s);
    if (nn_session_from_model_file(&s, f.path, NULL, NULL, 0, &err) != NN_OK && verbose())
        fprintf(stderr, "nn_session_from_model_file: %s\n", err.msg);
    nn_session_free(&s);
    fuzz_file_close(&f);
    return 0;
}

const nn_fuzz_target nn_fuzz_targets[] = {
    {"spec", nn_fuzz_spec},
    {"idx", nn_fuzz_idx},
    {"png", nn_fuzz_png},
    {"model", nn_fuzz_model},
    {NULL, NULL},
};

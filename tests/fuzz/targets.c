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
#include "data/npy.h"
#include "experiments/runs.h"
#include "io/keras/h5file.h"
#include "io/keras/import.h"
#include "io/keras/model_file.h"
#include "model/model.h"
#include "session/session.h"
#include "spec/spec.h"
#include "sweep/sweep.h"
#include "train/fit.h"
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
    nn_status st = nn_session_from_model_file(&s, f.path, NULL, NULL, 0, &err);
    if (st != NN_OK && verbose())
        fprintf(stderr, "nn_session_from_model_file: %s\n", err.msg);
    nn_session_free(&s);
    /* a weights-only file stops above (it holds no network): its weights
     * are read as train.init_from and model.base.application read them;
     * the checkpoint's reader, so that the optimizer's state is parsed too */
    nn_h5_model m;
    if (st != NN_OK && nn_h5_load_checkpoint(f.path, &m, &err) == NN_OK) {
        if (!m.model_config && !m.nnctl_spec && nn_keras_fix_weights(&m, f.path, &err) != NN_OK &&
            verbose())
            fprintf(stderr, "nn_keras_fix_weights: %s\n", err.msg);
        nn_h5_model_free(&m);
    }
    fuzz_file_close(&f);
    return 0;
}

/* ---- shared: a scratch folder, parts of one input ---------------------- */

/* One folder per process under $TMPDIR for the targets whose code under
 * test reads files by name from a directory (run directories, sweeps,
 * checkpoints); the files in it are rewritten by every input. */
static const char *scratch_dir(void)
{
    static char dir[200];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/nnctl-fuzz-dir.XXXXXX",
                 t && *t && strlen(t) < sizeof dir - 32 ? t : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

static void scratch_write(const char *name, const char *data, size_t len)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    if (!data) {
        unlink(path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Splits a NUL-terminated copy of the input at lines that are exactly
 * "%%": parts[i] points into buf (missing parts are NULL). */
static int split_parts(char *buf, char **parts, int max)
{
    int n = 0;
    for (int i = 0; i < max; i++)
        parts[i] = NULL;
    parts[n++] = buf;
    for (char *p = buf; *p && n < max;) {
        char *nl = strchr(p, '\n');
        char *line = p;
        if (line[0] == '%' && line[1] == '%' && (line[2] == '\n' || line[2] == '\0')) {
            *line = '\0';
            parts[n++] = nl ? nl + 1 : line + 2;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

static char *nul_copy(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (buf) {
        memcpy(buf, data, size);
        buf[size] = '\0';
    }
    return buf;
}

/* Reads every sample and target of d the way batches do. */
static void touch_dataset(const nn_dataset *d)
{
    size_t count = d->n < 32 ? d->n : 32;
    if (!count || !d->sample_size)
        return;
    uint32_t idx[32];
    for (size_t i = 0; i < count; i++)
        idx[i] = (uint32_t)(d->n - 1 - i);
    float *x = malloc(count * d->sample_size * sizeof *x);
    /* One-hot rows are as wide as the model's output, which a session checks
     * against the labels before any batch: a label of 13,513,141 in a
     * 300-byte file never gets 32 rows that wide. Wider label sets are read
     * as sparse labels (the same records, without a gigabyte to touch). */
    int one_hot = d->labels && d->n_classes <= 4096 ? d->n_classes : 0;
    size_t ty = d->target_size > (size_t)one_hot ? d->target_size : (size_t)one_hot;
    float *y = malloc(count * (ty ? ty : 1) * sizeof *y);
    if (x && y) {
        nn_dataset_gather_x(d, idx, count, x);
        if (d->labels || d->targets)
            nn_dataset_gather_y(d, idx, count, one_hot, y);
    }
    free(x);
    free(y);
}

/* ---- npy --------------------------------------------------------------- */

/* A valid '<i4' labels file of n rows (0, 1, 0, ...). */
static uint8_t *make_npy_labels(size_t n, size_t *len)
{
    char hdr[128];
    int h = snprintf(hdr, sizeof hdr, "{'descr': '<i4', 'fortran_order': False, 'shape': (%zu,), }",
                     n);
    size_t total = 10 + (size_t)h + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)h + pad + 1;
    uint8_t *b = calloc(1, 10 + hlen + 4 * n);
    if (!b)
        return NULL;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    b[8] = (uint8_t)(hlen & 0xff);
    b[9] = (uint8_t)(hlen >> 8);
    memcpy(b + 10, hdr, (size_t)h);
    memset(b + 10 + h, ' ', pad);
    b[10 + hlen - 1] = '\n';
    for (size_t i = 0; i < n; i++)
        b[10 + hlen + 4 * i] = (uint8_t)(i % 2);
    *len = 10 + hlen + 4 * n;
    return b;
}

#define FUZZ_NPY_MAX_N 4096

int nn_fuzz_npy(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);
    nn_error err;
    nn_npy_reader r;
    size_t n = 1;
    if (nn_npy_open(f.path, &r, &err) == NN_OK) {
        if (r.info.ndim >= 1 && r.info.shape[0] > 0)
            n = r.info.shape[0] < FUZZ_NPY_MAX_N ? r.info.shape[0] : FUZZ_NPY_MAX_N;
        size_t count = r.info.count < 65536 ? r.info.count : 65536;
        float *v = malloc((count ? count : 1) * sizeof *v);
        int32_t *l = malloc((count ? count : 1) * sizeof *l);
        uint8_t *u = malloc(count ? count : 1);
        if (v && l && u) {
            (void)nn_npy_read_f32(&r, v, count / 2, &err);
            if (nn_npy_is_integer(r.info.dtype))
                (void)nn_npy_read_labels(&r, l, count - count / 2, &err);
            else
                (void)nn_npy_read_f32(&r, v, count - count / 2, &err);
        }
        nn_npy_close(&r);
        if (r.info.dtype == NN_NPY_U1 && nn_npy_open(f.path, &r, &err) == NN_OK) {
            (void)nn_npy_read_u8(&r, u, count, &err);
            nn_npy_close(&r);
        }
        free(v);
        free(l);
        free(u);
    }
    /* as a dataset's samples (with valid labels), and as its targets */
    size_t len;
    uint8_t *labels = make_npy_labels(n, &len);
    if (labels) {
        fuzz_file fl;
        fuzz_file_open(&fl, labels, len);
        nn_dataset d;
        memset(&d, 0, sizeof d);
        if (nn_npy_load_dataset(f.path, fl.path, &d, &err) == NN_OK)
            touch_dataset(&d);
        nn_dataset_free(&d);
        memset(&d, 0, sizeof d);
        if (nn_npy_load_dataset(fl.path, f.path, &d, &err) == NN_OK)
            touch_dataset(&d);
        nn_dataset_free(&d);
        fuzz_file_close(&fl);
        free(labels);
    }
    fuzz_file_close(&f);
    return 0;
}

/* ---- csv and tokens ---------------------------------------------------- */

/* The first byte picks the options; the rest is the file. */
int nn_fuzz_csv(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nn_csv_seq_opts o = {.timesteps = 1 + (data[0] & 7),
                         .features = 1 + ((data[0] >> 3) & 3),
                         .header = (data[0] & 0x20) != 0,
                         .regression = (data[0] & 0x40) != 0};
    fuzz_file f;
    fuzz_file_open(&f, data + 1, size - 1);
    nn_dataset d;
    nn_error err;
    memset(&d, 0, sizeof d);
    if (nn_csv_seq_load(f.path, &o, &d, &err) == NN_OK)
        touch_dataset(&d);
    else if (verbose())
        fprintf(stderr, "nn_csv_seq_load: %s\n", err.msg);
    nn_dataset_free(&d);
    fuzz_file_close(&f);
    return 0;
}

int nn_fuzz_tokens(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    nn_tokens_opts o = {.maxlen = 1 + (data[0] & 15),
                        .pad_post = (data[0] & 0x10) != 0,
                        .trunc_post = (data[0] & 0x20) != 0,
                        .value = (data[0] >> 6)};
    fuzz_file f;
    fuzz_file_open(&f, data + 1, size - 1);
    nn_dataset d;
    nn_error err;
    memset(&d, 0, sizeof d);
    if (nn_tokens_load(f.path, &o, &d, &err) == NN_OK)
        touch_dataset(&d);
    else if (verbose())
        fprintf(stderr, "nn_tokens_load: %s\n", err.msg);
    nn_dataset_free(&d);
    fuzz_file_close(&f);
    return 0;
}

/* ---- the CIFAR-10 archive (tar, gzipped or not) and its batch files ----- */

int nn_fuzz_cifar(const uint8_t *data, size_t size)
{
    fuzz_file f;
    fuzz_file_open(&f, data, size);
    nn_error err;
    static const char *const parts[] = {"test", "train"};
    for (int i = 0; i < 2; i++) {
        nn_dataset d;
        nn_class_names names;
        if (nn_cifar10_load_archive(f.path, parts[i], &d, &names, &err) == NN_OK) {
            touch_dataset(&d);
            for (int k = 0; k < names.n; k++)
                if (!names.names[k]) {
                    fprintf(stderr, "class name %d is NULL\n", k);
                    abort();
                }
        } else if (verbose())
            fprintf(stderr, "nn_cifar10_load_archive(%s): %s\n", parts[i], err.msg);
        nn_class_names_free(&names);
        nn_dataset_free(&d);
    }
    /* the same bytes as one data_batch_N.bin */
    const char *paths[1] = {f.path};
    nn_dataset d;
    if (nn_cifar10_load_files(paths, 1, &d, NULL, &err) == NN_OK)
        touch_dataset(&d);
    nn_dataset_free(&d);
    fuzz_file_close(&f);
    return 0;
}

/* ---- Keras JSON: model_config / to_json() and training_config ---------- */

/* The converted text must load as a spec; a model that converts is built. */
static void keras_spec(const char *text, const char *what)
{
    nn_spec *s = NULL;
    nn_error err;
    if (nn_spec_load_string(&s, text, what, &err) != NN_OK) {
        fprintf(stderr, "%s: the converted spec does not load: %s\n---\n%s---\n", what,
                err.msg, text);
        abort();
    }
    nn_spec_node *root = nn_spec_root(s), *ms = NULL;
    nn_model *m = NULL;
    if (nn_spec_group(root, "model", false, &ms, &err) == NN_OK && ms &&
        nn_model_from_spec(ms, &m, &err) != NN_OK && verbose())
        fprintf(stderr, "nn_model_from_spec: %s\n", err.msg);
    nn_model_free(m);
    nn_spec_free(s);
}

/* The first byte picks the keras_version the file would declare. */
int nn_fuzz_keras_json(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const versions[] = {NULL, "1.2.2", "2.15.0", "3.3.3"};
    const char *version = versions[data[0] & 3];
    char *json = nul_copy(data + 1, size - 1);
    if (!json)
        return 0;
    char *text = NULL;
    nn_error err;
    if (nn_keras_model_text(json, "fuzz.json", version, &text, &err) == NN_OK)
        keras_spec(text, "fuzz.json (model_config)");
    else if (verbose())
        fprintf(stderr, "nn_keras_model_text: %s\n", err.msg);
    free(text);
    text = NULL;
    if (nn_keras_train_text(json, "fuzz.json", &text, &err) == NN_OK) {
        nn_spec *s = NULL;
        if (nn_spec_load_string(&s, text, "fuzz.json (training_config)", &err) != NN_OK) {
            fprintf(stderr, "training_config: the converted spec does not load: %s\n---\n%s---\n",
                    err.msg, text);
            abort();
        }
        nn_spec_free(s);
    }
    free(text);
    free(json);
    return 0;
}

/* ---- run directories: spec.cfg, history.csv, run.json, eval.json -------- */

/* Input: history.csv, then optional parts after "%%" lines: run.json,
 * eval.json, spec.cfg (a small valid spec when absent). A missing part is
 * a missing file. */
int nn_fuzz_rundir(const uint8_t *data, size_t size)
{
    char *buf = nul_copy(data, size);
    if (!buf)
        return 0;
    char *p[4];
    split_parts(buf, p, 4);
    static const char spec[] =
        "model: { input = { shape = [4]; }; layers = ({ type = \"dense\"; units = 2; }); };\n"
        "train: { loss = \"mse\"; optimizer = \"sgd\"; };\n";
    scratch_write("history.csv", p[0], p[0] ? strlen(p[0]) : 0);
    scratch_write("run.json", p[1], p[1] ? strlen(p[1]) : 0);
    scratch_write("eval.json", p[2], p[2] ? strlen(p[2]) : 0);
    scratch_write("spec.cfg", p[3] ? p[3] : spec, strlen(p[3] ? p[3] : spec));
    nn_error err;
    nn_history h;
    if (nn_history_parse(p[0], "history.csv", &h, &err) == NN_OK)
        nn_history_free(&h);
    const char *dirs[1] = {scratch_dir()};
    nn_run *runs = NULL;
    int n = 0;
    if (nn_runs_load(dirs, 1, NULL, &runs, &n, &err) == NN_OK) {
        FILE *out = fopen("/dev/null", "w");
        static const char *const sorts[] = {NULL, "val_accuracy", "params", "test_loss"};
        for (int fmt = 0; out && fmt < 3; fmt++)
            (void)nn_runs_table(runs, n, sorts[fmt], fmt == 1, (nn_table_format)fmt, out, &err);
        if (out)
            fclose(out);
        (void)nn_runs_primary_metric(runs, n);
        nn_runs_free(runs, n);
    } else if (verbose())
        fprintf(stderr, "nn_runs_load: %s\n", err.msg);
    /* a sweep reads the same files for its objective */
    static const char *const objectives[] = {"val_loss", "val_accuracy", "test_accuracy", "loss"};
    static nn_sweep sw;
    for (int i = 0; i < 4; i++) {
        snprintf(sw.objective, sizeof sw.objective, "%s", objectives[i]);
        sw.maximize = nn_objective_maximize(objectives[i]);
        double v;
        (void)nn_sweep_read_objective(&sw, scratch_dir(), &v, &err);
    }
    free(buf);
    return 0;
}

/* ---- sweep files, and sweep.json (a resumed sweep's state) --------------- */

/* Input: the sweep file, then optionally "%%" and sweep.json, in which the
 * text FINGERPRINT stands for the sweep's own fingerprint (so mutations
 * get past that check). base = "base.cfg" names a valid spec that is there. */
int nn_fuzz_sweep(const uint8_t *data, size_t size)
{
    char *buf = nul_copy(data, size);
    if (!buf)
        return 0;
    char *p[2];
    split_parts(buf, p, 2);
    static const char base[] =
        "model: { input = { shape = [4]; }; layers = ({ type = \"dense\"; units = 2; }); };\n"
        "train: { loss = \"mse\"; optimizer = { type = \"sgd\"; lr = 0.1; }; epochs = 2; };\n";
    scratch_write("base.cfg", base, sizeof base - 1);
    if (has_include(p[0])) {
        free(buf);
        return 0;
    }
    scratch_write("sweep.cfg", p[0], strlen(p[0]));
    char path[400];
    snprintf(path, sizeof path, "%s/sweep.cfg", scratch_dir());
    nn_sweep sw;
    nn_error err;
    if (nn_sweep_load(&sw, path, &err) != NN_OK) {
        if (verbose())
            fprintf(stderr, "nn_sweep_load: %s\n", err.msg);
        nn_sweep_free(&sw);
        free(buf);
        return 0;
    }
    nn_trials ts;
    memset(&ts, 0, sizeof ts);
    if (sw.trials <= 4096 && nn_sweep_initial(&sw, &ts, &err) == NN_OK) {
        char a[2 * NN_PARAM_TEXT];
        for (int t = 0; t < ts.n && t < 8; t++)
            for (int i = 0; i < sw.space.n; i++)
                nn_trial_assignment(&sw, &ts.t[t], i, a, sizeof a);
    }
    nn_trials_free(&ts);
    memset(&ts, 0, sizeof ts);
    if (p[1]) {
        char fp[32];
        snprintf(fp, sizeof fp, "%016llx", nn_sweep_fingerprint(&sw));
        size_t len = strlen(p[1]);
        char *state = malloc(len + 1);
        if (state) {
            /* "FINGERPRINT" (11 bytes) -> the 16 hex digits, in a bigger buffer */
            size_t cap = len * 2 + 1, o = 0;
            char *out = malloc(cap);
            for (size_t i = 0; out && i < len;) {
                if (!strncmp(p[1] + i, "FINGERPRINT", 11)) {
                    memcpy(out + o, fp, 16);
                    o += 16;
                    i += 11;
                } else
                    out[o++] = p[1][i++];
            }
            if (out) {
                scratch_write("sweep.json", out, o);
                bool found;
                if (nn_sweep_restore(&sw, &ts, scratch_dir(), &found, &err) == NN_OK && found &&
                    sw.strategy == NN_SWEEP_BAYES && ts.n < 64) {
                    for (int t = 0; t < ts.n; t++)
                        if (ts.t[t].status != NN_TRIAL_FAILED) {
                            ts.t[t].status = NN_TRIAL_DONE;
                            ts.t[t].objective = (double)t * 0.25 - 1.0;
                        }
                    (void)nn_sweep_propose(&sw, &ts, &err);
                }
                free(out);
            }
            free(state);
        }
        nn_trials_free(&ts);
    }
    nn_sweep_free(&sw);
    free(buf);
    return 0;
}

/* ---- resume: a checkpoint's training state (JSON) ------------------------ */

/* The input is the /nnctl "state" attribute of a checkpoint of a small
 * model: the checkpoint is written once by nnctl's own writer (weights,
 * optimizer slots, a best-weights snapshot) and read back with nn_h5_load;
 * each input replaces its state text, which nn_fit_checkpoint_position and
 * nn_fit_load_resume then read as `nnctl train --resume` does. */
int nn_fuzz_resume(const uint8_t *data, size_t size)
{
    static nn_session s;
    static nn_h5_model f;
    static char path[400];
    static const char spec[] =
        "model: { input = { shape = [3]; }; layers = ({ type = \"dense\"; units = 4; "
        "activation = \"relu\"; }, { type = \"dense\"; units = 2; activation = \"softmax\"; }); };\n"
        "train: { loss = \"categorical_crossentropy\"; optimizer = { type = \"adam\"; }; "
        "metrics = [\"accuracy\"]; seed = 7; callbacks = { early_stopping = { enabled = true; "
        "restore_best_weights = true; }; }; };\n";
    nn_error err;
    if (!s.model) {
        nn_spec *sp = NULL;
        static float best[64]; /* the model has 26 parameters */
        snprintf(path, sizeof path, "%s/last.h5", scratch_dir());
        nn_h5_sandbox_enable(false); /* the checkpoint is nnctl's own, read once */
        nn_status st = nn_spec_load_string(&sp, spec, "resume.cfg", &err);
        if (!st)
            st = nn_session_build(&s, sp, &err);
        if (!st) {
            char *compile = nn_train_keras_config(&s.train);
            nn_opt_slots slots = {s.train.optimizer.kind, s.train.optimizer.amsgrad,
                                  s.train.optimizer.name};
            nn_model_file_opts fo = {.spec_text = spec, .state_json = "{}",
                                     .training_config = compile, .opt = &slots,
                                     .best_weights = best};
            st = compile ? nn_model_save(s.model, path, &fo, &err)
                         : nn_fail(&err, NN_ERR_RUNTIME, "out of memory");
            free(compile);
        }
        if (!st)
            st = nn_h5_load_checkpoint(path, &f, &err);
        if (st) {
            fprintf(stderr, "the resume target's checkpoint: %s\n", err.msg);
            abort();
        }
    }
    char *state = nul_copy(data, size);
    if (!state)
        return 0;
    char *kept = f.nnctl_state;
    f.nnctl_state = state;
    long long epoch, step;
    (void)nn_fit_checkpoint_position(&f, path, &epoch, &step, &err);
    nn_train_cfg t = s.train;
    nn_fit_state st;
    if (nn_fit_load_resume(&f, path, s.model, &t, &st, &err) == NN_OK)
        nn_fit_state_free(&st);
    else if (verbose())
        fprintf(stderr, "nn_fit_load_resume: %s\n", err.msg);
    f.nnctl_state = kept;
    free(state);
    return 0;
}

const nn_fuzz_target nn_fuzz_targets[] = {
    {"spec", nn_fuzz_spec},       {"idx", nn_fuzz_idx},
    {"png", nn_fuzz_png},         {"model", nn_fuzz_model},
    {"npy", nn_fuzz_npy},         {"csv", nn_fuzz_csv},
    {"tokens", nn_fuzz_tokens},   {"cifar", nn_fuzz_cifar},
    {"keras_json", nn_fuzz_keras_json}, {"rundir", nn_fuzz_rundir},
    {"sweep", nn_fuzz_sweep},     {"resume", nn_fuzz_resume},
    {NULL, NULL},
};

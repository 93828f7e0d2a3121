/* Tests for src/data/: IDX reading (real MNIST when NNCTL_DATA is set, and
 * synthetic files), PNG read/write, validation split, stratified subsets and
 * batch gathering. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "unit/skip.h"

#include "unit/tmpfiles.h"

static void write_bytes(const char *path, const void *data, size_t len, bool gz)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        if (len)
            assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

/* IDX file: magic 00 00 type ndim, big-endian dims, then payload. */
static void write_idx(const char *path, int type, int ndim, const uint32_t *dims,
                      const uint8_t *payload, size_t plen, bool gz)
{
    size_t hl = 4 + 4 * (size_t)ndim;
    uint8_t *buf = malloc(hl + plen + 1);
    assert_non_null(buf);
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (uint8_t)type;
    buf[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        buf[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        buf[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        buf[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (plen)
        memcpy(buf + hl, payload, plen);
    write_bytes(path, buf, hl + plen, gz);
    free(buf);
}


/* ---------- real MNIST ---------- */

static const char *mnist_path(const char *name)
{
    const char *root = getenv("NNCTL_DATA");
    static char buf[2][1024];
    static int next;
    char *p = buf[next++ % 2];
    snprintf(p, 1024, "%s/mnist/%s", root, name);
    return p;
}

static void test_mnist_real(void **state)
{
    (void)state;
    if (!getenv("NNCTL_DATA") || !*getenv("NNCTL_DATA") ||
        access(mnist_path("train-images-idx3-ubyte.gz"), R_OK) != 0)
        NN_SKIP("no mnist/ under $NNCTL_DATA (scripts/fetch-data mnist)");
    nn_error err = {0};
    nn_dataset tr, te;
    nn_status st = nn_dataset_load_idx(mnist_path("train-images-idx3-ubyte.gz"),
                                       mnist_path("train-labels-idx1-ubyte.gz"), &tr, &err);
    if (st != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(tr.n, 60000);
    assert_int_equal(tr.ndim, 2);
    assert_int_equal(tr.shape[0], 28);
    assert_int_equal(tr.shape[1], 28);
    assert_int_equal(tr.sample_size, 784);
    assert_int_equal(tr.n_classes, 10);
    assert_int_equal(tr.labels[0], 5);
    assert_non_null(tr.u8);
    assert_null(tr.f32);
    assert_true(tr.scale == 1.0f);

    st = nn_dataset_load_idx(mnist_path("t10k-images-idx3-ubyte.gz"),
                             mnist_path("t10k-labels-idx1-ubyte.gz"), &te, &err);
    if (st != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(te.n, 10000);
    assert_int_equal(te.shape[0], 28);
    assert_int_equal(te.shape[1], 28);
    static const int want[10] = {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009};
    int hist[10] = {0};
    for (size_t i = 0; i < te.n; i++) {
        assert_in_range(te.labels[i], 0, 9);
        hist[te.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        assert_int_equal(hist[k], want[k]);
    /* pixels are 0..255 and the first image is not blank */
    unsigned sum = 0;
    for (int j = 0; j < 784; j++)
        sum += tr.u8[j];
    assert_true(sum > 0);

    /* a stratified 1000 of the test set: 98,114,103,101,98,89,96,103,97,101 */
    nn_rng rng;
    nn_rng_seed(&rng, 42, NN_STREAM_SUBSET);
    nn_dataset sub;
    assert_int_equal(nn_dataset_subset_stratified(&te, 1000, &rng, &sub, &err), NN_OK);
    int sh[10] = {0};
    for (size_t i = 0; i < sub.n; i++)
        sh[sub.labels[i]]++;
    static const int want_sub[10] = {98, 114, 103, 101, 98, 89, 96, 103, 97, 101};
    for (int k = 0; k < 10; k++)
        assert_int_equal(sh[k], want_sub[k]);
    nn_dataset_free(&sub);

    nn_dataset_free(&tr);
    nn_dataset_free(&te);
    assert_null(tr.u8);
    assert_int_equal(tr.n, 0);
}

/* ---------- synthetic IDX ---------- */

static void test_idx_plain_and_gz(void **state)
{
    (void)state;
    uint8_t px[3 * 2 * 2];
    for (int i = 0; i < 12; i++)
        px[i] = (uint8_t)(i * 20);
    uint32_t d3[3] = {3, 2, 2}, d1[1] = {3};
    uint8_t lab[3] = {1, 0, 4};
    for (int gz = 0; gz < 2; gz++) {
        const char *ip = tpath(gz ? "img.gz" : "img"), *lp = tpath(gz ? "lab.gz" : "lab");
        write_idx(ip, 0x08, 3, d3, px, sizeof px, gz);
        write_idx(lp, 0x08, 1, d1, lab, sizeof lab, gz);
        if (gz) { /* really gzipped */
            FILE *f = fopen(ip, "rb");
            assert_non_null(f);
            assert_int_equal(fgetc(f), 0x1f);
            fclose(f);
        }
        nn_error err = {0};
        nn_idx idx;
        if (nn_idx_read(ip, &idx, &err) != NN_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(idx.ndim, 3);
        assert_int_equal(idx.dims[0], 3);
        assert_int_equal(idx.dims[2], 2);
        assert_memory_equal(idx.data, px, sizeof px);
        free(idx.data);

        nn_dataset d;
        if (nn_dataset_load_idx(ip, lp, &d, &err) != NN_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(d.n, 3);
        assert_int_equal(d.ndim, 2);
        assert_int_equal(d.sample_size, 4);
        assert_int_equal(d.n_classes, 5);
        assert_int_equal(d.labels[2], 4);
        assert_int_equal(d.u8[11], 220);
        nn_dataset_free(&d);
    }
}

static void test_idx_wrong_magic(void **state)
{
    (void)state;
    const uint8_t junk[16] = {0x12, 0x34, 0x56, 0x78, 1, 2, 3, 4};
    write_bytes(tpath("junk"), junk, sizeof junk, false);
    nn_error err = {0};
    nn_idx idx;
    assert_int_equal(nn_idx_read(tpath("junk"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "junk': not an IDX file (magic 0x12345678, expected 0x00000803");
    assert_null(idx.data);

    /* a gzip inside a gzip: after one decompression the magic is gzip's */
    const char *inner = tpath("inner.gz");
    uint32_t d1[1] = {2};
    uint8_t lab[2] = {0, 1};
    write_idx(inner, 0x08, 1, d1, lab, 2, true);
    FILE *f = fopen(inner, "rb");
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    write_bytes(tpath("double.gz"), buf, n, true);
    assert_int_equal(nn_idx_read(tpath("double.gz"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "not an IDX file (magic 0x1f8b08");

    write_bytes(tpath("empty"), "", 0, false);
    assert_int_equal(nn_idx_read(tpath("empty"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "not an IDX file");
}

static void test_idx_truncated(void **state)
{
    (void)state;
    uint8_t px[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint32_t d[3] = {4, 2, 2};
    nn_error err = {0};
    nn_idx idx;
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath(gz ? "trunc.gz" : "trunc");
        write_idx(p, 0x08, 3, d, px, sizeof px, gz);
        assert_int_equal(nn_idx_read(p, &idx, &err), NN_ERR_RUNTIME);
        assert_msg_contains(err, "truncated: header says 4x2x2 = 16 bytes, file has 8");
    }
    /* a gzip stream cut in the middle */
    uint8_t big[4096];
    nn_rng r;
    nn_rng_seed(&r, 3, 0);
    for (size_t i = 0; i < sizeof big; i++) /* incompressible */
        big[i] = (uint8_t)nn_rng_u64(&r);
    uint32_t db[2] = {64, 64};
    const char *p = tpath("cut.gz");
    write_idx(p, 0x08, 2, db, big, sizeof big, true);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(sb.st_size > 4000);
    assert_int_equal(truncate(p, sb.st_size / 2), 0);
    assert_int_equal(nn_idx_read(p, &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "truncated");

    /* trailing bytes: the header does not describe the file */
    uint32_t d2[3] = {1, 2, 2};
    write_idx(tpath("long"), 0x08, 3, d2, px, sizeof px, false);
    assert_int_equal(nn_idx_read(tpath("long"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "4 more after them");
}

static void test_idx_count_mismatch(void **state)
{
    (void)state;
    uint8_t px[12] = {0}, lab[2] = {0, 1};
    uint32_t d3[3] = {3, 2, 2}, d1[1] = {2};
    write_idx(tpath("mi"), 0x08, 3, d3, px, sizeof px, false);
    write_idx(tpath("ml"), 0x08, 1, d1, lab, sizeof lab, false);
    nn_error err = {0};
    nn_dataset d;
    assert_int_equal(nn_dataset_load_idx(tpath("mi"), tpath("ml"), &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "images have 3 samples but labels 2");
    assert_null(d.u8);
    /* labels given as images */
    assert_int_equal(nn_dataset_load_idx(tpath("mi"), tpath("mi"), &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "labels need 1 dimension");
    assert_int_equal(nn_dataset_load_idx(tpath("ml"), tpath("ml"), &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "images need at least 2 dimensions");
}

static void test_idx_float_type(void **state)
{
    (void)state;
    uint8_t px[16] = {0};
    uint32_t d[2] = {2, 2};
    write_idx(tpath("float"), 0x0D, 2, d, px, sizeof px, false);
    nn_error err = {0};
    nn_idx idx;
    assert_int_equal(nn_idx_read(tpath("float"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err,
                        "float': element type 0x0D (float) not supported, expected 0x08 "
                        "(unsigned byte)");
}

static void test_idx_missing_and_absurd(void **state)
{
    (void)state;
    nn_error err = {0};
    nn_idx idx;
    assert_int_equal(nn_idx_read(tpath("nope.gz"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "nope.gz': cannot open: No such file or directory");
    assert_int_equal(nn_idx_read(tmpdir, &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "is a directory");

    uint32_t huge[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    write_idx(tpath("huge"), 0x08, 3, huge, NULL, 0, false);
    assert_int_equal(nn_idx_read(tpath("huge"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "4 GiB");
    uint32_t big[3] = {70000, 256, 256}; /* 4.6 GB, no overflow */
    write_idx(tpath("big"), 0x08, 3, big, NULL, 0, false);
    assert_int_equal(nn_idx_read(tpath("big"), &idx, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "header says 70000x256x256, more than the 4 GiB limit");
}

/* ---------- PNG ---------- */

/* Writes any PNG with libpng directly (for layouts nn_png_write refuses). */
static void write_png_raw(const char *path, int w, int h, int depth, int ctype,
                          const uint8_t *rowdata, size_t rowbytes, const png_color *pal,
                          int npal)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed writing the test image");
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, rowdata + (size_t)y * rowbytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

static int count_dir_entries(void)
{
    int n = 0;
    FILE *p;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -c tmp", tmpdir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void test_png_roundtrip(void **state)
{
    (void)state;
    for (int ch = 1; ch <= 3; ch += 2) {
        int h = 7, w = 5;
        uint8_t px[7 * 5 * 3];
        for (int i = 0; i < h * w * ch; i++)
            px[i] = (uint8_t)(i * 37 + ch);
        const char *p = tpath(ch == 1 ? "gray.png" : "rgb.png");
        nn_error err = {0};
        if (nn_png_write(p, px, h, w, ch, &err) != NN_OK)
            fail_msg("%s", err.msg);
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0644);
        uint8_t *got = NULL;
        int gh, gw, gc;
        bool dropped = true;
        if (nn_png_read(p, &got, &gh, &gw, &gc, &dropped, &err) != NN_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(gh, h);
        assert_int_equal(gw, w);
        assert_int_equal(gc, ch);
        assert_false(dropped);
        assert_memory_equal(got, px, (size_t)(h * w * ch));
        free(got);
        /* overwrite in place: atomic rename, no temp file left */
        assert_int_equal(nn_png_write(p, px, h, w, ch, &err), NN_OK);
    }
    assert_int_equal(count_dir_entries(), 0);

    nn_error err = {0};
    uint8_t px[4] = {0};
    assert_int_equal(nn_png_write(tpath("bad.png"), px, 1, 1, 4, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "4 channels");
    assert_int_equal(nn_png_write("/nonexistent-dir/x.png", px, 1, 1, 1, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "x.png': cannot create a temporary file: No such file");
}

static void test_png_alpha_and_palette(void **state)
{
    (void)state;
    int w = 3, h = 2;
    uint8_t rgba[2 * 3 * 4], want[2 * 3 * 3];
    for (int i = 0; i < w * h; i++) {
        for (int c = 0; c < 3; c++)
            want[i * 3 + c] = rgba[i * 4 + c] = (uint8_t)(i * 40 + c * 7);
        rgba[i * 4 + 3] = (uint8_t)(i * 50);
    }
    write_png_raw(tpath("rgba.png"), w, h, 8, PNG_COLOR_TYPE_RGBA, rgba, (size_t)w * 4, NULL,
                  0);
    nn_error err = {0};
    uint8_t *got = NULL;
    int gh, gw, gc;
    bool dropped = false;
    if (nn_png_read(tpath("rgba.png"), &got, &gh, &gw, &gc, &dropped, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(gc, 3);
    assert_true(dropped);
    assert_memory_equal(got, want, sizeof want);
    free(got);

    uint8_t ga[2 * 3 * 2], gwant[6];
    for (int i = 0; i < 6; i++) {
        ga[2 * i] = gwant[i] = (uint8_t)(i * 30);
        ga[2 * i + 1] = 255;
    }
    write_png_raw(tpath("ga.png"), w, h, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga, (size_t)w * 2, NULL,
                  0);
    dropped = false;
    assert_int_equal(nn_png_read(tpath("ga.png"), &got, &gh, &gw, &gc, &dropped, &err), NN_OK);
    assert_int_equal(gc, 1);
    assert_true(dropped);
    assert_memory_equal(got, gwant, sizeof gwant);
    free(got);

    png_color pal[3] = {{10, 20, 30}, {40, 50, 60}, {70, 80, 90}};
    uint8_t idx[6] = {0, 1, 2, 2, 1, 0};
    write_png_raw(tpath("pal.png"), w, h, 8, PNG_COLOR_TYPE_PALETTE, idx, (size_t)w, pal, 3);
    dropped = true;
    assert_int_equal(nn_png_read(tpath("pal.png"), &got, &gh, &gw, &gc, &dropped, &err), NN_OK);
    assert_int_equal(gc, 3);
    assert_false(dropped);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(got[i * 3 + 0], pal[idx[i]].red);
        assert_int_equal(got[i * 3 + 2], pal[idx[i]].blue);
    }
    free(got);

    /* 1-bit gray expands to 0/255 */
    uint8_t bits[2] = {0xA0, 0x40}; /* row 0: 1 0 1, row 1: 0 1 0 */
    write_png_raw(tpath("bits.png"), w, h, 1, PNG_COLOR_TYPE_GRAY, bits, 1, NULL, 0);
    assert_int_equal(nn_png_read(tpath("bits.png"), &got, &gh, &gw, &gc, &dropped, &err),
                     NN_OK);
    assert_int_equal(gc, 1);
    static const uint8_t bw[6] = {255, 0, 255, 0, 255, 0};
    assert_memory_equal(got, bw, 6);
    free(got);
}

static void test_png_rejects(void **state)
{
    (void)state;
    nn_error err = {0};
    uint8_t *got = (uint8_t *)1;
    int gh, gw, gc;
    bool dropped;

    uint8_t px16[2 * 2 * 2] = {0};
    write_png_raw(tpath("g16.png"), 2, 2, 16, PNG_COLOR_TYPE_GRAY, px16, 4, NULL, 0);
    assert_int_equal(nn_png_read(tpath("g16.png"), &got, &gh, &gw, &gc, &dropped, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "g16.png': 16-bit PNG not supported; convert to 8-bit");
    assert_null(got);

    write_bytes(tpath("text.png"), "hello, not an image at all", 26, false);
    assert_int_equal(nn_png_read(tpath("text.png"), &got, &gh, &gw, &gc, &dropped, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "text.png': not a PNG file");

    assert_int_equal(nn_png_read(tpath("none.png"), &got, &gh, &gw, &gc, &dropped, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "No such file or directory");

    /* an incompressible image cut in half */
    enum { S = 64 };
    uint8_t *px = malloc(S * S);
    for (int i = 0; i < S * S; i++)
        px[i] = (uint8_t)((unsigned)i * 2654435761u >> 24);
    const char *p = tpath("cut.png");
    assert_int_equal(nn_png_write(p, px, S, S, 1, &err), NN_OK);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(truncate(p, sb.st_size / 2), 0);
    assert_int_equal(nn_png_read(p, &got, &gh, &gw, &gc, &dropped, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "cut.png': truncated");
    /* a corrupt chunk (bad CRC) gives libpng's own message */
    assert_int_equal(nn_png_write(p, px, S, S, 1, &err), NN_OK);
    FILE *f = fopen(p, "r+b");
    fseek(f, 40, SEEK_SET);
    fputc(0x55 ^ 0xFF, f);
    fseek(f, 41, SEEK_SET);
    fputc(0x12, f);
    fclose(f);
    assert_int_equal(nn_png_read(p, &got, &gh, &gw, &gc, &dropped, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "cut.png': invalid PNG: ");
    free(px);

    /* too large: 20000 wide, 1 row, written by hand with libpng */
    uint8_t *row = calloc(20000, 1);
    write_png_raw(tpath("wide.png"), 20000, 1, 8, PNG_COLOR_TYPE_GRAY, row, 20000, NULL, 0);
    free(row);
    assert_int_equal(nn_png_read(tpath("wide.png"), &got, &gh, &gw, &gc, &dropped, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "larger than the 16384x16384 limit");
}

/* ---------- dataset operations ---------- */

/* n samples of 2 bytes (low, high byte of the index), given labels. */
static void make_ds(nn_dataset *d, size_t n, const int32_t *labels, int n_classes)
{
    memset(d, 0, sizeof *d);
    uint8_t *px = malloc(n * 2);
    int32_t *lab = malloc(n * sizeof *lab);
    for (size_t i = 0; i < n; i++) {
        px[2 * i] = (uint8_t)i;
        px[2 * i + 1] = (uint8_t)(i >> 8);
        lab[i] = labels[i];
    }
    d->n = n;
    d->ndim = 1;
    d->shape[0] = 2;
    d->sample_size = 2;
    d->u8 = px;
    d->owner_u8 = px;
    d->labels = lab;
    d->owner_labels = lab;
    d->scale = 1.0f;
    d->n_classes = n_classes;
}

static void test_split_tail(void **state)
{
    (void)state;
    int32_t lab[10] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    nn_dataset d, tr, va;
    make_ds(&d, 10, lab, 2);
    nn_error err = {0};
    struct {
        double f;
        size_t train;
    } cases[] = {{0.1, 9}, {0.25, 7}, {0.05, 9}, {0.01, 9}, {0.5, 5}, {0.3, 7}, {0.7, 3}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        if (nn_dataset_split_tail(&d, cases[c].f, &tr, &va, &err) != NN_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(tr.n, cases[c].train);
        assert_int_equal(va.n, 10 - cases[c].train);
        assert_ptr_equal(tr.u8, d.u8);
        assert_ptr_equal(va.u8, d.u8 + 2 * cases[c].train);
        assert_ptr_equal(va.labels, d.labels + cases[c].train);
        assert_null(va.owner_u8);
        assert_null(tr.owner_labels);
        nn_dataset_free(&va); /* a view: frees nothing */
        nn_dataset_free(&tr);
    }
    assert_int_equal(nn_dataset_split_tail(&d, 0.95, &tr, &va, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "0 for training");
    assert_int_equal(nn_dataset_split_tail(&d, 0.0, &tr, &va, &err), NN_ERR_USAGE);
    assert_int_equal(nn_dataset_split_tail(&d, 1.0, &tr, &va, &err), NN_ERR_USAGE);
    nn_dataset_free(&d);
}

static size_t sample_index(const nn_dataset *d, size_t j)
{
    return (size_t)d->u8[2 * j] | (size_t)d->u8[2 * j + 1] << 8;
}

static void test_subset_stratified(void **state)
{
    (void)state;
    enum { N = 1000 };
    int32_t lab[N];
    for (int i = 0; i < N; i++) /* classes 500/300/200, interleaved */
        lab[i] = i % 10 < 5 ? 0 : i % 10 < 8 ? 1 : 2;
    nn_dataset d, a, b, c;
    make_ds(&d, N, lab, 3);
    nn_error err = {0};
    nn_rng r;

    nn_rng_seed(&r, 7, NN_STREAM_SUBSET);
    assert_int_equal(nn_dataset_subset_stratified(&d, 100, &r, &a, &err), NN_OK);
    nn_rng_seed(&r, 7, NN_STREAM_SUBSET);
    assert_int_equal(nn_dataset_subset_stratified(&d, 100, &r, &b, &err), NN_OK);
    nn_rng_seed(&r, 8, NN_STREAM_SUBSET);
    assert_int_equal(nn_dataset_subset_stratified(&d, 100, &r, &c, &err), NN_OK);

    assert_int_equal(a.n, 100);
    assert_non_null(a.owner_u8);
    assert_non_null(a.owner_labels);
    int cnt[3] = {0};
    for (size_t j = 0; j < a.n; j++) {
        size_t i = sample_index(&a, j);
        assert_true(i < N);
        assert_int_equal(a.labels[j], lab[i]); /* copies stay paired */
        if (j > 0)
            assert_true(i > sample_index(&a, j - 1)); /* original order */
        cnt[a.labels[j]]++;
    }
    assert_int_equal(cnt[0], 50);
    assert_int_equal(cnt[1], 30);
    assert_int_equal(cnt[2], 20);
    assert_memory_equal(a.u8, b.u8, 200); /* same seed, same pick */
    assert_memory_equal(a.labels, b.labels, 100 * sizeof(int32_t));
    assert_true(memcmp(a.u8, c.u8, 200) != 0); /* another seed, another pick */
    nn_dataset_free(&a);
    nn_dataset_free(&b);
    nn_dataset_free(&c);

    /* whole set: everything, in order */
    assert_int_equal(nn_dataset_subset_stratified(&d, N, &r, &a, &err), NN_OK);
    assert_memory_equal(a.u8, d.u8, 2 * N);
    nn_dataset_free(&a);

    assert_int_equal(nn_dataset_subset_stratified(&d, N + 1, &r, &a, &err), NN_ERR_USAGE);
    assert_int_equal(nn_dataset_subset_stratified(&d, 2, &r, &a, &err), NN_ERR_USAGE);
    assert_msg_contains(err, "smaller than the 3 classes");
    nn_dataset_free(&d);

    /* largest remainder: sizes 5/3/2, count 4 -> exact 2.0/1.2/0.8 -> 2/1/1 */
    int32_t l2[10] = {0, 1, 2, 0, 1, 2, 0, 1, 0, 0};
    make_ds(&d, 10, l2, 3);
    nn_rng_seed(&r, 1, NN_STREAM_SUBSET);
    assert_int_equal(nn_dataset_subset_stratified(&d, 4, &r, &a, &err), NN_OK);
    int c2[3] = {0};
    for (size_t j = 0; j < a.n; j++)
        c2[a.labels[j]]++;
    assert_int_equal(c2[0], 2);
    assert_int_equal(c2[1], 1);
    assert_int_equal(c2[2], 1);
    nn_dataset_free(&a);
    nn_dataset_free(&d);
}

static void test_select_classes(void **state)
{
    (void)state;
    enum { N = 10 };
    const int32_t lab[N] = {0, 1, 2, 3, 2, 1, 0, 3, 2, 2};
    nn_dataset d, s;
    make_ds(&d, N, lab, 4);
    nn_error err = {0};
    const int pick[2] = {2, 0}; /* 2 -> 0, 0 -> 1 */
    assert_int_equal(nn_dataset_select_classes(&d, pick, 2, &s, &err), NN_OK);
    /* samples 0, 2, 4, 6, 8, 9 in order, by hand */
    const size_t want_idx[6] = {0, 2, 4, 6, 8, 9};
    const int32_t want_lab[6] = {1, 0, 0, 1, 0, 0};
    assert_int_equal(s.n, 6);
    assert_int_equal(s.n_classes, 2);
    for (int j = 0; j < 6; j++) {
        assert_int_equal(s.labels[j], want_lab[j]);
        assert_int_equal(s.u8[2 * j], (uint8_t)want_idx[j]);
    }
    nn_dataset_free(&s);
    const int twice[2] = {1, 1}, missing[2] = {1, 4}, one[1] = {1};
    assert_int_equal(nn_dataset_select_classes(&d, twice, 2, &s, &err), NN_ERR_USAGE);
    assert_non_null(strstr(err.msg, "class 1 is listed twice"));
    assert_int_equal(nn_dataset_select_classes(&d, missing, 2, &s, &err), NN_ERR_USAGE);
    assert_non_null(strstr(err.msg, "class 4 is not in the data (labels 0..3)"));
    assert_int_equal(nn_dataset_select_classes(&d, one, 1, &s, &err), NN_ERR_USAGE);
    assert_non_null(strstr(err.msg, "at least 2 classes"));
    nn_dataset_free(&d);
}

static void test_gather(void **state)
{
    (void)state;
    int32_t lab[4] = {2, 0, 1, 2};
    nn_dataset d;
    make_ds(&d, 4, lab, 3);
    uint8_t *px = d.owner_u8;
    for (int i = 0; i < 8; i++)
        px[i] = (uint8_t)(i * 30 + 15);
    d.scale = 255.0f;
    uint32_t idx[3] = {3, 0, 2};
    float x[6];
    nn_dataset_gather_x(&d, idx, 3, x);
    for (int j = 0; j < 3; j++)
        for (int k = 0; k < 2; k++)
            assert_true(x[j * 2 + k] == (float)px[idx[j] * 2 + k] / 255.0f);

    /* a long sample exercises the vector body and the tail */
    enum { SS = 37 };
    uint8_t big[2 * SS];
    for (int i = 0; i < 2 * SS; i++)
        big[i] = (uint8_t)(i * 7);
    nn_dataset e = {.n = 2, .ndim = 1, .shape = {SS}, .sample_size = SS, .u8 = big,
                    .scale = 255.0f};
    float xb[2 * SS];
    uint32_t ib[2] = {1, 0};
    nn_dataset_gather_x(&e, ib, 2, xb);
    for (int k = 0; k < SS; k++) {
        assert_true(xb[k] == (float)big[SS + k] / 255.0f);
        assert_true(xb[SS + k] == (float)big[k] / 255.0f);
    }
    float fdata[2 * SS];
    for (int i = 0; i < 2 * SS; i++)
        fdata[i] = (float)i - 3.5f;
    e.u8 = NULL;
    e.f32 = fdata;
    e.scale = 2.0f;
    nn_dataset_gather_x(&e, ib, 2, xb);
    assert_true(xb[0] == fdata[SS] / 2.0f);
    assert_true(xb[SS + 36] == fdata[36] / 2.0f);
    e.scale = 1.0f;
    nn_dataset_gather_x(&e, ib, 2, xb);
    assert_memory_equal(xb, fdata + SS, SS * sizeof(float));

    float y[9];
    nn_dataset_gather_y(&d, idx, 3, d.n_classes, y);
    static const float oh[9] = {0, 0, 1, 0, 0, 1, 0, 1, 0};
    assert_memory_equal(y, oh, sizeof oh);
    /* rows as wide as the model's output, whatever this split's own class
     * count (labels 2, 2, 1 in rows of 5) */
    float y5[15];
    nn_dataset_gather_y(&d, idx, 3, 5, y5);
    static const float oh5[15] = {0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(y5, oh5, sizeof oh5);
    nn_dataset_gather_y(&d, idx, 3, 0, y);
    assert_true(y[0] == 2.0f && y[1] == 2.0f && y[2] == 1.0f);

    float tg[8] = {0.5f, 1.5f, 2.5f, 3.5f, 4.5f, 5.5f, 6.5f, 7.5f};
    nn_dataset rg = {.n = 4, .targets = tg, .target_size = 2};
    nn_dataset_gather_y(&rg, idx, 3, 0, y);
    static const float wr[6] = {6.5f, 7.5f, 0.5f, 1.5f, 4.5f, 5.5f};
    assert_memory_equal(y, wr, sizeof wr);
    nn_dataset_free(&d);
    assert_null(d.u8);
    assert_null(d.owner_labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_real),
        cmocka_unit_test(test_idx_plain_and_gz),
        cmocka_unit_test(test_idx_wrong_magic),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_count_mismatch),
        cmocka_unit_test(test_idx_float_type),
        cmocka_unit_test(test_idx_missing_and_absurd),
        cmocka_unit_test(test_png_roundtrip),
        cmocka_unit_test(test_png_alpha_and_palette),
        cmocka_unit_test(test_png_rejects),
        cmocka_unit_test(test_split_tail),
        cmocka_unit_test(test_subset_stratified),
        cmocka_unit_test(test_select_classes),
        cmocka_unit_test(test_gather),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

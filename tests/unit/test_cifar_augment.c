/* Tests for CIFAR-10 loading (the real archive when NNCTL_DATA is set, and
 * synthetic batch files and tar.gz archives), image folders, the data spec's
 * new formats and keys, and augmentation.
 *
 * The expected first bytes of the first test image were read from the
 * archive's test_batch.bin with Python (tarfile) as the planar record:
 *   label 3 (cat);
 *   R plane [0..3] = 158 159 165 166, G plane = 112 111 116 118,
 *   B plane = 49 47 51 53; row 1 (plane offset 32): R 152, G 112, B 51.
 * Channels-last HWC interleaves them by hand: pixel (0,0) = (158, 112, 49),
 * (0,1) = (159, 111, 47), (0,2) = (165, 116, 51), (0,3) = (166, 118, 53),
 * and pixel (1,0), at byte 32*3 = 96, = (152, 112, 51). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_spec.h"
#include "data/dataset.h"
#include "data/featurewise.h"

#include "unit/skip.h"
#include "unit/tmpfiles.h"
#include "unit/spec_data.h"


static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* n records; record r: label labels[r], R plane = r, G = pixel index & 255,
 * B = 255 - r. */
static uint8_t *make_records(size_t n, const uint8_t *labels)
{
    uint8_t *b = calloc(n, NN_CIFAR_RECORD);
    assert_non_null(b);
    for (size_t r = 0; r < n; r++) {
        uint8_t *rec = b + r * NN_CIFAR_RECORD;
        rec[0] = labels[r];
        for (int p = 0; p < 1024; p++) {
            rec[1 + p] = (uint8_t)r;
            rec[1 + 1024 + p] = (uint8_t)p;
            rec[1 + 2048 + p] = (uint8_t)(255 - r);
        }
    }
    return b;
}

/* ---------- the real archive ---------- */

static const char *cifar_archive(void)
{
    const char *root = getenv("NNCTL_DATA");
    static char buf[1024];
    if (!root || !*root)
        return NULL;
    snprintf(buf, sizeof buf, "%s/cifar-10-binary.tar.gz", root);
    return access(buf, R_OK) == 0 ? buf : NULL;
}

static void test_cifar_real_test(void **state)
{
    (void)state;
    const char *path = cifar_archive();
    if (!path)
        NN_SKIP("no cifar-10-binary.tar.gz under $NNCTL_DATA (scripts/fetch-data cifar10)");
    nn_error err = {0};
    nn_dataset d;
    nn_class_names names;
    nn_status st = nn_cifar10_load_archive(path, "test", &d, &names, &err);
    if (st)
        fail_msg("%s", err.msg);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.ndim, 3);
    assert_int_equal(d.shape[0], 32);
    assert_int_equal(d.shape[1], 32);
    assert_int_equal(d.shape[2], 3);
    assert_int_equal(d.sample_size, 3072);
    assert_int_equal(d.n_classes, 10);
    int hist[10] = {0};
    for (size_t i = 0; i < d.n; i++) {
        assert_true(d.labels[i] >= 0 && d.labels[i] < 10);
        hist[d.labels[i]]++;
    }
    for (int k = 0; k < 10; k++)
        assert_int_equal(hist[k], 1000);
    assert_int_equal(d.labels[0], 3);
    static const uint8_t first[12] = {158, 112, 49, 159, 111, 47, 165, 116, 51, 166, 118, 53};
    assert_memory_equal(d.u8, first, sizeof first);
    static const uint8_t row1[3] = {152, 112, 51};
    assert_memory_equal(d.u8 + 96, row1, 3);
    assert_int_equal(names.n, 10);
    static const char *const expect[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                           "dog",      "frog",       "horse", "ship", "truck"};
    for (int k = 0; k < 10; k++)
        assert_string_equal(names.names[k], expect[k]);
    nn_class_names_free(&names);
    nn_dataset_free(&d);
}

static void test_cifar_real_train(void **state)
{
    (void)state;
    const char *path = cifar_archive();
    if (!path)
        NN_SKIP("no cifar-10-binary.tar.gz under $NNCTL_DATA (scripts/fetch-data cifar10)");
    nn_error err = {0};
    nn_dataset d;
    nn_status st = nn_cifar10_load_archive(path, "train", &d, NULL, &err);
    if (st)
        fail_msg("%s", err.msg);
    assert_int_equal(d.n, 50000);
    int hist[10] = {0};
    for (size_t i = 0; i < d.n; i++)
        hist[d.labels[i]]++;
    for (int k = 0; k < 10; k++)
        assert_int_equal(hist[k], 5000); /* CIFAR-10: 5000 training images per class */
    /* data_batch_1.bin's first record: label 6 (frog), R bytes 59 43 50 68 */
    assert_int_equal(d.labels[0], 6);
    assert_int_equal(d.u8[0], 59);
    assert_int_equal(d.u8[3], 43);
    nn_dataset_free(&d);
}

/* ---------- synthetic batch files ---------- */

static void test_cifar_files(void **state)
{
    (void)state;
    uint8_t labels[3] = {0, 9, 4};
    uint8_t *rec = make_records(3, labels);
    write_file(tpath("a.bin"), rec, 2 * NN_CIFAR_RECORD);
    write_file(tpath("b.bin"), rec + 2 * NN_CIFAR_RECORD, NN_CIFAR_RECORD);
    write_file(tpath("batches.meta.txt"), "x\ny\n\n", 5);
    const char *paths[2] = {tpath("a.bin"), tpath("b.bin")};
    nn_error err = {0};
    nn_dataset d;
    nn_class_names names;
    assert_int_equal(nn_cifar10_load_files(paths, 2, &d, &names, &err), NN_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.labels[1], 9);
    assert_int_equal(d.labels[2], 4);
    /* record 1, pixel 5: (R, G, B) = (1, 5, 254) */
    assert_int_equal(d.u8[3072 + 15], 1);
    assert_int_equal(d.u8[3072 + 16], 5);
    assert_int_equal(d.u8[3072 + 17], 254);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.names[1], "y");
    nn_class_names_free(&names);
    nn_dataset_free(&d);

    /* not a multiple of 3073 */
    write_file(tpath("short.bin"), rec, 2 * NN_CIFAR_RECORD - 7);
    const char *bad[1] = {tpath("short.bin")};
    assert_int_equal(nn_cifar10_load_files(bad, 1, &d, NULL, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "short.bin");
    assert_msg_contains(err, "3073");
    /* a label > 9 */
    rec[NN_CIFAR_RECORD] = 10;
    write_file(tpath("lab.bin"), rec, 2 * NN_CIFAR_RECORD);
    bad[0] = tpath("lab.bin");
    assert_int_equal(nn_cifar10_load_files(bad, 1, &d, NULL, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "record 1 has label 10");
    /* missing file */
    bad[0] = tpath("none.bin");
    assert_int_equal(nn_cifar10_load_files(bad, 1, &d, NULL, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "none.bin");
    free(rec);
}

/* ---------- synthetic archives ---------- */

typedef struct tarbuf {
    uint8_t *b;
    size_t n;
} tarbuf;

static void tar_add(tarbuf *t, const char *name, const void *data, size_t size)
{
    size_t padded = (size + 511) / 512 * 512;
    t->b = realloc(t->b, t->n + 512 + padded);
    assert_non_null(t->b);
    uint8_t *h = t->b + t->n;
    memset(h, 0, 512 + padded);
    snprintf((char *)h, 100, "%s", name);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    snprintf((char *)h + 124, 12, "%011zo", size);
    snprintf((char *)h + 136, 12, "%011o", 0);
    h[156] = '0';
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    if (size)
        memcpy(h + 512, data, size);
    t->n += 512 + padded;
}

static void tar_end(tarbuf *t)
{
    t->b = realloc(t->b, t->n + 1024);
    assert_non_null(t->b);
    memset(t->b + t->n, 0, 1024);
    t->n += 1024;
}

static void write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(f), Z_OK);
}

static void test_cifar_archive_synthetic(void **state)
{
    (void)state;
    uint8_t labels[6] = {1, 2, 3, 4, 5, 6};
    uint8_t *rec = make_records(6, labels);
    tarbuf t = {0};
    tar_add(&t, "cifar-10-batches-bin/batches.meta.txt", "a\nb\nc\n", 6);
    /* out of order on purpose: the loader orders by member name */
    tar_add(&t, "cifar-10-batches-bin/test_batch.bin", rec + 5 * NN_CIFAR_RECORD,
            NN_CIFAR_RECORD);
    for (int i = 5; i >= 1; i--) {
        char name[64];
        snprintf(name, sizeof name, "cifar-10-batches-bin/data_batch_%d.bin", i);
        tar_add(&t, name, rec + (size_t)(i - 1) * NN_CIFAR_RECORD, NN_CIFAR_RECORD);
    }
    tar_end(&t);
    write_gz(tpath("c.tar.gz"), t.b, t.n);
    nn_error err = {0};
    nn_dataset d;
    nn_class_names names;
    assert_int_equal(nn_cifar10_load_archive(tpath("c.tar.gz"), "train", &d, &names, &err),
                     NN_OK);
    assert_int_equal(d.n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(d.labels[i], i + 1);
        assert_int_equal(d.u8[(size_t)i * 3072], i); /* R of pixel 0 = record index */
    }
    assert_int_equal(names.n, 3);
    assert_string_equal(names.names[2], "c");
    nn_class_names_free(&names);
    nn_dataset_free(&d);
    /* a plain (uncompressed) tar reads the same way */
    write_file(tpath("c.tar"), t.b, t.n);
    assert_int_equal(nn_cifar10_load_archive(tpath("c.tar"), "test", &d, NULL, &err), NN_OK);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.labels[0], 6);
    nn_dataset_free(&d);

    /* truncated: cut inside data_batch_1.bin (the last member) */
    write_gz(tpath("cut.tar.gz"), t.b, t.n - 1024 - 1500);
    assert_int_equal(nn_cifar10_load_archive(tpath("cut.tar.gz"), "train", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "truncated");
    assert_msg_contains(err, "cut.tar.gz");
    /* truncated gzip stream (the compressed bytes cut) */
    FILE *f = fopen(tpath("c.tar.gz"), "rb");
    assert_non_null(f);
    uint8_t *gz = malloc(1 << 20);
    size_t gzlen = fread(gz, 1, 1 << 20, f);
    fclose(f);
    write_file(tpath("cutgz.tar.gz"), gz, gzlen / 2);
    assert_int_equal(nn_cifar10_load_archive(tpath("cutgz.tar.gz"), "train", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "truncated");
    free(gz);

    /* missing member */
    tarbuf m = {0};
    tar_add(&m, "cifar-10-batches-bin/data_batch_1.bin", rec, NN_CIFAR_RECORD);
    tar_end(&m);
    write_gz(tpath("m.tar.gz"), m.b, m.n);
    assert_int_equal(nn_cifar10_load_archive(tpath("m.tar.gz"), "train", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "data_batch_2.bin");
    assert_int_equal(nn_cifar10_load_archive(tpath("m.tar.gz"), "test", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "test_batch.bin");
    /* a member whose size is not a whole number of records */
    tarbuf s = {0};
    tar_add(&s, "cifar-10-batches-bin/test_batch.bin", rec, NN_CIFAR_RECORD + 5);
    tar_end(&s);
    write_gz(tpath("s.tar.gz"), s.b, s.n);
    assert_int_equal(nn_cifar10_load_archive(tpath("s.tar.gz"), "test", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "3073");
    /* not a tar at all */
    write_gz(tpath("x.tar.gz"), rec, 2048);
    assert_int_equal(nn_cifar10_load_archive(tpath("x.tar.gz"), "test", &d, NULL, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "checksum");
    free(t.b);
    free(m.b);
    free(s.b);
    free(rec);
}

/* ---------- spec keys ---------- */

static void test_data_spec_formats(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    assert_int_equal(spec_data("data = { train = { format = \"cifar10\"; path = \"x.tar.gz\"; };\n"
                               "test = { format = \"cifar10\"; path = \"x.tar.gz\"; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(c.train.format, NN_FORMAT_CIFAR10);
    assert_false(c.train.part_test);
    assert_true(c.test.part_test);
    assert_string_equal(c.train.path, "x.tar.gz");
    assert_int_equal(spec_data("data = { train = { format = \"cifar10\"; files = [\"a.bin\", "
                               "\"b.bin\"]; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(c.train.n_files, 2);
    assert_string_equal(c.train.files[1], "b.bin");
    assert_int_equal(spec_data("data = { train = { format = \"cifar\"; path = \"x\"; }; };", &c,
                               &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "cifar10");
    assert_int_equal(spec_data("data = { train = { format = \"cifar10\";\n pathh = \"x\"; }; };",
                               &c, &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "did you mean");
    assert_int_equal(spec_data("data = { train = { format = \"cifar10\"; }; };", &c, &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "path");
    assert_int_equal(spec_data("data = { train = { format = \"image_folder\"; path = \"r\"; "
                               "color_mode = \"grayscale\"; };\n augment = { rotation_range = "
                               "10.0; horizontal_flip = true; fill_mode = \"reflect\"; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(c.train.color_mode, 1);
    assert_true(c.train.augment.horizontal_flip);
    assert_int_equal(c.train.augment.fill_mode, NN_FILL_REFLECT);
    assert_int_equal(spec_data("data = { augment = { fill_mode = \"wrapp\"; }; };", &c, &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "wrap");
    assert_int_equal(spec_data("data = { augment = { rotaton_range = 3.0; }; };", &c, &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "rotation_range");
}

/* ---------- augmentation ---------- */

/* n samples of h x w x c, values (s*7 + pixel) & 255 as uint8, scale 255. */
static nn_dataset make_images(size_t n, int h, int w, int c, uint8_t **buf)
{
    nn_dataset d;
    memset(&d, 0, sizeof d);
    size_t ss = (size_t)h * (size_t)w * (size_t)c;
    *buf = malloc(n * ss);
    assert_non_null(*buf);
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; i < ss; i++)
            (*buf)[s * ss + i] = (uint8_t)((s * 7 + i * 13) & 255);
    d.n = n;
    d.ndim = 3;
    d.shape[0] = h;
    d.shape[1] = w;
    d.shape[2] = c;
    d.sample_size = ss;
    d.u8 = *buf;
    d.scale = 255.0f;
    return d;
}

static void test_augment_identity(void **state)
{
    (void)state;
    uint8_t *buf;
    nn_dataset d = make_images(8, 5, 6, 3, &buf);
    memset(&d.augment, 0, sizeof d.augment);
    d.augment.fill_mode = NN_FILL_CONSTANT;
    d.augment.cval = 3.0; /* settings that do nothing on their own */
    assert_false(nn_augment_active(&d.augment));
    uint32_t idx[8] = {7, 0, 3, 3, 1, 2, 6, 5};
    float a[8 * 90], b[8 * 90], scratch[90];
    nn_dataset_gather_x(&d, idx, 8, a);
    nn_augment_gather_x(&d, idx, 8, 42, 0, scratch, b);
    assert_memory_equal(a, b, sizeof a);
    /* an all-identity draw leaves the image untouched too */
    nn_augment_params p = {.zx = 1.0, .zy = 1.0};
    nn_augment_apply(&d.augment, &p, 5, 6, 3, 255.0f, a, b);
    assert_memory_equal(a, b, 90 * sizeof(float));
    free(buf);
}

static void test_augment_flip(void **state)
{
    (void)state;
    uint8_t *buf;
    const int n = 64, h = 4, w = 5, c = 3, ss = h * w * c;
    nn_dataset d = make_images((size_t)n, h, w, c, &buf);
    memset(&d.augment, 0, sizeof d.augment);
    d.augment.horizontal_flip = true;
    assert_true(nn_augment_active(&d.augment));
    uint32_t idx[64];
    for (int i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    float *plain = malloc(sizeof(float) * (size_t)(n * ss));
    float *aug = malloc(sizeof(float) * (size_t)(n * ss));
    float scratch[60];
    nn_dataset_gather_x(&d, idx, (size_t)n, plain);
    nn_augment_gather_x(&d, idx, (size_t)n, 1, 0, scratch, aug);
    int flipped = 0;
    for (int s = 0; s < n; s++) {
        const float *in = plain + s * ss, *out = aug + s * ss;
        bool same = !memcmp(in, out, sizeof(float) * (size_t)ss);
        bool mirrored = true;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    if (out[(y * w + x) * c + k] != in[(y * w + (w - 1 - x)) * c + k])
                        mirrored = false;
        assert_true(same || mirrored);
        flipped += mirrored;
    }
    /* p = 0.5 over 64 samples: 32 expected; [16, 48] is > 99.99% likely */
    assert_in_range(flipped, 16, 48);
    free(plain);
    free(aug);
    free(buf);
}

static void test_augment_seeds(void **state)
{
    (void)state;
    uint8_t *buf;
    nn_dataset d = make_images(4, 8, 8, 3, &buf);
    memset(&d.augment, 0, sizeof d.augment);
    d.augment.rotation_range = 20.0;
    d.augment.width_shift_range = 0.2;
    d.augment.height_shift_range = 0.2;
    d.augment.zoom_range = 0.2;
    d.augment.channel_shift_range = 20.0;
    d.augment.horizontal_flip = d.augment.vertical_flip = true;
    d.augment.fill_mode = NN_FILL_REFLECT;
    uint32_t idx[4] = {0, 1, 2, 3};
    static float a[4 * 192], b[4 * 192], c[4 * 192], e[4 * 192];
    float scratch[192];
    nn_augment_gather_x(&d, idx, 4, 7, 2, scratch, a);
    nn_augment_gather_x(&d, idx, 4, 7, 2, scratch, b);
    nn_augment_gather_x(&d, idx, 4, 8, 2, scratch, c);
    nn_augment_gather_x(&d, idx, 4, 7, 3, scratch, e);
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    assert_memory_not_equal(a, e, sizeof a); /* another epoch, another draw */
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++)
        assert_true(a[i] >= 0.0f && a[i] <= 1.0f);
    free(buf);
}

static void test_augment_shift_constant(void **state)
{
    (void)state;
    enum { H = 6, W = 7 };
    float src[H * W], dst[H * W];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            src[y * W + x] = (float)(y * 10 + x);
    nn_augment_cfg cfg = {.fill_mode = NN_FILL_CONSTANT, .cval = 99.0};
    /* Keras's tx is the row shift, ty the column shift; output (y, x)
     * samples the input at (y + tx, x + ty): tx = 2 moves the content up 2
     * rows, ty = -3 right 3 columns. */
    nn_augment_params p = {.tx = 2.0, .ty = -3.0, .zx = 1.0, .zy = 1.0};
    nn_augment_apply(&cfg, &p, H, W, 1, 1.0f, src, dst);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sy = y + 2, sx = x - 3;
            float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? src[sy * W + sx] : 99.0f;
            if (dst[y * W + x] != want)
                fail_msg("(%d,%d): got %g, want %g", y, x, dst[y * W + x], want);
        }
    /* the same shift with fill_mode nearest repeats the edge */
    cfg.fill_mode = NN_FILL_NEAREST;
    nn_augment_apply(&cfg, &p, H, W, 1, 1.0f, src, dst);
    assert_true(dst[(H - 1) * W + 0] == src[(H - 1) * W + 0]); /* row 7 -> 5, col -3 -> 0 */
    cfg.fill_mode = NN_FILL_WRAP;
    nn_augment_apply(&cfg, &p, H, W, 1, 1.0f, src, dst);
    assert_true(dst[0] == src[2 * W + 4]); /* col -3 wraps to 4 */
    cfg.fill_mode = NN_FILL_REFLECT;
    nn_augment_apply(&cfg, &p, H, W, 1, 1.0f, src, dst);
    assert_true(dst[0] == src[2 * W + 2]); /* col -3 mirrors to 2 (dcba|abcd) */
    /* a half-pixel shift is bilinear */
    nn_augment_params q = {.ty = 0.5, .zx = 1.0, .zy = 1.0};
    nn_augment_apply(&cfg, &q, H, W, 1, 1.0f, src, dst);
    assert_float_equal(dst[0], 0.5f, 1e-6);
    /* 180 degrees is a flip in both axes (the centre is fixed) */
    nn_augment_params r = {.theta = 180.0, .zx = 1.0, .zy = 1.0};
    nn_augment_apply(&cfg, &r, H, W, 1, 1.0f, src, dst);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            assert_float_equal(dst[y * W + x], src[(H - 1 - y) * W + (W - 1 - x)], 1e-4);
}

/* Featurewise statistics by hand: two 1x2 two-channel images
 * (stored 0, 10 | 20, 30) and (40, 50 | 60, 70), scale 10: channel 0 holds
 * 0, 2, 4, 6 (mean 3, variance (9+1+1+9)/4 = 5), channel 1 holds 1, 3, 5, 7
 * (mean 4, variance 5). Every gather applies them, after augmentation. */
static void test_featurewise(void **state)
{
    (void)state;
    uint8_t px[8] = {0, 10, 20, 30, 40, 50, 60, 70};
    nn_dataset d;
    memset(&d, 0, sizeof d);
    d.n = 2;
    d.ndim = 3;
    d.shape[0] = 1;
    d.shape[1] = 2;
    d.shape[2] = 2;
    d.sample_size = 4;
    d.u8 = px;
    d.scale = 10.0f;
    nn_featurewise f;
    nn_error err = {0};
    assert_int_equal(nn_featurewise_fit(&f, &d, true, true, &err), NN_OK);
    assert_int_equal(f.channels, 2);
    assert_float_equal(f.mean[0], 3.0f, 1e-6);
    assert_float_equal(f.mean[1], 4.0f, 1e-6);
    assert_float_equal(f.std[0], sqrtf(5.0f), 1e-6);
    assert_float_equal(f.std[1], sqrtf(5.0f), 1e-6);
    d.featurewise = &f;
    uint32_t idx[2] = {1, 0};
    float x[8];
    nn_dataset_gather_x(&d, idx, 2, x);
    const float s = sqrtf(5.0f) + 1e-6f;
    /* sample 1: channel 0 holds 4, 6; channel 1 holds 5, 7 */
    assert_float_equal(x[0], (4.0f - 3.0f) / s, 1e-6);
    assert_float_equal(x[1], (5.0f - 4.0f) / s, 1e-6);
    assert_float_equal(x[2], (6.0f - 3.0f) / s, 1e-6);
    assert_float_equal(x[7], (3.0f - 4.0f) / s, 1e-6);
    /* with augmentation (a horizontal flip on every sample, as drawn): the
     * flip first, then the statistics */
    memset(&d.augment, 0, sizeof d.augment);
    d.augment.horizontal_flip = true;
    float a[8], raw[4], scratch[4];
    int flipped = 0;
    for (long long epoch = 0; epoch < 16 && !flipped; epoch++) {
        nn_augment_gather_x(&d, idx, 1, 1, epoch, scratch, a);
        nn_augment_sample(&d, idx[0], 1, epoch, scratch, raw);
        for (int k = 0; k < 4; k++)
            assert_float_equal(a[k], (raw[k] - f.mean[k % 2]) / s, 1e-6);
        flipped = raw[0] == 6.0f; /* pixel 1 of sample 1 moved to pixel 0 */
    }
    assert_true(flipped);
    /* center only: no division; neither: untouched */
    f.std_normalization = false;
    nn_dataset_gather_x(&d, idx, 1, x);
    assert_float_equal(x[0], 1.0f, 1e-6);
    /* not images */
    d.ndim = 1;
    d.shape[0] = 4;
    assert_int_equal(nn_featurewise_fit(&f, &d, true, false, &err), NN_ERR_USAGE);
    assert_msg_contains(err, "images");
}

/* ---------- image folders ---------- */

static void write_png(const char *path, int h, int w, int c, uint8_t v)
{
    uint8_t px[64 * 64 * 3];
    for (int i = 0; i < h * w * c; i++)
        px[i] = (uint8_t)(v + i);
    nn_error err = {0};
    if (nn_png_write(path, px, h, w, c, &err))
        fail_msg("%s", err.msg);
}

static void test_image_folder(void **state)
{
    (void)state;
    char root[512];
    snprintf(root, sizeof root, "%s/imgs", tmpdir);
    assert_int_equal(mkdir(root, 0755), 0);
    assert_int_equal(mkdir(tpath("imgs/zebra"), 0755), 0);
    assert_int_equal(mkdir(tpath("imgs/ant"), 0755), 0);
    write_png(tpath("imgs/zebra/b.png"), 3, 4, 3, 100);
    write_png(tpath("imgs/zebra/a.png"), 3, 4, 1, 50);
    write_png(tpath("imgs/ant/x.png"), 3, 4, 3, 10);
    write_file(tpath("imgs/ant/readme.txt"), "no", 2);
    nn_error err = {0};
    nn_dataset d;
    nn_class_names names;
    assert_int_equal(nn_image_folder_load(root, 3, &d, &names, &err), NN_OK);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.ndim, 3);
    assert_int_equal(d.shape[0], 3);
    assert_int_equal(d.shape[1], 4);
    assert_int_equal(d.shape[2], 3);
    assert_int_equal(d.n_classes, 2);
    assert_int_equal(names.n, 2);
    assert_string_equal(names.names[0], "ant");
    assert_string_equal(names.names[1], "zebra");
    /* ant/x.png, zebra/a.png (gray, repeated to RGB), zebra/b.png */
    assert_int_equal(d.labels[0], 0);
    assert_int_equal(d.labels[1], 1);
    assert_int_equal(d.labels[2], 1);
    assert_int_equal(d.u8[0], 10);
    assert_int_equal(d.u8[36 + 0], 50);
    assert_int_equal(d.u8[36 + 1], 50);
    assert_int_equal(d.u8[36 + 3], 51);
    assert_int_equal(d.u8[72], 100);
    nn_class_names_free(&names);
    nn_dataset_free(&d);
    /* grayscale: RGB (10, 11, 12) -> round(10*.299 + 11*.587 + 12*.114) = 11 */
    assert_int_equal(nn_image_folder_load(root, 1, &d, NULL, &err), NN_OK);
    assert_int_equal(d.shape[2], 1);
    assert_int_equal(d.sample_size, 12);
    assert_int_equal(d.u8[0], 11);
    assert_int_equal(d.u8[12], 50);
    nn_dataset_free(&d);
    /* an image of another size */
    write_png(tpath("imgs/zebra/c.png"), 4, 4, 3, 0);
    assert_int_equal(nn_image_folder_load(root, 3, &d, NULL, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "zebra/c.png");
    assert_msg_contains(err, "one size");
    /* no class folders */
    assert_int_equal(mkdir(tpath("empty"), 0755), 0);
    assert_int_equal(nn_image_folder_load(tpath("empty"), 3, &d, NULL, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "no class folders");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar_real_test),
        cmocka_unit_test(test_cifar_real_train),
        cmocka_unit_test(test_cifar_files),
        cmocka_unit_test(test_cifar_archive_synthetic),
        cmocka_unit_test(test_data_spec_formats),
        cmocka_unit_test(test_augment_identity),
        cmocka_unit_test(test_augment_flip),
        cmocka_unit_test(test_augment_seeds),
        cmocka_unit_test(test_augment_shift_constant),
        cmocka_unit_test(test_featurewise),
        cmocka_unit_test(test_image_folder),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

/* Tests for multi-input / multi-output data (format "npy" with x and y
 * groups: src/data/data_spec.c, data_load.c, npy_dataset.c, dataset.c). Every row of
 * every array carries its row number (image pixels 10 * row + j, meta
 * 100 * k + row, digit label row % 3, parity row % 2, score 1000 + row), so
 * a split, subset or reordering that misaligned any part shows up. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_spec.h"
#include "data/npy.h"

#include "unit/tmpfiles.h"
#include "unit/spec_data.h"

#define N 6

/* An .npy file (version 1.0, header padded to 64 bytes as numpy does). */
static const char *npy_file(const char *name, const char *dict, const void *data, size_t len)
{
    static unsigned char buf[1 << 14];
    size_t n = strlen(dict), hlen = n + 1;
    hlen += 64 - (10 + n + 1) % 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', hlen - n - 1);
    buf[10 + hlen - 1] = '\n';
    assert_true(10 + hlen + len <= sizeof buf);
    memcpy(buf + 10 + hlen, data, len);
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, 10 + hlen + len, f), 10 + hlen + len);
    assert_int_equal(fclose(f), 0);
    return p;
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* float32 rows of `cols` values: 100 * (k + 1) + row */
static void write_meta(const char *name, int rows, int cols)
{
    unsigned char d[4 * 64];
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) {
            float v = (float)(100 * (k + 1) + r);
            uint32_t b;
            memcpy(&b, &v, 4);
            le32(d + 4 * (r * cols + k), b);
        }
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }",
             rows, cols);
    npy_file(name, dict, d, (size_t)(4 * rows * cols));
}

/* int32 labels row % mod, shape (rows,) */
static void write_labels(const char *name, int rows, int mod)
{
    unsigned char d[4 * 64];
    for (int r = 0; r < rows; r++)
        le32(d + 4 * r, (uint32_t)(r % mod));
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }",
             rows);
    npy_file(name, dict, d, (size_t)(4 * rows));
}

static int setup(void **state)
{
    if (setup_tmp(state))
        return -1;
    /* image: uint8 (N, 2, 2), pixel j of row r = 10 * r + j */
    unsigned char px[N * 4];
    for (int r = 0; r < N; r++)
        for (int j = 0; j < 4; j++)
            px[r * 4 + j] = (unsigned char)(10 * r + j);
    npy_file("img.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (6, 2, 2), }", px,
             sizeof px);
    write_meta("meta.npy", N, 3);
    write_meta("meta5.npy", N - 1, 3);
    write_labels("digit.npy", N, 3);
    write_labels("parity.npy", N, 2);
    write_labels("parity5.npy", N - 1, 2);
    /* score: float32 (N, 1) regression targets 1000 + row */
    unsigned char d[4 * N];
    for (int r = 0; r < N; r++) {
        float v = (float)(1000 + r);
        uint32_t b;
        memcpy(&b, &v, 4);
        le32(d + 4 * r, b);
    }
    npy_file("score.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 1), }", d,
             sizeof d);
    return 0;
}

/* data.train with x = { image, meta } and y = { digit, parity, score }
 * (each key on its own line: line 3 is x.image, 4 x.meta, 6 y.digit ...).
 * extra: more keys for data.train, data_extra for data. */
static void multi_spec(char *buf, size_t cap, const char *meta, const char *parity,
                       const char *extra, const char *data_extra)
{
    snprintf(buf, cap,
             "data = {\n"
             " train = { format = \"npy\"; x = {\n"
             "  image = \"%s\";\n"
             "  meta = \"%s\";\n"
             " }; y = {\n"
             "  digit = \"%s\";\n"
             "  parity = \"%s\";\n"
             "  score = \"%s\";\n"
             " }; %s };\n"
             " scale = 2.0; %s\n"
             "};",
             tpath("img.npy"), meta[0] == '/' ? meta : tpath(meta), tpath("digit.npy"),
             parity[0] == '/' ? parity : tpath(parity), tpath("score.npy"), extra, data_extra);
}

static void load_multi(nn_dataset *ds, const char *extra, const char *data_extra)
{
    static nn_data_cfg c;
    nn_error err = {0};
    char spec[4096];
    multi_spec(spec, sizeof spec, "meta.npy", "parity.npy", extra, data_extra);
    if (spec_data(spec, &c, &err))
        fail_msg("%s", err.msg);
    if (nn_data_load(&c.train, c.scale, ds, &err))
        fail_msg("%s", err.msg);
}

/* The parts of d, whatever their order, by name. */
static const nn_dataset *x_named(const nn_dataset *d, const char *name)
{
    for (int i = 0; nn_dataset_input_part(d, i); i++)
        if (!strcmp(nn_dataset_input_part(d, i)->x_name, name))
            return nn_dataset_input_part(d, i);
    fail_msg("no x part \"%s\"", name);
    return NULL;
}

static const nn_dataset *y_named(const nn_dataset *d, const char *name)
{
    for (int j = 0; j <= d->n_more_y; j++)
        if (!strcmp(nn_dataset_output_part(d, j)->y_name, name))
            return nn_dataset_output_part(d, j);
    fail_msg("no y part \"%s\"", name);
    return NULL;
}

/* Every part of d holds d->n rows, and row i of each comes from the same
 * source row (ids[i] when ids is given). digit_map: the digit label the
 * source row's class (row % 3) has now (NULL: unchanged). */
static void check_aligned(const nn_dataset *d, const int *ids, const int *digit_map)
{
    const nn_dataset *img = x_named(d, "image"), *meta = x_named(d, "meta");
    const nn_dataset *digit = y_named(d, "digit"), *parity = y_named(d, "parity");
    const nn_dataset *score = y_named(d, "score");
    const nn_dataset *parts[5] = {img, meta, digit, parity, score};
    for (int k = 0; k < 5; k++)
        assert_int_equal(parts[k]->n, d->n);
    for (size_t i = 0; i < d->n; i++) {
        int id = img->u8[i * 4] / 10;
        if (ids)
            assert_int_equal(id, ids[i]);
        for (int j = 0; j < 4; j++)
            assert_int_equal(img->u8[i * 4 + (size_t)j], 10 * id + j);
        for (int k = 0; k < 3; k++)
            assert_true(meta->f32[i * 3 + (size_t)k] == (float)(100 * (k + 1) + id));
        assert_int_equal(digit->labels[i], digit_map ? digit_map[id % 3] : id % 3);
        assert_int_equal(parity->labels[i], id % 2);
        assert_true(score->targets[i] == (float)(1000 + id));
    }
}

/* ---------- loading ---------- */

static void test_load_groups(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    char spec[4096];
    multi_spec(spec, sizeof spec, "meta.npy", "parity.npy", "", "");
    if (spec_data(spec, &c, &err))
        fail_msg("%s", err.msg);
    const nn_data_source *s = &c.train;
    assert_int_equal(s->format, NN_FORMAT_NPY);
    assert_int_equal(s->n_x, 2);
    assert_int_equal(s->n_y, 3);
    assert_string_equal(s->x_names[0], "image");
    assert_string_equal(s->x_names[1], "meta");
    assert_string_equal(s->y_names[0], "digit");
    assert_string_equal(s->y_names[2], "score");
    assert_string_equal(s->x_files[1], tpath("meta.npy"));
    /* the first entries are also the single-file fields */
    assert_string_equal(s->images, tpath("img.npy"));
    assert_string_equal(s->labels, tpath("digit.npy"));
    assert_string_equal(s->where_x[1], "d.cfg:4: data.train.x.meta");
    assert_string_equal(s->where_y[2], "d.cfg:8: data.train.y.score");
    assert_string_equal(s->where_images, "d.cfg:3: data.train.x.image");
    assert_string_equal(s->where_labels, "d.cfg:6: data.train.y.digit");
    /* 24 uint8 pixels, 18 float32 meta values, 3 x 6 labels/targets */
    assert_int_equal(nn_data_footprint(s), 24 + 4 * 18 + 4 * 18);

    nn_dataset ds;
    if (nn_data_load(s, c.scale, &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ds.n, N);
    assert_int_equal(ds.n_more_x, 1);
    assert_int_equal(ds.n_more_y, 2);
    /* x: image in d itself, meta in more_x[0]; both scaled */
    assert_string_equal(ds.x_name, "image");
    assert_int_equal(ds.ndim, 2);
    assert_int_equal(ds.sample_size, 4);
    assert_non_null(ds.u8);
    assert_true(ds.scale == 2.0f);
    const nn_dataset *meta = nn_dataset_input_part(&ds, 1);
    assert_ptr_equal(meta, &ds.more_x[0]);
    assert_string_equal(meta->x_name, "meta");
    assert_int_equal(meta->n, N);
    assert_int_equal(meta->ndim, 1);
    assert_int_equal(meta->shape[0], 3);
    assert_int_equal(meta->sample_size, 3);
    assert_non_null(meta->f32);
    assert_null(meta->labels);
    assert_null(meta->targets);
    assert_true(meta->scale == 2.0f);
    /* y: digit in d itself (3 classes), parity (labels), score (targets) */
    assert_string_equal(ds.y_name, "digit");
    assert_int_equal(ds.n_classes, 3);
    const nn_dataset *parity = nn_dataset_output_part(&ds, 1);
    const nn_dataset *score = nn_dataset_output_part(&ds, 2);
    assert_string_equal(parity->y_name, "parity");
    assert_int_equal(parity->n_classes, 2);
    assert_null(parity->u8);
    assert_null(parity->f32);
    assert_int_equal(parity->sample_size, 0);
    assert_string_equal(score->y_name, "score");
    assert_null(score->labels);
    assert_int_equal(score->target_size, 1);
    assert_int_equal(score->n_classes, 0);
    check_aligned(&ds, (const int[N]){0, 1, 2, 3, 4, 5}, NULL);

    /* accessors: no such part is NULL */
    assert_ptr_equal(nn_dataset_input_part(&ds, 0), &ds);
    assert_null(nn_dataset_input_part(&ds, 2));
    assert_null(nn_dataset_input_part(&ds, -1));
    assert_ptr_equal(nn_dataset_output_part(&ds, 0), &ds);
    assert_null(nn_dataset_output_part(&ds, 3));
    assert_null(nn_dataset_output_part(&ds, -1));

    /* batches from the parts, scaled like any x */
    uint32_t idx[2] = {4, 1};
    float x[6], y[2];
    nn_dataset_gather_x(meta, idx, 2, x);
    static const float wx[6] = {52, 102, 152, 50.5f, 100.5f, 150.5f};
    assert_memory_equal(x, wx, sizeof wx);
    nn_dataset_gather_y(score, idx, 2, 0, y);
    assert_true(y[0] == 1004 && y[1] == 1001);
    nn_dataset_gather_y(parity, idx, 2, 0, y);
    assert_true(y[0] == 0 && y[1] == 1);
    nn_dataset_free(&ds);

    /* x a group of one, y a single file: y feeds every output */
    char one[2048];
    snprintf(one, sizeof one,
             "data = { train = { format = \"npy\"; x = { pixels = \"%s\"; }; y = \"%s\"; }; };",
             tpath("img.npy"), tpath("digit.npy"));
    if (spec_data(one, &c, &err) || nn_data_load(&c.train, c.scale, &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(c.train.n_x, 1);
    assert_int_equal(c.train.n_y, 0);
    assert_string_equal(ds.x_name, "pixels");
    assert_string_equal(ds.y_name, "");
    assert_int_equal(ds.n_more_x, 0);
    assert_int_equal(ds.n_more_y, 0);
    for (int j = 0; j < 4; j++)
        assert_ptr_equal(nn_dataset_output_part(&ds, j), &ds);
    assert_null(nn_dataset_input_part(&ds, 1));
    nn_dataset_free(&ds);
}

static void test_load_errors(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    char spec[4096];
    nn_dataset ds;
    /* an x or a y with another number of samples: the error names both
     * files and both counts, at the spec's place */
    multi_spec(spec, sizeof spec, "meta5.npy", "parity.npy", "", "");
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &ds, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:2: data.train: ");
    char want[1024];
    snprintf(want, sizeof want,
             "'%s': shape (5, 3) holds 5 samples, but '%s' holds 6 (shape (6, 2, 2))",
             tpath("meta5.npy"), tpath("img.npy"));
    assert_msg_contains(err, want);
    multi_spec(spec, sizeof spec, "meta.npy", "parity5.npy", "", "");
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &ds, &err), NN_ERR_RUNTIME);
    snprintf(want, sizeof want, "'%s': shape (5,), but '%s' holds 6 samples (shape (6, 2, 2))",
             tpath("parity5.npy"), tpath("img.npy"));
    assert_msg_contains(err, want);
    /* a file that is not there names its entry */
    setenv("NNCTL_DATA", tmpdir, 1);
    snprintf(spec, sizeof spec,
             "data = { train = { format = \"npy\";\n x = { image = \"img.npy\";\n meta = "
             "\"nope.npy\"; };\n y = \"digit.npy\"; }; };");
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &ds, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:3: data.train.x.meta: data file 'nope.npy' not found");
    unsetenv("NNCTL_DATA");
    /* data.augment with no image among the x arrays */
    snprintf(spec, sizeof spec,
             "data = { train = { format = \"npy\"; x = { a = \"%s\"; b = \"%s\"; }; y = \"%s\"; "
             "};\n augment = { horizontal_flip = true; }; };",
             tpath("score.npy"), tpath("meta.npy"), tpath("digit.npy"));
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &ds, &err), NN_ERR_USAGE);
    assert_msg_contains(err, "none of the x arrays holds such samples");

    struct {
        const char *spec, *msg;
    } bad[] = {
        {"data = { train = { format = \"npy\";\n x = {}; y = \"a.npy\"; }; };",
         "d.cfg:2: data.train.x: expected an .npy file, or a group naming the model's inputs"},
        {"data = { train = { format = \"npy\"; x = \"a.npy\";\n y = { }; }; };",
         "d.cfg:2: data.train.y: expected an .npy file, or a group naming the model's outputs"},
        {"data = { train = { format = \"npy\"; x = {\n a = 3; }; y = \"a.npy\"; }; };",
         "d.cfg:2: data.train.x.a: expected a string"},
        {"data = { train = { format = \"npy\"; x = {\n a = \"\"; }; y = \"a.npy\"; }; };",
         "d.cfg:2: data.train.x.a: expected an .npy file of 1 to 1023 characters"},
        {"data = { train = { format = \"npy\"; x = { a = \"1\"; b = \"2\"; c = \"3\"; d = "
         "\"4\"; e = \"5\"; f = \"6\"; g = \"7\"; h = \"8\"; i = \"9\"; }; y = \"a.npy\"; }; };",
         "data.train.x: 9 files; at most 8"},
        {"data = { train = { format = \"npy\"; x = { a = \"1\"; }; y = {\n "
         "a234567890123456789012345678901234567890123456789012345678901234 = \"2\"; }; }; };",
         "d.cfg:2: data.train.y.a2345678901234567890123456789012345678901234567890123456789012"
         "34: expected a model output name of at most 63 characters"},
        {"data = { train = { format = \"npy\"; x = 3; y = \"a.npy\"; }; };",
         "data.train.x: expected a string"},
        {"data = { train = { format = \"npy\"; x = { a = \"1\"; }; }; };",
         "missing required key \"y\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_status st = spec_data(bad[i].spec, &c, &err);
        if (st == NN_OK)
            fail_msg("spec %zu: no error (expected \"%s\")", i, bad[i].msg);
        assert_msg_contains(err, bad[i].msg);
    }
}

/* ---------- every operation keeps the parts aligned ---------- */

static void test_split_and_view(void **state)
{
    (void)state;
    nn_dataset ds, tr, va, v;
    nn_error err = {0};
    load_multi(&ds, "", "");
    if (nn_dataset_split_tail(&ds, 1.0 / 3.0, &tr, &va, &err))
        fail_msg("%s", err.msg);
    /* Keras: int(6 * (1 - 1/3)) = 4 rows for training */
    assert_int_equal(tr.n, 4);
    assert_int_equal(va.n, 2);
    check_aligned(&tr, (const int[]){0, 1, 2, 3}, NULL);
    check_aligned(&va, (const int[]){4, 5}, NULL);
    /* views have their own parts arrays, pointing into ds's data */
    assert_ptr_not_equal(tr.more_x, ds.more_x);
    assert_ptr_not_equal(va.more_y, ds.more_y);
    assert_ptr_not_equal(tr.more_y, va.more_y);
    assert_null(va.more_x[0].owner_f32);
    assert_null(va.more_y[1].owner_targets);
    assert_ptr_equal(va.more_x[0].f32, ds.more_x[0].f32 + 4 * 3);
    assert_ptr_equal(va.more_y[1].targets, ds.more_y[1].targets + 4);
    assert_string_equal(va.more_y[0].y_name, "parity");
    nn_dataset_free(&va);
    /* a split of a view */
    nn_dataset a, b;
    if (nn_dataset_split_tail(&tr, 0.5, &a, &b, &err))
        fail_msg("%s", err.msg);
    check_aligned(&a, (const int[]){0, 1}, NULL);
    check_aligned(&b, (const int[]){2, 3}, NULL);
    nn_dataset_free(&a);
    nn_dataset_free(&b);
    /* a whole-dataset view */
    if (nn_dataset_view(&ds, &v, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(v.n, N);
    assert_ptr_not_equal(v.more_x, ds.more_x);
    check_aligned(&v, (const int[N]){0, 1, 2, 3, 4, 5}, NULL);
    nn_dataset_free(&v);
    nn_dataset_free(&tr);
    /* ds is whole after its views are gone (ASan: nothing freed twice) */
    check_aligned(&ds, NULL, NULL);
    nn_dataset_free(&ds);
    assert_null(ds.more_x);
    assert_int_equal(ds.n_more_y, 0);
}

static void test_subset_and_classes(void **state)
{
    (void)state;
    nn_dataset ds, a, b;
    nn_error err = {0};
    load_multi(&ds, "", "");
    /* stratified by the digit labels (row % 3): one row of each class */
    nn_rng r;
    nn_rng_seed(&r, 7, NN_STREAM_SUBSET);
    if (nn_dataset_subset_stratified(&ds, 3, &r, &a, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.n_more_x, 1);
    assert_int_equal(a.n_more_y, 2);
    check_aligned(&a, NULL, NULL);
    int seen[3] = {0};
    for (size_t i = 0; i < a.n; i++) {
        seen[a.labels[i]]++;
        if (i)
            assert_true(a.u8[i * 4] > a.u8[(i - 1) * 4]); /* original order */
    }
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    /* the subset owns its copies: free the source first */
    assert_non_null(a.more_x[0].owner_f32);
    assert_non_null(a.more_y[0].owner_labels);
    assert_ptr_not_equal(a.more_y[1].targets, ds.more_y[1].targets);
    /* classes [2, 0]: rows 0, 2, 3, 5; digit 2 -> 0, 0 -> 1; parity and
     * score as they were */
    if (nn_dataset_select_classes(&ds, (const int[]){2, 0}, 2, &b, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(b.n_classes, 2);
    assert_int_equal(b.more_y[0].n_classes, 2);
    check_aligned(&b, (const int[]){0, 2, 3, 5}, (const int[3]){1, -1, 0});
    nn_dataset_free(&ds);
    check_aligned(&a, NULL, NULL);
    /* a split of a subset */
    nn_dataset tr, va;
    if (nn_dataset_split_tail(&b, 0.5, &tr, &va, &err))
        fail_msg("%s", err.msg);
    check_aligned(&va, (const int[]){3, 5}, (const int[3]){1, -1, 0});
    nn_dataset_free(&tr);
    nn_dataset_free(&va);
    nn_dataset_free(&a);
    nn_dataset_free(&b);

    /* classes = [...] in the spec: by the first y entry, on load */
    load_multi(&ds, "classes = [1, 2];", "");
    assert_int_equal(ds.n, 4);
    check_aligned(&ds, (const int[]){1, 2, 4, 5}, (const int[3]){-1, 0, 1});
    nn_dataset_free(&ds);
}

/* ---------- matching the model's names ---------- */

static void test_match_names(void **state)
{
    (void)state;
    nn_dataset ds;
    nn_error err = {0};
    const char *where = "d.cfg:2: data.train";
    load_multi(&ds, "", "augment = { horizontal_flip = true; };");
    /* augmentation went to the image only */
    assert_true(nn_augment_active(&ds.augment));
    assert_false(nn_augment_active(&ds.more_x[0].augment));

    static const char *const ins[] = {"meta", "image"};
    static const char *const outs[] = {"score", "digit", "parity"};
    if (nn_dataset_match_names(&ds, ins, 2, outs, 3, where, &err))
        fail_msg("%s", err.msg);
    const nn_dataset *x0 = nn_dataset_input_part(&ds, 0), *x1 = nn_dataset_input_part(&ds, 1);
    assert_string_equal(x0->x_name, "meta");
    assert_non_null(x0->f32);
    assert_null(x0->u8);
    assert_int_equal(x0->sample_size, 3);
    assert_int_equal(x0->ndim, 1);
    assert_false(nn_augment_active(&x0->augment));
    assert_string_equal(x1->x_name, "image");
    assert_non_null(x1->u8);
    assert_int_equal(x1->ndim, 2);
    assert_true(nn_augment_active(&x1->augment)); /* travelled with the image */
    const nn_dataset *y0 = nn_dataset_output_part(&ds, 0), *y1 = nn_dataset_output_part(&ds, 1);
    const nn_dataset *y2 = nn_dataset_output_part(&ds, 2);
    assert_string_equal(y0->y_name, "score");
    assert_null(y0->labels);
    assert_int_equal(y0->target_size, 1);
    assert_int_equal(y0->n_classes, 0);
    assert_string_equal(y1->y_name, "digit");
    assert_int_equal(y1->n_classes, 3);
    assert_string_equal(y2->y_name, "parity");
    check_aligned(&ds, (const int[N]){0, 1, 2, 3, 4, 5}, NULL);
    /* the reordered dataset still splits, subsets and frees cleanly; the
     * subset's stratification now follows output 0: score has no labels,
     * so a uniform pick */
    nn_dataset tr, va, sub;
    if (nn_dataset_split_tail(&ds, 0.5, &tr, &va, &err))
        fail_msg("%s", err.msg);
    check_aligned(&va, (const int[]){3, 4, 5}, NULL);
    nn_dataset_free(&tr);
    nn_dataset_free(&va);
    nn_rng r;
    nn_rng_seed(&r, 1, NN_STREAM_SUBSET);
    if (nn_dataset_subset_stratified(&ds, 4, &r, &sub, &err))
        fail_msg("%s", err.msg);
    check_aligned(&sub, NULL, NULL);
    nn_dataset_free(&sub);
    /* in the spec's order again */
    static const char *const ins2[] = {"image", "meta"};
    static const char *const outs2[] = {"digit", "parity", "score"};
    assert_int_equal(nn_dataset_match_names(&ds, ins2, 2, outs2, 3, where, &err), NN_OK);
    assert_string_equal(ds.x_name, "image");
    assert_string_equal(ds.y_name, "digit");
    assert_int_equal(ds.n_classes, 3);
    check_aligned(&ds, (const int[N]){0, 1, 2, 3, 4, 5}, NULL);

    /* errors name the place and the model's names, and leave ds as it was */
    static const char *const in_other[] = {"image", "extra"};
    static const char *const in_more[] = {"image", "meta", "aux"};
    static const char *const out_less[] = {"digit", "parity"};
    static const char *const out_more[] = {"digit", "parity", "score", "extra"};
    static const char *const in_one[] = {"image", "meta"};
    struct {
        const char *const *in;
        int n_in;
        const char *const *out;
        int n_out;
        const char *msg;
    } bad[] = {
        {in_other, 2, outs2, 3,
         "d.cfg:2: data.train.x.meta: \"meta\" is not an input of the model; its inputs are "
         "\"image\", \"extra\""},
        {in_more, 3, outs2, 3,
         "d.cfg:2: data.train.x: the model's input \"aux\" has no array; its inputs are "
         "\"image\", \"meta\", \"aux\""},
        {ins2, 2, out_less, 2,
         "d.cfg:2: data.train.y.score: \"score\" is not an output of the model; its outputs "
         "are \"digit\", \"parity\""},
        {ins2, 2, out_more, 4,
         "d.cfg:2: data.train.y: the model's output \"extra\" has no targets"},
        {in_one, 1, outs2, 3, "\"meta\" is not an input of the model; its inputs are "
                                "\"image\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_status st = nn_dataset_match_names(&ds, bad[i].in, bad[i].n_in, bad[i].out,
                                              bad[i].n_out, where, &err);
        if (st != NN_ERR_USAGE)
            fail_msg("case %zu: no usage error (expected \"%s\")", i, bad[i].msg);
        assert_msg_contains(err, bad[i].msg);
        assert_string_equal(ds.x_name, "image");
        assert_string_equal(ds.y_name, "digit");
        check_aligned(&ds, NULL, NULL);
    }
    /* n_inputs / n_outputs 0: that side is not checked */
    assert_int_equal(nn_dataset_match_names(&ds, NULL, 0, outs, 3, where, &err), NN_OK);
    assert_string_equal(ds.x_name, "image");
    assert_string_equal(ds.y_name, "score");
    nn_dataset_free(&ds);

    /* a parts list with a name twice (not from a spec: libconfig refuses
     * duplicate keys) */
    load_multi(&ds, "", "");
    snprintf(ds.more_x[0].x_name, sizeof ds.more_x[0].x_name, "image");
    assert_int_equal(nn_dataset_match_names(&ds, ins2, 2, NULL, 0, where, &err), NN_ERR_USAGE);
    assert_msg_contains(err, "d.cfg:2: data.train.x: \"image\" is given twice");
    nn_dataset_free(&ds);

    /* single unnamed x and y: left as they are; one y feeds every output */
    nn_dataset one;
    if (nn_npy_load_dataset(tpath("img.npy"), tpath("digit.npy"), &one, &err))
        fail_msg("%s", err.msg);
    static const char *const in1[] = {"input_1"};
    assert_int_equal(nn_dataset_match_names(&one, in1, 1, outs, 3, where, &err), NN_OK);
    assert_string_equal(one.x_name, "");
    assert_ptr_equal(nn_dataset_output_part(&one, 2), &one);
    /* but a model of two inputs needs two arrays */
    assert_int_equal(nn_dataset_match_names(&one, ins2, 2, outs, 3, NULL, &err), NN_ERR_USAGE);
    assert_msg_contains(err, "data.x: the model has 2 inputs (\"image\", \"meta\") but x is a "
                             "single array");
    nn_dataset_free(&one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_groups),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_split_and_view),
        cmocka_unit_test(test_subset_and_classes),
        cmocka_unit_test(test_match_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown_tmp);
}

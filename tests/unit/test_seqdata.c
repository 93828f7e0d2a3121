/* Tests for the sequence data formats: "csv" (src/data/csv_seq.c) and
 * "tokens" (src/data/tokens.c), their spec keys (src/data/data_spec.c) and
 * how their datasets go through subsets, splits and batch gathering.
 * Expected values are written by hand; the padding cases follow Keras's
 * pad_sequences (padding="pre" puts the pad values before the sequence,
 * truncating="pre" drops tokens from the start). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_spec.h"
#include "data/dataset.h"

#include "unit/tmpfiles.h"
#include "unit/spec_data.h"

/* Writes text (may hold NUL bytes: len given) to tmpdir/name; returns the path. */
static const char *write_file(const char *name, const char *text, size_t len, bool gz)
{
    const char *p = tpath(name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        assert_non_null(f);
        if (len)
            assert_int_equal(gzwrite(f, text, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
    return p;
}

static const char *write_text(const char *name, const char *text)
{
    return write_file(name, text, strlen(text), false);
}


/* "<tmpdir>/<name>:<line>:" : the file and line an error must name */
static const char *at(const char *name, int line)
{
    static char buf[4][600];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 600, "%s/%s:%d:", tmpdir, name, line);
    return p;
}

static void assert_floats(const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("value %zu: got %.9g, expected %.9g", i, (double)got[i], (double)want[i]);
}

/* ---------- csv ---------- */

static void test_csv_values_and_shape(void **state)
{
    (void)state;
    /* 3 timesteps x 2 features; spaces around fields, CRLF on one line, an
     * exponent, a sign, a blank line inside and blank lines at the end, the
     * last data line ends the file without a newline after the blanks */
    const char *p = write_text("seq.csv", "1,0.5,-1,2,3.25,1e2,-0.125\n"
                                          " 0 , 1 ,2 , 3,4,5 ,6\r\n"
                                          "\n"
                                          "4,+7,8.5,9,10,11,12\n"
                                          "   \n"
                                          "\n");
    nn_csv_seq_opts o = {.timesteps = 3, .features = 2};
    nn_dataset d;
    nn_error err = {0};
    if (nn_csv_seq_load(p, &o, &d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(d.n, 3);
    assert_int_equal(d.ndim, 2);
    assert_int_equal(d.shape[0], 3);
    assert_int_equal(d.shape[1], 2);
    assert_int_equal(d.sample_size, 6);
    assert_null(d.u8);
    assert_non_null(d.f32);
    assert_null(d.targets);
    assert_true(d.scale == 1.0f);
    static const float want[18] = {0.5f, -1, 2, 3.25f, 100, -0.125f, 1, 2, 3,
                                   4,    5,  6, 7,     8.5f, 9,      10, 11, 12};
    assert_floats(d.f32, want, 18);
    assert_int_equal(d.labels[0], 1);
    assert_int_equal(d.labels[1], 0);
    assert_int_equal(d.labels[2], 4);
    assert_int_equal(d.n_classes, 5);
    nn_dataset_free(&d);

    /* last line without a newline, features default 1 (shape (4, 1)) */
    p = write_text("nonl.csv", "0,1,2,3,4\n1,5,6,7,8");
    o = (nn_csv_seq_opts){.timesteps = 4, .features = 1};
    if (nn_csv_seq_load(p, &o, &d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.shape[0], 4);
    assert_int_equal(d.shape[1], 1);
    static const float w2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_floats(d.f32, w2, 8);
    assert_int_equal(d.n_classes, 2); /* max label 1: 2 classes */
    nn_dataset_free(&d);

    /* all labels 0: still 2 classes (as the IDX loader); "2.0" is label 2 */
    p = write_text("zero.csv", "0,1\n0,2\n");
    o = (nn_csv_seq_opts){.timesteps = 1, .features = 1};
    assert_int_equal(nn_csv_seq_load(p, &o, &d, &err), NN_OK);
    assert_int_equal(d.n_classes, 2);
    nn_dataset_free(&d);
    p = write_text("float-label.csv", "2.0,1\n");
    assert_int_equal(nn_csv_seq_load(p, &o, &d, &err), NN_OK);
    assert_int_equal(d.labels[0], 2);
    assert_int_equal(d.n_classes, 3);
    nn_dataset_free(&d);
}

static void test_csv_header_regression_gzip(void **state)
{
    (void)state;
    /* a header line, regression targets, a UTF-8 byte-order mark, gzipped */
    const char text[] = "\xEF\xBB\xBFtarget,t0,t1\r\n"
                        "0.75,1,2\r\n"
                        "-3.5,3,4\r\n"
                        "1e-3,5,6\r\n";
    for (int gz = 0; gz < 2; gz++) {
        const char *p = write_file(gz ? "reg.csv.gz" : "reg.csv", text, sizeof text - 1, gz);
        nn_csv_seq_opts o = {.timesteps = 2, .features = 1, .header = true, .regression = true};
        nn_dataset d;
        nn_error err = {0};
        if (nn_csv_seq_load(p, &o, &d, &err) != NN_OK)
            fail_msg("%s", err.msg);
        assert_int_equal(d.n, 3);
        assert_null(d.labels);
        assert_non_null(d.targets);
        assert_int_equal(d.target_size, 1);
        assert_int_equal(d.n_classes, 0);
        static const float tg[3] = {0.75f, -3.5f, 1e-3f};
        assert_floats(d.targets, tg, 3);
        static const float x[6] = {1, 2, 3, 4, 5, 6};
        assert_floats(d.f32, x, 6);

        /* regression targets through gather_y, validation split, subsets */
        uint32_t idx[3] = {2, 0, 1};
        float y[3];
        nn_dataset_gather_y(&d, idx, 3, 0, y);
        assert_true(y[0] == 1e-3f && y[1] == 0.75f && y[2] == -3.5f);
        nn_dataset tr, va;
        assert_int_equal(nn_dataset_split_tail(&d, 0.34, &tr, &va, &err), NN_OK);
        assert_int_equal(tr.n, 1); /* int(3 * 0.66) */
        assert_int_equal(va.n, 2);
        assert_ptr_equal(va.targets, d.targets + 1);
        assert_ptr_equal(va.f32, d.f32 + 2);
        nn_dataset_free(&d);
    }

    /* header = false on a file with a header: the error says so */
    const char *p = write_text("hdr.csv", "label,a,b\n0,1,2\n");
    nn_csv_seq_opts o = {.timesteps = 2, .features = 1};
    nn_dataset d;
    nn_error err = {0};
    assert_int_equal(nn_csv_seq_load(p, &o, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, at("hdr.csv", 1));
    assert_msg_contains(err, "field 1 (the label): expected a class label");
    assert_msg_contains(err, "header = true");
    /* header = true skips exactly the first line: the rest is line 2 on */
    p = write_text("hdr2.csv", "label,a,b\n0,1,2\n1,x,3\n");
    o.header = true;
    assert_int_equal(nn_csv_seq_load(p, &o, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, at("hdr2.csv", 3));
    assert_msg_contains(err, "field 2 (timestep 1 of 2): expected a number, got \"x\"");
}

static void test_csv_subset_regression(void **state)
{
    (void)state;
    /* 10 samples, target i/2, value i: a uniform seeded subset, in order */
    char text[512] = "";
    for (int i = 0; i < 10; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d.5,%d\n", i, i);
    const char *p = write_text("sub.csv", text);
    nn_csv_seq_opts o = {.timesteps = 1, .features = 1, .regression = true};
    nn_dataset d, a, b;
    nn_error err = {0};
    assert_int_equal(nn_csv_seq_load(p, &o, &d, &err), NN_OK);
    nn_rng r;
    nn_rng_seed(&r, 5, NN_STREAM_SUBSET);
    if (nn_dataset_subset_stratified(&d, 4, &r, &a, &err) != NN_OK)
        fail_msg("%s", err.msg);
    nn_rng_seed(&r, 5, NN_STREAM_SUBSET);
    assert_int_equal(nn_dataset_subset_stratified(&d, 4, &r, &b, &err), NN_OK);
    assert_int_equal(a.n, 4);
    assert_null(a.labels);
    assert_non_null(a.owner_targets);
    assert_non_null(a.owner_f32);
    for (size_t j = 0; j < 4; j++) {
        float v = a.f32[j];
        assert_true(a.targets[j] == v + 0.5f); /* pairs kept */
        if (j)
            assert_true(v > a.f32[j - 1]); /* original order */
    }
    assert_memory_equal(a.f32, b.f32, 4 * sizeof(float)); /* seeded */
    nn_dataset_free(&a);
    nn_dataset_free(&b);
    assert_int_equal(nn_dataset_subset_stratified(&d, 10, &r, &a, &err), NN_OK);
    assert_memory_equal(a.f32, d.f32, 10 * sizeof(float));
    nn_dataset_free(&a);
    assert_int_equal(nn_dataset_subset_stratified(&d, 11, &r, &a, &err), NN_ERR_USAGE);
    nn_dataset_free(&d);
}

/* Each bad file: the error names the file and line, and says what was
 * expected. */
static void expect_csv_error(const char *name, const char *text, size_t len,
                             const nn_csv_seq_opts *o, int line, const char *what)
{
    const char *p = write_file(name, text, len, false);
    nn_dataset d;
    nn_error err = {0};
    if (nn_csv_seq_load(p, o, &d, &err) != NN_ERR_RUNTIME)
        fail_msg("%s: expected an error containing \"%s\"", name, what);
    if (line > 0)
        assert_msg_contains(err, at(name, line));
    else
        assert_msg_contains(err, name);
    assert_msg_contains(err, what);
    assert_null(d.f32);
    assert_null(d.labels);
    assert_int_equal(d.n, 0);
}
#define CSV_ERR(name, text, o, line, what) expect_csv_error(name, text, sizeof text - 1, o, line, what)

static void test_csv_errors(void **state)
{
    (void)state;
    nn_csv_seq_opts o = {.timesteps = 3, .features = 2};
    nn_csv_seq_opts reg = {.timesteps = 3, .features = 2, .regression = true};
    CSV_ERR("short.csv", "0,1,2,3,4,5,6\n1,1,2,3,4,5\n", &o, 2,
            "expected 7 comma-separated fields (the label, then 3 timesteps x 2 features), got 6");
    CSV_ERR("long.csv", "0,1,2,3,4,5,6\n\n1,1,2,3,4,5,6,7\n", &o, 3,
            "expected 7 comma-separated fields");
    CSV_ERR("text.csv", "0,1,2,3,4,5,6\n1,1,2,abc,4,5,6\n", &o, 2,
            "field 4 (timestep 2 of 3, feature 1 of 2): expected a number, got \"abc\"");
    CSV_ERR("hex.csv", "0,0x10,2,3,4,5,6\n", &o, 1, "expected a number, got \"0x10\"");
    CSV_ERR("emptyfield.csv", "0,1,2,,4,5,6\n", &o, 1,
            "field 4 (timestep 2 of 3, feature 1 of 2): expected a number, got an empty field");
    CSV_ERR("neg.csv", "0,1,2,3,4,5,6\n2,1,2,3,4,5,6\n-1,1,2,3,4,5,6\n", &o, 3,
            "field 1 (the label): expected a class label (an integer >= 0), got \"-1\"");
    CSV_ERR("frac.csv", "1.5,1,2,3,4,5,6\n", &o, 1,
            "expected a class label (an integer >= 0), got \"1.5\"");
    CSV_ERR("biglabel.csv", "16777216,1,2,3,4,5,6\n", &o, 1,
            "expected a class label below 16777216");
    CSV_ERR("nan.csv", "0,1,2,3,4,5,6\n0,1,2,3,4,5,NaN\n", &o, 2,
            "field 7 (timestep 3 of 3, feature 2 of 2): expected a finite number, got \"NaN\"");
    CSV_ERR("inf.csv", "0,1,-inf,3,4,5,6\n", &o, 1, "expected a finite number, got \"-inf\"");
    CSV_ERR("infinity.csv", "0,1,2,3,4,5,Infinity\n", &o, 1, "expected a finite number");
    CSV_ERR("huge.csv", "0,1,2,3,4,5,1e39\n", &o, 1, "\"1e39\" is out of range");
    CSV_ERR("huge2.csv", "0,1,2,3,4,5,1e999\n", &o, 1, "\"1e999\" is out of range");
    CSV_ERR("regnan.csv", "nan,1,2,3,4,5,6\n", &reg, 1,
            "field 1 (the target value): expected a finite number, got \"nan\"");
    CSV_ERR("regtext.csv", "0.5,1,2,3,4,5,6\nx,1,2,3,4,5,6\n", &reg, 2,
            "field 1 (the target value): expected a number, got \"x\"");
    CSV_ERR("binary.csv", "0,1,2\0,3,4,5,6\n", &o, 1, "expected a number, got \"2\\x00\"");
    CSV_ERR("semicolon.csv", "0;1;2;3;4;5;6\n", &o, 1, "expected 7 comma-separated fields");
    /* no samples: there is no line to name, the file and the reason */
    CSV_ERR("empty.csv", "", &o, 0, "no samples: the file is empty; expected one line per sample");
    CSV_ERR("blank.csv", "\n  \n\r\n", &o, 0, "only blank lines");
    nn_csv_seq_opts hdr = {.timesteps = 3, .features = 2, .header = true};
    CSV_ERR("onlyheader.csv", "label,a,b,c,d,e,f\n", &hdr, 0, "only the header line");

    nn_dataset d;
    nn_error err = {0};
    assert_int_equal(nn_csv_seq_load(tpath("missing.csv"), &o, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "missing.csv': cannot open: No such file");
    assert_int_equal(nn_csv_seq_load(tmpdir, &o, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "is a directory");
    nn_csv_seq_opts bad = {.timesteps = 0, .features = 1};
    assert_int_equal(nn_csv_seq_load(tpath("short.csv"), &bad, &d, &err), NN_ERR_USAGE);
    /* a gzip stream cut short */
    char big[4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "0123456789,\n"[(i * 7919u + i / 13) % 12];
    write_file("cut.csv.gz", big, sizeof big, true);
    struct stat sb;
    assert_int_equal(stat(tpath("cut.csv.gz"), &sb), 0);
    assert_int_equal(truncate(tpath("cut.csv.gz"), sb.st_size / 2), 0);
    assert_int_equal(nn_csv_seq_load(tpath("cut.csv.gz"), &o, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "cut.csv.gz");
}

/* ---------- tokens ---------- */

/* label, then 0, 2, 4 and 6 tokens; separators: spaces, tabs, commas */
static const char TOKENS[] = "0\n"
                             "1 5 7\n"
                             "2,1, 2 ,3,4\r\n"
                             "1\t10 11,12 , 13 14 15\n";

static void load_tokens(const nn_tokens_opts *o, nn_dataset *d)
{
    const char *p = write_text("t.txt", TOKENS);
    nn_error err = {0};
    if (nn_tokens_load(p, o, d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(d->n, 4);
    assert_int_equal(d->ndim, 1);
    assert_int_equal(d->shape[0], o->maxlen);
    assert_int_equal(d->sample_size, (size_t)o->maxlen);
    assert_null(d->u8);
    assert_true(d->scale == 1.0f);
    assert_int_equal(d->labels[0], 0);
    assert_int_equal(d->labels[1], 1);
    assert_int_equal(d->labels[2], 2);
    assert_int_equal(d->labels[3], 1);
    assert_int_equal(d->n_classes, 3);
}

static void test_tokens_padding_truncating(void **state)
{
    (void)state;
    nn_dataset d;
    /* pad_sequences(seqs, maxlen=4) -- padding="pre", truncating="pre" */
    nn_tokens_opts o = {.maxlen = 4};
    load_tokens(&o, &d);
    static const float pre_pre[16] = {0, 0,  0,  0, /* [] */
                                      0, 0,  5,  7, /* [5 7] */
                                      1, 2,  3,  4, /* exactly 4 */
                                      12, 13, 14, 15 /* the last 4 of 10..15 */};
    assert_floats(d.f32, pre_pre, 16);
    nn_dataset_free(&d);
    /* padding="post", truncating="pre" */
    o = (nn_tokens_opts){.maxlen = 4, .pad_post = true};
    load_tokens(&o, &d);
    static const float post_pre[16] = {0, 0, 0, 0, 5, 7, 0, 0, 1, 2, 3, 4, 12, 13, 14, 15};
    assert_floats(d.f32, post_pre, 16);
    nn_dataset_free(&d);
    /* padding="pre", truncating="post": the first 4 of 10..15 */
    o = (nn_tokens_opts){.maxlen = 4, .trunc_post = true};
    load_tokens(&o, &d);
    static const float pre_post[16] = {0, 0, 0, 0, 0, 0, 5, 7, 1, 2, 3, 4, 10, 11, 12, 13};
    assert_floats(d.f32, pre_post, 16);
    nn_dataset_free(&d);
    /* padding="post", truncating="post", value=-1 */
    o = (nn_tokens_opts){.maxlen = 4, .pad_post = true, .trunc_post = true, .value = -1};
    load_tokens(&o, &d);
    static const float post_post[16] = {-1, -1, -1, -1, 5, 7, -1, -1,
                                        1,  2,  3,  4,  10, 11, 12, 13};
    assert_floats(d.f32, post_post, 16);
    nn_dataset_free(&d);
    /* maxlen 1 keeps one token; maxlen 8 pads everything, pad value 9 */
    o = (nn_tokens_opts){.maxlen = 1};
    load_tokens(&o, &d);
    static const float one[4] = {0, 7, 4, 15};
    assert_floats(d.f32, one, 4);
    nn_dataset_free(&d);
    o = (nn_tokens_opts){.maxlen = 8, .value = 9};
    load_tokens(&o, &d);
    static const float eight[32] = {9, 9, 9, 9, 9, 9, 9,  9,  9,  9,  9,  9,  9,  9,  5,  7,
                                    9, 9, 9, 9, 1, 2, 3,  4,  9,  9,  10, 11, 12, 13, 14, 15};
    assert_floats(d.f32, eight, 32);
    nn_dataset_free(&d);

    /* the largest id that float32 keeps exact, and a gzipped file */
    const char big[] = "1 16777215 0\n";
    const char *p = write_file("big.txt.gz", big, sizeof big - 1, true);
    o = (nn_tokens_opts){.maxlen = 2};
    nn_error err = {0};
    if (nn_tokens_load(p, &o, &d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_true(d.f32[0] == 16777215.0f && d.f32[1] == 0.0f);
    nn_dataset_free(&d);
}

static void expect_tokens_error(const char *name, const char *text, int line, const char *what)
{
    const char *p = write_text(name, text);
    nn_tokens_opts o = {.maxlen = 3};
    nn_dataset d;
    nn_error err = {0};
    if (nn_tokens_load(p, &o, &d, &err) != NN_ERR_RUNTIME)
        fail_msg("%s: expected an error containing \"%s\"", name, what);
    if (line > 0)
        assert_msg_contains(err, at(name, line));
    else
        assert_msg_contains(err, name);
    assert_msg_contains(err, what);
    assert_null(d.f32);
    assert_null(d.labels);
}

static void test_tokens_errors(void **state)
{
    (void)state;
    expect_tokens_error("negid.txt", "0 1 2\n1 4 -3 2\n", 2,
                        "field 3 (token 2): expected a token id (an integer >= 0), got \"-3\"");
    expect_tokens_error("bigid.txt", "0 1 2\n\n1 16777216\n", 3,
                        "field 2 (token 1): expected a token id below 16777216");
    expect_tokens_error("fracid.txt", "0 1 2.5\n", 1,
                        "field 3 (token 2): expected a token id (an integer >= 0), got \"2.5\"");
    expect_tokens_error("word.txt", "0 the cat\n", 1, "expected a token id (an integer >= 0), got \"the\"");
    expect_tokens_error("nanid.txt", "0 1 nan\n", 1, "expected a finite number, got \"nan\"");
    expect_tokens_error("neglabel.txt", "0 1\n-1 2 3\n", 2,
                        "field 1 (the label): expected a class label (an integer >= 0), got \"-1\"");
    expect_tokens_error("fraclabel.txt", "0.5 1 2\n", 1, "expected a class label");
    expect_tokens_error("commas.txt", "0, 1,, 2\n", 1,
                        "field 3 (token 2): expected a token id (an integer >= 0), got an empty field");
    expect_tokens_error("trailing.txt", "0, 1, 2,\n", 1,
                        "field 4 (token 3): expected a token id (an integer >= 0), got an empty field");
    expect_tokens_error("leading.txt", ",0 1 2\n", 1, "field 1 (the label): expected a class label");
    expect_tokens_error("empty.txt", "", 0, "no samples: the file is empty");
    expect_tokens_error("blank.txt", "\n\n", 0, "only blank lines");
    nn_tokens_opts o = {.maxlen = 0};
    nn_dataset d;
    nn_error err = {0};
    assert_int_equal(nn_tokens_load(tpath("negid.txt"), &o, &d, &err), NN_ERR_USAGE);
    assert_int_equal(nn_tokens_load(tpath("none.txt"), &(nn_tokens_opts){.maxlen = 2}, &d, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "none.txt': cannot open");
}

/* ---------- spec keys and nn_data_load ---------- */

static void test_spec_keys(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    /* defaults */
    assert_int_equal(spec_data("data = { train = { format = \"csv\"; path = \"a.csv\"; "
                               "timesteps = 5; };\n test = { format = \"tokens\"; path = "
                               "\"t.txt\"; maxlen = 80; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(c.train.format, NN_FORMAT_CSV);
    assert_string_equal(c.train.path, "a.csv");
    assert_int_equal(c.train.csv.timesteps, 5);
    assert_int_equal(c.train.csv.features, 1);
    assert_false(c.train.csv.header);
    assert_false(c.train.csv.regression);
    assert_int_equal(c.test.format, NN_FORMAT_TOKENS);
    assert_int_equal(c.test.tokens.maxlen, 80);
    assert_false(c.test.tokens.pad_post);
    assert_false(c.test.tokens.trunc_post);
    assert_int_equal(c.test.tokens.value, 0);
    assert_int_equal(nn_data_footprint(&c.train), 0);
    assert_int_equal(nn_data_footprint(&c.test), 0);
    /* every key */
    assert_int_equal(spec_data("data = { train = { format = \"csv\"; path = \"a.csv\"; "
                               "timesteps = 5; features = 3; header = true; label = \"value\"; "
                               "};\n validation = { format = \"tokens\"; path = \"t.txt\"; "
                               "maxlen = 8; padding = \"post\"; truncating = \"post\"; value = "
                               "-2; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(c.train.csv.features, 3);
    assert_true(c.train.csv.header);
    assert_true(c.train.csv.regression);
    assert_true(c.validation.tokens.pad_post);
    assert_true(c.validation.tokens.trunc_post);
    assert_int_equal(c.validation.tokens.value, -2);

    struct {
        const char *spec, *msg;
    } bad[] = {
        {"data = { train = { format = \"csv\";\n path = \"a\"; }; };",
         "d.cfg:1: data.train: missing required key \"timesteps\""},
        {"data = { train = { format = \"csv\"; path = \"a\";\n timestep = 3; }; };",
         "d.cfg:2: data.train: unknown key \"timestep\"; did you mean \"timesteps\"? (a required "
         "key)"},
        {"data = { train = { format = \"csv\"; timesteps = 3; }; };",
         "missing required key \"path\""},
        {"data = { train = { format = \"csv\"; path = \"\"; timesteps = 3; }; };",
         "data.train.path: expected a file"},
        {"data = { train = { format = \"csv\"; path = \"a\";\n timesteps = 0; }; };",
         "d.cfg:2: data.train.timesteps: expected an integer between 1 and 16777216"},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 3;\n features = 0; }; "
         "};",
         "d.cfg:2: data.train.features"},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 100000;\n features = "
         "100000; }; };",
         "d.cfg:2: data.train.features: timesteps 100000 x features 100000"},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 3;\n label = "
         "\"values\"; }; };",
         "did you mean \"value\""},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 3;\n header = 1; }; };",
         "d.cfg:2: data.train.header"},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 3;\n maxlen = 3; }; };",
         "d.cfg:2: data.train: unknown key \"maxlen\""},
        {"data = { train = { format = \"tokens\"; path = \"a\";\n maxlen = 3; padding = "
         "\"postt\"; }; };",
         "did you mean \"post\""},
        {"data = { train = { format = \"tokens\"; path = \"a\"; maxlen = 3;\n truncating = "
         "\"end\"; }; };",
         "d.cfg:2: data.train.truncating"},
        {"data = { train = { format = \"tokens\"; path = \"a\"; maxlen = 3;\n value = 16777216; "
         "}; };",
         "d.cfg:2: data.train.value"},
        {"data = { train = { format = \"tokens\"; path = \"a\";\n max_len = 3; }; };",
         "d.cfg:2: data.train: unknown key \"max_len\"; did you mean \"maxlen\"? (a required "
         "key)"},
        {"data = { train = { format = \"tokens\"; path = \"a\"; maxlen = 3;\n timesteps = 3; }; "
         "};",
         "d.cfg:2: data.train: unknown key \"timesteps\""},
        {"data = { train = { format = \"tokns\"; path = \"a\"; maxlen = 3; }; };",
         "did you mean \"tokens\""},
        {"data = { train = { format = \"csv\"; path = \"a\"; timesteps = 3; };\n augment = { "
         "horizontal_flip = true; }; };",
         "d.cfg:2: data.augment: augmentation transforms images, but data.train is format "
         "\"csv\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (spec_data(bad[i].spec, &c, &err) != NN_ERR_USAGE)
            fail_msg("spec %zu: no usage error (expected \"%s\")", i, bad[i].msg);
        assert_msg_contains(err, bad[i].msg);
    }
}

static void test_data_load(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    char spec[2048];
    write_text("l.csv", "1,2,4\n0,6,8\n");
    write_text("l.txt", "1 3 4\n0 250\n");
    snprintf(spec, sizeof spec,
             "data = {\n train = { format = \"csv\"; path = \"%s\"; timesteps = 2; };\n"
             " test = { format = \"tokens\"; path = \"%s\"; maxlen = 3; };\n scale = 2.0; };",
             tpath("l.csv"), tpath("l.txt"));
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    nn_dataset d;
    /* csv: scaled when gathered */
    if (nn_data_load(&c.train, c.scale, &d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_true(d.scale == 2.0f);
    uint32_t idx[2] = {1, 0};
    float x[6], y[6];
    nn_dataset_gather_x(&d, idx, 2, x);
    static const float wx[4] = {3, 4, 1, 2};
    assert_floats(x, wx, 4);
    nn_dataset_gather_y(&d, idx, 2, d.n_classes, y);
    static const float wy[4] = {1, 0, 0, 1};
    assert_floats(y, wy, 4);
    nn_dataset_free(&d);
    /* tokens: data.scale is ignored */
    if (nn_data_load(&c.test, c.scale, &d, &err) != NN_OK)
        fail_msg("%s", err.msg);
    assert_true(d.scale == 1.0f);
    nn_dataset_gather_x(&d, idx, 2, x);
    static const float wt[6] = {0, 0, 250, 0, 3, 4};
    assert_floats(x, wt, 6);
    nn_dataset_free(&d);

    /* load errors carry the spec's location and the file's line */
    write_text("bad.csv", "1,2,4\n0,6\n");
    snprintf(spec, sizeof spec,
             "data = {\n train = { format = \"csv\"; path = \"%s\"; timesteps = 2; }; };",
             tpath("bad.csv"));
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:2: data.train: ");
    assert_msg_contains(err, at("bad.csv", 2));
    assert_msg_contains(err, "expected 3 comma-separated fields");
    /* a missing file (an absolute path: not looked up in the data folders) */
    snprintf(spec, sizeof spec,
             "data = {\n train = { format = \"tokens\";\n path = \"%s\"; maxlen = 2; }; };",
             tpath("nope.txt"));
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:2: data.train: ");
    assert_msg_contains(err, "nope.txt': cannot open: No such file");
    /* a relative one that is nowhere names the path key */
    setenv("NNCTL_DATA", tmpdir, 1);
    assert_int_equal(spec_data("data = {\n train = { format = \"csv\";\n path = "
                               "\"not-here.csv\"; timesteps = 2; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &d, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:3: data.train.path: data file 'not-here.csv' not found");
    /* and one that is there loads */
    assert_int_equal(spec_data("data = {\n train = { format = \"csv\";\n path = "
                               "\"l.csv\"; timesteps = 2; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &d, &err), NN_OK);
    assert_int_equal(d.n, 2);
    nn_dataset_free(&d);
    unsetenv("NNCTL_DATA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_values_and_shape),
        cmocka_unit_test(test_csv_header_regression_gzip),
        cmocka_unit_test(test_csv_subset_regression),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_tokens_padding_truncating),
        cmocka_unit_test(test_tokens_errors),
        cmocka_unit_test(test_spec_keys),
        cmocka_unit_test(test_data_load),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

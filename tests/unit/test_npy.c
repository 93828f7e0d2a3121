/* Tests for NumPy .npy files (src/data/npy.c) and format "npy" data
 * (src/data/data_spec.c). Files are built byte by byte here from the format
 * description (magic, version, little-endian header length, the dict, the
 * elements), so the reader is checked against the format and not against
 * its own writer; the writer is checked against the bytes np.save writes
 * (numpy 1.24: the dict, 21 - digits spare spaces, padding to 64). */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_spec.h"
#include "data/npy.h"

#include "unit/tmpfiles.h"
#include "unit/spec_data.h"


static const char *write_bytes(const char *name, const void *data, size_t len)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* An .npy file by hand: version major.0, the dict (padded with spaces and
 * '\n' to 64 bytes as numpy does; pad = false leaves it bare), the data. */
static const char *npy_file(const char *name, int major, const char *dict, bool pad,
                            const void *data, size_t len)
{
    static unsigned char buf[1 << 16];
    size_t pre = major == 1 ? 10 : 12, n = strlen(dict), hlen = n + 1;
    if (pad)
        hlen += 64 - (pre + n + 1) % 64;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1)
        buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, n);
    memset(buf + pre + n, ' ', hlen - n - 1);
    buf[pre + hlen - 1] = '\n';
    assert_true(pre + hlen + len <= sizeof buf);
    if (len)
        memcpy(buf + pre + hlen, data, len);
    return write_bytes(name, buf, pre + hlen + len);
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void f32_bytes(unsigned char *p, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        le32(p + 4 * i, b);
    }
}

static void f64_bytes(unsigned char *p, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], 8);
        le64(p + 8 * i, b);
    }
}

/* Reads path whole as float32 (expecting success). */
static void read_all_f32(const char *path, nn_npy_info *info, float *out, size_t cap)
{
    nn_npy_reader r;
    nn_error err = {0};
    if (nn_npy_open(path, &r, &err))
        fail_msg("%s", err.msg);
    assert_true(r.info.count <= cap);
    if (nn_npy_read_f32(&r, out, r.info.count, &err))
        fail_msg("%s", err.msg);
    *info = r.info;
    nn_npy_close(&r);
}

/* An error from opening and reading everything as float32. */
static void expect_error(const char *path, const char *what)
{
    nn_npy_reader r;
    nn_error err = {0};
    nn_status st = nn_npy_open(path, &r, &err);
    if (!st) {
        float *buf = malloc((r.info.count ? r.info.count : 1) * sizeof *buf);
        assert_non_null(buf);
        st = nn_npy_read_f32(&r, buf, r.info.count, &err);
        free(buf);
        nn_npy_close(&r);
    }
    if (st == NN_OK)
        fail_msg("%s: no error (expected \"%s\")", path, what);
    assert_int_equal(st, NN_ERR_RUNTIME);
    char quoted[600];
    snprintf(quoted, sizeof quoted, "'%s'", path);
    assert_msg_contains(err, quoted);
    assert_msg_contains(err, what);
}

/* ---------- reading ---------- */

static void test_dtypes(void **state)
{
    (void)state;
    unsigned char d[64];
    float got[8];
    nn_npy_info info;

    static const float f4[6] = {1.5f, -2.0f, 0.0f, 3.25e-3f, 1e30f, -7.0f};
    f32_bytes(d, f4, 6);
    read_all_f32(npy_file("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                          true, d, 24),
                 &info, got, 8);
    assert_int_equal(info.dtype, NN_NPY_F4);
    assert_int_equal(info.ndim, 2);
    assert_int_equal(info.shape[0], 2);
    assert_int_equal(info.shape[1], 3);
    assert_int_equal(info.count, 6);
    assert_int_equal(info.offset, 128); /* 10 + 60-byte dict: padded to 128 */
    assert_memory_equal(got, f4, sizeof f4);

    static const double f8[3] = {0.1, -1e-40, 123456789.0}; /* rounded to float32 */
    f64_bytes(d, f8, 3);
    read_all_f32(npy_file("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                          true, d, 24),
                 &info, got, 8);
    assert_int_equal(info.dtype, NN_NPY_F8);
    for (int i = 0; i < 3; i++)
        assert_true(got[i] == (float)f8[i]);

    static const unsigned char u1[4] = {0, 1, 128, 255};
    read_all_f32(npy_file("u1.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2), }",
                          true, u1, 4),
                 &info, got, 8);
    assert_int_equal(info.dtype, NN_NPY_U1);
    static const float wu[4] = {0, 1, 128, 255};
    assert_memory_equal(got, wu, sizeof wu);
    /* and as raw bytes */
    nn_npy_reader r;
    nn_error err = {0};
    uint8_t raw[4];
    assert_int_equal(nn_npy_open(tpath("u1.npy"), &r, &err), NN_OK);
    assert_int_equal(nn_npy_read_u8(&r, raw, 4, &err), NN_OK);
    assert_memory_equal(raw, u1, 4);
    nn_npy_close(&r);

    int32_t i4[3] = {-16777215, 0, 16777215};
    for (int i = 0; i < 3; i++)
        le32(d + 4 * i, (uint32_t)i4[i]);
    read_all_f32(npy_file("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                          true, d, 12),
                 &info, got, 8);
    assert_int_equal(info.dtype, NN_NPY_I4);
    assert_true(got[0] == -16777215.0f && got[1] == 0.0f && got[2] == 16777215.0f);

    int64_t i8[2] = {7, -3};
    for (int i = 0; i < 2; i++)
        le64(d + 8 * i, (uint64_t)i8[i]);
    read_all_f32(npy_file("i8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 2), }",
                          true, d, 16),
                 &info, got, 8);
    assert_int_equal(info.dtype, NN_NPY_I8);
    assert_true(got[0] == 7.0f && got[1] == -3.0f);

    /* labels from each integer dtype */
    int32_t lab[4];
    assert_int_equal(nn_npy_open(tpath("u1.npy"), &r, &err), NN_OK);
    assert_int_equal(nn_npy_read_labels(&r, lab, 4, &err), NN_OK);
    assert_int_equal(lab[3], 255);
    nn_npy_close(&r);
    le64(d, 16777215);
    assert_int_equal(nn_npy_open(npy_file("lab8.npy", 1,
                                          "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                                          true, d, 8),
                                 &r, &err),
                     NN_OK);
    assert_int_equal(nn_npy_read_labels(&r, lab, 1, &err), NN_OK);
    assert_int_equal(lab[0], 16777215);
    nn_npy_close(&r);
}

static void test_header_forms(void **state)
{
    (void)state;
    unsigned char d[24];
    static const float v[6] = {1, 2, 3, 4, 5, 6};
    f32_bytes(d, v, 6);
    float got[6];
    nn_npy_info info;
    /* versions 2.0 and 3.0: a 4-byte header length */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    read_all_f32(npy_file("v2.npy", 2, dict, true, d, 24), &info, got, 6);
    assert_int_equal(info.offset, 128); /* 10 + 60-byte dict: padded to 128 */
    assert_memory_equal(got, v, sizeof v);
    read_all_f32(npy_file("v3.npy", 3, dict, false, d, 24), &info, got, 6);
    assert_int_equal(info.offset, 12 + strlen(dict) + 1);
    assert_memory_equal(got, v, sizeof v);
    /* keys in another order, double quotes, no trailing comma, no padding,
     * Python 2 longs, spaces inside the tuple */
    read_all_f32(npy_file("forms.npy", 1,
                          "{\"shape\": ( 3L , 2L ), \"fortran_order\": False, \"descr\": \"<f4\"}",
                          false, d, 24),
                 &info, got, 6);
    assert_int_equal(info.shape[0], 3);
    assert_int_equal(info.shape[1], 2);
    /* a scalar: shape () holds one element */
    read_all_f32(npy_file("scalar.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                          true, d, 4),
                 &info, got, 6);
    assert_int_equal(info.ndim, 0);
    assert_int_equal(info.count, 1);
    assert_true(got[0] == 1.0f);
    /* an empty array */
    nn_error err = {0};
    assert_int_equal(nn_npy_stat(npy_file("empty.npy", 1,
                                          "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }",
                                          true, NULL, 0),
                                 &info, &err),
                     NN_OK);
    assert_int_equal(info.count, 0);
    /* read in pieces: the reader keeps its place */
    nn_npy_reader r;
    assert_int_equal(nn_npy_open(tpath("v2.npy"), &r, &err), NN_OK);
    assert_int_equal(nn_npy_read_f32(&r, got, 4, &err), NN_OK);
    assert_int_equal(nn_npy_read_f32(&r, got + 4, 2, &err), NN_OK);
    assert_memory_equal(got, v, sizeof v);
    assert_int_equal(nn_npy_read_f32(&r, got, 1, &err), NN_ERR_RUNTIME);
    nn_npy_close(&r);
}

static void test_errors(void **state)
{
    (void)state;
    unsigned char d[64] = {0};
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";

    expect_error(tpath("missing.npy"), "cannot open: No such file");
    expect_error(tmpdir, "is a directory");
    expect_error(write_bytes("short.npy", "\x93NUM", 4), "not an .npy file");
    expect_error(write_bytes("text.npy", "hello world, not numpy", 22), "not an .npy file");
    expect_error(write_bytes("zip.npy", "PK\x03\x04 and more bytes", 20),
                 "a zip archive (.npz?), not an .npy file");
    expect_error(write_bytes("pre.npy", "\x93NUMPY\x01\x00", 8), "truncated");
    static const unsigned char v4[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 4, 0, 10, 0};
    expect_error(write_bytes("v4.npy", v4, sizeof v4), "format version 4.0 is not supported");
    static const unsigned char v11[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 1, 10, 0};
    expect_error(write_bytes("v11.npy", v11, sizeof v11), "format version 1.1 is not supported");
    static const unsigned char longh[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x7f, '{'};
    expect_error(write_bytes("longh.npy", longh, sizeof longh),
                 "truncated: the header claims 32767 bytes but the file ends after 1");
    static const unsigned char hugeh[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0, 0, 0x40, '{'};
    expect_error(write_bytes("hugeh.npy", hugeh, sizeof hugeh),
                 "the header claims 1073741824 bytes");

    /* the dict */
    expect_error(npy_file("nodict.npy", 1, "['descr', '<f4']", true, d, 8),
                 "bad .npy header: expected '{' (a Python dict) at character 1");
    expect_error(npy_file("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", true, d,
                          8),
                 "bad .npy header: no 'shape' key");
    expect_error(npy_file("nodescr.npy", 1, "{'fortran_order': False, 'shape': (2,), }", true, d,
                          8),
                 "no 'descr' key");
    expect_error(npy_file("extra.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }",
                          true, d, 8),
                 "unexpected key 'x'");
    expect_error(npy_file("oddkey.npy", 1, "{'a\x01': 1, 'descr': '<f4', }", true, d, 8),
                 "unexpected key 'a\\x01'"); /* shown escaped */
    expect_error(npy_file("quote.npy", 1, "{'descr': '<f4', 'shape: (2,), }", true, d, 8),
                 "expected a quoted key or '}' at character 18 of {'descr': '<f4', 'shape: (2,), "
                 "}");
    expect_error(npy_file("unterminated.npy", 1, "{'descr': '<f4', 'fortran_order': False", true,
                          d, 8),
                 "expected ',' or '}'");
    expect_error(npy_file("after.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
                          true, d, 8),
                 "expected nothing after the dict but spaces");
    expect_error(npy_file("notuple.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }",
                          true, d, 8),
                 "expected a tuple for 'shape' ('(5,)' for one axis)");
    expect_error(npy_file("negdim.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
                          true, d, 8),
                 "expected a dimension (an integer >= 0) in 'shape'");
    expect_error(npy_file("bool.npy", 1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }",
                          true, d, 8),
                 "expected True or False for 'fortran_order'");
    expect_error(npy_file("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
                          true, d, 8),
                 "fortran_order is True (column-major data); only C order is supported");
    expect_error(npy_file("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                          true, d, 8),
                 "dtype '>f4' is big-endian; only little-endian data is supported");
    expect_error(npy_file("i2.npy", 1, "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }",
                          true, d, 4),
                 "dtype '<i2' is not supported; expected '<f4' (float32)");
    expect_error(npy_file("f2.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                          true, d, 4),
                 "dtype '<f2' is not supported");
    expect_error(npy_file("struct.npy", 1,
                          "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                          true, d, 8),
                 "a structured dtype (a list of fields) is not supported");
    expect_error(npy_file("dims9.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
                          true, d, 4),
                 "shape has more than 8 dimensions");
    expect_error(npy_file("bigdim.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                          true, d, 4),
                 "dimension over 2^62");

    /* the shape against the data: absurd, short, long */
    expect_error(npy_file("absurd.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000000000000, "
                          "4000000000000000000), }",
                          true, d, 8),
                 "truncated: shape (4000000000000000000, 4000000000000000000) of '<f4' needs more "
                 "than");
    expect_error(npy_file("big.npy", 1,
                          "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }",
                          true, d, 8),
                 "truncated: shape (100000, 100000) of '<f4' needs 40000000000 bytes of data, the "
                 "file holds 8");
    expect_error(npy_file("trunc.npy", 1, ok, true, d, 7),
                 "truncated: shape (2,) of '<f4' needs 8 bytes of data, the file holds 7");
    expect_error(npy_file("lies.npy", 1, ok, true, d, 12),
                 "the file holds 12 bytes of data but shape (2,) of '<f4' needs 8: the header does "
                 "not match the data");

    /* values */
    float bad4[2] = {1.0f, NAN};
    f32_bytes(d, bad4, 2);
    expect_error(npy_file("nan.npy", 1, ok, true, d, 8),
                 "element [1] is nan; NaN and infinity are not allowed");
    double bad8[4] = {0, 0, 0, INFINITY};
    f64_bytes(d, bad8, 4);
    expect_error(npy_file("inf.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                          true, d, 32),
                 "element [1, 1] is inf; NaN and infinity are not allowed");
    bad8[3] = 1e300;
    f64_bytes(d, bad8, 4);
    expect_error(npy_file("range.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                          true, d, 32),
                 "element [1, 1] is 1e+300; beyond float32's range");
    le64(d, 0);
    le64(d + 8, 16777216);
    expect_error(npy_file("bigint.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                          true, d, 16),
                 "element [1] is 16777216; integers must lie strictly between -2^24 and 2^24");
    le32(d, (uint32_t)-16777216);
    expect_error(npy_file("negint.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }",
                          true, d, 4),
                 "element [0] is -16777216");

    /* labels: integers in [0, 2^24) */
    nn_npy_reader r;
    nn_error err = {0};
    int32_t lab[2];
    le32(d, 3);
    le32(d + 4, (uint32_t)-1);
    assert_int_equal(nn_npy_open(npy_file("neglab.npy", 1,
                                          "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                                          true, d, 8),
                                 &r, &err),
                     NN_OK);
    assert_int_equal(nn_npy_read_labels(&r, lab, 2, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "neglab.npy': element [1] is -1; expected a class label (an integer >= 0)");
    nn_npy_close(&r);
    le64(d, 1ull << 40);
    assert_int_equal(nn_npy_open(npy_file("biglab.npy", 1,
                                          "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }",
                                          true, d, 8),
                                 &r, &err),
                     NN_OK);
    assert_int_equal(nn_npy_read_labels(&r, lab, 1, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "biglab.npy': element [0] is 1099511627776; expected a class label below 2^24");
    nn_npy_close(&r);
    assert_int_equal(nn_npy_open(npy_file("flab.npy", 1, ok, true, d, 8), &r, &err), NN_OK);
    assert_int_equal(nn_npy_read_labels(&r, lab, 2, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "flab.npy': dtype '<f4', expected integer class labels");
    uint8_t raw[8];
    assert_int_equal(nn_npy_read_u8(&r, raw, 2, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "flab.npy': dtype '<f4', expected '|u1'");
    nn_npy_close(&r);
}

/* ---------- writing ---------- */

/* The header np.save writes for a float32 array of this shape text. */
static void numpy_header(const char *shape, size_t first_digits, unsigned char *out, size_t *len)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     shape);
    if (first_digits)
        for (size_t i = first_digits; i < 21; i++)
            dict[n++] = ' ';
    size_t hlen = (size_t)n + 1, pad = 64 - (10 + hlen) % 64;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (unsigned char)(hlen + pad);
    out[9] = (unsigned char)((hlen + pad) >> 8);
    memcpy(out + 10, dict, (size_t)n);
    memset(out + 10 + n, ' ', pad);
    out[10 + hlen + pad - 1] = '\n';
    *len = 10 + hlen + pad;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static int count_temps(void)
{
    DIR *dir = opendir(tmpdir);
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(dir);
    return n;
}

static void test_write_round_trip(void **state)
{
    (void)state;
    nn_error err = {0};
    static const float v[6] = {0.1f, -2.5f, 3e-38f, 1e38f, 0.0f, -0.0f};
    struct {
        int ndim;
        size_t shape[3];
        const char *text;
        size_t digits;
    } cases[] = {{2, {2, 3}, "(2, 3)", 1}, {1, {6}, "(6,)", 1}, {0, {0}, "()", 0},
                 {3, {1, 2, 3}, "(1, 2, 3)", 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *p = tpath("out.npy");
        size_t count = cases[c].ndim ? 6 : 1;
        assert_int_equal(nn_npy_write_f32(p, v, cases[c].ndim, cases[c].shape, &err), NN_OK);
        unsigned char want[256];
        size_t wlen, len;
        numpy_header(cases[c].text, cases[c].digits, want, &wlen);
        assert_int_equal(wlen % 64, 0);
        unsigned char *got = slurp(p, &len);
        assert_int_equal(len, wlen + 4 * count);
        assert_memory_equal(got, want, wlen);
        unsigned char data[24];
        f32_bytes(data, v, count);
        assert_memory_equal(got + wlen, data, 4 * count);
        /* and read back */
        float back[6];
        nn_npy_info info;
        read_all_f32(p, &info, back, 6);
        assert_int_equal(info.ndim, cases[c].ndim);
        assert_int_equal(info.count, count);
        assert_memory_equal(back, v, 4 * count);
    }
    assert_int_equal(count_temps(), 0);

    /* in pieces; nothing at the path until commit */
    nn_npy_writer w;
    size_t shape[2] = {3, 2};
    const char *p = tpath("pieces.npy");
    assert_int_equal(nn_npy_writer_open(&w, p, 2, shape, &err), NN_OK);
    assert_int_equal(nn_npy_writer_put(&w, v, 4, &err), NN_OK);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(count_temps(), 1);
    assert_int_equal(nn_npy_writer_put(&w, v + 4, 2, &err), NN_OK);
    assert_int_equal(nn_npy_writer_put(&w, v, 1, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "pieces.npy': 1 more values than the shape holds");
    assert_int_equal(nn_npy_writer_commit(&w, &err), NN_OK);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(count_temps(), 0);
    /* an unfinished file is never committed, and leaves nothing behind */
    const char *q = tpath("short-out.npy");
    assert_int_equal(nn_npy_writer_open(&w, q, 2, shape, &err), NN_OK);
    assert_int_equal(nn_npy_writer_put(&w, v, 5, &err), NN_OK);
    assert_int_equal(nn_npy_writer_commit(&w, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "short-out.npy': 1 values missing");
    assert_int_equal(access(q, F_OK), -1);
    assert_int_equal(nn_npy_writer_open(&w, q, 2, shape, &err), NN_OK);
    nn_npy_writer_abort(&w);
    assert_int_equal(access(q, F_OK), -1);
    assert_int_equal(count_temps(), 0);
    /* a folder that is not there */
    assert_int_equal(nn_npy_write_f32(tpath("no/such/dir/x.npy"), v, 1, shape, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "cannot write '");
    assert_msg_contains(err, "no/such/dir/x.npy': No such file or directory");
}

/* ---------- format "npy" ---------- */

static void test_dataset(void **state)
{
    (void)state;
    nn_error err = {0};
    nn_dataset ds;
    unsigned char d[64];
    /* uint8 images (3, 2, 2) stay uint8; int64 labels */
    static const unsigned char px[12] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110};
    npy_file("x8.npy", 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3, 2, 2), }", true,
             px, 12);
    for (int i = 0; i < 3; i++)
        le64(d + 8 * i, (uint64_t)(i == 1 ? 4 : 0));
    npy_file("y8.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", true, d,
             24);
    if (nn_npy_load_dataset(tpath("x8.npy"), tpath("y8.npy"), &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.ndim, 2);
    assert_int_equal(ds.shape[0], 2);
    assert_int_equal(ds.shape[1], 2);
    assert_int_equal(ds.sample_size, 4);
    assert_non_null(ds.u8);
    assert_null(ds.f32);
    assert_memory_equal(ds.u8, px, 12);
    assert_int_equal(ds.labels[1], 4);
    assert_int_equal(ds.n_classes, 5);
    assert_null(ds.targets);
    nn_dataset_free(&ds);

    /* float64 samples of one value each (N,), float (N, 1) targets */
    static const double xs[2] = {0.5, -1.5};
    f64_bytes(d, xs, 2);
    npy_file("x1.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", true, d, 16);
    static const float ys[2] = {3.0f, -4.0f};
    f32_bytes(d, ys, 2);
    npy_file("yr.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }", true, d,
             8);
    if (nn_npy_load_dataset(tpath("x1.npy"), tpath("yr.npy"), &ds, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.ndim, 1);
    assert_int_equal(ds.shape[0], 1);
    assert_true(ds.f32[1] == -1.5f);
    assert_null(ds.labels);
    assert_int_equal(ds.target_size, 1);
    assert_int_equal(ds.n_classes, 0);
    assert_true(ds.targets[1] == -4.0f);
    nn_dataset_free(&ds);

    /* mismatches, each naming the file */
    struct {
        const char *x, *y, *msg;
    } bad[] = {
        {"x8.npy", "yr.npy", "yr.npy': shape (2, 1), but '"},
        {"x8.npy", "y8.npy", NULL},
        {"x8.npy", "x8.npy", "x8.npy': shape (3, 2, 2): integer class labels take shape (3,)"},
        {"x1.npy", "x1.npy", NULL},
        {"empty.npy", "y8.npy", "empty.npy': shape (0, 5) holds no data"},
        {"scalar.npy", "y8.npy", "scalar.npy': shape (): expected samples along the first axis"},
        {"x8.npy", "nope.npy", "nope.npy': cannot open"},
        {"x8.npy", "neglab.npy", "shape (2,), but '"},
    };
    npy_file("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }", true,
             NULL, 0);
    npy_file("scalar.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", true, d, 4);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_status st = nn_npy_load_dataset(tpath(bad[i].x), tpath(bad[i].y), &ds, &err);
        if (!bad[i].msg) {
            if (st)
                fail_msg("case %zu: %s", i, err.msg);
            nn_dataset_free(&ds);
            continue;
        }
        if (st != NN_ERR_RUNTIME)
            fail_msg("case %zu: no error (expected \"%s\")", i, bad[i].msg);
        assert_msg_contains(err, bad[i].msg);
    }
    /* float targets of several values a sample; and one-hot rows */
    float oh[6] = {1, 0, 0, 1, 0, 0};
    f32_bytes(d, oh, 6);
    npy_file("oh.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", true, d,
             24);
    if (nn_npy_load_dataset(tpath("x1.npy"), tpath("oh.npy"), &ds, &err))
        fail_msg("%s", err.msg);
    assert_null(ds.labels);
    assert_int_equal(ds.target_size, 3);
    assert_int_equal(ds.n_classes, 0);
    for (int i = 0; i < 6; i++)
        assert_true(ds.targets[i] == oh[i]);
    uint32_t idx[2] = {1, 0};
    float y[6];
    nn_dataset_gather_y(&ds, idx, 2, 3, y); /* rows, in the order asked */
    for (int i = 0; i < 3; i++)
        assert_true(y[i] == oh[3 + i] && y[3 + i] == oh[i]);
    nn_dataset_free(&ds);
    /* integer rows are not labels; floats of 3 axes are not targets */
    int64_t li[6] = {0};
    npy_file("li.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }", true,
             (const uint8_t *)li, 48);
    assert_int_equal(nn_npy_load_dataset(tpath("x1.npy"), tpath("li.npy"), &ds, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "li.npy': shape (2, 3): integer class labels take shape (2,) (or "
                             "(2, 1))");
    npy_file("oh3.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 1), }", true,
             d, 24);
    assert_int_equal(nn_npy_load_dataset(tpath("x1.npy"), tpath("oh3.npy"), &ds, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "oh3.npy': shape (2, 3, 1): targets take shape (2,) (one value per "
                             "sample) or (2, K)");
    /* five axes a sample is one too many */
    npy_file("x6.npy", 1,
             "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1), }", true, d, 1);
    assert_int_equal(nn_npy_load_dataset(tpath("x6.npy"), tpath("x6.npy"), &ds, &err),
                     NN_ERR_RUNTIME);
    assert_msg_contains(err, "x6.npy': shape (1, 1, 1, 1, 1, 1): expected samples along the first "
                             "axis, then 0 to 4 axes per sample");
}

static void test_spec_and_load(void **state)
{
    (void)state;
    static nn_data_cfg c;
    nn_error err = {0};
    char spec[2048];
    snprintf(spec, sizeof spec,
             "data = {\n train = { format = \"npy\"; x = \"%s\"; y = \"%s\"; };\n"
             " test = { format = \"npy\";\n x = \"%s\"; y = \"%s\"; };\n scale = 10.0; };",
             tpath("x8.npy"), tpath("y8.npy"), tpath("x8.npy"), tpath("yr.npy"));
    assert_int_equal(spec_data(spec, &c, &err), NN_OK);
    assert_int_equal(c.train.format, NN_FORMAT_NPY);
    assert_string_equal(c.train.images, tpath("x8.npy"));
    assert_string_equal(c.train.labels, tpath("y8.npy"));
    /* 12 uint8 values and 3 int32 labels */
    assert_int_equal(nn_data_footprint(&c.train), 12 + 12);
    nn_dataset ds;
    if (nn_data_load(&c.train, c.scale, &ds, &err))
        fail_msg("%s", err.msg);
    assert_true(ds.scale == 10.0f);
    uint32_t idx[1] = {2};
    float x[4], y[5];
    nn_dataset_gather_x(&ds, idx, 1, x);
    static const float wx[4] = {8, 9, 10, 11};
    assert_memory_equal(x, wx, sizeof wx);
    nn_dataset_gather_y(&ds, idx, 1, ds.n_classes, y);
    static const float wy[5] = {1, 0, 0, 0, 0};
    assert_memory_equal(y, wy, sizeof wy);
    nn_dataset_free(&ds);
    /* a load error carries the spec's place and the file */
    assert_int_equal(nn_data_load(&c.test, c.scale, &ds, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:3: data.test: ");
    assert_msg_contains(err, "yr.npy': shape (2, 1), but '");
    /* a relative path that is nowhere names the key */
    setenv("NNCTL_DATA", tmpdir, 1);
    assert_int_equal(spec_data("data = {\n train = { format = \"npy\";\n x = \"x8.npy\";\n y = "
                               "\"nope.npy\"; }; };",
                               &c, &err),
                     NN_OK);
    assert_int_equal(nn_data_load(&c.train, c.scale, &ds, &err), NN_ERR_RUNTIME);
    assert_msg_contains(err, "d.cfg:4: data.train.y: data file 'nope.npy' not found");
    unsetenv("NNCTL_DATA");

    struct {
        const char *spec, *msg;
    } bad[] = {
        {"data = { train = { format = \"npy\";\n x = \"a.npy\"; }; };",
         "d.cfg:1: data.train: missing required key \"y\""},
        {"data = { train = { format = \"npy\"; y = \"a.npy\"; }; };",
         "missing required key \"x\""},
        {"data = { train = { format = \"npy\"; x = \"a.npy\"; y = \"b.npy\";\n images = \"c\"; }; "
         "};",
         "d.cfg:2: data.train: unknown key \"images\""},
        {"data = { train = { format = \"npy\"; x = \"a.npy\"; y = \"b.npy\";\n path = \"c\"; }; "
         "};",
         "d.cfg:2: data.train: unknown key \"path\""},
        {"data = { train = { format = \"npy\"; x = \"\"; y = \"b.npy\"; }; };",
         "data.train.x: expected an .npy file"},
        {"data = { train = { format = \"npy\"; x = \"a.npy\";\n y = 3; }; };",
         "d.cfg:2: data.train.y"},
        {"data = { train = { format = \"nyp\"; x = \"a.npy\"; y = \"b.npy\"; }; };",
         "did you mean \"npy\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (spec_data(bad[i].spec, &c, &err) != NN_ERR_USAGE)
            fail_msg("spec %zu: no usage error (expected \"%s\")", i, bad[i].msg);
        assert_msg_contains(err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),         cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_errors),         cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_dataset),        cmocka_unit_test(test_spec_and_load),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

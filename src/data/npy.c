/* Reading NumPy .npy files (see npy.h): the header parser and a reader
 * that converts a piece at a time. Writing: npy_write.c; format "npy"
 * datasets: npy_dataset.c. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/npy.h"

#define NPY_PREFIX 8            /* "\x93NUMPY" + major + minor */
#define NPY_CHUNK 65536         /* bytes converted at a time */
#define NPY_MAX_DIM ((size_t)1 << 62)

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

static const struct {
    const char *descr;
    nn_npy_dtype type;
    size_t size;
} dtypes[] = {
    {"<f4", NN_NPY_F4, 4}, {"<f8", NN_NPY_F8, 8}, {"|u1", NN_NPY_U1, 1},
    {"<u1", NN_NPY_U1, 1}, {">u1", NN_NPY_U1, 1}, {"<i4", NN_NPY_I4, 4},
    {"<i8", NN_NPY_I8, 8},
};

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

void nn_npy_shape_str(const size_t *shape, int ndim, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%zu", i ? ", " : "", shape[i]);
    if (o < cap)
        snprintf(buf + o, cap - o, ndim == 1 ? ",)" : ")");
}

int nn_npy_is_integer(nn_npy_dtype t) { return t == NN_NPY_U1 || t == NN_NPY_I4 || t == NN_NPY_I8; }

/* ---------- the header: a Python dict literal ---------- */

typedef struct hparse {
    const char *start, *p, *end;
} hparse;

static void skip_ws(hparse *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static bool eat(hparse *h, char c)
{
    skip_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return true;
    }
    return false;
}

/* A quoted string ('x' or "x", no escapes: numpy writes none). */
static bool quoted(hparse *h, char *out, size_t cap)
{
    skip_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return false;
    char q = *h->p;
    const char *s = h->p + 1, *e = s;
    while (e < h->end && *e != q && *e != '\\')
        e++;
    if (e >= h->end || *e != q || (size_t)(e - s) >= cap)
        return false; /* the error points at the opening quote */
    memcpy(out, s, (size_t)(e - s));
    out[e - s] = '\0';
    h->p = e + 1;
    return true;
}

static bool word(hparse *h, const char *w)
{
    skip_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) >= n && memcmp(h->p, w, n) == 0) {
        h->p += n;
        return true;
    }
    return false;
}

/* Header text for messages: printable (\xNN otherwise), trailing spaces
 * dropped, cut to about 100 characters. */
static void show_header(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
        n--;
    for (size_t i = 0; i < n && o + 8 < cap && i < 100; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (n > 100 && o + 4 < cap)
        o += (size_t)snprintf(out + o, cap - o, "...");
    out[o] = '\0';
}

static nn_status bad_header(const char *path, const hparse *h, const char *expected,
                            nn_error *err)
{
    char shown[512];
    show_header(h->start, (size_t)(h->end - h->start), shown, sizeof shown);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': bad .npy header: expected %s at character %zu of %s", path, expected,
                   (size_t)(h->p - h->start) + 1, shown);
}

static nn_status parse_descr(const char *path, const char *raw, nn_npy_info *info, nn_error *err)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(raw, dtypes[i].descr)) {
            info->dtype = dtypes[i].type;
            info->itemsize = dtypes[i].size;
            snprintf(info->descr, sizeof info->descr, "%s", raw);
            return NN_OK;
        }
    char d[128];
    show_header(raw, strlen(raw), d, sizeof d);
    if (d[0] == '>' && (!strcmp(d + 1, "f4") || !strcmp(d + 1, "f8") || !strcmp(d + 1, "i4") ||
                        !strcmp(d + 1, "i8")))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': dtype '%s' is big-endian; only little-endian data is supported "
                       "(in numpy: a.astype('<%s'))",
                       path, d, d + 1);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': dtype '%s' is not supported; expected '<f4' (float32), '<f8' "
                   "(float64), '|u1' (uint8), '<i4' (int32) or '<i8' (int64) (in numpy: "
                   "a.astype(np.float32))",
                   path, d);
}

static nn_status parse_shape(const char *path, hparse *h, nn_npy_info *info, nn_error *err)
{
    if (!eat(h, '('))
        return bad_header(path, h, "a tuple such as (2, 3) for 'shape'", err);
    info->ndim = 0;
    bool comma = true;
    while (!eat(h, ')')) {
        if (!comma)
            return bad_header(path, h, "',' or ')' in 'shape'", err);
        skip_ws(h);
        if (h->p >= h->end || *h->p < '0' || *h->p > '9')
            return bad_header(path, h, "a dimension (an integer >= 0) in 'shape'", err);
        size_t v = 0;
        while (h->p < h->end && *h->p >= '0' && *h->p <= '9') {
            v = v * 10 + (size_t)(*h->p++ - '0');
            if (v > NPY_MAX_DIM)
                return nn_fail(err, NN_ERR_RUNTIME,
                               "'%s': shape has a dimension over 2^62: not a real array", path);
        }
        if (h->p < h->end && *h->p == 'L') /* Python 2's long */
            h->p++;
        if (info->ndim == NN_NPY_MAX_DIMS)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': shape has more than %d dimensions", path,
                           NN_NPY_MAX_DIMS);
        info->shape[info->ndim++] = v;
        comma = eat(h, ',');
    }
    if (info->ndim == 1 && !comma) /* "(5)" is 5 in Python, not a tuple */
        return bad_header(path, h, "a tuple for 'shape' ('(5,)' for one axis)", err);
    return NN_OK;
}

/* The dict: exactly 'descr', 'fortran_order' and 'shape', in any order. */
static nn_status parse_dict(const char *path, const char *text, size_t len, nn_npy_info *info,
                            nn_error *err)
{
    hparse h = {text, text, text + len};
    bool seen[3] = {false, false, false};
    nn_status st;
    if (!eat(&h, '{'))
        return bad_header(path, &h, "'{' (a Python dict)", err);
    while (!eat(&h, '}')) {
        char key[32], descr[32];
        if (!quoted(&h, key, sizeof key))
            return bad_header(path, &h, "a quoted key or '}'", err);
        if (!eat(&h, ':'))
            return bad_header(path, &h, "':' after the key", err);
        if (!strcmp(key, "descr")) {
            skip_ws(&h);
            if (h.p < h.end && *h.p == '[')
                return nn_fail(err, NN_ERR_RUNTIME,
                               "'%s': a structured dtype (a list of fields) is not supported; "
                               "expected one of '<f4', '<f8', '|u1', '<i4', '<i8'",
                               path);
            if (!quoted(&h, descr, sizeof descr))
                return bad_header(path, &h, "a dtype string such as '<f4' for 'descr'", err);
            if ((st = parse_descr(path, descr, info, err)))
                return st;
            seen[0] = true;
        } else if (!strcmp(key, "fortran_order")) {
            if (word(&h, "True"))
                return nn_fail(err, NN_ERR_RUNTIME,
                               "'%s': fortran_order is True (column-major data); only C order "
                               "is supported (in numpy: np.save(path, np.ascontiguousarray(a)))",
                               path);
            if (!word(&h, "False"))
                return bad_header(path, &h, "True or False for 'fortran_order'", err);
            seen[1] = true;
        } else if (!strcmp(key, "shape")) {
            if ((st = parse_shape(path, &h, info, err)))
                return st;
            seen[2] = true;
        } else {
            char shown[sizeof key * 4];
            show_header(key, strlen(key), shown, sizeof shown);
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': bad .npy header: unexpected key '%s' (expected 'descr', "
                           "'fortran_order' and 'shape')",
                           path, shown);
        }
        if (!eat(&h, ',')) {
            if (!eat(&h, '}'))
                return bad_header(path, &h, "',' or '}'", err);
            break;
        }
    }
    skip_ws(&h);
    if (h.p != h.end)
        return bad_header(path, &h, "nothing after the dict but spaces", err);
    static const char *const names[3] = {"descr", "fortran_order", "shape"};
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': bad .npy header: no '%s' key", path,
                           names[i]);
    return NN_OK;
}

/* ---------- reading ---------- */

/* Magic, version, header and length of f (size bytes long). */
static nn_status read_header(FILE *f, const char *path, uint64_t size, nn_npy_info *info,
                             nn_error *err)
{
    memset(info, 0, sizeof *info);
    unsigned char pre[NPY_PREFIX + 4];
    size_t got = fread(pre, 1, NPY_PREFIX + 2, f);
    if (got >= 4 && memcmp(pre, "PK\x03\x04", 4) == 0)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': a zip archive (.npz?), not an .npy file; save one array with "
                       "np.save, or extract it (np.load(path)['x'])",
                       path);
    if (got < 6 || memcmp(pre, magic, 6) != 0)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': not an .npy file (it does not start with \"\\x93NUMPY\")", path);
    if (got < NPY_PREFIX + 2)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': truncated: the file ends inside the .npy preamble (%zu bytes)", path,
                       got);
    int major = pre[6], minor = pre[7];
    if ((major < 1 || major > 3) || minor != 0)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': .npy format version %d.%d is not supported (expected 1.0, 2.0 or "
                       "3.0)",
                       path, major, minor);
    uint64_t hlen, start = NPY_PREFIX + 2;
    if (major == 1) {
        hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    } else {
        if (fread(pre + NPY_PREFIX + 2, 1, 2, f) != 2)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': truncated: the file ends inside the .npy preamble", path);
        hlen = le32(pre + NPY_PREFIX);
        start += 2;
    }
    if (hlen > NN_NPY_MAX_HEADER)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': the header claims %llu bytes; an .npy header is far shorter (at "
                       "most %u accepted)",
                       path, (unsigned long long)hlen, NN_NPY_MAX_HEADER);
    if (start + hlen > size)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': truncated: the header claims %llu bytes but the file ends after "
                       "%llu",
                       path, (unsigned long long)hlen, (unsigned long long)(size - start));
    char *text = malloc(hlen + 1);
    if (!text)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory", path);
    nn_status st = NN_OK;
    if (fread(text, 1, hlen, f) != hlen)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': read error in the header: %s", path,
                     ferror(f) ? strerror(errno) : "the file ended early");
    else
        st = parse_dict(path, text, hlen, info, err);
    free(text);
    if (st)
        return st;
    info->offset = (size_t)(start + hlen);
    /* The elements must fill the rest of the file exactly: a header whose
     * shape does not match the data is refused, whichever way it lies. */
    size_t count = 1, bytes;
    bool over = false;
    for (int i = 0; i < info->ndim; i++)
        over |= __builtin_mul_overflow(count, info->shape[i], &count);
    over |= __builtin_mul_overflow(count, info->itemsize, &bytes);
    char sh[256];
    nn_npy_shape_str(info->shape, info->ndim, sh, sizeof sh);
    uint64_t have = size - info->offset;
    if (over || bytes > have)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': truncated: shape %s of '%s' needs %s%zu bytes of data, the file "
                       "holds %llu",
                       path, sh, info->descr, over ? "more than " : "", over ? SIZE_MAX : bytes,
                       (unsigned long long)have);
    if (bytes < have)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': the file holds %llu bytes of data but shape %s of '%s' needs %zu: "
                       "the header does not match the data",
                       path, (unsigned long long)have, sh, info->descr, bytes);
    info->count = count;
    return NN_OK;
}

nn_status nn_npy_open(const char *path, nn_npy_reader *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s, expected an .npy file", path,
                       S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path, strerror(errno));
    }
    nn_status st = read_header(f, path, (uint64_t)sb.st_size, &r->info, err);
    if (st) {
        fclose(f);
        return st;
    }
    r->f = f;
    return NN_OK;
}

void nn_npy_close(nn_npy_reader *r)
{
    if (r->f)
        fclose(r->f);
    r->f = NULL;
}

nn_status nn_npy_stat(const char *path, nn_npy_info *info, nn_error *err)
{
    nn_npy_reader r;
    nn_status st = nn_npy_open(path, &r, err);
    if (!st)
        *info = r.info;
    nn_npy_close(&r);
    return st;
}

/* "[3, 1]": the numpy index of flat element k. */
static void index_str(const nn_npy_info *info, size_t k, char *buf, size_t cap)
{
    size_t idx[NN_NPY_MAX_DIMS];
    for (int d = info->ndim - 1; d >= 0; d--) {
        size_t n = info->shape[d] ? info->shape[d] : 1;
        idx[d] = k % n;
        k /= n;
    }
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < info->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%zu", d ? ", " : "", idx[d]);
    if (o < cap)
        snprintf(buf + o, cap - o, "]");
}

/* Reads the next n raw elements, a chunk at a time, handing each chunk to
 * fn (which converts it); stops at fn's first error. */
typedef nn_status (*chunk_fn)(nn_npy_reader *r, const unsigned char *raw, size_t k, size_t at,
                              void *out, nn_error *err);

static nn_status read_chunks(nn_npy_reader *r, size_t n, void *out, chunk_fn fn, nn_error *err)
{
    if (!r->f || n > r->info.count - r->next)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': asked for %zu elements past the end", r->path,
                       n);
    static _Thread_local unsigned char raw[NPY_CHUNK];
    size_t per = NPY_CHUNK / r->info.itemsize;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < per ? n - done : per;
        if (fread(raw, r->info.itemsize, k, r->f) != k)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': read error: %s", r->path,
                           ferror(r->f) ? strerror(errno) : "the file became shorter");
        nn_status st = fn(r, raw, k, done, out, err);
        if (st)
            return st;
        done += k;
        r->next += k;
    }
    return NN_OK;
}

static nn_status bad_value(nn_npy_reader *r, size_t k, const char *value, const char *why,
                           nn_error *err)
{
    char idx[160];
    index_str(&r->info, r->next + k, idx, sizeof idx);
    return nn_fail(err, NN_ERR_RUNTIME, "'%s': element %s is %s; %s", r->path, idx, value, why);
}

static nn_status to_f32(nn_npy_reader *r, const unsigned char *raw, size_t k, size_t at,
                        void *out, nn_error *err)
{
    float *o = (float *)out + at;
    char v[64];
    for (size_t i = 0; i < k; i++) {
        const unsigned char *p = raw + i * r->info.itemsize;
        switch (r->info.dtype) {
        case NN_NPY_F4: {
            uint32_t b = le32(p);
            memcpy(&o[i], &b, 4);
            if (!isfinite(o[i])) {
                snprintf(v, sizeof v, "%g", (double)o[i]);
                return bad_value(r, i, v, "NaN and infinity are not allowed", err);
            }
            break;
        }
        case NN_NPY_F8: {
            uint64_t b = le64(p);
            double d;
            memcpy(&d, &b, 8);
            o[i] = (float)d;
            if (!isfinite(d) || !isfinite(o[i])) {
                snprintf(v, sizeof v, "%g", d);
                return bad_value(r, i, v,
                                 isfinite(d) ? "beyond float32's range (3.4e38)"
                                             : "NaN and infinity are not allowed",
                                 err);
            }
            break;
        }
        case NN_NPY_U1: o[i] = p[0]; break;
        case NN_NPY_I4:
        case NN_NPY_I8: {
            int64_t x = r->info.dtype == NN_NPY_I4 ? (int64_t)(int32_t)le32(p) : (int64_t)le64(p);
            if (x <= -NN_SEQ_MAX_ID || x >= NN_SEQ_MAX_ID) {
                snprintf(v, sizeof v, "%lld", (long long)x);
                return bad_value(r, i, v,
                                 "integers must lie strictly between -2^24 and 2^24 (16777216), "
                                 "where float32 holds them exactly",
                                 err);
            }
            o[i] = (float)x;
            break;
        }
        }
    }
    return NN_OK;
}

nn_status nn_npy_read_f32(nn_npy_reader *r, float *out, size_t n, nn_error *err)
{
    return read_chunks(r, n, out, to_f32, err);
}

static nn_status to_u8(nn_npy_reader *r, const unsigned char *raw, size_t k, size_t at,
                       void *out, nn_error *err)
{
    (void)r;
    (void)err;
    memcpy((uint8_t *)out + at, raw, k);
    return NN_OK;
}

nn_status nn_npy_read_u8(nn_npy_reader *r, uint8_t *out, size_t n, nn_error *err)
{
    if (r->info.dtype != NN_NPY_U1)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': dtype '%s', expected '|u1' (uint8)", r->path,
                       r->info.descr);
    return read_chunks(r, n, out, to_u8, err);
}

static nn_status to_labels(nn_npy_reader *r, const unsigned char *raw, size_t k, size_t at,
                           void *out, nn_error *err)
{
    int32_t *o = (int32_t *)out + at;
    for (size_t i = 0; i < k; i++) {
        const unsigned char *p = raw + i * r->info.itemsize;
        int64_t x = r->info.dtype == NN_NPY_U1   ? p[0]
                    : r->info.dtype == NN_NPY_I4 ? (int64_t)(int32_t)le32(p)
                                                 : (int64_t)le64(p);
        if (x < 0 || x >= NN_SEQ_MAX_ID) {
            char v[32];
            snprintf(v, sizeof v, "%lld", (long long)x);
            return bad_value(r, i, v,
                             x < 0 ? "expected a class label (an integer >= 0)"
                                   : "expected a class label below 2^24 (16777216), where "
                                     "float32 holds it exactly",
                             err);
        }
        o[i] = (int32_t)x;
    }
    return NN_OK;
}

nn_status nn_npy_read_labels(nn_npy_reader *r, int32_t *out, size_t n, nn_error *err)
{
    if (!nn_npy_is_integer(r->info.dtype))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': dtype '%s', expected integer class labels ('|u1', '<i4' or '<i8')",
                       r->path, r->info.descr);
    return read_chunks(r, n, out, to_labels, err);
}

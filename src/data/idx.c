/* IDX files (the MNIST format), gzipped or not.
 *
 * Layout: a 4-byte magic 0x00 0x00 TYPE NDIM, then NDIM big-endian uint32
 * dims, then the product of the dims elements, row-major. Only TYPE 0x08
 * (unsigned byte) is supported. zlib's gz* functions read plain files
 * transparently, so gzip is detected by its magic bytes, not by the name. */
#include "data/dataset.h"
#include "data/gzfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES (4ull << 30) /* 4 GiB: far above any real IDX file */
#define IDX_CHUNK (1u << 30)       /* gzread takes an unsigned, returns an int */
#define IDX_FIRST_ALLOC ((size_t)1 << 24) /* then doubled as data arrives */

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    default: return NULL;
    }
}

/* Reads up to len bytes; returns the count read (short only at end of data)
 * or -1 on a read/decompression error (message in err). */
static long long gz_read_full(gzFile f, void *buf, size_t len, const char *path, nn_error *err)
{
    size_t got = 0;
    uint8_t *p = buf;
    while (got < len) {
        size_t want = len - got;
        if (want > IDX_CHUNK)
            want = IDX_CHUNK;
        int r = gzread(f, p + got, (unsigned)want);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f, &errnum);
            if (errnum == Z_ERRNO)
                msg = strerror(errno);
            nn_fail(err, NN_ERR_RUNTIME, "'%s': read error: %s", path, msg);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

/* True when the gzip stream ended early (the file was cut off). */
static bool gz_cut_short(gzFile f)
{
    int errnum = 0;
    gzerror(f, &errnum);
    return errnum == Z_BUF_ERROR;
}

static void dims_str(char *buf, size_t cap, const uint32_t *dims, int ndim)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, i ? "x%u" : "%u", (unsigned)dims[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

nn_status nn_idx_read(const char *path, nn_idx *out, nn_error *err)
{
    memset(out, 0, sizeof *out);

    gzFile f = nn_gz_open(path, "an IDX file", err);
    if (!f)
        return NN_ERR_RUNTIME;

    nn_status st_code = NN_ERR_RUNTIME;
    uint8_t *data = NULL;
    uint8_t magic[4];
    long long got = gz_read_full(f, magic, 4, path, err);
    if (got < 0)
        goto done;
    if (got < 4) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': not an IDX file (only %lld bytes; an IDX header has at least 8)", path,
                got);
        goto done;
    }
    uint32_t m = (uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 |
                 (uint32_t)magic[2] << 8 | magic[3];
    const char *tname = idx_type_name(magic[2]);
    if (magic[0] != 0 || magic[1] != 0 || !tname || magic[3] == 0) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': not an IDX file (magic 0x%08x, expected 0x00000803 or 0x00000801)", path,
                (unsigned)m);
        goto done;
    }
    if (magic[2] != 0x08) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': element type 0x%02X (%s) not supported, expected 0x08 (unsigned byte)",
                path, magic[2], tname);
        goto done;
    }
    int ndim = magic[3];
    if (ndim > 4) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': IDX file has %d dimensions, at most 4 supported",
                path, ndim);
        goto done;
    }
    uint8_t dbytes[16];
    got = gz_read_full(f, dbytes, (size_t)ndim * 4, path, err);
    if (got < 0)
        goto done;
    if (got < ndim * 4) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated: header needs %d bytes, file has %lld",
                path, 4 + ndim * 4, 4 + got);
        goto done;
    }
    uint64_t total = 1;
    bool too_big = false;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *b = dbytes + 4 * i;
        out->dims[i] = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (__builtin_mul_overflow(total, (uint64_t)out->dims[i], &total))
            too_big = true;
    }
    char dstr[64];
    dims_str(dstr, sizeof dstr, out->dims, ndim);
    if (too_big || total > IDX_MAX_BYTES || total > SIZE_MAX) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': header says %s, more than the 4 GiB limit", path,
                dstr);
        goto done;
    }

    /* Memory follows the data that actually arrives: a 16-byte header may
     * claim gigabytes that the (possibly gzipped) file does not hold. */
    size_t cap = total < IDX_FIRST_ALLOC ? (size_t)total : IDX_FIRST_ALLOC;
    data = nn_malloc(cap ? cap : 1, err);
    if (!data) {
        nn_error_prefix(err, "'%s'", path);
        goto done;
    }
    got = 0;
    while ((uint64_t)got < total) {
        if ((size_t)got == cap) {
            size_t grown = cap > (size_t)total / 2 ? (size_t)total : 2 * cap;
            uint8_t *bigger = realloc(data, grown);
            if (!bigger) {
                nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory (%zu bytes)", path, grown);
                goto done;
            }
            data = bigger;
            cap = grown;
        }
        long long r = gz_read_full(f, data + got, cap - (size_t)got, path, err);
        if (r < 0)
            goto done;
        got += r;
        if ((size_t)got < cap) /* end of data */
            break;
    }
    if ((uint64_t)got < total) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': truncated: header says %s = %llu bytes, file has %lld%s", path, dstr,
                (unsigned long long)total, got,
                gz_cut_short(f) ? " (the gzip stream ends early)" : "");
        goto done;
    }
    /* Trailing bytes mean the header does not describe this file. */
    uint8_t extra[4096];
    long long tail = 0;
    for (;;) {
        long long r = gz_read_full(f, extra, sizeof extra, path, err);
        if (r < 0)
            goto done;
        tail += r;
        if (r < (long long)sizeof extra)
            break;
    }
    if (tail > 0) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': header says %s = %llu bytes, but the file has %lld more after them",
                path, dstr, (unsigned long long)total, tail);
        goto done;
    }
    if (gz_cut_short(f)) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated: the gzip stream ends early", path);
        goto done;
    }

    out->ndim = ndim;
    out->data = data;
    data = NULL;
    st_code = NN_OK;
done:
    free(data);
    gzclose(f);
    if (st_code != NN_OK)
        memset(out, 0, sizeof *out);
    return st_code;
}

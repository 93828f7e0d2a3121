/* CIFAR-10 "binary version": the six batch files, or the distribution's
 * .tar.gz read directly (zlib + a small tar parser). Records are converted
 * from planar RGB to channels-last HWC as they are read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/dataset.h"

#define PIXELS 1024
#define SAMPLE (3 * PIXELS)
#define CHUNK_RECORDS 64

/* Converts `count` records at rec into HWC samples and labels; checks labels. */
static nn_status convert(const uint8_t *rec, size_t count, uint8_t *x, int32_t *y,
                         const char *what, size_t first, nn_error *err)
{
    for (size_t r = 0; r < count; r++, rec += NN_CIFAR_RECORD) {
        if (rec[0] > 9)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "%s: record %zu has label %u; CIFAR-10 labels are 0..9 (is this "
                           "CIFAR-100 or not a CIFAR file?)",
                           what, first + r, rec[0]);
        y[r] = rec[0];
        const uint8_t *R = rec + 1, *G = R + PIXELS, *B = G + PIXELS;
        uint8_t *o = x + r * SAMPLE;
        for (int p = 0; p < PIXELS; p++) {
            o[3 * p] = R[p];
            o[3 * p + 1] = G[p];
            o[3 * p + 2] = B[p];
        }
    }
    return NN_OK;
}

/* Allocates the dataset's buffers for n records. */
static nn_status alloc_out(nn_dataset *out, size_t n, nn_error *err)
{
    memset(out, 0, sizeof *out);
    uint8_t *x = nn_malloc(n * SAMPLE, err);
    int32_t *y = x ? nn_malloc(n * sizeof *y, err) : NULL;
    if (!y) {
        free(x);
        return NN_ERR_RUNTIME;
    }
    out->n = n;
    out->ndim = 3;
    out->shape[0] = 32;
    out->shape[1] = 32;
    out->shape[2] = 3;
    out->sample_size = SAMPLE;
    out->u8 = out->owner_u8 = x;
    out->labels = out->owner_labels = y;
    out->scale = 1.0f;
    out->n_classes = 10;
    return NN_OK;
}

static void read_meta_next_to(const char *first, nn_class_names *names)
{
    char path[4200];
    const char *slash = strrchr(first, '/');
    if (slash)
        snprintf(path, sizeof path, "%.*s/batches.meta.txt", (int)(slash - first), first);
    else
        snprintf(path, sizeof path, "batches.meta.txt");
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    nn_error ignore;
    if (nn_class_names_parse(buf, len, 16, names, &ignore))
        nn_class_names_free(names);
}

nn_status nn_cifar10_load_files(const char *const *paths, int n_paths, nn_dataset *out,
                                nn_class_names *names, nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (names)
        memset(names, 0, sizeof *names);
    if (n_paths < 1)
        return nn_fail(err, NN_ERR_USAGE, "CIFAR-10: no files given");
    size_t total = 0;
    for (int i = 0; i < n_paths; i++) {
        struct stat sb;
        if (stat(paths[i], &sb) != 0)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", paths[i],
                           strerror(errno));
        if (!S_ISREG(sb.st_mode))
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': not a regular file", paths[i]);
        size_t size = (size_t)sb.st_size;
        if (size == 0 || size % NN_CIFAR_RECORD)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': %zu bytes is not a whole number of CIFAR-10 records (%d bytes "
                           "each: 1 label + 3072 pixels; %zu records and %zu bytes over): "
                           "truncated or not a CIFAR-10 batch file",
                           paths[i], size, NN_CIFAR_RECORD, size / NN_CIFAR_RECORD,
                           size % NN_CIFAR_RECORD);
        total += size / NN_CIFAR_RECORD;
    }
    uint8_t *chunk = nn_malloc((size_t)CHUNK_RECORDS * NN_CIFAR_RECORD, err);
    if (!chunk || alloc_out(out, total, err)) {
        free(chunk);
        return NN_ERR_RUNTIME;
    }
    uint8_t *x = out->owner_u8;
    int32_t *y = out->owner_labels;
    size_t at = 0;
    nn_status st = NN_OK;
    for (int i = 0; i < n_paths && !st; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            st = nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", paths[i], strerror(errno));
            break;
        }
        size_t rec = 0;
        for (;;) {
            size_t got = fread(chunk, 1, (size_t)CHUNK_RECORDS * NN_CIFAR_RECORD, f);
            if (got % NN_CIFAR_RECORD) {
                st = nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated while reading (record %zu)",
                             paths[i], rec + got / NN_CIFAR_RECORD);
                break;
            }
            size_t k = got / NN_CIFAR_RECORD;
            if (at + k > total) {
                st = nn_fail(err, NN_ERR_RUNTIME, "'%s': grew while being read", paths[i]);
                break;
            }
            if ((st = convert(chunk, k, x + at * SAMPLE, y + at, paths[i], rec, err)))
                break;
            at += k;
            rec += k;
            if (got < (size_t)CHUNK_RECORDS * NN_CIFAR_RECORD)
                break;
        }
        if (!st && ferror(f))
            st = nn_fail(err, NN_ERR_RUNTIME, "'%s': read error: %s", paths[i], strerror(errno));
        fclose(f);
    }
    free(chunk);
    if (!st && at != total)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': shrank while being read", paths[n_paths - 1]);
    if (st) {
        nn_dataset_free(out);
        return st;
    }
    if (names)
        read_meta_next_to(paths[0], names);
    return NN_OK;
}

/* ---- the archive ------------------------------------------------------ */

typedef struct member {
    const char *base; /* wanted base name */
    uint8_t *x;
    int32_t *y;
    size_t n;
    bool found;
} member;

/* Octal (or GNU base-256) number field. */
static bool tar_number(const unsigned char *f, int len, unsigned long long *out)
{
    unsigned long long v = 0;
    if (f[0] & 0x80) {
        for (int i = 1; i < len; i++) {
            if (v >> 55)
                return false;
            v = v << 8 | f[i];
        }
        *out = v;
        return true;
    }
    int i = 0;
    while (i < len && f[i] == ' ')
        i++;
    bool any = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return false;
        v = v * 8 + (unsigned)(f[i] - '0');
        any = true;
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return false;
    *out = v;
    return any || f[0] == '\0' || f[0] == ' ';
}

static bool all_zero(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Reads exactly n bytes; false at a short read (truncation or gzip error). */
static nn_status gz_exact(gzFile f, void *buf, size_t n, const char *path, const char *what,
                          nn_error *err)
{
    unsigned char *p = buf;
    while (n) {
        unsigned chunk = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0) {
            int zerr;
            const char *m = gzerror(f, &zerr);
            if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
                return nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated or corrupt archive (%s, %s)",
                               path, what, m && *m ? m : "read error");
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': truncated archive: it ends in the middle of %s", path, what);
        }
        p += got;
        n -= (size_t)got;
    }
    return NN_OK;
}

static nn_status gz_skip(gzFile f, unsigned long long n, const char *path, const char *what,
                         nn_error *err)
{
    unsigned char buf[16384];
    while (n) {
        size_t k = n > sizeof buf ? sizeof buf : (size_t)n;
        nn_status st = gz_exact(f, buf, k, path, what, err);
        if (st)
            return st;
        n -= k;
    }
    return NN_OK;
}

static const char *base_name(const char *p)
{
    size_t len = strlen(p);
    while (len > 0 && p[len - 1] == '/')
        len--;
    const char *b = p + len;
    while (b > p && b[-1] != '/')
        b--;
    return b;
}

/* "path=" from a pax extended header's records ("LEN path=VALUE\n"). */
static void pax_path(const char *rec, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    while (i < len) {
        char *end;
        unsigned long n = strtoul(rec + i, &end, 10);
        if (n == 0 || end == rec + i || i + n > len)
            return;
        const char *kv = end + 1, *stop = rec + i + n - 1; /* before '\n' */
        if (stop > kv && (size_t)(stop - kv) > 5 && !strncmp(kv, "path=", 5))
            snprintf(out, cap, "%.*s", (int)(stop - kv - 5), kv + 5);
        i += n;
    }
}

static nn_status read_member(gzFile f, const char *path, const char *name,
                             unsigned long long size, member *m, uint8_t *chunk, nn_error *err)
{
    char what[600];
    snprintf(what, sizeof what, "member '%s'", name);
    if (size == 0 || size % NN_CIFAR_RECORD)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': member '%s' is %llu bytes, not a whole number of CIFAR-10 records "
                       "(%d bytes each)",
                       path, name, size, NN_CIFAR_RECORD);
    size_t n = (size_t)(size / NN_CIFAR_RECORD);
    m->x = nn_malloc(n * SAMPLE, err);
    m->y = m->x ? nn_malloc(n * sizeof *m->y, err) : NULL;
    if (!m->y)
        return NN_ERR_RUNTIME;
    m->n = n;
    char where[700];
    snprintf(where, sizeof where, "'%s': member '%s'", path, name);
    for (size_t at = 0; at < n;) {
        size_t k = n - at < CHUNK_RECORDS ? n - at : CHUNK_RECORDS;
        nn_status st = gz_exact(f, chunk, k * NN_CIFAR_RECORD, path, what, err);
        if (!st)
            st = convert(chunk, k, m->x + at * SAMPLE, m->y + at, where, at, err);
        if (st)
            return st;
        at += k;
    }
    m->found = true;
    return NN_OK;
}

nn_status nn_cifar10_load_archive(const char *path, const char *part, nn_dataset *out,
                                  nn_class_names *names, nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (names)
        memset(names, 0, sizeof *names);
    static const char *const train_names[] = {"data_batch_1.bin", "data_batch_2.bin",
                                              "data_batch_3.bin", "data_batch_4.bin",
                                              "data_batch_5.bin"};
    static const char *const test_names[] = {"test_batch.bin"};
    bool train = !strcmp(part, "train");
    if (!train && strcmp(part, "test"))
        return nn_fail(err, NN_ERR_USAGE, "CIFAR-10 part '%s': expected train or test", part);
    const char *const *want = train ? train_names : test_names;
    const int n_want = train ? 5 : 1;
    member mem[5];
    memset(mem, 0, sizeof mem);
    for (int i = 0; i < n_want; i++)
        mem[i].base = want[i];

    gzFile f = gzopen(path, "rb");
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open: %s", path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1 << 18);
    nn_status st = NN_OK;
    uint8_t *chunk = nn_malloc((size_t)CHUNK_RECORDS * NN_CIFAR_RECORD, err);
    if (!chunk)
        st = NN_ERR_RUNTIME;
    unsigned char h[512];
    char longname[4096] = "";
    bool ended = false, have_meta = false;
    int found = 0;
    unsigned long long offset = 0;
    while (!st && (found < n_want || (names && !have_meta))) {
        int got = gzread(f, h, sizeof h);
        if (got == 0) {
            int zerr;
            gzerror(f, &zerr);
            if (zerr != Z_OK && zerr != Z_STREAM_END)
                st = nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated or corrupt archive (%s)",
                             path, gzerror(f, &zerr));
            break; /* end of file without the end-of-archive blocks */
        }
        if (got != (int)sizeof h) {
            int zerr;
            const char *m = gzerror(f, &zerr);
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "'%s': truncated archive: it ends inside a tar header at byte %llu%s%s",
                         path, offset, got < 0 ? ": " : "", got < 0 ? m : "");
            break;
        }
        offset += 512;
        if (all_zero(h, sizeof h)) {
            ended = true;
            break;
        }
        /* header checksum: the sum of the bytes with the field as spaces */
        unsigned long long sum = 0, stored;
        for (int i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        if (!tar_number(h + 148, 8, &stored) || stored != sum) {
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "'%s': not a tar archive, or corrupt (bad tar header checksum at byte "
                         "%llu)",
                         path, offset - 512);
            break;
        }
        unsigned long long size;
        if (!tar_number(h + 124, 12, &size)) {
            st = nn_fail(err, NN_ERR_RUNTIME, "'%s': bad member size field at byte %llu", path,
                         offset - 512);
            break;
        }
        unsigned long long padded = (size + 511) / 512 * 512;
        char type = (char)h[156];
        char name[4200];
        if (longname[0]) {
            snprintf(name, sizeof name, "%s", longname);
            longname[0] = '\0';
        } else if (!memcmp(h + 257, "ustar\0", 6) && h[345]) {
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                     (const char *)h + 0);
        } else {
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        }
        if (type == 'L' || type == 'x') {
            /* GNU long name / pax extended header: applies to the next member */
            if (size > 65536) {
                st = nn_fail(err, NN_ERR_RUNTIME, "'%s': oversized extended header at byte %llu",
                             path, offset - 512);
                break;
            }
            char *buf = nn_malloc((size_t)padded + 1, err);
            if (!buf || (st = gz_exact(f, buf, (size_t)padded, path, "an extended header", err))) {
                free(buf);
                st = st ? st : NN_ERR_RUNTIME;
                break;
            }
            buf[size] = '\0';
            if (type == 'L')
                snprintf(longname, sizeof longname, "%s", buf);
            else
                pax_path(buf, (size_t)size, longname, sizeof longname);
            free(buf);
            offset += padded;
            continue;
        }
        bool regular = type == '0' || type == '\0' || type == '7';
        const char *b = base_name(name);
        int k = -1;
        for (int i = 0; regular && i < n_want; i++)
            if (!strcmp(b, want[i]) && !mem[i].found)
                k = i;
        if (k >= 0) {
            if ((st = read_member(f, path, name, size, &mem[k], chunk, err)))
                break;
            found++;
            st = gz_skip(f, padded - size, path, "member padding", err);
        } else if (regular && names && !have_meta && !strcmp(b, "batches.meta.txt") &&
                   size < 65536) {
            char *buf = nn_malloc((size_t)padded + 1, err);
            if (!buf || (st = gz_exact(f, buf, (size_t)padded, path, "batches.meta.txt", err))) {
                free(buf);
                st = st ? st : NN_ERR_RUNTIME;
                break;
            }
            st = nn_class_names_parse(buf, (size_t)size, 16, names, err);
            have_meta = !st;
            free(buf);
        } else {
            char what[4300];
            snprintf(what, sizeof what, "member '%s'", name);
            st = gz_skip(f, padded, path, what, err);
        }
        offset += padded;
    }
    gzclose(f);
    free(chunk);
    if (!st && found < n_want) {
        char missing[200] = "";
        for (int i = 0; i < n_want; i++)
            if (!mem[i].found)
                snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s%s",
                         missing[0] ? ", " : "", want[i]);
        if (!ended)
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "'%s': truncated archive (no end-of-archive blocks) without %s", path,
                         missing);
        else
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "'%s': the archive has no member %s (expected "
                         "cifar-10-batches-bin/data_batch_1..5.bin and test_batch.bin)",
                         path, missing);
    }
    size_t total = 0;
    for (int i = 0; i < n_want; i++)
        total += mem[i].n;
    if (!st && (st = alloc_out(out, total, err)) == NN_OK) {
        size_t at = 0;
        for (int i = 0; i < n_want; i++) {
            memcpy((uint8_t *)out->owner_u8 + at * SAMPLE, mem[i].x, mem[i].n * SAMPLE);
            memcpy((int32_t *)out->owner_labels + at, mem[i].y, mem[i].n * sizeof(int32_t));
            at += mem[i].n;
        }
    }
    for (int i = 0; i < n_want; i++) {
        free(mem[i].x);
        free(mem[i].y);
    }
    if (st && names)
        nn_class_names_free(names);
    return st;
}

/* Sequences from CSV files (format "csv"): one row per sample, the label
 * first, then timesteps * features numbers, row-major (timestep 0's features
 * first). Also the text-file reading that tokens.c shares (text.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "data/gzfile.h"
#include "data/text.h"

/* ---------- text files ---------- */

#define TEXT_CHUNK (1u << 30)             /* gzread takes an unsigned, returns an int */
#define TEXT_FIRST_ALLOC ((size_t)1 << 20) /* then doubled as data arrives */

nn_status nn_text_read(const char *path, nn_text *t, nn_error *err)
{
    memset(t, 0, sizeof *t);
    gzFile f = nn_gz_open(path, "a text file", err);
    if (!f)
        return NN_ERR_RUNTIME;
    nn_status st = NN_ERR_RUNTIME;
    size_t cap = TEXT_FIRST_ALLOC, len = 0;
    char *buf = nn_malloc(cap + 1, err);
    if (!buf) {
        nn_error_prefix(err, "'%s'", path);
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= NN_TEXT_MAX_BYTES) {
                nn_fail(err, NN_ERR_RUNTIME, "'%s': more than the 4 GiB limit for a text file",
                        path);
                goto done;
            }
            size_t grown = 2 * cap;
            char *bigger = realloc(buf, grown + 1);
            if (!bigger) {
                nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory (%zu bytes)", path, grown);
                goto done;
            }
            buf = bigger;
            cap = grown;
        }
        size_t want = cap - len < TEXT_CHUNK ? cap - len : TEXT_CHUNK;
        int r = gzread(f, buf + len, (unsigned)want);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f, &errnum);
            if (errnum == Z_ERRNO)
                msg = strerror(errno);
            nn_fail(err, NN_ERR_RUNTIME, "'%s': read error: %s", path, msg);
            goto done;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    int errnum = 0;
    gzerror(f, &errnum);
    if (errnum == Z_BUF_ERROR) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': truncated: the gzip stream ends early", path);
        goto done;
    }
    buf[len] = '\0';
    t->buf = buf;
    t->len = len;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte-order mark */
        t->pos = 3;
    buf = NULL;
    st = NN_OK;
done:
    free(buf);
    gzclose(f);
    return st;
}

void nn_text_free(nn_text *t)
{
    free(t->buf);
    memset(t, 0, sizeof *t);
}

bool nn_text_next_line(nn_text *t, const char **s, size_t *n)
{
    if (t->pos >= t->len)
        return false;
    const char *start = t->buf + t->pos;
    const char *nl = memchr(start, '\n', t->len - t->pos);
    size_t len = nl ? (size_t)(nl - start) : t->len - t->pos;
    t->pos += len + (nl ? 1 : 0);
    if (len && start[len - 1] == '\r')
        len--;
    t->line++;
    *s = start;
    *n = len;
    return true;
}

bool nn_text_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

void nn_text_show(const char *s, size_t n, char *out, size_t cap)
{
    if (n == 0) {
        snprintf(out, cap, "an empty field");
        return;
    }
    size_t o = 0;
    if (cap < 16) {
        snprintf(out, cap, "?");
        return;
    }
    out[o++] = '"';
    size_t i = 0;
    for (; i < n && i < 32 && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (i < n && o + 5 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static bool word_is(const char *s, size_t n, const char *w)
{
    return n == strlen(w) && strncasecmp(s, w, n) == 0;
}

nn_num_status nn_text_number(const char *s, size_t n, double *out)
{
    *out = 0.0;
    if (n == 0)
        return NN_NUM_EMPTY;
    size_t i = 0, digits = 0;
    if (s[i] == '+' || s[i] == '-')
        i++;
    if (word_is(s + i, n - i, "nan") || word_is(s + i, n - i, "inf") ||
        word_is(s + i, n - i, "infinity"))
        return NN_NUM_NONFINITE;
    while (i < n && isdigit((unsigned char)s[i]))
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && isdigit((unsigned char)s[i]); i++)
            digits++;
    if (!digits)
        return NN_NUM_SYNTAX;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, e++;
        if (!e)
            return NN_NUM_SYNTAX;
    }
    if (i != n)
        return NN_NUM_SYNTAX;
    char small[128], *copy = small;
    if (n >= sizeof small && !(copy = malloc(n + 1)))
        return NN_NUM_SYNTAX;
    memcpy(copy, s, n);
    copy[n] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    int e = errno;
    if (copy != small)
        free(copy);
    if (e == ERANGE && !(fabs(v) < 1.0)) /* overflow; underflow gives 0 or a subnormal */
        return NN_NUM_RANGE;
    if (!isfinite(v))
        return NN_NUM_RANGE;
    *out = v;
    return NN_NUM_OK;
}

nn_status nn_text_grow(void **p, size_t *cap, size_t need, size_t row_bytes, const char *path,
                       nn_error *err)
{
    if (need <= *cap)
        return NN_OK;
    /* start near 64 KiB (a sample may be large), then double */
    size_t rows = *cap ? *cap : row_bytes && row_bytes < 65536 ? 65536 / row_bytes : 1, bytes;
    while (rows < need)
        rows = rows > SIZE_MAX / 2 ? need : 2 * rows;
    if (__builtin_mul_overflow(rows, row_bytes ? row_bytes : 1, &bytes))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': the data would need more than %zu bytes",
                       path, SIZE_MAX);
    void *q = realloc(*p, bytes);
    if (!q)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': out of memory (%zu bytes)", path, bytes);
    *p = q;
    *cap = rows;
    return NN_OK;
}

/* ---------- format "csv" ---------- */

static void describe_field(const nn_csv_seq_opts *o, size_t k, char *buf, size_t cap)
{
    if (k == 1) {
        snprintf(buf, cap, "field 1 (the %s)", o->regression ? "target value" : "label");
        return;
    }
    size_t v = k - 2;
    if (o->features == 1)
        snprintf(buf, cap, "field %zu (timestep %zu of %d)", k, v + 1, o->timesteps);
    else
        snprintf(buf, cap, "field %zu (timestep %zu of %d, feature %zu of %d)", k,
                 v / (size_t)o->features + 1, o->timesteps, v % (size_t)o->features + 1,
                 o->features);
}

nn_status nn_seq_bad_number(const char *path, size_t line, const char *where, nn_num_status ns,
                            const char *fs, size_t fn, const char *what, const char *hint,
                            nn_error *err)
{
    char shown[160];
    nn_text_show(fs, fn, shown, sizeof shown);
    if (ns == NN_NUM_NONFINITE)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "%s:%zu: %s: expected a finite number, got %s (NaN and infinity are not "
                       "allowed)",
                       path, line, where, shown);
    if (ns == NN_NUM_RANGE)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "%s:%zu: %s: %s is out of range (expected a number of magnitude at most "
                       "%g, float32's largest)",
                       path, line, where, shown, (double)FLT_MAX);
    return nn_fail(err, NN_ERR_RUNTIME, "%s:%zu: %s: expected %s, got %s%s", path, line, where,
                   what, shown, hint);
}

nn_status nn_seq_class_label(const char *path, size_t line, const char *where, const char *s,
                             size_t n, const char *hint, int32_t *out, nn_error *err)
{
    double v;
    nn_num_status ns = nn_text_number(s, n, &v);
    if (ns == NN_NUM_OK && v >= 0.0 && v == floor(v) && v < NN_SEQ_MAX_ID) {
        *out = (int32_t)v;
        return NN_OK;
    }
    char shown[160];
    nn_text_show(s, n, shown, sizeof shown);
    if (ns == NN_NUM_OK && v >= NN_SEQ_MAX_ID && v == floor(v))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "%s:%zu: %s: expected a class label below %d, got %s", path, line, where,
                       NN_SEQ_MAX_ID, shown);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "%s:%zu: %s: expected a class label (an integer >= 0), got %s%s", path, line,
                   where, shown, ns == NN_NUM_SYNTAX ? hint : "");
}

/* Text in the first field of the first line is likely a header. */
static const char *header_hint(const nn_csv_seq_opts *o, size_t line)
{
    return line == 1 && !o->header ? " (a header line? set header = true)" : "";
}

nn_status nn_csv_seq_load(const char *path, const nn_csv_seq_opts *o, nn_dataset *out,
                          nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->timesteps < 1 || o->features < 1 ||
        (long long)o->timesteps * o->features > NN_SEQ_MAX_VALUES)
        return nn_fail(err, NN_ERR_USAGE,
                       "timesteps %d x features %d: expected both >= 1 and at most %d values a "
                       "sample",
                       o->timesteps, o->features, NN_SEQ_MAX_VALUES);
    nn_text t;
    nn_status st = nn_text_read(path, &t, err);
    if (st)
        return st;
    const size_t ss = (size_t)o->timesteps * (size_t)o->features, want = ss + 1;
    float *x = NULL, *targets = NULL;
    int32_t *labels = NULL;
    size_t cap = 0, cap_y = 0, n = 0;
    int32_t max_label = 0;
    const char *s;
    size_t len;
    char where[128];
    st = NN_ERR_RUNTIME;
    while (nn_text_next_line(&t, &s, &len)) {
        if ((o->header && t.line == 1) || nn_text_blank(s, len))
            continue;
        size_t fields = 1;
        for (const char *c = s; (c = memchr(c, ',', len - (size_t)(c - s))); c++)
            fields++;
        if (fields != want) {
            char per[96];
            if (o->features == 1)
                snprintf(per, sizeof per, "%d timestep%s", o->timesteps,
                         o->timesteps == 1 ? "" : "s");
            else
                snprintf(per, sizeof per, "%d timesteps x %d features", o->timesteps,
                         o->features);
            nn_fail(err, NN_ERR_RUNTIME,
                    "%s:%zu: expected %zu comma-separated fields (the %s, then %s), got %zu",
                    path, t.line, want, o->regression ? "target value" : "label", per, fields);
            goto done;
        }
        if (nn_text_grow((void **)&x, &cap, n + 1, ss * sizeof *x, path, err))
            goto done;
        if (o->regression ? nn_text_grow((void **)&targets, &cap_y, n + 1, sizeof *targets,
                                         path, err)
                          : nn_text_grow((void **)&labels, &cap_y, n + 1, sizeof *labels,
                                         path, err))
            goto done;
        const char *p = s, *end = s + len;
        float *row = x + n * ss;
        for (size_t k = 1; k <= want; k++) {
            const char *c = memchr(p, ',', (size_t)(end - p)), *fe = c ? c : end;
            while (p < fe && (*p == ' ' || *p == '\t'))
                p++;
            while (fe > p && (fe[-1] == ' ' || fe[-1] == '\t'))
                fe--;
            size_t fn = (size_t)(fe - p);
            if (k == 1 && !o->regression) {
                describe_field(o, k, where, sizeof where);
                if (nn_seq_class_label(path, t.line, where, p, fn, header_hint(o, t.line),
                                       &labels[n], err))
                    goto done;
                if (labels[n] > max_label)
                    max_label = labels[n];
            } else {
                double v;
                nn_num_status ns = nn_text_number(p, fn, &v);
                if (ns == NN_NUM_OK && fabs(v) > FLT_MAX)
                    ns = NN_NUM_RANGE;
                if (ns != NN_NUM_OK) {
                    describe_field(o, k, where, sizeof where);
                    nn_seq_bad_number(path, t.line, where, ns, p, fn, "a number",
                                      k == 1 ? header_hint(o, t.line) : "", err);
                    goto done;
                }
                if (k == 1)
                    targets[n] = (float)v;
                else
                    row[k - 2] = (float)v;
            }
            p = c ? c + 1 : end;
        }
        n++;
    }
    if (n == 0) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': no samples: %s; expected one line per sample (the %s, then %zu "
                "comma-separated values)",
                path,
                t.len == 0                ? "the file is empty"
                : o->header && t.line < 2 ? "the file holds only the header line"
                                          : "the file holds only blank lines",
                o->regression ? "target value" : "label", ss);
        goto done;
    }
    /* give back the slack of the last doubling */
    float *fit = realloc(x, n * ss * sizeof *x);
    if (fit)
        x = fit;
    out->n = n;
    out->ndim = 2;
    out->shape[0] = o->timesteps;
    out->shape[1] = o->features;
    out->sample_size = ss;
    out->f32 = out->owner_f32 = x;
    out->scale = 1.0f;
    if (o->regression) {
        out->targets = out->owner_targets = targets;
        out->target_size = 1;
        out->n_classes = 0;
    } else {
        out->labels = out->owner_labels = labels;
        out->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
    }
    x = targets = NULL;
    labels = NULL;
    st = NN_OK;
done:
    free(x);
    free(targets);
    free(labels);
    nn_text_free(&t);
    return st;
}

/* Integer token sequences (format "tokens"), like Keras's imdb data: one
 * line per sample, the class label then the token ids, padded or truncated
 * to maxlen as keras.preprocessing.sequence.pad_sequences does. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "data/text.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One sequence into maxlen values, as pad_sequences: keep the last maxlen
 * ids (truncating "pre") or the first (truncating "post"); put the pad
 * values before them (padding "pre") or after them (padding "post"). */
static void pad_row(const float *ids, size_t n, const nn_tokens_opts *o, float *row)
{
    size_t maxlen = (size_t)o->maxlen, k = n < maxlen ? n : maxlen;
    float *pad = o->pad_post ? row + k : row;
    for (size_t i = 0; i < maxlen - k; i++)
        pad[i] = (float)o->value;
    if (k) /* ids is NULL when the line has no tokens */
        memcpy(o->pad_post ? row : row + (maxlen - k), o->trunc_post ? ids : ids + (n - k),
               k * sizeof *row);
}

nn_status nn_tokens_load(const char *path, const nn_tokens_opts *o, nn_dataset *out,
                         nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->maxlen < 1 || o->maxlen > NN_SEQ_MAX_VALUES)
        return nn_fail(err, NN_ERR_USAGE, "maxlen %d: expected an integer in [1, %d]", o->maxlen,
                       NN_SEQ_MAX_VALUES);
    if (o->value <= -NN_SEQ_MAX_ID || o->value >= NN_SEQ_MAX_ID)
        return nn_fail(err, NN_ERR_USAGE, "pad value %d: expected an integer in (-%d, %d)",
                       o->value, NN_SEQ_MAX_ID, NN_SEQ_MAX_ID);
    nn_text t;
    nn_status st = nn_text_read(path, &t, err);
    if (st)
        return st;
    const size_t ss = (size_t)o->maxlen;
    float *x = NULL, *ids = NULL;
    int32_t *labels = NULL;
    size_t cap = 0, cap_y = 0, cap_ids = 0, n = 0;
    int32_t max_label = 0;
    const char *s;
    size_t len;
    char where[96];
    st = NN_ERR_RUNTIME;
    while (nn_text_next_line(&t, &s, &len)) {
        if (nn_text_blank(s, len))
            continue;
        if (nn_text_grow((void **)&x, &cap, n + 1, ss * sizeof *x, path, err) ||
            nn_text_grow((void **)&labels, &cap_y, n + 1, sizeof *labels, path, err))
            goto done;
        /* fields: separated by a comma (spaces around it are fine) or by
         * spaces alone; an empty field (",,", a comma first or last) is an
         * error */
        const char *p = s, *end = s + len;
        size_t n_ids = 0;
        while (p < end && is_space(*p))
            p++;
        for (size_t k = 1;; k++) {
            const char *f = p;
            while (p < end && !is_space(*p) && *p != ',')
                p++;
            size_t fn = (size_t)(p - f);
            if (k == 1) {
                if (nn_seq_class_label(path, t.line, "field 1 (the label)", f, fn, "",
                                       &labels[n], err))
                    goto done;
                if (labels[n] > max_label)
                    max_label = labels[n];
            } else {
                double v;
                nn_num_status ns = nn_text_number(f, fn, &v);
                if (ns != NN_NUM_OK || !(v >= 0.0 && v < NN_SEQ_MAX_ID && v == floor(v)))
                    /* only for the message: not formatted for every good token */
                    snprintf(where, sizeof where, "field %zu (token %zu)", k, k - 1);
                if (ns == NN_NUM_OK && v >= NN_SEQ_MAX_ID && v == floor(v)) {
                    char shown[160];
                    nn_text_show(f, fn, shown, sizeof shown);
                    nn_fail(err, NN_ERR_RUNTIME,
                            "%s:%zu: %s: expected a token id below %d (2^24: ids are stored "
                            "as float32, exact up to there), got %s",
                            path, t.line, where, NN_SEQ_MAX_ID, shown);
                    goto done;
                }
                if ((ns == NN_NUM_OK && !(v >= 0.0 && v == floor(v))) || ns == NN_NUM_RANGE)
                    ns = NN_NUM_SYNTAX;
                if (ns != NN_NUM_OK) {
                    nn_seq_bad_number(path, t.line, where, ns, f, fn,
                                      "a token id (an integer >= 0)", "", err);
                    goto done;
                }
                if (nn_text_grow((void **)&ids, &cap_ids, n_ids + 1, sizeof *ids, path, err))
                    goto done;
                ids[n_ids++] = (float)v;
            }
            while (p < end && is_space(*p))
                p++;
            if (p == end)
                break;
            if (*p == ',') {
                p++;
                while (p < end && is_space(*p))
                    p++;
                if (p == end) { /* a comma last: an empty last field */
                    snprintf(where, sizeof where, "field %zu (token %zu)", k + 1, k);
                    nn_seq_bad_number(path, t.line, where, NN_NUM_EMPTY, p, 0,
                                      "a token id (an integer >= 0)",
                                      " (a comma ends the line)", err);
                    goto done;
                }
            }
        }
        pad_row(ids, n_ids, o, x + n * ss);
        n++;
    }
    if (n == 0) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': no samples: %s; expected one line per sample (the label, then the "
                "token ids)",
                path, t.len == 0 ? "the file is empty" : "the file holds only blank lines");
        goto done;
    }
    float *fit = realloc(x, n * ss * sizeof *x);
    if (fit)
        x = fit;
    out->n = n;
    out->ndim = 1;
    out->shape[0] = o->maxlen;
    out->sample_size = ss;
    out->f32 = out->owner_f32 = x;
    out->scale = 1.0f;
    out->labels = out->owner_labels = labels;
    out->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
    x = NULL;
    labels = NULL;
    st = NN_OK;
done:
    free(x);
    free(ids);
    free(labels);
    nn_text_free(&t);
    return st;
}

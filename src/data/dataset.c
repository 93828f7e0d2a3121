/* In-memory datasets: loading IDX pairs, views and parts, Keras's
 * validation split, matching parts to model inputs/outputs by name, and
 * per-batch gathering into float32 buffers (seeded stratified subsets are
 * in subset.c). */
#include "data/dataset.h"
#include "data/featurewise.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

void nn_dataset_free(nn_dataset *d)
{
    if (!d)
        return;
    for (int k = 0; d->more_x && k < d->n_more_x; k++)
        nn_dataset_free(&d->more_x[k]);
    for (int k = 0; d->more_y && k < d->n_more_y; k++)
        nn_dataset_free(&d->more_y[k]);
    free(d->more_x);
    free(d->more_y);
    free(d->owner_u8);
    free(d->owner_f32);
    free(d->owner_labels);
    free(d->owner_targets);
    memset(d, 0, sizeof *d);
}

nn_status nn_dataset_load_idx(const char *images_path, const char *labels_path, nn_dataset *out,
                              nn_error *err)
{
    memset(out, 0, sizeof *out);
    nn_idx im = {0}, lb = {0};
    nn_status st = nn_idx_read(images_path, &im, err);
    if (st != NN_OK)
        return st;
    st = NN_ERR_RUNTIME;
    int32_t *labels = NULL;

    if (im.ndim < 2) {
        nn_fail(err, NN_ERR_RUNTIME,
                "'%s': images need at least 2 dimensions (samples x ...), the file has %d",
                images_path, im.ndim);
        goto fail;
    }
    for (int i = 1; i < im.ndim; i++) {
        if (im.dims[i] == 0 || im.dims[i] > INT_MAX) {
            nn_fail(err, NN_ERR_RUNTIME, "'%s': image dimension %d is %u", images_path, i,
                    (unsigned)im.dims[i]);
            goto fail;
        }
    }
    if (im.dims[0] == 0) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': the file holds no samples", images_path);
        goto fail;
    }
    if (nn_idx_read(labels_path, &lb, err) != NN_OK)
        goto fail;
    if (lb.ndim != 1) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s': labels need 1 dimension, the file has %d",
                labels_path, lb.ndim);
        goto fail;
    }
    if (lb.dims[0] != im.dims[0]) {
        nn_fail(err, NN_ERR_RUNTIME, "'%s' and '%s': images have %u samples but labels %u",
                images_path, labels_path, (unsigned)im.dims[0], (unsigned)lb.dims[0]);
        goto fail;
    }

    size_t n = im.dims[0];
    labels = nn_malloc(n * sizeof *labels, err);
    if (!labels)
        goto fail;
    int max_label = 0;
    for (size_t i = 0; i < n; i++) {
        labels[i] = lb.data[i];
        if (lb.data[i] > max_label)
            max_label = lb.data[i];
    }
    free(lb.data);

    out->n = n;
    out->ndim = im.ndim - 1;
    out->sample_size = 1;
    for (int i = 1; i < im.ndim; i++) {
        out->shape[i - 1] = (int)im.dims[i];
        out->sample_size *= im.dims[i];
    }
    out->u8 = im.data;
    out->owner_u8 = im.data;
    out->scale = 1.0f;
    out->labels = labels;
    out->owner_labels = labels;
    out->n_classes = max_label + 1 < 2 ? 2 : max_label + 1;
    return NN_OK;
fail:
    free(im.data);
    free(lb.data);
    free(labels);
    return st;
}

/* out (a struct copy of d, with its own buffers set) gets its own parts
 * arrays, part k made by op from d's part k: never d's arrays, which two
 * owners would free twice. On failure out's parts may be partly made; the
 * caller frees out whole. */
nn_status nn_dataset__map_parts(const nn_dataset *d, nn_dataset *out, part_op op, const void *arg,
                           nn_error *err)
{
    out->more_x = out->more_y = NULL;
    out->n_more_x = out->n_more_y = 0;
    nn_status st;
    if (d->n_more_x > 0) {
        /* calloc: parts not made yet are zero, which nn_dataset_free takes */
        if (!(out->more_x = nn_calloc((size_t)d->n_more_x, sizeof *out->more_x, err)))
            return NN_ERR_RUNTIME;
        out->n_more_x = d->n_more_x;
        for (int k = 0; k < d->n_more_x; k++)
            if ((st = op(&d->more_x[k], &out->more_x[k], arg, err)))
                return st;
    }
    if (d->n_more_y > 0) {
        if (!(out->more_y = nn_calloc((size_t)d->n_more_y, sizeof *out->more_y, err)))
            return NN_ERR_RUNTIME;
        out->n_more_y = d->n_more_y;
        for (int k = 0; k < d->n_more_y; k++)
            if ((st = op(&d->more_y[k], &out->more_y[k], arg, err)))
                return st;
    }
    return NN_OK;
}

typedef struct row_range {
    size_t start, count;
} row_range;

static nn_status view_op(const nn_dataset *d, nn_dataset *v, const void *arg, nn_error *err);

/* A view of samples [start, start + count) of d, its parts views of d's
 * parts. Fails only on allocating the parts arrays (v is then zero). */
static nn_status view_range(const nn_dataset *d, size_t start, size_t count, nn_dataset *v,
                            nn_error *err)
{
    *v = *d;
    v->owner_u8 = v->owner_f32 = v->owner_labels = v->owner_targets = NULL;
    v->n = count;
    if (d->u8)
        v->u8 = d->u8 + start * d->sample_size;
    if (d->f32)
        v->f32 = d->f32 + start * d->sample_size;
    if (d->labels)
        v->labels = d->labels + start;
    if (d->targets)
        v->targets = d->targets + start * d->target_size;
    row_range r = {start, count};
    nn_status st = nn_dataset__map_parts(d, v, view_op, &r, err);
    if (st)
        nn_dataset_free(v); /* a view's owners are NULL: this frees only parts arrays */
    return st;
}

static nn_status view_op(const nn_dataset *d, nn_dataset *v, const void *arg, nn_error *err)
{
    const row_range *r = arg;
    return view_range(d, r->start, r->count, v, err);
}

nn_status nn_dataset_view(const nn_dataset *d, nn_dataset *view, nn_error *err)
{
    return view_range(d, 0, d->n, view, err);
}

nn_status nn_dataset_split_tail(const nn_dataset *d, double fraction, nn_dataset *train,
                                nn_dataset *val, nn_error *err)
{
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    if (!(fraction > 0.0 && fraction < 1.0))
        return nn_fail(err, NN_ERR_USAGE, "validation split %g: expected a number in (0, 1)",
                       fraction);
    /* Keras: split_at = int(num_samples * (1. - validation_split)). */
    size_t split_at = (size_t)((double)d->n * (1.0 - fraction));
    if (split_at == 0 || split_at >= d->n)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "validation split %g of %zu samples leaves %zu for training and %zu "
                       "for validation; both need at least 1",
                       fraction, d->n, split_at < d->n ? split_at : d->n,
                       split_at < d->n ? d->n - split_at : 0);
    nn_status st = view_range(d, 0, split_at, train, err);
    if (st)
        return st;
    if ((st = view_range(d, split_at, d->n - split_at, val, err)))
        nn_dataset_free(train);
    return st;
}

const nn_dataset *nn_dataset_input_part(const nn_dataset *d, int i)
{
    if (!d || i < 0 || i > d->n_more_x)
        return NULL;
    return i == 0 ? d : &d->more_x[i - 1];
}

const nn_dataset *nn_dataset_output_part(const nn_dataset *d, int j)
{
    if (!d || j < 0)
        return NULL;
    if (d->n_more_y == 0)
        return d; /* y given once: every output learns it */
    if (j > d->n_more_y)
        return NULL;
    return j == 0 ? d : &d->more_y[j - 1];
}

/* What makes a part an input's samples (move_x), and what makes it an
 * output's labels or targets (move_y): moved as units when the parts are
 * put in the model's order (the main dataset holds both an x and a y).
 * Augmentation travels with the samples it was set for. */
static void move_x(nn_dataset *dst, const nn_dataset *src)
{
    dst->ndim = src->ndim;
    memcpy(dst->shape, src->shape, sizeof dst->shape);
    dst->sample_size = src->sample_size;
    dst->u8 = src->u8;
    dst->f32 = src->f32;
    dst->scale = src->scale;
    dst->preprocess = src->preprocess;
    dst->augment = src->augment;
    dst->owner_u8 = src->owner_u8;
    dst->owner_f32 = src->owner_f32;
    memcpy(dst->x_name, src->x_name, sizeof dst->x_name);
}

static void move_y(nn_dataset *dst, const nn_dataset *src)
{
    dst->labels = src->labels;
    dst->targets = src->targets;
    dst->target_size = src->target_size;
    dst->n_classes = src->n_classes;
    dst->owner_labels = src->owner_labels;
    dst->owner_targets = src->owner_targets;
    memcpy(dst->y_name, src->y_name, sizeof dst->y_name);
}

/* x part k (0: d) or y part k. */
static nn_dataset *part_of(nn_dataset *d, bool x, int k)
{
    return k == 0 ? d : x ? &d->more_x[k - 1] : &d->more_y[k - 1];
}

/* "\"a\", \"b\"" */
static void name_list(const char *const *names, int n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s\"%s\"", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* perm[i]: the part (0: d) that model input/output i gets. Checks only;
 * *perm = NULL when the parts stay as they are. */
static nn_status match_side(nn_dataset *d, bool x, const char *const *names, int n_names,
                            const char *where, int **perm, nn_error *err)
{
    *perm = NULL;
    int n_parts = 1 + (x ? d->n_more_x : d->n_more_y);
    const char *key = x ? "x" : "y", *what = x ? "input" : "output";
    const char *first = x ? d->x_name : d->y_name;
    if (n_names <= 0)
        return NN_OK;
    char list[1024];
    name_list(names, n_names, list, sizeof list);
    if (n_parts == 1 && !first[0]) {
        /* a single file: as it is (a single y feeds every output) */
        if (x && n_names > 1)
            return nn_fail(err, NN_ERR_USAGE,
                           "%s.x: the model has %d inputs (%s) but x is a single array; give "
                           "one file per input: x = { %s = \"....npy\"; ... }",
                           where, n_names, list, names[0]);
        return NN_OK;
    }
    int *p = nn_malloc((size_t)n_names * sizeof *p, err);
    if (!p)
        return NN_ERR_RUNTIME;
    for (int i = 0; i < n_names; i++)
        p[i] = -1;
    for (int k = 0; k < n_parts; k++) {
        const char *name = x ? part_of(d, x, k)->x_name : part_of(d, x, k)->y_name;
        int i = 0;
        while (i < n_names && strcmp(names[i], name) != 0)
            i++;
        if (i == n_names) {
            free(p);
            return nn_fail(err, NN_ERR_USAGE,
                           "%s.%s.%s: \"%s\" is not an %s of the model; its %ss are %s", where,
                           key, name, name, what, what, list);
        }
        if (p[i] >= 0) {
            free(p);
            return nn_fail(err, NN_ERR_USAGE, "%s.%s: \"%s\" is given twice", where, key,
                           name);
        }
        p[i] = k;
    }
    for (int i = 0; i < n_names; i++) {
        if (p[i] < 0) {
            nn_status st = nn_fail(err, NN_ERR_USAGE,
                                   "%s.%s: the model's %s \"%s\" has no %s; its %ss are %s, "
                                   "and %s needs one .npy file for each",
                                   where, key, what, names[i], x ? "array" : "targets", what,
                                   list, key);
            free(p);
            return st;
        }
    }
    *perm = p; /* every part named once and every name given: n_parts == n_names */
    return NN_OK;
}

/* Part perm[i]'s x (or y) becomes part i's; scratch: n shallow copies,
 * taken before anything moves. */
static void reorder(nn_dataset *d, bool x, const int *perm, int n, nn_dataset *scratch)
{
    for (int i = 0; i < n; i++)
        scratch[i] = *part_of(d, x, perm[i]);
    for (int i = 0; i < n; i++)
        (x ? move_x : move_y)(part_of(d, x, i), &scratch[i]);
}

nn_status nn_dataset_match_names(nn_dataset *d, const char *const *inputs, int n_inputs,
                                 const char *const *outputs, int n_outputs, const char *where,
                                 nn_error *err)
{
    if (!where || !where[0])
        where = "data";
    int *px = NULL, *py = NULL;
    nn_dataset *xs = NULL, *ys = NULL;
    /* everything checked and allocated before anything moves, so an error
     * leaves d as it was */
    nn_status st;
    if ((st = match_side(d, true, inputs, n_inputs, where, &px, err)) ||
        (st = match_side(d, false, outputs, n_outputs, where, &py, err)))
        goto done;
    st = NN_ERR_RUNTIME;
    if ((px && !(xs = nn_malloc((size_t)n_inputs * sizeof *xs, err))) ||
        (py && !(ys = nn_malloc((size_t)n_outputs * sizeof *ys, err))))
        goto done;
    if (px)
        reorder(d, true, px, n_inputs, xs);
    if (py)
        reorder(d, false, py, n_outputs, ys);
    st = NN_OK;
done:
    free(px);
    free(py);
    free(xs);
    free(ys);
    return st;
}

static void u8_to_f32(const uint8_t *restrict s, float *restrict x, size_t n, float scale)
{
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++)
            x[j + k] = (float)s[j + k] / scale;
    for (; j < n; j++)
        x[j] = (float)s[j] / scale;
}

static void f32_scaled(const float *restrict s, float *restrict x, size_t n, float scale)
{
    if (scale == 1.0f) {
        memcpy(x, s, n * sizeof *x);
        return;
    }
    size_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++)
            x[j + k] = s[j + k] / scale;
    for (; j < n; j++)
        x[j] = s[j] / scale;
}

void nn_dataset_gather_x_raw(const nn_dataset *d, const uint32_t *idx, size_t count, float *x)
{
    size_t ss = d->sample_size;
    float scale = d->scale;
    for (size_t i = 0; i < count; i++) {
        size_t src = (size_t)idx[i] * ss;
        if (d->u8)
            u8_to_f32(d->u8 + src, x + i * ss, ss, scale);
        else
            f32_scaled(d->f32 + src, x + i * ss, ss, scale);
    }
}

void nn_dataset_finish_x(const nn_dataset *d, float *x, size_t count)
{
    size_t ss = d->sample_size;
    if (d->preprocess) {
        int ch = d->ndim ? d->shape[d->ndim - 1] : 1;
        for (size_t i = 0; i < count; i++)
            nn_preprocess_apply((nn_preprocess)d->preprocess, x + i * ss, ss / (size_t)ch, ch);
    }
    nn_featurewise_apply(d->featurewise, x, count, ss);
}

void nn_dataset_gather_x(const nn_dataset *d, const uint32_t *idx, size_t count, float *x)
{
    nn_dataset_gather_x_raw(d, idx, count, x);
    nn_dataset_finish_x(d, x, count);
}

void nn_dataset_gather_y(const nn_dataset *d, const uint32_t *idx, size_t count, int one_hot_cols,
                         float *y)
{
    if (d->labels) {
        if (one_hot_cols > 0) {
            /* rows as wide as the model's output, not as this split's own
             * class count (a validation set may lack the top class) */
            size_t nc = (size_t)one_hot_cols;
            memset(y, 0, count * nc * sizeof *y);
            for (size_t i = 0; i < count; i++) {
                int32_t l = d->labels[idx[i]];
                if (l >= 0 && (size_t)l < nc)
                    y[i * nc + (size_t)l] = 1.0f;
            }
        } else {
            for (size_t i = 0; i < count; i++)
                y[i] = (float)d->labels[idx[i]];
        }
    } else if (d->targets) {
        size_t ts = d->target_size;
        for (size_t i = 0; i < count; i++)
            memcpy(y + i * ts, d->targets + (size_t)idx[i] * ts, ts * sizeof *y);
    }
}

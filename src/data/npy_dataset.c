/* Format "npy" (data_spec.h): samples and labels or targets from .npy
 * files (one x and one y, or several of each for a multi-input /
 * multi-output model), shapes checked against each other before any data
 * is read. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "data/npy.h"

/* x: samples along the first axis; ref (NULL for the first x file): the
 * file whose sample count every other one must have. */
static nn_status check_x(const nn_npy_reader *x, const nn_npy_reader *ref, nn_error *err)
{
    const nn_npy_info *xi = &x->info;
    char sh[256];
    nn_npy_shape_str(xi->shape, xi->ndim, sh, sizeof sh);
    if (xi->ndim < 1 || xi->ndim > NN_DATA_MAX_DIMS + 1)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': shape %s: expected samples along the first axis, then 0 to %d "
                       "axes per sample",
                       x->path, sh, NN_DATA_MAX_DIMS);
    if (xi->count == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': shape %s holds no data", x->path, sh);
    for (int d = 1; d < xi->ndim; d++)
        if (xi->shape[d] > INT_MAX)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': shape %s: axis %d is too long", x->path,
                           sh, d);
    if (ref && xi->shape[0] != ref->info.shape[0]) {
        char rsh[256];
        nn_npy_shape_str(ref->info.shape, ref->info.ndim, rsh, sizeof rsh);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': shape %s holds %zu samples, but '%s' holds %zu (shape %s): every "
                       "x and y array needs one row per sample",
                       x->path, sh, xi->shape[0], ref->path, ref->info.shape[0], rsh);
    }
    return NN_OK;
}

/* y: one label or target per sample of x (checked already). */
static nn_status check_y(const nn_npy_reader *y, const nn_npy_reader *x, nn_error *err)
{
    const nn_npy_info *xi = &x->info, *yi = &y->info;
    size_t n = xi->shape[0];
    char sh[256], ysh[256];
    nn_npy_shape_str(xi->shape, xi->ndim, sh, sizeof sh);
    nn_npy_shape_str(yi->shape, yi->ndim, ysh, sizeof ysh);
    if (yi->ndim < 1 || yi->shape[0] != n)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': shape %s, but '%s' holds %zu samples (shape %s): expected shape "
                       "(%zu,)",
                       y->path, ysh, x->path, n, sh, n);
    if (yi->ndim == 1 || (yi->ndim == 2 && yi->shape[1] == 1))
        return NN_OK;
    if (nn_npy_is_integer(yi->dtype))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': shape %s: integer class labels take shape (%zu,) (or (%zu, 1)); "
                       "for several values per sample store floats",
                       y->path, ysh, n, n);
    if (yi->ndim == 2 && yi->shape[1] > 0)
        return NN_OK; /* several targets a sample: one per output unit */
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': shape %s: targets take shape (%zu,) (one value per sample) or "
                   "(%zu, K) (K values per sample, one per output unit)",
                   y->path, ysh, n, n);
}

static nn_status load_samples(nn_npy_reader *r, nn_dataset *out, nn_error *err)
{
    const nn_npy_info *in = &r->info;
    out->n = in->shape[0];
    out->ndim = in->ndim > 1 ? in->ndim - 1 : 1; /* (N,): one value a sample */
    out->shape[0] = 1;
    for (int d = 1; d < in->ndim; d++)
        out->shape[d - 1] = (int)in->shape[d];
    out->sample_size = in->count / in->shape[0];
    out->scale = 1.0f;
    if (in->dtype == NN_NPY_U1) {
        uint8_t *x = nn_malloc(in->count, err);
        if (!x)
            return nn_error_prefix(err, "'%s'", r->path);
        out->u8 = out->owner_u8 = x;
        return nn_npy_read_u8(r, x, in->count, err);
    }
    size_t bytes;
    if (__builtin_mul_overflow(in->count, sizeof(float), &bytes))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': too large", r->path);
    float *x = nn_malloc(bytes, err);
    if (!x)
        return nn_error_prefix(err, "'%s'", r->path);
    out->f32 = out->owner_f32 = x;
    return nn_npy_read_f32(r, x, in->count, err);
}

static nn_status load_targets(nn_npy_reader *r, size_t n, nn_dataset *out, nn_error *err)
{
    if (nn_npy_is_integer(r->info.dtype)) {
        int32_t *labels = nn_malloc(n * sizeof *labels, err);
        if (!labels)
            return nn_error_prefix(err, "'%s'", r->path);
        out->labels = out->owner_labels = labels;
        nn_status st = nn_npy_read_labels(r, labels, n, err);
        if (st)
            return st;
        int32_t max = 0;
        for (size_t i = 0; i < n; i++)
            max = labels[i] > max ? labels[i] : max;
        out->n_classes = max + 1 < 2 ? 2 : max + 1;
        return NN_OK;
    }
    /* floats: regression targets, or rows of class probabilities (one-hot
     * rows as np.float32), r->info.count / n values a sample */
    size_t count = r->info.count;
    float *targets = nn_malloc(count * sizeof *targets, err);
    if (!targets)
        return nn_error_prefix(err, "'%s'", r->path);
    out->targets = out->owner_targets = targets;
    out->target_size = count / n;
    out->n_classes = 0;
    return nn_npy_read_f32(r, targets, count, err);
}

nn_status nn_npy_load_dataset(const char *x_path, const char *y_path, nn_dataset *out,
                              nn_error *err)
{
    return nn_npy_load_parts(&x_path, 1, &y_path, 1, out, err);
}

nn_status nn_npy_load_parts(const char *const *x_paths, int n_x, const char *const *y_paths,
                            int n_y, nn_dataset *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_x < 1 || n_y < 1)
        return nn_fail(err, NN_ERR_USAGE, "npy data needs at least one x and one y file");
    int n_files = n_x + n_y;
    nn_npy_reader *r = nn_calloc((size_t)n_files, sizeof *r, err);
    if (!r)
        return NN_ERR_RUNTIME;
    nn_npy_reader *x = r, *y = r + n_x;
    nn_status st = NN_OK;
    int opened = 0;
    /* every header and shape first: a mismatch is reported before any
     * data is read */
    for (; opened < n_files && !st; opened++)
        st = nn_npy_open(opened < n_x ? x_paths[opened] : y_paths[opened - n_x], &r[opened],
                         err);
    if (st)
        opened--; /* the failed one is not open */
    for (int k = 0; k < n_x && !st; k++)
        st = check_x(&x[k], k ? &x[0] : NULL, err);
    for (int k = 0; k < n_y && !st; k++)
        st = check_y(&y[k], &x[0], err);
    if (!st && n_x > 1 && !(out->more_x = nn_calloc((size_t)n_x - 1, sizeof *out->more_x, err)))
        st = NN_ERR_RUNTIME;
    if (!st)
        out->n_more_x = n_x - 1;
    if (!st && n_y > 1 && !(out->more_y = nn_calloc((size_t)n_y - 1, sizeof *out->more_y, err)))
        st = NN_ERR_RUNTIME;
    if (!st)
        out->n_more_y = n_y - 1;
    for (int k = 0; k < n_x && !st; k++) {
        nn_dataset *part = k ? &out->more_x[k - 1] : out;
        st = load_samples(&x[k], part, err);
    }
    for (int k = 0; k < n_y && !st; k++) {
        nn_dataset *part = k ? &out->more_y[k - 1] : out;
        part->n = out->n;
        st = load_targets(&y[k], out->n, part, err);
    }
    for (int k = 0; k < opened; k++)
        nn_npy_close(&r[k]);
    free(r);
    if (st)
        nn_dataset_free(out);
    return st;
}

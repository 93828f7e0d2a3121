/* Format "npy" (data_spec.h): samples and labels or targets from two .npy
 * files, shapes checked against each other before any data is read. */
#include <limits.h>
#include <string.h>

#include "data/npy.h"

/* Shapes first: a mismatch is reported before any data is read. */
static nn_status check_shapes(const nn_npy_reader *x, const nn_npy_reader *y, nn_error *err)
{
    const nn_npy_info *xi = &x->info, *yi = &y->info;
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
    size_t n = xi->shape[0];
    char ysh[256];
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
                       "'%s': shape %s: integer class labels take shape (%zu,) (or (%zu, 1))",
                       y->path, ysh, n, n);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': shape %s: regression targets take shape (%zu,) (or (%zu, 1)), one "
                   "value per sample; for classes, store integer labels instead of one-hot rows "
                   "(np.argmax(y, axis=1))",
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
    float *targets = nn_malloc(n * sizeof *targets, err);
    if (!targets)
        return nn_error_prefix(err, "'%s'", r->path);
    out->targets = out->owner_targets = targets;
    out->target_size = 1;
    out->n_classes = 0;
    return nn_npy_read_f32(r, targets, n, err);
}

nn_status nn_npy_load_dataset(const char *x_path, const char *y_path, nn_dataset *out,
                              nn_error *err)
{
    memset(out, 0, sizeof *out);
    nn_npy_reader x, y;
    nn_status st = nn_npy_open(x_path, &x, err);
    if (st)
        return st;
    if ((st = nn_npy_open(y_path, &y, err))) {
        nn_npy_close(&x);
        return st;
    }
    if (!(st = check_shapes(&x, &y, err)) && !(st = load_samples(&x, out, err)))
        st = load_targets(&y, out->n, out, err);
    nn_npy_close(&x);
    nn_npy_close(&y);
    if (st)
        nn_dataset_free(out);
    return st;
}

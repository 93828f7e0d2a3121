/* The CPU engine's elementwise operations (vectorized range kernels,
 * split over the threads): products, sums, scaling, clipping, maxima and
 * column copies. */
#include <math.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

/* o may alias a or b (in-place masking): no restrict */
NN_KERNEL static void mul_range(const float *a, const float *b, float *o, size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] * b[i];
}

NN_KERNEL static void add_range(const float *a, const float *b, float *o, float lo, float hi,
                                size_t n)
{
    for (size_t i = 0; i < n; i++)
        o[i] = nn_clampf(a[i] + b[i], lo, hi);
}

NN_KERNEL static void axpy_range(float alpha, const float *restrict x, float *restrict y,
                                 size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

NN_KERNEL static void scale_range(float *x, float alpha, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= alpha;
}

NN_KERNEL static void clip_range(float *x, float c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = nn_clampf(x[i], -c, c);
}

NN_KERNEL static void extremum_range(bool is_max, const float *restrict a,
                                     const float *restrict b, float *restrict o, size_t n)
{
    if (is_max)
        for (size_t i = 0; i < n; i++)
            o[i] = a[i] >= b[i] ? a[i] : b[i];
    else
        for (size_t i = 0; i < n; i++)
            o[i] = a[i] <= b[i] ? a[i] : b[i];
}

void nn_cpu_extremum(nn_engine *e, bool is_max, const nn_tensor *a, const nn_tensor *b,
                         nn_tensor *out, size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi,
                 extremum_range(is_max, a->data + lo, b->data + lo, out->data + lo, hi - lo));
}

NN_KERNEL static void route_range(const float *x, const float *y, const float *dy, float *taken,
                                  float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float win = (x[i] == y[i] && taken[i] == 0.0f) ? 1.0f : 0.0f;
        dx[i] = dy[i] * win;
        taken[i] += win;
    }
}

void nn_cpu_route_equal(nn_engine *e, const nn_tensor *x, const nn_tensor *y,
                            const nn_tensor *dy, nn_tensor *taken, nn_tensor *dx, size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi,
                 route_range(x->data + lo, y->data + lo, dy->data + lo, taken->data + lo,
                             dx->data + lo, hi - lo));
}

void nn_cpu_copy_cols(nn_engine *e, const nn_tensor *src, int src_cols, int src_off,
                          nn_tensor *dst, int dst_cols, int dst_off, int rows, int width)
{
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * width > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++)
        memcpy(dst->data + (size_t)r * dst_cols + dst_off,
               src->data + (size_t)r * src_cols + src_off, sizeof(float) * (size_t)width);
}

void nn_cpu_mul(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out,
                    size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi, mul_range(a->data + lo, b->data + lo, out->data + lo, hi - lo));
}

void nn_cpu_add(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out,
                    size_t n, nn_act act)
{
    float lo = act == NN_ACT_LINEAR ? -INFINITY : 0.0f, hi = act == NN_ACT_RELU6 ? 6.0f : INFINITY;
    NN_PAR_RANGE(e->threads, n, l, h, add_range(a->data + l, b->data + l, out->data + l, lo, hi, h - l));
}

void nn_cpu_axpy(nn_engine *e, float alpha, const nn_tensor *x, nn_tensor *y, size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi, axpy_range(alpha, x->data + lo, y->data + lo, hi - lo));
}

void nn_cpu_scale(nn_engine *e, nn_tensor *x, float alpha, size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi, scale_range(x->data + lo, alpha, hi - lo));
}

void nn_cpu_clip(nn_engine *e, nn_tensor *x, float c, size_t n)
{
    NN_PAR_RANGE(e->threads, n, lo, hi, clip_range(x->data + lo, c, hi - lo));
}

/* a NaN differs from every value, so it keeps its step (Keras's not_equal) */
static void mask_rows_range(const float *x, float value, float *mask, size_t rows, int cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *v = x + r * (size_t)cols;
        bool keep = false;
        for (int j = 0; j < cols && !keep; j++)
            keep = v[j] != value;
        mask[r] = keep ? 1.0f : 0.0f;
    }
}

void nn_cpu_mask_rows(nn_engine *e, const nn_tensor *x, float value, nn_tensor *mask, size_t rows,
                      int cols)
{
    NN_PAR_RANGE(e->threads, rows, lo, hi,
                 mask_rows_range(x->data + lo * (size_t)cols, value, mask->data + lo, hi - lo,
                                 cols));
}

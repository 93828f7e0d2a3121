/* Broadcasting along the middle axis of (outer, mid, inner) tensors: a
 * per-sample, per-channel or per-sample-and-channel operand applied to a
 * whole tensor (squeeze-excite, Rescaling, LayerScale, Dropout's
 * noise_shape), and the reduction that is its gradient. */
#include <string.h>

#include "engine/cpu/cpu_internal.h"

NN_KERNEL static void row_apply(bool mul, const float *restrict x, const float *restrict g,
                                float *y, int inner)
{
    if (mul)
        for (int i = 0; i < inner; i++) y[i] = x[i] * g[i];
    else
        for (int i = 0; i < inner; i++) y[i] = x[i] + g[i];
}

NN_KERNEL static void scalar_apply(bool mul, const float *x, float g, float *y, size_t n)
{
    if (mul)
        for (size_t i = 0; i < n; i++) y[i] = x[i] * g;
    else
        for (size_t i = 0; i < n; i++) y[i] = x[i] + g;
}

void nn_cpu_bcast_apply(nn_engine *e, bool mul, const nn_tensor *xt, const nn_tensor *gt,
                        nn_tensor *yt, int outer, int mid, int inner)
{
    const float *x = xt->data, *g = gt->data;
    float *y = yt->data;
    if (inner == 1) { /* one value per outer index: long contiguous runs */
        for (int o = 0; o < outer; o++) {
            size_t base = (size_t)o * mid;
            NN_PAR_RANGE(e->threads, (size_t)mid, lo, hi,
                         scalar_apply(mul, x + base + lo, g[o], y + base + lo, hi - lo));
        }
        return;
    }
    const size_t rows = (size_t)outer * mid;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if (rows * (size_t)inner > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        row_apply(mul, x + r * inner, g + (r / (size_t)mid) * inner, y + r * inner, inner);
}

NN_KERNEL static void row_sum(const float *a, const float *b, int m0, int m1, int inner,
                              double *acc)
{
    for (int m = m0; m < m1; m++) {
        const float *ar = a + (size_t)m * inner;
        if (b) {
            const float *br = b + (size_t)m * inner;
            for (int i = 0; i < inner; i++) acc[i] += (double)ar[i] * br[i];
        } else {
            for (int i = 0; i < inner; i++) acc[i] += ar[i];
        }
    }
}

void nn_cpu_bcast_reduce(nn_engine *e, const nn_tensor *at, const nn_tensor *bt, nn_tensor *dgt,
                         int outer, int mid, int inner, float beta)
{
    const float *a = at->data, *b = bt ? bt->data : NULL;
    float *dg = dgt->data;
    int threads = e->threads;
    if ((size_t)outer * mid * inner <= NN_CPU_PAR_MIN)
        threads = 1;
    /* each outer index's sum over mid in `chunks` pieces (one when there
     * are enough outer indices to share out), added in order afterwards */
    const int chunks = outer >= threads ? 1 : (threads < mid ? threads : (mid > 0 ? mid : 1));
    const size_t per = (size_t)chunks * inner;
    double *part = nn_cpu_scratch(e, NN_SCRATCH_BCAST, (size_t)outer * per * sizeof(double));
    if (!part) { /* out of memory: one thread, float sums, no scratch */
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++) {
                float s = 0.0f;
                for (int m = 0; m < mid; m++) {
                    size_t k = ((size_t)o * mid + m) * inner + i;
                    s += b ? a[k] * b[k] : a[k];
                }
                dg[(size_t)o * inner + i] = (beta == 0.0f ? 0.0f : beta * dg[(size_t)o * inner + i]) + s;
            }
        return;
    }
    memset(part, 0, (size_t)outer * per * sizeof(double));
    const int jobs = outer * chunks, step = (mid + chunks - 1) / chunks;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int j = 0; j < jobs; j++) {
        int o = j / chunks, c = j % chunks;
        int m0 = c * step, m1 = m0 + step < mid ? m0 + step : mid;
        size_t off = (size_t)o * mid * inner;
        if (m0 < m1)
            row_sum(a + off, b ? b + off : NULL, m0, m1, inner, part + (size_t)j * inner);
    }
    for (int o = 0; o < outer; o++)
        for (int i = 0; i < inner; i++) {
            double s = 0.0;
            for (int c = 0; c < chunks; c++)
                s += part[((size_t)o * chunks + c) * inner + i];
            float *d = dg + (size_t)o * inner + i;
            *d = (beta == 0.0f ? 0.0f : beta * *d) + (float)s;
        }
}

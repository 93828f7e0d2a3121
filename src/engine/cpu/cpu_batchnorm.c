/* Batch normalization per channel (the last axis). Per-channel sums run
 * over row chunks, one chunk per thread, added in a fixed order: the result
 * depends on the thread count only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

#define BN_MAX_THREADS 64

/* sums[t][c] (and sums2) over thread t's rows; returns the thread count used */
static int channel_sums(nn_engine *e, const float *a, const float *b, int rows, int cols,
                        const float *shift, double *s1, double *s2)
{
    int threads = e->threads < BN_MAX_THREADS ? e->threads : BN_MAX_THREADS;
    if ((size_t)rows * cols <= NN_CPU_PAR_MIN)
        threads = 1;
    size_t bytes = (size_t)threads * 2 * cols * sizeof(double);
    double *part = nn_cpu_scratch(e, NN_SCRATCH_BATCHNORM, bytes);
    if (part)
        memset(part, 0, bytes);
    else /* fall back to one thread rather than fail inside a pass */
        threads = 1;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        int chunk = (rows + threads - 1) / threads;
        int r0 = t * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        double *p1 = part ? part + (size_t)t * 2 * cols : s1;
        double *p2 = part ? p1 + cols : s2;
        if (!part)
            memset(s1, 0, sizeof(double) * cols), memset(s2, 0, sizeof(double) * cols);
        for (int r = r0; r < r1; r++) {
            const float *ar = a + (size_t)r * cols, *br = b ? b + (size_t)r * cols : NULL;
            for (int c = 0; c < cols; c++) {
                double v = ar[c] - (shift ? shift[c] : 0.0f);
                if (br) { /* s1 += b, s2 += b * v */
                    p1[c] += br[c];
                    p2[c] += br[c] * v;
                } else {
                    p1[c] += v;
                    p2[c] += v * v;
                }
            }
        }
    }
    if (part) {
        memset(s1, 0, sizeof(double) * cols);
        memset(s2, 0, sizeof(double) * cols);
        for (int t = 0; t < threads; t++)
            for (int c = 0; c < cols; c++) {
                s1[c] += part[(size_t)t * 2 * cols + c];
                s2[c] += part[(size_t)t * 2 * cols + cols + c];
            }
    }
    return threads;
}

/* The statistics of the whole batch over every process: the mean from
 * the summed channel sums, then the variance from the sums of squares
 * about that mean (two passes: as stable as one process's shifted sums). */
static void synced_stats(nn_engine *e, const float *x, int rows, int cols, const nn_sum_hook *sync,
                         float *mu, float *va)
{
    double s1[cols + 1], s2[2 * cols];
    channel_sums(e, x, NULL, rows, cols, NULL, s1, s2);
    s1[cols] = rows;
    sync->sum(sync->ctx, s1, (size_t)cols + 1);
    const double total = s1[cols];
    float shift[cols];
    for (int c = 0; c < cols; c++)
        shift[c] = total > 0 ? (float)(s1[c] / total) : 0.0f;
    channel_sums(e, x, NULL, rows, cols, shift, s2, s2 + cols);
    sync->sum(sync->ctx, s2, 2 * (size_t)cols);
    for (int c = 0; c < cols; c++) {
        double m = total > 0 ? s2[c] / total : 0.0;
        double v = total > 0 ? s2[cols + c] / total - m * m : 0.0;
        mu[c] = (float)(m + shift[c]);
        va[c] = (float)(v > 0.0 ? v : 0.0);
    }
}

/* y = x * scale + shift per channel over rows of cols (vectorized clones) */
NN_KERNEL static void affine_rows(const float *x, float *y, const float *restrict scale,
                                  const float *restrict shift, size_t rows, int cols)
{
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        for (int c = 0; c < cols; c++)
            yr[c] = xr[c] * scale[c] + shift[c];
    }
}

void nn_cpu_batchnorm_forward(nn_engine *e, bool training, const nn_tensor *xt, int rows,
                              int cols, const nn_tensor *gamma, const nn_tensor *beta,
                              nn_tensor *mean, nn_tensor *var, float eps, nn_tensor *yt,
                              const nn_sum_hook *sync)
{
    const float *x = xt->data;
    float *y = yt->data, *mu = mean->data, *va = var->data;
    float scale[cols], shift[cols];
    if (training && sync) {
        synced_stats(e, x, rows, cols, sync, mu, va);
    } else if (training) {
        double s1[cols], s2[cols];
        /* shifted by the first row for a stable variance */
        float first[cols];
        memcpy(first, x, sizeof(float) * cols);
        channel_sums(e, x, NULL, rows, cols, first, s1, s2);
        for (int c = 0; c < cols; c++) {
            double m = s1[c] / rows;
            double v = s2[c] / rows - m * m;
            mu[c] = (float)(m + first[c]);
            va[c] = (float)(v > 0.0 ? v : 0.0);
        }
    }
    for (int c = 0; c < cols; c++) {
        float inv = 1.0f / sqrtf(va[c] + eps);
        scale[c] = (gamma ? gamma->data[c] : 1.0f) * inv;
        shift[c] = (beta ? beta->data[c] : 0.0f) - mu[c] * scale[c];
    }
    int threads = (size_t)rows * cols > NN_CPU_PAR_MIN ? e->threads : 1;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t r0 = (size_t)rows * t / nt, r1 = (size_t)rows * (t + 1) / nt;
        affine_rows(x + r0 * cols, y + r0 * cols, scale, shift, r1 - r0, cols);
    }
}

void nn_cpu_batchnorm_backward(nn_engine *e, const nn_tensor *xt, const nn_tensor *dyt, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *var, float eps, nn_tensor *dxt, nn_tensor *dgamma,
                               nn_tensor *dbeta, const nn_sum_hook *sync)
{
    const float *x = xt->data, *dy = dyt->data, *mu = mean->data, *va = var->data;
    float *dx = dxt ? dxt->data : NULL;
    double sum_dy[cols], sum_dy_xc[cols];
    /* sum(dy) and sum(dy * (x - mean)) per channel */
    channel_sums(e, x, dy, rows, cols, mu, sum_dy, sum_dy_xc);
    for (int c = 0; c < cols; c++) {
        double inv = 1.0 / sqrt((double)va[c] + eps);
        if (dgamma)
            dgamma->data[c] = (float)(sum_dy_xc[c] * inv);
        if (dbeta)
            dbeta->data[c] = (float)sum_dy[c];
    }
    if (!dx)
        return;
    double n = rows;
    if (sync) {
        /* dx needs the sums over the whole batch; the parameter
         * gradients above stay this process's share */
        double all[2 * cols + 1];
        memcpy(all, sum_dy, sizeof sum_dy);
        memcpy(all + cols, sum_dy_xc, sizeof sum_dy_xc);
        all[2 * cols] = rows;
        sync->sum(sync->ctx, all, 2 * (size_t)cols + 1);
        memcpy(sum_dy, all, sizeof sum_dy);
        memcpy(sum_dy_xc, all + cols, sizeof sum_dy_xc);
        n = all[2 * cols];
    }
    float k1[cols], k2[cols], k3[cols];
    for (int c = 0; c < cols; c++) {
        double inv = 1.0 / sqrt((double)va[c] + eps);
        double g = gamma ? gamma->data[c] : 1.0;
        double dxhat_sum = g * sum_dy[c];                 /* sum(dxhat) */
        double dxhat_xhat = g * sum_dy_xc[c] * inv;       /* sum(dxhat * xhat) */
        /* dx = g*inv*dy - inv/N * (sum(dxhat) + xhat * sum(dxhat*xhat)) */
        k1[c] = (float)(g * inv);
        k2[c] = (float)(inv / n * dxhat_sum);
        k3[c] = (float)(inv * inv / n * dxhat_xhat);
    }
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        float *dxr = dx + (size_t)r * cols;
        for (int c = 0; c < cols; c++)
            dxr[c] = k1[c] * dyr[c] - k2[c] - k3[c] * (xr[c] - mu[c]);
    }
}

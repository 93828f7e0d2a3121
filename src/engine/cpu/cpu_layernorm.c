/* Layer normalization over each row's values (Keras's LayerNormalization
 * on the last axis): statistics in double, two passes (mean, then the
 * squares about it). The parameters' gradients are column sums over row
 * chunks, one chunk per thread, added in a fixed order. */
#include <math.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

#define LN_MAX_THREADS 64

void nn_cpu_layernorm_forward(nn_engine *e, const nn_tensor *xt, int rows, int cols,
                              const nn_tensor *gamma, const nn_tensor *beta, float eps,
                              nn_tensor *yt, nn_tensor *mean, nn_tensor *rstd)
{
    const float *x = xt->data, *ga = gamma ? gamma->data : NULL, *be = beta ? beta->data : NULL;
    float *y = yt->data, *mu = mean->data, *rs = rstd->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        double s = 0.0, q = 0.0;
        for (int c = 0; c < cols; c++)
            s += xr[c];
        const double m = cols ? s / cols : 0.0;
        for (int c = 0; c < cols; c++) {
            double d = xr[c] - m;
            q += d * d;
        }
        const float inv = (float)(1.0 / sqrt((cols ? q / cols : 0.0) + (double)eps));
        const float fm = (float)m;
        mu[r] = fm;
        rs[r] = inv;
        for (int c = 0; c < cols; c++) {
            float v = (xr[c] - fm) * inv;
            yr[c] = (ga ? v * ga[c] : v) + (be ? be[c] : 0.0f);
        }
    }
}

void nn_cpu_layernorm_backward(nn_engine *e, const nn_tensor *xt, const nn_tensor *dyt,
                               int rows, int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *rstd, nn_tensor *dxt, nn_tensor *dgamma,
                               nn_tensor *dbeta)
{
    const float *x = xt->data, *dy = dyt->data, *ga = gamma ? gamma->data : NULL;
    const float *mu = mean->data, *rs = rstd->data;
    if (dxt) {
        float *dx = dxt->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * cols, *dr = dy + (size_t)r * cols;
            float *o = dx + (size_t)r * cols;
            double m1 = 0.0, m2 = 0.0;
            for (int c = 0; c < cols; c++) {
                float xh = (xr[c] - mu[r]) * rs[r];
                float g = ga ? dr[c] * ga[c] : dr[c];
                m1 += g;
                m2 += (double)g * xh;
            }
            const float a = cols ? (float)(m1 / cols) : 0.0f, b = cols ? (float)(m2 / cols) : 0.0f;
            for (int c = 0; c < cols; c++) {
                float xh = (xr[c] - mu[r]) * rs[r];
                float g = ga ? dr[c] * ga[c] : dr[c];
                o[c] = rs[r] * (g - a - xh * b);
            }
        }
    }
    if (!dgamma && !dbeta)
        return;
    int threads = e->threads < LN_MAX_THREADS ? e->threads : LN_MAX_THREADS;
    if ((size_t)rows * cols <= NN_CPU_PAR_MIN)
        threads = 1;
    double *part = nn_cpu_scratch(e, NN_SCRATCH_LAYERNORM,
                                  (size_t)threads * 2 * cols * sizeof(double));
    if (!part) { /* out of memory: one thread, float sums, rather than fail in a pass */
        for (int c = 0; c < cols; c++) {
            float g = 0.0f, b = 0.0f;
            for (int r = 0; r < rows; r++) {
                size_t k = (size_t)r * cols + c;
                g += dy[k] * ((x[k] - mu[r]) * rs[r]);
                b += dy[k];
            }
            if (dgamma)
                dgamma->data[c] = g;
            if (dbeta)
                dbeta->data[c] = b;
        }
        return;
    }
    memset(part, 0, (size_t)threads * 2 * cols * sizeof(double));
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), chunk = (rows + threads - 1) / threads;
        int r0 = t * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
        double *sg = part + (size_t)t * 2 * cols, *sb = sg + cols;
        for (int r = r0; r < r1; r++) {
            const float *xr = x + (size_t)r * cols, *dr = dy + (size_t)r * cols;
            for (int c = 0; c < cols; c++) {
                sg[c] += (double)dr[c] * ((xr[c] - mu[r]) * rs[r]);
                sb[c] += dr[c];
            }
        }
    }
    for (int c = 0; c < cols; c++) {
        double g = 0.0, b = 0.0;
        for (int t = 0; t < threads; t++) {
            g += part[(size_t)t * 2 * cols + c];
            b += part[(size_t)t * 2 * cols + cols + c];
        }
        if (dgamma)
            dgamma->data[c] = (float)g;
        if (dbeta)
            dbeta->data[c] = (float)b;
    }
}

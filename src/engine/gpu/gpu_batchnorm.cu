/* Batch normalization per channel (the last axis), as cpu_batchnorm.c:
 * batch statistics in double, shifted by the first row for a stable
 * variance; the column sums are deterministic (nn_gpu_col_sums). */
#include <math.h>

#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

static __global__ void stats_kernel(const double *s, const float *first, int rows, int cols,
                                    float *mu, float *va)
{
    NN_GPU_FOR(c, cols) {
        double m = s[c] / rows;
        double v = s[cols + c] / rows - m * m;
        mu[c] = (float)(m + first[c]);
        va[c] = (float)(v > 0.0 ? v : 0.0);
    }
}

static __global__ void normalize_kernel(const float *x, float *y, size_t n, int cols,
                                        const float *gamma, const float *beta, const float *mu,
                                        const float *va, float eps)
{
    NN_GPU_FOR(i, n) {
        int c = (int)(i % (size_t)cols);
        float inv = 1.0f / sqrtf(va[c] + eps);
        float scale = (gamma ? gamma[c] : 1.0f) * inv;
        float shift = (beta ? beta[c] : 0.0f) - mu[c] * scale;
        y[i] = x[i] * scale + shift;
    }
}

extern "C" void nn_gpu_batchnorm_forward(nn_engine *e, bool training, const nn_tensor *x,
                                         int rows, int cols, const nn_tensor *gamma,
                                         const nn_tensor *beta, nn_tensor *mean, nn_tensor *var,
                                         float eps, nn_tensor *y)
{
    if (rows <= 0 || cols <= 0)
        return;
    if (training) {
        /* shifted by the first row: x itself is the shift vector */
        double *s = nn_gpu_col_sums(e, x->data, NULL, x->data, rows, cols);
        if (!s)
            return;
        stats_kernel<<<LAUNCH(cols)>>>(s, x->data, rows, cols, mean->data, var->data);
    }
    size_t n = (size_t)rows * cols;
    normalize_kernel<<<LAUNCH(n)>>>(x->data, y->data, n, cols, gamma ? gamma->data : NULL,
                                    beta ? beta->data : NULL, mean->data, var->data, eps);
    NN_GPU_LAUNCHED(e, "batchnorm_forward");
}

/* k = (k1, k2, k3) per channel: dx = k1*dy - k2 - k3*(x - mean) */
static __global__ void bn_grad_consts(const double *s, int rows, int cols, const float *gamma,
                                      const float *va, float eps, float *k, float *dgamma,
                                      float *dbeta)
{
    NN_GPU_FOR(c, cols) {
        double sum_dy = s[c], sum_dy_xc = s[cols + c];
        double inv = 1.0 / sqrt((double)va[c] + eps);
        double g = gamma ? gamma[c] : 1.0;
        double dxhat_sum = g * sum_dy, dxhat_xhat = g * sum_dy_xc * inv;
        k[c] = (float)(g * inv);
        k[cols + c] = (float)(inv / rows * dxhat_sum);
        k[2 * cols + c] = (float)(inv * inv / rows * dxhat_xhat);
        if (dgamma)
            dgamma[c] = (float)(sum_dy_xc * inv);
        if (dbeta)
            dbeta[c] = (float)sum_dy;
    }
}

static __global__ void bn_dx_kernel(const float *x, const float *dy, float *dx, size_t n,
                                    int cols, const float *k, const float *mu)
{
    NN_GPU_FOR(i, n) {
        int c = (int)(i % (size_t)cols);
        dx[i] = k[c] * dy[i] - k[cols + c] - k[2 * cols + c] * (x[i] - mu[c]);
    }
}

extern "C" void nn_gpu_batchnorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy,
                                          int rows, int cols, const nn_tensor *gamma,
                                          const nn_tensor *mean, const nn_tensor *var, float eps,
                                          nn_tensor *dx, nn_tensor *dgamma, nn_tensor *dbeta)
{
    if (rows <= 0 || cols <= 0)
        return;
    /* sum(dy) and sum(dy * (x - mean)) per channel */
    double *s = nn_gpu_col_sums(e, x->data, dy->data, mean->data, rows, cols);
    if (!s)
        return;
    /* the chunk partials behind s are spent once the sums are done (same
     * stream): they hold the 3 x cols constants (at least 2 x cols doubles) */
    float *k = (float *)(s + 2 * (size_t)cols);
    bn_grad_consts<<<LAUNCH(cols)>>>(s, rows, cols, gamma ? gamma->data : NULL, var->data, eps, k,
                                     dgamma ? dgamma->data : NULL, dbeta ? dbeta->data : NULL);
    if (dx) {
        size_t n = (size_t)rows * cols;
        bn_dx_kernel<<<LAUNCH(n)>>>(x->data, dy->data, dx->data, n, cols, k, mean->data);
    }
    NN_GPU_LAUNCHED(e, "batchnorm_backward");
}

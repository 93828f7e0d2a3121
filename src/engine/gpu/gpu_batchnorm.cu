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

/* Device doubles to host and back (the few per-channel sums that
 * SyncBatchNormalization adds up over the processes); false on a CUDA
 * error (reported by nn_gpu_check). */
static bool sums_down(nn_engine *e, double *host, const double *dev, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    return nn_gpu_check(e, cudaMemcpyAsync(host, dev, n * sizeof(double), cudaMemcpyDeviceToHost,
                                           g->stream), "batchnorm sums") &&
           nn_gpu_check(e, cudaStreamSynchronize(g->stream), "batchnorm sums");
}

static bool floats_up(nn_engine *e, float *dev, const float *host, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    return nn_gpu_check(e, cudaMemcpyAsync(dev, host, n * sizeof(float), cudaMemcpyHostToDevice,
                                           g->stream), "batchnorm statistics") &&
           nn_gpu_check(e, cudaStreamSynchronize(g->stream), "batchnorm statistics");
}

/* The statistics of the whole batch over every process, as the CPU engine
 * computes them (cpu_batchnorm.c): the mean from the summed sums, then the
 * sums of squares about it. The shift lives in `mean` meanwhile. */
static void synced_stats(nn_engine *e, const float *x, int rows, int cols,
                         const nn_sum_hook *sync, float *mu, float *va)
{
    double *h1 = (double *)malloc(sizeof(double) * (3 * (size_t)cols + 1));
    float *f = (float *)malloc(sizeof(float) * 2 * (size_t)cols);
    double *s = h1 && f ? nn_gpu_col_sums(e, x, NULL, NULL, rows, cols) : NULL;
    if (s && sums_down(e, h1, s, (size_t)cols)) {
        h1[cols] = rows;
        sync->sum(sync->ctx, h1, (size_t)cols + 1);
        const double total = h1[cols];
        for (int c = 0; c < cols; c++)
            f[c] = total > 0 ? (float)(h1[c] / total) : 0.0f;
        double *h2 = h1 + cols + 1;
        if (floats_up(e, mu, f, (size_t)cols) &&
            (s = nn_gpu_col_sums(e, x, NULL, mu, rows, cols)) &&
            sums_down(e, h2, s, 2 * (size_t)cols)) {
            sync->sum(sync->ctx, h2, 2 * (size_t)cols);
            for (int c = 0; c < cols; c++) {
                double m = total > 0 ? h2[c] / total : 0.0;
                double v = total > 0 ? h2[cols + c] / total - m * m : 0.0;
                f[cols + c] = (float)(v > 0.0 ? v : 0.0);
                f[c] = (float)(m + f[c]);
            }
            if (floats_up(e, mu, f, (size_t)cols))
                floats_up(e, va, f + cols, (size_t)cols);
        }
    } else if (!h1 || !f) {
        nn_gpu_check(e, cudaErrorMemoryAllocation, "batchnorm statistics");
    }
    free(h1);
    free(f);
}

extern "C" void nn_gpu_batchnorm_forward(nn_engine *e, bool training, const nn_tensor *x,
                                         int rows, int cols, const nn_tensor *gamma,
                                         const nn_tensor *beta, nn_tensor *mean, nn_tensor *var,
                                         float eps, nn_tensor *y, const nn_sum_hook *sync)
{
    if (cols <= 0)
        return;
    if (training && sync) {
        /* collective: runs even for an empty shard */
        synced_stats(e, x->data, rows, cols, sync, mean->data, var->data);
    } else if (training && rows > 0) {
        /* shifted by the first row: x itself is the shift vector */
        double *s = nn_gpu_col_sums(e, x->data, NULL, x->data, rows, cols);
        if (!s)
            return;
        stats_kernel<<<LAUNCH(cols)>>>(s, x->data, rows, cols, mean->data, var->data);
    }
    if (rows <= 0)
        return;
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
                                          nn_tensor *dx, nn_tensor *dgamma, nn_tensor *dbeta,
                                          const nn_sum_hook *sync)
{
    if (cols <= 0 || (rows <= 0 && !(sync && dx)))
        return;
    /* sum(dy) and sum(dy * (x - mean)) per channel */
    double *s = nn_gpu_col_sums(e, x->data, dy->data, mean->data, rows, cols);
    if (!s)
        return;
    /* the chunk partials behind s are spent once the sums are done (same
     * stream): they hold the 3 x cols constants (at least 2 x cols doubles) */
    float *k = (float *)(s + 2 * (size_t)cols);
    bn_grad_consts<<<LAUNCH(cols)>>>(s, rows > 0 ? rows : 1, cols, gamma ? gamma->data : NULL,
                                     var->data, eps, k, dgamma ? dgamma->data : NULL,
                                     dbeta ? dbeta->data : NULL);
    if (!NN_GPU_LAUNCHED(e, "batchnorm_backward"))
        return;
    if (dx && sync) {
        /* dx from the sums over the whole batch (the parameter gradients
         * above stay this process's share): the constants again, with
         * the summed sums and row count */
        double *h = (double *)malloc(sizeof(double) * (2 * (size_t)cols + 1));
        if (!h) {
            nn_gpu_check(e, cudaErrorMemoryAllocation, "batchnorm_backward");
            return;
        }
        bool ok = sums_down(e, h, s, 2 * (size_t)cols);
        if (ok) {
            h[2 * cols] = rows;
            sync->sum(sync->ctx, h, 2 * (size_t)cols + 1);
            ok = nn_gpu_check(e, cudaMemcpy(s, h, 2 * (size_t)cols * sizeof(double),
                                            cudaMemcpyHostToDevice), "batchnorm_backward");
        }
        int total = (int)h[2 * cols];
        free(h);
        if (!ok || rows <= 0)
            return;
        bn_grad_consts<<<LAUNCH(cols)>>>(s, total, cols, gamma ? gamma->data : NULL, var->data,
                                         eps, k, NULL, NULL);
    }
    if (dx && rows > 0) {
        size_t n = (size_t)rows * cols;
        bn_dx_kernel<<<LAUNCH(n)>>>(x->data, dy->data, dx->data, n, cols, k, mean->data);
    }
    NN_GPU_LAUNCHED(e, "batchnorm_backward");
}

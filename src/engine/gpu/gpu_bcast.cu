/* Broadcasting along the middle axis of (outer, mid, inner) tensors and
 * its reduction, and layer normalization over rows, as cpu_bcast.c and
 * cpu_layernorm.c compute them. Every sum is one thread's loop in double
 * (or nn_gpu_col_sums' fixed chunks): the same inputs give the same bits. */
#include <math.h>

#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

static __global__ void bcast_kernel(bool mul, const float *x, const float *g, float *y,
                                    size_t n, int mid, int inner)
{
    NN_GPU_FOR(k, n) {
        size_t o = k / ((size_t)mid * inner), i = k % (size_t)inner;
        float v = g[o * inner + i];
        y[k] = mul ? x[k] * v : x[k] + v;
    }
}

extern "C" void nn_gpu_bcast_apply(nn_engine *e, bool mul, const nn_tensor *x,
                                   const nn_tensor *g, nn_tensor *y, int outer, int mid,
                                   int inner)
{
    size_t n = (size_t)outer * mid * inner;
    if (n == 0)
        return;
    bcast_kernel<<<LAUNCH(n)>>>(mul, x->data, g->data, y->data, n, mid, inner);
    NN_GPU_LAUNCHED(e, "bcast_apply");
}

static __global__ void reduce_kernel(const float *a, const float *b, float *dg, int outer,
                                     int mid, int inner, float beta)
{
    NN_GPU_FOR(k, (size_t)outer * inner) {
        size_t o = k / (size_t)inner, i = k % (size_t)inner;
        double s = 0.0;
        for (int m = 0; m < mid; m++) {
            size_t at = (o * mid + m) * inner + i;
            s += b ? (double)a[at] * b[at] : (double)a[at];
        }
        dg[k] = (beta == 0.0f ? 0.0f : beta * dg[k]) + (float)s;
    }
}

static __global__ void col_result_kernel(const double *s, float *dg, int cols, float beta)
{
    NN_GPU_FOR(c, cols) dg[c] = (beta == 0.0f ? 0.0f : beta * dg[c]) + (float)s[c];
}

extern "C" void nn_gpu_bcast_reduce(nn_engine *e, const nn_tensor *a, const nn_tensor *b,
                                    nn_tensor *dg, int outer, int mid, int inner, float beta)
{
    if ((size_t)outer * inner == 0)
        return;
    if (outer == 1 && mid > 1) {
        /* one long column sum per inner index: the chunked column sums (of
         * b and b * a when b is given: the second is the one wanted) */
        double *s = nn_gpu_col_sums(e, a->data, b ? b->data : NULL, NULL, mid,
                                    inner);
        if (!s)
            return;
        col_result_kernel<<<LAUNCH(inner)>>>(b ? s + inner : s, dg->data, inner, beta);
        NN_GPU_LAUNCHED(e, "bcast_reduce");
        return;
    }
    reduce_kernel<<<LAUNCH((size_t)outer * inner)>>>(a->data, b ? b->data : NULL, dg->data, outer,
                                                     mid, inner, beta);
    NN_GPU_LAUNCHED(e, "bcast_reduce");
}

static __global__ void ln_forward_kernel(const float *x, int rows, int cols, const float *ga,
                                         const float *be, float eps, float *y, float *mu,
                                         float *rs)
{
    NN_GPU_FOR(r, rows) {
        const float *xr = x + r * (size_t)cols;
        float *yr = y + r * (size_t)cols;
        double s = 0.0, q = 0.0;
        for (int c = 0; c < cols; c++)
            s += xr[c];
        double m = cols ? s / cols : 0.0;
        for (int c = 0; c < cols; c++) {
            double d = xr[c] - m;
            q += d * d;
        }
        float inv = (float)(1.0 / sqrt((cols ? q / cols : 0.0) + (double)eps)), fm = (float)m;
        mu[r] = fm;
        rs[r] = inv;
        for (int c = 0; c < cols; c++) {
            float v = (xr[c] - fm) * inv;
            yr[c] = (ga ? v * ga[c] : v) + (be ? be[c] : 0.0f);
        }
    }
}

extern "C" void nn_gpu_layernorm_forward(nn_engine *e, const nn_tensor *x, int rows, int cols,
                                         const nn_tensor *gamma, const nn_tensor *beta,
                                         float eps, nn_tensor *y, nn_tensor *mean,
                                         nn_tensor *rstd)
{
    if (rows <= 0)
        return;
    ln_forward_kernel<<<LAUNCH(rows)>>>(x->data, rows, cols, gamma ? gamma->data : NULL,
                                        beta ? beta->data : NULL, eps, y->data, mean->data,
                                        rstd->data);
    NN_GPU_LAUNCHED(e, "layernorm_forward");
}

static __global__ void ln_dx_kernel(const float *x, const float *dy, int rows, int cols,
                                    const float *ga, const float *mu, const float *rs,
                                    float *dx)
{
    NN_GPU_FOR(r, rows) {
        const float *xr = x + r * (size_t)cols, *dr = dy + r * (size_t)cols;
        float *o = dx + r * (size_t)cols;
        double m1 = 0.0, m2 = 0.0;
        for (int c = 0; c < cols; c++) {
            float xh = (xr[c] - mu[r]) * rs[r], g = ga ? dr[c] * ga[c] : dr[c];
            m1 += g;
            m2 += (double)g * xh;
        }
        float a = cols ? (float)(m1 / cols) : 0.0f, b = cols ? (float)(m2 / cols) : 0.0f;
        for (int c = 0; c < cols; c++) {
            float xh = (xr[c] - mu[r]) * rs[r], g = ga ? dr[c] * ga[c] : dr[c];
            o[c] = rs[r] * (g - a - xh * b);
        }
    }
}

static __global__ void ln_params_kernel(const float *x, const float *dy, int rows, int cols,
                                        const float *mu, const float *rs, float *dgamma,
                                        float *dbeta)
{
    NN_GPU_FOR(c, cols) {
        double g = 0.0, b = 0.0;
        for (int r = 0; r < rows; r++) {
            size_t k = (size_t)r * cols + c;
            g += (double)dy[k] * ((x[k] - mu[r]) * rs[r]);
            b += dy[k];
        }
        if (dgamma)
            dgamma[c] = (float)g;
        if (dbeta)
            dbeta[c] = (float)b;
    }
}

extern "C" void nn_gpu_layernorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy,
                                          int rows, int cols, const nn_tensor *gamma,
                                          const nn_tensor *mean, const nn_tensor *rstd,
                                          nn_tensor *dx, nn_tensor *dgamma, nn_tensor *dbeta)
{
    if (rows <= 0)
        return;
    if (dx)
        ln_dx_kernel<<<LAUNCH(rows)>>>(x->data, dy->data, rows, cols,
                                       gamma ? gamma->data : NULL, mean->data, rstd->data,
                                       dx->data);
    if (dgamma || dbeta)
        ln_params_kernel<<<LAUNCH(cols)>>>(x->data, dy->data, rows, cols, mean->data,
                                           rstd->data, dgamma ? dgamma->data : NULL,
                                           dbeta ? dbeta->data : NULL);
    NN_GPU_LAUNCHED(e, "layernorm_backward");
}

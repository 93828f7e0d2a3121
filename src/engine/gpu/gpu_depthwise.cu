/* Depthwise convolution by direct kernels (cpu_depthwise.c's loops): one
 * small filter per channel leaves nothing for a GEMM. The input gradient
 * gathers over the windows covering each cell; the filter gradient is one
 * block per filter tap with a fixed-tree sum: both deterministic. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"
#include "engine/gpu/gpu_reduce.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

/* one thread per output (i, oy, ox, q), q = c * m + j */
static __global__ void dw_fwd_kernel(nn_conv_geom g, const float *x, const float *k, float *y)
{
    const int m = g.f / g.c;
    const size_t total = (size_t)g.n * g.oh * g.ow * g.f;
    NN_GPU_FOR(o, total) {
        int q = (int)(o % g.f), c = q / m;
        size_t p = o / g.f;
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        const float *xi = x + (size_t)i * g.h * g.w * g.c;
        float acc = 0.0f;
        for (int ky = 0; ky < g.kh; ky++) {
            int iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h)
                continue;
            for (int kx = 0; kx < g.kw; kx++) {
                int ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w)
                    continue;
                acc += xi[((size_t)iy * g.w + ix) * g.c + c] * k[((size_t)ky * g.kw + kx) * g.f + q];
            }
        }
        y[o] = acc;
    }
}

/* one thread per input cell (i, iy, ix, c) */
static __global__ void dw_bwd_data_kernel(nn_conv_geom g, const float *dy, const float *k,
                                          float *dx)
{
    const int m = g.f / g.c;
    const size_t total = (size_t)g.n * g.h * g.w * g.c;
    NN_GPU_FOR(qi, total) {
        int c = (int)(qi % g.c);
        size_t p = qi / g.c;
        int ix = (int)(p % g.w), iy = (int)(p / g.w % g.h), i = (int)(p / ((size_t)g.w * g.h));
        int oy0, oy1, ox0, ox1;
        nn_dev_covering(iy, g.pad_top, g.sh, g.dh, g.kh, g.oh, &oy0, &oy1);
        nn_dev_covering(ix, g.pad_left, g.sw, g.dw, g.kw, g.ow, &ox0, &ox1);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++) {
            int ry = iy + g.pad_top - oy * g.sh;
            if (ry % g.dh)
                continue;
            int ky = ry / g.dh;
            for (int ox = ox0; ox <= ox1; ox++) {
                int rx = ix + g.pad_left - ox * g.sw;
                if (rx % g.dw)
                    continue;
                int kx = rx / g.dw;
                const float *go = dy + (((size_t)i * g.oh + oy) * g.ow + ox) * g.f + (size_t)c * m;
                const float *kk = k + ((size_t)ky * g.kw + kx) * g.f + (size_t)c * m;
                for (int j = 0; j < m; j++)
                    acc += go[j] * kk[j];
            }
        }
        dx[qi] = acc;
    }
}

/* one block per filter tap (ky, kx, q): sum over (i, oy, ox) */
static __global__ void dw_bwd_filter_kernel(nn_conv_geom g, const float *x, const float *dy,
                                            float *dk, float beta)
{
    const int m = g.f / g.c;
    const int tap = blockIdx.x;
    const int q = tap % g.f, kx = tap / g.f % g.kw, ky = tap / g.f / g.kw, c = q / m;
    const size_t total = (size_t)g.n * g.oh * g.ow;
    double acc = 0.0;
    for (size_t p = threadIdx.x; p < total; p += NN_RED_THREADS) {
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        int iy = oy * g.sh - g.pad_top + ky * g.dh, ix = ox * g.sw - g.pad_left + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
            continue;
        acc += (double)x[(((size_t)i * g.h + iy) * g.w + ix) * g.c + c] * dy[p * g.f + q];
    }
    double s = nn_block_sum(acc);
    if (threadIdx.x == 0)
        dk[tap] = (beta == 0.0f ? 0.0f : beta * dk[tap]) + (float)s;
}

extern "C" bool nn_gpu_depthwise_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                         const nn_tensor *k, const nn_tensor *bias, nn_act act,
                                         nn_tensor *y)
{
    (void)act; /* applied by the caller */
    size_t total = (size_t)g->n * g->oh * g->ow * g->f;
    if (total == 0)
        return false;
    dw_fwd_kernel<<<LAUNCH(total)>>>(*g, x->data, k->data, y->data);
    NN_GPU_LAUNCHED(e, "depthwise_forward");
    if (bias)
        nn_gpu_add_bias(e, y, bias, g->n * g->oh * g->ow, g->f);
    return false;
}

extern "C" void nn_gpu_depthwise_backward_data(nn_engine *e, const nn_conv_geom *g,
                                               const nn_tensor *dy, const nn_tensor *k,
                                               nn_tensor *dx)
{
    size_t total = (size_t)g->n * g->h * g->w * g->c;
    if (total == 0)
        return;
    dw_bwd_data_kernel<<<LAUNCH(total)>>>(*g, dy->data, k->data, dx->data);
    NN_GPU_LAUNCHED(e, "depthwise_backward_data");
}

extern "C" void nn_gpu_depthwise_backward_filter(nn_engine *e, const nn_conv_geom *g,
                                                 const nn_tensor *x, const nn_tensor *dy,
                                                 nn_tensor *dk, float beta)
{
    int taps = g->kh * g->kw * g->f;
    if (taps == 0)
        return;
    dw_bwd_filter_kernel<<<taps, NN_RED_THREADS, 0, nn_gpu(e)->stream>>>(*g, x->data, dy->data,
                                                                         dk->data, beta);
    NN_GPU_LAUNCHED(e, "depthwise_backward_filter");
}

/* Direct convolution kernels: the fallback for a geometry cuDNN has no
 * algorithm for (gpu_conv.c says so once). Slow but exact: the CPU engine's
 * sums, one thread per output or input cell, one block per filter tap for
 * the filter gradient (fixed-tree sums, no atomics). Keras's kernel layout
 * (kh, kw, in, out) is used as it is. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"
#include "engine/gpu/gpu_reduce.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

static __global__ void direct_fwd(nn_conv_geom g, const float *x, const float *w, float *y)
{
    const size_t total = (size_t)g.n * g.oh * g.ow * g.f;
    NN_GPU_FOR(q, total) {
        int o = (int)(q % g.f);
        size_t p = q / g.f;
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        float acc = 0.0f;
        for (int ky = 0; ky < g.kh; ky++) {
            int iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h)
                continue;
            for (int kx = 0; kx < g.kw; kx++) {
                int ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w)
                    continue;
                const float *xi = x + (((size_t)i * g.h + iy) * g.w + ix) * g.c;
                const float *wk = w + ((size_t)ky * g.kw + kx) * g.c * g.f + o;
                for (int ci = 0; ci < g.c; ci++)
                    acc += xi[ci] * wk[(size_t)ci * g.f];
            }
        }
        y[q] = acc;
    }
}

static __global__ void direct_bwd_data(nn_conv_geom g, const float *dy, const float *w,
                                       float *dx)
{
    const size_t total = (size_t)g.n * g.h * g.w * g.c;
    NN_GPU_FOR(q, total) {
        int ci = (int)(q % g.c);
        size_t p = q / g.c;
        int ix = (int)(p % g.w), iy = (int)(p / g.w % g.h), i = (int)(p / ((size_t)g.w * g.h));
        int oy0, oy1, ox0, ox1;
        nn_dev_covering(iy, g.pad_top, g.sh, g.dh, g.kh, g.oh, &oy0, &oy1);
        nn_dev_covering(ix, g.pad_left, g.sw, g.dw, g.kw, g.ow, &ox0, &ox1);
        float acc = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++) {
            int ry = iy + g.pad_top - oy * g.sh;
            if (ry % g.dh)
                continue;
            for (int ox = ox0; ox <= ox1; ox++) {
                int rx = ix + g.pad_left - ox * g.sw;
                if (rx % g.dw)
                    continue;
                const float *go = dy + (((size_t)i * g.oh + oy) * g.ow + ox) * g.f;
                const float *wk =
                    w + (((size_t)(ry / g.dh) * g.kw + rx / g.dw) * g.c + ci) * g.f;
                for (int o = 0; o < g.f; o++)
                    acc += go[o] * wk[o];
            }
        }
        dx[q] = acc;
    }
}

/* one block per kernel entry (ky, kx, ci, o): sum over (i, oy, ox) */
static __global__ void direct_bwd_filter(nn_conv_geom g, const float *x, const float *dy,
                                         float *dw, float beta)
{
    const size_t tap = blockIdx.x;
    const int o = (int)(tap % g.f), ci = (int)(tap / g.f % g.c);
    const int kx = (int)(tap / ((size_t)g.f * g.c) % g.kw), ky = (int)(tap / ((size_t)g.f * g.c * g.kw));
    const size_t total = (size_t)g.n * g.oh * g.ow;
    double acc = 0.0;
    for (size_t p = threadIdx.x; p < total; p += NN_RED_THREADS) {
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        int iy = oy * g.sh - g.pad_top + ky * g.dh, ix = ox * g.sw - g.pad_left + kx * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
            continue;
        acc += (double)x[(((size_t)i * g.h + iy) * g.w + ix) * g.c + ci] * dy[p * g.f + o];
    }
    double s = nn_block_sum(acc);
    if (threadIdx.x == 0)
        dw[tap] = (beta == 0.0f ? 0.0f : beta * dw[tap]) + (float)s;
}

extern "C" void nn_gpu_conv_direct_forward(nn_engine *e, const nn_conv_geom *g, const float *x,
                                           const float *w, float *y)
{
    size_t total = (size_t)g->n * g->oh * g->ow * g->f;
    if (total == 0)
        return;
    direct_fwd<<<LAUNCH(total)>>>(*g, x, w, y);
    NN_GPU_LAUNCHED(e, "direct conv forward");
}

extern "C" void nn_gpu_conv_direct_backward_data(nn_engine *e, const nn_conv_geom *g,
                                                 const float *dy, const float *w, float *dx)
{
    size_t total = (size_t)g->n * g->h * g->w * g->c;
    if (total == 0)
        return;
    direct_bwd_data<<<LAUNCH(total)>>>(*g, dy, w, dx);
    NN_GPU_LAUNCHED(e, "direct conv input gradient");
}

extern "C" void nn_gpu_conv_direct_backward_filter(nn_engine *e, const nn_conv_geom *g,
                                                   const float *x, const float *dy, float *dw,
                                                   float beta)
{
    size_t taps = (size_t)g->kh * g->kw * g->c * g->f;
    if (taps == 0)
        return;
    direct_bwd_filter<<<(unsigned)taps, NN_RED_THREADS, 0, nn_gpu(e)->stream>>>(*g, x, dy, dw,
                                                                                beta);
    NN_GPU_LAUNCHED(e, "direct conv filter gradient");
}

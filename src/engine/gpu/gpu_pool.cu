/* Pooling with the CPU engine's rules (cpu_conv.c): padding cells never win
 * a max nor count in an average, dilation allowed, the gradient of a max
 * goes to the window's first maximum. cuDNN's pooling has neither dilation
 * nor that tie rule, so these are our own kernels. The backward pass
 * gathers per input cell over the windows that cover it, in the CPU's
 * order: deterministic, no atomics. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

/* one thread per output (i, oy, ox, ch) */
static __global__ void pool_fwd_kernel(nn_pool_kind kind, nn_conv_geom g, const float *x,
                                       float *y)
{
    const size_t total = (size_t)g.n * g.oh * g.ow * g.c;
    NN_GPU_FOR(o, total) {
        int ch = (int)(o % g.c);
        size_t p = o / g.c;
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        const float *xi = x + (size_t)i * g.h * g.w * g.c;
        float best = -FLT_MAX, sum = 0.0f;
        int count = 0;
        for (int ky = 0; ky < g.kh; ky++) {
            int iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h)
                continue;
            for (int kx = 0; kx < g.kw; kx++) {
                int ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w)
                    continue;
                float v = xi[((size_t)iy * g.w + ix) * g.c + ch];
                count++;
                best = v > best ? v : best;
                sum += v;
            }
        }
        y[o] = kind == NN_POOL_MAX ? best : (count > 0 ? sum / (float)count : 0.0f);
    }
}

/* win[o]: the input cell (iy * w + ix) that takes a max window's gradient:
 * the first in (ky, kx) order equal to the output, -1 when none is. */
static __global__ void pool_argmax_kernel(nn_conv_geom g, const float *x, const float *y,
                                          int *win)
{
    const size_t total = (size_t)g.n * g.oh * g.ow * g.c;
    NN_GPU_FOR(o, total) {
        int ch = (int)(o % g.c);
        size_t p = o / g.c;
        int ox = (int)(p % g.ow), oy = (int)(p / g.ow % g.oh), i = (int)(p / ((size_t)g.ow * g.oh));
        const float *xi = x + (size_t)i * g.h * g.w * g.c;
        int at = -1;
        for (int ky = 0; ky < g.kh && at < 0; ky++) {
            int iy = oy * g.sh - g.pad_top + ky * g.dh;
            if (iy < 0 || iy >= g.h)
                continue;
            for (int kx = 0; kx < g.kw && at < 0; kx++) {
                int ix = ox * g.sw - g.pad_left + kx * g.dw;
                if (ix < 0 || ix >= g.w)
                    continue;
                if (xi[((size_t)iy * g.w + ix) * g.c + ch] == y[o])
                    at = iy * g.w + ix;
            }
        }
        win[o] = at;
    }
}

/* one thread per input cell (i, iy, ix, ch) */
static __global__ void pool_bwd_kernel(nn_pool_kind kind, nn_conv_geom g, const float *dy,
                                       const int *win, float *dx)
{
    const size_t total = (size_t)g.n * g.h * g.w * g.c;
    NN_GPU_FOR(q, total) {
        int ch = (int)(q % g.c);
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
                size_t o = (((size_t)i * g.oh + oy) * g.ow + ox) * g.c + ch;
                if (kind == NN_POOL_MAX) {
                    if (win[o] == iy * g.w + ix)
                        acc += dy[o];
                } else {
                    int count = 0;
                    for (int ky = 0; ky < g.kh; ky++) {
                        int yy = oy * g.sh - g.pad_top + ky * g.dh;
                        if (yy < 0 || yy >= g.h)
                            continue;
                        for (int kx = 0; kx < g.kw; kx++) {
                            int xx = ox * g.sw - g.pad_left + kx * g.dw;
                            count += xx >= 0 && xx < g.w;
                        }
                    }
                    acc += dy[o] / (float)count;
                }
            }
        }
        dx[q] = acc;
    }
}

extern "C" void nn_gpu_pool2d_forward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                                      const nn_tensor *x, nn_tensor *y)
{
    size_t total = (size_t)g->n * g->oh * g->ow * g->c;
    if (total == 0)
        return;
    pool_fwd_kernel<<<LAUNCH(total)>>>(kind, *g, x->data, y->data);
    NN_GPU_LAUNCHED(e, "pool2d_forward");
}

extern "C" void nn_gpu_pool2d_backward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                                       const nn_tensor *x, const nn_tensor *y,
                                       const nn_tensor *dy, nn_tensor *dx)
{
    size_t outs = (size_t)g->n * g->oh * g->ow * g->c, ins = (size_t)g->n * g->h * g->w * g->c;
    if (ins == 0)
        return;
    int *win = NULL;
    if (kind == NN_POOL_MAX && outs > 0) {
        win = (int *)nn_gpu_scratch(e, NN_GPU_SCRATCH_POOL, outs * sizeof(int));
        if (!win)
            return;
        pool_argmax_kernel<<<LAUNCH(outs)>>>(*g, x->data, y->data, win);
    }
    pool_bwd_kernel<<<LAUNCH(ins)>>>(kind, *g, dy->data, win, dx->data);
    NN_GPU_LAUNCHED(e, "pool2d_backward");
}

/* Depthwise convolution by direct loops (one small filter per channel: no
 * GEMM to hand it to), channels-last. */
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

#define DW_MAX_THREADS 64

/* The kernels below take one output row or one image at a time, compiled
 * for AVX-512, AVX2 and the baseline (NN_KERNEL): every tap is a vector
 * operation over the channels. depth_multiplier 1 (Keras's default, every
 * Applications network) has its own loop: out[c] += in[c] * k[c]; the
 * general case (m outputs per channel) keeps the c x m nest. */

/* output row oy of image xi into yrow (ow x f) */
NN_KERNEL static void dw_fwd_row(const nn_conv_geom *g, int m, const float *restrict xi,
                                 const float *restrict k, float *restrict yrow, int oy)
{
    const int nc = g->c;
    for (int ox = 0; ox < g->ow; ox++) {
        float *restrict out = yrow + (size_t)ox * g->f;
        memset(out, 0, sizeof(float) * (size_t)g->f);
        for (int ky = 0; ky < g->kh; ky++) {
            int iy = oy * g->sh - g->pad_top + ky * g->dh;
            if (iy < 0 || iy >= g->h)
                continue;
            for (int kx = 0; kx < g->kw; kx++) {
                int ix = ox * g->sw - g->pad_left + kx * g->dw;
                if (ix < 0 || ix >= g->w)
                    continue;
                const float *restrict in = xi + ((size_t)iy * g->w + ix) * nc;
                const float *restrict kk = k + ((size_t)ky * g->kw + kx) * g->f;
                if (m == 1)
                    for (int c = 0; c < nc; c++)
                        out[c] += in[c] * kk[c];
                else
                    for (int c = 0; c < nc; c++)
                        for (int j = 0; j < m; j++)
                            out[c * m + j] += in[c] * kk[c * m + j];
            }
        }
    }
}

/* one image's input gradient di (zeroed by the caller) from its dyi */
NN_KERNEL static void dw_data_image(const nn_conv_geom *g, int m, const float *restrict dyi,
                                    const float *restrict k, float *restrict di)
{
    const int nc = g->c;
    for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
            const float *restrict go = dyi + ((size_t)oy * g->ow + ox) * g->f;
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pad_top + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = ox * g->sw - g->pad_left + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    float *restrict d = di + ((size_t)iy * g->w + ix) * nc;
                    const float *restrict kk = k + ((size_t)ky * g->kw + kx) * g->f;
                    if (m == 1)
                        for (int c = 0; c < nc; c++)
                            d[c] += go[c] * kk[c];
                    else
                        for (int c = 0; c < nc; c++)
                            for (int j = 0; j < m; j++)
                                d[c] += go[c * m + j] * kk[c * m + j];
                }
            }
        }
}

/* one image's filter gradient added into acc */
NN_KERNEL static void dw_filter_image(const nn_conv_geom *g, int m, const float *restrict xi,
                                      const float *restrict dyi, float *restrict acc)
{
    const int nc = g->c;
    for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
            const float *restrict go = dyi + ((size_t)oy * g->ow + ox) * g->f;
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pad_top + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = ox * g->sw - g->pad_left + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    const float *restrict in = xi + ((size_t)iy * g->w + ix) * nc;
                    float *restrict a = acc + ((size_t)ky * g->kw + kx) * g->f;
                    if (m == 1)
                        for (int c = 0; c < nc; c++)
                            a[c] += in[c] * go[c];
                    else
                        for (int c = 0; c < nc; c++)
                            for (int j = 0; j < m; j++)
                                a[c * m + j] += in[c] * go[c * m + j];
                }
            }
        }
}

void nn_cpu_depthwise_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *xt,
                              const nn_tensor *kt, nn_tensor *yt)
{
    const float *x = xt->data, *k = kt->data;
    float *y = yt->data;
    const int m = g->f / g->c;
    const size_t rows = (size_t)g->n * g->oh;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if (rows * g->ow * g->f > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        int i = (int)(r / g->oh), oy = (int)(r % g->oh);
        dw_fwd_row(g, m, x + (size_t)i * g->h * g->w * g->c, k, y + r * g->ow * g->f, oy);
    }
}

void nn_cpu_depthwise_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dyt,
                                    const nn_tensor *kt, nn_tensor *dxt)
{
    const float *dy = dyt->data, *k = kt->data;
    float *dx = dxt->data;
    const int m = g->f / g->c;
    const size_t img = (size_t)g->h * g->w * g->c, out = (size_t)g->oh * g->ow * g->f;
    memset(dx, 0, sizeof(float) * img * (size_t)g->n);
#pragma omp parallel for num_threads(e->threads) schedule(static) if (g->n > 1)
    for (int i = 0; i < g->n; i++)
        dw_data_image(g, m, dy + (size_t)i * out, k, dx + (size_t)i * img);
}

void nn_cpu_depthwise_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *xt,
                                      const nn_tensor *dyt, nn_tensor *dkt, float beta)
{
    const float *x = xt->data, *dy = dyt->data;
    float *dk = dkt->data;
    const int m = g->f / g->c;
    const size_t ksize = (size_t)g->kh * g->kw * g->f;
    int threads = e->threads < DW_MAX_THREADS ? e->threads : DW_MAX_THREADS;
    if (threads < 1 || g->n < threads)
        threads = 1;
    /* per-thread partial filter gradients over image chunks, added in order */
    float *part = nn_cpu_scratch(e, NN_SCRATCH_DEPTHWISE, (size_t)threads * ksize * sizeof(float));
    if (part)
        memset(part, 0, (size_t)threads * ksize * sizeof(float));
    else
        threads = 1;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        int chunk = (g->n + threads - 1) / threads;
        int i0 = t * chunk, i1 = i0 + chunk < g->n ? i0 + chunk : g->n;
        float *acc = part ? part + (size_t)t * ksize : NULL;
        if (!acc) { /* no memory for partials: accumulate straight into dk */
            acc = dk;
            for (size_t q = 0; q < ksize; q++)
                acc[q] *= beta;
        }
        const size_t img = (size_t)g->h * g->w * g->c, out = (size_t)g->oh * g->ow * g->f;
        for (int i = i0; i < i1; i++)
            dw_filter_image(g, m, x + (size_t)i * img, dy + (size_t)i * out, acc);
    }
    if (part) {
        for (size_t q = 0; q < ksize; q++) {
            float s = beta == 0.0f ? 0.0f : beta * dk[q];
            for (int t = 0; t < threads; t++)
                s += part[(size_t)t * ksize + q];
            dk[q] = s;
        }
    }
}

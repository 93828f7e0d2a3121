/* Depthwise convolution by direct loops (one small filter per channel: no
 * GEMM to hand it to), channels-last. */
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

#define DW_MAX_THREADS 64

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
        const float *xi = x + (size_t)i * g->h * g->w * g->c;
        for (int ox = 0; ox < g->ow; ox++) {
            float *out = y + (r * g->ow + ox) * g->f;
            memset(out, 0, sizeof(float) * (size_t)g->f);
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->pad_top + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = ox * g->sw - g->pad_left + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    const float *in = xi + ((size_t)iy * g->w + ix) * g->c;
                    const float *kk = k + ((size_t)ky * g->kw + kx) * g->f;
                    for (int c = 0; c < g->c; c++)
                        for (int j = 0; j < m; j++)
                            out[c * m + j] += in[c] * kk[c * m + j];
                }
            }
        }
    }
}

void nn_cpu_depthwise_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dyt,
                                    const nn_tensor *kt, nn_tensor *dxt)
{
    const float *dy = dyt->data, *k = kt->data;
    float *dx = dxt->data;
    const int m = g->f / g->c;
    const size_t img = (size_t)g->h * g->w * g->c;
    memset(dx, 0, sizeof(float) * img * (size_t)g->n);
#pragma omp parallel for num_threads(e->threads) schedule(static) if (g->n > 1)
    for (int i = 0; i < g->n; i++) {
        float *di = dx + (size_t)i * img;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const float *go = dy + (((size_t)i * g->oh + oy) * g->ow + ox) * g->f;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = oy * g->sh - g->pad_top + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = ox * g->sw - g->pad_left + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        float *d = di + ((size_t)iy * g->w + ix) * g->c;
                        const float *kk = k + ((size_t)ky * g->kw + kx) * g->f;
                        for (int c = 0; c < g->c; c++)
                            for (int j = 0; j < m; j++)
                                d[c] += go[c * m + j] * kk[c * m + j];
                    }
                }
            }
    }
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
        for (int i = i0; i < i1; i++) {
            const float *xi = x + (size_t)i * g->h * g->w * g->c;
            for (int oy = 0; oy < g->oh; oy++)
                for (int ox = 0; ox < g->ow; ox++) {
                    const float *go = dy + (((size_t)i * g->oh + oy) * g->ow + ox) * g->f;
                    for (int ky = 0; ky < g->kh; ky++) {
                        int iy = oy * g->sh - g->pad_top + ky * g->dh;
                        if (iy < 0 || iy >= g->h)
                            continue;
                        for (int kx = 0; kx < g->kw; kx++) {
                            int ix = ox * g->sw - g->pad_left + kx * g->dw;
                            if (ix < 0 || ix >= g->w)
                                continue;
                            const float *in = xi + ((size_t)iy * g->w + ix) * g->c;
                            float *a = acc + ((size_t)ky * g->kw + kx) * g->f;
                            for (int c = 0; c < g->c; c++)
                                for (int j = 0; j < m; j++)
                                    a[c * m + j] += in[c] * go[c * m + j];
                        }
                    }
                }
        }
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

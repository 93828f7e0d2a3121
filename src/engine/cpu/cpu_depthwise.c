/* Depthwise convolution by direct loops (one small filter per channel: no
 * GEMM to hand it to), channels-last. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"
#include "engine/fastmath.h"

#define DW_MAX_THREADS 64

/* The kernels below take one output row or one image at a time, compiled
 * for AVX-512, AVX2 and the baseline (NN_KERNEL): every tap is a vector
 * operation over the channels. depth_multiplier 1 (Keras's default, every
 * Applications network) has its own loop: out[c] += in[c] * k[c]; the
 * general case (m outputs per channel) keeps the c x m nest. */

/* The taps along one axis that land inside the input: the k in [*k0, *k1)
 * with 0 <= base + k * d < n (base: the output position's first input
 * index, negative in the padding). */
static inline void axis_taps(int base, int d, int k, int n, int *k0, int *k1)
{
    int lo = base >= 0 ? 0 : (-base + d - 1) / d;
    int hi = base >= n ? 0 : (n - 1 - base) / d + 1;
    *k0 = lo;
    *k1 = hi < k ? hi : k;
    if (*k1 < *k0)
        *k1 = *k0;
}

/* output row oy of image xi into yrow (ow x f), starting from the bias
 * (NULL: 0), then the activation while each pixel's outputs are in cache:
 * clamped to [lo, hi] (ReLU is [0, inf], ReLU6 [0, 6]), or swish */
NN_KERNEL static void dw_fwd_row(const nn_conv_geom *g, int m, const float *restrict xi,
                                 const float *restrict k, const float *restrict bias, float lo,
                                 float hi, bool swish, float *restrict yrow, int oy)
{
    const int nc = g->c;
    for (int ox = 0; ox < g->ow; ox++) {
        float *restrict out = yrow + (size_t)ox * g->f;
        if (bias)
            memcpy(out, bias, sizeof(float) * (size_t)g->f);
        else
            memset(out, 0, sizeof(float) * (size_t)g->f);
        int by = oy * g->sh - g->pad_top, bx = ox * g->sw - g->pad_left, ky0, ky1, kx0, kx1;
        axis_taps(by, g->dh, g->kh, g->h, &ky0, &ky1);
        axis_taps(bx, g->dw, g->kw, g->w, &kx0, &kx1);
        for (int ky = ky0; ky < ky1; ky++) {
            for (int kx = kx0; kx < kx1; kx++) {
                const float *restrict in =
                    xi + ((size_t)(by + ky * g->dh) * g->w + bx + kx * g->dw) * nc;
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
        if (lo > -INFINITY || hi < INFINITY)
            for (int c = 0; c < g->f; c++)
                out[c] = nn_clampf(out[c], lo, hi);
        else if (swish)
            for (int c = 0; c < g->f; c++)
                out[c] *= nn_sigmoidf(out[c]); /* cpu_act.c's swish */
    }
}

/* One image's backward pass over every (output pixel, tap) pair, its
 * output gradient dyi against either the kernel (filter false: the input
 * gradient, img += dyi * tap, img zeroed by the caller) or the input
 * (filter true: the filter gradient, tap += img * dyi, tap an accumulator
 * of kh x kw x f). */
NN_KERNEL static void dw_back_image(const nn_conv_geom *g, int m, bool filter,
                                    const float *restrict dyi, float *img, float *tap)
{
    const int nc = g->c;
    for (int oy = 0; oy < g->oh; oy++)
        for (int ox = 0; ox < g->ow; ox++) {
            const float *restrict go = dyi + ((size_t)oy * g->ow + ox) * g->f;
            int by = oy * g->sh - g->pad_top, bx = ox * g->sw - g->pad_left, ky0, ky1, kx0, kx1;
            axis_taps(by, g->dh, g->kh, g->h, &ky0, &ky1);
            axis_taps(bx, g->dw, g->kw, g->w, &kx0, &kx1);
            for (int ky = ky0; ky < ky1; ky++)
                for (int kx = kx0; kx < kx1; kx++) {
                    float *restrict v = img + ((size_t)(by + ky * g->dh) * g->w + bx + kx * g->dw) * nc;
                    float *restrict t = tap + ((size_t)ky * g->kw + kx) * g->f;
                    if (filter && m == 1)
                        for (int c = 0; c < nc; c++)
                            t[c] += v[c] * go[c];
                    else if (filter)
                        for (int c = 0; c < nc; c++)
                            for (int j = 0; j < m; j++)
                                t[c * m + j] += v[c] * go[c * m + j];
                    else if (m == 1)
                        for (int c = 0; c < nc; c++)
                            v[c] += go[c] * t[c];
                    else
                        for (int c = 0; c < nc; c++)
                            for (int j = 0; j < m; j++)
                                v[c] += go[c * m + j] * t[c * m + j];
                }
        }
}

bool nn_cpu_depthwise_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *xt,
                              const nn_tensor *kt, const nn_tensor *bias, nn_act act,
                              nn_tensor *yt)
{
    const float *x = xt->data, *k = kt->data, *b = bias ? bias->data : NULL;
    float *y = yt->data;
    const bool fused = nn_cpu_pass_act(act), clamp = act == NN_ACT_RELU || act == NN_ACT_RELU6;
    const float lo = clamp ? 0.0f : -INFINITY, hi = act == NN_ACT_RELU6 ? 6.0f : INFINITY;
    const int m = g->f / g->c;
    const size_t rows = (size_t)g->n * g->oh;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if (rows * g->ow * g->f > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        int i = (int)(r / g->oh), oy = (int)(r % g->oh);
        dw_fwd_row(g, m, x + (size_t)i * g->h * g->w * g->c, k, b, lo, hi, act == NN_ACT_SWISH,
                   y + r * g->ow * g->f, oy);
    }
    return fused;
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
        dw_back_image(g, m, false, dy + (size_t)i * out, dx + (size_t)i * img, (float *)k);
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
            dw_back_image(g, m, true, dy + (size_t)i * out, (float *)x + (size_t)i * img, acc);
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

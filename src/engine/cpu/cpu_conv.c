/* Convolution as im2col + one GEMM per chunk of images, in channels-last
 * layout: with Keras's (kh, kw, in, out) kernels the patch matrix times the
 * kernel (reshaped to kh*kw*in x out) is the NHWC output itself, so no
 * transposes are needed either way. Pooling is a direct loop. */
#include <float.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

/* Patch matrices are built for this many floats at most at a time. */
#define CONV_WS_FLOATS ((size_t)8 << 20)

static size_t patch_size(const nn_conv_geom *g) { return (size_t)g->kh * g->kw * g->c; }

static bool is_pointwise(const nn_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pad_top == 0 &&
           g->pad_left == 0 && g->oh == g->h && g->ow == g->w;
}

static int chunk_images(const nn_conv_geom *g)
{
    size_t per = (size_t)g->oh * g->ow * patch_size(g);
    size_t k = per ? CONV_WS_FLOATS / per : 1;
    if (k < 1)
        k = 1;
    return (int)(k < (size_t)g->n ? k : (size_t)g->n);
}

size_t nn_cpu_conv_workspace(nn_engine *e, const nn_conv_geom *g)
{
    (void)e;
    if (is_pointwise(g))
        return 0;
    return (size_t)chunk_images(g) * g->oh * g->ow * patch_size(g);
}

/* cols[(i*oh + oy)*ow + ox][(ky*kw + kx)*c + ch] = x[n0+i][iy][ix][ch], 0 outside */
static void im2col(const nn_conv_geom *g, const float *x, int n0, int nb, float *cols,
                   int threads)
{
    const size_t K = patch_size(g), rows = (size_t)nb * g->oh * g->ow;
    const size_t img = (size_t)g->h * g->w * g->c;
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * K > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        int i = (int)(r / ((size_t)g->oh * g->ow));
        int oy = (int)(r / g->ow % g->oh), ox = (int)(r % g->ow);
        const float *xi = x + (size_t)(n0 + i) * img;
        float *dst = cols + r * K;
        const int ix0 = ox * g->sw - g->pad_left;
        /* the window's row lies inside the image: its kw * c values are one
         * contiguous run of the input row (no dilation) */
        const bool run = g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
        for (int ky = 0; ky < g->kh; ky++) {
            int iy = oy * g->sh - g->pad_top + ky * g->dh;
            if (run && iy >= 0 && iy < g->h) {
                memcpy(dst + (size_t)ky * g->kw * g->c, xi + ((size_t)iy * g->w + ix0) * g->c,
                       (size_t)g->kw * g->c * sizeof(float));
                continue;
            }
            for (int kx = 0; kx < g->kw; kx++) {
                int ix = ox * g->sw - g->pad_left + kx * g->dw;
                float *d = dst + ((size_t)ky * g->kw + kx) * g->c;
                /* plain loops: few channels (1 for MNIST) make memcpy calls
                 * cost more than the copy */
                if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) {
                    for (int ch = 0; ch < g->c; ch++)
                        d[ch] = 0.0f;
                } else {
                    const float *src = xi + ((size_t)iy * g->w + ix) * g->c;
                    for (int ch = 0; ch < g->c; ch++)
                        d[ch] = src[ch];
                }
            }
        }
    }
}

/* The adjoint of im2col: dx[n0+i] += the patch gradients. Images are
 * independent, so threads split them and the sums stay in a fixed order. */
static void col2im(const nn_conv_geom *g, const float *cols, int n0, int nb, float *dx,
                   int threads)
{
    const size_t K = patch_size(g), img = (size_t)g->h * g->w * g->c;
#pragma omp parallel for num_threads(threads) schedule(static) if (nb > 1)
    for (int i = 0; i < nb; i++) {
        float *di = dx + (size_t)(n0 + i) * img;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                const float *src = cols + (((size_t)i * g->oh + oy) * g->ow + ox) * K;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = oy * g->sh - g->pad_top + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = ox * g->sw - g->pad_left + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        const float *s = src + ((size_t)ky * g->kw + kx) * g->c;
                        float *d = di + ((size_t)iy * g->w + ix) * g->c;
                        for (int ch = 0; ch < g->c; ch++)
                            d[ch] += s[ch];
                    }
                }
            }
    }
}

/* im2col + one product per chunk of images */
static void conv_forward_gemm(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                              const nn_tensor *w, nn_tensor *y, nn_tensor *ws)
{
    const int K = (int)patch_size(g), pix = g->oh * g->ow;
    if (is_pointwise(g)) {
        e->ops->gemm(e, false, false, g->n * pix, g->f, K, 1.0f, x, w, 0.0f, y);
        return;
    }
    const int chunk = chunk_images(g);
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        int nb = g->n - n0 < chunk ? g->n - n0 : chunk;
        im2col(g, x->data, n0, nb, ws->data, e->threads);
        nn_tensor cols = nn_tensor_view(ws, 0, (size_t)nb * pix * K);
        nn_tensor out = nn_tensor_view(y, (size_t)n0 * pix * g->f, (size_t)nb * pix * g->f);
        e->ops->gemm(e, false, false, nb * pix, g->f, K, 1.0f, &cols, w, 0.0f, &out);
    }
}

bool nn_cpu_conv2d_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *w, const nn_tensor *bias, nn_act act, nn_tensor *y,
                           nn_tensor *ws)
{
    /* oneDNN adds the bias, and applies a ReLU, ReLU6 or swish, in its own
     * pass over the output (post-ops): the output is written once, not
     * read back twice */
    const bool fused = nn_cpu_pass_act(act);
    if (nn_cpu_dnnl_conv(e, NN_DNNL_FWD, g, x, w, bias ? bias->data : NULL, y->data,
                         fused ? act : NN_ACT_LINEAR))
        return fused;
    conv_forward_gemm(e, g, x, w, y, ws);
    if (bias)
        e->ops->add_bias(e, y, bias, g->n * g->oh * g->ow, g->f);
    return false;
}

void nn_cpu_conv2d_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                 const nn_tensor *w, nn_tensor *dx, nn_tensor *ws)
{
    if (nn_cpu_dnnl_conv(e, NN_DNNL_BWD_DATA, g, dy, w, NULL, dx->data, NN_ACT_LINEAR))
        return;
    const int K = (int)patch_size(g), pix = g->oh * g->ow;
    if (is_pointwise(g)) {
        e->ops->gemm(e, false, true, g->n * pix, K, g->f, 1.0f, dy, w, 0.0f, dx);
        return;
    }
    memset(dx->data, 0, sizeof(float) * (size_t)g->n * g->h * g->w * g->c);
    const int chunk = chunk_images(g);
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        int nb = g->n - n0 < chunk ? g->n - n0 : chunk;
        nn_tensor cols = nn_tensor_view(ws, 0, (size_t)nb * pix * K);
        nn_tensor grad = nn_tensor_view(dy, (size_t)n0 * pix * g->f, (size_t)nb * pix * g->f);
        e->ops->gemm(e, false, true, nb * pix, K, g->f, 1.0f, &grad, w, 0.0f, &cols);
        col2im(g, ws->data, n0, nb, dx->data, e->threads);
    }
}

void nn_cpu_conv2d_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                   const nn_tensor *dy, nn_tensor *dw, nn_tensor *dbias,
                                   float beta, nn_tensor *ws)
{
    /* oneDNN overwrites: beta = 0 only (what the layers ask); it sums the
     * bias gradient in the same pass */
    if (beta == 0.0f && nn_cpu_dnnl_conv(e, NN_DNNL_BWD_FILTER, g, x, dy,
                                         dbias ? dbias->data : NULL, dw->data, NN_ACT_LINEAR))
        return;
    if (dbias)
        e->ops->bias_grad(e, dy, dbias, g->n * g->oh * g->ow, g->f, beta);
    const int K = (int)patch_size(g), pix = g->oh * g->ow;
    if (is_pointwise(g)) {
        e->ops->gemm(e, true, false, K, g->f, g->n * pix, 1.0f, x, dy, beta, dw);
        return;
    }
    const int chunk = chunk_images(g);
    for (int n0 = 0; n0 < g->n; n0 += chunk) {
        int nb = g->n - n0 < chunk ? g->n - n0 : chunk;
        im2col(g, x->data, n0, nb, ws->data, e->threads);
        nn_tensor cols = nn_tensor_view(ws, 0, (size_t)nb * pix * K);
        nn_tensor grad = nn_tensor_view(dy, (size_t)n0 * pix * g->f, (size_t)nb * pix * g->f);
        e->ops->gemm(e, true, false, K, g->f, nb * pix, 1.0f, &cols, &grad,
                     n0 == 0 ? beta : 1.0f, dw);
    }
}

void nn_cpu_pool2d_forward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                           const nn_tensor *xt, nn_tensor *yt)
{
    const float *restrict x = xt->data;
    float *restrict y = yt->data;
    const size_t rows = (size_t)g->n * g->oh;
    const bool max = kind == NN_POOL_MAX;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if (rows * g->ow * g->c > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        int i = (int)(r / g->oh), oy = (int)(r % g->oh);
        const float *xi = x + (size_t)i * g->h * g->w * g->c;
        for (int ox = 0; ox < g->ow; ox++) {
            float *out = y + ((r * g->ow) + ox) * g->c;
            /* channels in blocks, the running result in a local array
             * (registers) rather than read back from y at every tap */
            for (int c0 = 0; c0 < g->c; c0 += 64) {
                const int cn = g->c - c0 < 64 ? g->c - c0 : 64;
                float acc[64];
                for (int ch = 0; ch < cn; ch++)
                    acc[ch] = max ? -FLT_MAX : 0.0f;
                int count = 0;
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = oy * g->sh - g->pad_top + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        int ix = ox * g->sw - g->pad_left + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        const float *in = xi + ((size_t)iy * g->w + ix) * g->c + c0;
                        count++;
                        if (max)
                            for (int ch = 0; ch < cn; ch++)
                                acc[ch] = in[ch] > acc[ch] ? in[ch] : acc[ch];
                        else
                            for (int ch = 0; ch < cn; ch++)
                                acc[ch] += in[ch];
                    }
                }
                const float div = !max && count > 0 ? (float)count : 1.0f;
                for (int ch = 0; ch < cn; ch++)
                    out[c0 + ch] = max ? acc[ch] : acc[ch] / div;
            }
        }
    }
}

/* Max pooling whose windows do not overlap (Keras's default: strides =
 * pool_size): every input cell gets at most one window's gradient, so each
 * output row's cells are written once, rows split across threads. The
 * gradient still to route is kept per channel as a float (0 once the first
 * maximum in window order took it) so the channel loop is one masked
 * vector select. */
static void maxpool_backward_disjoint(const nn_conv_geom *g, const float *x, const float *y,
                                      const float *dy, float *dx, int threads)
{
    const size_t rows = (size_t)g->n * g->oh;
#pragma omp parallel for num_threads(threads) schedule(static) \
    if (rows * g->ow * g->c > NN_CPU_PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        const int i = (int)(r / g->oh), oy = (int)(r % g->oh);
        const size_t img = (size_t)i * g->h * g->w * g->c;
        for (int ox = 0; ox < g->ow; ox++) {
            const size_t o = (r * g->ow + ox) * g->c;
            for (int c0 = 0; c0 < g->c; c0 += 256) {
                const int cn = g->c - c0 < 256 ? g->c - c0 : 256;
                float left[256];
                const float *yo = y + o + c0;
                memcpy(left, dy + o + c0, sizeof(float) * (size_t)cn);
                for (int ky = 0; ky < g->kh; ky++) {
                    const int iy = oy * g->sh - g->pad_top + ky * g->dh;
                    if (iy < 0 || iy >= g->h)
                        continue;
                    for (int kx = 0; kx < g->kw; kx++) {
                        const int ix = ox * g->sw - g->pad_left + kx * g->dw;
                        if (ix < 0 || ix >= g->w)
                            continue;
                        const size_t at = img + ((size_t)iy * g->w + ix) * g->c + (size_t)c0;
                        const float *xa = x + at;
                        float *da = dx + at;
                        for (int ch = 0; ch < cn; ch++) {
                            const bool hit = xa[ch] == yo[ch];
                            da[ch] = hit ? left[ch] : 0.0f;
                            left[ch] = hit ? 0.0f : left[ch];
                        }
                    }
                }
            }
        }
    }
}

void nn_cpu_pool2d_backward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                            const nn_tensor *xt, const nn_tensor *yt, const nn_tensor *dyt,
                            nn_tensor *dxt)
{
    const float *x = xt->data, *y = yt->data, *dy = dyt->data;
    float *dx = dxt->data;
    const size_t img = (size_t)g->h * g->w * g->c;
    const bool disjoint = kind == NN_POOL_MAX && g->sh >= (g->kh - 1) * g->dh + 1 &&
                          g->sw >= (g->kw - 1) * g->dw + 1;
    /* the disjoint path writes every cell a window covers: when windows
     * tile the input exactly (2x2 strides 2 on an even side) that is all
     * of it; otherwise cells no window covers (the rows and columns
     * 'valid' leaves over, gaps, padding) need their 0 from here */
    const bool tiled = g->dh == 1 && g->dw == 1 && g->sh == g->kh && g->sw == g->kw &&
                       g->pad_top == 0 && g->pad_left == 0 && g->oh * g->sh == g->h &&
                       g->ow * g->sw == g->w;
    if (!(disjoint && tiled))
        memset(dx, 0, sizeof(float) * img * (size_t)g->n);
    if (disjoint) {
        maxpool_backward_disjoint(g, x, y, dy, dx, e->threads);
        return;
    }
    /* windows may overlap: threads split images, whose dx are disjoint */
#pragma omp parallel for num_threads(e->threads) schedule(static) if (g->n > 1)
    for (int i = 0; i < g->n; i++) {
        const float *xi = x + (size_t)i * img;
        float *di = dx + (size_t)i * img;
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++) {
                size_t o = (((size_t)i * g->oh + oy) * g->ow + ox) * g->c;
                int count = 0;
                if (kind == NN_POOL_AVG)
                    for (int ky = 0; ky < g->kh; ky++)
                        for (int kx = 0; kx < g->kw; kx++) {
                            int iy = oy * g->sh - g->pad_top + ky * g->dh;
                            int ix = ox * g->sw - g->pad_left + kx * g->dw;
                            count += iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                        }
                /* channels innermost (contiguous, vectorized), in blocks so
                 * the "already routed" flags stay on the stack */
                for (int c0 = 0; c0 < g->c; c0 += 256) {
                    const int cn = g->c - c0 < 256 ? g->c - c0 : 256;
                    unsigned char routed[256];
                    memset(routed, 0, (size_t)cn);
                    const float *yo = y + o + c0, *dyo = dy + o + c0;
                    for (int ky = 0; ky < g->kh; ky++) {
                        int iy = oy * g->sh - g->pad_top + ky * g->dh;
                        if (iy < 0 || iy >= g->h)
                            continue;
                        for (int kx = 0; kx < g->kw; kx++) {
                            int ix = ox * g->sw - g->pad_left + kx * g->dw;
                            if (ix < 0 || ix >= g->w)
                                continue;
                            size_t at = ((size_t)iy * g->w + ix) * g->c + (size_t)c0;
                            const float *xa = xi + at;
                            float *da = di + at;
                            if (kind == NN_POOL_AVG) {
                                for (int ch = 0; ch < cn; ch++)
                                    da[ch] += dyo[ch] / (float)count;
                            } else {
                                /* the first maximum in window order takes it */
                                for (int ch = 0; ch < cn; ch++) {
                                    bool hit = !routed[ch] && xa[ch] == yo[ch];
                                    da[ch] += hit ? dyo[ch] : 0.0f;
                                    routed[ch] |= hit;
                                }
                            }
                        }
                    }
                }
            }
    }
}

/* Convolution on cuDNN, channels-last. Keras keeps kernels as (kh, kw, in,
 * out); cuDNN's NHWC filter layout is (out, kh, kw, in), the transpose of
 * the (kh*kw*in) x out matrix, so kernels are transposed into the caller's
 * workspace (cublasSgeam) and filter gradients transposed back. cuDNN pads
 * both sides alike: an asymmetric 'same' padding (the odd row at the
 * bottom/right) runs on an explicitly padded copy instead. Algorithms are
 * measured once per geometry (cudnnFind*Ex, deterministic ones preferred)
 * within a workspace limit, and cached. A geometry cuDNN rejects runs on
 * our direct kernels instead (gpu_conv_direct.cu), with a note on stderr.
 *
 * Mixed precision (e->precision fp16 or bf16): the plan's tensors are
 * fp16/bf16 with fp32 compute on the tensor cores; each pass converts what
 * it reads (the kernel once per update, kept by gpu_mixed.c) and converts
 * its result back to the fp32 tensor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gpu/gpu_internal.h"

#define CONV_PLANS 32
#define ALGOS 16

typedef struct conv_plan {
    nn_conv_geom g; /* the key, with prec */
    nn_precision prec;
    bool padded;    /* cuDNN sees a padded copy of size (hp, wp) */
    int hp, wp;
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    bool have_fwd, have_bwd_data, have_bwd_filter;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
    bool direct; /* cuDNN cannot: our kernels run it */
} conv_plan;

struct nn_gpu_conv_cache {
    conv_plan plans[CONV_PLANS];
    int n, next; /* filled; the next to replace once full */
};

static size_t patch(const nn_conv_geom *g) { return (size_t)g->kh * g->kw * g->c; }

/* cuDNN says it cannot (a bad or unsupported parameter, a sub-library it
 * cannot load) rather than that something broke: the direct kernels can. */
static bool soft_fail(cudnnStatus_t rc)
{
    int k = (int)rc;
    return k == CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED || (k >= 2000 && k < 4000);
}

static void go_direct(conv_plan *p, const char *what, const char *why)
{
    if (!p->direct)
        fprintf(stderr, "nnctl: gpu engine: cuDNN cannot run a %dx%d convolution (stride %dx%d, "
                        "dilation %dx%d; %s: %s): our direct kernels run it (slower)\n",
                p->g.kh, p->g.kw, p->g.sh, p->g.sw, p->g.dh, p->g.dw, what, why);
    p->direct = true;
}

/* true when rc is success, or a soft failure that sends p to the direct
 * kernels; false (and the engine's error set) otherwise */
static bool dnn_ok(nn_engine *e, conv_plan *p, cudnnStatus_t rc, const char *what)
{
    if (rc == CUDNN_STATUS_SUCCESS)
        return true;
    if (soft_fail(rc)) {
        go_direct(p, what, cudnnGetErrorString(rc));
        return true;
    }
    return nn_gpu_check_dnn(e, rc, what);
}

/* cuDNN's output size with the same padding on both sides (its rule), to
 * see whether Keras's windows are what cuDNN would compute. */
static int cudnn_out(int in, int pad, int k, int s, int d)
{
    int span = (k - 1) * d + 1, room = in + 2 * pad - span;
    return room < 0 ? 0 : room / s + 1;
}

static bool needs_padding(const nn_conv_geom *g)
{
    return cudnn_out(g->h, g->pad_top, g->kh, g->sh, g->dh) != g->oh ||
           cudnn_out(g->w, g->pad_left, g->kw, g->sw, g->dw) != g->ow;
}

/* The padded input: exactly the rows and columns the windows reach. */
static void padded_size(const nn_conv_geom *g, int *hp, int *wp)
{
    *hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    *wp = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
}

/* Caller workspace: [W^T (f x K) | dW^T (f x K) | padded x or dx]. */
size_t nn_gpu_conv_workspace(nn_engine *e, const nn_conv_geom *g)
{
    (void)e;
    size_t n = 2 * patch(g) * (size_t)g->f;
    if (needs_padding(g)) {
        int hp, wp;
        padded_size(g, &hp, &wp);
        n += (size_t)g->n * hp * wp * g->c;
    }
    return n;
}

static void plan_destroy(conv_plan *p)
{
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
    memset(p, 0, sizeof *p);
}

void nn_gpu_conv_cache_free(nn_engine *e)
{
    nn_gpu_conv_cache *c = nn_gpu(e)->conv;
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        plan_destroy(&c->plans[i]);
    free(c);
    nn_gpu(e)->conv = NULL;
}

static bool plan_init(nn_engine *e, conv_plan *p, const nn_conv_geom *g)
{
    gpu_impl *gi = nn_gpu(e);
    memset(p, 0, sizeof *p);
    p->g = *g;
    p->prec = nn_gpu_low(e) ? e->precision : NN_PREC_FLOAT32;
    const bool low = p->prec != NN_PREC_FLOAT32;
    const cudnnDataType_t dt = low ? nn_gpu_cudnn_type(p->prec) : CUDNN_DATA_FLOAT;
    p->direct = gi->conv_direct;
    if (p->direct)
        return true;
    p->padded = needs_padding(g);
    int pad_h = g->pad_top, pad_w = g->pad_left;
    p->hp = g->h, p->wp = g->w;
    if (p->padded) {
        padded_size(g, &p->hp, &p->wp);
        pad_h = pad_w = 0;
    }
    if (!nn_gpu_check_dnn(e, cudnnCreateTensorDescriptor(&p->xd), "conv descriptors") ||
        !nn_gpu_check_dnn(e, cudnnCreateTensorDescriptor(&p->yd), "conv descriptors") ||
        !nn_gpu_check_dnn(e, cudnnCreateFilterDescriptor(&p->wd), "conv descriptors") ||
        !nn_gpu_check_dnn(e, cudnnCreateConvolutionDescriptor(&p->cd), "conv descriptors"))
        return false;
    /* FP32 FMAs unless TF32 was asked for: results match the CPU engine.
     * fp16/bf16: tensor cores, accumulating in fp32 (compute type float) */
    cudnnStatus_t rc = cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NHWC, dt, g->n, g->c,
                                                  p->hp, p->wp);
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NHWC, dt, g->n, g->f, g->oh, g->ow);
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = cudnnSetFilter4dDescriptor(p->wd, dt, CUDNN_TENSOR_NHWC, g->f, g->c, g->kh, g->kw);
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = cudnnSetConvolution2dDescriptor(p->cd, pad_h, pad_w, g->sh, g->sw, g->dh, g->dw,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = cudnnSetConvolutionMathType(p->cd, low         ? CUDNN_TENSOR_OP_MATH
                                                : gi->tf32 ? CUDNN_DEFAULT_MATH
                                                           : CUDNN_FMA_MATH);
    int on = 0, oc = 0, oh = 0, ow = 0;
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = cudnnGetConvolution2dForwardOutputDim(p->cd, p->xd, p->wd, &on, &oc, &oh, &ow);
    if (!dnn_ok(e, p, rc, "conv descriptors"))
        return false;
    if (!p->direct && (on != g->n || oc != g->f || oh != g->oh || ow != g->ow)) {
        char why[96];
        snprintf(why, sizeof why, "%dx%d outputs where %dx%d are expected", oh, ow, g->oh, g->ow);
        go_direct(p, "output size", why);
    }
    return true;
}

static conv_plan *plan_for(nn_engine *e, const nn_conv_geom *g)
{
    gpu_impl *gi = nn_gpu(e);
    if (!gi->conv && !(gi->conv = calloc(1, sizeof *gi->conv))) {
        nn_gpu_check(e, cudaErrorMemoryAllocation, "conv plan cache");
        return NULL;
    }
    nn_gpu_conv_cache *c = gi->conv;
    const nn_precision prec = nn_gpu_low(e) ? e->precision : NN_PREC_FLOAT32;
    for (int i = 0; i < c->n; i++)
        if (!memcmp(&c->plans[i].g, g, sizeof *g) && c->plans[i].prec == prec)
            return &c->plans[i];
    conv_plan *p;
    if (c->n < CONV_PLANS) {
        p = &c->plans[c->n++];
    } else {
        p = &c->plans[c->next];
        c->next = (c->next + 1) % CONV_PLANS;
        plan_destroy(p);
    }
    if (!plan_init(e, p, g)) {
        /* keep the slot empty but valid: a key no call will match */
        plan_destroy(p);
        p->g.n = -1;
        return NULL;
    }
    return p;
}

/* The engine-owned algorithm workspace: the limit, taken at the first
 * measurement (cudnnFind*Ex tries every algorithm that fits in it). */
static void *algo_workspace(nn_engine *e)
{
    return nn_gpu_scratch(e, NN_GPU_SCRATCH_CONV, nn_gpu(e)->conv_ws_limit);
}

/* The fastest deterministic algorithm that ran, else the fastest that ran;
 * -1 when none did. */
#define PICK(perf, count)                                                                     \
    ({                                                                                        \
        int pick_ = -1;                                                                       \
        for (int i_ = 0; i_ < (count) && pick_ < 0; i_++)                                    \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS &&                                 \
                (perf)[i_].determinism == CUDNN_DETERMINISTIC)                               \
                pick_ = i_;                                                                   \
        for (int i_ = 0; i_ < (count) && pick_ < 0; i_++)                                    \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS)                                   \
                pick_ = i_;                                                                   \
        pick_;                                                                                \
    })

/* Each find_*: measures the algorithms once (cudnnFind*Ex on the call's own
 * buffers, whose results are then overwritten by the real call) and keeps
 * the pick; false when the plan goes to the direct kernels or failed. */
static bool find_fwd(nn_engine *e, conv_plan *p, const void *x, const void *w, void *y)
{
    gpu_impl *gi = nn_gpu(e);
    void *ws = algo_workspace(e);
    cudnnConvolutionFwdAlgoPerf_t perf[ALGOS];
    int count = 0;
    if (!ws ||
        !dnn_ok(e, p, cudnnFindConvolutionForwardAlgorithmEx(gi->dnn, p->xd, x, p->wd, w, p->cd,
                                                             p->yd, y, ALGOS, &count, perf, ws,
                                                             gi->conv_ws_limit),
                "cudnnFindConvolutionForwardAlgorithmEx") ||
        p->direct)
        return false;
    int k = PICK(perf, count);
    if (k < 0) { /* none in FP32 (TF32 would change the numbers): our kernels */
        go_direct(p, "forward", "no FP32 algorithm ran");
        return false;
    }
    p->fwd = perf[k].algo, p->fwd_ws = perf[k].memory, p->have_fwd = true;
    return true;
}

static bool find_bwd_data(nn_engine *e, conv_plan *p, const void *w, const void *dy, void *dx)
{
    gpu_impl *gi = nn_gpu(e);
    void *ws = algo_workspace(e);
    cudnnConvolutionBwdDataAlgoPerf_t perf[ALGOS];
    int count = 0;
    if (!ws ||
        !dnn_ok(e, p, cudnnFindConvolutionBackwardDataAlgorithmEx(gi->dnn, p->wd, w, p->yd, dy,
                                                                  p->cd, p->xd, dx, ALGOS, &count,
                                                                  perf, ws, gi->conv_ws_limit),
                "cudnnFindConvolutionBackwardDataAlgorithmEx") ||
        p->direct)
        return false;
    int k = PICK(perf, count);
    if (k < 0) {
        go_direct(p, "input gradient", "no FP32 algorithm ran");
        return false;
    }
    p->bwd_data = perf[k].algo, p->bwd_data_ws = perf[k].memory, p->have_bwd_data = true;
    return true;
}

static bool find_bwd_filter(nn_engine *e, conv_plan *p, const void *x, const void *dy,
                            void *dw)
{
    gpu_impl *gi = nn_gpu(e);
    void *ws = algo_workspace(e);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[ALGOS];
    int count = 0;
    if (!ws ||
        !dnn_ok(e, p, cudnnFindConvolutionBackwardFilterAlgorithmEx(
                          gi->dnn, p->xd, x, p->yd, dy, p->cd, p->wd, dw, ALGOS, &count, perf, ws,
                          gi->conv_ws_limit),
                "cudnnFindConvolutionBackwardFilterAlgorithmEx") ||
        p->direct)
        return false;
    int k = PICK(perf, count);
    if (k < 0) {
        go_direct(p, "filter gradient", "no FP32 algorithm ran");
        return false;
    }
    p->bwd_filter = perf[k].algo, p->bwd_filter_ws = perf[k].memory;
    p->have_bwd_filter = true;
    return true;
}

/* The caller's workspace, checked against what this geometry needs. */
static float *conv_ws(nn_engine *e, const nn_conv_geom *g, nn_tensor *ws)
{
    if (!ws || ws->size < nn_gpu_conv_workspace(e, g)) {
        fprintf(stderr, "nnctl: gpu engine: convolution workspace of %zu floats, %zu needed\n",
                ws ? ws->size : 0, nn_gpu_conv_workspace(e, g));
        nn_gpu(e)->failed = true;
        return NULL;
    }
    return ws->data;
}

/* wt (f x K) = w^T, w being Keras's (K x f) kernel */
static bool transpose_kernel(nn_engine *e, const nn_conv_geom *g, const float *w, float *wt)
{
    const float one = 1.0f, zero = 0.0f;
    int K = (int)patch(g);
    /* column-major: w is f x K (ld f); wt is K x f (ld K) */
    return nn_gpu_check_blas(e, cublasSgeam(nn_gpu(e)->blas, CUBLAS_OP_T, CUBLAS_OP_N, K, g->f,
                                            &one, w, g->f, &zero, wt, K, wt, K),
                             "conv kernel transpose");
}

/* The plan for g, with the caller's workspace checked; NULL on failure. */
static conv_plan *begin(nn_engine *e, const nn_conv_geom *g, nn_tensor *ws, float **buf)
{
    if (nn_gpu(e)->failed || !(*buf = conv_ws(e, g, ws)))
        return NULL;
    return plan_for(e, g);
}

/* ---- fp16/bf16 passes: false when cuDNN cannot (p->direct: the fp32
 * direct kernels run it) or something failed ---- */

/* The kernel in cuDNN's layout (f x K, the transpose of Keras's) in the
 * pass's precision: kept per update for a layer's weights. wt: f32 room. */
static const void *kernel_low(nn_engine *e, const nn_conv_geom *g, const nn_tensor *w, float *wt)
{
    const size_t n = patch(g) * g->f;
    bool stale;
    void *buf = nn_gpu_low_weights(e, w, 0x80000000u | (unsigned)e->precision,
                                   n * NN_GPU_LOW_BYTES, &stale);
    if (!buf) {
        buf = nn_gpu_scratch(e, NN_GPU_SCRATCH_LOW_C, n * NN_GPU_LOW_BYTES);
        stale = true;
    }
    if (buf && stale) {
        if (!transpose_kernel(e, g, w->data, wt))
            return NULL;
        nn_gpu_to_low(e, e->precision, wt, 1, n, n, buf);
    }
    return buf;
}

/* n floats at x converted into scratch `slot` */
static void *low_copy(nn_engine *e, nn_gpu_scratch_slot slot, const float *x, size_t n)
{
    void *buf = nn_gpu_scratch(e, slot, n * NN_GPU_LOW_BYTES);
    if (buf && x)
        nn_gpu_to_low(e, e->precision, x, 1, n, n, buf);
    return buf;
}

static bool forward_low(nn_engine *e, conv_plan *p, const nn_conv_geom *g, const nn_tensor *x,
                        const nn_tensor *w, nn_tensor *y, float *buf)
{
    gpu_impl *gi = nn_gpu(e);
    float *wt = buf, *xp = buf + 2 * patch(g) * g->f;
    const float *xin = x->data;
    if (p->padded) {
        nn_gpu_pad_nhwc(e, x->data, xp, g->n, g->h, g->w, g->c, p->hp, p->wp, g->pad_top,
                        g->pad_left);
        xin = xp;
    }
    const size_t xn = (size_t)g->n * p->hp * p->wp * g->c, yn = (size_t)g->n * g->oh * g->ow * g->f;
    const void *w16 = kernel_low(e, g, w, wt);
    void *x16 = low_copy(e, NN_GPU_SCRATCH_LOW_A, xin, xn);
    void *y16 = low_copy(e, NN_GPU_SCRATCH_LOW_B, NULL, yn);
    const float one = 1.0f, zero = 0.0f;
    if (!w16 || !x16 || !y16 || !(p->have_fwd || find_fwd(e, p, x16, w16, y16)) ||
        !dnn_ok(e, p, cudnnConvolutionForward(gi->dnn, &one, p->xd, x16, p->wd, w16, p->cd,
                                              p->fwd, algo_workspace(e), p->fwd_ws, &zero,
                                              p->yd, y16),
                "cudnnConvolutionForward (fp16/bf16)") ||
        p->direct)
        return false;
    nn_gpu_from_low(e, p->prec, y16, y->data, yn);
    return true;
}

static bool bwd_data_low(nn_engine *e, conv_plan *p, const nn_conv_geom *g, const nn_tensor *dy,
                         const nn_tensor *w, nn_tensor *dx, float *buf)
{
    gpu_impl *gi = nn_gpu(e);
    float *wt = buf, *dxp = p->padded ? buf + 2 * patch(g) * g->f : dx->data;
    const size_t xn = (size_t)g->n * p->hp * p->wp * g->c, yn = (size_t)g->n * g->oh * g->ow * g->f;
    const void *w16 = kernel_low(e, g, w, wt);
    void *dy16 = low_copy(e, NN_GPU_SCRATCH_LOW_B, dy->data, yn);
    void *dx16 = low_copy(e, NN_GPU_SCRATCH_LOW_A, NULL, xn);
    const float one = 1.0f, zero = 0.0f;
    if (!w16 || !dy16 || !dx16 || !(p->have_bwd_data || find_bwd_data(e, p, w16, dy16, dx16)) ||
        !dnn_ok(e, p, cudnnConvolutionBackwardData(gi->dnn, &one, p->wd, w16, p->yd, dy16,
                                                   p->cd, p->bwd_data, algo_workspace(e),
                                                   p->bwd_data_ws, &zero, p->xd, dx16),
                "cudnnConvolutionBackwardData (fp16/bf16)") ||
        p->direct)
        return false;
    nn_gpu_from_low(e, p->prec, dx16, dxp, xn);
    if (p->padded)
        nn_gpu_crop_nhwc(e, dxp, dx->data, g->n, g->h, g->w, g->c, p->hp, p->wp, g->pad_top,
                         g->pad_left);
    return true;
}

/* dwt (f x K, fp32) = the filter gradient in cuDNN's layout */
static bool bwd_filter_low(nn_engine *e, conv_plan *p, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *dy, float *dwt, float *xp)
{
    gpu_impl *gi = nn_gpu(e);
    const float *xin = x->data;
    if (p->padded) {
        nn_gpu_pad_nhwc(e, x->data, xp, g->n, g->h, g->w, g->c, p->hp, p->wp, g->pad_top,
                        g->pad_left);
        xin = xp;
    }
    const size_t xn = (size_t)g->n * p->hp * p->wp * g->c, yn = (size_t)g->n * g->oh * g->ow * g->f;
    const size_t wn = patch(g) * g->f;
    void *x16 = low_copy(e, NN_GPU_SCRATCH_LOW_A, xin, xn);
    void *dy16 = low_copy(e, NN_GPU_SCRATCH_LOW_B, dy->data, yn);
    void *dw16 = low_copy(e, NN_GPU_SCRATCH_LOW_C, NULL, wn);
    const float one = 1.0f, zero = 0.0f;
    if (!x16 || !dy16 || !dw16 ||
        !(p->have_bwd_filter || find_bwd_filter(e, p, x16, dy16, dw16)) ||
        !dnn_ok(e, p, cudnnConvolutionBackwardFilter(gi->dnn, &one, p->xd, x16, p->yd, dy16,
                                                     p->cd, p->bwd_filter, algo_workspace(e),
                                                     p->bwd_filter_ws, &zero, p->wd, dw16),
                "cudnnConvolutionBackwardFilter (fp16/bf16)") ||
        p->direct)
        return false;
    nn_gpu_from_low(e, p->prec, dw16, dwt, wn);
    return true;
}

static void conv_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                         const nn_tensor *w, nn_tensor *y, nn_tensor *ws)
{
    gpu_impl *gi = nn_gpu(e);
    float *buf;
    conv_plan *p = g->n > 0 ? begin(e, g, ws, &buf) : NULL;
    if (!p)
        return;
    float *wt = buf, *xp = buf + 2 * patch(g) * g->f;
    const float *xin = x->data;
    if (!p->direct && p->prec != NN_PREC_FLOAT32) {
        if (forward_low(e, p, g, x, w, y, buf))
            return;
    } else if (!p->direct && transpose_kernel(e, g, w->data, wt)) {
        if (p->padded) {
            nn_gpu_pad_nhwc(e, x->data, xp, g->n, g->h, g->w, g->c, p->hp, p->wp, g->pad_top,
                            g->pad_left);
            xin = xp;
        }
        const float one = 1.0f, zero = 0.0f;
        if ((p->have_fwd || find_fwd(e, p, xin, wt, y->data)) &&
            dnn_ok(e, p, cudnnConvolutionForward(gi->dnn, &one, p->xd, xin, p->wd, wt, p->cd,
                                                 p->fwd, algo_workspace(e), p->fwd_ws, &zero,
                                                 p->yd, y->data),
                   "cudnnConvolutionForward") &&
            !p->direct)
            return;
    }
    if (p->direct && !gi->failed)
        nn_gpu_conv_direct_forward(e, g, x->data, w->data, y->data);
}

bool nn_gpu_conv2d_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *w, const nn_tensor *bias, nn_act act, nn_tensor *y,
                           nn_tensor *ws)
{
    (void)act; /* applied by the caller: the bias is a pass of its own here too */
    conv_forward(e, g, x, w, y, ws);
    if (bias && g->n > 0)
        nn_gpu_add_bias(e, y, bias, g->n * g->oh * g->ow, g->f);
    return false;
}

void nn_gpu_conv2d_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                 const nn_tensor *w, nn_tensor *dx, nn_tensor *ws)
{
    gpu_impl *gi = nn_gpu(e);
    float *buf;
    conv_plan *p = g->n > 0 ? begin(e, g, ws, &buf) : NULL;
    if (!p)
        return;
    float *wt = buf, *dxp = p->padded ? buf + 2 * patch(g) * g->f : dx->data;
    if (!p->direct && p->prec != NN_PREC_FLOAT32) {
        if (bwd_data_low(e, p, g, dy, w, dx, buf))
            return;
    } else if (!p->direct && transpose_kernel(e, g, w->data, wt)) {
        const float one = 1.0f, zero = 0.0f;
        if ((p->have_bwd_data || find_bwd_data(e, p, wt, dy->data, dxp)) &&
            dnn_ok(e, p, cudnnConvolutionBackwardData(gi->dnn, &one, p->wd, wt, p->yd, dy->data,
                                                      p->cd, p->bwd_data, algo_workspace(e),
                                                      p->bwd_data_ws, &zero, p->xd, dxp),
                   "cudnnConvolutionBackwardData") &&
            !p->direct) {
            if (p->padded)
                nn_gpu_crop_nhwc(e, dxp, dx->data, g->n, g->h, g->w, g->c, p->hp, p->wp,
                                 g->pad_top, g->pad_left);
            return;
        }
    }
    if (p->direct && !gi->failed)
        nn_gpu_conv_direct_backward_data(e, g, dy->data, w->data, dx->data);
}

static void conv_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                 const nn_tensor *dy, nn_tensor *dw, float beta, nn_tensor *ws)
{
    gpu_impl *gi = nn_gpu(e);
    const size_t wsz = patch(g) * g->f;
    if (g->n <= 0) { /* no samples: the gradient is beta * dw */
        if (beta == 0.0f)
            nn_gpu_fill(e, dw, 0.0f, wsz);
        else if (beta != 1.0f)
            nn_gpu_scale(e, dw, beta, wsz);
        return;
    }
    float *buf;
    conv_plan *p = begin(e, g, ws, &buf);
    if (!p)
        return;
    float *dwt = buf + wsz, *xp = buf + 2 * wsz;
    const float *xin = x->data;
    bool have_dwt = false;
    if (!p->direct && p->prec != NN_PREC_FLOAT32) {
        have_dwt = bwd_filter_low(e, p, g, x, dy, dwt, xp);
    } else if (!p->direct) {
        if (p->padded) {
            nn_gpu_pad_nhwc(e, x->data, xp, g->n, g->h, g->w, g->c, p->hp, p->wp, g->pad_top,
                            g->pad_left);
            xin = xp;
        }
        const float one = 1.0f, zero = 0.0f;
        have_dwt = (p->have_bwd_filter || find_bwd_filter(e, p, xin, dy->data, dwt)) &&
                   dnn_ok(e, p, cudnnConvolutionBackwardFilter(gi->dnn, &one, p->xd, xin, p->yd,
                                                               dy->data, p->cd, p->bwd_filter,
                                                               algo_workspace(e),
                                                               p->bwd_filter_ws, &zero, p->wd,
                                                               dwt),
                          "cudnnConvolutionBackwardFilter") &&
                   !p->direct;
    }
    if (have_dwt) {
        /* dw (K x f) = beta * dw + dwt^T; with beta = 0, dw is never read */
        const float one = 1.0f;
        int K = (int)patch(g);
        if (beta == 0.0f)
            nn_gpu_fill(e, dw, 0.0f, wsz);
        nn_gpu_check_blas(e, cublasSgeam(gi->blas, CUBLAS_OP_T, CUBLAS_OP_N, g->f, K, &one, dwt,
                                         K, &beta, dw->data, g->f, dw->data, g->f),
                          "conv filter-gradient transpose");
        return;
    }
    if (p->direct && !gi->failed)
        nn_gpu_conv_direct_backward_filter(e, g, x->data, dy->data, dw->data, beta);
}

void nn_gpu_conv2d_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                   const nn_tensor *dy, nn_tensor *dw, nn_tensor *dbias,
                                   float beta, nn_tensor *ws)
{
    conv_backward_filter(e, g, x, dy, dw, beta, ws);
    if (dbias)
        nn_gpu_bias_grad(e, dy, dbias, g->n > 0 ? g->n * g->oh * g->ow : 0, g->f, beta);
}

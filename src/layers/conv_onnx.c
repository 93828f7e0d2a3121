/* Convolutions and pooling for the ONNX export. ONNX's Conv and pooling ops
 * are channels-first, the model is channels-last: each such layer is
 * Transpose (NHWC -> NCHW), the op, Transpose back. Keras's "same" padding
 * becomes explicit pads with the odd one at the bottom/right, as Keras
 * (and nnctl's layers/conv_geom.c) place it. */
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_layer.h"
#include "layers/conv_geom.h"

/* The window settings of a layer, from its Keras config. */
typedef struct window {
    int rank;
    int k[2], s[2], d[2];
    bool same;
} window;

static void read_window(const onnx_layer *L, const char *size_key, window *w)
{
    w->rank = L->n->in[0]->ndim - 1;
    onnx_cfg_ints(L->cfg, size_key, w->rank, 1, w->k);
    onnx_cfg_ints(L->cfg, "strides", w->rank, 1, w->s);
    onnx_cfg_ints(L->cfg, "dilation_rate", w->rank, 1, w->d);
    w->same = !strcmp(onnx_cfg_str(L->cfg, "padding", "valid"), "same");
}

/* kernel_shape, strides, dilations (when wanted) and pads. */
static void window_attrs(onnx_node *nd, const onnx_layer *L, const window *w, bool dilations)
{
    int64_t k[2], s[2], d[2], pads[4];
    for (int i = 0; i < w->rank; i++) {
        int in = L->n->in[0]->shape[i], before;
        int out = nn_window_out(in, w->k[i], w->s[i], w->d[i], w->same, &before);
        int total = (out - 1) * w->s[i] + (w->k[i] - 1) * w->d[i] + 1 - in;
        if (!w->same || total < 0)
            total = 0;
        k[i] = w->k[i], s[i] = w->s[i], d[i] = w->d[i];
        pads[i] = before;
        pads[w->rank + i] = total - before;
    }
    onnx_attr_ints(nd, "kernel_shape", k, w->rank);
    onnx_attr_ints(nd, "strides", s, w->rank);
    if (dilations)
        onnx_attr_ints(nd, "dilations", d, w->rank);
    onnx_attr_ints(nd, "pads", pads, 2 * w->rank);
}

static const int64_t to_ncw[3] = {0, 2, 1}, to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};

static const char *channels_first(onnx_graph *g, const char *x, int rank)
{
    return rank == 1 ? onnx_transpose(g, x, 3, to_ncw) : onnx_transpose(g, x, 4, to_nchw);
}

static const char *channels_last(onnx_graph *g, const char *x, int rank)
{
    return rank == 1 ? onnx_transpose(g, x, 3, to_ncw) : onnx_transpose(g, x, 4, to_nhwc);
}

/* One Conv node on a channels-first x. */
static const char *conv(const onnx_layer *L, const char *x, const window *w, const char *W,
                        const char *B, int group)
{
    const char *y = onnx_fresh(L->g, "Conv");
    onnx_node nd;
    onnx_node_begin(&nd, L->g, "Conv");
    onnx_node_input(&nd, x);
    onnx_node_input(&nd, W);
    if (B)
        onnx_node_input(&nd, B);
    onnx_node_output(&nd, y);
    window_attrs(&nd, L, w, true);
    onnx_attr_int(&nd, "group", group);
    onnx_node_end(&nd);
    return y;
}

/* A Keras kernel (kh, kw, in, out) -- or (k, in, out) -- as ONNX's
 * (out, in, kh, kw) / (out, in, k) initializer. */
static const char *conv_kernel(onnx_graph *g, const char *what, const float *k, int kh, int kw,
                               int cin, int cout, int rank)
{
    float *t = malloc((size_t)kh * kw * cin * cout * sizeof *t);
    if (!t) {
        g->oom = true;
        return "";
    }
    for (int o = 0; o < cout; o++)
        for (int c = 0; c < cin; c++)
            for (int i = 0; i < kh * kw; i++)
                t[((size_t)o * cin + c) * kh * kw + i] = k[((size_t)i * cin + c) * cout + o];
    int64_t dims4[4] = {cout, cin, kh, kw}, dims3[3] = {cout, cin, kw};
    const char *name = rank == 1 ? onnx_const_float(g, what, 3, dims3, t)
                                 : onnx_const_float(g, what, 4, dims4, t);
    free(t);
    return name;
}

nn_status onnx_map_conv(onnx_layer *L, nn_error *err)
{
    const nn_param *kp = NULL;
    const float *k = onnx_param(L, "kernel", &kp), *b = onnx_param(L, "bias", NULL);
    if (!k)
        return onnx_layer_fail(L, err, "no kernel");
    window w;
    read_window(L, "kernel_size", &w);
    int kh = w.rank == 2 ? kp->shape[0] : 1, kw = kp->shape[w.rank - 1];
    int cin = kp->shape[w.rank], cout = kp->shape[w.rank + 1];
    onnx_graph *g = L->g;
    int64_t bdim[1] = {cout};
    /* grouped: the kernel (kh, kw, in / groups, out) maps as any other, and
     * Conv's group attribute splits the channels the same way */
    const char *W = conv_kernel(g, "kernel", k, kh, kw, cin, cout, w.rank);
    const char *B = b ? onnx_const_float(g, "bias", 1, bdim, b) : NULL;
    const char *y = conv(L, channels_first(g, L->in[0], w.rank), &w, W, B,
                         (int)onnx_cfg_int(L->cfg, "groups", 1));
    L->out = onnx_activation(g, channels_last(g, y, w.rank), L->n->act, L->n->act_alpha);
    return NN_OK;
}

/* DepthwiseConv2D: a grouped Conv (group = input channels) whose output
 * channel c * M + m is input channel c's m-th filter, as Keras orders
 * them. SeparableConv2D: that without bias, then a 1x1 Conv. */
nn_status onnx_map_depthwise(onnx_layer *L, nn_error *err)
{
    const nn_param *dp = NULL, *pp = NULL;
    const float *dk = onnx_param(L, "depthwise_kernel", &dp);
    const float *pk = onnx_param(L, "pointwise_kernel", &pp), *b = onnx_param(L, "bias", NULL);
    if (!dk)
        return onnx_layer_fail(L, err, "no depthwise_kernel");
    window w;
    read_window(L, "kernel_size", &w);
    if (w.rank != 2)
        return onnx_layer_fail(L, err, "expected a 3-D input");
    const int kh = dp->shape[0], kw = dp->shape[1], C = dp->shape[2], M = dp->shape[3];
    onnx_graph *g = L->g;
    float *t = malloc((size_t)kh * kw * C * M * sizeof *t);
    if (!t)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    /* (kh, kw, C, M) -> (C * M, 1, kh, kw) */
    for (int c = 0; c < C; c++)
        for (int m = 0; m < M; m++)
            for (int i = 0; i < kh * kw; i++)
                t[((size_t)c * M + m) * kh * kw + i] = dk[((size_t)i * C + c) * M + m];
    int64_t ddims[4] = {(int64_t)C * M, 1, kh, kw};
    const char *DW = onnx_const_float(g, "depthwise_kernel", 4, ddims, t);
    free(t);
    int out_ch = pk ? pp->shape[3] : C * M;
    int64_t bdim[1] = {out_ch};
    const char *B = b ? onnx_const_float(g, "bias", 1, bdim, b) : NULL;
    const char *y = conv(L, channels_first(g, L->in[0], 2), &w, DW, pk ? NULL : B, C);
    if (pk) {
        window one = {.rank = 2, .k = {1, 1}, .s = {1, 1}, .d = {1, 1}, .same = false};
        const char *PW = conv_kernel(g, "pointwise_kernel", pk, 1, 1, C * M, out_ch, 2);
        /* the pointwise conv sees the depthwise output: 1x1 windows need
         * no pads, so the input-shape-based pads are all zero */
        y = conv(L, y, &one, PW, B, 1);
    }
    L->out = onnx_activation(g, channels_last(g, y, 2), L->n->act, L->n->act_alpha);
    return NN_OK;
}

/* MaxPool / AveragePool; averages leave padding out (count_include_pad 0),
 * as Keras and nnctl do. */
nn_status onnx_map_pool(onnx_layer *L, nn_error *err)
{
    (void)err;
    window w;
    read_window(L, "pool_size", &w);
    /* strides default to the pool size; the config always has them */
    bool max = strstr(L->n->type->keras_class, "Max") != NULL;
    onnx_graph *g = L->g;
    const char *op = max ? "MaxPool" : "AveragePool";
    const char *y = onnx_fresh(g, op);
    onnx_node nd;
    onnx_node_begin(&nd, g, op);
    onnx_node_input(&nd, channels_first(g, L->in[0], w.rank));
    onnx_node_output(&nd, y);
    window_attrs(&nd, L, &w, false);
    if (!max)
        onnx_attr_int(&nd, "count_include_pad", 0);
    onnx_node_end(&nd);
    L->out = channels_last(g, y, w.rank);
    return NN_OK;
}

/* Global pooling: a reduction over the spatial axes of the NHWC tensor. */
nn_status onnx_map_global_pool(onnx_layer *L, nn_error *err)
{
    int rank = L->n->in[0]->ndim - 1;
    int64_t axes[2] = {1, 2};
    bool max = strstr(L->n->type->keras_class, "Max") != NULL;
    if (!max && L->n->in[0]->mask) /* the masked mean: not a plain ReduceMean */
        return onnx_layer_fail(L, err, "its input is masked (mask_zero): not exported to ONNX");
    const char *op = max ? "ReduceMax" : "ReduceMean";
    L->out = onnx_fresh(L->g, op);
    onnx_node nd;
    onnx_node_begin(&nd, L->g, op);
    onnx_node_input(&nd, L->in[0]);
    onnx_node_output(&nd, L->out);
    onnx_attr_ints(&nd, "axes", axes, rank);
    onnx_attr_int(&nd, "keepdims", onnx_cfg_bool(L->cfg, "keepdims", false));
    onnx_node_end(&nd);
    return NN_OK;
}

/* Conv1D and Conv2D: y = act(conv(x, kernel) + bias), channels-last, with
 * Keras's kernel layout (k, in, out) / (kh, kw, in, out). groups > 1
 * (Keras's grouped convolution, kernel (kh, kw, in / groups, out)): group
 * g's filters see its share of the input channels only. One input channel
 * per group (ConvNeXt's 7x7 depthwise) runs as the depthwise convolution
 * (its kernel has the same layout); other group counts (RegNet) run group
 * by group on gathered channels. */
#include <stdlib.h>
#include <string.h>

#include "formats/c_code.h"
#include "layers/conv_geom.h"
#include "formats/keras_import.h"

typedef struct {
    nn_window win;
    int filters, groups;
    bool use_bias;
    nn_initializer kernel_init, bias_init;
    nn_regularizer kernel_reg, bias_reg;
} conv_cfg;

typedef struct {
    nn_tensor z, dz, ws;
    /* groups > 1, not depthwise: one group's input, kernel, output and
     * gradients, gathered */
    nn_tensor gx, gw, gy, gdx, gdw;
} conv_state;

static nn_status conv_parse(nn_node *n, nn_spec_node *s, int rank, nn_error *err)
{
    conv_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    c->win.rank = rank;
    long long filters, groups;
    nn_status st;
    if ((st = nn_spec_int(s, "filters", true, 0, 1, 1 << 20, &filters, err)) ||
        (st = nn_spec_int(s, "groups", false, 1, 1, 1 << 20, &groups, err)) ||
        (st = nn_spec_window_ints(s, "kernel_size", true, 1, rank, c->win.k, err)) ||
        (st = nn_spec_window_ints(s, "strides", false, 1, rank, c->win.s, err)) ||
        (st = nn_spec_window_ints(s, "dilation_rate", false, 1, rank, c->win.d, err)) ||
        (st = nn_spec_padding(s, &c->win.same, err)) ||
        (st = nn_spec_activation(s, "activation", &n->act, &n->act_alpha, err)) ||
        (st = nn_spec_bool(s, "use_bias", false, true, &c->use_bias, err)) ||
        (st = nn_spec_initializer(s, "kernel_initializer", "glorot_uniform", &c->kernel_init,
                                  err)) ||
        (st = nn_spec_initializer(s, "bias_initializer", "zeros", &c->bias_init, err)) ||
        (st = nn_spec_regularizer(s, "kernel_regularizer", &c->kernel_reg, err)) ||
        (st = nn_spec_regularizer(s, "bias_regularizer", &c->bias_reg, err)) ||
        (st = nn_spec_regularizer(s, "activity_regularizer", &n->activity_reg, err)))
        return st;
    c->filters = (int)filters;
    c->groups = (int)groups;
    if (filters % groups)
        return nn_spec_fail(s, "groups", err, NN_ERR_USAGE,
                            "filters (%lld) must be a multiple of groups (%lld)", filters, groups);
    for (int i = 0; i < rank; i++)
        if (c->win.s[i] > 1 && c->win.d[i] > 1)
            return nn_spec_fail(s, "dilation_rate", err, NN_ERR_USAGE,
                                "strides > 1 and dilation_rate > 1 cannot be combined (as in "
                                "Keras)");
    return NN_OK;
}

static nn_status conv1d_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return conv_parse(n, s, 1, err);
}

static nn_status conv2d_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return conv_parse(n, s, 2, err);
}

static nn_status conv_infer(nn_node *n, nn_error *err)
{
    conv_cfg *c = n->cfg;
    const nn_node *in = n->in[0];
    int rank = c->win.rank;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    if (in->ndim != rank + 1)
        return nn_node_fail(n, err,
                            "needs a %s input (%s, channels); got %d axes per sample (use a "
                            "reshape layer, e.g. target_shape = [28, 28, 1])",
                            rank == 1 ? "2-D" : "3-D", rank == 1 ? "steps" : "height, width",
                            in->ndim);
    nn_conv_geom g = nn_window_geom(&c->win, in, 1, c->filters);
    if (g.c % c->groups)
        return nn_node_fail(n, err, "its %d input channels do not split into %d groups", g.c,
                            c->groups);
    g.c /= c->groups; /* the kernel sees one group's channels */
    /* a None (0) length stays None: the model is built again at each length */
    const bool var_h = rank == 2 && in->shape[0] == 0, var_w = in->shape[rank - 1] == 0;
    if ((g.oh <= 0 && !var_h) || (g.ow <= 0 && !var_w))
        return nn_node_fail(n, err,
                            "kernel_size %d%s%d is larger than its %dx%d input (use padding "
                            "\"same\" or a smaller kernel)",
                            g.kh, "x", g.kw, g.h, g.w);
    n->ndim = rank + 1;
    if (rank == 1) {
        n->shape[0] = var_w ? 0 : g.ow;
        n->shape[1] = c->filters;
    } else {
        n->shape[0] = var_h ? 0 : g.oh;
        n->shape[1] = var_w ? 0 : g.ow;
        n->shape[2] = c->filters;
    }
    int receptive = g.kh * g.kw;
    int kshape[4], kd = 0;
    if (rank == 2)
        kshape[kd++] = g.kh;
    kshape[kd++] = g.kw;
    kshape[kd++] = g.c;
    kshape[kd++] = c->filters;
    nn_node_add_param(n, "kernel", kd, kshape, receptive * g.c, receptive * c->filters,
                      c->kernel_init, c->kernel_reg);
    if (c->use_bias)
        nn_node_add_param(n, "bias", 1, &c->filters, receptive * g.c, receptive * c->filters,
                          c->bias_init, c->bias_reg);
    return NN_OK;
}

/* One input channel per group: a depthwise convolution (kernel (kh, kw,
 * 1, C * M) has the depthwise layout (kh, kw, C, M)). */
static bool depthwise(const nn_node *n)
{
    const conv_cfg *c = n->cfg;
    return c->groups > 1 && c->win.rank == 2 && c->groups == n->in[0]->shape[2];
}

/* One group's geometry (groups > 1). */
static nn_conv_geom group_geom(const nn_node *n, int batch)
{
    const conv_cfg *c = n->cfg;
    nn_conv_geom q = nn_window_geom(&c->win, n->in[0], batch, c->filters / c->groups);
    q.c /= c->groups;
    return q;
}

static nn_status conv_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    conv_cfg *c = n->cfg;
    conv_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    /* the workspace of the convolution that runs: the whole one, one
     * group's, or none (the depthwise kernels need none) */
    nn_conv_geom g = c->groups > 1 ? group_geom(n, batch)
                                   : nn_window_geom(&c->win, n->in[0], batch, c->filters);
    int wsn[1] = {depthwise(n) ? 1 : (int)e->ops->conv_workspace(e, &g)};
    nn_status st = e->ops->alloc(e, &s->ws, 1, wsn, err);
    if (st)
        return st;
    if (c->groups > 1 && !depthwise(n)) {
        int xs[1] = {g.n * g.h * g.w * g.c}, ys[1] = {g.n * g.oh * g.ow * g.f};
        int ks[1] = {g.kh * g.kw * g.c * g.f};
        if ((st = e->ops->alloc(e, &s->gx, 1, xs, err)) ||
            (st = e->ops->alloc(e, &s->gw, 1, ks, err)) ||
            (st = e->ops->alloc(e, &s->gy, 1, ys, err)) ||
            (n->needs_grad && (st = e->ops->alloc(e, &s->gdx, 1, xs, err))) ||
            (n->needs_grad && (st = e->ops->alloc(e, &s->gdw, 1, ks, err))))
            return st;
    }
    return nn_act_plan_in_place(n, e, &s->z, &s->dz, err);
}

static void conv_release(nn_node *n, nn_engine *e)
{
    conv_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->z);
        e->ops->free(e, &s->dz);
        e->ops->free(e, &s->ws);
        nn_tensor *t[] = {&s->gx, &s->gw, &s->gy, &s->gdx, &s->gdw};
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            e->ops->free(e, t[i]);
        free(s);
        n->state = NULL;
    }
}

/* Group by group: its input channels and kernel columns gathered, the
 * convolution, its output columns put in place; then the bias. */
static void grouped_forward(nn_node *n, const nn_pass *p)
{
    const conv_cfg *c = n->cfg;
    conv_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom q = group_geom(n, p->rows);
    const int C = q.c * c->groups, F = c->filters, K = q.kh * q.kw * q.c;
    const int in_px = p->rows * q.h * q.w, out_px = p->rows * q.oh * q.ow;
    for (int k = 0; k < c->groups; k++) {
        e->ops->copy_cols(e, &n->in[0]->out, C, k * q.c, &s->gx, q.c, 0, in_px, q.c);
        e->ops->copy_cols(e, &n->params[0].w, F, k * q.f, &s->gw, q.f, 0, K, q.f);
        e->ops->conv2d_forward(e, &q, &s->gx, &s->gw, NULL, NN_ACT_LINEAR, &s->gy, &s->ws);
        e->ops->copy_cols(e, &s->gy, q.f, 0, n->preact, F, k * q.f, out_px, q.f);
    }
    const nn_tensor *b = nn_layer_bias(n, c->use_bias ? 1 : -1);
    if (b)
        e->ops->add_bias(e, n->preact, b, out_px, F);
}

/* The gradients group by group (dx when wanted, the kernel's when it
 * trains); the bias's over all filters at once. */
static void grouped_backward(nn_node *n, const nn_pass *p, nn_tensor *dx)
{
    const conv_cfg *c = n->cfg;
    conv_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom q = group_geom(n, p->rows);
    const int C = q.c * c->groups, F = c->filters, K = q.kh * q.kw * q.c;
    const int in_px = p->rows * q.h * q.w, out_px = p->rows * q.oh * q.ow;
    nn_param *W = &n->params[0];
    for (int k = 0; k < c->groups; k++) {
        e->ops->copy_cols(e, n->dpreact, F, k * q.f, &s->gy, q.f, 0, out_px, q.f);
        if (W->trainable) {
            e->ops->copy_cols(e, &n->in[0]->out, C, k * q.c, &s->gx, q.c, 0, in_px, q.c);
            e->ops->conv2d_backward_filter(e, &q, &s->gx, &s->gy, &s->gdw, NULL, 0.0f, &s->ws);
            e->ops->copy_cols(e, &s->gdw, q.f, 0, &W->g, F, k * q.f, K, q.f);
        }
        if (dx) {
            e->ops->copy_cols(e, &W->w, F, k * q.f, &s->gw, q.f, 0, K, q.f);
            e->ops->conv2d_backward_data(e, &q, &s->gy, &s->gw, &s->gdx, &s->ws);
            e->ops->copy_cols(e, &s->gdx, q.c, 0, dx, C, k * q.c, in_px, q.c);
        }
    }
    if (c->use_bias && n->params[1].trainable)
        e->ops->bias_grad(e, n->dpreact, &n->params[1].g, out_px, F, 0.0f);
}

static void conv_forward(nn_node *n, const nn_pass *p)
{
    const conv_cfg *c = n->cfg;
    conv_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom g = nn_window_geom(&c->win, n->in[0], p->rows, c->filters);
    int pixels = p->rows * g.oh * g.ow;
    const nn_tensor *b = nn_layer_bias(n, c->use_bias ? 1 : -1);
    /* the activation in the convolution's own pass where the engine can:
     * the output is written once. ReLU's gradient needs only the output;
     * other activations run in place when no gradient is taken */
    const bool in_place = n->act == NN_ACT_RELU || n->preact == &n->out;
    if (depthwise(n)) {
        nn_tensor *y = in_place ? &n->out : n->preact;
        if (e->ops->depthwise_forward(e, &g, &n->in[0]->out, &n->params[0].w, b,
                                      in_place ? n->act : NN_ACT_LINEAR, y))
            return;
        if (in_place) {
            if (n->act != NN_ACT_LINEAR)
                e->ops->act_forward(e, n->act, n->act_alpha, &n->out, &n->out, pixels, c->filters);
            return;
        }
    } else if (c->groups > 1) {
        grouped_forward(n, p);
    } else if (in_place && n->act != NN_ACT_LINEAR) {
        if (!e->ops->conv2d_forward(e, &g, &n->in[0]->out, &n->params[0].w, b, n->act, &n->out,
                                    &s->ws))
            e->ops->act_forward(e, n->act, n->act_alpha, &n->out, &n->out, pixels, c->filters);
        return;
    } else {
        e->ops->conv2d_forward(e, &g, &n->in[0]->out, &n->params[0].w, b, NN_ACT_LINEAR,
                               n->preact, &s->ws);
    }
    if (n->act != NN_ACT_LINEAR)
        e->ops->act_forward(e, n->act, n->act_alpha, n->preact, &n->out, pixels, c->filters);
}

static nn_status conv_fold_affine(nn_node *n, nn_engine *e, const float *scale,
                                  const float *shift, nn_error *err)
{
    const conv_cfg *c = n->cfg;
    return nn_fold_affine_kernel(n, e, &n->params[0], c->use_bias ? 1 : -1, c->filters, scale,
                                 shift, err);
}

static void conv_backward(nn_node *n, const nn_pass *p)
{
    const conv_cfg *c = n->cfg;
    conv_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom g = nn_window_geom(&c->win, n->in[0], p->rows, c->filters);
    int pixels = p->rows * g.oh * g.ow;
    if (n->act != NN_ACT_LINEAR && !n->loss_wrote_preact)
        e->ops->act_backward(e, n->act, n->act_alpha, n->preact, &n->out, &n->dout, n->dpreact,
                             pixels, c->filters);
    nn_param *W = &n->params[0];
    nn_tensor *dx = nn_grad_target(n, 0);
    if (depthwise(n)) {
        if (W->trainable)
            e->ops->depthwise_backward_filter(e, &g, &n->in[0]->out, n->dpreact, &W->g, 0.0f);
        if (c->use_bias && n->params[1].trainable)
            e->ops->bias_grad(e, n->dpreact, &n->params[1].g, pixels, c->filters, 0.0f);
        if (dx)
            e->ops->depthwise_backward_data(e, &g, n->dpreact, &W->w, dx);
    } else if (c->groups > 1) {
        grouped_backward(n, p, dx);
    } else {
        if (W->trainable)
            e->ops->conv2d_backward_filter(e, &g, &n->in[0]->out, n->dpreact, &W->g,
                                           c->use_bias && n->params[1].trainable
                                               ? &n->params[1].g
                                               : NULL,
                                           0.0f, &s->ws);
        if (dx)
            e->ops->conv2d_backward_data(e, &g, n->dpreact, &W->w, dx, &s->ws);
    }
    if (dx)
        nn_grad_commit(n, 0, dx, p);
}

static nn_status conv_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const conv_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "filters", json_integer(c->filters));
    nn_window_keras_config(&c->win, "kernel_size", true, cfg);
    json_object_set_new(cfg, "groups", json_integer(c->groups));
    nn_keras_config_kernel(n, cfg, c->use_bias, &c->kernel_init, &c->bias_init, &c->kernel_reg,
                           &c->bias_reg);
    return NN_OK;
}

static nn_status conv_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const conv_cfg *c = n->cfg;
    nn_conv_geom g = nn_window_geom(&c->win, n->in[0], 1, c->filters);
    const char *x = nn_c_in(w, n, 0), *y = nn_c_out(w, n);
    const char *K = nn_c_param(w, n, 0), *b = c->use_bias ? nn_c_param(w, n, 1) : NULL;
    if (c->groups > 1 && !depthwise(n))
        return nn_fail(err, NN_ERR_USAGE,
                       "C export: layer '%s' (%s): grouped convolutions other than one input "
                       "channel per group are not supported",
                       n->name, n->type->name);
    if (depthwise(n)) {
        nn_c_depthwise(w, &g, x, y, K);
        if (b)
            nn_c_bias(w, y, (size_t)g.oh * g.ow, c->filters, b);
    } else {
        nn_c_conv(w, &g, x, y, K, b);
    }
    nn_c_activation(w, n->act, n->act_alpha, y, y, (size_t)g.oh * g.ow, c->filters);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* Conv1D, Conv2D (Keras 1: Convolution1D/2D, AtrousConvolution1D/2D). */
static nn_status conv_conv(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const int rank = strstr(L->cls, "1D") ? 1 : 2;
    nn_status st = kx_one_input(L, s, rank + 1);
    if (st || (st = kx_channels_last(L)))
        return st;
    long long filters, k[2], str[2], dil[2], groups;
    bool bias;
    if ((st = kx_want_int(L, "filters", "nb_filter", true, 0, 1, &filters)) ||
        (st = kx_want_int(L, "groups", NULL, false, 1, 1, &groups)))
        return st;
    if (rank == 2 && !kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = kx_want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = kx_want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = kx_want_window(L, "kernel_size", rank == 1 ? "filter_length" : NULL, rank, 0,
                                 k))) {
        return st;
    }
    if ((st = kx_want_window(L, "strides", rank == 1 ? "subsample_length" : "subsample", rank, 1,
                          str)) ||
        (st = kx_want_window(L, "dilation_rate", "atrous_rate", rank, 1, dil)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", rank == 1 ? "conv1d" : "conv2d");
    kx_key_int(t, "filters", filters);
    if (groups != 1)
        kx_key_int(t, "groups", groups);
    kx_key_window(t, "kernel_size", rank, k);
    kx_key_window(t, "strides", rank, str);
    kx_key_window(t, "dilation_rate", rank, dil);
    if ((st = kx_write_padding(L, t)) || (st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    s->rank = rank + 1;
    return NN_OK;
}

static const nn_doc_key conv_keys[] = {
    {"filters", "int", "required", "output channels"},
    {"groups", "int", "1", "channel groups: each sees in / groups channels and makes "
     "filters / groups (Keras's grouped convolution)"},
    NN_DOC_WINDOW_KEYS,
    {"activation", "string", "linear", "applied to the output (see Activations)"},
    {"use_bias", "bool", "true", "add a bias"},
    {"kernel_initializer", "initializer", "glorot_uniform", "see Initializers"},
    {"bias_initializer", "initializer", "zeros", "see Initializers"},
    {"kernel_regularizer", "regularizer", "none", "see Regularizers"},
    {"bias_regularizer", "regularizer", "none", "see Regularizers"},
    {"activity_regularizer", "regularizer", "none", "on the output, divided by the batch size"},
    {NULL, NULL, NULL, NULL},
};

static const char *const conv1d_aliases[] = {"Convolution1D", "AtrousConvolution1D", NULL};

static const char *const conv2d_aliases[] = {"Convolution2D", "AtrousConvolution2D", NULL};

const nn_layer_type nn_layer_conv1d = {
    .name = "conv1d",
    .keras_class = "Conv1D",
    .doc = "1-D convolution over (steps, channels) inputs (Keras kernel layout)",
    .keys = conv_keys,
    .keras_aliases = conv1d_aliases,
    .keras_import = conv_conv,
    .export_onnx = onnx_map_conv,
    .parse = conv1d_parse,
    .infer = conv_infer,
    .plan = conv_plan,
    .forward = conv_forward,
    .fold_affine = conv_fold_affine,
    .takes_act = nn_takes_conv_act,
    .backward = conv_backward,
    .keras_config = conv_keras_config,
    .release = conv_release,
    .export_c = conv_export_c,
};

const nn_layer_type nn_layer_conv2d = {
    .name = "conv2d",
    .keras_class = "Conv2D",
    .doc = "2-D convolution over (height, width, channels) inputs (Keras kernel layout)",
    .keys = conv_keys,
    .keras_aliases = conv2d_aliases,
    .keras_import = conv_conv,
    .export_onnx = onnx_map_conv,
    .parse = conv2d_parse,
    .infer = conv_infer,
    .plan = conv_plan,
    .forward = conv_forward,
    .fold_affine = conv_fold_affine,
    .takes_act = nn_takes_conv_act,
    .takes_input_pad = true,
    .backward = conv_backward,
    .keras_config = conv_keras_config,
    .release = conv_release,
    .export_c = conv_export_c,
};

/* DepthwiseConv2D (a (kh, kw) filter per input channel, depth_multiplier
 * of them) and SeparableConv2D (depthwise, then a 1x1 convolution to
 * `filters` channels), with Keras's weight names and layouts. */
#include <string.h>
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/conv_geom.h"
#include "formats/keras_import.h"

typedef struct {
    nn_window win;
    bool separable, use_bias;
    int filters, multiplier;
    nn_initializer dw_init, pw_init, bias_init;
    nn_regularizer dw_reg, pw_reg, bias_reg;
} dw_cfg;

typedef struct {
    nn_tensor z, dz, mid, dmid; /* mid: the depthwise output of a separable conv */
} dw_state;

static nn_status dw_parse_common(nn_node *n, nn_spec_node *s, bool separable, nn_error *err)
{
    dw_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    c->separable = separable;
    c->win.rank = 2;
    long long filters = 0, mult;
    nn_status st;
    if (separable && (st = nn_spec_int(s, "filters", true, 0, 1, 1 << 20, &filters, err)))
        return st;
    if ((st = nn_spec_window_ints(s, "kernel_size", true, 1, 2, c->win.k, err)) ||
        (st = nn_spec_window_ints(s, "strides", false, 1, 2, c->win.s, err)) ||
        (st = nn_spec_window_ints(s, "dilation_rate", false, 1, 2, c->win.d, err)) ||
        (st = nn_spec_padding(s, &c->win.same, err)) ||
        (st = nn_spec_int(s, "depth_multiplier", false, 1, 1, 1 << 16, &mult, err)) ||
        (st = nn_spec_activation(s, "activation", &n->act, &n->act_alpha, err)) ||
        (st = nn_spec_bool(s, "use_bias", false, true, &c->use_bias, err)) ||
        (st = nn_spec_initializer(s, "depthwise_initializer", "glorot_uniform", &c->dw_init,
                                  err)) ||
        (st = nn_spec_initializer(s, "bias_initializer", "zeros", &c->bias_init, err)) ||
        (st = nn_spec_regularizer(s, "depthwise_regularizer", &c->dw_reg, err)) ||
        (st = nn_spec_regularizer(s, "bias_regularizer", &c->bias_reg, err)) ||
        (st = nn_spec_regularizer(s, "activity_regularizer", &n->activity_reg, err)))
        return st;
    if (separable &&
        ((st = nn_spec_initializer(s, "pointwise_initializer", "glorot_uniform", &c->pw_init,
                                   err)) ||
         (st = nn_spec_regularizer(s, "pointwise_regularizer", &c->pw_reg, err))))
        return st;
    c->filters = (int)filters;
    c->multiplier = (int)mult;
    for (int i = 0; i < 2; i++)
        if (c->win.s[i] > 1 && c->win.d[i] > 1)
            return nn_spec_fail(s, "dilation_rate", err, NN_ERR_USAGE,
                                "strides > 1 and dilation_rate > 1 cannot be combined (as in "
                                "Keras)");
    return NN_OK;
}

static nn_status depthwise_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return dw_parse_common(n, s, false, err);
}

static nn_status separable_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return dw_parse_common(n, s, true, err);
}

static nn_conv_geom dw_geom(const nn_node *n, int rows)
{
    const dw_cfg *c = n->cfg;
    return nn_window_geom(&c->win, n->in[0], rows, n->in[0]->shape[2] * c->multiplier);
}

static nn_status dw_infer(nn_node *n, nn_error *err)
{
    dw_cfg *c = n->cfg;
    const nn_node *in = n->in[0];
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    if (in->ndim != 3)
        return nn_node_fail(n, err, "needs a 3-D input (height, width, channels); got %d axes",
                            in->ndim);
    nn_conv_geom g = dw_geom(n, 1);
    /* a None (0) length stays None, as for Conv2D: the model is built
     * again at each length */
    const bool var_h = in->shape[0] == 0, var_w = in->shape[1] == 0;
    if ((g.oh <= 0 && !var_h) || (g.ow <= 0 && !var_w))
        return nn_node_fail(n, err, "kernel_size %dx%d is larger than its %dx%d input", g.kh,
                            g.kw, g.h, g.w);
    int out_ch = c->separable ? c->filters : g.f, rf = g.kh * g.kw;
    n->ndim = 3;
    n->shape[0] = var_h ? 0 : g.oh;
    n->shape[1] = var_w ? 0 : g.ow;
    n->shape[2] = out_ch;
    int dshape[4] = {g.kh, g.kw, g.c, c->multiplier};
    nn_node_add_param(n, "depthwise_kernel", 4, dshape, rf * g.c, rf * c->multiplier, c->dw_init,
                      c->dw_reg);
    if (c->separable) {
        int pshape[4] = {1, 1, g.f, c->filters};
        nn_node_add_param(n, "pointwise_kernel", 4, pshape, g.f, c->filters, c->pw_init,
                          c->pw_reg);
    }
    if (c->use_bias)
        nn_node_add_param(n, "bias", 1, &out_ch, rf * g.c, out_ch, c->bias_init, c->bias_reg);
    return NN_OK;
}

static nn_status dw_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    const dw_cfg *c = n->cfg;
    dw_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    nn_status st = NN_OK;
    if (c->separable) {
        nn_conv_geom g = dw_geom(n, batch);
        int shape[4] = {batch, g.oh, g.ow, g.f};
        st = e->ops->alloc(e, &s->mid, 4, shape, err);
        if (!st && n->needs_grad)
            st = e->ops->alloc(e, &s->dmid, 4, shape, err);
    }
    return st ? st : nn_act_plan_in_place(n, e, &s->z, &s->dz, err);
}

static void dw_release(nn_node *n, nn_engine *e)
{
    dw_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->z);
        e->ops->free(e, &s->dz);
        e->ops->free(e, &s->mid);
        e->ops->free(e, &s->dmid);
        free(s);
        n->state = NULL;
    }
}

static void dw_forward(nn_node *n, const nn_pass *p)
{
    const dw_cfg *c = n->cfg;
    dw_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom g = dw_geom(n, p->rows);
    int pixels = p->rows * g.oh * g.ow, out_ch = n->shape[2];
    const nn_tensor *b = nn_layer_bias(n, c->use_bias ? n->n_params - 1 : -1);
    if (c->separable) {
        e->ops->depthwise_forward(e, &g, &n->in[0]->out, &n->params[0].w, NULL, NN_ACT_LINEAR,
                                  &s->mid);
        e->ops->gemm(e, false, false, pixels, out_ch, g.f, 1.0f, &s->mid, &n->params[1].w, 0.0f,
                     n->preact);
        if (b)
            e->ops->add_bias(e, n->preact, b, pixels, out_ch);
    } else if (e->ops->depthwise_forward(e, &g, &n->in[0]->out, &n->params[0].w, b,
                                         n->preact == &n->out ? n->act : NN_ACT_LINEAR,
                                         n->preact)) {
        return; /* bias and activation in the same pass */
    }
    if (n->act != NN_ACT_LINEAR)
        e->ops->act_forward(e, n->act, n->act_alpha, n->preact, &n->out, pixels, out_ch);
}

/* the output channel of a depthwise kernel value is its index mod c * m;
 * a separable layer's pointwise kernel's, its index mod filters */
static nn_status dw_fold_affine(nn_node *n, nn_engine *e, const float *scale, const float *shift,
                                nn_error *err)
{
    const dw_cfg *c = n->cfg;
    return nn_fold_affine_kernel(n, e, &n->params[c->separable ? 1 : 0],
                                 c->use_bias ? n->n_params - 1 : -1, n->shape[2], scale, shift,
                                 err);
}

static void dw_backward(nn_node *n, const nn_pass *p)
{
    const dw_cfg *c = n->cfg;
    dw_state *s = n->state;
    nn_engine *e = p->e;
    nn_conv_geom g = dw_geom(n, p->rows);
    int pixels = p->rows * g.oh * g.ow, out_ch = n->shape[2];
    if (n->act != NN_ACT_LINEAR && !n->loss_wrote_preact)
        e->ops->act_backward(e, n->act, n->act_alpha, n->preact, &n->out, &n->dout, n->dpreact,
                             pixels, out_ch);
    nn_param *K = &n->params[0];
    if (c->use_bias && n->params[n->n_params - 1].trainable)
        e->ops->bias_grad(e, n->dpreact, &n->params[n->n_params - 1].g, pixels, out_ch, 0.0f);
    const nn_tensor *dmid = n->dpreact;
    if (c->separable) {
        nn_param *P = &n->params[1];
        if (P->trainable)
            e->ops->gemm(e, true, false, g.f, out_ch, pixels, 1.0f, &s->mid, n->dpreact, 0.0f,
                         &P->g);
        e->ops->gemm(e, false, true, pixels, g.f, out_ch, 1.0f, n->dpreact, &P->w, 0.0f,
                     &s->dmid);
        dmid = &s->dmid;
    }
    if (K->trainable)
        e->ops->depthwise_backward_filter(e, &g, &n->in[0]->out, dmid, &K->g, 0.0f);
    nn_tensor *dx = nn_grad_target(n, 0);
    if (dx) {
        e->ops->depthwise_backward_data(e, &g, dmid, &K->w, dx);
        nn_grad_commit(n, 0, dx, p);
    }
}

static nn_status dw_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const dw_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    if (c->separable)
        json_object_set_new(cfg, "filters", json_integer(c->filters));
    nn_window_keras_config(&c->win, "kernel_size", true, cfg);
    json_object_set_new(cfg, "depth_multiplier", json_integer(c->multiplier));
    json_object_set_new(cfg, "activation", json_string(nn_activation_name(n->act)));
    json_object_set_new(cfg, "use_bias", json_boolean(c->use_bias));
    json_object_set_new(cfg, "depthwise_initializer", nn_initializer_keras_json(&c->dw_init));
    json_object_set_new(cfg, "bias_initializer", nn_initializer_keras_json(&c->bias_init));
    json_object_set_new(cfg, "depthwise_regularizer", nn_regularizer_keras_json(&c->dw_reg));
    json_object_set_new(cfg, "bias_regularizer", nn_regularizer_keras_json(&c->bias_reg));
    json_object_set_new(cfg, "activity_regularizer", nn_regularizer_keras_json(&n->activity_reg));
    json_object_set_new(cfg, "depthwise_constraint", json_null());
    json_object_set_new(cfg, "bias_constraint", json_null());
    if (c->separable) {
        json_object_set_new(cfg, "pointwise_initializer", nn_initializer_keras_json(&c->pw_init));
        json_object_set_new(cfg, "pointwise_regularizer", nn_regularizer_keras_json(&c->pw_reg));
        json_object_set_new(cfg, "pointwise_constraint", json_null());
    }
    return NN_OK;
}

static nn_status dw_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const dw_cfg *c = n->cfg;
    nn_conv_geom g = dw_geom(n, 1);
    const size_t pixels = (size_t)g.oh * g.ow;
    const int out_ch = n->shape[2];
    const char *x = nn_c_in(w, n, 0), *y = nn_c_out(w, n), *K = nn_c_param(w, n, 0);
    const char *P = c->separable ? nn_c_param(w, n, 1) : NULL;
    const char *b = c->use_bias ? nn_c_param(w, n, n->n_params - 1) : NULL;
    if (c->separable) { /* depthwise into a temporary, then the 1x1 convolution */
        const char *mid = nn_c_temp(w, pixels * (size_t)g.f);
        nn_c_depthwise(w, &g, x, mid, K);
        nn_c_dense(w, mid, y, pixels, g.f, out_ch, P, b);
    } else {
        nn_c_depthwise(w, &g, x, y, K);
        if (b)
            nn_c_bias(w, y, pixels, out_ch, b);
    }
    nn_c_activation(w, n->act, n->act_alpha, y, y, pixels, out_ch);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* DepthwiseConv2D and SeparableConv2D. */
static nn_status conv_depthwise(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const bool sep = strstr(L->cls, "Separable") != NULL;
    nn_status st = kx_one_input(L, s, 3);
    if (st || (st = kx_channels_last(L)))
        return st;
    long long filters = 0, k[2], str[2], dil[2], mult;
    bool bias;
    if (sep && (st = kx_want_int(L, "filters", "nb_filter", true, 0, 1, &filters)))
        return st;
    if (!kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = kx_want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = kx_want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = kx_want_window(L, "kernel_size", NULL, 2, 0, k))) {
        return st;
    }
    if ((st = kx_want_window(L, "strides", "subsample", 2, 1, str)) ||
        (st = kx_want_window(L, "dilation_rate", NULL, 2, 1, dil)) ||
        (st = kx_want_int(L, "depth_multiplier", NULL, false, 1, 1, &mult)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", sep ? "separable_conv2d" : "depthwise_conv2d");
    if (sep)
        kx_key_int(t, "filters", filters);
    kx_key_window(t, "kernel_size", 2, k);
    kx_key_window(t, "strides", 2, str);
    kx_key_window(t, "dilation_rate", 2, dil);
    kx_key_int(t, "depth_multiplier", mult);
    if ((st = kx_write_padding(L, t)) || (st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "depthwise_initializer", sep ? "depthwise_initializer" : "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if (sep)
        kx_write_init(L, t, "pointwise_initializer", NULL);
    if ((st = kx_write_reg(L, t, "depthwise_regularizer", NULL)) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)) ||
        (sep && (st = kx_write_reg(L, t, "pointwise_regularizer", NULL))))
        return st;
    s->rank = 3;
    return NN_OK;
}

/* DepthwiseConv2D's keys; SeparableConv2D has them too, between its filters
 * and its pointwise kernel's. */
#define DEPTHWISE_KEYS                                                                    \
    NN_DOC_WINDOW_KEYS,                                                                   \
    {"depth_multiplier", "int", "1", "output channels per input channel"},                \
    {"activation", "string", "linear", "see Activations"},                                \
    {"use_bias", "bool", "true", "add a bias"},                                           \
    {"depthwise_initializer", "initializer", "glorot_uniform", "see Initializers"},      \
    {"bias_initializer", "initializer", "zeros", "see Initializers"},                    \
    {"depthwise_regularizer", "regularizer", "none", "see Regularizers"},                \
    {"bias_regularizer", "regularizer", "none", "see Regularizers"},                     \
    {"activity_regularizer", "regularizer", "none", "on the output"}

static const nn_doc_key depthwise_keys[] = {
    DEPTHWISE_KEYS,
    {NULL, NULL, NULL, NULL},
};

static const nn_doc_key separable_keys[] = {
    {"filters", "int", "required", "output channels"},
    DEPTHWISE_KEYS,
    {"pointwise_initializer", "initializer", "glorot_uniform", "see Initializers"},
    {"pointwise_regularizer", "regularizer", "none", "see Regularizers"},
    {NULL, NULL, NULL, NULL},
};

static const char *const separable_aliases[] = {"SeparableConvolution2D", NULL};

const nn_layer_type nn_layer_depthwise_conv2d = {
    .name = "depthwise_conv2d",
    .keras_class = "DepthwiseConv2D",
    .doc = "a 2-D convolution of each channel on its own",
    .keys = depthwise_keys,
    .keras_import = conv_depthwise,
    .export_onnx = onnx_map_depthwise,
    .parse = depthwise_parse,
    .infer = dw_infer,
    .plan = dw_plan,
    .forward = dw_forward,
    .fold_affine = dw_fold_affine,
    .takes_act = nn_takes_conv_act,
    .takes_input_pad = true,
    .backward = dw_backward,
    .keras_config = dw_keras_config,
    .release = dw_release,
    .export_c = dw_export_c,
};

const nn_layer_type nn_layer_separable_conv2d = {
    .name = "separable_conv2d",
    .keras_class = "SeparableConv2D",
    .doc = "a depthwise convolution then a 1x1 convolution to filters channels",
    .keys = separable_keys,
    .keras_aliases = separable_aliases,
    .keras_import = conv_depthwise,
    .export_onnx = onnx_map_depthwise,
    .parse = separable_parse,
    .infer = dw_infer,
    .plan = dw_plan,
    .forward = dw_forward,
    .fold_affine = dw_fold_affine,
    .takes_act = nn_takes_conv_act,
    .takes_input_pad = true,
    .backward = dw_backward,
    .keras_config = dw_keras_config,
    .release = dw_release,
    .export_c = dw_export_c,
};

/* LayerNormalization over the last axis, Keras semantics: each position's
 * channels normalized by their own mean and (biased) variance, y = (x -
 * mean) / sqrt(var + epsilon) * gamma + beta, the same in training and
 * inference (ConvNeXt). Weights gamma and beta.
 *
 * Spec: epsilon (default 1e-3, Keras's), center, scale, and the
 * initializers and regularizers of gamma and beta. */
#include <stdlib.h>
#include <string.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    double epsilon;
    nn_gamma_beta gb;
} ln_cfg;

typedef struct {
    nn_tensor mean, rstd; /* per normalized row, for the backward pass */
} ln_state;

static nn_status ln_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    ln_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long axis;
    nn_status st;
    if ((st = nn_spec_int(s, "axis", false, -1, -64, 64, &axis, err)) ||
        (st = nn_spec_float(s, "epsilon", false, 1e-3, 0.0, 1.0, &c->epsilon, err)) ||
        (st = nn_spec_bool(s, "center", false, true, &c->gb.center, err)) ||
        (st = nn_spec_bool(s, "scale", false, true, &c->gb.scale, err)) ||
        (st = nn_spec_initializer(s, "beta_initializer", "zeros", &c->gb.beta_init, err)) ||
        (st = nn_spec_initializer(s, "gamma_initializer", "ones", &c->gb.gamma_init, err)) ||
        (st = nn_spec_regularizer(s, "beta_regularizer", &c->gb.beta_reg, err)) ||
        (st = nn_spec_regularizer(s, "gamma_regularizer", &c->gb.gamma_reg, err)))
        return st;
    if (axis != -1)
        return nn_spec_fail(s, "axis", err, NN_ERR_USAGE,
                            "only the last axis (-1) is supported, got %lld", axis);
    return NN_OK;
}

static int channels(const nn_node *n) { return n->shape[n->ndim - 1]; }

static nn_status ln_infer(nn_node *n, nn_error *err)
{
    ln_cfg *c = n->cfg;
    nn_status shaped = nn_infer_same_shape(n, err);
    if (shaped)
        return shaped;
    int ch = channels(n);
    nn_gamma_beta_add(n, &c->gb, ch);
    return NN_OK;
}

static nn_status ln_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    ln_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    int rows[1] = {(int)((size_t)batch * n->size / (size_t)channels(n))};
    nn_status st = e->ops->alloc(e, &s->mean, 1, rows, err);
    return st ? st : e->ops->alloc(e, &s->rstd, 1, rows, err);
}

static void ln_release(nn_node *n, nn_engine *e)
{
    ln_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->mean);
        e->ops->free(e, &s->rstd);
        free(s);
        n->state = NULL;
    }
}

static void ln_forward(nn_node *n, const nn_pass *p)
{
    const ln_cfg *c = n->cfg;
    ln_state *s = n->state;
    int ch = channels(n), rows = (int)((size_t)p->rows * n->size / (size_t)ch);
    p->e->ops->layernorm_forward(p->e, &n->in[0]->out, rows, ch, nn_param_w(n, c->gb.gamma),
                                 nn_param_w(n, c->gb.beta), (float)c->epsilon, &n->out,
                                 &s->mean, &s->rstd);
}

static void ln_backward(nn_node *n, const nn_pass *p)
{
    const ln_cfg *c = n->cfg;
    ln_state *s = n->state;
    int ch = channels(n), rows = (int)((size_t)p->rows * n->size / (size_t)ch);
    nn_tensor *dx = nn_grad_target(n, 0);
    bool train = n->trainable;
    p->e->ops->layernorm_backward(p->e, &n->in[0]->out, &n->dout, rows, ch,
                                  nn_param_w(n, c->gb.gamma), &s->mean, &s->rstd, dx,
                                  nn_param_g(n, c->gb.gamma, train),
                                  nn_param_g(n, c->gb.beta, train));
    if (dx)
        nn_grad_commit(n, 0, dx, p);
}

static nn_status ln_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const ln_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "axis", json_pack("[i]", -1));
    json_object_set_new(cfg, "epsilon", json_real(c->epsilon));
    json_object_set_new(cfg, "center", json_boolean(c->gb.center));
    json_object_set_new(cfg, "scale", json_boolean(c->gb.scale));
    json_object_set_new(cfg, "rms_scaling", json_false());
    json_object_set_new(cfg, "beta_initializer", nn_initializer_keras_json(&c->gb.beta_init));
    json_object_set_new(cfg, "gamma_initializer", nn_initializer_keras_json(&c->gb.gamma_init));
    json_object_set_new(cfg, "beta_regularizer", nn_regularizer_keras_json(&c->gb.beta_reg));
    json_object_set_new(cfg, "gamma_regularizer", nn_regularizer_keras_json(&c->gb.gamma_reg));
    json_object_set_new(cfg, "beta_constraint", json_null());
    json_object_set_new(cfg, "gamma_constraint", json_null());
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_layer_normalization(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_refuse(L, "rms_scaling", NULL, "RMS normalization")))
        return st;
    json_t *axis = kx_get(L, "axis", NULL);
    if (json_is_array(axis) && json_array_size(axis) == 1)
        axis = json_array_get(axis, 0);
    long long a = -1;
    if (axis && !kx_as_int(axis, &a))
        return kx_fail(L, "axis must be the last axis (-1): nnctl normalizes over it alone");
    if (a != -1 && a != s->in_rank[0])
        return kx_fail(L, "axis %lld is not the last axis: nnctl normalizes over it alone", a);
    double epsilon;
    bool center, scale;
    if ((st = kx_want_float(L, "epsilon", NULL, 1e-3, &epsilon)) ||
        (st = kx_want_bool(L, "center", NULL, true, &center)) ||
        (st = kx_want_bool(L, "scale", NULL, true, &scale)))
        return st;
    if (epsilon < 0.0 || epsilon > 1.0)
        return kx_fail(L, "epsilon must lie in [0, 1]");
    kx_printf(t, "type = \"layer_normalization\";");
    kx_key_float(t, "epsilon", epsilon);
    kx_key_bool(t, "center", center);
    kx_key_bool(t, "scale", scale);
    kx_write_init(L, t, "beta_initializer", NULL);
    kx_write_init(L, t, "gamma_initializer", NULL);
    if ((st = kx_write_reg(L, t, "beta_regularizer", NULL)) ||
        (st = kx_write_reg(L, t, "gamma_regularizer", NULL)))
        return st;
    s->rank = s->in_rank[0];
    return NN_OK;
}

/* opset 13 has no LayerNormalization: the mean and variance over the last
 * axis (ReduceMean keeping it), then the affine map */
static nn_status onnx_map_layer_normalization(onnx_layer *L, nn_error *err)
{
    (void)err;
    const ln_cfg *c = L->n->cfg;
    onnx_graph *g = L->g;
    int64_t last = -1;
    const char *x = L->in[0], *mean = onnx_fresh(g, "ReduceMean"), *var = onnx_fresh(g, "ReduceMean");
    onnx_node nd;
    onnx_node_begin(&nd, g, "ReduceMean");
    onnx_node_input(&nd, x);
    onnx_node_output(&nd, mean);
    onnx_attr_ints(&nd, "axes", &last, 1);
    onnx_attr_int(&nd, "keepdims", 1);
    onnx_node_end(&nd);
    const char *d = onnx_op2(g, "Sub", x, mean);
    onnx_node_begin(&nd, g, "ReduceMean");
    onnx_node_input(&nd, onnx_op2(g, "Mul", d, d));
    onnx_node_output(&nd, var);
    onnx_attr_ints(&nd, "axes", &last, 1);
    onnx_attr_int(&nd, "keepdims", 1);
    onnx_node_end(&nd);
    const char *sd = onnx_op1(g, "Sqrt", onnx_op2(g, "Add", var, onnx_scalar(g, "epsilon",
                                                                              (float)c->epsilon)));
    const char *y = onnx_op2(g, "Div", d, sd);
    int64_t dims[1] = {channels(L->n)};
    if (c->gb.gamma >= 0)
        y = onnx_op2(g, "Mul", y, onnx_const_float(g, "gamma", 1, dims, L->w[c->gb.gamma]));
    if (c->gb.beta >= 0)
        y = onnx_op2(g, "Add", y, onnx_const_float(g, "beta", 1, dims, L->w[c->gb.beta]));
    L->out = y;
    return NN_OK;
}

static const nn_doc_key layer_normalization_keys[] = {
    {"axis", "int", "-1", "the normalized axis (only the last is supported)"},
    {"epsilon", "float", "0.001", "added to the variance"},
    {"center", "bool", "true", "learn a shift (beta)"},
    {"scale", "bool", "true", "learn a scale (gamma)"},
    {"beta_initializer", "initializer", "zeros", "see Initializers"},
    {"gamma_initializer", "initializer", "ones", "see Initializers"},
    {"beta_regularizer", "regularizer", "none", "see Regularizers"},
    {"gamma_regularizer", "regularizer", "none", "see Regularizers"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_layer_normalization = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "layer_normalization",
    .keras_class = "LayerNormalization",
    .doc = "each position normalized over the last axis by its own mean and variance, then * "
           "gamma + beta, alike in training and inference",
    .keys = layer_normalization_keys,
    .keras_import = nn_keras_import_layer_normalization,
    .export_onnx = onnx_map_layer_normalization,
    .parse = ln_parse,
    .infer = ln_infer,
    .plan = ln_plan,
    .forward = ln_forward,
    .backward = ln_backward,
    .keras_config = ln_keras_config,
    .release = ln_release,
};

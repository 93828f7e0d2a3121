/* Dense: y = act(x W + b), applied to the last axis (Keras semantics:
 * a (batch, t, f) input is treated as batch*t rows). */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef struct {
    int units;
    bool use_bias;
    nn_initializer kernel_init, bias_init;
    nn_regularizer kernel_reg, bias_reg;
} dense_cfg;

typedef struct {
    nn_tensor z, dz; /* pre-activation and its gradient (when act != linear) */
} dense_state;

static nn_status dense_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    dense_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long units;
    bool use_bias;
    nn_status st;
    if ((st = nn_spec_int(s, "units", true, 0, 1, 1 << 24, &units, err)) ||
        (st = nn_spec_activation(s, "activation", &n->act, &n->act_alpha, err)) ||
        (st = nn_spec_bool(s, "use_bias", false, true, &use_bias, err)) ||
        (st = nn_spec_initializer(s, "kernel_initializer", "glorot_uniform", &c->kernel_init, err)) ||
        (st = nn_spec_initializer(s, "bias_initializer", "zeros", &c->bias_init, err)) ||
        (st = nn_spec_regularizer(s, "kernel_regularizer", &c->kernel_reg, err)) ||
        (st = nn_spec_regularizer(s, "bias_regularizer", &c->bias_reg, err)) ||
        (st = nn_spec_regularizer(s, "activity_regularizer", &n->activity_reg, err)))
        return st;
    c->units = (int)units;
    c->use_bias = use_bias;
    return NN_OK;
}

static nn_status dense_infer(nn_node *n, nn_error *err)
{
    dense_cfg *c = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    if (in->ndim < 1)
        return nn_node_fail(n, err, "needs an input with at least one axis");
    int fan_in = in->shape[in->ndim - 1];
    n->ndim = in->ndim;
    for (int i = 0; i < in->ndim - 1; i++)
        n->shape[i] = in->shape[i];
    n->shape[n->ndim - 1] = c->units;
    int kshape[2] = {fan_in, c->units};
    nn_node_add_param(n, "kernel", 2, kshape, fan_in, c->units, c->kernel_init, c->kernel_reg);
    if (c->use_bias)
        nn_node_add_param(n, "bias", 1, &c->units, fan_in, c->units, c->bias_init, c->bias_reg);
    return NN_OK;
}

static nn_status dense_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    dense_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    return nn_preact_plan(n, e, &s->z, &s->dz, err);
}

static void dense_release(nn_node *n, nn_engine *e)
{
    dense_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->z);
        e->ops->free(e, &s->dz);
        free(s);
        n->state = NULL;
    }
}

static void dense_forward(nn_node *n, const nn_pass *p)
{
    const dense_cfg *c = n->cfg;
    nn_engine *e = p->e;
    int k = n->in[0]->shape[n->in[0]->ndim - 1];
    int rows = (int)((size_t)p->rows * n->size / (size_t)c->units);
    e->ops->gemm(e, false, false, rows, c->units, k, 1.0f, &n->in[0]->out, &n->params[0].w, 0.0f,
                 n->preact);
    if (c->use_bias)
        e->ops->add_bias(e, n->preact, &n->params[1].w, rows, c->units);
    if (n->act != NN_ACT_LINEAR)
        e->ops->act_forward(e, n->act, n->act_alpha, n->preact, &n->out, rows, c->units);
}

static void dense_backward(nn_node *n, const nn_pass *p)
{
    const dense_cfg *c = n->cfg;
    nn_engine *e = p->e;
    int k = n->in[0]->shape[n->in[0]->ndim - 1];
    int rows = (int)((size_t)p->rows * n->size / (size_t)c->units);
    if (n->act != NN_ACT_LINEAR && !n->loss_wrote_preact)
        e->ops->act_backward(e, n->act, n->act_alpha, n->preact, &n->out, &n->dout, n->dpreact,
                             rows, c->units);
    nn_param *W = &n->params[0];
    if (W->trainable) {
        e->ops->gemm(e, true, false, k, c->units, rows, 1.0f, &n->in[0]->out, n->dpreact, 0.0f,
                     &W->g);
        if (c->use_bias)
            e->ops->bias_grad(e, n->dpreact, &n->params[1].g, rows, c->units, 0.0f);
    }
    nn_tensor *dx = nn_grad_target(n, 0);
    if (dx) {
        e->ops->gemm(e, false, true, rows, k, c->units, 1.0f, n->dpreact, &W->w, 0.0f, dx);
        nn_grad_commit(n, 0, dx, p);
    }
}

static nn_status dense_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const dense_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "units", json_integer(c->units));
    nn_keras_config_kernel(n, cfg, c->use_bias, &c->kernel_init, &c->bias_init, &c->kernel_reg,
                           &c->bias_reg);
    return NN_OK;
}

static nn_status dense_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const dense_cfg *c = n->cfg;
    size_t rows = n->size / (size_t)c->units;
    const char *x = nn_c_in(w, n, 0), *y = nn_c_out(w, n);
    const char *W = nn_c_param(w, n, 0), *b = c->use_bias ? nn_c_param(w, n, 1) : NULL;
    nn_c_dense(w, x, y, rows, n->in[0]->shape[n->in[0]->ndim - 1], c->units, W, b);
    nn_c_activation(w, n->act, n->act_alpha, y, y, rows, c->units);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* Keys shared by Dense (also inside TimeDistributed). */
nn_status nn_dense_keras_keys(const kx_layer *L, kx_text *t)
{
    long long units;
    bool bias;
    nn_status st;
    if ((st = kx_want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = kx_refuse(L, "lora_rank", NULL, "LoRA layers have extra weights")) ||
        (st = kx_refuse(L, "quantization_config", NULL, NULL)))
        return st;
    kx_key_int(t, "units", units);
    if ((st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    return NN_OK;
}



static nn_status conv_dense(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    kx_printf(t, "type = \"dense\";");
    s->rank = s->in_rank[0];
    return nn_dense_keras_keys(L, t);
}

/* ---- ONNX export ---- */

/* x W + b on the last axis of any rank (MatMul broadcasts the leading axes),
 * then the activation: Dense and TimeDistributed(Dense). */
nn_status onnx_map_dense(onnx_layer *L, nn_error *err)
{
    const nn_param *kp = NULL;
    const float *k = onnx_param(L, "kernel", &kp), *b = onnx_param(L, "bias", NULL);
    if (!k)
        return onnx_layer_fail(L, err, "no kernel");
    int64_t dims[2] = {kp->shape[0], kp->shape[1]};
    const char *y = onnx_op2(L->g, "MatMul", L->in[0],
                             onnx_const_float(L->g, "kernel", 2, dims, k));
    if (b)
        y = onnx_op2(L->g, "Add", y, onnx_const_float(L->g, "bias", 1, dims + 1, b));
    L->out = onnx_activation(L->g, y, L->n->act, L->n->act_alpha);
    return NN_OK;
}

static const nn_doc_key dense_keys[] = {
    {"units", "int", "required", "output width, 1 to 16777216"},
    {"activation", "string", "linear", "applied to the output (see Activations)"},
    {"use_bias", "bool", "true", "add a bias"},
    {"kernel_initializer", "initializer", "glorot_uniform", "see Initializers"},
    {"bias_initializer", "initializer", "zeros", "see Initializers"},
    {"kernel_regularizer", "regularizer", "none", "see Regularizers"},
    {"bias_regularizer", "regularizer", "none", "see Regularizers"},
    {"activity_regularizer", "regularizer", "none", "on the output, divided by the batch size"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_dense = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "dense",
    .keras_class = "Dense",
    .doc = "densely connected: act(x W + b) on the last axis of its input",
    .keys = dense_keys,
    .keras_import = conv_dense,
    .export_onnx = onnx_map_dense,
    .parse = dense_parse,
    .infer = dense_infer,
    .plan = dense_plan,
    .forward = dense_forward,
    .backward = dense_backward,
    .keras_config = dense_keras_config,
    .release = dense_release,
    .export_c = dense_export_c,
    .fuses_loss = true,
};

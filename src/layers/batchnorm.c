/* BatchNormalization over the last axis (channels), Keras semantics: batch
 * statistics in training, moving statistics at inference and in frozen
 * layers (trainable = false), moving = momentum * moving + (1 - momentum) *
 * batch (the batch's biased variance, as Keras 3), weights named gamma,
 * beta, moving_mean, moving_variance. In data-parallel training each
 * process normalizes with its own share of the batch; sync = true (Keras's
 * synchronized = True, SyncBatchNormalization) uses the statistics of the
 * whole batch over every process instead. */
#include <math.h>
#include <stdlib.h>

#include <string.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/registry.h"

typedef struct {
    double momentum, epsilon;
    nn_gamma_beta gb;
    bool sync; /* statistics over every process of a data-parallel run */
    nn_initializer mean_init, var_init;
    int mean, var; /* parameter indices */
} bn_cfg;

typedef struct {
    nn_tensor mean, var; /* the last training batch's statistics */
} bn_state;

static nn_status bn_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    bn_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long axis;
    nn_status st;
    if ((st = nn_spec_int(s, "axis", false, -1, -64, 64, &axis, err)) ||
        (st = nn_spec_float(s, "momentum", false, 0.99, 0.0, 1.0, &c->momentum, err)) ||
        (st = nn_spec_float(s, "epsilon", false, 1e-3, 0.0, 1.0, &c->epsilon, err)) ||
        (st = nn_spec_bool(s, "center", false, true, &c->gb.center, err)) ||
        (st = nn_spec_bool(s, "scale", false, true, &c->gb.scale, err)) ||
        (st = nn_spec_bool(s, "sync", false, false, &c->sync, err)) ||
        (st = nn_spec_initializer(s, "beta_initializer", "zeros", &c->gb.beta_init, err)) ||
        (st = nn_spec_initializer(s, "gamma_initializer", "ones", &c->gb.gamma_init, err)) ||
        (st = nn_spec_initializer(s, "moving_mean_initializer", "zeros", &c->mean_init, err)) ||
        (st = nn_spec_initializer(s, "moving_variance_initializer", "ones", &c->var_init,
                                  err)) ||
        (st = nn_spec_regularizer(s, "beta_regularizer", &c->gb.beta_reg, err)) ||
        (st = nn_spec_regularizer(s, "gamma_regularizer", &c->gb.gamma_reg, err)))
        return st;
    if (axis != -1)
        return nn_spec_fail(s, "axis", err, NN_ERR_USAGE,
                            "only the channels axis (-1, channels-last) is supported, got %lld",
                            axis);
    return NN_OK;
}

static nn_status bn_infer(nn_node *n, nn_error *err)
{
    bn_cfg *c = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    n->ndim = in->ndim;
    for (int i = 0; i < in->ndim; i++)
        n->shape[i] = in->shape[i];
    int ch = in->shape[in->ndim - 1];
    nn_regularizer none = {0};
    nn_gamma_beta_add(n, &c->gb, ch);
    c->mean = n->n_params;
    nn_param *mean = nn_node_add_param(n, "moving_mean", 1, &ch, ch, ch, c->mean_init, none);
    c->var = n->n_params;
    nn_param *var = nn_node_add_param(n, "moving_variance", 1, &ch, ch, ch, c->var_init, none);
    mean->trainable = var->trainable = false;
    mean->moving = var->moving = true;
    return NN_OK;
}

static nn_status bn_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    bn_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    int ch[1] = {n->shape[n->ndim - 1]};
    nn_status st = e->ops->alloc(e, &s->mean, 1, ch, err);
    return st ? st : e->ops->alloc(e, &s->var, 1, ch, err);
}

static void bn_release(nn_node *n, nn_engine *e)
{
    bn_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->mean);
        e->ops->free(e, &s->var);
        free(s);
        n->state = NULL;
    }
}

/* the processes' sums, when this layer synchronizes and there are several */
static const nn_sum_hook *sync_hook(const bn_cfg *c, const nn_pass *p)
{
    return c->sync && p->rep && p->rep->sum.sum ? &p->rep->sum : NULL;
}

static void bn_forward(nn_node *n, const nn_pass *p)
{
    const bn_cfg *c = n->cfg;
    bn_state *s = n->state;
    nn_engine *e = p->e;
    int cols = n->shape[n->ndim - 1];
    int rows = (int)((size_t)p->rows * n->size / (size_t)cols);
    /* a frozen BatchNormalization runs in inference mode (Keras 2.1+) */
    if (p->training && n->trainable) {
        e->ops->batchnorm_forward(e, true, &n->in[0]->out, rows, cols,
                                  nn_param_w(n, c->gb.gamma), nn_param_w(n, c->gb.beta),
                                  &s->mean, &s->var, (float)c->epsilon, &n->out,
                                  sync_hook(c, p));
        const float m = (float)c->momentum;
        nn_tensor *mm = &n->params[c->mean].w, *mv = &n->params[c->var].w;
        e->ops->scale(e, mm, m, (size_t)cols);
        e->ops->axpy(e, 1.0f - m, &s->mean, mm, (size_t)cols);
        e->ops->scale(e, mv, m, (size_t)cols);
        e->ops->axpy(e, 1.0f - m, &s->var, mv, (size_t)cols);
    } else {
        e->ops->batchnorm_forward(e, false, &n->in[0]->out, rows, cols,
                                  nn_param_w(n, c->gb.gamma), nn_param_w(n, c->gb.beta),
                                  &n->params[c->mean].w, &n->params[c->var].w,
                                  (float)c->epsilon, &n->out, NULL);
    }
}

/* At inference y = (x - mean) / sqrt(var + eps) * gamma + beta: x * scale
 * + shift (model/fuse.c folds it into the layer before) */
static nn_status bn_inference_affine(const nn_node *n, nn_engine *e, float *scale, float *shift,
                                     nn_error *err)
{
    const bn_cfg *c = n->cfg;
    const size_t ch = (size_t)n->shape[n->ndim - 1];
    float *v = scale, *mean = shift;
    e->ops->download(e, v, &n->params[c->var].w, ch);
    e->ops->download(e, mean, &n->params[c->mean].w, ch);
    for (size_t k = 0; k < ch; k++) {
        scale[k] = (float)(1.0 / sqrt((double)v[k] + c->epsilon));
        shift[k] = -mean[k] * scale[k];
    }
    float *gb = nn_malloc(sizeof(float) * ch, err);
    if (!gb)
        return NN_ERR_RUNTIME;
    if (c->gb.gamma >= 0) {
        e->ops->download(e, gb, &n->params[c->gb.gamma].w, ch);
        for (size_t k = 0; k < ch; k++) {
            scale[k] *= gb[k];
            shift[k] *= gb[k];
        }
    }
    if (c->gb.beta >= 0) {
        e->ops->download(e, gb, &n->params[c->gb.beta].w, ch);
        for (size_t k = 0; k < ch; k++)
            shift[k] += gb[k];
    }
    free(gb);
    return NN_OK;
}

static void bn_backward(nn_node *n, const nn_pass *p)
{
    const bn_cfg *c = n->cfg;
    bn_state *s = n->state;
    nn_engine *e = p->e;
    int cols = n->shape[n->ndim - 1];
    int rows = (int)((size_t)p->rows * n->size / (size_t)cols);
    nn_tensor *dx = nn_grad_target(n, 0);
    bool train = n->trainable;
    if (!train || !p->training) {
        /* the forward pass used the moving statistics: an affine map,
         * dx = dy * gamma / sqrt(var + eps) (the forward op with a zero mean
         * and no beta); gamma and beta still learn when trainable */
        nn_tensor *mm = &n->params[c->mean].w, *mv = &n->params[c->var].w;
        if (train)
            e->ops->batchnorm_backward(e, &n->in[0]->out, &n->dout, rows, cols,
                                       nn_param_w(n, c->gb.gamma), mm, mv, (float)c->epsilon,
                                       NULL, nn_param_g(n, c->gb.gamma, true),
                                       nn_param_g(n, c->gb.beta, true), NULL);
        if (!dx)
            return;
        e->ops->fill(e, &s->mean, 0.0f, (size_t)cols);
        e->ops->batchnorm_forward(e, false, &n->dout, rows, cols, nn_param_w(n, c->gb.gamma),
                                  NULL, &s->mean, mv, (float)c->epsilon, dx, NULL);
        nn_grad_commit(n, 0, dx, p);
        return;
    }
    e->ops->batchnorm_backward(e, &n->in[0]->out, &n->dout, rows, cols,
                               nn_param_w(n, c->gb.gamma), &s->mean, &s->var, (float)c->epsilon,
                               dx, nn_param_g(n, c->gb.gamma, train),
                               nn_param_g(n, c->gb.beta, train), sync_hook(c, p));
    if (dx)
        nn_grad_commit(n, 0, dx, p);
}

static nn_status bn_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const bn_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "axis", json_integer(-1));
    json_object_set_new(cfg, "momentum", json_real(c->momentum));
    json_object_set_new(cfg, "epsilon", json_real(c->epsilon));
    json_object_set_new(cfg, "center", json_boolean(c->gb.center));
    json_object_set_new(cfg, "scale", json_boolean(c->gb.scale));
    /* Keras 3 and tf.keras 2.12+: BatchNormalization(synchronized=...) */
    json_object_set_new(cfg, "synchronized", json_boolean(c->sync));
    json_object_set_new(cfg, "beta_initializer", nn_initializer_keras_json(&c->gb.beta_init));
    json_object_set_new(cfg, "gamma_initializer", nn_initializer_keras_json(&c->gb.gamma_init));
    json_object_set_new(cfg, "moving_mean_initializer", nn_initializer_keras_json(&c->mean_init));
    json_object_set_new(cfg, "moving_variance_initializer",
                        nn_initializer_keras_json(&c->var_init));
    json_object_set_new(cfg, "beta_regularizer", nn_regularizer_keras_json(&c->gb.beta_reg));
    json_object_set_new(cfg, "gamma_regularizer", nn_regularizer_keras_json(&c->gb.gamma_reg));
    json_object_set_new(cfg, "beta_constraint", json_null());
    json_object_set_new(cfg, "gamma_constraint", json_null());
    return NN_OK;
}

/* The moving statistics folded into y = x * scale + shift, computed as the
 * engine's inference pass computes them. */
static nn_status bn_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const bn_cfg *c = n->cfg;
    const int cols = n->shape[n->ndim - 1];
    float *scale = malloc(sizeof(float) * 2 * (size_t)cols), *shift = scale + cols;
    if (!scale)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    const float *gamma = c->gb.gamma >= 0 ? nn_c_values(w, n, c->gb.gamma) : NULL;
    const float *beta = c->gb.beta >= 0 ? nn_c_values(w, n, c->gb.beta) : NULL;
    const float *mean = nn_c_values(w, n, c->mean), *var = nn_c_values(w, n, c->var);
    const float eps = (float)c->epsilon;
    for (int i = 0; mean && var && i < cols; i++) {
        float inv = 1.0f / sqrtf(var[i] + eps);
        scale[i] = (gamma ? gamma[i] : 1.0f) * inv;
        shift[i] = (beta ? beta[i] : 0.0f) - mean[i] * scale[i];
    }
    if (mean && var) {
        const char *sc = nn_c_const(w, n, "scale", scale, (size_t)cols);
        const char *sh = nn_c_const(w, n, "shift", shift, (size_t)cols);
        nn_c_affine(w, nn_c_in(w, n, 0), nn_c_out(w, n), n->size / (size_t)cols, cols, sc, sh);
    }
    free(scale);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */





static nn_status conv_batchnorm(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_refuse(L, "renorm", NULL, NULL)) ||
        (st = kx_refuse(L, "virtual_batch_size", NULL, NULL)) ||
        (st = kx_refuse(L, "adjustment", NULL, NULL)) || (st = kx_refuse(L, "mode", NULL, NULL)))
        return st;
    json_t *axis = kx_get(L, "axis", NULL);
    if (json_is_array(axis) && json_array_size(axis) == 1)
        axis = json_array_get(axis, 0);
    long long a = -1;
    if (axis && !kx_as_int(axis, &a))
        return kx_fail(L, "axis must be an integer (or a list of one)");
    /* Keras counts the batch axis: the channels axis is -1 or the rank */
    if (a != -1 && a != s->in_rank[0])
        return kx_fail(L, "axis %lld is not the channels (last) axis: nnctl normalizes over "
                          "the last axis only",
                       a);
    double momentum, epsilon;
    bool center, scale, sync;
    /* synchronized=True (Keras 3, tf.keras 2.12+) or tf.keras's
     * experimental SyncBatchNormalization class */
    if ((st = kx_want_float(L, "momentum", NULL, 0.99, &momentum)) ||
        (st = kx_want_float(L, "epsilon", NULL, 1e-3, &epsilon)) ||
        (st = kx_want_bool(L, "center", NULL, true, &center)) ||
        (st = kx_want_bool(L, "scale", NULL, true, &scale)) ||
        (st = kx_want_bool(L, "synchronized", NULL, !strcmp(L->cls, "SyncBatchNormalization"),
                           &sync)))
        return st;
    if (momentum < 0.0 || momentum > 1.0 || epsilon < 0.0 || epsilon > 1.0)
        return kx_fail(L, "momentum and epsilon must lie in [0, 1]");
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"batch_normalization\";");
    kx_key_float(t, "momentum", momentum);
    kx_key_float(t, "epsilon", epsilon);
    kx_key_bool(t, "center", center);
    kx_key_bool(t, "scale", scale);
    if (sync)
        kx_key_bool(t, "sync", true);
    kx_write_init(L, t, "beta_initializer", "beta_init");
    kx_write_init(L, t, "gamma_initializer", "gamma_init");
    kx_write_init(L, t, "moving_mean_initializer", NULL);
    kx_write_init(L, t, "moving_variance_initializer", NULL);
    if ((st = kx_write_reg(L, t, "beta_regularizer", NULL)) ||
        (st = kx_write_reg(L, t, "gamma_regularizer", NULL)))
        return st;
    return NN_OK;
}

/* ---- ONNX export ---- */

/* Inference BatchNormalization on the last axis, folded as the CPU engine
 * folds it (in float): x * scale + shift with scale = gamma / sqrt(var +
 * eps) and shift = beta - mean * scale. */
static nn_status onnx_map_batchnorm(onnx_layer *L, nn_error *err)
{
    const nn_param *mp = NULL;
    const float *mean = onnx_param(L, "moving_mean", &mp);
    const float *var = onnx_param(L, "moving_variance", NULL);
    const float *gamma = onnx_param(L, "gamma", NULL), *beta = onnx_param(L, "beta", NULL);
    if (!mean || !var)
        return onnx_layer_fail(L, err, "no moving statistics");
    const int C = mp->shape[0];
    const float eps = (float)onnx_cfg_real(L->cfg, "epsilon", 1e-3);
    float *scale = malloc((size_t)C * sizeof *scale), *shift = malloc((size_t)C * sizeof *shift);
    if (!scale || !shift) {
        free(scale);
        free(shift);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int c = 0; c < C; c++) {
        float inv = 1.0f / sqrtf(var[c] + eps);
        scale[c] = (gamma ? gamma[c] : 1.0f) * inv;
        shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * scale[c];
    }
    int64_t dims[1] = {C};
    const char *y = onnx_op2(L->g, "Mul", L->in[0], onnx_const_float(L->g, "scale", 1, dims, scale));
    L->out = onnx_op2(L->g, "Add", y, onnx_const_float(L->g, "shift", 1, dims, shift));
    free(scale);
    free(shift);
    return NN_OK;
}

static const char *const batchnorm_aliases[] = {"SyncBatchNormalization", NULL};

static const nn_doc_key batchnorm_keys[] = {
    {"axis", "int", "-1", "the channels axis (only the last is supported)"},
    {"momentum", "float", "0.99", "of the moving averages"},
    {"epsilon", "float", "0.001", "added to the variance"},
    {"center", "bool", "true", "learn a shift (beta)"},
    {"scale", "bool", "true", "learn a scale (gamma)"},
    {"beta_initializer", "initializer", "zeros", "see Initializers"},
    {"gamma_initializer", "initializer", "ones", "see Initializers"},
    {"moving_mean_initializer", "initializer", "zeros", "see Initializers"},
    {"moving_variance_initializer", "initializer", "ones", "see Initializers"},
    {"beta_regularizer", "regularizer", "none", "see Regularizers"},
    {"gamma_regularizer", "regularizer", "none", "see Regularizers"},
    {"sync", "bool", "false",
     "statistics over every process of a data-parallel run (Keras's synchronized)"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_batch_normalization = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "batch_normalization",
    .keras_class = "BatchNormalization",
    .doc = "normalizes the last axis with batch statistics while training, moving averages "
         "otherwise",
    .keys = batchnorm_keys,
    .keras_aliases = batchnorm_aliases,
    .keras_import = conv_batchnorm,
    .export_onnx = onnx_map_batchnorm,
    .parse = bn_parse,
    .infer = bn_infer,
    .plan = bn_plan,
    .forward = bn_forward,
    .inference_affine = bn_inference_affine,
    .backward = bn_backward,
    .keras_config = bn_keras_config,
    .release = bn_release,
    .export_c = bn_export_c,
};

bool nn_layer_syncs_processes(const nn_node *n)
{
    return n->type == &nn_layer_batch_normalization && ((const bn_cfg *)n->cfg)->sync;
}

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

#include "formats/c_code.h"
#include "layers/common.h"
#include "layers/registry.h"

typedef struct {
    double momentum, epsilon;
    bool center, scale;
    bool sync; /* statistics over every process of a data-parallel run */
    nn_initializer beta_init, gamma_init, mean_init, var_init;
    nn_regularizer beta_reg, gamma_reg;
    int gamma, beta, mean, var; /* parameter indices, -1 when absent */
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
        (st = nn_spec_bool(s, "center", false, true, &c->center, err)) ||
        (st = nn_spec_bool(s, "scale", false, true, &c->scale, err)) ||
        (st = nn_spec_bool(s, "sync", false, false, &c->sync, err)) ||
        (st = nn_spec_initializer(s, "beta_initializer", "zeros", &c->beta_init, err)) ||
        (st = nn_spec_initializer(s, "gamma_initializer", "ones", &c->gamma_init, err)) ||
        (st = nn_spec_initializer(s, "moving_mean_initializer", "zeros", &c->mean_init, err)) ||
        (st = nn_spec_initializer(s, "moving_variance_initializer", "ones", &c->var_init,
                                  err)) ||
        (st = nn_spec_regularizer(s, "beta_regularizer", &c->beta_reg, err)) ||
        (st = nn_spec_regularizer(s, "gamma_regularizer", &c->gamma_reg, err)))
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
    nn_regularizer none = {0, 0};
    c->gamma = c->beta = -1;
    if (c->scale) {
        c->gamma = n->n_params;
        nn_node_add_param(n, "gamma", 1, &ch, ch, ch, c->gamma_init, c->gamma_reg);
    }
    if (c->center) {
        c->beta = n->n_params;
        nn_node_add_param(n, "beta", 1, &ch, ch, ch, c->beta_init, c->beta_reg);
    }
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

static const nn_tensor *param(const nn_node *n, int idx)
{
    return idx >= 0 ? &n->params[idx].w : NULL;
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
        e->ops->batchnorm_forward(e, true, &n->in[0]->out, rows, cols, param(n, c->gamma),
                                  param(n, c->beta), &s->mean, &s->var, (float)c->epsilon,
                                  &n->out, sync_hook(c, p));
        const float m = (float)c->momentum;
        nn_tensor *mm = &n->params[c->mean].w, *mv = &n->params[c->var].w;
        e->ops->scale(e, mm, m, (size_t)cols);
        e->ops->axpy(e, 1.0f - m, &s->mean, mm, (size_t)cols);
        e->ops->scale(e, mv, m, (size_t)cols);
        e->ops->axpy(e, 1.0f - m, &s->var, mv, (size_t)cols);
    } else {
        e->ops->batchnorm_forward(e, false, &n->in[0]->out, rows, cols, param(n, c->gamma),
                                  param(n, c->beta), &n->params[c->mean].w,
                                  &n->params[c->var].w, (float)c->epsilon, &n->out, NULL);
    }
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
                                       param(n, c->gamma), mm, mv, (float)c->epsilon, NULL,
                                       c->gamma >= 0 ? &n->params[c->gamma].g : NULL,
                                       c->beta >= 0 ? &n->params[c->beta].g : NULL, NULL);
        if (!dx)
            return;
        e->ops->fill(e, &s->mean, 0.0f, (size_t)cols);
        e->ops->batchnorm_forward(e, false, &n->dout, rows, cols, param(n, c->gamma), NULL,
                                  &s->mean, mv, (float)c->epsilon, dx, NULL);
        nn_grad_commit(n, 0, dx, p);
        return;
    }
    e->ops->batchnorm_backward(e, &n->in[0]->out, &n->dout, rows, cols, param(n, c->gamma),
                               &s->mean, &s->var, (float)c->epsilon, dx,
                               train && c->gamma >= 0 ? &n->params[c->gamma].g : NULL,
                               train && c->beta >= 0 ? &n->params[c->beta].g : NULL,
                               sync_hook(c, p));
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
    json_object_set_new(cfg, "center", json_boolean(c->center));
    json_object_set_new(cfg, "scale", json_boolean(c->scale));
    /* Keras 3 and tf.keras 2.12+: BatchNormalization(synchronized=...) */
    json_object_set_new(cfg, "synchronized", json_boolean(c->sync));
    json_object_set_new(cfg, "beta_initializer", nn_initializer_keras_json(&c->beta_init));
    json_object_set_new(cfg, "gamma_initializer", nn_initializer_keras_json(&c->gamma_init));
    json_object_set_new(cfg, "moving_mean_initializer", nn_initializer_keras_json(&c->mean_init));
    json_object_set_new(cfg, "moving_variance_initializer",
                        nn_initializer_keras_json(&c->var_init));
    json_object_set_new(cfg, "beta_regularizer", nn_regularizer_keras_json(&c->beta_reg));
    json_object_set_new(cfg, "gamma_regularizer", nn_regularizer_keras_json(&c->gamma_reg));
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
    const float *gamma = c->gamma >= 0 ? nn_c_values(w, n, c->gamma) : NULL;
    const float *beta = c->beta >= 0 ? nn_c_values(w, n, c->beta) : NULL;
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

const nn_layer_type nn_layer_batch_normalization = {
    .name = "batch_normalization",
    .keras_class = "BatchNormalization",
    .parse = bn_parse,
    .infer = bn_infer,
    .plan = bn_plan,
    .forward = bn_forward,
    .backward = bn_backward,
    .keras_config = bn_keras_config,
    .release = bn_release,
    .export_c = bn_export_c,
};

bool nn_layer_syncs_processes(const nn_node *n)
{
    return n->type == &nn_layer_batch_normalization && ((const bn_cfg *)n->cfg)->sync;
}

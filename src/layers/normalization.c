/* Normalization: y = (x - mean) / max(sqrt(variance), 1e-7), Keras's
 * Normalization layer over the last axis. The statistics are the spec's
 * (Keras's config mean and variance: ConvNeXt, EfficientNetV2) or, without
 * them, non-trainable weights mean, variance and count, as Keras keeps
 * what adapt() measured (EfficientNet). The gradient is dy / the same
 * denominator.
 *
 * Spec: mean, variance (a number, or one per channel; both or neither). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/c_code.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

#define KERAS_EPSILON 1e-7f /* keras.config.epsilon(): the smallest denominator */

typedef struct {
    nn_channel_values mean, var; /* count 0: the weights hold them */
} norm_cfg;

typedef struct {
    nn_tensor mean, var;      /* the spec's statistics, per channel */
    nn_tensor floor, clamped; /* variance at least epsilon^2 */
    nn_tensor one, zero, inv; /* inv = 1 / the denominator (backward) */
} norm_state;

static nn_status norm_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    norm_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    bool has_m = nn_spec_has(s, "mean"), has_v = nn_spec_has(s, "variance");
    if (has_m != has_v)
        return nn_spec_fail(s, has_m ? "mean" : "variance", err, NN_ERR_USAGE,
                            "give both mean and variance, or neither (then the layer holds them "
                            "as weights)");
    if (!has_m)
        return NN_OK;
    nn_status st = nn_spec_channel_values(s, "mean", true, 0.0, &c->mean, err);
    if (!st)
        st = nn_spec_channel_values(s, "variance", true, 1.0, &c->var, err);
    for (int i = 0; !st && i < c->var.count; i++)
        if (c->var.v[i] < 0.0f)
            st = nn_spec_fail(s, "variance", err, NN_ERR_USAGE, "variance %g is negative",
                              c->var.v[i]);
    return st;
}

static int channels(const nn_node *n) { return n->shape[n->ndim - 1]; }

static nn_status norm_infer(nn_node *n, nn_error *err)
{
    const norm_cfg *c = n->cfg;
    nn_status shaped = nn_infer_same_shape(n, err);
    if (shaped)
        return shaped;
    if (c->mean.count) {
        nn_status st = nn_channel_values_check(n, &c->mean, "mean", err);
        return st ? st : nn_channel_values_check(n, &c->var, "variance", err);
    }
    int ch = channels(n);
    nn_regularizer none = {0};
    nn_param *p[3];
    p[0] = nn_node_add_param(n, "mean", 1, &ch, ch, ch, nn_initializer_named("zeros"), none);
    p[1] = nn_node_add_param(n, "variance", 1, &ch, ch, ch, nn_initializer_named("ones"), none);
    p[2] = nn_node_add_param(n, "count", 0, NULL, 1, 1, nn_initializer_named("zeros"), none);
    for (int k = 0; k < 3; k++)
        p[k]->trainable = false;
    return NN_OK;
}

static nn_status alloc_fill(nn_engine *e, nn_tensor *t, int ch, const nn_channel_values *v,
                            float value, nn_error *err)
{
    nn_status st = e->ops->alloc(e, t, 1, &ch, err);
    if (st)
        return st;
    if (!v) {
        e->ops->fill(e, t, value, (size_t)ch);
        return NN_OK;
    }
    float *h = malloc((size_t)ch * sizeof *h);
    if (!h)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    nn_channel_values_expand(v, ch, h);
    e->ops->upload(e, t, h, (size_t)ch);
    free(h);
    return NN_OK;
}

static nn_status norm_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    const norm_cfg *c = n->cfg;
    norm_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    int ch = channels(n);
    nn_status st;
    if (c->mean.count && ((st = alloc_fill(e, &s->mean, ch, &c->mean, 0, err)) ||
                          (st = alloc_fill(e, &s->var, ch, &c->var, 0, err))))
        return st;
    if ((st = alloc_fill(e, &s->floor, ch, NULL, KERAS_EPSILON * KERAS_EPSILON, err)) ||
        (st = alloc_fill(e, &s->clamped, ch, NULL, 0.0f, err)) ||
        (st = alloc_fill(e, &s->one, ch, NULL, 1.0f, err)) ||
        (st = alloc_fill(e, &s->zero, ch, NULL, 0.0f, err)) ||
        (st = alloc_fill(e, &s->inv, ch, NULL, 0.0f, err)))
        return st;
    return NN_OK;
}

static void norm_release(nn_node *n, nn_engine *e)
{
    norm_state *s = n->state;
    if (!s)
        return;
    nn_tensor *t[] = {&s->mean, &s->var, &s->floor, &s->clamped, &s->one, &s->zero, &s->inv};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        e->ops->free(e, t[i]);
    free(s);
    n->state = NULL;
}

/* The statistics, with the variance held at epsilon^2 or more (Keras's
 * max(sqrt(variance), epsilon)). */
static void stats(nn_node *n, nn_engine *e, const nn_tensor **mean, const nn_tensor **var)
{
    const norm_cfg *c = n->cfg;
    norm_state *s = n->state;
    *mean = c->mean.count ? &s->mean : &n->params[0].w;
    e->ops->extremum(e, true, c->mean.count ? &s->var : &n->params[1].w, &s->floor, &s->clamped,
                     (size_t)channels(n));
    *var = &s->clamped;
}

static void norm_forward(nn_node *n, const nn_pass *p)
{
    const nn_tensor *mean, *var;
    stats(n, p->e, &mean, &var);
    int ch = channels(n), rows = (int)((size_t)p->rows * n->size / (size_t)ch);
    /* batch normalization's inference form with no scale, shift or epsilon
     * is exactly (x - mean) / sqrt(var) */
    p->e->ops->batchnorm_forward(p->e, false, &n->in[0]->out, rows, ch, NULL, NULL,
                                 (nn_tensor *)mean, (nn_tensor *)var, 0.0f, &n->out, NULL);
}

static void norm_backward(nn_node *n, const nn_pass *p)
{
    norm_state *s = n->state;
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    const nn_tensor *mean, *var;
    stats(n, p->e, &mean, &var);
    int ch = channels(n);
    /* 1 / sqrt(var): the same normalization of a row of ones about 0 */
    p->e->ops->batchnorm_forward(p->e, false, &s->one, 1, ch, NULL, NULL, &s->zero,
                                 (nn_tensor *)var, 0.0f, &s->inv, NULL);
    nn_channel_apply(p->e, true, &n->dout, &s->inv, ch, dx, (size_t)p->rows * n->size, ch);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status norm_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    const norm_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "axis", json_pack("[i]", -1));
    json_object_set_new(cfg, "invert", json_false());
    if (!c->mean.count) {
        json_object_set_new(cfg, "mean", json_null());
        json_object_set_new(cfg, "variance", json_null());
        return NN_OK;
    }
    /* Keras wants mean and variance of one shape: a single value stays
     * one only when both are */
    int ch = c->mean.count == c->var.count ? c->mean.count : channels(n);
    nn_channel_values v[2] = {{malloc((size_t)ch * sizeof(float)), ch},
                              {malloc((size_t)ch * sizeof(float)), ch}};
    if (!v[0].v || !v[1].v) {
        free(v[0].v);
        free(v[1].v);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    nn_channel_values_expand(&c->mean, ch, v[0].v);
    nn_channel_values_expand(&c->var, ch, v[1].v);
    json_object_set_new(cfg, "mean", nn_channel_values_json(&v[0]));
    json_object_set_new(cfg, "variance", nn_channel_values_json(&v[1]));
    free(v[0].v);
    free(v[1].v);
    return NN_OK;
}

/* The per-channel scale 1 / max(sqrt(var), eps) and shift -mean * scale,
 * from the spec's values or the weights (host copies: mean, var). */
static void affine(const nn_node *n, const float *mean, const float *var, float *scale,
                   float *shift)
{
    const norm_cfg *c = n->cfg;
    int ch = channels(n);
    for (int i = 0; i < ch; i++) {
        float m = c->mean.count ? c->mean.v[c->mean.count == 1 ? 0 : i] : mean[i];
        float v = c->mean.count ? c->var.v[c->var.count == 1 ? 0 : i] : var[i];
        float d = sqrtf(v) > KERAS_EPSILON ? sqrtf(v) : KERAS_EPSILON;
        scale[i] = 1.0f / d;
        shift[i] = -m / d;
    }
}

static nn_status norm_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const norm_cfg *c = n->cfg;
    int ch = channels(n);
    float *v = malloc(2 * (size_t)ch * sizeof *v);
    if (!v)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    const float *mean = c->mean.count ? NULL : nn_c_values(w, n, 0);
    const float *var = c->mean.count ? NULL : nn_c_values(w, n, 1);
    if (c->mean.count || (mean && var)) {
        affine(n, mean, var, v, v + ch);
        const char *scale = nn_c_const(w, n, "scale", v, (size_t)ch);
        const char *shift = nn_c_const(w, n, "shift", v + ch, (size_t)ch);
        nn_c_affine(w, nn_c_in(w, n, 0), nn_c_out(w, n), n->size / (size_t)ch, ch, scale, shift);
    }
    free(v);
    return nn_c_status(w, err);
}

static void norm_free_cfg(nn_node *n)
{
    norm_cfg *c = n->cfg;
    free(c->mean.v);
    free(c->var.v);
    free(c);
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_normalization(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_refuse(L, "invert", NULL, "the inverse normalization")))
        return st;
    json_t *axis = kx_get(L, "axis", NULL);
    if (json_is_array(axis) && json_array_size(axis) == 1)
        axis = json_array_get(axis, 0);
    long long a = -1;
    if (axis && !kx_as_int(axis, &a))
        return kx_fail(L, "axis must be the last axis (-1): nnctl normalizes per channel");
    if (a != -1 && a != s->in_rank[0])
        return kx_fail(L, "axis %lld is not the last axis: nnctl normalizes per channel", a);
    json_t *mean = kx_get(L, "mean", NULL), *var = kx_get(L, "variance", NULL);
    if (!mean != !var)
        return kx_fail(L, "mean and variance must both be given or both be null");
    kx_printf(t, "type = \"normalization\";");
    if (mean && ((st = kx_key_numbers(L, t, "mean", mean)) ||
                 (st = kx_key_numbers(L, t, "variance", var))))
        return st;
    s->rank = s->in_rank[0];
    return NN_OK;
}

static nn_status onnx_map_normalization(onnx_layer *L, nn_error *err)
{
    const norm_cfg *c = L->n->cfg;
    int ch = channels(L->n);
    float *v = malloc(2 * (size_t)ch * sizeof *v);
    if (!v)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    affine(L->n, c->mean.count ? NULL : L->w[0], c->mean.count ? NULL : L->w[1], v, v + ch);
    int64_t dims[1] = {ch};
    const char *y = onnx_op2(L->g, "Mul", L->in[0], onnx_const_float(L->g, "scale", 1, dims, v));
    L->out = onnx_op2(L->g, "Add", y, onnx_const_float(L->g, "shift", 1, dims, v + ch));
    free(v);
    return NN_OK;
}

static const nn_doc_key normalization_keys[] = {
    {"mean", "float or [float]", "none", "one, or one per channel (with variance)"},
    {"variance", "float or [float]", "none", "one, or one per channel (with mean)"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_normalization = {
    .name = "normalization",
    .keras_class = "Normalization",
    .doc = "(x - mean) / max(sqrt(variance), 1e-7) per channel of the last axis; without "
           "mean and variance they are non-trainable weights, as adapt() leaves them",
    .keys = normalization_keys,
    .keras_import = nn_keras_import_normalization,
    .export_onnx = onnx_map_normalization,
    .parse = norm_parse,
    .infer = norm_infer,
    .plan = norm_plan,
    .forward = norm_forward,
    .backward = norm_backward,
    .keras_config = norm_keras_config,
    .release = norm_release,
    .export_c = norm_export_c,
    .free_cfg = norm_free_cfg,
};

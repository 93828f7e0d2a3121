/* LayerScale: y = x * gamma, one trainable factor per channel of the last
 * axis (ConvNeXt's residual branches, started at init_values, Keras's
 * keras.applications.convnext.LayerScale). Backward: dx = dy * gamma,
 * dgamma = the sum over positions of dy * x.
 *
 * Spec: init_values (gamma's starting value, default 1e-6); the channel
 * count comes from the input. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    double init_values;
    nn_regularizer reg;
} lsc_cfg;

static nn_status lsc_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    lsc_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    nn_status st = nn_spec_float(s, "init_values", false, 1e-6, -1e30, 1e30, &c->init_values, err);
    return st ? st : nn_spec_regularizer(s, "gamma_regularizer", &c->reg, err);
}

static int channels(const nn_node *n) { return n->shape[n->ndim - 1]; }

static nn_status lsc_infer(nn_node *n, nn_error *err)
{
    const lsc_cfg *c = n->cfg;
    nn_status shaped = nn_infer_same_shape(n, err);
    if (shaped)
        return shaped;
    int ch = channels(n);
    nn_initializer init = nn_initializer_named("constant");
    init.a = c->init_values;
    nn_node_add_param(n, "gamma", 1, &ch, ch, ch, init, c->reg);
    return NN_OK;
}

static void lsc_forward(nn_node *n, const nn_pass *p)
{
    nn_channel_apply(p->e, true, &n->in[0]->out, &n->params[0].w, channels(n), &n->out,
                     (size_t)p->rows * n->size, channels(n));
}

static void lsc_backward(nn_node *n, const nn_pass *p)
{
    size_t total = (size_t)p->rows * n->size;
    int ch = channels(n);
    if (n->trainable)
        p->e->ops->bcast_reduce(p->e, &n->dout, &n->in[0]->out, &n->params[0].g, 1,
                                (int)(total / (size_t)ch), ch, 0.0f);
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    nn_channel_apply(p->e, true, &n->dout, &n->params[0].w, ch, dx, total, ch);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status lsc_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const lsc_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "init_values", json_real(c->init_values));
    json_object_set_new(cfg, "projection_dim", json_integer(channels(n)));
    return NN_OK;
}

static nn_status lsc_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    int ch = channels(n);
    float *zero = calloc((size_t)ch, sizeof *zero);
    if (!zero)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    const char *shift = nn_c_const(w, n, "zero", zero, (size_t)ch);
    free(zero);
    nn_c_affine(w, nn_c_in(w, n, 0), nn_c_out(w, n), n->size / (size_t)ch, ch, nn_c_param(w, n, 0),
                shift);
    return nn_c_status(w, err);
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_layer_scale(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    double init;
    if (st || (st = kx_want_float(L, "init_values", NULL, 1e-6, &init)))
        return st;
    kx_printf(t, "type = \"layer_scale\";");
    kx_key_float(t, "init_values", init);
    s->rank = s->in_rank[0];
    return NN_OK;
}

static nn_status onnx_map_layer_scale(onnx_layer *L, nn_error *err)
{
    (void)err;
    int64_t dims[1] = {channels(L->n)};
    L->out = onnx_op2(L->g, "Mul", L->in[0], onnx_const_float(L->g, "gamma", 1, dims, L->w[0]));
    return NN_OK;
}

static const nn_doc_key layer_scale_keys[] = {
    {"init_values", "float", "1e-6", "gamma's starting value"},
    {"gamma_regularizer", "regularizer", "none", "see Regularizers"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_layer_scale = {
    .name = "layer_scale",
    .keras_class = "LayerScale",
    .doc = "x * gamma, one trainable factor per channel of the last axis (ConvNeXt)",
    .keys = layer_scale_keys,
    .keras_import = nn_keras_import_layer_scale,
    .export_onnx = onnx_map_layer_scale,
    .parse = lsc_parse,
    .infer = lsc_infer,
    .forward = lsc_forward,
    .backward = lsc_backward,
    .keras_config = lsc_keras_config,
    .export_c = lsc_export_c,
};

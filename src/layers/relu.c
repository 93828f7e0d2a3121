/* ReLU with a cap: y = min(max(x, 0), max_value), Keras's ReLU(max_value)
 * (MobileNet's ReLU6). Without max_value Keras's ReLU imports as an
 * Activation (relu or leaky_relu); this layer is what the cap needs.
 *
 * Spec: max_value (> 0, required). Backward: dy where 0 < x and the cap
 * was not reached (at x = max_value exactly the gradient is Keras's 1). */
#include <stdlib.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    float max_value;
} relu_cfg;

typedef struct {
    nn_tensor a, taken, tmp; /* relu(x) before the cap; route mask; dy below the cap */
} relu_state;

static nn_status relu_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    relu_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    double v;
    nn_status st = nn_spec_float(s, "max_value", true, 6.0, 1e-30, 1e30, &v, err);
    c->max_value = (float)v;
    return st;
}

static nn_status relu_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = n->in[0]->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = n->in[0]->shape[i];
    return NN_OK;
}

static nn_status relu_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    relu_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    if (!n->needs_grad)
        return NN_OK;
    nn_status st;
    if ((st = e->ops->alloc(e, &s->a, n->out.ndim, n->out.shape, err)) ||
        (st = e->ops->alloc(e, &s->taken, n->out.ndim, n->out.shape, err)) ||
        (st = e->ops->alloc(e, &s->tmp, n->out.ndim, n->out.shape, err)))
        return st;
    return NN_OK;
}

static void relu_release(nn_node *n, nn_engine *e)
{
    relu_state *s = n->state;
    if (!s)
        return;
    e->ops->free(e, &s->a);
    e->ops->free(e, &s->taken);
    e->ops->free(e, &s->tmp);
    free(s);
    n->state = NULL;
}

static void relu_forward(nn_node *n, const nn_pass *p)
{
    const relu_cfg *c = n->cfg;
    relu_state *s = n->state;
    size_t count = (size_t)p->rows * n->size;
    int rows = p->rows, cols = (int)n->size;
    if (!(p->training && n->needs_grad) && c->max_value == 6.0) {
        /* MobileNet's ReLU6 when no gradient follows: one pass */
        p->e->ops->act_forward(p->e, NN_ACT_RELU6, 0.0f, &n->in[0]->out, &n->out, rows, cols);
        return;
    }
    /* training keeps relu(x) for the backward pass; inference caps in place */
    p->e->ops->act_forward(p->e, NN_ACT_RELU, 0.0f, &n->in[0]->out, &n->out, rows, cols);
    if (p->training && n->needs_grad)
        p->e->ops->copy(p->e, &s->a, &n->out, count);
    p->e->ops->clip(p->e, &n->out, c->max_value, count); /* y >= 0: only the cap acts */
}

static void relu_backward(nn_node *n, const nn_pass *p)
{
    relu_state *s = n->state;
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    size_t count = (size_t)p->rows * n->size;
    p->e->ops->fill(p->e, &s->taken, 0.0f, count);
    /* dy where the cap did not act (relu(x) == y), then where x > 0 */
    p->e->ops->route_equal(p->e, &s->a, &n->out, &n->dout, &s->taken, &s->tmp, count);
    p->e->ops->act_backward(p->e, NN_ACT_RELU, 0.0f, &n->in[0]->out, &s->a, &s->tmp, dx, p->rows,
                            (int)n->size);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status relu_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const relu_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "max_value", json_real(c->max_value));
    json_object_set_new(cfg, "negative_slope", json_real(0.0));
    json_object_set_new(cfg, "threshold", json_real(0.0));
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

/* Keras's ReLU with a max_value; the other ReLUs are activation layers
 * (the activation row reads them). */
static nn_status import_capped(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    double max_value, slope, threshold;
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_want_float(L, "max_value", NULL, 0.0, &max_value)) ||
        (st = kx_want_float(L, "negative_slope", NULL, 0.0, &slope)) ||
        (st = kx_want_float(L, "threshold", NULL, 0.0, &threshold)))
        return st;
    if (threshold != 0.0)
        return kx_fail(L, "threshold = %g is not supported", threshold);
    if (!(max_value > 0.0))
        return kx_fail(L, "max_value = %g: expected a positive cap", max_value);
    if (slope != 0.0)
        return kx_fail(L, "negative_slope with max_value is not supported (a capped leaky "
                          "ReLU)");
    kx_printf(t, "type = \"relu\";");
    kx_key_float(t, "max_value", max_value);
    s->rank = s->in_rank[0];
    return NN_OK;
}

static nn_status onnx_map_relu(onnx_layer *L, nn_error *err)
{
    (void)err;
    const relu_cfg *c = L->n->cfg;
    onnx_node nd;
    const char *out = onnx_fresh(L->g, "Clip");
    onnx_node_begin(&nd, L->g, "Clip");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_input(&nd, onnx_scalar(L->g, "min", 0.0f));
    onnx_node_input(&nd, onnx_scalar(L->g, "max", c->max_value));
    onnx_node_output(&nd, out);
    onnx_node_end(&nd);
    L->out = out;
    return NN_OK;
}

extern const nn_layer_type nn_layer_activation;

static nn_status relu_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    /* without a cap it is an activation layer, as Keras 2 files have it */
    if (!kx_get(L, "max_value", NULL))
        return nn_layer_activation.keras_import(L, t, s);
    return import_capped(L, t, s);
}

static const nn_doc_key relu_keys[] = {
    {"max_value", "float", "required", "the cap (> 0)"},
    {NULL, NULL, NULL, NULL},
};

/* ReLU(max_value = 6) is relu6: a convolution before it may apply it */
static bool relu_as_activation(const nn_node *n, nn_act *act, float *alpha)
{
    const relu_cfg *c = n->cfg;
    *act = NN_ACT_RELU6;
    *alpha = 0.0f;
    return c->max_value == 6.0f;
}

const nn_layer_type nn_layer_relu = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "relu",
    .keras_class = "ReLU",
    .doc = "min(max(x, 0), max_value): a ReLU with a cap (relu6 as max_value = 6)",
    .keys = relu_keys,
    .keras_import = relu_keras_import,
    .export_onnx = onnx_map_relu,
    .parse = relu_parse,
    .infer = relu_infer,
    .plan = relu_plan,
    .forward = relu_forward,
    .backward = relu_backward,
    .as_activation = relu_as_activation,
    .keras_config = relu_keras_config,
    .release = relu_release,
};

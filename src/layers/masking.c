/* Masking: Keras's Masking layer. On a (steps, features) input, a step
 * whose features all equal mask_value is padding: its output row is 0, and
 * the output carries a mask (0 there, 1 elsewhere) that recurrent layers
 * and GlobalAveragePooling1D honour, as after an Embedding with mask_zero.
 * It is how Keras masks sequences of numbers (sensor readings, pre-computed
 * features) rather than of token ids. The gradient is dy times the mask.
 *
 * Spec: mask_value (default 0). */
#include <stdlib.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    float value;
} masking_cfg;

static nn_status masking_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    masking_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    double v = 0.0;
    nn_status st = nn_spec_float(s, "mask_value", false, 0.0, -3.4e38, 3.4e38, &v, err);
    c->value = (float)v;
    return st;
}

static nn_status masking_infer(nn_node *n, nn_error *err)
{
    nn_status st = nn_infer_same_shape(n, err);
    if (st)
        return st;
    /* the mask is one value per step: Keras's on a (steps, features) input */
    if (n->ndim != 2)
        return nn_node_fail(n, err,
                            "masks steps of a (steps, features) input, one mask per step; got "
                            "%d axes per sample",
                            n->ndim);
    n->mask = &n->mask_buf;
    n->mask_steps = n->shape[0];
    return NN_OK;
}

/* The mask's buffer: planned with the batch, so a pass allocates nothing. */
static nn_status masking_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    int shape[2] = {batch, n->mask_steps};
    return e->ops->alloc(e, &n->mask_buf, 2, shape, err);
}

static void masking_release(nn_node *n, nn_engine *e)
{
    e->ops->free(e, &n->mask_buf);
}

static void masking_forward(nn_node *n, const nn_pass *p)
{
    const masking_cfg *c = n->cfg;
    const int steps = n->shape[0], features = n->shape[1];
    const int rows = p->rows * steps;
    p->e->ops->mask_rows(p->e, &n->in[0]->out, c->value, &n->mask_buf, (size_t)rows, features);
    /* each step's row times its mask value: (rows, features, 1) by (rows, 1) */
    p->e->ops->bcast_apply(p->e, true, &n->in[0]->out, &n->mask_buf, &n->out, rows, features, 1);
}

static void masking_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    p->e->ops->bcast_apply(p->e, true, &n->dout, &n->mask_buf, dx, p->rows * n->shape[0],
                           n->shape[1], 1);
    nn_grad_commit(n, 0, dx, p);
}

/* The steps of one sample's input that forward keeps (bucket_by_length). */
static void masking_mask_span(const nn_node *n, const float *x, size_t *lo, size_t *hi)
{
    const masking_cfg *c = n->cfg;
    nn_steps_span(x, (size_t)n->shape[0], (size_t)n->shape[1], c->value, lo, hi);
}

static nn_status masking_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const masking_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "mask_value", json_real(c->value));
    return NN_OK;
}

static nn_status masking_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    double v;
    nn_status st = kx_one_input(L, s, 2);
    if (st || (st = kx_want_float(L, "mask_value", NULL, 0.0, &v)))
        return st;
    kx_printf(t, "type = \"masking\";");
    kx_key_float(t, "mask_value", v);
    s->rank = 2;
    return NN_OK;
}

/* y = x * max over the features of (x != mask_value). Opset 13's ReduceMax
 * takes its axes as an attribute. A masked recurrent layer after it is
 * refused by that layer, as after mask_zero. */
static nn_status masking_export_onnx(onnx_layer *L, nn_error *err)
{
    (void)err;
    const masking_cfg *c = L->n->cfg;
    const char *same = onnx_op2(L->g, "Equal", L->in[0], onnx_scalar(L->g, "mask_value", c->value));
    const char *differs = onnx_op1(L->g, "Not", same);
    onnx_node nd;
    const char *as_float = onnx_fresh(L->g, "differs");
    onnx_node_begin(&nd, L->g, "Cast");
    onnx_node_input(&nd, differs);
    onnx_node_output(&nd, as_float);
    onnx_attr_int(&nd, "to", 1); /* TensorProto FLOAT */
    onnx_node_end(&nd);
    const char *mask = onnx_fresh(L->g, "mask");
    const int64_t last = -1;
    onnx_node_begin(&nd, L->g, "ReduceMax");
    onnx_node_input(&nd, as_float);
    onnx_node_output(&nd, mask);
    onnx_attr_ints(&nd, "axes", &last, 1);
    onnx_attr_int(&nd, "keepdims", 1);
    onnx_node_end(&nd);
    L->out = onnx_op2(L->g, "Mul", L->in[0], mask);
    return NN_OK;
}

static const nn_doc_key masking_keys[] = {
    {"mask_value", "float", "0", "a step whose features all equal it is padding"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_masking = {
    .name = "masking",
    .keras_class = "Masking",
    .doc = "marks the steps of a (steps, features) input whose features all equal mask_value "
           "as padding: zeros out, masked for recurrent layers and GlobalAveragePooling1D",
    .keys = masking_keys,
    .parse = masking_parse,
    .infer = masking_infer,
    .plan = masking_plan,
    .forward = masking_forward,
    .backward = masking_backward,
    .release = masking_release,
    .keras_config = masking_keras_config,
    .keras_import = masking_keras_import,
    .export_onnx = masking_export_onnx,
    .mask_span = masking_mask_span,
};

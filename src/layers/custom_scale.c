/* CustomScaleLayer: y = x0 + scale * x1, InceptionResNetV2's residual
 * branch scaled before it joins the trunk (Keras 3 saves it under this
 * class name; tf-keras used a Lambda, whose Python code nnctl cannot run).
 *
 * Spec: inputs = [trunk, branch]; scale (required). */
#include <stdlib.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    float scale;
} cs_cfg;

static nn_status cs_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    cs_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    double v;
    nn_status st = nn_spec_float(s, "scale", true, 1.0, -1e30, 1e30, &v, err);
    c->scale = (float)v;
    return st;
}

static nn_status cs_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 2)
        return nn_node_fail(n, err, "takes two inputs (trunk, branch), got %d", n->n_in);
    const nn_node *a = n->in[0], *b = n->in[1];
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++)
        same = a->shape[i] == b->shape[i];
    if (!same)
        return nn_node_fail(n, err, "its inputs '%s' and '%s' have different shapes", a->name,
                            b->name);
    n->ndim = a->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = a->shape[i];
    return NN_OK;
}

static void cs_forward(nn_node *n, const nn_pass *p)
{
    const cs_cfg *c = n->cfg;
    size_t count = (size_t)p->rows * n->size;
    p->e->ops->copy(p->e, &n->out, &n->in[0]->out, count);
    p->e->ops->axpy(p->e, c->scale, &n->in[1]->out, &n->out, count);
}

static void cs_backward(nn_node *n, const nn_pass *p)
{
    const cs_cfg *c = n->cfg;
    size_t count = (size_t)p->rows * n->size;
    for (int i = 0; i < 2; i++) {
        nn_tensor *dx = nn_grad_target(n, i);
        if (!dx)
            continue;
        p->e->ops->copy(p->e, dx, &n->dout, count);
        if (i == 1)
            p->e->ops->scale(p->e, dx, c->scale, count);
        nn_grad_commit(n, i, dx, p);
    }
}

static nn_status cs_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const cs_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "scale", json_real(c->scale));
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_custom_scale(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    if (s->n_in != 2)
        return kx_fail(L, "takes two inputs, got %d", s->n_in);
    json_t *v = kx_get(L, "scale", NULL);
    if (!json_is_number(v))
        return kx_fail(L, "\"scale\" must be a number");
    kx_printf(t, "type = \"custom_scale\";");
    kx_key_float(t, "scale", json_number_value(v));
    s->rank = s->in_rank[0];
    return NN_OK;
}

static nn_status onnx_map_custom_scale(onnx_layer *L, nn_error *err)
{
    (void)err;
    const cs_cfg *c = L->n->cfg;
    const char *scaled = onnx_op2(L->g, "Mul", L->in[1], onnx_scalar(L->g, "scale", c->scale));
    L->out = onnx_op2(L->g, "Add", L->in[0], scaled);
    return NN_OK;
}

static const nn_doc_key custom_scale_keys[] = {
    {"scale", "float", "required", "the branch's factor"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_custom_scale = {
    .name = "custom_scale",
    .keras_class = "CustomScaleLayer",
    .doc = "trunk + scale * branch of its two inputs (Keras 3's CustomScaleLayer)",
    .keys = custom_scale_keys,
    .keras_import = nn_keras_import_custom_scale,
    .export_onnx = onnx_map_custom_scale,
    .parse = cs_parse,
    .infer = cs_infer,
    .forward = cs_forward,
    .backward = cs_backward,
    .keras_config = cs_keras_config,
};

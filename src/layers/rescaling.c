/* Rescaling: y = x * scale + offset, Keras's Rescaling layer (a number
 * each, or one per channel of the last axis: EfficientNet's 1 / 255 and
 * 1 / sqrt(stddev), MobileNetV3's x / 127.5 - 1). Keras 3's raw arithmetic
 * between a tensor and a number (x + 3.0, x * (1 / 6), as MobileNetV3
 * builds its hard sigmoid) imports as this layer too (io/keras/
 * import_ops.c). The gradient is dy * scale.
 *
 * Spec: scale (default 1), offset (default 0): a number or a list with one
 * number per channel. */
#include <stdlib.h>
#include <string.h>

#include "formats/c_code.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    nn_channel_values scale, offset;
} rs_cfg;

typedef struct {
    nn_tensor scale, offset;
} rs_state;

static nn_status rs_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    rs_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    nn_status st = nn_spec_channel_values(s, "scale", false, 1.0, &c->scale, err);
    return st ? st : nn_spec_channel_values(s, "offset", false, 0.0, &c->offset, err);
}

static nn_status rs_infer(nn_node *n, nn_error *err)
{
    const rs_cfg *c = n->cfg;
    nn_status st = nn_infer_same_shape(n, err);
    if (!st)
        st = nn_channel_values_check(n, &c->scale, "scale", err);
    return st ? st : nn_channel_values_check(n, &c->offset, "offset", err);
}

static nn_status rs_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    const rs_cfg *c = n->cfg;
    rs_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    nn_status st = nn_channel_values_upload(&c->scale, e, &s->scale, err);
    return st ? st : nn_channel_values_upload(&c->offset, e, &s->offset, err);
}

static void rs_release(nn_node *n, nn_engine *e)
{
    rs_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->scale);
        e->ops->free(e, &s->offset);
        free(s);
        n->state = NULL;
    }
}

static bool is_const(const nn_channel_values *v, float x)
{
    return v->count == 1 && v->v[0] == x;
}

static int channels(const nn_node *n) { return n->shape[n->ndim - 1]; }

static void rs_forward(nn_node *n, const nn_pass *p)
{
    const rs_cfg *c = n->cfg;
    rs_state *s = n->state;
    size_t total = (size_t)p->rows * n->size;
    const nn_tensor *x = &n->in[0]->out;
    if (is_const(&c->scale, 1.0f) && is_const(&c->offset, 0.0f)) {
        p->e->ops->copy(p->e, &n->out, x, total);
        return;
    }
    if (!is_const(&c->scale, 1.0f)) {
        nn_channel_apply(p->e, true, x, &s->scale, c->scale.count, &n->out, total, channels(n));
        x = &n->out;
    }
    if (!is_const(&c->offset, 0.0f))
        nn_channel_apply(p->e, false, x, &s->offset, c->offset.count, &n->out, total,
                         channels(n));
}

static void rs_backward(nn_node *n, const nn_pass *p)
{
    const rs_cfg *c = n->cfg;
    rs_state *s = n->state;
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    size_t total = (size_t)p->rows * n->size;
    if (is_const(&c->scale, 1.0f))
        p->e->ops->copy(p->e, dx, &n->dout, total);
    else
        nn_channel_apply(p->e, true, &n->dout, &s->scale, c->scale.count, dx, total,
                         channels(n));
    nn_grad_commit(n, 0, dx, p);
}

static nn_status rs_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const rs_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "scale", nn_channel_values_json(&c->scale));
    json_object_set_new(cfg, "offset", nn_channel_values_json(&c->offset));
    return NN_OK;
}

static nn_status rs_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const rs_cfg *c = n->cfg;
    int ch = channels(n);
    float *v = malloc(2 * (size_t)ch * sizeof *v);
    if (!v)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    nn_channel_values_expand(&c->scale, ch, v);
    nn_channel_values_expand(&c->offset, ch, v + ch);
    const char *scale = nn_c_const(w, n, "scale", v, (size_t)ch);
    const char *shift = nn_c_const(w, n, "offset", v + ch, (size_t)ch);
    free(v);
    nn_c_affine(w, nn_c_in(w, n, 0), nn_c_out(w, n), n->size / (size_t)ch, ch, scale, shift);
    return nn_c_status(w, err);
}

static void rs_free_cfg(nn_node *n)
{
    rs_cfg *c = n->cfg;
    free(c->scale.v);
    free(c->offset.v);
    free(c);
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_rescaling(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    json_t *scale = kx_get(L, "scale", NULL), *offset = kx_get(L, "offset", NULL);
    kx_printf(t, "type = \"rescaling\";");
    if ((scale && (st = kx_key_numbers(L, t, "scale", scale))) ||
        (offset && (st = kx_key_numbers(L, t, "offset", offset))))
        return st;
    s->rank = s->in_rank[0];
    return NN_OK;
}

static nn_status onnx_map_rescaling(onnx_layer *L, nn_error *err)
{
    const rs_cfg *c = L->n->cfg;
    const char *y = L->in[0];
    const nn_channel_values *v[2] = {&c->scale, &c->offset};
    for (int k = 0; k < 2; k++) {
        if (is_const(v[k], k ? 0.0f : 1.0f))
            continue;
        int64_t dims[1] = {v[k]->count};
        const char *cst = v[k]->count == 1
                              ? onnx_scalar(L->g, k ? "offset" : "scale", v[k]->v[0])
                              : onnx_const_float(L->g, k ? "offset" : "scale", 1, dims, v[k]->v);
        y = onnx_op2(L->g, k ? "Add" : "Mul", y, cst);
    }
    if (y == L->in[0])
        y = onnx_op1(L->g, "Identity", y);
    L->out = y;
    (void)err;
    return NN_OK;
}

static const nn_doc_key rescaling_keys[] = {
    {"scale", "float or [float]", "1", "a factor, or one per channel of the last axis"},
    {"offset", "float or [float]", "0", "added after the scale, one or one per channel"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_rescaling = {
    .name = "rescaling",
    .keras_class = "Rescaling",
    .doc = "x * scale + offset (Keras 3 arithmetic between a tensor and a number, x + 3 or x "
           "/ 6, and tf-keras's TFOpLambda of it read as this too)",
    .keys = rescaling_keys,
    .keras_import = nn_keras_import_rescaling,
    .export_onnx = onnx_map_rescaling,
    .parse = rs_parse,
    .infer = rs_infer,
    .plan = rs_plan,
    .forward = rs_forward,
    .backward = rs_backward,
    .keras_config = rs_keras_config,
    .release = rs_release,
    .export_c = rs_export_c,
    .free_cfg = rs_free_cfg,
};

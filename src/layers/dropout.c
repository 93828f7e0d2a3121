/* Dropout: inverted dropout in training (kept units scaled by 1/(1-rate)),
 * the identity at inference. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef struct {
    float rate;
} dropout_cfg;

typedef struct {
    nn_tensor mask;
} dropout_state;

static nn_status dropout_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    dropout_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    double rate;
    nn_status st = nn_spec_float(s, "rate", true, 0.0, -1e300, 1e300, &rate, err);
    if (st)
        return st;
    if (rate < 0.0 || rate >= 1.0)
        return nn_spec_fail(s, "rate", err, NN_ERR_USAGE,
                            "expected a fraction in [0, 1) (0.2 drops a fifth of the units), got %g",
                            rate);
    c->rate = (float)rate;
    return NN_OK;
}

static nn_status dropout_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = n->in[0]->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = n->in[0]->shape[i];
    return NN_OK;
}

static nn_status dropout_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    dropout_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    return e->ops->alloc(e, &s->mask, n->out.ndim, n->out.shape, err);
}

static void dropout_release(nn_node *n, nn_engine *e)
{
    dropout_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->mask);
        free(s);
        n->state = NULL;
    }
}

static void dropout_forward(nn_node *n, const nn_pass *p)
{
    const dropout_cfg *c = n->cfg;
    dropout_state *s = n->state;
    size_t count = (size_t)p->rows * n->size;
    if (p->training && c->rate > 0.0f)
        p->e->ops->dropout_forward(p->e, c->rate, nn_rng_u64(p->rng), p->ids, &n->in[0]->out,
                                   &s->mask, &n->out, p->rows, n->size);
    else
        p->e->ops->copy(p->e, &n->out, &n->in[0]->out, count);
}

static void dropout_backward(nn_node *n, const nn_pass *p)
{
    const dropout_cfg *c = n->cfg;
    dropout_state *s = n->state;
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    size_t count = (size_t)p->rows * n->size;
    if (c->rate > 0.0f)
        p->e->ops->mul(p->e, &n->dout, &s->mask, dx, count);
    else
        p->e->ops->copy(p->e, dx, &n->dout, count);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status dropout_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const dropout_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "rate", json_real(c->rate));
    json_object_set_new(cfg, "noise_shape", json_null());
    json_object_set_new(cfg, "seed", json_null());
    return NN_OK;
}

/* the identity at inference */
static nn_status dropout_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    nn_c_alias(w, n);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */



static nn_status conv_dropout(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    double rate;
    if (st || (st = kx_want_float(L, "rate", "p", 0.0, &rate)) ||
        (st = kx_refuse(L, "noise_shape", NULL, "nnctl drops units independently")))
        return st;
    if (rate < 0.0 || rate >= 1.0)
        return kx_fail(L, "rate %g is outside [0, 1)", rate);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"dropout\";");
    kx_key_float(t, "rate", rate);
    return NN_OK;
}

/* ---- ONNX export ---- */



static nn_status onnx_map_identity(onnx_layer *L, nn_error *err) /* Dropout at inference */
{
    (void)err;
    L->out = onnx_op1(L->g, "Identity", L->in[0]);
    return NN_OK;
}

static const nn_doc_key dropout_keys[] = {
    {"rate", "float", "required", "fraction dropped, 0 <= rate < 1"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_dropout = {
    .name = "dropout",
    .keras_class = "Dropout",
    .doc = "inverted dropout while training, the identity otherwise",
    .keys = dropout_keys,
    .keras_import = conv_dropout,
    .export_onnx = onnx_map_identity,
    .parse = dropout_parse,
    .infer = dropout_infer,
    .plan = dropout_plan,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .keras_config = dropout_keras_config,
    .release = dropout_release,
    .export_c = dropout_export_c,
};

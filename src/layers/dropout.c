/* Dropout: inverted dropout in training (kept units scaled by 1/(1-rate)),
 * the identity at inference. noise_shape (Keras's: one mask value shared
 * along the axes where it is 1, EfficientNet's per-sample drop of a whole
 * residual branch) draws a smaller mask and spreads it over one block of
 * adjacent axes.
 *
 * Spec: rate; noise_shape = [d1, ...] per sample, each 1 (shared) or the
 * input's size (0 also means the input's size: Keras's None). */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef struct {
    float rate;
    int n_noise;              /* 0: no noise_shape */
    int noise[NN_MAX_DIMS];   /* as given (0: the input's size) */
    int outer, mid, inner;    /* per sample: the mask spread along mid */
} dropout_cfg;

typedef struct {
    nn_tensor mask;
    nn_tensor ones, drawn; /* noise_shape: what the mask is drawn through */
} dropout_state;

static bool spread(const dropout_cfg *c)
{
    return c->n_noise && c->mid > 1;
}

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
    long long v[NN_MAX_DIMS];
    if ((st = nn_spec_int_array(s, "noise_shape", false, 0, 1 << 30, NN_MAX_DIMS - 1, v,
                                &c->n_noise, err)))
        return st;
    for (int i = 0; i < c->n_noise; i++)
        c->noise[i] = (int)v[i];
    return NN_OK;
}

static nn_status dropout_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = n->in[0]->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = n->in[0]->shape[i];
    dropout_cfg *c = n->cfg;
    if (!c->n_noise)
        return NN_OK;
    if (c->n_noise != n->ndim)
        return nn_node_fail(n, err, "noise_shape has %d axes, its input %d per sample",
                            c->n_noise, n->ndim);
    int d = 0, m[NN_MAX_DIMS];
    for (int i = 0; i < n->ndim; i++) {
        m[i] = c->noise[i] ? c->noise[i] : n->shape[i];
        if (m[i] != 1 && m[i] != n->shape[i])
            return nn_node_fail(n, err, "noise_shape axis %d is %d: expected 1 or the input's "
                                        "%d",
                                i + 1, m[i], n->shape[i]);
    }
    /* kept axes, shared axes, kept axes */
    c->outer = c->mid = c->inner = 1;
    while (d < n->ndim && m[d] == n->shape[d])
        c->outer *= n->shape[d++];
    while (d < n->ndim && m[d] == 1)
        c->mid *= n->shape[d++];
    while (d < n->ndim && m[d] == n->shape[d])
        c->inner *= n->shape[d++];
    if (d < n->ndim)
        return nn_node_fail(n, err, "noise_shape shares the mask along axes that are not "
                                    "adjacent: nnctl takes one block of shared axes");
    return NN_OK;
}

static nn_status dropout_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    dropout_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    const dropout_cfg *c = n->cfg;
    if (!spread(c))
        return e->ops->alloc(e, &s->mask, n->out.ndim, n->out.shape, err);
    int shape[2] = {batch, c->outer * c->inner};
    nn_status st;
    if ((st = e->ops->alloc(e, &s->mask, 2, shape, err)) ||
        (st = e->ops->alloc(e, &s->ones, 2, shape, err)) ||
        (st = e->ops->alloc(e, &s->drawn, 2, shape, err)))
        return st;
    e->ops->fill(e, &s->ones, 1.0f, s->ones.size);
    return NN_OK;
}

static void dropout_release(nn_node *n, nn_engine *e)
{
    dropout_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->mask);
        e->ops->free(e, &s->ones);
        e->ops->free(e, &s->drawn);
        free(s);
        n->state = NULL;
    }
}

static void dropout_forward(nn_node *n, const nn_pass *p)
{
    const dropout_cfg *c = n->cfg;
    dropout_state *s = n->state;
    size_t count = (size_t)p->rows * n->size;
    if (p->training && c->rate > 0.0f && spread(c)) {
        /* one draw per sample and kept position, spread along the shared axes */
        int cols = c->outer * c->inner;
        p->e->ops->dropout_forward(p->e, c->rate, nn_rng_u64(p->rng), p->ids, &s->ones, &s->mask,
                                   &s->drawn, p->rows, (size_t)cols);
        p->e->ops->bcast_apply(p->e, true, &n->in[0]->out, &s->mask, &n->out,
                               p->rows * c->outer, c->mid, c->inner);
    } else if (p->training && c->rate > 0.0f)
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
    if (c->rate > 0.0f && spread(c))
        p->e->ops->bcast_apply(p->e, true, &n->dout, &s->mask, dx, p->rows * c->outer, c->mid,
                               c->inner);
    else if (c->rate > 0.0f)
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
    if (c->n_noise) { /* Keras's form: the batch axis and every axis, None for the input's */
        json_t *ns = json_array();
        json_array_append_new(ns, json_null());
        for (int i = 0; i < c->n_noise; i++)
            json_array_append_new(ns, c->noise[i] ? json_integer(c->noise[i]) : json_null());
        json_object_set_new(cfg, "noise_shape", ns);
    } else {
        json_object_set_new(cfg, "noise_shape", json_null());
    }
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
    if (st || (st = kx_want_float(L, "rate", "p", 0.0, &rate)))
        return st;
    if (rate < 0.0 || rate >= 1.0)
        return kx_fail(L, "rate %g is outside [0, 1)", rate);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"dropout\";");
    kx_key_float(t, "rate", rate);
    /* noise_shape: (batch, d1, ...), None for "the input's size" (0 here) */
    json_t *ns = kx_get(L, "noise_shape", NULL);
    if (!ns || json_is_null(ns))
        return NN_OK;
    size_t n = json_array_size(ns);
    if (!json_is_array(ns) || n != (size_t)s->in_rank[0] + 1 ||
        !json_is_null(json_array_get(ns, 0)))
        return kx_fail(L, "noise_shape must be (None, d1, ..., d%d): None for the batch, then "
                          "one entry per axis",
                       s->in_rank[0]);
    kx_printf(t, " noise_shape = [");
    for (size_t i = 1; i < n; i++) {
        json_t *e = json_array_get(ns, i);
        long long d = 0;
        if (!json_is_null(e) && (!kx_as_int(e, &d) || d < 1 || d > (1LL << 30)))
            return kx_fail(L, "noise_shape entries must be None or positive integers");
        kx_printf(t, "%s%lld", i > 1 ? ", " : "", d);
    }
    kx_printf(t, "];");
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
    {"noise_shape", "[int]", "none", "one entry per axis: 1 shares the mask along that axis, 0 "
     "or the axis's size draws it per position (the shared axes adjacent, as Keras's "
     "(None, 1, 1, C))"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_dropout = {
    .passes_mask = true, /* Keras: supports_masking */
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

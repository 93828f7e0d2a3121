/* Activation: y = act(x), elementwise (softmax over the last axis). */
#include <stdlib.h>

#include <string.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef struct {
    nn_tensor dz; /* gradient w.r.t. the input when a fused loss writes it */
} act_state;

static nn_status act_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    nn_status st = nn_spec_activation(s, "activation", &n->act, &n->act_alpha, err);
    if (st)
        return st;
    if (!nn_spec_has(s, "activation") && (st = nn_spec_misspelt(s, "activation", err)))
        return st;
    if (!nn_spec_has(s, "activation"))
        return nn_spec_fail(s, "activation", err, NN_ERR_USAGE, "missing required key");
    double alpha;
    if ((st = nn_spec_float(s, "alpha", false, n->act_alpha, -1e6, 1e6, &alpha, err)))
        return st;
    n->act_alpha = (float)alpha;
    return NN_OK;
}

static nn_status act_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = n->in[0]->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = n->in[0]->shape[i];
    return NN_OK;
}

static nn_status act_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    act_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    n->preact = &n->in[0]->out;
    n->dpreact = &s->dz;
    if (n->needs_grad)
        return e->ops->alloc(e, &s->dz, n->out.ndim, n->out.shape, err);
    return NN_OK;
}

static void act_release(nn_node *n, nn_engine *e)
{
    act_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->dz);
        free(s);
        n->state = NULL;
    }
}

static int last_axis(const nn_node *n) { return n->ndim ? n->shape[n->ndim - 1] : 1; }

static void act_forward(nn_node *n, const nn_pass *p)
{
    int cols = last_axis(n);
    int rows = (int)((size_t)p->rows * n->size / (size_t)cols);
    p->e->ops->act_forward(p->e, n->act, n->act_alpha, &n->in[0]->out, &n->out, rows, cols);
}

static bool act_as_activation(const nn_node *n, nn_act *act, float *alpha)
{
    *act = n->act;
    *alpha = n->act_alpha;
    return true;
}

static void act_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    int cols = last_axis(n);
    int rows = (int)((size_t)p->rows * n->size / (size_t)cols);
    if (n->loss_wrote_preact)
        p->e->ops->copy(p->e, dx, n->dpreact, (size_t)p->rows * n->size);
    else
        p->e->ops->act_backward(p->e, n->act, n->act_alpha, &n->in[0]->out, &n->out, &n->dout, dx,
                                rows, cols);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status act_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "activation", json_string(nn_activation_name(n->act)));
    return NN_OK;
}

static nn_status act_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    int cols = last_axis(n);
    nn_c_activation(w, n->act, n->act_alpha, nn_c_in(w, n, 0), nn_c_out(w, n),
                    n->size / (size_t)cols, cols);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */


static nn_status conv_activation(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    if (!kx_get(L, "activation", NULL))
        return kx_fail(L, "missing key \"activation\"");
    return kx_write_activation(L, t, "activation", NULL);
}

/* The activation layers: LeakyReLU, ReLU, ELU, Softmax. */
static nn_status conv_act_layer(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    double alpha;
    if (!strcmp(L->cls, "LeakyReLU")) {
        /* Keras 3 calls alpha negative_slope; both default to 0.3 */
        if ((st = kx_want_float(L, "negative_slope", "alpha", 0.3, &alpha)))
            return st;
        kx_key_str(t, "activation", "leaky_relu");
        kx_key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "ELU")) {
        if ((st = kx_want_float(L, "alpha", NULL, 1.0, &alpha)))
            return st;
        kx_key_str(t, "activation", "elu");
        kx_key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "Softmax")) {
        json_t *axis = kx_get(L, "axis", NULL);
        long long a = -1;
        if (axis && (!kx_as_int(axis, &a) || (a != -1 && a != s->rank)))
            return kx_fail(L, "softmax over an axis other than the last is not supported");
        kx_key_str(t, "activation", "softmax");
    } else { /* ReLU */
        double slope, threshold;
        if ((st = kx_refuse(L, "max_value", NULL, "a capped ReLU")) ||
            (st = kx_want_float(L, "negative_slope", NULL, 0.0, &slope)) ||
            (st = kx_want_float(L, "threshold", NULL, 0.0, &threshold)))
            return st;
        if (threshold != 0.0)
            return kx_fail(L, "threshold = %g is not supported", threshold);
        kx_key_str(t, "activation", slope != 0.0 ? "leaky_relu" : "relu");
        if (slope != 0.0)
            kx_key_float(t, "alpha", slope);
    }
    return NN_OK;
}

/* Activation itself, or one of the activation layers read as it. */
static nn_status activation_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    return strcmp(L->cls, "Activation") ? conv_act_layer(L, t, s) : conv_activation(L, t, s);
}

/* ---- ONNX export ---- */

static nn_status onnx_map_activation(onnx_layer *L, nn_error *err)
{
    (void)err;
    L->out = onnx_activation(L->g, L->in[0], L->n->act, L->n->act_alpha);
    return NN_OK;
}

static const nn_doc_key activation_keys[] = {
    {"activation", "string", "required", "see Activations"},
    {"alpha", "float", "0.2 (leaky_relu), 1.0 (elu)", "the slope of leaky_relu, the scale of elu"},
    {NULL, NULL, NULL, NULL},
};

static const char *const activation_aliases[] = {"LeakyReLU", "ReLU", "ELU", "Softmax", NULL};

const nn_layer_type nn_layer_activation = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "activation",
    .keras_class = "Activation",
    .doc = "an activation on its own (Keras's Activation, ReLU, LeakyReLU, ELU and Softmax "
         "layers read as this)",
    .keys = activation_keys,
    .keras_aliases = activation_aliases,
    .keras_import = activation_keras_import,
    .export_onnx = onnx_map_activation,
    .parse = act_parse,
    .infer = act_infer,
    .plan = act_plan,
    .forward = act_forward,
    .backward = act_backward,
    .as_activation = act_as_activation,
    .keras_config = act_keras_config,
    .release = act_release,
    .export_c = act_export_c,
    .fuses_loss = true,
};

/* Activation: y = act(x), elementwise (softmax over the last axis). */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"

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

const nn_layer_type nn_layer_activation = {
    .name = "activation",
    .keras_class = "Activation",
    .parse = act_parse,
    .infer = act_infer,
    .plan = act_plan,
    .forward = act_forward,
    .backward = act_backward,
    .keras_config = act_keras_config,
    .release = act_release,
    .export_c = act_export_c,
};

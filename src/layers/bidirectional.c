/* Bidirectional(SimpleRNN | LSTM | GRU): the wrapped layer run forwards and
 * (a copy with go_backwards flipped) backwards over the sequence, outputs
 * merged by concat (forward first), sum, mul or ave. As Keras, with
 * return_sequences the backward run's outputs are put back in input order
 * before merging. Weights: forward_<inner>/kernel ... then backward_<inner>/. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/recurrent.h"
#include "layers/wrapper.h"
#include "formats/keras_import.h"

typedef enum { MERGE_CONCAT = 0, MERGE_SUM, MERGE_MUL, MERGE_AVE } merge_mode;
static const char *const merge_names[] = {"concat", "sum", "mul", "ave", NULL};

typedef struct {
    nn_rnn_cfg cfg[2];  /* forward, backward */
    nn_rnn_run run[2];
    merge_mode merge;
    size_t out_size;    /* per-sample values of one direction's output */
    nn_tensor y[2], dy[2], dx_back; /* per batch */
} bidir;

static nn_status bidir_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    static const char *const types[] = {"simple_rnn", "lstm", "gru", NULL};
    static const nn_rnn_kind kinds[] = {NN_RNN_SIMPLE, NN_RNN_LSTM, NN_RNN_GRU};
    bidir *b = calloc(1, sizeof *b);
    if (!b)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = b;
    nn_spec_node *inner;
    int k, m;
    nn_status st;
    if ((st = nn_wrapper_inner(n, s, types, &inner, &k, err)) ||
        (st = nn_rnn_parse(kinds[k], inner, &b->cfg[0], NULL, err)) ||
        (st = nn_spec_check_unknown(inner, err)) ||
        (st = nn_spec_choice(s, "merge_mode", false, merge_names, MERGE_CONCAT, &m, err)))
        return st;
    b->merge = (merge_mode)m;
    b->cfg[1] = b->cfg[0];
    b->cfg[1].go_backwards = !b->cfg[0].go_backwards;
    return NN_OK;
}

static nn_status bidir_infer(nn_node *n, nn_error *err)
{
    bidir *b = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    if (in->ndim != 2)
        return nn_node_fail(n, err, "expects (timesteps, features) sequences, got %d axes",
                            in->ndim);
    const int T = in->shape[0], F = in->shape[1], U = b->cfg[0].cell.units;
    const int width = b->merge == MERGE_CONCAT ? 2 * U : U;
    if (b->cfg[0].return_sequences) {
        n->ndim = 2;
        n->shape[0] = T;
        n->shape[1] = width;
    } else {
        n->ndim = 1;
        n->shape[0] = width;
    }
    b->out_size = (size_t)(b->cfg[0].return_sequences ? T : 1) * U;
    for (int d = 0; d < 2; d++) {
        char prefix[NN_NAME_MAX + 16];
        snprintf(prefix, sizeof prefix, "%s_%s/", d ? "backward" : "forward", n->inner_name);
        b->run[d].T = T;
        b->run[d].F = F;
        nn_rnn_add_params(n, &b->cfg[d], F, prefix);
    }
    return nn_rnn_mask_infer(n, err);
}

static nn_status bidir_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    bidir *b = n->cfg;
    const int per = b->cfg[0].use_bias ? 3 : 2;
    int shape[2] = {batch, (int)b->out_size};
    n->state = b;
    for (int d = 0; d < 2; d++) {
        nn_rnn_run *r = &b->run[d];
        r->cfg = &b->cfg[d];
        r->kernel = &n->params[d * per];
        r->rec = &n->params[d * per + 1];
        r->bias = b->cfg[d].use_bias ? &n->params[d * per + 2] : NULL;
        r->mask = n->in[0]->mask;
        r->zero_masked = b->cfg[0].return_sequences; /* Keras's Bidirectional does */
        nn_status st;
        if ((st = nn_rnn_plan(r, e, batch, n->in[0]->needs_grad, err)) ||
            (st = e->ops->alloc(e, &b->y[d], 2, shape, err)) ||
            (n->needs_grad && (st = e->ops->alloc(e, &b->dy[d], 2, shape, err))))
            return st;
    }
    if (n->in[0]->needs_grad)
        return e->ops->alloc(e, &b->dx_back, n->in[0]->out.ndim, n->in[0]->out.shape, err);
    return NN_OK;
}

static void bidir_release(nn_node *n, nn_engine *e)
{
    bidir *b = n->cfg;
    if (!n->state)
        return;
    for (int d = 0; d < 2; d++) {
        nn_rnn_release(&b->run[d], e);
        e->ops->free(e, &b->y[d]);
        e->ops->free(e, &b->dy[d]);
    }
    e->ops->free(e, &b->dx_back);
    n->state = NULL;
}

static void bidir_forward(nn_node *n, const nn_pass *p)
{
    bidir *b = n->cfg;
    nn_engine *e = p->e;
    const bool seq = b->cfg[0].return_sequences;
    for (int d = 0; d < 2; d++)
        nn_rnn_forward(&b->run[d], p, &n->in[0]->out, &b->y[d], d == 1 && seq);
    const size_t count = (size_t)p->rows * b->out_size;
    const int U = b->cfg[0].cell.units, rows = (int)(count / (size_t)U);
    switch (b->merge) {
    case MERGE_CONCAT:
        e->ops->copy_cols(e, &b->y[0], U, 0, &n->out, 2 * U, 0, rows, U);
        e->ops->copy_cols(e, &b->y[1], U, 0, &n->out, 2 * U, U, rows, U);
        break;
    case MERGE_SUM:
    case MERGE_AVE:
        e->ops->copy(e, &n->out, &b->y[0], count);
        e->ops->axpy(e, 1.0f, &b->y[1], &n->out, count);
        if (b->merge == MERGE_AVE)
            e->ops->scale(e, &n->out, 0.5f, count);
        break;
    case MERGE_MUL:
        e->ops->mul(e, &b->y[0], &b->y[1], &n->out, count);
        break;
    }
}

static void bidir_backward(nn_node *n, const nn_pass *p)
{
    bidir *b = n->cfg;
    nn_engine *e = p->e;
    const bool seq = b->cfg[0].return_sequences;
    const size_t count = (size_t)p->rows * b->out_size;
    const int U = b->cfg[0].cell.units, rows = (int)(count / (size_t)U);
    const nn_tensor *dy[2] = {&b->dy[0], &b->dy[1]};
    switch (b->merge) {
    case MERGE_CONCAT:
        e->ops->copy_cols(e, &n->dout, 2 * U, 0, &b->dy[0], U, 0, rows, U);
        e->ops->copy_cols(e, &n->dout, 2 * U, U, &b->dy[1], U, 0, rows, U);
        break;
    case MERGE_SUM:
        dy[0] = dy[1] = &n->dout;
        break;
    case MERGE_AVE:
        e->ops->copy(e, &b->dy[0], &n->dout, count);
        e->ops->scale(e, &b->dy[0], 0.5f, count);
        dy[1] = &b->dy[0];
        break;
    case MERGE_MUL:
        e->ops->mul(e, &n->dout, &b->y[1], &b->dy[0], count);
        e->ops->mul(e, &n->dout, &b->y[0], &b->dy[1], count);
        break;
    }
    nn_tensor *dx = nn_grad_target(n, 0);
    nn_rnn_backward(&b->run[0], p, dy[0], dx, false);
    nn_rnn_backward(&b->run[1], p, dy[1], dx ? &b->dx_back : NULL, seq);
    if (dx) {
        e->ops->axpy(e, 1.0f, &b->dx_back, dx, (size_t)p->rows * n->in[0]->size);
        nn_grad_commit(n, 0, dx, p);
    }
}

static nn_status bidir_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const bidir *b = n->cfg;
    json_t *inner = json_object();
    json_object_set_new(inner, "name", json_string(n->inner_name));
    json_object_set_new(inner, "trainable", json_boolean(n->trainable));
    json_object_set_new(inner, "dtype", nn_keras_dtype_policy(n->policy));
    nn_rnn_keras_config(&b->cfg[0], inner);
    json_object_set_new(inner, "activity_regularizer", json_null());
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "layer",
                        nn_wrapper_inner_json(nn_rnn_keras_class(b->cfg[0].cell.kind), inner));
    json_object_set_new(cfg, "merge_mode", json_string(merge_names[b->merge]));
    return NN_OK;
}

static nn_status bidir_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    if (n->in[0]->mask)
        return nn_node_fail(n, err, "its input is masked (mask_zero): not exported to C");
    const bidir *b = n->cfg;
    const int per = b->cfg[0].use_bias ? 3 : 2, U = b->cfg[0].cell.units;
    const size_t count = b->out_size, rows = count / (size_t)U;
    const char *x = nn_c_in(w, n, 0), *y = nn_c_out(w, n);
    const char *yd[2] = {nn_c_temp(w, count), nn_c_temp(w, count)};
    for (int d = 0; d < 2; d++) /* the backward run's sequence back in input order */
        nn_rnn_export_c(w, n, &b->cfg[d], d * per, b->run[d].T, b->run[d].F, x, yd[d],
                        d == 1 && b->cfg[0].return_sequences);
    if (b->merge == MERGE_CONCAT) {
        nn_c_concat(w, yd[0], y, rows, (size_t)U, (size_t)2 * U, 0);
        nn_c_concat(w, yd[1], y, rows, (size_t)U, (size_t)2 * U, (size_t)U);
    } else {
        nn_c_copy(w, y, yd[0], count);
        nn_c_ewise(w, b->merge == MERGE_MUL ? NN_C_MUL : NN_C_ADD, y, yd[1], count);
        if (b->merge == MERGE_AVE)
            nn_c_scale(w, y, count, 0.5f);
    }
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */



static nn_status conv_bidirectional(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 2);
    if (st)
        return st;
    kx_layer in;
    if ((st = kx_wrapped(L, "layer", &in)))
        return st;
    if (strcmp(in.cls, "SimpleRNN") && strcmp(in.cls, "LSTM") && strcmp(in.cls, "GRU"))
        return kx_fail(L, "wraps a %s: nnctl's Bidirectional wraps SimpleRNN, LSTM or GRU",
                       in.cls);
    json_t *mm = json_object_get(L->cfg, "merge_mode");
    const char *mode = json_is_string(mm) ? json_string_value(mm) : mm ? NULL : "concat";
    if (!mode || (strcmp(mode, "concat") && strcmp(mode, "sum") && strcmp(mode, "mul") &&
                  strcmp(mode, "ave")))
        return kx_fail(L, "merge_mode %s is not supported (concat, sum, mul, ave are)",
                       mode ? mode : "None (two outputs)");
    /* Keras 3 names the inner layer forward_<name> */
    const char *inner = in.name;
    if (!strncmp(inner, "forward_", 8) && inner[8])
        inner += 8;
    if ((st = kx_check_name(L, inner)))
        return st;
    kx_text body = {0};
    if ((st = nn_rnn_keras_keys(&in, &body, true))) {
        free(body.s);
        return st;
    }
    /* a backward_layer must be the mirror image of the forward one */
    if (json_object_get(L->cfg, "backward_layer") &&
        !json_is_null(json_object_get(L->cfg, "backward_layer"))) {
        kx_layer back;
        kx_text bt = {0};
        if (!(st = kx_wrapped(L, "backward_layer", &back))) {
            json_t *copy = json_deep_copy(back.cfg);
            json_t *gb = json_object_get(back.cfg, "go_backwards");
            json_object_set_new(copy, "go_backwards", json_boolean(!json_is_true(gb)));
            back.cfg = copy;
            if (strcmp(back.cls, in.cls))
                st = kx_fail(L, "backward_layer is a %s but layer is a %s", back.cls, in.cls);
            else if (!(st = nn_rnn_keras_keys(&back, &bt, true)) && !bt.oom && !body.oom &&
                     strcmp(bt.s, body.s))
                st = kx_fail(L, "backward_layer differs from layer beyond go_backwards: nnctl "
                                "runs one configuration both ways");
            json_decref(copy);
            free(bt.s);
        }
        if (st) {
            free(body.s);
            return st;
        }
    }
    s->rank = nn_rnn_keras_out_rank(&in);
    kx_printf(t, "type = \"bidirectional\";");
    kx_key_str(t, "merge_mode", mode);
    kx_printf(t, " layer = { name = ");
    kx_string(t, inner);
    kx_printf(t, "; %s };", body.s ? body.s : "");
    if (body.oom)
        t->oom = true;
    free(body.s);
    return NN_OK;
}

static const nn_doc_key bidirectional_keys[] = {
    {"layer", "group", "required", "a simple_rnn, lstm or gru layer (type, name and its keys)"},
    {"merge_mode", "string", "\"concat\"", "concat, sum, mul or ave of the two directions"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_bidirectional = {
    .name = "bidirectional",
    .keras_class = "Bidirectional",
    .doc = "one recurrent layer run both ways over the sequence",
    .keys = bidirectional_keys,
    .keras_import = conv_bidirectional,
    .export_onnx = onnx_map_bidirectional,
    .parse = bidir_parse,
    .infer = bidir_infer,
    .plan = bidir_plan,
    .forward = bidir_forward,
    .backward = bidir_backward,
    .keras_config = bidir_keras_config,
    .release = bidir_release,
    .export_c = bidir_export_c,
};

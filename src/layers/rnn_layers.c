/* SimpleRNN, LSTM and GRU layers: a (batch, timesteps, features) input,
 * the output of the last step (units) or of every step (timesteps, units)
 * with return_sequences. The computation is the recurrent core's. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/recurrent.h"

typedef struct {
    nn_rnn_cfg cfg;
    nn_rnn_run run;
} rnn_layer;

static nn_status rnn_parse(nn_rnn_kind kind, nn_node *n, nn_spec_node *s, nn_error *err)
{
    rnn_layer *l = calloc(1, sizeof *l);
    if (!l)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = l;
    return nn_rnn_parse(kind, s, &l->cfg, &n->activity_reg, err);
}

static nn_status simple_rnn_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return rnn_parse(NN_RNN_SIMPLE, n, s, err);
}
static nn_status lstm_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return rnn_parse(NN_RNN_LSTM, n, s, err);
}
static nn_status gru_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return rnn_parse(NN_RNN_GRU, n, s, err);
}

static nn_status rnn_infer(nn_node *n, nn_error *err)
{
    rnn_layer *l = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    if (in->ndim != 2)
        return nn_node_fail(n, err,
                            "expects (timesteps, features) sequences, got an input with %d axes "
                            "(reshape images to [rows, columns]; add an embedding layer for "
                            "token ids)",
                            in->ndim);
    l->run.T = in->shape[0];
    l->run.F = in->shape[1];
    int U = l->cfg.cell.units;
    if (l->cfg.return_sequences) {
        n->ndim = 2;
        n->shape[0] = l->run.T;
        n->shape[1] = U;
    } else {
        n->ndim = 1;
        n->shape[0] = U;
    }
    nn_rnn_add_params(n, &l->cfg, l->run.F, "");
    return NN_OK;
}

static nn_status rnn_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    rnn_layer *l = n->cfg;
    l->run.cfg = &l->cfg;
    l->run.kernel = &n->params[0];
    l->run.rec = &n->params[1];
    l->run.bias = l->cfg.use_bias ? &n->params[2] : NULL;
    n->state = &l->run;
    return nn_rnn_plan(&l->run, e, batch, n->in[0]->needs_grad, err);
}

static void rnn_release(nn_node *n, nn_engine *e)
{
    rnn_layer *l = n->cfg;
    if (n->state) {
        nn_rnn_release(&l->run, e);
        n->state = NULL;
    }
}

static void rnn_forward(nn_node *n, const nn_pass *p)
{
    rnn_layer *l = n->cfg;
    nn_rnn_forward(&l->run, p, &n->in[0]->out, &n->out, false);
}

static void rnn_backward(nn_node *n, const nn_pass *p)
{
    rnn_layer *l = n->cfg;
    nn_tensor *dx = nn_grad_target(n, 0);
    nn_rnn_backward(&l->run, p, &n->dout, dx, false);
    if (dx)
        nn_grad_commit(n, 0, dx, p);
}

static nn_status rnn_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const rnn_layer *l = n->cfg;
    nn_keras_config_common(n, cfg);
    nn_rnn_keras_config(&l->cfg, cfg);
    json_object_set_new(cfg, "activity_regularizer", nn_regularizer_keras_json(&n->activity_reg));
    return NN_OK;
}

static nn_status rnn_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const rnn_layer *l = n->cfg;
    nn_rnn_export_c(w, n, &l->cfg, 0, l->run.T, l->run.F, nn_c_in(w, n, 0), nn_c_out(w, n),
                    false);
    return nn_c_status(w, err);
}

#define RNN_TYPE(var, tname, kclass, parsefn)                                                     \
    const nn_layer_type var = {                                                                   \
        .name = tname,                                                                            \
        .keras_class = kclass,                                                                    \
        .parse = parsefn,                                                                         \
        .infer = rnn_infer,                                                                       \
        .plan = rnn_plan,                                                                         \
        .forward = rnn_forward,                                                                   \
        .backward = rnn_backward,                                                                 \
        .keras_config = rnn_keras_config,                                                         \
        .release = rnn_release,                                                                   \
        .export_c = rnn_export_c,                                                                 \
    }

RNN_TYPE(nn_layer_simple_rnn, "simple_rnn", "SimpleRNN", simple_rnn_parse);
RNN_TYPE(nn_layer_lstm, "lstm", "LSTM", lstm_parse);
RNN_TYPE(nn_layer_gru, "gru", "GRU", gru_parse);

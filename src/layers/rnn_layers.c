/* SimpleRNN, LSTM and GRU layers: a (batch, timesteps, features) input,
 * the output of the last step (units) or of every step (timesteps, units)
 * with return_sequences. The computation is the recurrent core's. */
#include <string.h>
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/recurrent.h"
#include "formats/keras_import.h"

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
    return nn_rnn_mask_infer(n, err);
}

static nn_status rnn_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    rnn_layer *l = n->cfg;
    l->run.cfg = &l->cfg;
    l->run.kernel = &n->params[0];
    l->run.rec = &n->params[1];
    l->run.bias = l->cfg.use_bias ? &n->params[2] : NULL;
    l->run.mask = n->in[0]->mask;
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
    if (n->in[0]->mask)
        return nn_node_fail(n, err, "its input is masked (mask_zero): not exported to C");
    const rnn_layer *l = n->cfg;
    nn_rnn_export_c(w, n, &l->cfg, 0, l->run.T, l->run.F, nn_c_in(w, n, 0), nn_c_out(w, n),
                    false);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* The keys of SimpleRNN, LSTM, GRU (inner: inside Bidirectional, which
 * takes no activity_regularizer). */
nn_status nn_rnn_keras_keys(const kx_layer *L, kx_text *t, bool inner)
{
    const bool lstm = !strcmp(L->cls, "LSTM"), gru = !strcmp(L->cls, "GRU");
    nn_status st;
    if ((st = kx_refuse(L, "stateful", NULL, "state carried across batches")) ||
        (st = kx_refuse(L, "return_state", NULL, "nnctl layers have one output")) ||
        (st = kx_refuse(L, "time_major", NULL, NULL)))
        return st;
    long long units;
    bool bias, seq, back;
    double drop, rdrop;
    if ((st = kx_want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = kx_want_bool(L, "return_sequences", NULL, false, &seq)) ||
        (st = kx_want_bool(L, "go_backwards", NULL, false, &back)) ||
        (st = kx_want_float(L, "dropout", "dropout_W", 0.0, &drop)) ||
        (st = kx_want_float(L, "recurrent_dropout", "dropout_U", 0.0, &rdrop)))
        return st;
    if (drop < 0.0 || drop >= 1.0 || rdrop < 0.0 || rdrop >= 1.0)
        return kx_fail(L, "dropout rates must lie in [0, 1)");
    kx_printf(t, "type = \"%s\";", lstm ? "lstm" : gru ? "gru" : "simple_rnn");
    kx_key_int(t, "units", units);
    if ((st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    if ((lstm || gru) && (st = kx_write_activation(L, t, "recurrent_activation",
                                                "inner_activation")))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_key_bool(t, "return_sequences", seq);
    kx_key_bool(t, "go_backwards", back);
    kx_key_float(t, "dropout", drop);
    kx_key_float(t, "recurrent_dropout", rdrop);
    if (lstm) {
        bool ufb;
        json_t *fb = kx_get(L, "forget_bias_init", NULL); /* Keras 1 */
        if (fb && !kx_get(L, "unit_forget_bias", NULL))
            ufb = json_is_string(fb) && !strcmp(json_string_value(fb), "one");
        else if ((st = kx_want_bool(L, "unit_forget_bias", NULL, true, &ufb)))
            return st;
        kx_key_bool(t, "unit_forget_bias", ufb);
    }
    if (gru) {
        bool ra; /* absent before Keras 2.3: the original GRU */
        if ((st = kx_want_bool(L, "reset_after", NULL, false, &ra)))
            return st;
        kx_key_bool(t, "reset_after", ra);
    }
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "recurrent_initializer", "inner_init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "recurrent_regularizer", "U_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")))
        return st;
    if (inner)
        return kx_get(L, "activity_regularizer", NULL)
                   ? kx_fail(L, "an activity_regularizer inside Bidirectional is not supported")
                   : NN_OK;
    return kx_write_reg(L, t, "activity_regularizer", NULL);
}




int nn_rnn_keras_out_rank(const kx_layer *L)
{
    return json_is_true(kx_get(L, "return_sequences", NULL)) ? 2 : 1;
}


static nn_status conv_rnn(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 2);
    if (st)
        return st;
    s->rank = nn_rnn_keras_out_rank(L);
    return nn_rnn_keras_keys(L, t, false);
}

static const nn_doc_key rnn_keys[] = {
    {"units", "int", "required", "size of the state"},
    {"activation", "string", "tanh", "the state's activation"},
    {"recurrent_activation", "string", "sigmoid", "the gates' activation (LSTM, GRU)"},
    {"use_bias", "bool", "true", "add biases"},
    {"return_sequences", "bool", "false", "output every step (T, units), else the last (units)"},
    {"go_backwards", "bool", "false", "process the sequence in reverse"},
    {"dropout", "float", "0", "dropout on the inputs, one mask per sequence"},
    {"recurrent_dropout", "float", "0", "dropout on the state, one mask per sequence"},
    {"unit_forget_bias", "bool", "true", "LSTM: the forget gate's bias starts at 1"},
    {"reset_after", "bool", "true", "GRU: reset gate after the matrix product (Keras 2.3+ and "
     "cuDNN form)"},
    {"kernel_initializer", "initializer", "glorot_uniform", "see Initializers"},
    {"recurrent_initializer", "initializer", "orthogonal", "see Initializers"},
    {"bias_initializer", "initializer", "zeros", "see Initializers"},
    {"kernel_regularizer", "regularizer", "none", "see Regularizers"},
    {"recurrent_regularizer", "regularizer", "none", "see Regularizers"},
    {"bias_regularizer", "regularizer", "none", "see Regularizers"},
    {"activity_regularizer", "regularizer", "none", "on the output"},
    {NULL, NULL, NULL, NULL},
};

#define RNN_TYPE(var, tname, kclass, parsefn, docs)                                                \
    const nn_layer_type var = {                                                                   \
        .name = tname,                                                                            \
        .keras_class = kclass,                                                                    \
        .doc = docs, \
        .keys = rnn_keys, \
        .keras_import = conv_rnn, \
        .export_onnx = onnx_map_rnn, \
        .parse = parsefn,                                                                         \
        .infer = rnn_infer,                                                                       \
        .plan = rnn_plan,                                                                         \
        .forward = rnn_forward,                                                                   \
        .backward = rnn_backward,                                                                 \
        .keras_config = rnn_keras_config,                                                         \
        .release = rnn_release,                                                                   \
        .export_c = rnn_export_c,                                                                 \
    }

RNN_TYPE(nn_layer_simple_rnn, "simple_rnn", "SimpleRNN", simple_rnn_parse,
         "a fully connected recurrent layer over (steps, features) inputs");
RNN_TYPE(nn_layer_lstm, "lstm", "LSTM", lstm_parse,
         "long short-term memory over (steps, features) inputs (Keras gate order i, f, c, o)");
RNN_TYPE(nn_layer_gru, "gru", "GRU", gru_parse,
         "gated recurrent unit over (steps, features) inputs (Keras gate order z, r, h)");

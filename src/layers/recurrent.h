/* The recurrent core shared by SimpleRNN, LSTM, GRU and Bidirectional: one
 * direction of a recurrent layer over a (batch, timesteps, features) input.
 *
 * Layout: the input is transposed once to time-major (T, B, F) in
 * processing order (reversed for go_backwards), the input projection of all
 * timesteps is one product, and each step adds one product with the
 * recurrent kernel (all gates fused) before the engine's cell op. All step
 * states are kept for backpropagation through time; the weight gradients
 * are again one product each over all timesteps.
 *
 * Masking (Keras's): with a (batch, T) mask, a masked step keeps the
 * previous state (h, and an LSTM's c): h_s = h_{s-1} + m (h_new - h_{s-1}),
 * so the last output is the last real step's and return_sequences repeats
 * it over masked steps; zero_masked (Bidirectional with return_sequences,
 * as Keras) outputs 0 there instead. go_backwards reverses the mask with
 * the input. The mask's buffers are planned only for a masked input.
 * Steps where every sample of the batch is masked are skipped (lo, hi). */
#ifndef NN_LAYERS_RECURRENT_H
#define NN_LAYERS_RECURRENT_H

#include "layers/common.h"

typedef struct nn_rnn_cfg {
    nn_rnn_cell cell;
    bool use_bias, return_sequences, go_backwards, unit_forget_bias;
    float dropout, recurrent_dropout;
    nn_initializer kernel_init, rec_init, bias_init;
    nn_regularizer kernel_reg, rec_reg, bias_reg;
} nn_rnn_cfg;

/* Gate blocks per cell kind: 1, 4 (LSTM), 3 (GRU). */
int nn_rnn_gates(nn_rnn_kind kind);

/* Reads the keys of a SimpleRNN/LSTM/GRU layer group (all but type, name,
 * inputs, trainable; activity_regularizer into *activity when non-NULL). */
nn_status nn_rnn_parse(nn_rnn_kind kind, nn_spec_node *s, nn_rnn_cfg *c,
                       nn_regularizer *activity, nn_error *err);
/* Declares kernel, recurrent_kernel and bias on n, named prefix + "kernel"
 * etc. (prefix "" or "forward_lstm/"); returns the index of the first. */
int nn_rnn_add_params(nn_node *n, const nn_rnn_cfg *c, int features, const char *prefix);
/* Adds the Keras config fields of the recurrent layer to cfg. */
void nn_rnn_keras_config(const nn_rnn_cfg *c, json_t *cfg);
/* Keras class name: "SimpleRNN", "LSTM", "GRU". */
const char *nn_rnn_keras_class(nn_rnn_kind kind);
const char *nn_rnn_type_name(nn_rnn_kind kind);

/* Emits one direction of a recurrent layer for `nnctl export --format c`:
 * parameters first, first + 1 (and first + 2 with use_bias) of n. */
void nn_rnn_export_c(nn_c_writer *w, const nn_node *n, const nn_rnn_cfg *c, int first, int T,
                     int F, const char *x, const char *y, bool reverse_output);

typedef struct nn_rnn_run {
    const nn_rnn_cfg *cfg;
    int T, F;
    nn_param *kernel, *rec, *bias;  /* bias NULL without use_bias */
    /* per-batch, time-major, in processing order */
    nn_tensor xt, xm;               /* input; input after dropout */
    nn_tensor zx, zh, gates;        /* pre-activations and activated gates */
    nn_tensor hs, hm, cs, tcs, rh;  /* states (hs, cs: T+1 slices, 0 first) */
    nn_tensor in_mask, rec_mask;    /* dropout masks, fixed over time */
    nn_tensor dz, dzh, dhs, dc, drh, dhm, dxt;
    /* masking: set before nn_rnn_plan (mask NULL: none) */
    const nn_tensor *mask;          /* (B, T), input order */
    bool zero_masked;               /* masked steps output 0 */
    nn_tensor mt, ys, dhc, dcb;     /* (T, B) in processing order; zeroed
                                     * outputs; the cell's share of dh, dc */
    /* The batch's steps [lo, hi) in processing order: from the first to
     * the last step some sample's mask keeps (all T without a mask). Every
     * sample is masked outside them, so the state stays (0 before, the last
     * real state after) and they cost nothing: a batch runs at its own
     * padded length, however long the data's padding. Set by forward. */
    int lo, hi;
    float *mhost;                   /* mt on the host (engines without host_ptr) */
} nn_rnn_run;

/* A recurrent layer's mask after infer: it uses its input's and passes it
 * on with return_sequences (Keras's compute_mask). */
nn_status nn_rnn_mask_infer(nn_node *n, nn_error *err);
/* Plans the per-batch tensors for up to `batch` samples. */
nn_status nn_rnn_plan(nn_rnn_run *r, nn_engine *e, int batch, bool needs_dx, nn_error *err);
void nn_rnn_release(nn_rnn_run *r, nn_engine *e);
/* y: (B, T, U) with return_sequences (in processing order, or in input
 * order when reverse_output), else (B, U). */
void nn_rnn_forward(nn_rnn_run *r, const nn_pass *p, const nn_tensor *x, nn_tensor *y,
                    bool reverse_output);
/* From dy (shaped as y): parameter gradients (overwritten) and, when dx is
 * not NULL, the input gradient (overwritten). */
void nn_rnn_backward(nn_rnn_run *r, const nn_pass *p, const nn_tensor *dy, nn_tensor *dx,
                     bool reverse_output);

/* Keras import: the keys of SimpleRNN, LSTM, GRU (inner: inside
 * Bidirectional, which takes no activity_regularizer), and the output's
 * rank (2 with return_sequences). */
nn_status nn_rnn_keras_keys(const kx_layer *L, kx_text *t, bool inner);
int nn_rnn_keras_out_rank(const kx_layer *L);
/* ONNX export (rnn_onnx.c): SimpleRNN/LSTM/GRU as ONNX's RNN/LSTM/GRU ops. */
nn_status onnx_map_rnn(onnx_layer *L, nn_error *err);
nn_status onnx_map_bidirectional(onnx_layer *L, nn_error *err);

#endif

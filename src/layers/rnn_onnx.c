/* SimpleRNN, LSTM, GRU and Bidirectional for the ONNX export, as ONNX's
 * RNN / LSTM / GRU ops.
 *
 * Weights: Keras keeps kernel (F, G*U), recurrent_kernel (U, G*U) and the
 * bias (G*U), or (2, G*U) for GRU with reset_after (input bias, recurrent
 * bias); ONNX wants W [dirs, G*U, F], R [dirs, G*U, U] and B [dirs, 2*G*U]
 * (input biases, then recurrent biases: zeros where Keras has none), with
 * the gate blocks in ONNX's order: LSTM i, o, f, c (Keras i, f, c, o); GRU
 * z, r, h (as Keras). GRU reset_after = true is linear_before_reset = 1.
 *
 * Layout: the ops are time-major, so the (N, T, F) input is transposed to
 * (T, N, F) and the outputs back. go_backwards is direction "reverse",
 * whose Y is in input order while Keras returns the sequence in processing
 * order (reversed): the sequence is flipped back. Bidirectional is one op
 * with direction "bidirectional", merged as Keras merges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct rnn_spec {
    const char *cls; /* "SimpleRNN", "LSTM", "GRU" */
    int G, U, F;
    bool use_bias, reset_after, return_sequences, go_backwards;
    const char *act, *rec_act; /* Keras activation names */
} rnn_spec;

static nn_status read_spec(const onnx_layer *L, const char *cls, const json_t *cfg, rnn_spec *s,
                           nn_error *err)
{
    memset(s, 0, sizeof *s);
    s->cls = cls;
    s->G = !strcmp(cls, "LSTM") ? 4 : !strcmp(cls, "GRU") ? 3 : 1;
    if (!strcmp(cls, "SimpleRNN") + !strcmp(cls, "LSTM") + !strcmp(cls, "GRU") != 1)
        return onnx_layer_fail(L, err, "no ONNX mapping for a wrapped %s", cls);
    s->U = (int)onnx_cfg_int(cfg, "units", 0);
    s->F = L->n->in[0]->shape[1];
    s->use_bias = onnx_cfg_bool(cfg, "use_bias", true);
    s->reset_after = s->G == 3 && onnx_cfg_bool(cfg, "reset_after", true);
    s->return_sequences = onnx_cfg_bool(cfg, "return_sequences", false);
    s->go_backwards = onnx_cfg_bool(cfg, "go_backwards", false);
    s->act = onnx_cfg_str(cfg, "activation", "tanh");
    s->rec_act = onnx_cfg_str(cfg, "recurrent_activation", "sigmoid");
    if (s->U <= 0)
        return onnx_layer_fail(L, err, "no units in its config");
    return NN_OK;
}

/* ---- activations: the subset ONNX's recurrent ops take ---- */

typedef struct rnn_act {
    const char *keras, *onnx;
    int n_params; /* 1: alpha, 2: alpha and beta */
    float alpha, beta;
} rnn_act;

static const rnn_act rnn_acts[] = {
    {"tanh", "Tanh", 0, 0, 0},        {"sigmoid", "Sigmoid", 0, 0, 0},
    {"relu", "Relu", 0, 0, 0},        {"softsign", "Softsign", 0, 0, 0},
    {"softplus", "Softplus", 0, 0, 0}, {"linear", "Affine", 2, 1.0f, 0.0f},
    {"hard_sigmoid", "HardSigmoid", 2, 0.2f, 0.5f}, /* Keras 2's */
    {"elu", "Elu", 1, 1.0f, 0},       {"leaky_relu", "LeakyRelu", 1, 0.2f, 0},
};

/* The activation list of one direction: (f) for RNN, (f, g) for GRU,
 * (f, g, h) for LSTM, where f is Keras's recurrent_activation and g, h its
 * activation. */
static nn_status direction_acts(const onnx_layer *L, const rnn_spec *s, const rnn_act **out,
                                int *n, nn_error *err)
{
    const char *names[3] = {s->rec_act, s->act, s->act};
    int first = 0;
    *n = s->G == 4 ? 3 : s->G == 3 ? 2 : 1;
    if (s->G == 1) /* SimpleRNN: only the activation */
        first = 1;
    for (int i = 0; i < *n; i++) {
        const char *name = names[first + i];
        out[i] = NULL;
        for (size_t k = 0; k < sizeof rnn_acts / sizeof rnn_acts[0]; k++)
            if (!strcmp(rnn_acts[k].keras, name))
                out[i] = &rnn_acts[k];
        if (!out[i])
            return onnx_layer_fail(L, err,
                                   "activation '%s' has no counterpart in ONNX's %s op (it "
                                   "takes tanh, sigmoid, relu, softsign, softplus, linear, "
                                   "hard_sigmoid, elu, leaky_relu)",
                                   name, s->cls);
    }
    return NN_OK;
}

/* The layer's own slopes: nnctl's recurrent cells use each activation's
 * default parameter (layers/activations.c). */
static float default_alpha(const rnn_act *a)
{
    for (int id = 0; id < NN_ACT_COUNT; id++)
        if (!strcmp(nn_activation_name((nn_act)id), a->keras) &&
            nn_activation_lookup((nn_act)id)->default_alpha != 0.0f)
            return nn_activation_lookup((nn_act)id)->default_alpha;
    return a->alpha;
}

static void act_attrs(onnx_node *nd, const rnn_act *const *acts, int n, int dirs)
{
    const char *names[6];
    float alpha[12], beta[12];
    int na = 0, nb = 0;
    for (int d = 0; d < dirs; d++)
        for (int i = 0; i < n; i++) {
            const rnn_act *a = acts[i];
            names[d * n + i] = a->onnx;
            /* onnxruntime hands these out in order to the functions that
             * take them, so only those get an entry */
            if (a->n_params >= 1)
                alpha[na++] = a->n_params == 1 ? default_alpha(a) : a->alpha;
            if (a->n_params == 2)
                beta[nb++] = a->beta;
        }
    onnx_attr_strings(nd, "activations", names, n * dirs);
    if (na)
        onnx_attr_floats(nd, "activation_alpha", alpha, na);
    if (nb)
        onnx_attr_floats(nd, "activation_beta", beta, nb);
}

/* ---- weights ---- */

typedef struct dir_weights {
    const float *k, *r, *b;
    bool b_rec; /* b is (2, G*U): input and recurrent biases */
} dir_weights;

static nn_status find_weights(const onnx_layer *L, const char *prefix, dir_weights *w,
                              nn_error *err)
{
    char name[NN_NAME_MAX + 32];
    const nn_param *bp = NULL;
    snprintf(name, sizeof name, "%skernel", prefix);
    w->k = onnx_param(L, name, NULL);
    snprintf(name, sizeof name, "%srecurrent_kernel", prefix);
    w->r = onnx_param(L, name, NULL);
    snprintf(name, sizeof name, "%sbias", prefix);
    w->b = onnx_param(L, name, &bp);
    w->b_rec = w->b && bp->ndim == 2;
    if (!w->k || !w->r)
        return onnx_layer_fail(L, err, "no %skernel / %srecurrent_kernel", prefix, prefix);
    return NN_OK;
}

/* Direction d of W, R and B in ONNX's layout and gate order. */
static void put_direction(const rnn_spec *s, const dir_weights *w, int d, float *W, float *R,
                          float *B)
{
    static const int lstm_gates[4] = {0, 3, 1, 2}; /* ONNX i, o, f, c from Keras i, f, c, o */
    const int U = s->U, F = s->F, GU = s->G * U;
    W += (size_t)d * GU * F;
    R += (size_t)d * GU * U;
    B += (size_t)d * 2 * GU;
    for (int go = 0; go < s->G; go++) {
        int kb = s->G == 4 ? lstm_gates[go] : go;
        for (int u = 0; u < U; u++) {
            int row = go * U + u, col = kb * U + u;
            for (int f = 0; f < F; f++)
                W[(size_t)row * F + f] = w->k[(size_t)f * GU + col];
            for (int v = 0; v < U; v++)
                R[(size_t)row * U + v] = w->r[(size_t)v * GU + col];
            B[row] = w->b ? w->b[col] : 0.0f;
            B[GU + row] = w->b_rec ? w->b[GU + col] : 0.0f;
        }
    }
}

/* ---- the op ---- */

static const int64_t swap01[3] = {1, 0, 2};

/* Reverses x along the given axes (Slice with step -1). */
static const char *flip(onnx_graph *g, const char *x, int n, const int64_t *axes)
{
    int64_t starts[2] = {-1, -1}, ends[2] = {INT64_MIN, INT64_MIN}, steps[2] = {-1, -1};
    const char *y = onnx_fresh(g, "Slice");
    onnx_node nd;
    onnx_node_begin(&nd, g, "Slice");
    onnx_node_input(&nd, x);
    onnx_node_input(&nd, onnx_ints(g, "starts", n, starts));
    onnx_node_input(&nd, onnx_ints(g, "ends", n, ends));
    onnx_node_input(&nd, onnx_ints(g, "axes", n, axes));
    onnx_node_input(&nd, onnx_ints(g, "steps", n, steps));
    onnx_node_output(&nd, y);
    onnx_node_end(&nd);
    return y;
}

static const char *squeeze(onnx_graph *g, const char *x, int64_t axis)
{
    return onnx_op2(g, "Squeeze", x, onnx_ints(g, "axes", 1, &axis));
}

static const char *take(onnx_graph *g, const char *x, int64_t index, int64_t axis)
{
    const char *y = onnx_fresh(g, "Gather");
    onnx_node nd;
    onnx_node_begin(&nd, g, "Gather");
    onnx_node_input(&nd, x);
    onnx_node_input(&nd, onnx_const_int64(g, "index", 0, NULL, &index));
    onnx_node_output(&nd, y);
    onnx_attr_int(&nd, "axis", axis);
    onnx_node_end(&nd);
    return y;
}

/* Runs the op over L->in[0] with dirs directions (weights in ONNX order)
 * and returns Y (T, dirs, N, U) with return_sequences, else Y_h. */
static nn_status run_op(onnx_layer *L, const rnn_spec *s, const dir_weights *w, int dirs,
                        const char *direction, const char **y, nn_error *err)
{
    const rnn_act *acts[3];
    int n_acts;
    nn_status st = direction_acts(L, s, acts, &n_acts, err);
    if (st)
        return st;
    onnx_graph *g = L->g;
    const int U = s->U, F = s->F, GU = s->G * U;
    float *W = malloc((size_t)dirs * GU * F * sizeof *W);
    float *R = malloc((size_t)dirs * GU * U * sizeof *R);
    float *B = malloc((size_t)dirs * 2 * GU * sizeof *B);
    if (!W || !R || !B) {
        free(W);
        free(R);
        free(B);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int d = 0; d < dirs; d++)
        put_direction(s, &w[d], d, W, R, B);
    int64_t wd[3] = {dirs, GU, F}, rd[3] = {dirs, GU, U}, bd[2] = {dirs, 2 * GU};
    const char *Wn = onnx_const_float(g, "W", 3, wd, W), *Rn = onnx_const_float(g, "R", 3, rd, R);
    const char *Bn = s->use_bias ? onnx_const_float(g, "B", 2, bd, B) : NULL;
    free(W);
    free(R);
    free(B);
    const char *op = s->G == 4 ? "LSTM" : s->G == 3 ? "GRU" : "RNN";
    *y = onnx_fresh(g, s->return_sequences ? "Y" : "Y_h");
    onnx_node nd;
    onnx_node_begin(&nd, g, op);
    onnx_node_input(&nd, onnx_transpose(g, L->in[0], 3, swap01));
    onnx_node_input(&nd, Wn);
    onnx_node_input(&nd, Rn);
    if (Bn)
        onnx_node_input(&nd, Bn);
    if (s->return_sequences) {
        onnx_node_output(&nd, *y);
    } else {
        onnx_node_output(&nd, "");
        onnx_node_output(&nd, *y);
    }
    onnx_attr_int(&nd, "hidden_size", U);
    onnx_attr_string(&nd, "direction", direction);
    act_attrs(&nd, acts, n_acts, dirs);
    if (s->G == 3)
        onnx_attr_int(&nd, "linear_before_reset", s->reset_after);
    onnx_node_end(&nd);
    return NN_OK;
}

nn_status onnx_map_rnn(onnx_layer *L, nn_error *err)
{
    if (L->n->in[0]->mask)
        return onnx_layer_fail(L, err, "its input is masked (mask_zero): not exported to ONNX");
    rnn_spec s;
    dir_weights w;
    const char *y;
    nn_status st;
    if ((st = read_spec(L, L->n->type->keras_class, L->cfg, &s, err)) ||
        (st = find_weights(L, "", &w, err)) ||
        (st = run_op(L, &s, &w, 1, s.go_backwards ? "reverse" : "forward", &y, err)))
        return st;
    onnx_graph *g = L->g;
    if (!s.return_sequences) {
        L->out = squeeze(g, y, 0); /* Y_h (1, N, U) */
        return NN_OK;
    }
    y = squeeze(g, y, 1); /* (T, N, U) */
    if (s.go_backwards) {
        int64_t time = 0;
        y = flip(g, y, 1, &time);
    }
    L->out = onnx_transpose(g, y, 3, swap01);
    return NN_OK;
}

/* Keras runs the wrapped layer forwards and a copy with go_backwards
 * flipped backwards; with return_sequences the backward run's outputs are
 * put back in input order, which is how ONNX's reverse direction gives
 * them. When the wrapped layer itself has go_backwards, the roles swap:
 * Keras's forward layer is ONNX's reverse direction and both sequences
 * come out reversed in time. */
nn_status onnx_map_bidirectional(onnx_layer *L, nn_error *err)
{
    if (L->n->in[0]->mask)
        return onnx_layer_fail(L, err, "its input is masked (mask_zero): not exported to ONNX");
    json_t *inner = json_object_get(L->cfg, "layer");
    const char *cls = onnx_cfg_str(inner, "class_name", "?");
    const char *merge = onnx_cfg_str(L->cfg, "merge_mode", "concat");
    rnn_spec s;
    dir_weights fw, bw;
    char fwd[NN_NAME_MAX + 16], bwd[NN_NAME_MAX + 16];
    snprintf(fwd, sizeof fwd, "forward_%s/", L->n->inner_name);
    snprintf(bwd, sizeof bwd, "backward_%s/", L->n->inner_name);
    nn_status st;
    if ((st = read_spec(L, cls, json_object_get(inner, "config"), &s, err)) ||
        (st = find_weights(L, fwd, &fw, err)) || (st = find_weights(L, bwd, &bw, err)))
        return st;
    const bool gb = s.go_backwards;
    dir_weights w[2] = {gb ? bw : fw, gb ? fw : bw}; /* ONNX: forward, reverse */
    const char *y;
    if ((st = run_op(L, &s, w, 2, "bidirectional", &y, err)))
        return st;
    onnx_graph *g = L->g;
    const int U = s.U;
    int dir_axis;
    if (s.return_sequences) { /* Y (T, 2, N, U) -> (N, T, 2, U) */
        static const int64_t perm[4] = {2, 0, 1, 3}, time_dir[2] = {0, 1};
        if (gb)
            y = flip(g, y, 2, time_dir);
        y = onnx_transpose(g, y, 4, perm);
        dir_axis = 2;
    } else { /* Y_h (2, N, U) -> (N, 2, U) */
        static const int64_t dir = 0;
        if (gb)
            y = flip(g, y, 1, &dir);
        y = onnx_transpose(g, y, 3, swap01);
        dir_axis = 1;
    }
    if (!strcmp(merge, "concat")) { /* forward's units first */
        int64_t shape[3] = {0, 0, 2 * U};
        L->out = onnx_op2(g, "Reshape", y,
                          dir_axis == 2 ? onnx_ints(g, "shape", 3, shape)
                                        : onnx_ints(g, "shape", 2, shape + 1));
        return NN_OK;
    }
    const char *a = take(g, y, 0, dir_axis), *b = take(g, y, 1, dir_axis);
    if (!strcmp(merge, "sum"))
        L->out = onnx_op2(g, "Add", a, b);
    else if (!strcmp(merge, "mul"))
        L->out = onnx_op2(g, "Mul", a, b);
    else if (!strcmp(merge, "ave"))
        L->out = onnx_op2(g, "Mul", onnx_op2(g, "Add", a, b), onnx_scalar(g, "half", 0.5f));
    else
        return onnx_layer_fail(L, err, "merge_mode '%s' has no ONNX mapping", merge);
    return NN_OK;
}

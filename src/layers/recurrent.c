/* The recurrent core (see recurrent.h): spec keys, parameters, Keras
 * config, and the forward/backward passes through time. */
#include <stdio.h>
#include <string.h>

#include "formats/c_code.h"
#include "layers/recurrent.h"

int nn_rnn_gates(nn_rnn_kind kind)
{
    return kind == NN_RNN_LSTM ? 4 : kind == NN_RNN_GRU ? 3 : 1;
}

const char *nn_rnn_keras_class(nn_rnn_kind kind)
{
    return kind == NN_RNN_LSTM ? "LSTM" : kind == NN_RNN_GRU ? "GRU" : "SimpleRNN";
}

const char *nn_rnn_type_name(nn_rnn_kind kind)
{
    return kind == NN_RNN_LSTM ? "lstm" : kind == NN_RNN_GRU ? "gru" : "simple_rnn";
}

static nn_status parse_rate(nn_spec_node *s, const char *key, float *out, nn_error *err)
{
    double v;
    nn_status st = nn_spec_float(s, key, false, 0.0, -1e300, 1e300, &v, err);
    if (st)
        return st;
    if (v < 0.0 || v >= 1.0)
        return nn_spec_fail(s, key, err, NN_ERR_USAGE, "expected a fraction in [0, 1), got %g",
                            v);
    *out = (float)v;
    return NN_OK;
}

nn_status nn_rnn_parse(nn_rnn_kind kind, nn_spec_node *s, nn_rnn_cfg *c,
                       nn_regularizer *activity, nn_error *err)
{
    memset(c, 0, sizeof *c);
    c->cell.kind = kind;
    long long units;
    nn_status st;
    if ((st = nn_spec_int(s, "units", true, 0, 1, 1 << 16, &units, err)) ||
        (st = nn_spec_bool(s, "use_bias", false, true, &c->use_bias, err)) ||
        (st = nn_spec_bool(s, "return_sequences", false, false, &c->return_sequences, err)) ||
        (st = nn_spec_bool(s, "go_backwards", false, false, &c->go_backwards, err)) ||
        (st = parse_rate(s, "dropout", &c->dropout, err)) ||
        (st = parse_rate(s, "recurrent_dropout", &c->recurrent_dropout, err)) ||
        (st = nn_spec_initializer(s, "kernel_initializer", "glorot_uniform", &c->kernel_init,
                                  err)) ||
        (st = nn_spec_initializer(s, "recurrent_initializer", "orthogonal", &c->rec_init, err)) ||
        (st = nn_spec_initializer(s, "bias_initializer", "zeros", &c->bias_init, err)) ||
        (st = nn_spec_regularizer(s, "kernel_regularizer", &c->kernel_reg, err)) ||
        (st = nn_spec_regularizer(s, "recurrent_regularizer", &c->rec_reg, err)) ||
        (st = nn_spec_regularizer(s, "bias_regularizer", &c->bias_reg, err)))
        return st;
    if (activity && (st = nn_spec_regularizer(s, "activity_regularizer", activity, err)))
        return st;
    c->cell.units = (int)units;
    /* "activation" defaults to tanh, as Keras; an explicit key wins */
    if (nn_spec_has(s, "activation")) {
        if ((st = nn_spec_activation(s, "activation", &c->cell.act, &c->cell.act_alpha, err)))
            return st;
    } else {
        c->cell.act = NN_ACT_TANH;
    }
    if (c->cell.act == NN_ACT_SOFTMAX)
        return nn_spec_fail(s, "activation", err, NN_ERR_USAGE,
                            "softmax is not an elementwise activation; use it in a Dense "
                            "layer after the recurrent layer");
    if (kind != NN_RNN_SIMPLE) {
        if (nn_spec_has(s, "recurrent_activation")) {
            if ((st = nn_spec_activation(s, "recurrent_activation", &c->cell.rec_act,
                                         &c->cell.rec_alpha, err)))
                return st;
        } else {
            c->cell.rec_act = NN_ACT_SIGMOID;
        }
        if (c->cell.rec_act == NN_ACT_SOFTMAX)
            return nn_spec_fail(s, "recurrent_activation", err, NN_ERR_USAGE,
                                "softmax is not an elementwise activation");
    }
    if (kind == NN_RNN_LSTM &&
        (st = nn_spec_bool(s, "unit_forget_bias", false, true, &c->unit_forget_bias, err)))
        return st;
    if (kind == NN_RNN_GRU &&
        (st = nn_spec_bool(s, "reset_after", false, true, &c->cell.reset_after, err)))
        return st;
    return NN_OK;
}

int nn_rnn_add_params(nn_node *n, const nn_rnn_cfg *c, int features, const char *prefix)
{
    const int U = c->cell.units, GU = nn_rnn_gates(c->cell.kind) * U;
    char name[64];
    int first = n->n_params;
    int kshape[2] = {features, GU}, rshape[2] = {U, GU};
    snprintf(name, sizeof name, "%skernel", prefix);
    nn_node_add_param(n, name, 2, kshape, features, GU, c->kernel_init, c->kernel_reg);
    snprintf(name, sizeof name, "%srecurrent_kernel", prefix);
    nn_node_add_param(n, name, 2, rshape, U, GU, c->rec_init, c->rec_reg);
    if (c->use_bias) {
        snprintf(name, sizeof name, "%sbias", prefix);
        if (c->cell.kind == NN_RNN_GRU && c->cell.reset_after) {
            int bshape[2] = {2, GU};
            nn_node_add_param(n, name, 2, bshape, 2, GU, c->bias_init, c->bias_reg);
        } else {
            nn_param *b = nn_node_add_param(n, name, 1, &GU, features, GU, c->bias_init,
                                            c->bias_reg);
            if (c->cell.kind == NN_RNN_LSTM && c->unit_forget_bias) {
                b->ones_lo = (size_t)U;
                b->ones_hi = (size_t)2 * U;
            }
        }
    }
    return first;
}

void nn_rnn_keras_config(const nn_rnn_cfg *c, json_t *cfg)
{
    json_object_set_new(cfg, "return_sequences", json_boolean(c->return_sequences));
    json_object_set_new(cfg, "return_state", json_false());
    json_object_set_new(cfg, "go_backwards", json_boolean(c->go_backwards));
    json_object_set_new(cfg, "stateful", json_false());
    json_object_set_new(cfg, "unroll", json_false());
    json_object_set_new(cfg, "units", json_integer(c->cell.units));
    json_object_set_new(cfg, "activation", json_string(nn_activation_name(c->cell.act)));
    if (c->cell.kind != NN_RNN_SIMPLE)
        json_object_set_new(cfg, "recurrent_activation",
                            json_string(nn_activation_name(c->cell.rec_act)));
    json_object_set_new(cfg, "use_bias", json_boolean(c->use_bias));
    json_object_set_new(cfg, "kernel_initializer", nn_initializer_keras_json(&c->kernel_init));
    json_object_set_new(cfg, "recurrent_initializer", nn_initializer_keras_json(&c->rec_init));
    json_object_set_new(cfg, "bias_initializer", nn_initializer_keras_json(&c->bias_init));
    if (c->cell.kind == NN_RNN_LSTM)
        json_object_set_new(cfg, "unit_forget_bias", json_boolean(c->unit_forget_bias));
    json_object_set_new(cfg, "kernel_regularizer", nn_regularizer_keras_json(&c->kernel_reg));
    json_object_set_new(cfg, "recurrent_regularizer", nn_regularizer_keras_json(&c->rec_reg));
    json_object_set_new(cfg, "bias_regularizer", nn_regularizer_keras_json(&c->bias_reg));
    json_object_set_new(cfg, "kernel_constraint", json_null());
    json_object_set_new(cfg, "recurrent_constraint", json_null());
    json_object_set_new(cfg, "bias_constraint", json_null());
    json_object_set_new(cfg, "dropout", json_real(c->dropout));
    json_object_set_new(cfg, "recurrent_dropout", json_real(c->recurrent_dropout));
    if (c->cell.kind != NN_RNN_SIMPLE)
        json_object_set_new(cfg, "implementation", json_integer(2));
    if (c->cell.kind == NN_RNN_GRU)
        json_object_set_new(cfg, "reset_after", json_boolean(c->cell.reset_after));
}

void nn_rnn_export_c(nn_c_writer *w, const nn_node *n, const nn_rnn_cfg *c, int first, int T,
                     int F, const char *x, const char *y, bool reverse_output)
{
    const char *W = nn_c_param(w, n, first), *R = nn_c_param(w, n, first + 1);
    const char *b = c->use_bias ? nn_c_param(w, n, first + 2) : NULL;
    nn_c_rnn(w, &c->cell, x, y, T, F, W, R, b, c->go_backwards, c->return_sequences,
             reverse_output);
}

nn_status nn_rnn_mask_infer(nn_node *n, nn_error *err)
{
    const nn_node *in = n->in[0];
    if (in->mask && in->mask_steps != in->shape[0])
        return nn_node_fail(n, err, "its input's mask has %d steps, the input %d", in->mask_steps,
                            in->shape[0]);
    if (in->mask && n->ndim == 2) {
        n->mask = in->mask;
        n->mask_steps = in->mask_steps;
    }
    return NN_OK;
}

/* ---- per-batch tensors ---- */

static nn_status alloc3(nn_engine *e, nn_tensor *t, int a, int b, int c, nn_error *err)
{
    int shape[3] = {a, b, c};
    return e->ops->alloc(e, t, 3, shape, err);
}

nn_status nn_rnn_plan(nn_rnn_run *r, nn_engine *e, int B, bool needs_dx, nn_error *err)
{
    const nn_rnn_cfg *c = r->cfg;
    const int T = r->T, F = r->F, U = c->cell.units, GU = nn_rnn_gates(c->cell.kind) * U;
    const bool lstm = c->cell.kind == NN_RNN_LSTM, gru = c->cell.kind == NN_RNN_GRU;
    nn_status st;
    if ((st = alloc3(e, &r->xt, T, B, F, err)) || (st = alloc3(e, &r->zx, T, B, GU, err)) ||
        (st = alloc3(e, &r->hs, T + 1, B, U, err)) ||
        (st = alloc3(e, &r->dz, T, B, GU, err)) || (st = alloc3(e, &r->dhs, T + 1, B, U, err)))
        return st;
    if (c->dropout > 0.0f &&
        ((st = alloc3(e, &r->xm, T, B, F, err)) || (st = alloc3(e, &r->in_mask, 1, B, F, err))))
        return st;
    if (c->recurrent_dropout > 0.0f &&
        ((st = alloc3(e, &r->hm, T, B, U, err)) || (st = alloc3(e, &r->rec_mask, 1, B, U, err)) ||
         (st = alloc3(e, &r->dhm, 1, B, U, err))))
        return st;
    if ((lstm || gru) && (st = alloc3(e, &r->gates, T, B, GU, err)))
        return st;
    if (lstm && ((st = alloc3(e, &r->cs, T + 1, B, U, err)) ||
                 (st = alloc3(e, &r->tcs, T, B, U, err)) ||
                 (st = alloc3(e, &r->dc, 1, B, U, err))))
        return st;
    if (gru && (st = alloc3(e, &r->zh, T, B, GU, err)))
        return st;
    if (gru && c->cell.reset_after && (st = alloc3(e, &r->dzh, T, B, GU, err)))
        return st;
    if (gru && !c->cell.reset_after &&
        ((st = alloc3(e, &r->rh, T, B, U, err)) || (st = alloc3(e, &r->drh, 1, B, U, err))))
        return st;
    if (needs_dx && (st = alloc3(e, &r->dxt, T, B, F, err)))
        return st;
    if (r->mask && ((st = alloc3(e, &r->mt, T, B, 1, err)) ||
                    (st = alloc3(e, &r->dhc, 1, B, U, err))))
        return st;
    if (r->mask && !e->ops->host_ptr(e, &r->mt) &&
        !(r->mhost = malloc(sizeof *r->mhost * (size_t)T * (size_t)B)))
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory for a recurrent layer's mask (%d x %d)",
                       B, T);
    if (r->mask && lstm && (st = alloc3(e, &r->dcb, 1, B, U, err)))
        return st;
    if (r->mask && r->zero_masked && c->return_sequences &&
        (st = alloc3(e, &r->ys, T, B, U, err)))
        return st;
    return NN_OK;
}

void nn_rnn_release(nn_rnn_run *r, nn_engine *e)
{
    nn_tensor *all[] = {&r->xt,  &r->xm,       &r->zx,      &r->zh, &r->gates, &r->hs,
                        &r->hm,  &r->cs,       &r->tcs,     &r->rh, &r->in_mask,
                        &r->rec_mask, &r->dz,  &r->dzh,     &r->dhs, &r->dc, &r->drh,
                        &r->dhm, &r->dxt, &r->mt, &r->ys, &r->dhc, &r->dcb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        e->ops->free(e, all[i]);
    free(r->mhost);
    r->mhost = NULL;
}

/* Slice s of a time-major (slices, B, width) tensor. */
static nn_tensor step(const nn_tensor *t, int s, int B, int width)
{
    return nn_tensor_view(t, (size_t)s * B * width, (size_t)B * width);
}

/* Slices [s, s + n) of a time-major (slices, B, width) tensor. */
static nn_tensor steps(const nn_tensor *t, int s, int n, int B, int width)
{
    return nn_tensor_view(t, (size_t)s * B * width, (size_t)n * B * width);
}

/* r->lo, r->hi: the steps some sample of this batch keeps (mt in
 * processing order); an all-masked batch has none (0, 0). */
static void active_steps(nn_rnn_run *r, const nn_pass *p)
{
    const int B = p->rows, T = r->T;
    r->lo = 0;
    r->hi = T;
    if (!r->mask)
        return;
    const float *m = p->e->ops->host_ptr(p->e, &r->mt);
    if (!m) {
        p->e->ops->download(p->e, r->mhost, &r->mt, (size_t)T * B);
        m = r->mhost;
    }
    int lo = T, hi = 0;
    for (int s = 0; s < T; s++)
        for (int b = 0; b < B; b++)
            if (m[(size_t)s * B + b] != 0.0f) {
                lo = s < lo ? s : lo;
                hi = s + 1;
                break;
            }
    r->lo = lo < hi ? lo : 0;
    r->hi = hi;
}

/* y = x * m per row: x is (rows, width), m one value per row. */
static void mul_rows(nn_engine *e, const nn_tensor *x, const nn_tensor *m, nn_tensor *y,
                     int rows, int width)
{
    e->ops->bcast_apply(e, true, x, m, y, rows, width, 1);
}

/* A masked step keeps the previous state: cur = prev + m (cur - prev). */
static void keep_masked(nn_engine *e, const nn_tensor *m, const nn_tensor *prev, nn_tensor *cur,
                        int B, int U)
{
    e->ops->axpy(e, -1.0f, prev, cur, (size_t)B * U);
    mul_rows(e, cur, m, cur, B, U);
    e->ops->axpy(e, 1.0f, prev, cur, (size_t)B * U);
}

/* ---- forward ---- */

void nn_rnn_forward(nn_rnn_run *r, const nn_pass *p, const nn_tensor *x, nn_tensor *y,
                    bool reverse_output)
{
    const nn_rnn_cfg *c = r->cfg;
    const nn_rnn_cell *cell = &c->cell;
    nn_engine *e = p->e;
    const nn_engine_ops *o = e->ops;
    const int B = p->rows, T = r->T, F = r->F, U = cell->units;
    const int G = nn_rnn_gates(cell->kind), GU = G * U;
    const bool drop_in = p->training && c->dropout > 0.0f;
    const bool drop_rec = p->training && c->recurrent_dropout > 0.0f;
    const nn_tensor *W = &r->kernel->w, *R = &r->rec->w;

    o->swap_axes(e, x, &r->xt, B, T, F, false, c->go_backwards);
    if (r->mask)
        o->swap_axes(e, r->mask, &r->mt, B, T, 1, false, c->go_backwards);
    active_steps(r, p);
    const int lo = r->lo, hi = r->hi, n = hi - lo;
    const nn_tensor *xin = &r->xt;
    if (drop_in) { /* the mask is drawn at step 0 whatever the steps run */
        nn_tensor x0 = step(&r->xt, 0, B, F), m0 = step(&r->xm, 0, B, F);
        o->dropout_forward(e, c->dropout, nn_rng_u64(p->rng), p->ids, &x0, &r->in_mask, &m0, B,
                           (size_t)F);
        for (int s = lo > 1 ? lo : 1; s < hi; s++) {
            nn_tensor xs = step(&r->xt, s, B, F), ms = step(&r->xm, s, B, F);
            o->mul(e, &xs, &r->in_mask, &ms, (size_t)B * F);
        }
        xin = &r->xm;
    }
    if (n > 0) {
        nn_tensor xw = steps(xin, lo, n, B, F), zw = steps(&r->zx, lo, n, B, GU);
        o->gemm(e, false, false, n * B, GU, F, 1.0f, &xw, W, 0.0f, &zw);
        if (r->bias)
            o->add_bias(e, &zw, &r->bias->w, n * B, GU);
    }
    /* h_0 = 0, kept over the steps before lo */
    o->fill(e, &r->hs, 0.0f, (size_t)(lo + 1) * B * U);
    if (cell->kind == NN_RNN_LSTM)
        o->fill(e, &r->cs, 0.0f, (size_t)(lo + 1) * B * U);
    if (cell->kind == NN_RNN_GRU && n > 0) {
        nn_tensor zhw = steps(&r->zh, lo, n, B, GU);
        o->fill(e, &zhw, 0.0f, (size_t)n * B * GU);
        if (r->bias && cell->reset_after) {
            nn_tensor brec = nn_tensor_view(&r->bias->w, (size_t)GU, (size_t)GU);
            o->add_bias(e, &zhw, &brec, n * B, GU);
        }
    }
    if (drop_rec) {
        nn_tensor h0 = step(&r->hs, 0, B, U), m0 = step(&r->hm, 0, B, U);
        o->dropout_forward(e, c->recurrent_dropout, nn_rng_u64(p->rng), p->ids, &h0,
                           &r->rec_mask, &m0, B, (size_t)U);
    }

    /* h_lo is 0: the first step adds no recurrent product */
    for (int s = lo; s < hi; s++) {
        nn_tensor hprev = step(&r->hs, s, B, U), hnext = step(&r->hs, s + 1, B, U);
        nn_tensor hrec = hprev;
        if (drop_rec) {
            hrec = step(&r->hm, s, B, U);
            if (s > 0)
                o->mul(e, &hprev, &r->rec_mask, &hrec, (size_t)B * U);
        }
        nn_tensor zx = step(&r->zx, s, B, GU);
        switch (cell->kind) {
        case NN_RNN_SIMPLE:
            if (s > lo)
                o->gemm(e, false, false, B, GU, U, 1.0f, &hrec, R, 1.0f, &zx);
            o->act_forward(e, cell->act, cell->act_alpha, &zx, &hnext, B, U);
            break;
        case NN_RNN_LSTM: {
            if (s > lo)
                o->gemm(e, false, false, B, GU, U, 1.0f, &hrec, R, 1.0f, &zx);
            nn_tensor cp = step(&r->cs, s, B, U), cn = step(&r->cs, s + 1, B, U);
            nn_tensor g = step(&r->gates, s, B, GU), tc = step(&r->tcs, s, B, U);
            o->lstm_forward(e, cell, &zx, &cp, &g, &cn, &tc, &hnext, B);
            break;
        }
        case NN_RNN_GRU: {
            nn_tensor zh = step(&r->zh, s, B, GU), g = step(&r->gates, s, B, GU);
            if (cell->reset_after) {
                if (s > lo)
                    o->gemm(e, false, false, B, GU, U, 1.0f, &hrec, R, 1.0f, &zh);
                o->gru_gates(e, cell, &zx, &zh, &hrec, &g, NULL, B);
            } else {
                nn_tensor rh = step(&r->rh, s, B, U);
                if (s > lo)
                    o->gemm_ex(e, false, false, B, 2 * U, U, 1.0f, &hrec, U, R, GU, 0.0f, &zh,
                               GU);
                o->gru_gates(e, cell, &zx, &zh, &hrec, &g, &rh, B);
                if (s > lo) {
                    nn_tensor Rh = nn_tensor_view(R, (size_t)2 * U, (size_t)U * GU - 2 * U);
                    nn_tensor zhh = nn_tensor_view(&zh, (size_t)2 * U, (size_t)B * GU - 2 * U);
                    o->gemm_ex(e, false, false, B, U, U, 1.0f, &rh, U, &Rh, GU, 0.0f, &zhh,
                               GU);
                }
            }
            o->gru_output(e, cell, &zx, &zh, &hprev, &g, &hnext, B);
            break;
        }
        }
        if (r->mask) {
            nn_tensor ms = step(&r->mt, s, B, 1);
            keep_masked(e, &ms, &hprev, &hnext, B, U);
            if (cell->kind == NN_RNN_LSTM) {
                nn_tensor cp = step(&r->cs, s, B, U), cn = step(&r->cs, s + 1, B, U);
                keep_masked(e, &ms, &cp, &cn, B, U);
            }
        }
    }
    /* every sample is masked after hi: the state stays */
    nn_tensor hlast = step(&r->hs, hi, B, U);
    if (c->return_sequences)
        for (int s = hi; s < T; s++) {
            nn_tensor hs = step(&r->hs, s + 1, B, U);
            o->copy(e, &hs, &hlast, (size_t)B * U);
        }
    if (c->return_sequences) {
        nn_tensor seq = nn_tensor_view(&r->hs, (size_t)B * U, (size_t)T * B * U);
        if (r->mask && r->zero_masked) {
            nn_tensor ys = nn_tensor_view(&r->ys, 0, (size_t)T * B * U);
            mul_rows(e, &seq, &r->mt, &ys, T * B, U);
            seq = ys;
        }
        o->swap_axes(e, &seq, y, T, B, U, reverse_output, false);
    } else {
        o->copy(e, y, &hlast, (size_t)B * U);
    }
}

/* ---- backward ---- */

/* dhs[s] += D R^T (D: B x width of the gates' gradients, through the
 * recurrent dropout mask when there is one). */
static void to_prev_state(nn_rnn_run *r, const nn_pass *p, const nn_tensor *D,
                          const nn_tensor *R, int width, int ldd, int ldr, nn_tensor *dprev,
                          bool drop_rec)
{
    nn_engine *e = p->e;
    const int B = p->rows, U = r->cfg->cell.units;
    if (drop_rec) {
        e->ops->gemm_ex(e, false, true, B, U, width, 1.0f, D, ldd, R, ldr, 0.0f, &r->dhm, U);
        e->ops->mul(e, &r->dhm, &r->rec_mask, &r->dhm, (size_t)B * U);
        e->ops->axpy(e, 1.0f, &r->dhm, dprev, (size_t)B * U);
    } else {
        e->ops->gemm_ex(e, false, true, B, U, width, 1.0f, D, ldd, R, ldr, 1.0f, dprev, U);
    }
}

void nn_rnn_backward(nn_rnn_run *r, const nn_pass *p, const nn_tensor *dy, nn_tensor *dx,
                     bool reverse_output)
{
    const nn_rnn_cfg *c = r->cfg;
    const nn_rnn_cell *cell = &c->cell;
    nn_engine *e = p->e;
    const nn_engine_ops *o = e->ops;
    const int B = p->rows, T = r->T, F = r->F, U = cell->units;
    const int G = nn_rnn_gates(cell->kind), GU = G * U;
    const bool drop_in = p->training && c->dropout > 0.0f;
    const bool drop_rec = p->training && c->recurrent_dropout > 0.0f;
    const nn_tensor *W = &r->kernel->w, *R = &r->rec->w;
    const int lo = r->lo, hi = r->hi, n = hi - lo; /* forward's steps */

    o->fill(e, &r->dhs, 0.0f, (size_t)(T + 1) * B * U);
    if (c->return_sequences) {
        nn_tensor seq = nn_tensor_view(&r->dhs, (size_t)B * U, (size_t)T * B * U);
        o->swap_axes(e, dy, &seq, B, T, U, false, reverse_output);
        if (r->mask && r->zero_masked)
            mul_rows(e, &seq, &r->mt, &seq, T * B, U);
        else /* the outputs after hi are h_hi's */
            for (int s = T - 1; s >= hi; s--) {
                nn_tensor dh = step(&r->dhs, s + 1, B, U), dprev = step(&r->dhs, s, B, U);
                o->axpy(e, 1.0f, &dh, &dprev, (size_t)B * U);
            }
    } else {
        nn_tensor last = step(&r->dhs, hi, B, U);
        o->copy(e, &last, dy, (size_t)B * U);
    }
    if (cell->kind == NN_RNN_LSTM)
        o->fill(e, &r->dc, 0.0f, (size_t)B * U);

    for (int s = hi - 1; s >= lo; s--) {
        nn_tensor dh = step(&r->dhs, s + 1, B, U), dprev = step(&r->dhs, s, B, U);
        nn_tensor hprev = step(&r->hs, s, B, U), hnext = step(&r->hs, s + 1, B, U);
        nn_tensor hrec = drop_rec ? step(&r->hm, s, B, U) : hprev;
        nn_tensor zx = step(&r->zx, s, B, GU), dz = step(&r->dz, s, B, GU);
        if (r->mask) {
            /* the cell gets m dh (and m dc); a masked step passes the rest
             * straight to the previous state */
            nn_tensor ms = step(&r->mt, s, B, 1);
            mul_rows(e, &dh, &ms, &r->dhc, B, U);
            o->axpy(e, 1.0f, &dh, &dprev, (size_t)B * U);
            o->axpy(e, -1.0f, &r->dhc, &dprev, (size_t)B * U);
            dh = r->dhc;
            if (cell->kind == NN_RNN_LSTM) {
                o->copy(e, &r->dcb, &r->dc, (size_t)B * U);
                mul_rows(e, &r->dc, &ms, &r->dc, B, U);
                o->axpy(e, -1.0f, &r->dc, &r->dcb, (size_t)B * U);
            }
        }
        switch (cell->kind) {
        case NN_RNN_SIMPLE:
            o->act_backward(e, cell->act, cell->act_alpha, &zx, &hnext, &dh, &dz, B, U);
            if (s > lo)
                to_prev_state(r, p, &dz, R, GU, GU, GU, &dprev, drop_rec);
            break;
        case NN_RNN_LSTM: {
            nn_tensor cp = step(&r->cs, s, B, U), cn = step(&r->cs, s + 1, B, U);
            nn_tensor g = step(&r->gates, s, B, GU), tc = step(&r->tcs, s, B, U);
            o->lstm_backward(e, cell, &zx, &g, &cp, &cn, &tc, &dh, &r->dc, &dz, B);
            if (r->mask)
                o->axpy(e, 1.0f, &r->dcb, &r->dc, (size_t)B * U);
            if (s > lo)
                to_prev_state(r, p, &dz, R, GU, GU, GU, &dprev, drop_rec);
            break;
        }
        case NN_RNN_GRU: {
            nn_tensor zh = step(&r->zh, s, B, GU), g = step(&r->gates, s, B, GU);
            if (cell->reset_after) {
                nn_tensor dzh = step(&r->dzh, s, B, GU);
                o->gru_backward(e, cell, &zx, &zh, &hprev, &g, &dh, &dz, &dzh, &dprev, B);
                if (s > lo)
                    to_prev_state(r, p, &dzh, R, GU, GU, GU, &dprev, drop_rec);
            } else {
                o->gru_backward(e, cell, &zx, &zh, &hprev, &g, &dh, &dz, NULL, &dprev, B);
                /* through (r*h) R_h: drh = dz_h R_h^T */
                nn_tensor dzh_blk = nn_tensor_view(&dz, (size_t)2 * U, (size_t)B * GU - 2 * U);
                nn_tensor Rh = nn_tensor_view(R, (size_t)2 * U, (size_t)U * GU - 2 * U);
                o->gemm_ex(e, false, true, B, U, U, 1.0f, &dzh_blk, GU, &Rh, GU, 0.0f, &r->drh,
                           U);
                if (drop_rec) {
                    o->fill(e, &r->dhm, 0.0f, (size_t)B * U);
                    o->gru_reset_backward(e, cell, &zx, &zh, &hrec, &g, &r->drh, &dz, &r->dhm,
                                          B);
                    o->gemm_ex(e, false, true, B, U, 2 * U, 1.0f, &dz, GU, R, GU, 1.0f, &r->dhm,
                               U);
                    o->mul(e, &r->dhm, &r->rec_mask, &r->dhm, (size_t)B * U);
                    o->axpy(e, 1.0f, &r->dhm, &dprev, (size_t)B * U);
                } else {
                    o->gru_reset_backward(e, cell, &zx, &zh, &hrec, &g, &r->drh, &dz, &dprev,
                                          B);
                    if (s > lo)
                        o->gemm_ex(e, false, true, B, U, 2 * U, 1.0f, &dz, GU, R, GU, 1.0f,
                                   &dprev, U);
                }
            }
            break;
        }
        }
    }

    /* parameter gradients: one product each over the steps run */
    if (n == 0) { /* a wholly masked batch */
        nn_param *ps[] = {r->kernel, r->rec, r->bias};
        for (int i = 0; i < 3; i++)
            if (ps[i] && ps[i]->trainable)
                o->fill(e, &ps[i]->g, 0.0f, ps[i]->size);
        if (dx)
            o->fill(e, dx, 0.0f, (size_t)B * T * F);
        return;
    }
    const nn_tensor xin = steps(drop_in ? &r->xm : &r->xt, lo, n, B, F);
    const nn_tensor hin = steps(drop_rec ? &r->hm : &r->hs, lo, n, B, U); /* h_lo..h_{hi-1} */
    const nn_tensor dz = steps(&r->dz, lo, n, B, GU);
    const int K = n * B;
    if (r->kernel->trainable)
        o->gemm(e, true, false, F, GU, K, 1.0f, &xin, &dz, 0.0f, &r->kernel->g);
    if (r->rec->trainable) {
        if (cell->kind == NN_RNN_GRU && cell->reset_after) {
            nn_tensor dzh = steps(&r->dzh, lo, n, B, GU);
            o->gemm(e, true, false, U, GU, K, 1.0f, &hin, &dzh, 0.0f, &r->rec->g);
        } else if (cell->kind == NN_RNN_GRU) {
            o->gemm_ex(e, true, false, U, 2 * U, K, 1.0f, &hin, U, &dz, GU, 0.0f, &r->rec->g, GU);
            nn_tensor dzh_blk = nn_tensor_view(&dz, (size_t)2 * U, (size_t)K * GU - 2 * U);
            nn_tensor gh = nn_tensor_view(&r->rec->g, (size_t)2 * U, (size_t)U * GU - 2 * U);
            nn_tensor rh = steps(&r->rh, lo, n, B, U);
            o->gemm_ex(e, true, false, U, U, K, 1.0f, &rh, U, &dzh_blk, GU, 0.0f, &gh, GU);
        } else {
            o->gemm(e, true, false, U, GU, K, 1.0f, &hin, &dz, 0.0f, &r->rec->g);
        }
    }
    if (r->bias && r->bias->trainable) {
        o->bias_grad(e, &dz, &r->bias->g, K, GU, 0.0f);
        if (cell->kind == NN_RNN_GRU && cell->reset_after) {
            nn_tensor dzh = steps(&r->dzh, lo, n, B, GU);
            nn_tensor grec = nn_tensor_view(&r->bias->g, (size_t)GU, (size_t)GU);
            o->bias_grad(e, &dzh, &grec, K, GU, 0.0f);
        }
    }
    if (dx) { /* 0 for the steps not run */
        nn_tensor dxw = steps(&r->dxt, lo, n, B, F), after = steps(&r->dxt, hi, T - hi, B, F);
        o->fill(e, &r->dxt, 0.0f, (size_t)lo * B * F);
        o->fill(e, &after, 0.0f, (size_t)(T - hi) * B * F);
        o->gemm(e, false, true, K, F, GU, 1.0f, &dz, W, 0.0f, &dxw);
        if (drop_in)
            for (int s = lo; s < hi; s++) {
                nn_tensor d = step(&r->dxt, s, B, F);
                o->mul(e, &d, &r->in_mask, &d, (size_t)B * F);
            }
        o->swap_axes(e, &r->dxt, dx, T, B, F, c->go_backwards, false);
    }
}

/* Finite-difference gradient checks through the CPU engine and the model:
 * every activation's backward, every loss's gradient, the dense layer's
 * dW/db/dx (a model built from a spec string), weight and activity
 * regularizer gradients (through a 2-layer model and the engine's
 * regularize), and the fused softmax/sigmoid cross-entropies (fused gradient
 * = activation backward of the unfused loss's gradient).
 *
 * Central differences in float32: f(x + h) - f(x - h) over 2h with
 * h = 1e-2 * max(|x|, 0.5); objectives are accumulated in double. The
 * tolerance |analytic - numeric| <= 2e-3 + 1e-2 |numeric| is far above the
 * float32 noise of these differences (~1e-5) and the O(h^2) truncation
 * (~1e-4), and far below what a wrong derivative gives (checked by breaking
 * derivatives in cpu_act.c / cpu_loss.c / dense.c by hand: a missing factor,
 * a wrong sign, y instead of x, a wrong constant all fail here). Inputs are
 * kept away from the kinks (relu family at 0, hard_sigmoid at +-2.5, hinge
 * margins at 0, MAE at p = t) where a finite difference is meaningless. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"
#include "objectives/losses.h"
#include "plugin/loader.h"
#include "train/batch.h"
#include "spec/spec.h"

#define GC_THREADS 1
#include "unit/gradcheck.h"

static double step_for(float x) { return 1e-2 * fmax(fabs((double)x), 0.5); }

/* Checks one analytic derivative against a numeric one; prints context and
 * fails the test when off. */
static void check_close(double analytic, double numeric, const char *what, int i)
{
    double tol = TOL_ABS + TOL_REL * fabs(numeric);
    if (gc_tensor_add(what, analytic, numeric))
        fail();
    if (!(fabs(analytic - numeric) <= tol)) {
        print_error("%s [%d]: analytic %.7g, finite difference %.7g (tolerance %.3g)\n", what, i,
                    analytic, numeric, tol);
        fail();
    }
}

/* ---- activations ---- */

static const char *act_names[NN_ACT_COUNT] = {
    "linear", "relu",     "sigmoid",      "tanh",       "softmax", "elu",  "selu",
    "softplus", "softsign", "hard_sigmoid", "leaky_relu", "swish",   "gelu",
    "relu6",    "mish",     "exponential",  "hard_silu",
};

static float act_alpha(nn_act a)
{
    return a == NN_ACT_LEAKY_RELU ? 0.2f : a == NN_ACT_ELU ? 1.0f : 0.0f;
}

/* sum(dy * act(x)) */
static double act_objective(nn_act a, nn_tensor *x, nn_tensor *y, const float *dy, float *yh,
                            int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    E->ops->act_forward(E, a, act_alpha(a), x, y, rows, cols);
    E->ops->download(E, yh, y, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)dy[i] * yh[i];
    return s;
}

static void gradcheck_activation(nn_act a, int rows, int cols)
{
    size_t n = (size_t)rows * cols;
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *dx = malloc(n * sizeof *dx),
          *yh = malloc(n * sizeof *yh);
    assert_non_null(x);
    assert_non_null(dy);
    assert_non_null(dx);
    assert_non_null(yh);
    for (size_t i = 0; i < n; i++) {
        double v = 2.0 * nrand();
        if (fabs(v) < 0.1)
            v = v < 0 ? v - 0.1 : v + 0.1;
        if (fabs(fabs(v) - 2.5) < 0.1) /* hard_sigmoid */
            v += v > 0 ? 0.2 : -0.2;
        if (fabs(fabs(v) - 3.0) < 0.1) /* hard_silu */
            v += v > 0 ? 0.2 : -0.2;
        if (fabs(v - 6.0) < 0.1) /* relu6 */
            v += 0.2;
        x[i] = (float)v;
        dy[i] = (float)nrand();
    }
    nn_tensor tx = tnew(n, x), ty = tnew(n, NULL), tdy = tnew(n, dy), tdx = tnew(n, NULL);
    E->ops->act_forward(E, a, act_alpha(a), &tx, &ty, rows, cols);
    E->ops->act_backward(E, a, act_alpha(a), &tx, &ty, &tdy, &tdx, rows, cols);
    E->ops->download(E, dx, &tdx, n);
    char what[64];
    snprintf(what, sizeof what, "activation %s dx", act_names[a]);
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        double h = step_for(x0);
        x[i] = (float)(x0 + h);
        double hp = (double)x[i] - x0;
        E->ops->upload(E, &tx, x, n);
        double fp = act_objective(a, &tx, &ty, dy, yh, rows, cols);
        x[i] = (float)(x0 - h);
        double hm = x0 - (double)x[i];
        E->ops->upload(E, &tx, x, n);
        double fm = act_objective(a, &tx, &ty, dy, yh, rows, cols);
        x[i] = x0;
        E->ops->upload(E, &tx, x, n);
        check_close(dx[i], (fp - fm) / (hp + hm), what, (int)i);
    }
    if (gc_tensor_flush())
        fail();
    E->ops->free(E, &tx);
    E->ops->free(E, &ty);
    E->ops->free(E, &tdy);
    E->ops->free(E, &tdx);
    free(x);
    free(dy);
    free(dx);
    free(yh);
}

static void test_activation_backward(void **state)
{
    (void)state;
    gc_tensor_reset();
    for (int a = 0; a < NN_ACT_COUNT; a++) {
        gradcheck_activation((nn_act)a, 3, 5);
        gradcheck_activation((nn_act)a, 7, 10);
    }
}

/* ---- losses ---- */

static const char *loss_names[NN_LOSS_COUNT] = {
    "mse",       "mae",        "mape",           "msle",         "hinge",
    "squared_hinge", "binary_ce", "binary_ce_logits", "categorical_ce", "softmax_ce",
    "sparse_ce", "sparse_softmax_ce", "categorical_hinge", "kl_divergence", "poisson",
    "log_cosh", "huber", "cosine_similarity",
};

/* huber's delta in these checks: both of its pieces are reached */
#define HUBER_DELTA 0.7f

static bool is_sparse(nn_loss_kind k)
{
    return k == NN_LOSS_SPARSE_CE || k == NN_LOSS_SPARSE_SOFTMAX_CE;
}

/* Inputs and targets for a loss, away from its kinks. */
static void loss_data(nn_loss_kind k, int variant, int rows, int cols, float *p, float *t)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = 0; i < n; i++) {
        double pv = nrand(), tv = nrand();
        double sgn = urand(0, 1) < 0.5 ? -1.0 : 1.0;
        switch (k) {
        case NN_LOSS_MSE:
        case NN_LOSS_MAE:
            tv = pv + sgn * urand(0.1, 1.0);
            break;
        case NN_LOSS_MAPE:
            tv = sgn * urand(0.5, 2.0);
            pv = tv + (urand(0, 1) < 0.5 ? -1 : 1) * urand(0.1, 1.0);
            break;
        case NN_LOSS_MSLE:
            pv = urand(0.1, 3.0);
            tv = urand(0.0, 3.0);
            break;
        case NN_LOSS_HINGE:
        case NN_LOSS_SQUARED_HINGE: {
            tv = variant ? sgn : (sgn > 0 ? 1.0 : 0.0);
            double y = variant ? tv : 2.0 * tv - 1.0;
            pv = 1.5 * nrand();
            if (fabs(1.0 - y * pv) < 0.1)
                pv += 0.3;
            break;
        }
        case NN_LOSS_BINARY_CE:
            pv = urand(0.05, 0.95);
            tv = variant ? urand(0, 1) : (urand(0, 1) < 0.5 ? 0.0 : 1.0);
            break;
        case NN_LOSS_BINARY_CE_LOGITS:
            pv = 2.0 * nrand();
            tv = variant ? urand(0, 1) : (urand(0, 1) < 0.5 ? 0.0 : 1.0);
            break;
        case NN_LOSS_CATEGORICAL_CE:
        case NN_LOSS_SPARSE_CE:
            pv = urand(0.1, 1.0);
            tv = 0.0;
            break;
        case NN_LOSS_SOFTMAX_CE:
        case NN_LOSS_SPARSE_SOFTMAX_CE:
            pv = 2.0 * nrand();
            tv = 0.0;
            break;
        case NN_LOSS_CATEGORICAL_HINGE: /* one-hot targets below; distinct scores */
            pv = 2.0 * nrand();
            tv = 0.0;
            break;
        case NN_LOSS_KL_DIVERGENCE: /* probabilities inside (eps, 1) */
            pv = urand(0.05, 0.95);
            tv = 0.0;
            break;
        case NN_LOSS_POISSON:
            pv = urand(0.1, 3.0);
            tv = urand(0.0, 3.0);
            break;
        case NN_LOSS_HUBER: /* off the kinks at |d| = delta */
            if (fabs(fabs(pv - tv) - HUBER_DELTA) < 0.1)
                tv += 0.3;
            break;
        default:
            break;
        }
        p[i] = (float)pv;
        t[i] = (float)tv;
    }
    if (k == NN_LOSS_CATEGORICAL_CE || k == NN_LOSS_SOFTMAX_CE || k == NN_LOSS_KL_DIVERGENCE ||
        k == NN_LOSS_CATEGORICAL_HINGE) {
        for (int r = 0; r < rows; r++) {
            float *tr = t + (size_t)r * cols;
            if (variant) { /* soft targets summing to 1 */
                double s = 0.0;
                for (int c = 0; c < cols; c++)
                    s += tr[c] = (float)urand(0.0, 1.0);
                for (int c = 0; c < cols; c++)
                    tr[c] = (float)(tr[c] / s);
            } else {
                tr[(int)urand(0, cols)] = 1.0f;
            }
        }
    }
    if (is_sparse(k))
        for (int r = 0; r < rows; r++)
            t[r] = (float)(int)urand(0, cols);
    /* categorical hinge: a clear largest (1 - y) p and a margin off 0 */
    for (int r = 0; k == NN_LOSS_CATEGORICAL_HINGE && r < rows; r++) {
        float *pr = p + (size_t)r * cols, *tr = t + (size_t)r * cols;
        for (int tries = 0; tries < 20; tries++) {
            int a = 0;
            double pos = 0.0, second = -INFINITY;
            for (int c = 0; c < cols; c++) {
                pos += (double)tr[c] * pr[c];
                if ((1.0 - tr[c]) * pr[c] > (1.0 - tr[a]) * pr[a])
                    a = c;
            }
            for (int c = 0; c < cols; c++)
                if (c != a)
                    second = fmax(second, (1.0 - tr[c]) * pr[c]);
            double top = (1.0 - tr[a]) * pr[a];
            if (top - second >= 0.05 && fabs(top - pos + 1.0) >= 0.05)
                break;
            pr[a] += 0.15f;
        }
    }
}

static void gradcheck_loss(nn_loss_kind k, int variant, int rows, int cols, float scale)
{
    size_t n = (size_t)rows * cols, tn = is_sparse(k) ? (size_t)rows : n;
    float *p = calloc(n, sizeof *p), *t = calloc(n, sizeof *t), *g = calloc(n, sizeof *g);
    assert_non_null(p);
    assert_non_null(t);
    assert_non_null(g);
    loss_data(k, variant, rows, cols, p, t);
    nn_tensor tp = tnew(n, p), tt = tnew(tn, t), tg = tnew(n, NULL);
    E->ops->fill(E, &tg, NAN, n);
    const float param = k == NN_LOSS_HUBER ? HUBER_DELTA : 0.0f;
    E->ops->loss(E, k, param, &tp, &tt, rows, cols, &tg, scale);
    E->ops->download(E, g, &tg, n);
    char what[80];
    snprintf(what, sizeof what, "loss %s%s gradient", loss_names[k], variant ? " (variant)" : "");
    for (size_t i = 0; i < n; i++) {
        float x0 = p[i];
        double h = step_for(x0);
        if (k == NN_LOSS_BINARY_CE) /* stay inside (eps, 1 - eps) */
            h = fmin(h, 0.5 * fmin(x0, 1.0 - x0));
        p[i] = (float)(x0 + h);
        double hp = (double)p[i] - x0;
        E->ops->upload(E, &tp, p, n);
        double fp = E->ops->loss(E, k, param, &tp, &tt, rows, cols, NULL, scale) / rows * scale;
        p[i] = (float)(x0 - h);
        double hm = x0 - (double)p[i];
        E->ops->upload(E, &tp, p, n);
        double fm = E->ops->loss(E, k, param, &tp, &tt, rows, cols, NULL, scale) / rows * scale;
        p[i] = x0;
        E->ops->upload(E, &tp, p, n);
        check_close(g[i], (fp - fm) / (hp + hm), what, (int)i);
    }
    if (gc_tensor_flush())
        fail();
    E->ops->free(E, &tp);
    E->ops->free(E, &tt);
    E->ops->free(E, &tg);
    free(p);
    free(t);
    free(g);
}

static void test_loss_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    for (int k = 0; k < NN_LOSS_COUNT; k++) {
        gradcheck_loss((nn_loss_kind)k, 0, 3, 5, 1.0f);
        gradcheck_loss((nn_loss_kind)k, 0, 7, 10, 1.0f);
        gradcheck_loss((nn_loss_kind)k, 1, 7, 5, 0.5f);
    }
}

/* The MSLE gradient is zero where the prediction is clipped at epsilon;
 (the loss is flat there). */
static void test_loss_clipped_regions(void **state)
{
    (void)state;
    gc_tensor_reset();
    float p[4] = {-0.5f, -2.0f, 0.5f, 1.0f}, t[4] = {0.3f, 0.5f, 0.2f, 0.1f}, g[4];
    nn_tensor tp = tnew(4, p), tt = tnew(4, t), tg = tnew(4, NULL);
    E->ops->loss(E, NN_LOSS_MSLE, 0.0f, &tp, &tt, 1, 4, &tg, 1.0f);
    E->ops->download(E, g, &tg, 4);
    assert_true(g[0] == 0.0f && g[1] == 0.0f);
    assert_true(g[2] != 0.0f && g[3] != 0.0f);
    E->ops->free(E, &tp);
    E->ops->free(E, &tt);
    E->ops->free(E, &tg);
}

/* ---- models from spec strings ---- */

typedef struct {
    nn_spec *spec;
    nn_model *m;
} built;

static built build_model(const char *text, int rows, bool input_grad)
{
    built b = {0};
    nn_error err;
    nn_spec_node *ms;
    if (nn_spec_load_string(&b.spec, text, "gradcheck.cfg", &err) != NN_OK ||
        nn_spec_group(nn_spec_root(b.spec), "model", true, &ms, &err) != NN_OK ||
        nn_model_from_spec(ms, &b.m, &err) != NN_OK || nn_model_alloc(b.m, E, 0, &err) != NN_OK) {
        print_error("model: %s\n", err.msg);
        fail();
    }
    /* Mark the input as needing a gradient so the first layer's backward
     * writes dx into input->dout (the model skips the input node itself). */
    b.m->input->needs_grad = input_grad;
    if (nn_model_plan(b.m, rows, &err) != NN_OK) {
        print_error("plan: %s\n", err.msg);
        fail();
    }
    nn_rng r;
    nn_rng_seed(&r, 7, NN_STREAM_INIT);
    assert_int_equal(nn_model_init_params(b.m, &r, &err), NN_OK);
    return b;
}

static void free_model(built *b)
{
    nn_model_free(b->m);
    nn_spec_free(b->spec);
}

/* ---- dense layer: dW, db, dx of sum(dy * dense(x)) ---- */

static double dense_objective(nn_model *m, const float *dy, float *yh, int rows)
{
    nn_pass p = {.e = E, .rows = rows, .training = true, .rng = NULL};
    nn_model_forward(m, &p);
    size_t n = (size_t)rows * m->output->size;
    E->ops->download(E, yh, &m->output->out, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)dy[i] * yh[i];
    return s;
}

/* Finite differences of objective() over every element of tensor t
 * (n floats) against the analytic gradient ga. */
typedef double (*objective_fn)(void *ctx);

static void fd_tensor(nn_tensor *t, size_t n, const float *ga, objective_fn f, void *ctx,
                      const char *what)
{
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    E->ops->download(E, v, t, n);
    for (size_t i = 0; i < n; i++) {
        float x0 = v[i];
        double h = step_for(x0);
        v[i] = (float)(x0 + h);
        double hp = (double)v[i] - x0;
        E->ops->upload(E, t, v, n);
        double fp = f(ctx);
        v[i] = (float)(x0 - h);
        double hm = x0 - (double)v[i];
        E->ops->upload(E, t, v, n);
        double fm = f(ctx);
        v[i] = x0;
        E->ops->upload(E, t, v, n);
        check_close(ga[i], (fp - fm) / (hp + hm), what, (int)i);
    }
    if (gc_tensor_flush())
        fail();
    free(v);
}

typedef struct {
    nn_model *m;
    const float *dy;
    float *yh;
    int rows;
} dense_ctx;

static double dense_f(void *c)
{
    dense_ctx *d = c;
    return dense_objective(d->m, d->dy, d->yh, d->rows);
}


static void gradcheck_dense(const char *act, bool bias, int rows, int in, int units)
{
    char text[512];
    snprintf(text, sizeof text,
             "model = { input = { shape = [%d]; }; layers = ( { type = \"dense\"; units = %d; "
             "activation = \"%s\"; use_bias = %s; bias_initializer = \"random_normal\"; } ); };",
             in, units, act, bias ? "true" : "false");
    built b = build_model(text, rows, true);
    nn_model *m = b.m;
    nn_node *d = m->output;
    assert_int_equal(d->n_params, bias ? 2 : 1);
    size_t nx = (size_t)rows * in, ny = (size_t)rows * units;
    float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy), *yh = malloc(ny * sizeof *yh);
    assert_non_null(x);
    assert_non_null(dy);
    assert_non_null(yh);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)nrand();
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)nrand();
    E->ops->upload(E, nn_model_input_tensor(m), x, nx);
    dense_ctx ctx = {m, dy, yh, rows};
    dense_f(&ctx);
    E->ops->upload(E, &d->dout, dy, ny);
    d->loss_wrote_preact = false;
    nn_pass p = {.e = E, .rows = rows, .training = true, .rng = NULL};
    nn_model_backward(m, &p);
    float *dW = dl(&d->params[0].g, d->params[0].size);
    float *db = bias ? dl(&d->params[1].g, d->params[1].size) : NULL;
    float *dx = dl(&m->input->dout, nx);
    char what[96];
    snprintf(what, sizeof what, "dense %s dW", act);
    fd_tensor(&d->params[0].w, d->params[0].size, dW, dense_f, &ctx, what);
    if (bias) {
        snprintf(what, sizeof what, "dense %s db", act);
        fd_tensor(&d->params[1].w, d->params[1].size, db, dense_f, &ctx, what);
    }
    snprintf(what, sizeof what, "dense %s dx", act);
    fd_tensor(nn_model_input_tensor(m), nx, dx, dense_f, &ctx, what);
    free(dW);
    free(db);
    free(dx);
    free(x);
    free(dy);
    free(yh);
    free_model(&b);
}

static void test_dense_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    gradcheck_dense("linear", true, 3, 5, 10);
    gradcheck_dense("linear", false, 7, 10, 5);
    gradcheck_dense("tanh", true, 7, 5, 10);
    gradcheck_dense("sigmoid", false, 3, 10, 5);
    gradcheck_dense("softmax", true, 7, 10, 5);
    gradcheck_dense("gelu", true, 3, 5, 3);
}

/* ---- regularizers ---- */

typedef struct {
    nn_tensor *w;
    float l1, l2;
    size_t n;
} reg_ctx;

static double reg_f(void *c)
{
    reg_ctx *r = c;
    return E->ops->regularize(E, r->w, r->l1, r->l2, NULL, 0.0f, r->n);
}

static void test_regularize_engine(void **state)
{
    (void)state;
    gc_tensor_reset();
    const size_t n = 35;
    float w[35];
    for (size_t i = 0; i < n; i++) {
        double v = nrand();
        w[i] = (float)(fabs(v) < 0.1 ? v + (v < 0 ? -0.1 : 0.1) : v);
    }
    const float cfg[3][2] = {{0.01f, 0.0f}, {0.0f, 0.02f}, {0.3f, 0.7f}};
    for (int c = 0; c < 3; c++) {
        nn_tensor tw = tnew(n, w), tg = tnew(n, NULL);
        /* the gradient is ADDED into grad, times grad_scale */
        E->ops->fill(E, &tg, 1.0f, n);
        double pen = E->ops->regularize(E, &tw, cfg[c][0], cfg[c][1], &tg, 1.0f, n);
        double ref = 0.0;
        for (size_t i = 0; i < n; i++)
            ref += cfg[c][0] * fabs((double)w[i]) + cfg[c][1] * (double)w[i] * w[i];
        assert_true(fabs(pen - ref) <= 1e-5 * fabs(ref));
        float *g = dl(&tg, n);
        for (size_t i = 0; i < n; i++)
            g[i] -= 1.0f;
        reg_ctx ctx = {&tw, cfg[c][0], cfg[c][1], n};
        fd_tensor(&tw, n, g, reg_f, &ctx, "regularize gradient");
        free(g);
        E->ops->free(E, &tw);
        E->ops->free(E, &tg);
    }
}

/* A 2-layer model with kernel, bias and activity regularizers and an MSE
 * loss (the hidden layer is a sigmoid so that its l1 activity penalty has no
 * kink: its outputs are positive), run the way fit.c runs a batch: forward, loss (+ activity penalty),
 * backward, weight penalties with their gradients. Every parameter's
 * gradient is checked against finite differences of the total loss. */
typedef struct {
    nn_model *m;
    nn_tensor *yt;
    int rows;
    const nn_objective *o; /* NULL: MSE on the one output */
} train_ctx;

/* The total loss as training computes it (train/batch.h); with grad, the
 * gradients too. */
static double train_loss(train_ctx *c, bool grad)
{
    nn_model *m = c->m;
    nn_objective mse = {.n = 1,
                        .h[0] = {.node = m->output, .kind = NN_LOSS_MSE, .weight = 1.0,
                                 .cols = m->output->shape[0]}};
    const nn_objective *o = c->o ? c->o : &mse;
    nn_tensor *yt[NN_MAX_IO];
    for (int k = 0; k < o->n; k++)
        yt[k] = c->yt + k;
    nn_pass p = {.e = E, .rows = c->rows, .training = true, .rng = NULL};
    if (grad)
        return nn_batch_gradients(m, o, yt, &p, NULL);
    nn_model_forward(m, &p);
    return nn_batch_data_loss(m, o, yt, c->rows, false, NULL) + m->activity_penalty +
           nn_model_weight_penalty(m, false);
}

static double train_f(void *c) { return train_loss(c, false); }

/* Every parameter's gradient (left by a train_loss(ctx, true) just before)
 * against finite differences of the training loss; returns how many. */
static int fd_every_param(train_ctx *ctx, const char *label)
{
    nn_model *m = ctx->m;
    int checked = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            float *g = dl(&p->g, p->size);
            char what[128];
            snprintf(what, sizeof what, "%s %s/%s", label, m->nodes[i]->name, p->name);
            fd_tensor(&p->w, p->size, g, train_f, ctx, what);
            free(g);
            checked++;
        }
    return checked;
}

static void test_regularizer_gradients_in_model(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int rows = 7, in = 5, out = 3;
    const char *text =
        "model = { input = { shape = [5]; }; layers = (\n"
        "  { type = \"dense\"; name = \"h\"; units = 10; activation = \"sigmoid\";\n"
        "    kernel_regularizer = { l1 = 0.05; l2 = 0.1; }; bias_regularizer = \"l2\";\n"
        "    bias_initializer = \"random_normal\";\n"
        "    activity_regularizer = { l1 = 0.2; l2 = 0.3; }; },\n"
        "  { type = \"dense\"; name = \"o\"; units = 3; kernel_regularizer = \"l1\";\n"
        "    bias_regularizer = { l1 = 0.1; }; bias_initializer = \"random_normal\";\n"
        "    activity_regularizer = { l2 = 0.2; }; }\n"
        "); };";
    built b = build_model(text, rows, false);
    nn_model *m = b.m;
    float x[35], y[21];
    for (int i = 0; i < rows * in; i++)
        x[i] = (float)nrand();
    for (int i = 0; i < rows * out; i++)
        y[i] = (float)nrand();
    E->ops->upload(E, nn_model_input_tensor(m), x, (size_t)rows * in);
    nn_tensor yt = tnew((size_t)rows * out, y);
    /* move parameters off 0, where l1 has a kink */
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            float *w = dl(&p->w, p->size);
            for (size_t j = 0; j < p->size; j++)
                if (fabsf(w[j]) < 0.05f)
                    w[j] = w[j] < 0 ? w[j] - 0.05f : w[j] + 0.05f;
            E->ops->upload(E, &p->w, w, p->size);
            free(w);
        }
    train_ctx ctx = {m, &yt, rows, NULL};
    train_loss(&ctx, true);
    assert_true(m->activity_penalty > 0.0);
    assert_int_equal(fd_every_param(&ctx, "regularized model"), 4);
    E->ops->free(E, &yt);
    free_model(&b);
}

/* ---- plugins: the example layer (swish_beta, a trainable beta) and
 * regularizer (orthogonal) and the tests' loss (pseudo_huber) through the
 * same training step, against finite differences ---- */

#ifndef NN_PLUGIN_DIR
#define NN_PLUGIN_DIR "build/plugins"
#endif

static void load_plugin(const char *name)
{
    char path[4096];
    nn_error err;
    snprintf(path, sizeof path, "%s/%s.so", NN_PLUGIN_DIR, name);
    if (nn_plugin_load(path, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
}

static void test_plugin_gradients(void **state)
{
    (void)state;
    load_plugin("swish_beta");
    load_plugin("orthogonal_reg");
    load_plugin("pseudo_huber");
    const int rows = 6, in = 5, out = 3;
    const char *text =
        "model = { input = { shape = [5]; }; layers = (\n"
        "  { type = \"dense\"; name = \"h\"; units = 4;\n"
        "    kernel_regularizer = { type = \"orthogonal\"; factor = 0.05; };\n"
        "    bias_initializer = \"random_normal\"; },\n"
        "  { type = \"swish_beta\"; name = \"sb\"; initial_beta = 0.7; },\n"
        "  { type = \"dense\"; name = \"o\"; units = 3;\n"
        "    activity_regularizer = { type = \"orthogonal\"; factor = 0.02; }; }\n"
        "); };";
    built b = build_model(text, rows, true);
    nn_model *m = b.m;
    float x[30], y[18];
    for (int i = 0; i < rows * in; i++)
        x[i] = (float)nrand();
    for (int i = 0; i < rows * out; i++)
        y[i] = (float)nrand();
    nn_tensor *xt = nn_model_input_tensor(m);
    E->ops->upload(E, xt, x, (size_t)rows * in);
    nn_tensor yt = tnew((size_t)rows * out, y);
    /* beta away from its start, different per unit */
    nn_param *beta = &m->nodes[2]->params[0];
    assert_string_equal(beta->name, "beta");
    float bv[4] = {0.4f, 1.3f, -0.6f, 2.1f};
    E->ops->upload(E, &beta->w, bv, 4);
    const nn_loss_info *L = nn_loss_find("pseudo_huber");
    assert_non_null(L);
    nn_error err;
    void *inst;
    assert_int_equal(L->create(L, NULL, &inst, &err), NN_OK);
    nn_objective mse = {.n = 1,
                        .h[0] = {.node = m->output, .kind = NN_LOSS_MSE, .weight = 1.0,
                                 .cols = out}};
    nn_objective ph = {.n = 1,
                       .h[0] = {.node = m->output, .loss = L, .inst = inst, .weight = 0.7,
                                .cols = out, .target_cols = out}};
    const nn_objective *objs[2] = {&mse, &ph};
    for (int k = 0; k < 2; k++) {
        train_ctx ctx = {m, &yt, rows, objs[k]};
        train_loss(&ctx, true);
        assert_true(nn_model_weight_penalty(m, false) > 0.0);
        assert_true(m->activity_penalty > 0.0);
        assert_int_equal(fd_every_param(&ctx, k ? "pseudo_huber loss" : "mse loss"), 5);
        /* the input's gradient passes through swish_beta's dx */
        float *dx = dl(&m->input->dout, (size_t)rows * in);
        fd_tensor(xt, (size_t)rows * in, dx, train_f, &ctx, k ? "dx (pseudo_huber)" : "dx");
        free(dx);
    }
    E->ops->free(E, &yt);
    free_model(&b);
}

/* ---- several inputs and outputs: the weighted sum of the outputs' losses
 * (one fused softmax cross-entropy, one MSE) against finite differences,
 * and the value against the outputs' losses computed one by one ---- */

static void test_multi_io_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int rows = 5;
    const char *text =
        "model = { inputs = ( { name = \"a\"; shape = [4]; }, { name = \"b\"; shape = [3]; } );\n"
        "  outputs = [\"cls\", \"reg\"]; layers = (\n"
        "  { type = \"dense\"; name = \"ha\"; inputs = [\"a\"]; units = 6; activation = \"tanh\"; },\n"
        "  { type = \"dense\"; name = \"hb\"; inputs = [\"b\"]; units = 6; activation = \"sigmoid\"; },\n"
        "  { type = \"concatenate\"; name = \"cat\"; inputs = [\"ha\", \"hb\"]; },\n"
        "  { type = \"dense\"; name = \"reg\"; inputs = [\"cat\"]; units = 2; },\n"
        "  { type = \"dense\"; name = \"cls\"; inputs = [\"ha\"]; units = 3; activation = \"softmax\"; }\n"
        "); };";
    built b = build_model(text, rows, false);
    nn_model *m = b.m;
    assert_int_equal(m->n_inputs, 2);
    assert_int_equal(m->n_outputs, 2);
    assert_string_equal(m->outputs[0]->name, "cls"); /* model.outputs' order, not the layers' */
    assert_string_equal(m->outputs[1]->name, "reg");
    float xa[20], xb[15], y1[15] = {0}, y2[10];
    for (int i = 0; i < 20; i++)
        xa[i] = (float)nrand();
    for (int i = 0; i < 15; i++)
        xb[i] = (float)nrand();
    for (int r = 0; r < rows; r++)
        y1[r * 3 + (int)urand(0, 3)] = 1.0f;
    for (int i = 0; i < 10; i++)
        y2[i] = (float)nrand();
    E->ops->upload(E, nn_model_input_tensor_at(m, 0), xa, 20);
    E->ops->upload(E, nn_model_input_tensor_at(m, 1), xb, 15);
    nn_tensor yt[2] = {tnew(15, y1), tnew(10, y2)};
    nn_objective o = {.n = 2,
                      .h = {{.node = m->outputs[0], .kind = NN_LOSS_SOFTMAX_CE, .fused = true,
                             .weight = 0.7, .one_hot = true, .cols = 3, .target_cols = 3},
                            {.node = m->outputs[1], .kind = NN_LOSS_MSE, .weight = 0.25,
                             .cols = 2, .target_cols = 2}}};
    train_ctx ctx = {m, yt, rows, &o};
    nn_batch_loss parts;
    nn_tensor *ytp[2] = {&yt[0], &yt[1]};
    double total =
        nn_batch_gradients(m, &o, ytp, &(nn_pass){.e = E, .rows = rows, .training = true}, &parts);
    /* the outputs' losses by hand from the outputs the pass produced */
    float *p1 = dl(&m->outputs[0]->out, 15), *p2 = dl(&m->outputs[1]->out, 10);
    double ce = 0.0, se = 0.0;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < 3; c++)
            ce -= y1[r * 3 + c] * log(p1[r * 3 + c]);
    for (int i = 0; i < 10; i++)
        se += (p2[i] - y2[i]) * (p2[i] - y2[i]);
    ce /= rows;
    se /= 10; /* mean over rows of the mean over the 2 units */
    assert_float_equal(parts.head[0], ce, 1e-5 * (1 + ce));
    assert_float_equal(parts.head[1], se, 1e-5 * (1 + se));
    assert_float_equal(total, 0.7 * ce + 0.25 * se, 1e-5);
    free(p1);
    free(p2);
    assert_int_equal(fd_every_param(&ctx, "two-output model"), 8);
    E->ops->free(E, &yt[0]);
    E->ops->free(E, &yt[1]);
    free_model(&b);
}

/* ---- fusion: fused loss gradient = activation backward of the unfused
 * loss's gradient at the activation's output; values agree too ---- */

static void check_fusion(nn_loss_kind fused, nn_loss_kind plain, nn_act act, int rows, int cols,
                         bool sparse, bool soft)
{
    size_t n = (size_t)rows * cols, tn = sparse ? (size_t)rows : n;
    float *z = malloc(n * sizeof *z), *t = calloc(n, sizeof *t);
    assert_non_null(z);
    assert_non_null(t);
    for (size_t i = 0; i < n; i++)
        z[i] = (float)(1.5 * nrand());
    for (int r = 0; r < rows; r++) {
        if (sparse) {
            t[r] = (float)(int)urand(0, cols);
        } else if (act == NN_ACT_SIGMOID) {
            for (int c = 0; c < cols; c++)
                t[(size_t)r * cols + c] = soft ? (float)urand(0, 1) : (urand(0, 1) < 0.5f ? 0.f : 1.f);
        } else if (soft) {
            double s = 0.0;
            for (int c = 0; c < cols; c++)
                s += t[(size_t)r * cols + c] = (float)urand(0, 1);
            for (int c = 0; c < cols; c++)
                t[(size_t)r * cols + c] = (float)(t[(size_t)r * cols + c] / s);
        } else {
            t[(size_t)r * cols + (int)urand(0, cols)] = 1.0f;
        }
    }
    nn_tensor tz = tnew(n, z), tt = tnew(tn, t), ty = tnew(n, NULL), gf = tnew(n, NULL),
              gp = tnew(n, NULL), gz = tnew(n, NULL);
    double vf = E->ops->loss(E, fused, 0.0f, &tz, &tt, rows, cols, &gf, 1.0f);
    E->ops->act_forward(E, act, 0.0f, &tz, &ty, rows, cols);
    double vp = E->ops->loss(E, plain, 0.0f, &ty, &tt, rows, cols, &gp, 1.0f);
    E->ops->act_backward(E, act, 0.0f, &tz, &ty, &gp, &gz, rows, cols);
    assert_true(fabs(vf - vp) <= 1e-5 * fabs(vp) + 1e-6);
    float *a = dl(&gf, n), *b = dl(&gz, n);
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= 1e-5f + 1e-4f * fabsf(b[i]))) {
            print_error("fusion %s vs %s [%zu]: fused %.8g, chained %.8g\n", loss_names[fused],
                        loss_names[plain], i, a[i], b[i]);
            fail();
        }
    free(a);
    free(b);
    nn_tensor *ts[] = {&tz, &tt, &ty, &gf, &gp, &gz};
    for (int i = 0; i < 6; i++)
        E->ops->free(E, ts[i]);
    free(z);
    free(t);
}

static void test_fusion(void **state)
{
    (void)state;
    gc_tensor_reset();
    check_fusion(NN_LOSS_SOFTMAX_CE, NN_LOSS_CATEGORICAL_CE, NN_ACT_SOFTMAX, 3, 5, false, false);
    check_fusion(NN_LOSS_SOFTMAX_CE, NN_LOSS_CATEGORICAL_CE, NN_ACT_SOFTMAX, 7, 10, false, true);
    check_fusion(NN_LOSS_SPARSE_SOFTMAX_CE, NN_LOSS_SPARSE_CE, NN_ACT_SOFTMAX, 7, 10, true, false);
    check_fusion(NN_LOSS_BINARY_CE_LOGITS, NN_LOSS_BINARY_CE, NN_ACT_SIGMOID, 7, 5, false, false);
    check_fusion(NN_LOSS_BINARY_CE_LOGITS, NN_LOSS_BINARY_CE, NN_ACT_SIGMOID, 3, 10, false, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_backward),
        cmocka_unit_test(test_loss_gradients),
        cmocka_unit_test(test_loss_clipped_regions),
        cmocka_unit_test(test_dense_gradients),
        cmocka_unit_test(test_regularize_engine),
        cmocka_unit_test(test_regularizer_gradients_in_model),
        cmocka_unit_test(test_multi_io_gradients),
        cmocka_unit_test(test_plugin_gradients),
        cmocka_unit_test(test_fusion),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* nnref: runs one numerical case (or a JSON array of cases) through the REAL
 * engine / model / optimizer / session code and prints the results as JSON,
 * for tests/oracle/test_oracle.py to compare against PyTorch.
 *
 *   nnref < case.json > result.json
 *
 * Input: one JSON object, or an array of them (the output is then an array
 * of results in the same order). Every case has "op":
 *
 *   activation  name, [alpha], rows, cols, x, dy        -> y, dx
 *               (act_forward, then act_backward(x, y, dy); alpha defaults to
 *               the registry's default for the name)
 *   loss        kind, rows, cols, input, target, [grad_scale=1], [param=1]
 *                                                       -> sum, grad
 *               kind: mse mae mape msle hinge squared_hinge binary_ce
 *               binary_ce_logits categorical_ce softmax_ce sparse_ce
 *               sparse_softmax_ce (sparse: target holds one label per row)
 *               categorical_hinge kl_divergence poisson log_cosh huber
 *               cosine_similarity; param: huber's delta
 *   metric      kind, [k=5], rows, cols, pred, target   -> sum
 *               kind: binary_accuracy categorical_accuracy
 *               sparse_categorical_accuracy top_k sparse_top_k mse mae mape msle
 *   optimizer   optimizer (a JSON object written as the spec's
 *               train.optimizer group, e.g. {"type":"adam","lr":0.01}),
 *               w (n values), grads (list of n-value gradients, one per
 *               step), [b (1 value), grads_b (one 1-value list per step)]
 *                                                       -> w, b, lr (per step)
 *               Builds a session from a spec whose model is one dense layer
 *               (kernel = w as n x 1, bias = b when given), uploads each
 *               step's gradient into the parameters' gradient tensors and
 *               calls nn_optimizer_step (decay, Nadam schedule, clipnorm per
 *               tensor and clipvalue all happen there).
 *   dense       rows, in, units, activation, use_bias, x, W (in x units),
 *               [b], dy                                 -> y, dW, db, dx
 *               A model built from a spec (input -> dense) on the cpu engine;
 *               the input node is marked as needing a gradient so the dense
 *               layer's backward writes dx into it.
 *   layer       layer (libconfig text: the body of one layers entry, e.g.
 *               'type = "conv2d"; filters = 5; kernel_size = [3, 3];'),
 *               input_shape (per-sample, e.g. [7, 9, 3]), rows, x,
 *               weights {"kernel": [...], "bias": [...]} (every parameter,
 *               in its Keras layout), dy, [plan_batch (>= rows, default
 *               rows)], [training=true]
 *               -> y, y_shape (per-sample), dx, grads {"kernel": ...},
 *                  param_shapes {"kernel": [...]}, weights_after {"kernel":
 *                  ...} (every parameter after the forward and backward:
 *                  batch_normalization's moving statistics)
 *               A model input -> layer built from a spec on the cpu engine;
 *               the input node is marked as needing a gradient (and the
 *               mark propagated, so layers without parameters run their
 *               backward too). Outputs and gradients are poisoned with NaN
 *               first, so an element the layer forgets to write shows.
 *               plan_batch > rows runs a partial batch (fit's last batch).
 *               [precision] ("float32", "mixed_bfloat16"): the layer's
 *               products in that precision (nn_precision_apply, forced);
 *               the result then says the precision it really ran in
 *               ("precision"; "why" when the CPU cannot), and how many
 *               oneDNN passes/products ran and were declined
 *               ("onednn_ran", "onednn_declined").
 *   merge       layer (libconfig text of a merge layer without `inputs`, e.g.
 *               'type = "concatenate"; axis = 1;'), rows, inputs (a list of
 *               {"shape": per-sample shape, "x": rows x shape values} or
 *               {"same_as": k}: earlier input k fed again), dy, [training]
 *               -> y, y_shape, dx (a list, one per input: the gradient that
 *                  reached that input's branch; a same_as entry repeats its
 *                  source's, which is the sum over both uses)
 *               See op_merge for how the several inputs are built inside the
 *               one-input model (exact 0/1 dense selections of one input).
 *   train_step  spec (libconfig text with model and train sections),
 *               weights {"layer/param": [...]}, rows, x, y, [n_classes],
 *               [one_hot (-1 auto)], [training=true]
 *               -> loss, data_loss, activity_penalty, weight_penalty, fused,
 *                  grads {"layer/param": [...]} (before the step, after
 *                  penalties), weights {"layer/param": [...]} (after the step)
 *               Replicates fit.c's per-batch sequence (its data_loss and
 *               weight_penalty are static): forward, loss (+ activity
 *               penalty), backward, weight penalties with gradients,
 *               nn_optimizer_step.
 *
 *   augment     data (libconfig text holding the augment group: "augment =
 *               { fill_mode = \"constant\"; ... };"), h, w, c, x (stored
 *               units), [scale=1], params {theta, tx, ty, shear, zx, zy,
 *               flip_h, flip_v, channel_shift, brightness}  -> y (stored units)
 *               nn_augment_apply with those parameters (not drawn).
 *
 * Exits 1 with a message on stderr on bad input. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "engine/cpu/cpu_internal.h"
#include "engine/engine.h"
#include "layers/common.h"
#include "model/precision.h"
#include "spec/spec.h"
#include "train/fit.h"
#include "train/optimizers.h"
#include "train/batch.h"
#include "session/session.h"

static char g_msg[4096];

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- small string builder ---- */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        char *grown = realloc(b->s, b->cap);
        if (!grown) {
            fprintf(stderr, "nnref: out of memory\n");
            exit(1);
        }
        b->s = grown;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

/* ---- JSON helpers ---- */
static int get_int(json_t *c, const char *key, bool required, long long def, long long *out)
{
    json_t *v = json_object_get(c, key);
    if (!v) {
        if (required)
            return fail("missing key \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return fail("\"%s\": expected an integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int get_num(json_t *c, const char *key, bool required, double def, double *out)
{
    json_t *v = json_object_get(c, key);
    if (!v) {
        if (required)
            return fail("missing key \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!json_is_number(v))
        return fail("\"%s\": expected a number", key);
    *out = json_number_value(v);
    return 0;
}

static int get_str(json_t *c, const char *key, bool required, const char *def, const char **out)
{
    json_t *v = json_object_get(c, key);
    if (!v) {
        if (required)
            return fail("missing key \"%s\"", key);
        *out = def;
        return 0;
    }
    if (!json_is_string(v))
        return fail("\"%s\": expected a string", key);
    *out = json_string_value(v);
    return 0;
}

static int get_bool(json_t *c, const char *key, bool def, bool *out)
{
    json_t *v = json_object_get(c, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return fail("\"%s\": expected true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* Reads a flat array of exactly n numbers (n < 0: any length, returned in
 * *count) into a new buffer. */
static int read_floats(json_t *arr, const char *what, long long n, float **out, size_t *count)
{
    *out = NULL;
    if (!arr || !json_is_array(arr))
        return fail("\"%s\": expected an array of numbers", what);
    size_t len = json_array_size(arr);
    if (n >= 0 && len != (size_t)n)
        return fail("\"%s\": expected %lld numbers, got %zu", what, n, len);
    float *buf = malloc((len ? len : 1) * sizeof(float));
    if (!buf)
        return fail("out of memory");
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_number(v)) {
            free(buf);
            return fail("\"%s\"[%zu]: expected a number", what, i);
        }
        buf[i] = (float)json_number_value(v);
    }
    *out = buf;
    if (count)
        *count = len;
    return 0;
}

static int get_floats(json_t *c, const char *key, long long n, float **out)
{
    return read_floats(json_object_get(c, key), key, n, out, NULL);
}

static json_t *float_array(const float *x, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real((double)x[i]));
    return a;
}

static int check_dims(long long rows, long long cols)
{
    if (rows < 1 || cols < 1 || rows > 100000 || cols > 100000)
        return fail("rows and cols must be in 1..100000 (got %lld x %lld)", rows, cols);
    return 0;
}

/* ---- engine tensors from host data ---- */
typedef struct {
    nn_engine *e;
    nn_tensor t[8];
    int n;
} tensors;

static nn_tensor *tensor_new(tensors *ts, size_t n, const float *src)
{
    nn_error err;
    if (ts->n >= 8)
        return NULL;
    int shape[1] = {(int)n};
    nn_tensor *t = &ts->t[ts->n];
    if (ts->e->ops->alloc(ts->e, t, 1, shape, &err) != NN_OK)
        return NULL;
    ts->n++;
    if (src)
        ts->e->ops->upload(ts->e, t, src, n);
    return t;
}

static void tensors_free(tensors *ts)
{
    for (int i = 0; i < ts->n; i++)
        ts->e->ops->free(ts->e, &ts->t[i]);
    ts->n = 0;
}

static float *download(nn_engine *e, const nn_tensor *t, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof(float));
    if (!h) {
        fprintf(stderr, "nnref: out of memory\n");
        exit(1);
    }
    e->ops->download(e, h, t, n);
    return h;
}

static void set_floats(json_t *res, const char *key, nn_engine *e, const nn_tensor *t, size_t n)
{
    float *h = download(e, t, n);
    json_object_set_new(res, key, float_array(h, n));
    free(h);
}

/* ---- op: activation ---- */
/* through the registry, as a spec would name it (aliases included) */
static int act_by_name(const char *name, nn_act *out)
{
    const nn_activation_info *a = nn_activation_find(name);
    if (!a)
        return fail("unknown activation \"%s\"", name);
    *out = a->id;
    return 0;
}

static int op_activation(nn_engine *e, json_t *c, json_t *res)
{
    const char *name = NULL;
    long long rows = 0, cols = 0;
    nn_act act = NN_ACT_LINEAR;
    if (get_str(c, "name", true, NULL, &name) || act_by_name(name, &act) ||
        get_int(c, "rows", true, 0, &rows) || get_int(c, "cols", true, 0, &cols) ||
        check_dims(rows, cols))
        return -1;
    double alpha = 0.0;
    if (get_num(c, "alpha", false, nn_activation_lookup(act)->default_alpha, &alpha))
        return -1;
    size_t n = (size_t)(rows * cols);
    float *x = NULL, *dy = NULL;
    int rc = -1;
    tensors ts = {.e = e};
    if (get_floats(c, "x", (long long)n, &x) || get_floats(c, "dy", (long long)n, &dy))
        goto out;
    nn_tensor *tx = tensor_new(&ts, n, x), *ty = tensor_new(&ts, n, NULL),
              *tdy = tensor_new(&ts, n, dy), *tdx = tensor_new(&ts, n, NULL);
    if (!tx || !ty || !tdy || !tdx) {
        fail("tensor allocation failed");
        goto out;
    }
    e->ops->act_forward(e, act, (float)alpha, tx, ty, (int)rows, (int)cols);
    e->ops->act_backward(e, act, (float)alpha, tx, ty, tdy, tdx, (int)rows, (int)cols);
    set_floats(res, "y", e, ty, n);
    set_floats(res, "dx", e, tdx, n);
    rc = 0;
out:
    tensors_free(&ts);
    free(x);
    free(dy);
    return rc;
}

/* ---- op: loss ---- */
static const char *const loss_names[NN_LOSS_COUNT] = {
    [NN_LOSS_MSE] = "mse",
    [NN_LOSS_MAE] = "mae",
    [NN_LOSS_MAPE] = "mape",
    [NN_LOSS_MSLE] = "msle",
    [NN_LOSS_HINGE] = "hinge",
    [NN_LOSS_SQUARED_HINGE] = "squared_hinge",
    [NN_LOSS_BINARY_CE] = "binary_ce",
    [NN_LOSS_BINARY_CE_LOGITS] = "binary_ce_logits",
    [NN_LOSS_CATEGORICAL_CE] = "categorical_ce",
    [NN_LOSS_SOFTMAX_CE] = "softmax_ce",
    [NN_LOSS_SPARSE_CE] = "sparse_ce",
    [NN_LOSS_SPARSE_SOFTMAX_CE] = "sparse_softmax_ce",
    [NN_LOSS_CATEGORICAL_HINGE] = "categorical_hinge",
    [NN_LOSS_KL_DIVERGENCE] = "kl_divergence",
    [NN_LOSS_POISSON] = "poisson",
    [NN_LOSS_LOG_COSH] = "log_cosh",
    [NN_LOSS_HUBER] = "huber",
    [NN_LOSS_COSINE_SIMILARITY] = "cosine_similarity",
};

static int check_labels(const float *t, long long rows, long long cols)
{
    for (long long r = 0; r < rows; r++)
        if (t[r] != floorf(t[r]) || t[r] < 0 || t[r] >= (float)cols)
            return fail("target[%lld] = %g is not a label in 0..%lld", r, (double)t[r], cols - 1);
    return 0;
}

/* What a loss and a metric case share: a kind by name, rows x cols of
 * predictions (pred_key), and targets (one label a row when sparse). */
typedef struct {
    int kind;
    long long rows, cols;
    size_t n, tn;
    float *pred, *target; /* owned */
    nn_tensor *tp, *tt;   /* in ts */
    tensors ts;
} scored_case;

static void scored_free(scored_case *sc)
{
    tensors_free(&sc->ts);
    free(sc->pred);
    free(sc->target);
}

/* sparse_kinds: the kinds whose targets are labels, ending with -1. On
 * failure sc still frees cleanly. */
static int read_scored(nn_engine *e, json_t *c, const char *pred_key, const char *const *names,
                       int count, const int *sparse_kinds, scored_case *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->ts.e = e;
    const char *kind_s = NULL;
    if (get_str(c, "kind", true, NULL, &kind_s) || get_int(c, "rows", true, 0, &sc->rows) ||
        get_int(c, "cols", true, 0, &sc->cols) || check_dims(sc->rows, sc->cols))
        return -1;
    sc->kind = -1;
    for (int i = 0; i < count; i++)
        if (strcmp(names[i], kind_s) == 0)
            sc->kind = i;
    if (sc->kind < 0)
        return fail("unknown kind \"%s\"", kind_s);
    bool sparse = false;
    for (int i = 0; sparse_kinds[i] >= 0; i++)
        sparse |= sc->kind == sparse_kinds[i];
    sc->n = (size_t)(sc->rows * sc->cols);
    sc->tn = sparse ? (size_t)sc->rows : sc->n;
    if (get_floats(c, pred_key, (long long)sc->n, &sc->pred) ||
        get_floats(c, "target", (long long)sc->tn, &sc->target))
        return -1;
    if (sparse && check_labels(sc->target, sc->rows, sc->cols))
        return -1;
    sc->tp = tensor_new(&sc->ts, sc->n, sc->pred);
    sc->tt = tensor_new(&sc->ts, sc->tn, sc->target);
    if (!sc->tp || !sc->tt)
        return fail("tensor allocation failed");
    return 0;
}

static int op_loss(nn_engine *e, json_t *c, json_t *res)
{
    static const int sparse_kinds[] = {NN_LOSS_SPARSE_CE, NN_LOSS_SPARSE_SOFTMAX_CE, -1};
    double scale = 1.0, param = 1.0;
    scored_case sc;
    int rc = -1;
    if (read_scored(e, c, "input", loss_names, NN_LOSS_COUNT, sparse_kinds, &sc) ||
        get_num(c, "grad_scale", false, 1.0, &scale) || get_num(c, "param", false, 1.0, &param))
        goto out;
    nn_tensor *tgr = tensor_new(&sc.ts, sc.n, NULL);
    if (!tgr) {
        fail("tensor allocation failed");
        goto out;
    }
    /* poison the gradient so an element the loss forgets to write shows */
    e->ops->fill(e, tgr, NAN, sc.n);
    nn_loss_kind kind = (nn_loss_kind)sc.kind;
    int rows = (int)sc.rows, cols = (int)sc.cols;
    double sum = e->ops->loss(e, kind, (float)param, sc.tp, sc.tt, rows, cols, tgr, (float)scale);
    /* the value must not depend on whether a gradient is asked for */
    double sum_nograd =
        e->ops->loss(e, kind, (float)param, sc.tp, sc.tt, rows, cols, NULL, (float)scale);
    json_object_set_new(res, "sum", json_real(sum));
    json_object_set_new(res, "sum_nograd", json_real(sum_nograd));
    set_floats(res, "grad", e, tgr, sc.n);
    rc = 0;
out:
    scored_free(&sc);
    return rc;
}

/* ---- op: metric ---- */
static const char *const metric_names[NN_METRIC_COUNT] = {
    [NN_METRIC_BINARY_ACCURACY] = "binary_accuracy",
    [NN_METRIC_CATEGORICAL_ACCURACY] = "categorical_accuracy",
    [NN_METRIC_SPARSE_CATEGORICAL_ACCURACY] = "sparse_categorical_accuracy",
    [NN_METRIC_TOP_K] = "top_k",
    [NN_METRIC_SPARSE_TOP_K] = "sparse_top_k",
    [NN_METRIC_MSE] = "mse",
    [NN_METRIC_MAE] = "mae",
    [NN_METRIC_MAPE] = "mape",
    [NN_METRIC_MSLE] = "msle",
};

static int op_metric(nn_engine *e, json_t *c, json_t *res)
{
    static const int sparse_kinds[] = {NN_METRIC_SPARSE_CATEGORICAL_ACCURACY,
                                       NN_METRIC_SPARSE_TOP_K, -1};
    long long k = 5;
    scored_case sc;
    int rc = -1;
    if (read_scored(e, c, "pred", metric_names, NN_METRIC_COUNT, sparse_kinds, &sc) ||
        get_int(c, "k", false, 5, &k))
        goto out;
    double sum = e->ops->metric(e, (nn_metric_kind)sc.kind, (int)k, sc.tp, sc.tt, (int)sc.rows,
                                (int)sc.cols);
    json_object_set_new(res, "sum", json_real(sum));
    rc = 0;
out:
    scored_free(&sc);
    return rc;
}

/* ---- sessions from spec text ---- */
static int build_session(const char *text, nn_session *s)
{
    nn_error err;
    nn_spec *spec = NULL;
    memset(s, 0, sizeof *s);
    if (nn_spec_load_string(&spec, text, "nnref-case", &err) != NN_OK)
        return fail("spec: %s", err.msg);
    if (nn_session_build(s, spec, &err) != NN_OK) {
        nn_session_free(s);
        return fail("session: %s", err.msg);
    }
    return 0;
}

static nn_param *find_param(nn_model *m, const char *key)
{
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            char name[NN_NAME_MAX + 40];
            snprintf(name, sizeof name, "%s/%s", m->nodes[i]->name, m->nodes[i]->params[k].name);
            if (strcmp(name, key) == 0)
                return &m->nodes[i]->params[k];
        }
    return NULL;
}

/* A JSON object as a libconfig group body: key = value; ... */
static int group_text(json_t *obj, const char *what, sbuf *b)
{
    if (!json_is_object(obj))
        return fail("\"%s\": expected an object", what);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        for (const char *p = key; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_'))
                return fail("\"%s\": bad key \"%s\"", what, key);
        if (json_is_integer(v))
            sb_add(b, "%s = %lld; ", key, (long long)json_integer_value(v));
        else if (json_is_real(v))
            sb_add(b, "%s = %.17e; ", key, json_real_value(v));
        else if (json_is_boolean(v))
            sb_add(b, "%s = %s; ", key, json_is_true(v) ? "true" : "false");
        else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            if (strpbrk(s, "\"\\\n"))
                return fail("\"%s.%s\": unsupported characters", what, key);
            sb_add(b, "%s = \"%s\"; ", key, s);
        } else
            return fail("\"%s.%s\": expected a number, boolean or string", what, key);
    }
    return 0;
}

/* ---- op: optimizer ---- */
static int op_optimizer(json_t *c, json_t *res)
{
    json_t *grads = json_object_get(c, "grads"), *grads_b = json_object_get(c, "grads_b");
    json_t *warr = json_object_get(c, "w"), *barr = json_object_get(c, "b");
    if (!json_is_array(warr) || json_array_size(warr) == 0)
        return fail("\"w\": expected a non-empty array");
    if (!json_is_array(grads) || json_array_size(grads) == 0)
        return fail("\"grads\": expected a non-empty list of gradients");
    size_t n = json_array_size(warr), steps = json_array_size(grads);
    bool bias = barr != NULL;
    if (bias && (!json_is_array(grads_b) || json_array_size(grads_b) != steps))
        return fail("\"grads_b\": expected one bias gradient per step");
    sbuf sb = {0};
    sb_add(&sb,
           "model = { input = { shape = [%zu]; }; layers = ( { type = \"dense\"; name = \"d\"; "
           "units = 1; use_bias = %s; } ); };\n"
           "train = { loss = \"mse\"; threads = 1; optimizer = { ",
           n, bias ? "true" : "false");
    if (group_text(json_object_get(c, "optimizer"), "optimizer", &sb)) {
        free(sb.s);
        return -1;
    }
    sb_add(&sb, "}; };\n");
    nn_session s;
    int rc = build_session(sb.s, &s);
    free(sb.s);
    if (rc)
        return -1;
    rc = -1;
    float *w = NULL, *b = NULL, *g = NULL;
    nn_model *m = s.model;
    nn_engine *e = s.engine;
    nn_param *pw = find_param(m, "d/kernel"), *pb = bias ? find_param(m, "d/bias") : NULL;
    json_t *wout = json_array(), *bout = json_array(), *lrs = json_array();
    json_object_set_new(res, "w", wout);
    json_object_set_new(res, "b", bout);
    json_object_set_new(res, "lr", lrs);
    if (!pw || (bias && !pb)) {
        fail("internal: parameters not found");
        goto out;
    }
    if (read_floats(warr, "w", (long long)n, &w, NULL))
        goto out;
    e->ops->upload(e, &pw->w, w, n);
    if (bias) {
        if (read_floats(barr, "b", 1, &b, NULL))
            goto out;
        e->ops->upload(e, &pb->w, b, 1);
    }
    for (size_t t = 0; t < steps; t++) {
        if (read_floats(json_array_get(grads, t), "grads[]", (long long)n, &g, NULL))
            goto out;
        e->ops->upload(e, &pw->g, g, n);
        free(g);
        g = NULL;
        if (bias) {
            if (read_floats(json_array_get(grads_b, t), "grads_b[]", 1, &g, NULL))
                goto out;
            e->ops->upload(e, &pb->g, g, 1);
            free(g);
            g = NULL;
        }
        json_array_append_new(lrs, json_real(nn_optimizer_current_lr(&s.train.optimizer)));
        nn_optimizer_step(&s.train.optimizer, m);
        float *h = download(e, &pw->w, n);
        json_array_append_new(wout, float_array(h, n));
        free(h);
        if (bias) {
            h = download(e, &pb->w, 1);
            json_array_append_new(bout, float_array(h, 1));
            free(h);
        }
    }
    rc = 0;
out:
    free(w);
    free(b);
    free(g);
    nn_session_free(&s);
    return rc;
}

/* ---- op: dense ---- */
static int op_dense(nn_engine *e, json_t *c, json_t *res)
{
    long long rows = 0, in = 0, units = 0;
    const char *act = "linear";
    bool use_bias = true;
    if (get_int(c, "rows", true, 0, &rows) || get_int(c, "in", true, 0, &in) ||
        get_int(c, "units", true, 0, &units) || check_dims(rows, in) || check_dims(rows, units) ||
        get_str(c, "activation", false, "linear", &act) || get_bool(c, "use_bias", true, &use_bias))
        return -1;
    nn_act act_id;
    if (act_by_name(act, &act_id))
        return -1;
    char text[512];
    snprintf(text, sizeof text,
             "model = { input = { shape = [%lld]; }; layers = ( { type = \"dense\"; units = %lld; "
             "activation = \"%s\"; use_bias = %s; } ); };\n",
             in, units, act, use_bias ? "true" : "false");
    float *x = NULL, *W = NULL, *b = NULL, *dy = NULL;
    nn_spec *spec = NULL;
    nn_model *m = NULL;
    nn_error err;
    int rc = -1;
    if (get_floats(c, "x", rows * in, &x) || get_floats(c, "W", in * units, &W) ||
        (use_bias && get_floats(c, "b", units, &b)) || get_floats(c, "dy", rows * units, &dy))
        goto out;
    nn_spec_node *ms;
    if (nn_spec_load_string(&spec, text, "nnref-dense", &err) ||
        nn_spec_group(nn_spec_root(spec), "model", true, &ms, &err) ||
        nn_model_from_spec(ms, &m, &err) || nn_model_alloc(m, e, 0, &err)) {
        fail("dense model: %s", err.msg);
        goto out;
    }
    m->input->needs_grad = true; /* so the dense layer writes dx */
    if (nn_model_plan(m, (int)rows, &err)) {
        fail("dense plan: %s", err.msg);
        goto out;
    }
    nn_node *d = m->output;
    if (d->n_params != (use_bias ? 2 : 1)) {
        fail("internal: dense has %d parameters", d->n_params);
        goto out;
    }
    e->ops->upload(e, &d->params[0].w, W, (size_t)(in * units));
    if (use_bias)
        e->ops->upload(e, &d->params[1].w, b, (size_t)units);
    e->ops->upload(e, nn_model_input_tensor(m), x, (size_t)(rows * in));
    nn_pass p = {.e = e, .rows = (int)rows, .training = true, .rng = NULL};
    nn_model_forward(m, &p);
    set_floats(res, "y", e, &d->out, (size_t)(rows * units));
    e->ops->upload(e, &d->dout, dy, (size_t)(rows * units));
    d->loss_wrote_preact = false;
    nn_model_backward(m, &p);
    set_floats(res, "dW", e, &d->params[0].g, (size_t)(in * units));
    if (use_bias)
        set_floats(res, "db", e, &d->params[1].g, (size_t)units);
    set_floats(res, "dx", e, &m->input->dout, (size_t)(rows * in));
    rc = 0;
out:
    nn_model_free(m);
    nn_spec_free(spec);
    free(x);
    free(W);
    free(b);
    free(dy);
    return rc;
}

/* ---- op: layer ---- */
static int op_layer(nn_engine *e, json_t *c, json_t *res)
{
    const char *layer = NULL;
    long long rows = 0, plan_batch = 0;
    bool training = true;
    if (get_str(c, "layer", true, NULL, &layer) || get_int(c, "rows", true, 0, &rows) ||
        get_int(c, "plan_batch", false, rows, &plan_batch) ||
        get_bool(c, "training", true, &training))
        return -1;
    if (rows < 1 || rows > 100000 || plan_batch < rows || plan_batch > 100000)
        return fail("need 1 <= rows <= plan_batch <= 100000 (got %lld, %lld)", rows, plan_batch);
    json_t *ishape = json_object_get(c, "input_shape");
    if (!json_is_array(ishape) || json_array_size(ishape) < 1 ||
        json_array_size(ishape) > NN_MAX_DIMS - 1)
        return fail("\"input_shape\": expected a list of 1..%d integers", NN_MAX_DIMS - 1);
    sbuf sb = {0};
    sb_add(&sb, "model = { input = { shape = [");
    for (size_t i = 0; i < json_array_size(ishape); i++) {
        json_t *v = json_array_get(ishape, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 100000) {
            free(sb.s);
            return fail("\"input_shape\"[%zu]: expected an integer in 1..100000", i);
        }
        sb_add(&sb, "%s%lld", i ? ", " : "", (long long)json_integer_value(v));
    }
    sb_add(&sb, "]; }; layers = ( { %s } ); };\n", layer);

    float *x = NULL, *dy = NULL, *h = NULL;
    nn_spec *spec = NULL;
    nn_model *m = NULL;
    nn_error err;
    int rc = -1;
    nn_spec_node *ms;
    if (nn_spec_load_string(&spec, sb.s, "nnref-layer", &err) ||
        nn_spec_group(nn_spec_root(spec), "model", true, &ms, &err) ||
        nn_model_from_spec(ms, &m, &err) || nn_model_alloc(m, e, 0, &err)) {
        fail("layer model: %s", err.msg);
        goto out;
    }
    /* the input needs a gradient, and so does everything downstream of it
     * (from_spec only marks nodes with trainable parameters upstream) */
    m->input->needs_grad = true;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_in; k++)
            m->nodes[i]->needs_grad |= m->nodes[i]->in[k]->needs_grad;
    if (nn_model_plan(m, (int)plan_batch, &err)) {
        fail("layer plan: %s", err.msg);
        goto out;
    }
    nn_node *L = m->output;
    const char *prec_name = NULL;
    nn_precision prec = NN_PREC_FLOAT32;
    if (get_str(c, "precision", false, "float32", &prec_name))
        goto out;
    if (!nn_precision_parse(prec_name, &prec)) {
        fail("\"precision\": expected float32, mixed_bfloat16 or mixed_float16, got \"%s\"",
             prec_name);
        goto out;
    }
    /* what the layer really ran in (float32 where the CPU has no bf16) */
    char why[256] = "";
    if (!e->ops->precision_supported(e, prec, why, sizeof why))
        json_object_set_new(res, "why", json_string(why));
    nn_precision_apply(m, e, prec, true, NULL);
    json_object_set_new(res, "precision", json_string(nn_precision_policy(L->precision)));
    long ran0, declined0;
    nn_cpu_dnnl_counts(nn_cpu_dnnl_of(e), &ran0, &declined0);
    size_t in_n = (size_t)rows * m->input->size, out_n = (size_t)rows * L->size;
    if (get_floats(c, "x", (long long)in_n, &x) || get_floats(c, "dy", (long long)out_n, &dy))
        goto out;
    json_t *weights = json_object_get(c, "weights");
    if (weights && !json_is_object(weights)) {
        fail("\"weights\": expected an object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(weights, key, v)
    {
        int k = 0;
        while (k < L->n_params && strcmp(L->params[k].name, key) != 0)
            k++;
        if (k == L->n_params) {
            fail("weights: the layer has no parameter \"%s\"", key);
            goto out;
        }
    }
    json_t *pshapes = json_object();
    json_object_set_new(res, "param_shapes", pshapes);
    for (int k = 0; k < L->n_params; k++) {
        nn_param *q = &L->params[k];
        json_t *arr = json_object_get(weights, q->name);
        if (!arr) {
            fail("weights: parameter \"%s\" not given", q->name);
            goto out;
        }
        if (read_floats(arr, q->name, (long long)q->size, &h, NULL))
            goto out;
        e->ops->upload(e, &q->w, h, q->size);
        free(h);
        h = NULL;
        if (q->trainable)
            e->ops->fill(e, &q->g, NAN, q->size);
        json_t *sh = json_array();
        for (int d = 0; d < q->ndim; d++)
            json_array_append_new(sh, json_integer(q->shape[d]));
        json_object_set_new(pshapes, q->name, sh);
    }
    json_t *ysh = json_array();
    for (int d = 0; d < L->ndim; d++)
        json_array_append_new(ysh, json_integer(L->shape[d]));
    json_object_set_new(res, "y_shape", ysh);

    /* poison what the layer must write */
    if (!L->type->aliases_input)
        e->ops->fill(e, &L->out, NAN, (size_t)plan_batch * L->size);
    e->ops->fill(e, &m->input->dout, NAN, (size_t)plan_batch * m->input->size);
    e->ops->upload(e, nn_model_input_tensor(m), x, in_n);
    nn_pass p = {.e = e, .rows = (int)rows, .training = training, .rng = NULL};
    nn_model_forward(m, &p);
    set_floats(res, "y", e, &L->out, out_n);
    e->ops->upload(e, &L->dout, dy, out_n);
    L->loss_wrote_preact = false;
    nn_model_backward(m, &p);
    set_floats(res, "dx", e, &m->input->dout, in_n);
    long ran1, declined1;
    nn_cpu_dnnl_counts(nn_cpu_dnnl_of(e), &ran1, &declined1);
    json_object_set_new(res, "onednn_ran", json_integer(ran1 - ran0));
    json_object_set_new(res, "onednn_declined", json_integer(declined1 - declined0));
    json_t *gj = json_object(), *wj = json_object();
    json_object_set_new(res, "grads", gj);
    json_object_set_new(res, "weights_after", wj);
    for (int k = 0; k < L->n_params; k++) {
        if (L->params[k].trainable)
            set_floats(gj, L->params[k].name, e, &L->params[k].g, L->params[k].size);
        /* every parameter after the pass (BatchNormalization's moving
         * statistics are updated by a training forward) */
        set_floats(wj, L->params[k].name, e, &L->params[k].w, L->params[k].size);
    }
    rc = 0;
out:
    nn_model_free(m);
    nn_spec_free(spec);
    free(sb.s);
    free(x);
    free(dy);
    free(h);
    return rc;
}

/* ---- op: merge ----
 * The model has one input node, so a merge layer's several inputs are made
 * honestly inside the model: the input is the concatenation (flat) of every
 * distinct merge input, and branch i is
 *     dense(units = size_i, use_bias = false, trainable = false) with a 0/1
 *     selection kernel (kernel[off_i + j][j] = 1, else 0)
 *     -> reshape(target_shape = shape_i)
 * so branch i's output is exactly x_i (each output sums one x * 1 and exact
 * zeros) and its backward routes exactly dx_i back into the input's slice.
 * The input has several consumers, so the model's gradient accumulation
 * (grad_scratch + axpy) runs too; the slices do not overlap, so it adds
 * exact zeros. An entry {"same_as": k} feeds branch k to the merge again
 * (the same node twice: add(a, a), maximum(a, a) ties). */
static int op_merge(nn_engine *e, json_t *c, json_t *res)
{
    const char *layer = NULL;
    long long rows = 0;
    bool training = true;
    if (get_str(c, "layer", true, NULL, &layer) || get_int(c, "rows", true, 0, &rows) ||
        get_bool(c, "training", true, &training))
        return -1;
    if (rows < 1 || rows > 100000)
        return fail("rows must be in 1..100000");
    json_t *inputs = json_object_get(c, "inputs");
    size_t n_in = json_is_array(inputs) ? json_array_size(inputs) : 0;
    if (n_in < 1 || n_in > NN_MAX_INPUTS)
        return fail("\"inputs\": expected a list of 1..%d inputs", NN_MAX_INPUTS);
    int branch[NN_MAX_INPUTS];  /* merge input -> branch (distinct input) */
    size_t bsize[NN_MAX_INPUTS], boff[NN_MAX_INPUTS], total = 0;
    int nb = 0;
    sbuf sb = {0}, tail = {0};
    float *xin = NULL, *dy = NULL, *K = NULL, *h = NULL;
    nn_spec *spec = NULL;
    nn_model *m = NULL;
    nn_error err;
    int rc = -1;
    for (size_t i = 0; i < n_in; i++) {
        json_t *it = json_array_get(inputs, i);
        json_t *same = json_object_get(it, "same_as");
        if (same) {
            if (!json_is_integer(same) || json_integer_value(same) < 0 ||
                (size_t)json_integer_value(same) >= i ||
                json_object_get(json_array_get(inputs, (size_t)json_integer_value(same)),
                                "same_as")) {
                fail("inputs[%zu].same_as: expected the index of an earlier input with a shape",
                     i);
                goto out;
            }
            branch[i] = branch[json_integer_value(same)];
            continue;
        }
        json_t *sh = json_object_get(it, "shape");
        if (!json_is_array(sh) || json_array_size(sh) < 1 ||
            json_array_size(sh) > NN_MAX_DIMS - 1) {
            fail("inputs[%zu].shape: expected a list of 1..%d integers", i, NN_MAX_DIMS - 1);
            goto out;
        }
        size_t size = 1;
        sb_add(&tail, "{ name = \"b%d\"; type = \"dense\"; units = @; use_bias = false; "
                      "trainable = false; inputs = [\"input_1\"]; }, "
                      "{ name = \"r%d\"; type = \"reshape\"; target_shape = [",
               nb, nb);
        for (size_t d = 0; d < json_array_size(sh); d++) {
            json_t *v = json_array_get(sh, d);
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > 100000) {
                fail("inputs[%zu].shape[%zu]: expected an integer in 1..100000", i, d);
                goto out;
            }
            size *= (size_t)json_integer_value(v);
            sb_add(&tail, "%s%lld", d ? ", " : "", (long long)json_integer_value(v));
        }
        sb_add(&tail, "]; inputs = [\"b%d\"]; }, ", nb);
        if (size > 100000) {
            fail("inputs[%zu]: too large", i);
            goto out;
        }
        bsize[nb] = size;
        boff[nb] = total;
        total += size;
        branch[i] = nb++;
    }
    /* the units of each dense branch ('@' placeholders, in order) */
    sb_add(&sb, "model = { input = { shape = [%zu]; }; layers = ( ", total);
    {
        int k = 0;
        for (const char *q = tail.s; *q; q++) {
            if (*q == '@')
                sb_add(&sb, "%zu", bsize[k++]);
            else
                sb_add(&sb, "%c", *q);
        }
    }
    sb_add(&sb, "{ name = \"merged\"; %s inputs = [", layer);
    for (size_t i = 0; i < n_in; i++)
        sb_add(&sb, "%s\"r%d\"", i ? ", " : "", branch[i]);
    sb_add(&sb, "]; } ); };\n");
    nn_spec_node *ms;
    if (nn_spec_load_string(&spec, sb.s, "nnref-merge", &err) ||
        nn_spec_group(nn_spec_root(spec), "model", true, &ms, &err) ||
        nn_model_from_spec(ms, &m, &err) || nn_model_alloc(m, e, 0, &err)) {
        fail("merge model: %s", err.msg);
        goto out;
    }
    m->input->needs_grad = true;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_in; k++)
            m->nodes[i]->needs_grad |= m->nodes[i]->in[k]->needs_grad;
    if (nn_model_plan(m, (int)rows, &err)) {
        fail("merge plan: %s", err.msg);
        goto out;
    }
    nn_node *L = m->output;
    if (strcmp(L->name, "merged") != 0) {
        fail("internal: the output is '%s'", L->name);
        goto out;
    }
    /* x: each branch's rows x size_i values, into the input's column block */
    xin = malloc(total * (size_t)rows * sizeof(float));
    if (!xin) {
        fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_in; i++) {
        json_t *it = json_array_get(inputs, i);
        if (json_object_get(it, "same_as"))
            continue;
        int b = branch[i];
        if (read_floats(json_object_get(it, "x"), "inputs[].x", (long long)(rows * bsize[b]), &h,
                        NULL))
            goto out;
        for (long long r = 0; r < rows; r++)
            memcpy(xin + (size_t)r * total + boff[b], h + (size_t)r * bsize[b],
                   bsize[b] * sizeof(float));
        free(h);
        h = NULL;
        char name[16];
        snprintf(name, sizeof name, "b%d", b);
        nn_node *dn = nn_model_find(m, name);
        K = calloc(total * bsize[b], sizeof(float));
        if (!dn || !K) {
            fail("internal: branch %s", name);
            goto out;
        }
        for (size_t j = 0; j < bsize[b]; j++)
            K[(boff[b] + j) * bsize[b] + j] = 1.0f;
        e->ops->upload(e, &dn->params[0].w, K, total * bsize[b]);
        free(K);
        K = NULL;
    }
    size_t out_n = (size_t)rows * L->size;
    if (get_floats(c, "dy", (long long)out_n, &dy))
        goto out;
    json_t *ysh = json_array();
    for (int d = 0; d < L->ndim; d++)
        json_array_append_new(ysh, json_integer(L->shape[d]));
    json_object_set_new(res, "y_shape", ysh);
    e->ops->fill(e, &L->out, NAN, out_n);
    e->ops->fill(e, &m->input->dout, NAN, (size_t)rows * total);
    e->ops->upload(e, nn_model_input_tensor(m), xin, (size_t)rows * total);
    nn_pass p = {.e = e, .rows = (int)rows, .training = training, .rng = NULL};
    nn_model_forward(m, &p);
    set_floats(res, "y", e, &L->out, out_n);
    e->ops->upload(e, &L->dout, dy, out_n);
    L->loss_wrote_preact = false;
    nn_model_backward(m, &p);
    float *g = download(e, &m->input->dout, (size_t)rows * total);
    json_t *dxs = json_array();
    json_object_set_new(res, "dx", dxs);
    for (size_t i = 0; i < n_in; i++) {
        int b = branch[i];
        json_t *a = json_array();
        for (long long r = 0; r < rows; r++)
            for (size_t j = 0; j < bsize[b]; j++)
                json_array_append_new(a, json_real((double)g[(size_t)r * total + boff[b] + j]));
        json_array_append_new(dxs, a);
    }
    free(g);
    rc = 0;
out:
    nn_model_free(m);
    nn_spec_free(spec);
    free(sb.s);
    free(tail.s);
    free(xin);
    free(dy);
    free(K);
    free(h);
    return rc;
}

/* ---- op: train_step ---- */
static int op_train_step(json_t *c, json_t *res)
{
    const char *text = NULL;
    long long rows = 0, n_classes = 0, one_hot = -1;
    bool training = true;
    if (get_str(c, "spec", true, NULL, &text) || get_int(c, "rows", true, 0, &rows) ||
        get_int(c, "one_hot", false, -1, &one_hot) || get_bool(c, "training", true, &training))
        return -1;
    if (rows < 1 || rows > 100000)
        return fail("rows must be in 1..100000");
    nn_session s;
    if (build_session(text, &s))
        return -1;
    nn_model *m = s.model;
    nn_engine *e = s.engine;
    nn_error err;
    int rc = -1;
    float *x = NULL, *y = NULL, *h = NULL;
    nn_tensor yt = {0};
    nn_objective o;
    int out_cols = m->output->ndim ? m->output->shape[m->output->ndim - 1] : 1;
    if (get_int(c, "n_classes", false, out_cols, &n_classes))
        goto out;
    if (m->n_inputs != 1 || m->n_outputs != 1) {
        fail("nnref runs one-input, one-output models");
        goto out;
    }
    int classes[NN_MAX_IO] = {(int)n_classes};
    if (nn_objective_resolve(&s.train, m, (int)one_hot, classes, &o, &err)) {
        fail("objective: %s", err.msg);
        goto out;
    }
    /* weights */
    json_t *weights = json_object_get(c, "weights");
    if (weights && !json_is_object(weights)) {
        fail("\"weights\": expected an object");
        goto out;
    }
    const char *key;
    json_t *v;
    json_object_foreach(weights, key, v)
    {
        nn_param *p = find_param(m, key);
        if (!p) {
            fail("weights: no parameter \"%s\"", key);
            goto out;
        }
        if (read_floats(v, key, (long long)p->size, &h, NULL))
            goto out;
        e->ops->upload(e, &p->w, h, p->size);
        free(h);
        h = NULL;
    }
    if (nn_model_plan(m, (int)rows, &err)) {
        fail("plan: %s", err.msg);
        goto out;
    }
    size_t in_n = (size_t)rows * m->input->size, y_n = (size_t)rows * (size_t)o.h[0].target_cols;
    if (get_floats(c, "x", (long long)in_n, &x) || get_floats(c, "y", (long long)y_n, &y))
        goto out;
    int yshape[2] = {(int)rows, o.h[0].target_cols};
    if (e->ops->alloc(e, &yt, 2, yshape, &err)) {
        fail("alloc: %s", err.msg);
        goto out;
    }
    e->ops->upload(e, nn_model_input_tensor(m), x, in_n);
    e->ops->upload(e, &yt, y, y_n);

    /* the per-batch sequence training runs (train/batch.h) */
    nn_rng drop;
    nn_rng_seed(&drop, (uint64_t)s.train.seed, NN_STREAM_DROPOUT);
    nn_node *out = m->output;
    nn_batch_loss parts;
    nn_tensor *ytp[1] = {&yt};
    nn_batch_gradients(m, &o, ytp,
                       &(nn_pass){.e = e, .rows = (int)rows, .training = training, .rng = &drop},
                       &parts);
    double data_loss = parts.data, activity = parts.activity, penalty = parts.weights;
    json_object_set_new(res, "data_loss", json_real(data_loss));
    json_object_set_new(res, "activity_penalty", json_real(activity));
    json_object_set_new(res, "weight_penalty", json_real(penalty));
    json_object_set_new(res, "loss", json_real(data_loss + activity + penalty));
    json_object_set_new(res, "fused", json_boolean(o.h[0].fused));
    set_floats(res, "output", e, &out->out, (size_t)rows * out->size);
    json_t *gj = json_object(), *wj = json_object();
    json_object_set_new(res, "grads", gj);
    json_object_set_new(res, "weights", wj);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *q = &m->nodes[i]->params[k];
            if (!q->trainable)
                continue;
            char name[NN_NAME_MAX + 40];
            snprintf(name, sizeof name, "%s/%s", m->nodes[i]->name, q->name);
            set_floats(gj, name, e, &q->g, q->size);
        }
    nn_optimizer_step(&s.train.optimizer, m);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *q = &m->nodes[i]->params[k];
            char name[NN_NAME_MAX + 40];
            snprintf(name, sizeof name, "%s/%s", m->nodes[i]->name, q->name);
            set_floats(wj, name, e, &q->w, q->size);
        }
    rc = 0;
out:
    if (yt.data)
        e->ops->free(e, &yt);
    free(x);
    free(y);
    free(h);
    nn_session_free(&s);
    return rc;
}

/* ---- op: augment ---- */
/* One image through nn_augment_apply with given parameters (not drawn):
 * the settings from the spec text of a data group (its augment group read
 * by nn_augment_from_spec), x in stored units, divided by scale first as
 * the batch gather does; y back in stored units. */
static int op_augment(json_t *c, json_t *res)
{
    const char *text = NULL;
    long long h = 0, w = 0, ch = 0;
    double scale = 1.0;
    if (get_str(c, "data", true, NULL, &text) || get_int(c, "h", true, 0, &h) ||
        get_int(c, "w", true, 0, &w) || get_int(c, "c", true, 0, &ch) ||
        get_num(c, "scale", false, 1.0, &scale))
        return -1;
    if (h < 1 || w < 1 || ch < 1 || h * w * ch > 1000000)
        return fail("h, w, c must be >= 1 and h*w*c <= 1e6");
    json_t *pj = json_object_get(c, "params");
    if (!json_is_object(pj))
        return fail("params: expected an object");
    nn_augment_params p = {.zx = 1.0, .zy = 1.0};
    double *nums[] = {&p.theta, &p.tx, &p.ty, &p.shear, &p.zx, &p.zy, &p.channel_shift,
                      &p.brightness};
    const char *keys[] = {"theta", "tx", "ty", "shear", "zx", "zy", "channel_shift",
                          "brightness"};
    for (int i = 0; i < 8; i++)
        if (get_num(pj, keys[i], false, *nums[i], nums[i]))
            return -1;
    if (get_bool(pj, "flip_h", false, &p.flip_h) || get_bool(pj, "flip_v", false, &p.flip_v))
        return -1;
    size_t n = (size_t)(h * w * ch);
    float *x = NULL;
    if (get_floats(c, "x", (long long)n, &x))
        return -1;
    nn_spec *spec = NULL;
    nn_error err;
    nn_augment_cfg cfg;
    int rc = 0;
    if (nn_spec_load_string(&spec, text, "augment.cfg", &err) ||
        nn_augment_from_spec(nn_spec_root(spec), &cfg, &err)) {
        rc = fail("%s", err.msg);
        goto out;
    }
    float *src = malloc(n * sizeof *src), *dst = malloc(n * sizeof *dst);
    if (!src || !dst) {
        free(src);
        free(dst);
        rc = fail("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        src[i] = x[i] / (float)scale;
    nn_augment_apply(&cfg, &p, (int)h, (int)w, (int)ch, (float)scale, src, dst);
    for (size_t i = 0; i < n; i++)
        dst[i] *= (float)scale;
    json_object_set_new(res, "y", float_array(dst, n));
    free(src);
    free(dst);
out:
    nn_spec_free(spec);
    free(x);
    return rc;
}

static int run_case(nn_engine *e, json_t *c, json_t **out)
{
    *out = NULL;
    if (!json_is_object(c))
        return fail("a case must be a JSON object");
    const char *op = NULL;
    if (get_str(c, "op", true, NULL, &op))
        return -1;
    json_t *res = json_object();
    int rc;
    if (strcmp(op, "activation") == 0)
        rc = op_activation(e, c, res);
    else if (strcmp(op, "loss") == 0)
        rc = op_loss(e, c, res);
    else if (strcmp(op, "metric") == 0)
        rc = op_metric(e, c, res);
    else if (strcmp(op, "optimizer") == 0)
        rc = op_optimizer(c, res);
    else if (strcmp(op, "dense") == 0)
        rc = op_dense(e, c, res);
    else if (strcmp(op, "layer") == 0)
        rc = op_layer(e, c, res);
    else if (strcmp(op, "merge") == 0)
        rc = op_merge(e, c, res);
    else if (strcmp(op, "train_step") == 0)
        rc = op_train_step(c, res);
    else if (strcmp(op, "augment") == 0)
        rc = op_augment(c, res);
    else
        rc = fail("unknown op \"%s\" (activation, loss, metric, optimizer, dense, layer, "
                  "merge, train_step, augment)",
                  op);
    if (rc) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: %s < case.json (one case object or an array of them)\n", argv[0]);
        return 2;
    }
    json_error_t jerr;
    json_t *in = json_loadf(stdin, 0, &jerr);
    if (!in) {
        fprintf(stderr, "nnref: bad JSON on stdin: line %d: %s\n", jerr.line, jerr.text);
        return 1;
    }
    nn_engine *e = NULL;
    nn_error err;
    if (nn_engine_create("cpu", 1, &e, &err)) {
        fprintf(stderr, "nnref: %s\n", err.msg);
        json_decref(in);
        return 1;
    }
    json_t *result = NULL;
    int rc = 0;
    if (json_is_array(in)) {
        result = json_array();
        for (size_t i = 0; i < json_array_size(in); i++) {
            json_t *r;
            if (run_case(e, json_array_get(in, i), &r)) {
                fprintf(stderr, "nnref: case %zu: %s\n", i, g_msg);
                rc = 1;
                break;
            }
            json_array_append_new(result, r);
        }
    } else if (run_case(e, in, &result)) {
        fprintf(stderr, "nnref: %s\n", g_msg);
        rc = 1;
    }
    if (rc == 0) {
        if (json_dumpf(result, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17)) != 0) {
            fprintf(stderr, "nnref: could not write the result\n");
            rc = 1;
        }
        fputc('\n', stdout);
    }
    json_decref(result);
    json_decref(in);
    nn_engine_destroy(e);
    return rc;
}

/* Finite-difference gradient checks of batch_normalization,
 * depthwise_conv2d / separable_conv2d and the merge layers (add, subtract,
 * multiply, average, maximum, minimum, concatenate), through models built
 * from spec strings (spec parser, shape inference, plan, forward, backward
 * of src/layers/batchnorm.c, depthwise.c, merge.c with the engine's
 * cpu_batchnorm.c / cpu_depthwise.c kernels).
 *
 * The objective is sum(r * y) for fixed random r; every trainable parameter
 * of every node and the model input are perturbed (central differences in
 * float32, h = 1e-2 * max(|v|, 0.5), objective in double; tolerance
 * 2e-3 + 1e-2 |numeric|, as test_conv_gradcheck.c).
 *
 *   batch_normalization in training mode: the objective is recomputed with
 *   the batch statistics of the perturbed batch, so dx must include the
 *   batch-statistics path (d mean / dx and d var / dx), not only
 *   gamma / sqrt(var + eps) * dy. Also scale / center off, a partial batch,
 *   a frozen layer (trainable = false: the inference-mode affine map with
 *   the moving statistics) and 4-D (image) inputs.
 *
 *   depthwise / separable: 5x7x3 images, batch 3, depth_multiplier 1 and 2,
 *   strides 1 and 2, 'valid' and 'same', dilation 2, tanh.
 *
 *   merges: each input is a dense branch (random kernel) of the one model
 *   input, so the differences over the branch kernels check the gradient
 *   each merge input receives and the difference over the input checks
 *   their sum. Maximum / minimum on inputs that differ generically, and
 *   deliberately tied: maximum(a, a) / minimum(a, b, a) feed one node twice,
 *   where the output is a (resp. min(a, b)) and the finite difference sees
 *   a gradient of exactly dy through a; routing dy to every tied input (a
 *   gets 2 dy) fails. Concatenate along axes 1, 2, -1 of 3-D inputs (via
 *   reshape).
 *
 *   recurrent: simple_rnn, lstm, gru (reset_after true and false),
 *   bidirectional (every merge mode) and time_distributed(dense) on
 *   (timesteps, features) inputs: the differences run the whole sequence
 *   again, so they check backpropagation through time, with
 *   return_sequences on and off, go_backwards, non-default activations, a
 *   partial batch, and dropout / recurrent_dropout (the masks come from an
 *   RNG seeded afresh for every pass, so all passes see the same masks).
 *
 *   masked recurrent: an embedding with mask_zero into each recurrent layer.
 *
 * Broken by hand in a private copy to see these fail (see the report of the
 * change that added this file). */
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
#include "spec/spec.h"
#include "util/rng.h"

#include "unit/gradcheck.h"

static int g_failures;
/* > 0: a fixed finite-difference step (the merges: piecewise linear or
 * bilinear in each value, so a small step is exact up to rounding and
 * rarely crosses a maximum / minimum switch) */
static double g_fixed_h;
/* != 0: training passes draw dropout masks from an RNG seeded with this
 * afresh for every pass (the same masks in every pass) */
static uint64_t g_rng_seed;
/* a parameter ("node/param") whose gradient is 0 by construction */
static const char *g_zero_ok;
/* > 0: the input holds integer ids in [0, g_int_ids) (an embedding), which
 * have no gradient: only the parameters are differenced */
static int g_int_ids;
/* with g_int_ids: every row's first g_pad_lead and last g_pad_trail ids
 * are 0 (padding the whole batch shares, which recurrent layers skip) */
static int g_pad_lead, g_pad_trail;

/* A test that fails (fail() does not return) leaves its knobs set: every
 * test starts from none, and from the same random draws whatever ran
 * before it. */
static void reset_knobs(void)
{
    g_seed = GC_SEED;
    g_fixed_h = 0.0;
    g_rng_seed = 0;
    g_zero_ok = NULL;
    g_int_ids = 0;
    g_pad_lead = g_pad_trail = 0;
    gc_tensor_reset();
}

static void check_close(double analytic, double numeric, const char *what, size_t i)
{
    double tol = TOL_ABS + TOL_REL * fabs(numeric);
    g_failures += gc_tensor_add(what, analytic, numeric);
    if (!(fabs(analytic - numeric) <= tol)) {
        if (g_failures++ < 10)
            print_error("%s [%zu]: analytic %.7g, finite difference %.7g (tolerance %.3g)\n",
                        what, i, analytic, numeric, tol);
    }
}

typedef struct {
    nn_spec *spec;
    nn_model *m;
    int rows;
    bool training;
    const float *r;
    float *yh;
} gc_model;

/* model text: "model = { input = { shape = [...]; }; layers = ( ... ); };" */
static void build(gc_model *gm, const char *text, int rows, int plan_batch, bool training)
{
    memset(gm, 0, sizeof *gm);
    gc_model_from_text(text, "layers-gradcheck.cfg", plan_batch, &gm->spec, &gm->m);
    gm->rows = rows;
    gm->training = training;
}

static double objective(gc_model *gm)
{
    nn_rng rng;
    nn_rng_seed(&rng, g_rng_seed, 1);
    nn_pass p = {.e = E, .rows = gm->rows, .training = gm->training,
                 .rng = g_rng_seed ? &rng : NULL};
    nn_model_forward(gm->m, &p);
    size_t n = (size_t)gm->rows * gm->m->output->size;
    E->ops->download(E, gm->yh, &gm->m->output->out, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)gm->r[i] * gm->yh[i];
    return s;
}

static void fd_tensor(gc_model *gm, nn_tensor *t, size_t n, const float *ga, const char *what,
                      bool zero_ok)
{
    float *v = dl(t, n);
    double max_numeric = 0.0;
    for (size_t i = 0; i < n; i++) {
        float x0 = v[i];
        double h = g_fixed_h > 0 ? g_fixed_h : 1e-2 * fmax(fabs((double)x0), 0.5);
        v[i] = (float)(x0 + h);
        double hp = (double)v[i] - x0;
        E->ops->upload(E, t, v, n);
        double fp = objective(gm);
        v[i] = (float)(x0 - h);
        double hm = x0 - (double)v[i];
        E->ops->upload(E, t, v, n);
        double fm = objective(gm);
        v[i] = x0;
        E->ops->upload(E, t, v, n);
        double numeric = (fp - fm) / (hp + hm);
        max_numeric = fmax(max_numeric, fabs(numeric));
        check_close(ga[i], numeric, what, i);
    }
    if (!zero_ok && !(max_numeric > 1e-3)) {
        print_error("%s: every finite difference is 0\n", what);
        g_failures++;
    }
    free(v);
}

/* The merge models: distinct merge inputs (the branches a, b, c) must
 * differ by more than 0.05 everywhere, so no step of the differences
 * (1e-3 times values of a few units) switches a maximum / minimum. */
static bool kinks_clear(const nn_model *m, int rows)
{
    const nn_node *out = m->output;
    bool ok = true;
    for (int i = 0; i < out->n_in && ok; i++)
        for (int j = 0; j < i && ok; j++) {
            const nn_node *a = out->in[i], *b = out->in[j];
            if (a == b || a->size != b->size)
                continue;
            size_t n = (size_t)rows * a->size;
            float *va = dl(&a->out, n), *vb = dl(&b->out, n);
            for (size_t k = 0; k < n; k++)
                ok &= fabsf(va[k] - vb[k]) > 0.05f;
            free(va);
            free(vb);
        }
    return ok;
}

/* Random input, weights (moving_variance positive), r; analytic gradients
 * by one backward; then finite differences of every trainable parameter of
 * every node and of the input. */
static void gradcheck_model(const char *text, int rows, int plan_batch, bool training)
{
    gc_model gm;
    build(&gm, text, rows, plan_batch, training);
    nn_model *m = gm.m;
    nn_node *out = m->output;
    size_t nx = (size_t)rows * m->input->size, ny = (size_t)rows * out->size;
    float *x = falloc(nx), *r = falloc(ny);
    int draws = 0;
    gm.yh = falloc(ny);
    gm.r = r;
    for (size_t i = 0; i < ny; i++)
        r[i] = (float)nrand();
redraw:
    for (size_t i = 0; i < nx; i++)
        x[i] = g_int_ids > 0 ? (float)floor(urand(0.0, g_int_ids)) : (float)(nrand() + 0.5);
    for (size_t i = 0; i < nx && (g_pad_lead || g_pad_trail); i++) {
        size_t t = i % m->input->size;
        if (t < (size_t)g_pad_lead || t >= m->input->size - (size_t)g_pad_trail)
            x[i] = 0.0f;
    }
    for (int j = 0; j < m->n_nodes; j++) {
        nn_node *n = m->nodes[j];
        for (int k = 0; k < n->n_params; k++) {
            nn_param *q = &n->params[k];
            float *w = falloc(q->size);
            bool var = !strcmp(q->name, "moving_variance") || !strcmp(q->name, "variance");
            for (size_t i = 0; i < q->size; i++)
                w[i] = var ? (float)urand(0.5, 2.0) : (float)(0.7 * nrand());
            E->ops->upload(E, &q->w, w, q->size);
            free(w);
        }
    }
    E->ops->upload(E, nn_model_input_tensor(m), x, nx);
    objective(&gm);
    if (g_fixed_h > 0 && !kinks_clear(m, rows)) {
        assert_true(++draws < 100);
        goto redraw;
    }
    E->ops->upload(E, &out->dout, r, ny);
    out->loss_wrote_preact = false;
    nn_pass p = {.e = E, .rows = rows, .training = training, .rng = NULL};
    nn_model_backward(m, &p);
    float *dx = dl(&m->input->dout, nx);
    char what[1400];
    g_failures = 0;
    for (int j = 0; j < m->n_nodes; j++) {
        nn_node *n = m->nodes[j];
        for (int k = 0; k < n->n_params; k++) {
            nn_param *q = &n->params[k];
            if (!q->trainable)
                continue;
            float *g = dl(&q->g, q->size);
            snprintf(what, sizeof what, "%s/%s", n->name, q->name);
            bool zero_ok = g_zero_ok && strcmp(what, g_zero_ok) == 0;
            snprintf(what, sizeof what, "%s rows %d: %s/%s", text, rows, n->name, q->name);
            fd_tensor(&gm, &q->w, q->size, g, what, zero_ok);
            free(g);
        }
    }
    snprintf(what, sizeof what, "%s rows %d: dx", text, rows);
    if (g_int_ids == 0)
        fd_tensor(&gm, nn_model_input_tensor(m), nx, dx, what, false);
    free(dx);
    free(x);
    free(r);
    free(gm.yh);
    nn_model_free(gm.m);
    nn_spec_free(gm.spec);
    g_failures += gc_tensor_flush();
    if (g_failures) { /* after the frees: fail() does not return */
        print_error("%s: %d mismatches\n", text, g_failures);
        fail();
    }
}

/* input -> one layer */
static void gradcheck_layer(const char *ishape, const char *layer, int rows, int plan_batch,
                            bool training)
{
    char text[1200];
    snprintf(text, sizeof text, "model = { input = { shape = [%s]; }; layers = ( { %s } ); };",
             ishape, layer);
    gradcheck_model(text, rows, plan_batch, training);
}

static void test_batchnorm_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const layers[] = {
        "type = \"batch_normalization\";",
        "type = \"batch_normalization\"; momentum = 0.9; epsilon = 0.01;",
        "type = \"batch_normalization\"; center = false;",
        "type = \"batch_normalization\"; scale = false;",
        "type = \"batch_normalization\"; trainable = false;",
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        gradcheck_layer("4", layers[i], 5, 5, true);
        gradcheck_layer("5, 7, 3", layers[i], 3, 3, true);
    }
    /* a partial batch: statistics over the 3 rows only */
    gradcheck_layer("5, 3", "type = \"batch_normalization\";", 3, 4, true);
    /* BN after a dense layer: the kernel's gradient passes through the
     * batch statistics too, and the dense bias's is 0 (a per-channel shift
     * is normalized away), which the differences confirm */
    g_zero_ok = "dense/bias";
    gradcheck_model("model = { input = { shape = [4]; }; layers = ( { type = \"dense\"; "
                    "units = 3; }, { type = \"batch_normalization\"; } ); };",
                    5, 5, true);
    g_zero_ok = NULL;
}

static void test_batchnorm_inference_gradients(void **state)
{
    (void)state;
    reset_knobs();
    /* a trainable layer in an inference pass: y = gamma (x - mm) /
     * sqrt(mv + eps) + beta, so dx = gamma dy / sqrt(mv + eps) and dgamma,
     * dbeta of that affine map */
    gradcheck_layer("4", "type = \"batch_normalization\";", 5, 5, false);
}

static void test_depthwise_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const layers[] = {
        "type = \"depthwise_conv2d\"; kernel_size = 3;",
        "type = \"depthwise_conv2d\"; kernel_size = 3; depth_multiplier = 2; padding = \"same\";",
        "type = \"depthwise_conv2d\"; kernel_size = [2, 3]; depth_multiplier = 2; strides = 2;",
        "type = \"depthwise_conv2d\"; kernel_size = [2, 3]; depth_multiplier = 2; strides = 2; "
        "padding = \"same\"; use_bias = false;",
        "type = \"depthwise_conv2d\"; kernel_size = 3; dilation_rate = 2; padding = \"same\"; "
        "depth_multiplier = 2; activation = \"tanh\";",
        "type = \"separable_conv2d\"; filters = 4; kernel_size = 3;",
        "type = \"separable_conv2d\"; filters = 4; kernel_size = 3; depth_multiplier = 2; "
        "padding = \"same\";",
        "type = \"separable_conv2d\"; filters = 4; kernel_size = [3, 2]; depth_multiplier = 2; "
        "strides = 2; padding = \"same\"; activation = \"tanh\";",
        "type = \"separable_conv2d\"; filters = 4; kernel_size = 3; depth_multiplier = 2; "
        "strides = 2; use_bias = false;",
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        gradcheck_layer("5, 7, 3", layers[i], 3, 3, true);
    gradcheck_layer("5, 7, 3",
                    "type = \"separable_conv2d\"; filters = 4; kernel_size = 3; "
                    "depth_multiplier = 2; padding = \"same\";",
                    3, 4, true);
}

static void merge_model(const char *merge, const char *inputs, const char *const *shapes,
                        int n_branches);
static const char *const shapes_23[3] = {"2, 3", "2, 3", "2, 3"};

/* ZeroPadding2D (each side its own amount), Cropping2D, UpSampling2D and
 * ReLU with a cap (ReLU6): the cap sits inside the inputs' range so both
 * kinks are crossed. */
static void test_padding_relu_gradients(void **state)
{
    (void)state;
    reset_knobs();
    gradcheck_layer("3, 4, 2", "type = \"zero_padding2d\"; padding = [1, 2, 0, 3];", 3, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"zero_padding2d\";", 2, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"zero_padding2d\"; padding = [2, 1];", 3, 4, true);
    gradcheck_layer("3, 4, 2", "type = \"relu\"; max_value = 0.5;", 3, 3, true);
    gradcheck_layer("6", "type = \"relu\"; max_value = 6.0;", 3, 3, true);
    gradcheck_layer("4, 5, 2", "type = \"cropping2d\"; cropping = [1, 0, 1, 2];", 3, 3, true);
    gradcheck_layer("4, 5, 2", "type = \"cropping2d\"; cropping = 1;", 2, 3, true);
    /* UpSampling2D: the backward pass gathers what the forward spread
     * (clamped edges included: a 1-row input is all edge) */
    gradcheck_layer("3, 4, 2", "type = \"up_sampling2d\";", 3, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"up_sampling2d\"; size = [3, 2]; "
                    "interpolation = \"bilinear\";", 2, 3, true);
    gradcheck_layer("1, 3, 2", "type = \"up_sampling2d\"; size = [2, 4]; "
                    "interpolation = \"bilinear\";", 3, 3, true);
    /* CustomScaleLayer: trunk + 0.17 * branch, and the same node as both */
    merge_model("type = \"custom_scale\"; scale = 0.17;", "\"a\", \"b\"", shapes_23, 2);
    merge_model("type = \"custom_scale\"; scale = -2.5;", "\"a\", \"a\"", shapes_23, 1);
}

/* input [4] -> one dense branch per shape in `shapes` (named a, b, c, ...;
 * units = the shape's size, a random trainable kernel and bias), each
 * reshaped to its shape -> merge(inputs), inputs naming branches (one may be
 * named twice). Every branch must feed the merge (a model has one output). */
static void merge_model(const char *merge, const char *inputs, const char *const *shapes,
                        int n_branches)
{
    char text[2048];
    int at = snprintf(text, sizeof text, "model = { input = { shape = [4]; }; layers = ( ");
    for (int b = 0; b < n_branches; b++) {
        int units = 1;
        for (const char *q = shapes[b]; *q;) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q) {
                q++;
                continue;
            }
            units *= (int)v;
            q = end;
        }
        at += snprintf(text + at, sizeof text - (size_t)at,
                       "{ name = \"%c0\"; type = \"dense\"; units = %d; inputs = [\"input_1\"]; }, "
                       "{ name = \"%c\"; type = \"reshape\"; target_shape = [%s]; }, ",
                       'a' + b, units, 'a' + b, shapes[b]);
    }
    snprintf(text + at, sizeof text - (size_t)at, "{ %s inputs = [%s]; } ); };", merge, inputs);
    g_fixed_h = 1e-3;
    gradcheck_model(text, 3, 3, true);
    g_fixed_h = 0.0;
}

static void test_merge_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const ops[] = {"add", "multiply", "average", "maximum", "minimum"};
    static const char *const img[3] = {"2, 3", "2, 3", "2, 3"};
    static const char *const vec[3] = {"6", "6", "6"};
    char merge[64];
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        snprintf(merge, sizeof merge, "type = \"%s\";", ops[i]);
        merge_model(merge, "\"a\", \"b\", \"c\"", img, 3);
        merge_model(merge, "\"a\", \"b\"", vec, 2);
        /* the same node twice: maximum(a, a) ties everywhere, minimum(a,
         * b, a) wherever a is the minimum: a must get dy once */
        merge_model(merge, "\"a\", \"a\"", vec, 1);
        merge_model(merge, "\"a\", \"b\", \"a\"", vec, 2);
    }
    merge_model("type = \"subtract\";", "\"a\", \"b\"", img, 2);
    merge_model("type = \"subtract\";", "\"b\", \"a\"", vec, 2);
}

/* The layers Keras Applications added: rescaling (one value, one per
 * channel), normalization (the spec's statistics, and its weights),
 * layer_normalization, layer_scale, grouped conv2d (one input channel per
 * group: the depthwise path; two channels per group: the gathered one),
 * dense on (h, w, c) inputs, dropout with a noise_shape (the same mask in
 * every pass), and add / subtract / multiply broadcasting a (1, 1, c) or
 * (h, 1, 1) input over (h, w, c). */
static void test_application_layer_gradients(void **state)
{
    (void)state;
    gradcheck_layer("3, 4, 2", "type = \"rescaling\"; scale = 0.5; offset = -1.0;", 3, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"rescaling\"; scale = [0.5, -2.0]; offset = [1.0, 3.0];",
                    3, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"normalization\"; mean = [0.5, -1.0]; variance = [4.0, 0.25];",
                    3, 3, true);
    gradcheck_layer("3, 4, 2", "type = \"normalization\";", 3, 3, true);
    gradcheck_layer("3, 4, 5", "type = \"layer_normalization\"; epsilon = 1e-6;", 3, 3, true);
    gradcheck_layer("6", "type = \"layer_normalization\"; center = false;", 3, 3, true);
    gradcheck_layer("3, 4, 5", "type = \"layer_scale\"; init_values = 0.3;", 3, 3, true);
    gradcheck_layer("5, 6, 4",
                    "type = \"conv2d\"; filters = 8; kernel_size = 3; groups = 4; "
                    "padding = \"same\";",
                    2, 3, true);
    gradcheck_layer("5, 6, 4",
                    "type = \"conv2d\"; filters = 6; kernel_size = [3, 2]; groups = 2; "
                    "strides = 2; activation = \"tanh\";",
                    2, 3, true);
    gradcheck_layer("3, 4, 5", "type = \"dense\"; units = 3;", 3, 3, true);
    g_rng_seed = 7;
    gradcheck_layer("3, 4, 2", "type = \"dropout\"; rate = 0.5; noise_shape = [1, 1, 1];", 4, 4,
                    true);
    gradcheck_layer("3, 4, 2", "type = \"dropout\"; rate = 0.5; noise_shape = [1, 1, 0];", 4, 4,
                    true);
    g_rng_seed = 0;
    static const char *const se[2] = {"2, 3, 4", "1, 1, 4"};
    static const char *const col[2] = {"2, 3, 4", "2, 1, 1"};
    static const char *const rev[2] = {"1, 1, 4", "2, 3, 4"};
    merge_model("type = \"multiply\";", "\"a\", \"b\"", se, 2);
    merge_model("type = \"multiply\";", "\"b\", \"a\"", se, 2);
    merge_model("type = \"add\";", "\"a\", \"b\"", col, 2);
    merge_model("type = \"subtract\";", "\"a\", \"b\"", se, 2);
    merge_model("type = \"subtract\";", "\"a\", \"b\"", rev, 2);
}

static void test_concat_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const ax1[3] = {"2, 3, 2", "1, 3, 2", "3, 3, 2"};
    static const char *const ax2[3] = {"2, 3, 2", "2, 1, 2", "2, 4, 2"};
    static const char *const ax3[3] = {"2, 3, 2", "2, 3, 1", "2, 3, 3"};
    merge_model("type = \"concatenate\"; axis = 1;", "\"a\", \"b\", \"c\"", ax1, 3);
    merge_model("type = \"concatenate\"; axis = 2;", "\"a\", \"b\", \"c\"", ax2, 3);
    merge_model("type = \"concatenate\"; axis = -2;", "\"c\", \"a\", \"b\"", ax2, 3);
    merge_model("type = \"concatenate\";", "\"a\", \"b\", \"c\", \"a\"", ax3, 3);
}

static void test_recurrent_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const layers[] = {
        "type = \"simple_rnn\"; units = 3;",
        "type = \"simple_rnn\"; units = 3; return_sequences = true; go_backwards = true;",
        "type = \"simple_rnn\"; units = 2; activation = \"softsign\"; use_bias = false;",
        "type = \"lstm\"; units = 3;",
        "type = \"lstm\"; units = 3; return_sequences = true;",
        "type = \"lstm\"; units = 2; go_backwards = true; activation = \"softsign\"; "
        "recurrent_activation = \"hard_sigmoid\";",
        "type = \"lstm\"; units = 3; use_bias = false; return_sequences = true; "
        "go_backwards = true;",
        "type = \"gru\"; units = 3;",
        "type = \"gru\"; units = 3; return_sequences = true; go_backwards = true;",
        "type = \"gru\"; units = 3; reset_after = false;",
        "type = \"gru\"; units = 2; reset_after = false; return_sequences = true; "
        "activation = \"elu\";",
        "type = \"gru\"; units = 2; use_bias = false;",
        "type = \"bidirectional\"; layer = { type = \"lstm\"; units = 2; "
        "return_sequences = true; };",
        "type = \"bidirectional\"; layer = { type = \"gru\"; units = 2; }; merge_mode = \"sum\";",
        "type = \"bidirectional\"; layer = { type = \"simple_rnn\"; units = 2; "
        "return_sequences = true; }; merge_mode = \"mul\";",
        "type = \"bidirectional\"; layer = { type = \"gru\"; units = 2; reset_after = false; "
        "go_backwards = true; return_sequences = true; }; merge_mode = \"ave\";",
        "type = \"time_distributed\"; layer = { type = \"dense\"; units = 3; "
        "activation = \"tanh\"; };",
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        gradcheck_layer("4, 2", layers[i], 3, 3, true);
    /* a partial batch, and one timestep */
    gradcheck_layer("5, 3", "type = \"lstm\"; units = 2; return_sequences = true;", 2, 4, true);
    g_zero_ok = "gru/recurrent_kernel"; /* h_0 = 0: nothing to differentiate */
    gradcheck_layer("1, 3", "type = \"gru\"; units = 2;", 3, 3, true);
    g_zero_ok = NULL;
    /* stacked: the first layer's sequence output feeds the second */
    gradcheck_model("model = { input = { shape = [4, 2]; }; layers = ( { type = \"gru\"; "
                    "units = 3; return_sequences = true; }, { type = \"lstm\"; units = 2; } ); };",
                    3, 3, true);
    /* dropout on inputs and state: the same masks in every pass */
    g_rng_seed = 12345;
    static const char *const dropped[] = {
        "type = \"simple_rnn\"; units = 3; dropout = 0.3; recurrent_dropout = 0.3; "
        "return_sequences = true;",
        "type = \"lstm\"; units = 3; dropout = 0.3; recurrent_dropout = 0.4;",
        "type = \"gru\"; units = 3; dropout = 0.3; recurrent_dropout = 0.4;",
        "type = \"gru\"; units = 3; reset_after = false; recurrent_dropout = 0.4; "
        "return_sequences = true;",
    };
    for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
        gradcheck_layer("4, 2", dropped[i], 3, 3, true);
    g_rng_seed = 0;
}

/* Masking: an embedding with mask_zero over ids in [0, 3) (a third of
 * the steps are padding, anywhere in a sequence, some rows wholly), into
 * each recurrent layer: the differences over the table and the kernels
 * see a masked step keep the state (and an LSTM's cell), so the backward
 * pass must send a masked step's gradient straight to the previous state;
 * Bidirectional with return_sequences zeroes masked outputs; a dense layer
 * between two recurrent layers passes the mask on. */
static void test_masked_recurrent_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const layers[] = {
        "type = \"simple_rnn\"; units = 3; return_sequences = true;",
        "type = \"simple_rnn\"; units = 3; go_backwards = true;",
        "type = \"lstm\"; units = 3;",
        "type = \"lstm\"; units = 2; return_sequences = true; go_backwards = true;",
        "type = \"gru\"; units = 3; return_sequences = true;",
        "type = \"gru\"; units = 3; reset_after = false; go_backwards = true;",
        "type = \"bidirectional\"; layer = { type = \"lstm\"; units = 2; "
        "return_sequences = true; };",
        "type = \"bidirectional\"; layer = { type = \"gru\"; units = 2; }; merge_mode = \"sum\";",
    };
    char text[1200];
    g_int_ids = 3;
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++) {
        snprintf(text, sizeof text,
                 "model = { input = { shape = [6]; }; layers = ( { type = \"embedding\"; "
                 "input_dim = 3; output_dim = 2; mask_zero = true; }, { %s } ); };",
                 layers[i]);
        gradcheck_model(text, 4, 4, true);
        /* steps every row masks, before and after: the batch runs the
         * steps between (and a partial batch its own) */
        snprintf(text, sizeof text,
                 "model = { input = { shape = [9]; }; layers = ( { type = \"embedding\"; "
                 "input_dim = 3; output_dim = 2; mask_zero = true; }, { %s } ); };",
                 layers[i]);
        g_pad_lead = 2;
        g_pad_trail = 3;
        gradcheck_model(text, 3, 4, true);
        g_pad_lead = g_pad_trail = 0;
    }
    gradcheck_model("model = { input = { shape = [5]; }; layers = ( { type = \"embedding\"; "
                    "input_dim = 3; output_dim = 2; mask_zero = true; }, { type = \"gru\"; "
                    "units = 2; return_sequences = true; }, { type = \"dense\"; units = 2; "
                    "activation = \"tanh\"; }, { type = \"lstm\"; units = 2; } ); };",
                    3, 4, true);
    /* global_average_pooling1d: the mean over the real steps only (ids in
     * [0, 2): half the steps masked; a wholly masked row is 0 / 0, as in
     * Keras, which these fixed draws over 8 steps do not make) */
    /* a Masking layer's mask: features in {0, 1}, so a quarter of the
     * steps are all 0 and masked (the input gradient is test_masking's) */
    g_int_ids = 2;
    gradcheck_model("model = { input = { shape = [6, 2]; }; layers = ( { type = \"masking\"; }, "
                    "{ type = \"lstm\"; units = 3; return_sequences = true; }, "
                    "{ type = \"gru\"; units = 2; go_backwards = true; } ); };",
                    3, 4, true);
    g_seed = GC_SEED + 1;
    gradcheck_model("model = { input = { shape = [8]; }; layers = ( { type = \"embedding\"; "
                    "input_dim = 2; output_dim = 3; mask_zero = true; }, { type = \"bidirectional\"; "
                    "layer = { type = \"gru\"; units = 2; return_sequences = true; }; }, "
                    "{ type = \"global_average_pooling1d\"; }, { type = \"dense\"; units = 2; } ); };",
                    3, 3, true);
    g_int_ids = 0;
}

/* The layers without weights of their own, and the embedding: the
 * Activation layer with every smooth activation (relu, leaky_relu and
 * hard_sigmoid have kinks a difference would cross: test_gradcheck.c checks
 * their derivatives at inputs kept off the kinks), flatten and reshape
 * (dx must be dy, reordered as the forward reordered), dropout with rate >
 * 0 in training (the same masks in every pass: dx is dy / (1 - rate) where
 * kept, 0 where dropped), each alone and between dense layers, and the
 * embedding's table (ids are not differentiable). */
static void test_plain_layer_gradients(void **state)
{
    (void)state;
    reset_knobs();
    static const char *const acts[] = {"linear", "sigmoid", "tanh", "softmax", "elu",
                                       "selu",   "softplus", "softsign", "swish", "gelu"};
    char layer[160], text[600];
    for (size_t i = 0; i < sizeof acts / sizeof *acts; i++) {
        snprintf(layer, sizeof layer, "type = \"activation\"; activation = \"%s\";", acts[i]);
        gradcheck_layer("3, 4", layer, 3, 3, true);
        snprintf(text, sizeof text,
                 "model = { input = { shape = [5]; }; layers = ( { type = \"dense\"; units = 4; "
                 "}, { %s }, { type = \"dense\"; units = 3; } ); };",
                 layer);
        gradcheck_model(text, 4, 4, true);
    }
    gradcheck_layer("3, 2, 2", "type = \"flatten\";", 3, 3, true);
    gradcheck_model("model = { input = { shape = [3, 2, 2]; }; layers = ( { type = \"flatten\"; "
                    "}, { type = \"dense\"; units = 3; activation = \"tanh\"; } ); };",
                    3, 3, true);
    gradcheck_layer("3, 4", "type = \"reshape\"; target_shape = [2, 6];", 3, 3, true);
    gradcheck_model("model = { input = { shape = [6]; }; layers = ( { type = \"dense\"; units = 12; "
                    "}, { type = \"reshape\"; target_shape = [4, 3]; }, { type = \"dense\"; "
                    "units = 2; activation = \"tanh\"; } ); };",
                    3, 3, true);
    g_rng_seed = 4242;
    gradcheck_layer("8", "type = \"dropout\"; rate = 0.4;", 5, 5, true);
    gradcheck_model("model = { input = { shape = [5]; }; layers = ( { type = \"dense\"; units = 8; "
                    "activation = \"tanh\"; }, { type = \"dropout\"; rate = 0.3; }, { type = "
                    "\"dense\"; units = 3; } ); };",
                    4, 4, true);
    g_rng_seed = 0;
    g_int_ids = 9;
    gradcheck_layer("5", "type = \"embedding\"; input_dim = 9; output_dim = 3;", 4, 4, true);
    gradcheck_model("model = { input = { shape = [5]; }; layers = ( { type = \"embedding\"; "
                    "input_dim = 9; output_dim = 3; }, { type = \"lstm\"; units = 2; } ); };",
                    3, 3, true);
    g_int_ids = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_layer_gradients),
        cmocka_unit_test(test_batchnorm_gradients),
        cmocka_unit_test(test_batchnorm_inference_gradients),
        cmocka_unit_test(test_depthwise_gradients),
        cmocka_unit_test(test_merge_gradients),
        cmocka_unit_test(test_padding_relu_gradients),
        cmocka_unit_test(test_application_layer_gradients),
        cmocka_unit_test(test_concat_gradients),
        cmocka_unit_test(test_recurrent_gradients),
        cmocka_unit_test(test_masked_recurrent_gradients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

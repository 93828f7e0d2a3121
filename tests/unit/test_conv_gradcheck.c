/* Finite-difference gradient checks of the convolution and pooling layers,
 * through one-layer models built from spec strings (so the spec parser,
 * shape inference, plan, forward and backward of src/layers/conv.c and
 * pool.c run together with the engine's im2col/GEMM and pooling loops):
 *
 *   conv2d / conv1d: dx, dW (kernel) and db of sum(r * layer(x)), on small odd
 *   shapes with strides 1, 2 and (2, 3), 'valid' and 'same' padding, dilation
 *   2, 1x1 kernels (the pointwise GEMM path), no bias, smooth activations,
 *   and a partial batch (rows < the planned batch, as fit's last batch).
 *
 *   max / average pooling 1D and 2D (pool 2 and 3, strides 1, 2, 3 and the
 *   default, 'valid' and 'same') and the global forms: dx. Max pooling gets
 *   distinct values 0.05 apart and a step of 5e-3, so no perturbation
 *   changes which cell wins a window (the derivative exists there and the
 *   difference quotient is exact up to rounding).
 *
 * Forward semantics that finite differences cannot see (they are
 * self-consistent): 'same' padding side and average counts by hand on tiny
 * inputs, output shapes against Keras's conv_output_length.
 *
 * And, at the engine level, a convolution large enough that the engine
 * splits the batch into workspace chunks (chunks of 2 and 1 images), against
 * direct loops in double: forward, backward_data and backward_filter with
 * beta = 1 (the filter gradient must be added to what is there).
 *
 * Central differences in float32 with h = 1e-2 * max(|v|, 0.5), objectives
 * accumulated in double; tolerance 2e-3 + 1e-2 |numeric| (the float32 noise
 * of these quotients is ~1e-4; a wrong derivative is off by O(1)). Broken by
 * hand in cpu_conv.c / conv.c / pool.c / conv_geom.c (col2im index, 'same'
 * padding on the wrong side, average count including padding, max routed to
 * every tie / the wrong cell, missing beta, bias gradient skipped) to see
 * these fail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h" /* white box: which convolution path ran */
#include "engine/engine.h"
#include "model/model.h"
#include "spec/spec.h"

#define GC_SEED 0x2545F4914F6CDD1DULL
#include "unit/gradcheck.h"

static int g_failures;

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

/* ---- one-layer models ---- */

typedef struct {
    nn_spec *spec;
    nn_model *m;
    int rows;
    const float *r; /* the objective's weights: sum(r * y) */
    float *yh;
} layer_model;

static void build(layer_model *lm, const char *layer, const int *ishape, int nd, int rows,
                  int plan_batch)
{
    char text[1024];
    int at = snprintf(text, sizeof text, "model = { input = { shape = [");
    for (int i = 0; i < nd; i++)
        at += snprintf(text + at, sizeof text - (size_t)at, "%s%d", i ? ", " : "", ishape[i]);
    snprintf(text + at, sizeof text - (size_t)at, "]; }; layers = ( { %s } ); };", layer);
    memset(lm, 0, sizeof *lm);
    gc_model_from_text(text, "conv-gradcheck.cfg", plan_batch, &lm->spec, &lm->m);
    lm->rows = rows;
}

static void release(layer_model *lm)
{
    nn_model_free(lm->m);
    nn_spec_free(lm->spec);
}

static double objective(layer_model *lm)
{
    nn_pass p = {.e = E, .rows = lm->rows, .training = true, .rng = NULL};
    nn_model_forward(lm->m, &p);
    size_t n = (size_t)lm->rows * lm->m->output->size;
    E->ops->download(E, lm->yh, &lm->m->output->out, n);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)lm->r[i] * lm->yh[i];
    return s;
}

/* Central differences over every element of t (n floats) against ga. The
 * step is fixed_h when > 0, else 1e-2 * max(|v|, 0.5). */
static void fd_tensor(layer_model *lm, nn_tensor *t, size_t n, const float *ga, double fixed_h,
                      const char *what)
{
    float *v = dl(t, n);
    double max_numeric = 0.0;
    for (size_t i = 0; i < n; i++) {
        float x0 = v[i];
        double h = fixed_h > 0 ? fixed_h : 1e-2 * fmax(fabs((double)x0), 0.5);
        v[i] = (float)(x0 + h);
        double hp = (double)v[i] - x0;
        E->ops->upload(E, t, v, n);
        double fp = objective(lm);
        v[i] = (float)(x0 - h);
        double hm = x0 - (double)v[i];
        E->ops->upload(E, t, v, n);
        double fm = objective(lm);
        v[i] = x0;
        E->ops->upload(E, t, v, n);
        double numeric = (fp - fm) / (hp + hm);
        max_numeric = fmax(max_numeric, fabs(numeric));
        check_close(ga[i], numeric, what, i);
    }
    /* a check of all-zero derivatives would prove nothing */
    if (!(max_numeric > 1e-3)) {
        print_error("%s: every finite difference is 0\n", what);
        g_failures++;
    }
    free(v);
}

/* Builds input -> layer, checks dx and every parameter's gradient. distinct:
 * x holds distinct values 0.05 apart (max pooling), with fixed step 5e-3. */
static void gradcheck_layer(const char *layer, const int *ishape, int nd, int rows, int plan_batch,
                            bool distinct)
{
    layer_model lm;
    build(&lm, layer, ishape, nd, rows, plan_batch);
    nn_model *m = lm.m;
    nn_node *L = m->output;
    size_t nx = (size_t)rows * m->input->size, ny = (size_t)rows * L->size;
    float *x = falloc(nx), *r = falloc(ny);
    lm.yh = falloc(ny);
    lm.r = r;
    if (distinct) {
        /* a shuffled ramp: a Fisher-Yates permutation of 0..nx-1 */
        size_t *perm = malloc(nx * sizeof *perm);
        assert_non_null(perm);
        for (size_t i = 0; i < nx; i++)
            perm[i] = i;
        for (size_t i = nx - 1; i > 0; i--) {
            size_t j = (size_t)urand(0.0, (double)(i + 1));
            if (j > i)
                j = i;
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)(((double)perm[i] - (double)nx / 2) * 0.05);
        free(perm);
    } else {
        for (size_t i = 0; i < nx; i++)
            x[i] = (float)nrand();
    }
    for (size_t i = 0; i < ny; i++)
        r[i] = (float)nrand();
    for (int k = 0; k < L->n_params; k++) {
        float *w = falloc(L->params[k].size);
        for (size_t i = 0; i < L->params[k].size; i++)
            w[i] = (float)(0.5 * nrand());
        E->ops->upload(E, &L->params[k].w, w, L->params[k].size);
        free(w);
    }
    E->ops->upload(E, nn_model_input_tensor(m), x, nx);
    objective(&lm);
    E->ops->upload(E, &L->dout, r, ny);
    L->loss_wrote_preact = false;
    nn_pass p = {.e = E, .rows = rows, .training = true, .rng = NULL};
    nn_model_backward(m, &p);
    float *grads[NN_MAX_PARAMS] = {0};
    for (int k = 0; k < L->n_params; k++)
        grads[k] = dl(&L->params[k].g, L->params[k].size);
    float *dx = dl(&m->input->dout, nx);

    char what[600];
    g_failures = 0;
    for (int k = 0; k < L->n_params; k++) {
        snprintf(what, sizeof what, "{ %s } rows %d: d%s", layer, rows, L->params[k].name);
        fd_tensor(&lm, &L->params[k].w, L->params[k].size, grads[k], 0.0, what);
    }
    snprintf(what, sizeof what, "{ %s } rows %d: dx", layer, rows);
    fd_tensor(&lm, nn_model_input_tensor(m), nx, dx, distinct ? 5e-3 : 0.0, what);
    g_failures += gc_tensor_flush();
    if (g_failures) {
        print_error("{ %s }: %d mismatches\n", layer, g_failures);
        fail();
    }
    for (int k = 0; k < L->n_params; k++)
        free(grads[k]);
    free(dx);
    free(x);
    free(r);
    free(lm.yh);
    release(&lm);
}

static void test_conv2d_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int img[3] = {5, 7, 3};
    static const char *const layers[] = {
        "type = \"conv2d\"; filters = 4; kernel_size = 3;",
        "type = \"conv2d\"; filters = 4; kernel_size = 3; padding = \"same\";",
        "type = \"conv2d\"; filters = 4; kernel_size = [2, 4]; strides = 2; padding = \"same\";",
        "type = \"conv2d\"; filters = 4; kernel_size = [2, 4]; strides = 2;",
        "type = \"conv2d\"; filters = 4; kernel_size = 3; strides = [2, 3]; padding = \"same\"; "
        "use_bias = false;",
        "type = \"conv2d\"; filters = 4; kernel_size = 3; dilation_rate = 2; padding = \"same\";",
        "type = \"conv2d\"; filters = 4; kernel_size = [2, 3]; dilation_rate = [2, 1];",
        "type = \"conv2d\"; filters = 4; kernel_size = 1;",
        "type = \"conv2d\"; filters = 4; kernel_size = 1; strides = 2; padding = \"same\";",
        "type = \"conv2d\"; filters = 4; kernel_size = 3; padding = \"same\"; activation = \"tanh\";",
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        gradcheck_layer(layers[i], img, 3, 3, 3, false);
    /* a partial batch: planned for 4, run with 3 */
    gradcheck_layer("type = \"conv2d\"; filters = 4; kernel_size = 3; strides = 2; "
                    "padding = \"same\"; activation = \"sigmoid\";",
                    img, 3, 3, 4, false);
}

static void test_conv1d_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int seq[2] = {11, 3};
    static const char *const layers[] = {
        "type = \"conv1d\"; filters = 5; kernel_size = 3;",
        "type = \"conv1d\"; filters = 5; kernel_size = 4; padding = \"same\";",
        "type = \"conv1d\"; filters = 5; kernel_size = 4; strides = 2; padding = \"same\";",
        "type = \"conv1d\"; filters = 5; kernel_size = 3; strides = 3; use_bias = false;",
        "type = \"conv1d\"; filters = 5; kernel_size = 3; dilation_rate = 2; padding = \"same\";",
        "type = \"conv1d\"; filters = 5; kernel_size = 1; activation = \"tanh\";",
    };
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        gradcheck_layer(layers[i], seq, 2, 3, 3, false);
    gradcheck_layer("type = \"conv1d\"; filters = 5; kernel_size = 2; dilation_rate = 3;", seq, 2,
                    2, 5, false);
}

static void test_pool_gradients(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int img[3] = {7, 9, 2}, seq[2] = {11, 3};
    static const char *const kinds[] = {"max", "average"};
    static const char *const pads[] = {"valid", "same"};
    char layer[256];
    for (int k = 0; k < 2; k++)
        for (int pool = 2; pool <= 3; pool++)
            for (int stride = 0; stride <= 3; stride++) /* 0: the default (pool size) */
                for (int pd = 0; pd < 2; pd++)
                    for (int rank = 1; rank <= 2; rank++) {
                        int at = snprintf(layer, sizeof layer,
                                          "type = \"%s_pooling%dd\"; pool_size = %d; "
                                          "padding = \"%s\";",
                                          kinds[k], rank, pool, pads[pd]);
                        if (stride)
                            snprintf(layer + at, sizeof layer - (size_t)at, " strides = %d;",
                                     stride);
                        gradcheck_layer(layer, rank == 2 ? img : seq, rank + 1, 2, 2, k == 0);
                    }
    gradcheck_layer("type = \"max_pooling2d\"; pool_size = [2, 3]; strides = [1, 2]; "
                    "padding = \"same\";",
                    img, 3, 2, 3, true);
    /* default strides = pool_size per axis */
    gradcheck_layer("type = \"average_pooling2d\"; pool_size = [2, 3]; padding = \"same\";", img,
                    3, 2, 2, false);
    gradcheck_layer("type = \"average_pooling2d\"; pool_size = [3, 2]; strides = [2, 1]; "
                    "padding = \"same\";",
                    img, 3, 2, 3, false);
    for (int k = 0; k < 2; k++)
        for (int rank = 1; rank <= 2; rank++) {
            snprintf(layer, sizeof layer, "type = \"global_%s_pooling%dd\";", kinds[k], rank);
            gradcheck_layer(layer, rank == 2 ? img : seq, rank + 1, 3, 3, k == 0);
        }
}

/* ---- forward semantics finite differences cannot see ----
 * (a padding on the wrong side or a wrong output size is self-consistent:
 * forward and backward agree with each other, so only values computed by
 * hand, or the PyTorch oracle, catch it) */

/* Runs input -> layer forward on one sample; returns the output (malloc'd)
 * and checks its per-sample shape. */
static float *forward1(const char *layer, const int *ishape, int nd, const float *x,
                       const float *kernel, const int *want_shape, int want_nd)
{
    layer_model lm;
    build(&lm, layer, ishape, nd, 1, 1);
    nn_node *L = lm.m->output;
    assert_int_equal(L->ndim, want_nd);
    for (int d = 0; d < want_nd; d++)
        if (L->shape[d] != want_shape[d]) {
            print_error("{ %s }: output axis %d is %d, Keras %d\n", layer, d, L->shape[d],
                        want_shape[d]);
            fail();
        }
    if (kernel)
        E->ops->upload(E, &L->params[0].w, kernel, L->params[0].size);
    E->ops->upload(E, nn_model_input_tensor(lm.m), x, lm.m->input->size);
    nn_pass p = {.e = E, .rows = 1, .training = false, .rng = NULL};
    nn_model_forward(lm.m, &p);
    float *y = dl(&L->out, L->size);
    release(&lm);
    return y;
}

static void expect_values(const float *got, const float *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])))) {
            print_error("%s [%d]: got %g, want %g\n", what, i, (double)got[i], (double)want[i]);
            fail();
        }
}

static void test_same_padding_by_hand(void **state)
{
    (void)state;
    gc_tensor_reset();
    /* Keras 'same' with an even window puts the extra zero AFTER the input:
     * x = [1, 2, 4], kernel [1, 10] -> [1 + 20, 2 + 40, 4 + 0] */
    const int seq[2] = {3, 1}, out3[2] = {3, 1};
    const float x[3] = {1, 2, 4}, k2[2] = {1, 10};
    float *y = forward1("type = \"conv1d\"; filters = 1; kernel_size = 2; padding = \"same\"; "
                        "use_bias = false;",
                        seq, 2, x, k2, out3, 2);
    expect_values(y, (const float[]){21, 42, 4}, 3, "conv1d same k=2");
    free(y);
    /* kernel 4 (total padding 3: 1 before, 2 after), strides 2 -> 2 outputs:
     * windows [0, x0, x1, x2] and [x1, x2, 0, 0] */
    const int out2[2] = {2, 1};
    const float k4[4] = {1, 10, 100, 1000};
    y = forward1("type = \"conv1d\"; filters = 1; kernel_size = 4; strides = 2; "
                 "padding = \"same\"; use_bias = false;",
                 seq, 2, x, k4, out2, 2);
    expect_values(y, (const float[]){10 + 200 + 4000, 2 + 40}, 2, "conv1d same k=4 s=2");
    free(y);
    /* average pooling 'same' counts real cells only: [1.5, 3, 4] */
    y = forward1("type = \"average_pooling1d\"; pool_size = 2; strides = 1; "
                 "padding = \"same\";",
                 seq, 2, x, NULL, out3, 2);
    expect_values(y, (const float[]){1.5f, 3, 4}, 3, "average_pooling1d same");
    free(y);
    /* max pooling 'same': padding never wins, even over negative values */
    const float xn[3] = {-1, -2, -4};
    y = forward1("type = \"max_pooling1d\"; pool_size = 2; strides = 1; padding = \"same\";",
                 seq, 2, xn, NULL, out3, 2);
    expect_values(y, (const float[]){-1, -2, -4}, 3, "max_pooling1d same");
    free(y);
    /* 2-D: a 2x2 'same' window on a 2x3 image adds a zero row at the bottom
     * and a zero column at the right; kernel picks (0,0) + 10 (1,1) */
    const int img[3] = {2, 3, 1}, out23[3] = {2, 3, 1};
    const float xi[6] = {1, 2, 3, 4, 5, 6}, kk[4] = {1, 0, 0, 10};
    y = forward1("type = \"conv2d\"; filters = 1; kernel_size = 2; padding = \"same\"; "
                 "use_bias = false;",
                 img, 3, xi, kk, out23, 3);
    expect_values(y, (const float[]){1 + 50, 2 + 60, 3, 4, 5, 6}, 6, "conv2d same 2x2");
    free(y);
}

/* Max pooling's gradient at ties, which finite differences cannot see (the
 * objective has a kink there): after a ReLU whole windows are 0, and Keras
 * (TensorFlow's argmax) gives the gradient to the first maximum in window
 * order only. A plain loop here is the reference: windows that do not
 * overlap (the engine's disjoint path, with cells no window covers) and
 * windows that do, over more than one 256-channel block. */
static void max_pool_reference(const nn_conv_geom *g, const float *x, const float *dy, float *y,
                               float *dx)
{
    memset(dx, 0, sizeof(float) * (size_t)g->n * g->h * g->w * g->c);
    for (int i = 0; i < g->n; i++)
        for (int oy = 0; oy < g->oh; oy++)
            for (int ox = 0; ox < g->ow; ox++)
                for (int ch = 0; ch < g->c; ch++) {
                    size_t best = 0;
                    float m = -INFINITY;
                    for (int ky = 0; ky < g->kh; ky++)
                        for (int kx = 0; kx < g->kw; kx++) {
                            int iy = oy * g->sh + ky, ix = ox * g->sw + kx;
                            size_t at = (((size_t)i * g->h + iy) * g->w + ix) * g->c + ch;
                            if (x[at] > m) { /* strictly: the first maximum stays */
                                m = x[at];
                                best = at;
                            }
                        }
                    size_t o = (((size_t)i * g->oh + oy) * g->ow + ox) * g->c + ch;
                    y[o] = m;
                    dx[best] += dy[o];
                }
}

static void test_max_pool_ties(void **state)
{
    (void)state;
    /* pool, stride, height (2x2 strides 2 on 6x6 tiles it: no cell left
     * over, the path that skips clearing dx first) */
    static const int windows[][3] = {{2, 2, 7}, {2, 2, 6}, {3, 3, 7}, {3, 2, 7}, {2, 1, 7}};
    for (size_t t = 0; t < sizeof windows / sizeof windows[0]; t++) {
        nn_conv_geom g = {.n = 3, .h = windows[t][2], .w = 6, .c = 300, .kh = windows[t][0],
                          .kw = windows[t][0], .sh = windows[t][1], .sw = windows[t][1],
                          .dh = 1, .dw = 1};
        g.f = g.c;
        g.oh = (g.h - g.kh) / g.sh + 1;
        g.ow = (g.w - g.kw) / g.sw + 1;
        size_t nx = (size_t)g.n * g.h * g.w * g.c, ny = (size_t)g.n * g.oh * g.ow * g.c;
        float *x = falloc(nx), *dy = falloc(ny), *ry = falloc(ny), *rdx = falloc(nx);
        for (size_t i = 0; i < nx; i++) /* mostly 0, as after a ReLU: ties everywhere */
            x[i] = urand(0.0, 1.0) < 0.7 ? 0.0f : (float)(int)urand(1.0, 3.0);
        for (size_t i = 0; i < ny; i++)
            dy[i] = (float)urand(0.5, 1.5);
        max_pool_reference(&g, x, dy, ry, rdx);
        nn_tensor tx, ty, tdy, tdx;
        nn_error err;
        int sx[1] = {(int)nx}, sy[1] = {(int)ny};
        assert_int_equal(E->ops->alloc(E, &tx, 1, sx, &err), NN_OK);
        assert_int_equal(E->ops->alloc(E, &tdx, 1, sx, &err), NN_OK);
        assert_int_equal(E->ops->alloc(E, &ty, 1, sy, &err), NN_OK);
        assert_int_equal(E->ops->alloc(E, &tdy, 1, sy, &err), NN_OK);
        E->ops->upload(E, &tx, x, nx);
        E->ops->upload(E, &tdy, dy, ny);
        E->ops->fill(E, &tdx, NAN, nx); /* every cell must be written */
        E->ops->pool2d_forward(E, NN_POOL_MAX, &g, &tx, &ty);
        E->ops->pool2d_backward(E, NN_POOL_MAX, &g, &tx, &ty, &tdy, &tdx);
        float *y = dl(&ty, ny), *dx = dl(&tdx, nx);
        char what[64];
        snprintf(what, sizeof what, "max pool %d stride %d: y", windows[t][0], windows[t][1]);
        expect_values(y, ry, (int)ny, what);
        snprintf(what, sizeof what, "max pool %d stride %d: dx", windows[t][0], windows[t][1]);
        expect_values(dx, rdx, (int)nx, what);
        free(y);
        free(dx);
        free(x);
        free(dy);
        free(ry);
        free(rdx);
        E->ops->free(E, &tx);
        E->ops->free(E, &ty);
        E->ops->free(E, &tdy);
        E->ops->free(E, &tdx);
    }
}

/* Output shapes against Keras's conv_output_length, written out here:
 * valid: (in - (k - 1) d - 1) / s + 1; same: ceil(in / s). */
static int keras_len(int in, int k, int s, int d, bool same)
{
    int len = same ? in : in - (k - 1) * d;
    return (len + s - 1) / s;
}

static void test_output_shapes(void **state)
{
    (void)state;
    gc_tensor_reset();
    const int img[3] = {7, 9, 3};
    static const struct {
        const char *layer;
        int k[2], s[2], d[2], f; /* f = 0: pooling, channels kept */
        bool same;
    } cases[] = {
        {"type = \"conv2d\"; filters = 5; kernel_size = 3;", {3, 3}, {1, 1}, {1, 1}, 5, false},
        {"type = \"conv2d\"; filters = 5; kernel_size = [2, 4]; strides = 2; padding = "
         "\"same\";", {2, 4}, {2, 2}, {1, 1}, 5, true},
        {"type = \"conv2d\"; filters = 5; kernel_size = [2, 4]; strides = [2, 3];", {2, 4},
         {2, 3}, {1, 1}, 5, false},
        {"type = \"conv2d\"; filters = 2; kernel_size = 3; dilation_rate = [2, 3];", {3, 3},
         {1, 1}, {2, 3}, 2, false},
        {"type = \"conv2d\"; filters = 2; kernel_size = 3; dilation_rate = 2; padding = "
         "\"same\";", {3, 3}, {1, 1}, {2, 2}, 2, true},
        {"type = \"max_pooling2d\";", {2, 2}, {2, 2}, {1, 1}, 0, false},
        {"type = \"max_pooling2d\"; pool_size = [2, 3]; padding = \"same\";", {2, 3}, {2, 3},
         {1, 1}, 0, true},
        {"type = \"average_pooling2d\"; pool_size = [3, 2];", {3, 2}, {3, 2}, {1, 1}, 0, false},
        {"type = \"average_pooling2d\"; pool_size = 3; strides = 2; padding = \"same\";",
         {3, 3}, {2, 2}, {1, 1}, 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        layer_model lm;
        build(&lm, cases[i].layer, img, 3, 1, 1);
        nn_node *L = lm.m->output;
        int want[3] = {keras_len(7, cases[i].k[0], cases[i].s[0], cases[i].d[0], cases[i].same),
                       keras_len(9, cases[i].k[1], cases[i].s[1], cases[i].d[1], cases[i].same),
                       cases[i].f ? cases[i].f : 3};
        assert_int_equal(L->ndim, 3);
        if (L->shape[0] != want[0] || L->shape[1] != want[1] || L->shape[2] != want[2]) {
            print_error("{ %s }: output %dx%dx%d, Keras %dx%dx%d\n", cases[i].layer, L->shape[0],
                        L->shape[1], L->shape[2], want[0], want[1], want[2]);
            fail();
        }
        release(&lm);
    }
    /* conv1d and the global forms */
    const int seq[2] = {11, 3};
    layer_model lm;
    build(&lm, "type = \"conv1d\"; filters = 4; kernel_size = 3; strides = 3;", seq, 2, 1, 1);
    assert_int_equal(lm.m->output->ndim, 2);
    assert_int_equal(lm.m->output->shape[0], keras_len(11, 3, 3, 1, false));
    assert_int_equal(lm.m->output->shape[1], 4);
    release(&lm);
    build(&lm, "type = \"global_average_pooling2d\";", img, 3, 1, 1);
    assert_int_equal(lm.m->output->ndim, 1);
    assert_int_equal(lm.m->output->shape[0], 3);
    release(&lm);
}

/* ---- engine: chunked convolution against direct loops ---- */

static double at_x(const float *x, const nn_conv_geom *g, int i, int y, int xx, int ch)
{
    if (y < 0 || y >= g->h || xx < 0 || xx >= g->w)
        return 0.0;
    return x[(((size_t)i * g->h + y) * g->w + xx) * g->c + ch];
}

/* Direct loops in double, added into the references: ry += conv(x, w) +
 * b, rdx += the input gradient, rdw += the kernel gradient and rdb += the
 * bias gradient of dy (b and rdb may be NULL). */
static void naive_conv(const nn_conv_geom *gp, const float *x, const float *w, const float *b,
                       const float *dy, double *ry, double *rdx, double *rdw, double *rdb)
{
    const nn_conv_geom g = *gp;
    for (int i = 0; i < g.n; i++)
        for (int oy = 0; oy < g.oh; oy++)
            for (int ox = 0; ox < g.ow; ox++) {
                size_t o = (((size_t)i * g.oh + oy) * g.ow + ox) * g.f;
                for (int f = 0; b && f < g.f; f++) {
                    ry[o + f] += b[f];
                    rdb[f] += dy[o + f];
                }
                for (int ky = 0; ky < g.kh; ky++)
                    for (int kx = 0; kx < g.kw; kx++) {
                        int iy = oy * g.sh - g.pad_top + ky * g.dh;
                        int ix = ox * g.sw - g.pad_left + kx * g.dw;
                        bool inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
                        for (int ch = 0; ch < g.c; ch++) {
                            double xv = at_x(x, &g, i, iy, ix, ch);
                            const float *wk = w + (((size_t)ky * g.kw + kx) * g.c + ch) * g.f;
                            double *gw = rdw + (((size_t)ky * g.kw + kx) * g.c + ch) * g.f;
                            double gx = 0.0;
                            for (int f = 0; f < g.f; f++) {
                                ry[o + f] += xv * wk[f];
                                gw[f] += xv * dy[o + f];
                                gx += (double)dy[o + f] * wk[f];
                            }
                            if (inside)
                                rdx[(((size_t)i * g.h + iy) * g.w + ix) * g.c + ch] += gx;
                        }
                    }
            }
}

static void expect_close(const float *got, const double *ref, size_t n, double tol_rel,
                         const char *what)
{
    double scale = 0.0;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++)
        /* the floor, 5% of the largest magnitude (5e-6 of it at 1e-4): a
         * value that is a sum of thousands of products with cancellation
         * has fp32 rounding of that size, and Winograd's transforms
         * measured 1.6e-6 of it on the kernel gradient (the direct kernels
         * 6e-7); a wrong index or a missing copy is off by the magnitude */
        if (!(fabs(got[i] - ref[i]) <= tol_rel * (fabs(ref[i]) + 5e-2 * scale))) {
            print_error("%s [%zu]: got %.8g, direct loops %.8g\n", what, i, (double)got[i],
                        ref[i]);
            fail();
        }
}

/* 3 images of 48x48x144, 3x3 'same', 4 filters: 2304 x 1296 patch floats
 * per image, so the 8M-float workspace holds 2 images and the batch runs
 * as chunks of 2 and 1 (on the im2col path; oneDNN, when it runs the
 * convolution, needs no such workspace) */
static void chunked_conv_on_E(void)
{
    nn_conv_geom g = {.n = 3, .h = 48, .w = 48, .c = 144, .kh = 3, .kw = 3, .f = 4,
                      .sh = 1, .sw = 1, .dh = 1, .dw = 1, .pad_top = 1, .pad_left = 1,
                      .oh = 48, .ow = 48};
    const size_t K = (size_t)g.kh * g.kw * g.c, pix = (size_t)g.oh * g.ow;
    size_t wsn = E->ops->conv_workspace(E, &g);
    assert_true(wsn >= pix * K);
    assert_true(wsn < (size_t)g.n * pix * K); /* really chunked */
    size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = K * g.f, ny = (size_t)g.n * pix * g.f;
    float *x = falloc(nx), *w = falloc(nw), *dy = falloc(ny), *w0 = falloc(nw);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)urand(-1.0, 1.0);
    for (size_t i = 0; i < nw; i++) {
        w[i] = (float)urand(-1.0, 1.0);
        w0[i] = (float)urand(-1.0, 1.0);
    }
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)urand(-1.0, 1.0);
    nn_tensor tx, tw, ty, tdy, tdx, tdw, tws;
    nn_error err;
    int s1[1];
    s1[0] = (int)nx;
    assert_int_equal(E->ops->alloc(E, &tx, 1, s1, &err), NN_OK);
    assert_int_equal(E->ops->alloc(E, &tdx, 1, s1, &err), NN_OK);
    s1[0] = (int)nw;
    assert_int_equal(E->ops->alloc(E, &tw, 1, s1, &err), NN_OK);
    assert_int_equal(E->ops->alloc(E, &tdw, 1, s1, &err), NN_OK);
    s1[0] = (int)ny;
    assert_int_equal(E->ops->alloc(E, &ty, 1, s1, &err), NN_OK);
    assert_int_equal(E->ops->alloc(E, &tdy, 1, s1, &err), NN_OK);
    s1[0] = (int)wsn;
    assert_int_equal(E->ops->alloc(E, &tws, 1, s1, &err), NN_OK);
    E->ops->upload(E, &tx, x, nx);
    E->ops->upload(E, &tw, w, nw);
    E->ops->upload(E, &tdy, dy, ny);
    E->ops->upload(E, &tdw, w0, nw);
    E->ops->fill(E, &ty, NAN, ny);
    E->ops->fill(E, &tdx, NAN, nx);

    E->ops->conv2d_forward(E, &g, &tx, &tw, NULL, NN_ACT_LINEAR, &ty, &tws);
    E->ops->conv2d_backward_data(E, &g, &tdy, &tw, &tdx, &tws);
    E->ops->conv2d_backward_filter(E, &g, &tx, &tdy, &tdw, NULL, 1.0f, &tws);
    float *y = dl(&ty, ny), *dx = dl(&tdx, nx), *dw = dl(&tdw, nw);

    double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx),
           *rdw = calloc(nw, sizeof *rdw);
    assert_non_null(ry);
    assert_non_null(rdx);
    assert_non_null(rdw);
    for (size_t i = 0; i < nw; i++)
        rdw[i] = w0[i]; /* beta = 1: added to what was there */
    naive_conv(&g, x, w, NULL, dy, ry, rdx, rdw, NULL);
    expect_close(y, ry, ny, 1e-4, "chunked conv2d forward");
    expect_close(dx, rdx, nx, 1e-4, "chunked conv2d backward_data");
    expect_close(dw, rdw, nw, 1e-4, "chunked conv2d backward_filter (beta = 1)");

    /* beta = 0 overwrites a poisoned gradient */
    E->ops->fill(E, &tdw, NAN, nw);
    E->ops->conv2d_backward_filter(E, &g, &tx, &tdy, &tdw, NULL, 0.0f, &tws);
    float *dw2 = dl(&tdw, nw);
    for (size_t i = 0; i < nw; i++)
        rdw[i] -= w0[i];
    expect_close(dw2, rdw, nw, 1e-4, "chunked conv2d backward_filter (beta = 0)");

    nn_tensor *ts[] = {&tx, &tw, &ty, &tdy, &tdx, &tdw, &tws};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        E->ops->free(E, ts[i]);
    free(x);
    free(w);
    free(w0);
    free(dy);
    free(y);
    free(dx);
    free(dw);
    free(dw2);
    free(ry);
    free(rdx);
    free(rdw);
}

static void test_conv_engine_chunked(void **state)
{
    (void)state;
    gc_tensor_reset();
    /* the engine's default path (oneDNN when the build has it) */
    chunked_conv_on_E();
    /* and im2col + OpenBLAS, whose chunks the workspace size forces: an
     * engine made with NNCTL_CONV=im2col has no oneDNN state at all */
    nn_engine *saved = E, *im2col = NULL;
    nn_error err;
    const char *was = getenv("NNCTL_CONV");
    char *keep = was ? strdup(was) : NULL;
    setenv("NNCTL_CONV", "im2col", 1);
    nn_status st = nn_engine_create("cpu", GC_THREADS, &im2col, &err);
    if (keep) {
        setenv("NNCTL_CONV", keep, 1);
        free(keep);
    } else {
        unsetenv("NNCTL_CONV");
    }
    assert_int_equal(st, NN_OK);
    assert_null(nn_cpu_dnnl_of(im2col));
    E = im2col;
    chunked_conv_on_E();
    E = saved;
    nn_engine_destroy(im2col);
}

/* ---- the engine's convolution (oneDNN when the build has it) with bias,
 * on awkward geometries, against direct loops in double ---- */

static nn_conv_geom make_geom(int n, int h, int w, int c, int kh, int kw, int f, int sh, int sw,
                              int dh, int dw, bool same)
{
    nn_conv_geom g = {.n = n, .h = h, .w = w, .c = c, .kh = kh, .kw = kw, .f = f, .sh = sh,
                      .sw = sw, .dh = dh, .dw = dw};
    int ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
    if (same) {
        g.oh = (h + sh - 1) / sh;
        g.ow = (w + sw - 1) / sw;
        int ph = (g.oh - 1) * sh + ekh - h, pw = (g.ow - 1) * sw + ekw - w;
        g.pad_top = (ph > 0 ? ph : 0) / 2; /* Keras: the extra row at the bottom */
        g.pad_left = (pw > 0 ? pw : 0) / 2;
    } else {
        g.oh = (h - ekh) / sh + 1;
        g.ow = (w - ekw) / sw + 1;
    }
    return g;
}

static void check_conv_with_bias(const nn_conv_geom *gp, const char *name)
{
    const nn_conv_geom g = *gp;
    const size_t K = (size_t)g.kh * g.kw * g.c, pix = (size_t)g.oh * g.ow;
    size_t nx = (size_t)g.n * g.h * g.w * g.c, nw = K * g.f, ny = (size_t)g.n * pix * g.f;
    float *x = falloc(nx), *w = falloc(nw), *dy = falloc(ny), *b = falloc((size_t)g.f);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)urand(-1.0, 1.0);
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)urand(-1.0, 1.0);
    for (size_t i = 0; i < ny; i++)
        dy[i] = (float)urand(-1.0, 1.0);
    for (int i = 0; i < g.f; i++)
        b[i] = (float)urand(-1.0, 1.0);
    nn_tensor tx = tnew(nx, x), tw = tnew(nw, w), tdy = tnew(ny, dy), tb = tnew((size_t)g.f, b),
              ty = tnew(ny, NULL), tdx = tnew(nx, NULL), tdw = tnew(nw, NULL),
              tdb = tnew((size_t)g.f, NULL), tws = tnew(E->ops->conv_workspace(E, &g) + 1, NULL);
    /* poison: every output must be written */
    E->ops->fill(E, &ty, NAN, ny);
    E->ops->fill(E, &tdx, NAN, nx);
    E->ops->fill(E, &tdw, NAN, nw);
    E->ops->fill(E, &tdb, NAN, (size_t)g.f);
    E->ops->conv2d_forward(E, &g, &tx, &tw, &tb, NN_ACT_LINEAR, &ty, &tws);
    E->ops->conv2d_backward_data(E, &g, &tdy, &tw, &tdx, &tws);
    E->ops->conv2d_backward_filter(E, &g, &tx, &tdy, &tdw, &tdb, 0.0f, &tws);
    float *y = dl(&ty, ny), *dx = dl(&tdx, nx), *dw = dl(&tdw, nw), *db = dl(&tdb, (size_t)g.f);
    double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx),
           *rdw = calloc(nw, sizeof *rdw), *rdb = calloc((size_t)g.f, sizeof *rdb);
    assert_true(ry && rdx && rdw && rdb);
    naive_conv(&g, x, w, b, dy, ry, rdx, rdw, rdb);
    char what[160];
    snprintf(what, sizeof what, "%s: forward with bias", name);
    expect_close(y, ry, ny, 1e-4, what);
    snprintf(what, sizeof what, "%s: input gradient", name);
    expect_close(dx, rdx, nx, 1e-4, what);
    snprintf(what, sizeof what, "%s: kernel gradient", name);
    expect_close(dw, rdw, nw, 1e-4, what);
    snprintf(what, sizeof what, "%s: bias gradient", name);
    expect_close(db, rdb, (size_t)g.f, 1e-4, what);
    nn_tensor *ts[] = {&tx, &tw, &tdy, &tb, &ty, &tdx, &tdw, &tdb, &tws};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        E->ops->free(E, ts[i]);
    /* freeing the kernel dropped its copies in oneDNN's layouts */
    assert_int_equal(nn_cpu_dnnl_conv_weight_copies(nn_cpu_dnnl_of(E)), 0);
    void *ps[] = {x, w, dy, b, y, dx, dw, db, ry, rdx, rdw, rdb};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        free(ps[i]);
}

static void test_conv_engine_geometries(void **state)
{
    (void)state;
    gc_tensor_reset();
    long ran0, declined0;
    nn_cpu_dnnl_counts(nn_cpu_dnnl_of(E), &ran0, &declined0);
    const long wino0 = nn_cpu_dnnl_winograd_count(nn_cpu_dnnl_of(E));
    static const struct {
        int n, h, w, c, kh, kw, f, sh, sw, dh, dw;
        bool same;
        const char *name;
    } cases[] = {
        {3, 9, 7, 3, 3, 3, 5, 1, 1, 1, 1, true, "3x3 same, 3 channels, odd sizes"},
        {2, 10, 11, 4, 3, 3, 6, 2, 2, 1, 1, true, "3x3 same, stride 2"},
        {2, 8, 8, 2, 4, 4, 3, 1, 1, 1, 1, true, "4x4 same: the extra row at the bottom"},
        {2, 12, 9, 5, 3, 2, 7, 2, 1, 2, 3, false, "mixed strides and dilations, valid"},
        {4, 12, 12, 1, 3, 3, 32, 1, 1, 1, 1, false, "one channel in (MNIST's first layer)"},
        {1, 13, 13, 64, 3, 3, 64, 1, 1, 1, 1, false, "64 to 64 channels, one image"},
        {2, 6, 6, 17, 1, 1, 9, 1, 1, 1, 1, false, "1x1 (pointwise)"},
        {3, 1, 20, 4, 1, 5, 6, 1, 2, 1, 1, true, "Conv1D as h = 1, stride 2, same"},
        /* Winograd's (3x3 stride 1, channels in 16s, 512+ output pixels);
         * the smaller last batch of the second is under that: direct */
        {8, 16, 16, 32, 3, 3, 48, 1, 1, 1, 1, true, "Winograd: 3x3 same, 32 to 48 channels"},
        {4, 15, 15, 16, 3, 3, 32, 1, 1, 1, 1, false, "Winograd: 3x3 valid, 16 to 32 channels"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nn_conv_geom g = make_geom(cases[k].n, cases[k].h, cases[k].w, cases[k].c, cases[k].kh,
                                   cases[k].kw, cases[k].f, cases[k].sh, cases[k].sw, cases[k].dh,
                                   cases[k].dw, cases[k].same);
        check_conv_with_bias(&g, cases[k].name);
        /* a smaller last batch of the same layer (its own oneDNN primitive) */
        if (g.n > 1) {
            g.n -= 1;
            check_conv_with_bias(&g, cases[k].name);
        }
    }
#ifdef NN_HAVE_DNNL
    /* oneDNN took every pass here (a fallback would hide its mistakes) */
    long ran, declined;
    nn_cpu_dnnl_counts(nn_cpu_dnnl_of(E), &ran, &declined);
    if (nn_cpu_dnnl_of(E)) {
        assert_int_equal(declined - declined0, 0);
        assert_int_equal(ran - ran0, 19 * 3);
        /* oneDNN has Winograd kernels for AVX-512: there it ran the first
         * Winograd case's passes (twice) and the second's, unless
         * NNCTL_CONV=direct turned Winograd off */
        const char *conv = getenv("NNCTL_CONV");
        if (nn_cpu_dnnl_avx512(nn_cpu_dnnl_of(E)) && !(conv && strcmp(conv, "direct") == 0))
            assert_int_equal(nn_cpu_dnnl_winograd_count(nn_cpu_dnnl_of(E)) - wino0, 3 * 3);
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_gradients),
        cmocka_unit_test(test_conv1d_gradients),
        cmocka_unit_test(test_pool_gradients),
        cmocka_unit_test(test_same_padding_by_hand),
        cmocka_unit_test(test_max_pool_ties),
        cmocka_unit_test(test_output_shapes),
        cmocka_unit_test(test_conv_engine_chunked),
        cmocka_unit_test(test_conv_engine_geometries),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

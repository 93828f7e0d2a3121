/* The GPU engine against the CPU engine (the reference semantics): every
 * operation of engine.h runs on both with the same random inputs (odd
 * sizes, strides 1 and 2, valid and same padding, dilation, every
 * activation, loss, metric and optimizer, both GRU modes, embedding,
 * dropout), then the built nnctl trains a tiny MLP and a tiny CNN on
 * generated data with --engine cpu and --engine gpu and the loss curves
 * must agree.
 *
 * Tolerance, per element: |gpu - cpu| <= rtol * (|cpu| + 0.1 * max|cpu|)
 * + 1e-6, with rtol = 1e-4 unless a test says otherwise: relative for
 * values of the tensor's size, and relative to the tensor's scale for those
 * near zero, where a sum's rounding (cuBLAS's and cuDNN's order of adding,
 * FMA contraction) is not relative to the value. Dropout masks, routing
 * (pooling, maximum) and the embedding's sums are compared exactly or
 * nearly so.
 *
 * Mixed precision (fp16, and bf16 where the device has its tensor cores):
 * products and convolutions against the CPU engine's float32 within the
 * low precision's reach (rtol 4e-2 for bf16's 8 significant bits, 5e-3 for
 * fp16's 11: a product's error is 2^-8 (2^-11) of its terms' magnitudes,
 * more than that of the sum where they cancel), and bf16 against the CPU engine's own bf16 path (where the
 * CPU has bf16), which rounds the same operands the same way: RTOL. A
 * layer's weights, converted once per update, must follow new values
 * (upload, opt_update); nnctl trains the tiny CNN with --precision
 * mixed_float16 / mixed_bfloat16 to the float32 loss curve within 5e-2.
 *
 * Without a CUDA device the comparisons are skipped (cmocka prints
 * SKIPPED for each) and the no-device path is checked instead: creating
 * the engine fails with one line naming --engine cpu, nnctl exits 1 with
 * one line, and --version names the CUDA runtime and cuDNN.
 *
 *   NNCTL=build-gpu/nnctl build-gpu/gpu-tests/test_gpu_engine   (make test-gpu) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "layers/conv_geom.h"
#include "unit/skip.h"

#define RTOL 1e-4

static nn_engine *C, *G; /* G is NULL without a device */
static char no_device[2048];
/* GPU_TEST_SELF_CHECK=1: a second CPU engine stands in for the GPU, to
 * check this program itself on a machine without one */
static bool self_check;
static nn_rng R;

/* ---- helpers ------------------------------------------------------------ */

static float *rnd(size_t n, float lo, float hi)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * (float)nn_rng_uniform_d(&R);
    return v;
}

/* One tensor on each engine holding the same values. */
typedef struct pair {
    nn_tensor c, g;
    size_t n;
} pair;

static pair pair_new(size_t n, const float *v)
{
    pair p = {.n = n};
    nn_error err;
    int shape[1] = {(int)n};
    assert_int_equal(C->ops->alloc(C, &p.c, 1, shape, &err), NN_OK);
    assert_int_equal(G->ops->alloc(G, &p.g, 1, shape, &err), NN_OK);
    if (v) {
        C->ops->upload(C, &p.c, v, n);
        G->ops->upload(G, &p.g, v, n);
    }
    return p;
}

static pair pair_rnd(size_t n, float lo, float hi)
{
    float *v = rnd(n, lo, hi);
    pair p = pair_new(n, v);
    free(v);
    return p;
}

static void pair_free(pair *p)
{
    C->ops->free(C, &p->c);
    G->ops->free(G, &p->g);
}

static void compare_arrays(const char *what, const float *c, const float *g, size_t n,
                           double rtol)
{
    double amax = 0.0;
    for (size_t i = 0; i < n; i++)
        amax = fmax(amax, fabs(c[i]));
    size_t bad = 0, first = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - c[i]);
        double tol = rtol * (fabs(c[i]) + 0.1 * amax) + 1e-6;
        bool same_nan = isnan(c[i]) && isnan(g[i]);
        if (!same_nan && !(d <= tol)) {
            if (!bad++)
                first = i;
            worst = fmax(worst, d / (fabs(c[i]) + 0.1 * amax + 1e-30));
        }
    }
    if (bad)
        fail_msg("%s: %zu of %zu values differ (first at %zu: cpu %.9g, gpu %.9g; worst "
                 "relative %.3g, rtol %.1g)",
                 what, bad, n, first, c[first], g[first], worst, rtol);
}

/* Downloads both sides and compares them. */
static void expect_close(const char *what, const pair *p, double rtol)
{
    float *c = malloc((p->n ? p->n : 1) * sizeof *c), *g = malloc((p->n ? p->n : 1) * sizeof *g);
    assert_true(c && g);
    C->ops->download(C, c, &p->c, p->n);
    G->ops->download(G, g, &p->g, p->n);
    compare_arrays(what, c, g, p->n, rtol);
    free(c);
    free(g);
}

static void expect_scalar(const char *what, double c, double g, double rtol)
{
    if (isnan(c) && isnan(g))
        return;
    if (!(fabs(g - c) <= rtol * fmax(fabs(c), 1e-3)))
        fail_msg("%s: cpu %.12g, gpu %.12g (rtol %.1g)", what, c, g, rtol);
}

static nn_conv_geom geom(int n, int h, int w, int c, int kh, int kw, int f, int sh, int sw,
                         int dh, int dw, bool same)
{
    nn_conv_geom g = {.n = n, .h = h, .w = w, .c = c, .kh = kh, .kw = kw, .f = f,
                      .sh = sh, .sw = sw, .dh = dh, .dw = dw};
    g.oh = nn_window_out(h, kh, sh, dh, same, &g.pad_top);
    g.ow = nn_window_out(w, kw, sw, dw, same, &g.pad_left);
    return g;
}

static const char *geom_name(const nn_conv_geom *g, bool same)
{
    static char buf[160];
    snprintf(buf, sizeof buf, "n%d %dx%dx%d k%dx%d f%d s%dx%d d%dx%d %s", g->n, g->h, g->w, g->c,
             g->kh, g->kw, g->f, g->sh, g->sw, g->dh, g->dw, same ? "same" : "valid");
    return buf;
}

#define NEED_DEVICE()                                                                        \
    do {                                                                                     \
        if (!G)                                                                              \
            NN_SKIP_GPU("no CUDA device here (scripts/gpu-check runs these on one)");        \
    } while (0)

/* ---- memory and products ------------------------------------------------ */

static void test_memory(void **state)
{
    (void)state;
    NEED_DEVICE();
    const size_t n = 1001;
    pair p = pair_rnd(n, -1, 1);
    expect_close("upload/download", &p, 0.0);
    G->ops->fill(G, &p.g, 2.5f, 500);
    C->ops->fill(C, &p.c, 2.5f, 500);
    G->ops->fill(G, &p.g, 0.0f, 10);
    C->ops->fill(C, &p.c, 0.0f, 10);
    expect_close("fill", &p, 0.0);
    pair q = pair_new(n, NULL);
    expect_close("alloc zeroes", &q, 0.0);
    C->ops->copy(C, &q.c, &p.c, 700);
    G->ops->copy(G, &q.g, &p.g, 700);
    expect_close("copy", &q, 0.0);
    /* overlapping, as memmove */
    nn_tensor cs = nn_tensor_view(&p.c, 0, 600), cd = nn_tensor_view(&p.c, 100, 600);
    nn_tensor gs = nn_tensor_view(&p.g, 0, 600), gd = nn_tensor_view(&p.g, 100, 600);
    C->ops->copy(C, &cd, &cs, 600);
    G->ops->copy(G, &gd, &gs, 600);
    expect_close("overlapping copy", &p, 0.0);
    if (!self_check)
        assert_null(G->ops->host_ptr(G, &p.g));
    /* a staging buffer from alloc_host, uploaded from and refilled at once */
    nn_error err;
    float *h = G->ops->alloc_host(G, n * sizeof(float), &err);
    assert_non_null(h);
    for (size_t i = 0; i < n; i++)
        h[i] = (float)i;
    G->ops->upload(G, &q.g, h, n);
    for (size_t i = 0; i < n; i++)
        h[i] = -1.0f;
    float *back = malloc(n * sizeof *back);
    G->ops->download(G, back, &q.g, n);
    for (size_t i = 0; i < n; i++)
        assert_true(back[i] == (float)i);
    free(back);
    G->ops->free_host(G, h);
    pair_free(&p);
    pair_free(&q);
}

static void gemm_case(bool ta, bool tb, int M, int N, int K)
{
    pair A = pair_rnd((size_t)M * K, -1, 1), B = pair_rnd((size_t)K * N, -1, 1),
         Cm = pair_rnd((size_t)M * N, -1, 1);
    C->ops->gemm(C, ta, tb, M, N, K, 0.7f, &A.c, &B.c, 0.3f, &Cm.c);
    G->ops->gemm(G, ta, tb, M, N, K, 0.7f, &A.g, &B.g, 0.3f, &Cm.g);
    char what[64];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d %dx%dx%d", ta, tb, M, N, K);
    expect_close(what, &Cm, RTOL);
    pair_free(&A);
    pair_free(&B);
    pair_free(&Cm);
}

static void test_gemm(void **state)
{
    (void)state;
    NEED_DEVICE();
    for (int t = 0; t < 4; t++) {
        gemm_case(t & 1, t & 2, 37, 29, 53);
        gemm_case(t & 1, t & 2, 1, 10, 300);
        gemm_case(t & 1, t & 2, 128, 1, 7);
    }
    /* sub-matrices with explicit leading dimensions, from a view's offset */
    for (int t = 0; t < 4; t++) {
        bool ta = t & 1, tb = t & 2;
        const int M = 13, N = 11, K = 17, lda = (ta ? M : K) + 5, ldb = (tb ? K : N) + 3,
                  ldc = N + 7;
        pair A = pair_rnd((size_t)(ta ? K : M) * lda + 3, -1, 1);
        pair B = pair_rnd((size_t)(tb ? N : K) * ldb, -1, 1);
        pair Cm = pair_rnd((size_t)M * ldc, -1, 1);
        nn_tensor ac = nn_tensor_view(&A.c, 3, A.n - 3), ag = nn_tensor_view(&A.g, 3, A.n - 3);
        C->ops->gemm_ex(C, ta, tb, M, N, K, 1.0f, &ac, lda, &B.c, ldb, 1.0f, &Cm.c, ldc);
        G->ops->gemm_ex(G, ta, tb, M, N, K, 1.0f, &ag, lda, &B.g, ldb, 1.0f, &Cm.g, ldc);
        expect_close("gemm_ex (strided; the columns beyond N untouched)", &Cm, RTOL);
        pair_free(&A);
        pair_free(&B);
        pair_free(&Cm);
    }
}

static void test_bias(void **state)
{
    (void)state;
    NEED_DEVICE();
    pair Y = pair_rnd(33 * 17, -1, 1), b = pair_rnd(17, -1, 1);
    C->ops->add_bias(C, &Y.c, &b.c, 33, 17);
    G->ops->add_bias(G, &Y.g, &b.g, 33, 17);
    expect_close("add_bias", &Y, 1e-6);
    /* enough rows for several chunks of the column sums */
    const int rows = 1000, cols = 45;
    pair dY = pair_rnd((size_t)rows * cols, -1, 1), db = pair_rnd(cols, -1, 1);
    C->ops->bias_grad(C, &dY.c, &db.c, rows, cols, 0.5f);
    G->ops->bias_grad(G, &dY.g, &db.g, rows, cols, 0.5f);
    expect_close("bias_grad beta 0.5", &db, RTOL);
    C->ops->bias_grad(C, &dY.c, &db.c, rows, cols, 0.0f);
    G->ops->bias_grad(G, &dY.g, &db.g, rows, cols, 0.0f);
    expect_close("bias_grad beta 0", &db, RTOL);
    pair_free(&Y);
    pair_free(&b);
    pair_free(&dY);
    pair_free(&db);
}

/* ---- activations, dropout, elementwise ---------------------------------- */

static void act_case(nn_act act, int rows, int cols)
{
    const float alpha = act == NN_ACT_LEAKY_RELU ? 0.3f : (act == NN_ACT_ELU ? 1.0f : 0.0f);
    const size_t n = (size_t)rows * cols;
    pair x = pair_rnd(n, -4, 4), y = pair_new(n, NULL), dy = pair_rnd(n, -1, 1),
         dx = pair_new(n, NULL);
    C->ops->act_forward(C, act, alpha, &x.c, &y.c, rows, cols);
    G->ops->act_forward(G, act, alpha, &x.g, &y.g, rows, cols);
    char what[64];
    snprintf(what, sizeof what, "activation %d forward (%dx%d)", (int)act, rows, cols);
    expect_close(what, &y, RTOL);
    C->ops->act_backward(C, act, alpha, &x.c, &y.c, &dy.c, &dx.c, rows, cols);
    G->ops->act_backward(G, act, alpha, &x.g, &y.g, &dy.g, &dx.g, rows, cols);
    snprintf(what, sizeof what, "activation %d backward (%dx%d)", (int)act, rows, cols);
    expect_close(what, &dx, RTOL);
    if (act != NN_ACT_SOFTMAX) { /* in place, as layers do */
        C->ops->act_forward(C, act, alpha, &x.c, &x.c, rows, cols);
        G->ops->act_forward(G, act, alpha, &x.g, &x.g, rows, cols);
        snprintf(what, sizeof what, "activation %d in place", (int)act);
        expect_close(what, &x, RTOL);
    }
    pair_free(&x);
    pair_free(&y);
    pair_free(&dy);
    pair_free(&dx);
}

static void test_activations(void **state)
{
    (void)state;
    NEED_DEVICE();
    for (int a = 0; a < NN_ACT_COUNT; a++)
        act_case((nn_act)a, 13, 37);
    act_case(NN_ACT_SOFTMAX, 7, 300); /* rows longer than a block */
    act_case(NN_ACT_SOFTMAX, 129, 1);
}

/* The device memory peak the progress line and run.json report: a tensor
 * of 3 MiB raises it by at least that; freeing it leaves the peak; a second
 * one of the same size reuses the room (no new peak). */
static void test_device_peak(void **state)
{
    (void)state;
    NEED_DEVICE();
    assert_non_null(G->ops->device_peak_bytes);
    assert_null(C->ops->device_peak_bytes);
    size_t before = G->ops->device_peak_bytes(G);
    nn_tensor t;
    nn_error err = {0};
    int shape[1] = {3 << 18}; /* 3 MiB of floats */
    assert_int_equal(G->ops->alloc(G, &t, 1, shape, &err), NN_OK);
    size_t peak = G->ops->device_peak_bytes(G);
    assert_true(peak >= before + ((size_t)3 << 20));
    G->ops->free(G, &t);
    assert_int_equal(G->ops->device_peak_bytes(G), peak);
    assert_int_equal(G->ops->alloc(G, &t, 1, shape, &err), NN_OK);
    assert_int_equal(G->ops->device_peak_bytes(G), peak);
    G->ops->free(G, &t);
}

static void test_dropout(void **state)
{
    (void)state;
    NEED_DEVICE();
    const int rows = 331;
    const size_t cols = 303, n = (size_t)rows * cols;
    const float rates[3] = {0.0f, 0.3f, 0.5f};
    /* sample ids as the fit loop gives them: a shuffled batch's dataset
     * indices (their bits in a float tensor) */
    uint32_t *id = malloc(sizeof(uint32_t) * (size_t)rows);
    for (int r = 0; r < rows; r++)
        id[r] = (uint32_t)(r * 7919u + 13u) % 60000u;
    pair ids = pair_new((size_t)rows, nn_ids_bits(id));
    for (int k = 0; k < 3; k++) {
        nn_rng rng;
        nn_rng_seed(&rng, 42 + k, NN_STREAM_DROPOUT);
        pair x = pair_rnd(n, -1, 1), m = pair_new(n, NULL), y = pair_new(n, NULL);
        for (int rep = 0; rep < 2; rep++) { /* a second key draws another mask */
            uint64_t key = nn_rng_u64(&rng);
            C->ops->dropout_forward(C, rates[k], key, &ids.c, &x.c, &m.c, &y.c, rows, cols);
            G->ops->dropout_forward(G, rates[k], key, &ids.g, &x.g, &m.g, &y.g, rows, cols);
            expect_close("dropout mask (exactly equal)", &m, 0.0);
            expect_close("dropout output (exactly equal)", &y, 0.0);
            /* without ids: the row index */
            C->ops->dropout_forward(C, rates[k], key, NULL, &x.c, &m.c, &y.c, rows, cols);
            G->ops->dropout_forward(G, rates[k], key, NULL, &x.g, &m.g, &y.g, rows, cols);
            expect_close("dropout mask, row ids (exactly equal)", &m, 0.0);
        }
        pair_free(&x);
        pair_free(&m);
        pair_free(&y);
    }
    pair_free(&ids);
    free(id);
}

/* one process's "broadcast": nothing to send */
static int bcast_self(void *ctx, void *buf, size_t bytes)
{
    (void)ctx, (void)buf, (void)bytes;
    return 0;
}

/* The data-parallel sums on the device (NCCL) with one rank: the engine's
 * stream waits for them; a sum over one rank leaves the values as they
 * are. Where NCCL is missing, comm_init says why and the run sums through
 * MPI instead (skipped here). */
static void test_comm_one_rank(void **state)
{
    (void)state;
    NEED_DEVICE();
    char desc[160];
    nn_error err;
    if (G->ops->comm_init(G, 0, 1, bcast_self, NULL, desc, sizeof desc, &err)) {
        print_message("no NCCL: %s\n", err.msg);
        skip();
    }
    print_message("device sums by %s\n", desc);
    const size_t n = 1000003;
    float *v = rnd(n, -1, 1), *back = malloc(n * sizeof *back);
    pair x = pair_new(n, v);
    nn_tensor half = nn_tensor_view(&x.g, 0, n / 2), rest = nn_tensor_view(&x.g, n / 2, n - n / 2);
    assert_int_equal(G->ops->comm_sum_start(G, &half, n / 2, &err), NN_OK);
    G->ops->scale(G, &rest, 2.0f, n - n / 2); /* queued after: overlaps the first sum */
    assert_int_equal(G->ops->comm_sum_start(G, &rest, n - n / 2, &err), NN_OK);
    assert_int_equal(G->ops->comm_wait(G, &err), NN_OK);
    G->ops->download(G, back, &x.g, n);
    for (size_t i = 0; i < n; i++)
        assert_true(back[i] == (i < n / 2 ? v[i] : 2.0f * v[i]));
    pair_free(&x);
    free(v);
    free(back);
}

/* values on a grid of 0.25 steps: equal values (ties) are common */
/* a data-parallel sum over one process: nothing to add */
static void no_sum(void *ctx, double *v, size_t n)
{
    (void)ctx, (void)v, (void)n;
}

static pair pair_grid(size_t n)
{
    float *v = rnd(n, -2, 2);
    for (size_t i = 0; i < n; i++)
        v[i] = roundf(v[i] * 4.0f) / 4.0f;
    pair p = pair_new(n, v);
    free(v);
    return p;
}

static void test_elementwise(void **state)
{
    (void)state;
    NEED_DEVICE();
    const size_t n = 5003;
    pair a = pair_grid(n), b = pair_grid(n), o = pair_new(n, NULL);
    C->ops->mul(C, &a.c, &b.c, &o.c, n);
    G->ops->mul(G, &a.g, &b.g, &o.g, n);
    expect_close("mul", &o, 0.0);
    C->ops->mul(C, &o.c, &b.c, &o.c, n);
    G->ops->mul(G, &o.g, &b.g, &o.g, n);
    expect_close("mul in place", &o, 0.0);
    const nn_act adds[] = {NN_ACT_LINEAR, NN_ACT_RELU, NN_ACT_RELU6};
    for (int k = 0; k < 3; k++) { /* a residual add and the activation fused into it */
        pair s = pair_new(n, NULL);
        C->ops->add(C, &a.c, &b.c, &s.c, n, adds[k]);
        G->ops->add(G, &a.g, &b.g, &s.g, n, adds[k]);
        expect_close(k == 0 ? "add" : k == 1 ? "add relu" : "add relu6", &s, 1e-7);
        pair_free(&s);
    }
    C->ops->axpy(C, 0.37f, &a.c, &o.c, n);
    G->ops->axpy(G, 0.37f, &a.g, &o.g, n);
    expect_close("axpy", &o, 1e-6);
    C->ops->scale(C, &o.c, -1.3f, n);
    G->ops->scale(G, &o.g, -1.3f, n);
    expect_close("scale", &o, 1e-6);
    C->ops->clip(C, &o.c, 0.5f, n);
    G->ops->clip(G, &o.g, 0.5f, n);
    expect_close("clip", &o, 0.0);
    for (int is_max = 0; is_max < 2; is_max++) {
        C->ops->extremum(C, is_max, &a.c, &b.c, &o.c, n);
        G->ops->extremum(G, is_max, &a.g, &b.g, &o.g, n);
        expect_close(is_max ? "maximum" : "minimum", &o, 0.0);
        /* Maximum's gradient: a wins its ties, b takes the rest */
        pair taken = pair_new(n, NULL), dy = pair_rnd(n, -1, 1), dx = pair_new(n, NULL);
        C->ops->route_equal(C, &a.c, &o.c, &dy.c, &taken.c, &dx.c, n);
        G->ops->route_equal(G, &a.g, &o.g, &dy.g, &taken.g, &dx.g, n);
        expect_close("route_equal (first input)", &dx, 0.0);
        C->ops->route_equal(C, &b.c, &o.c, &dy.c, &taken.c, &dx.c, n);
        G->ops->route_equal(G, &b.g, &o.g, &dy.g, &taken.g, &dx.g, n);
        expect_close("route_equal (second input)", &dx, 0.0);
        expect_close("route_equal's taken mask", &taken, 0.0);
        pair_free(&taken);
        pair_free(&dy);
        pair_free(&dx);
    }
    /* column blocks: 7 rows, src 9 wide from column 2, into dst 13 wide at 5 */
    pair src = pair_rnd(7 * 9, -1, 1), dst = pair_rnd(7 * 13, -1, 1);
    C->ops->copy_cols(C, &src.c, 9, 2, &dst.c, 13, 5, 7, 6);
    G->ops->copy_cols(G, &src.g, 9, 2, &dst.g, 13, 5, 7, 6);
    expect_close("copy_cols", &dst, 0.0);
    pair_free(&a);
    pair_free(&b);
    pair_free(&o);
    pair_free(&src);
    pair_free(&dst);
}

/* ---- losses and metrics ------------------------------------------------- */

/* rows of probabilities (a softmax of random logits) */
static float *prob_rows(int rows, int cols)
{
    float *v = rnd((size_t)rows * cols, -3, 3);
    for (int r = 0; r < rows; r++) {
        float *x = v + (size_t)r * cols, s = 0.0f;
        for (int c = 0; c < cols; c++)
            s += (x[c] = expf(x[c]));
        for (int c = 0; c < cols; c++)
            x[c] /= s;
    }
    return v;
}

static float *one_hot(int rows, int cols, float *labels)
{
    float *t = calloc((size_t)rows * cols, sizeof *t);
    for (int r = 0; r < rows; r++) {
        int k = (int)nn_rng_below(&R, (uint64_t)cols);
        t[(size_t)r * cols + k] = 1.0f;
        if (labels)
            labels[r] = (float)k;
    }
    return t;
}

static void loss_case_param(nn_loss_kind kind, float param, int rows, int cols, const float *in,
                            const float *tg, int tcols)
{
    pair p = pair_new((size_t)rows * cols, in), t = pair_new((size_t)rows * tcols, tg);
    pair g = pair_new((size_t)rows * cols, NULL);
    double lc = C->ops->loss(C, kind, param, &p.c, &t.c, rows, cols, &g.c, 0.7f);
    double lg = G->ops->loss(G, kind, param, &p.g, &t.g, rows, cols, &g.g, 0.7f);
    char what[80];
    snprintf(what, sizeof what, "loss %d (%dx%d) value", (int)kind, rows, cols);
    expect_scalar(what, lc, lg, 1e-5);
    snprintf(what, sizeof what, "loss %d (%dx%d) gradient", (int)kind, rows, cols);
    expect_close(what, &g, RTOL);
    lc = C->ops->loss(C, kind, param, &p.c, &t.c, rows, cols, NULL, 1.0f);
    lg = G->ops->loss(G, kind, param, &p.g, &t.g, rows, cols, NULL, 1.0f);
    snprintf(what, sizeof what, "loss %d without gradient", (int)kind);
    expect_scalar(what, lc, lg, 1e-5);
    pair_free(&p);
    pair_free(&t);
    pair_free(&g);
}

static void loss_case(nn_loss_kind kind, int rows, int cols, const float *in, const float *tg,
                      int tcols)
{
    loss_case_param(kind, 0.0f, rows, cols, in, tg, tcols);
}

static void losses_at(int rows, int cols)
{
    const size_t n = (size_t)rows * cols;
    float labels[512];
    float *probs = prob_rows(rows, cols), *logits = rnd(n, -4, 4), *reals = rnd(n, -2, 2);
    float *pos = rnd(n, 0.01f, 3.0f), *oh = one_hot(rows, cols, labels), *bin = rnd(n, 0, 1);
    float *unit = rnd(n, 0.01f, 0.99f), *pm = rnd(n, -1, 1);
    for (size_t i = 0; i < n; i++) {
        bin[i] = bin[i] < 0.5f ? 0.0f : 1.0f;
        pm[i] = pm[i] < 0.0f ? -1.0f : 1.0f;
    }
    unit[0] = 0.0f, unit[1] = 1.0f; /* clipped: zero gradient on both */
    for (int k = 0; k < 3; k++)
        reals[k] = -0.5f; /* msle clamps predictions at eps */
    loss_case(NN_LOSS_MSE, rows, cols, reals, pos, cols);
    loss_case(NN_LOSS_MAE, rows, cols, reals, pos, cols);
    loss_case(NN_LOSS_MAPE, rows, cols, reals, pos, cols);
    loss_case(NN_LOSS_MSLE, rows, cols, reals, pos, cols);
    loss_case(NN_LOSS_HINGE, rows, cols, reals, bin, cols); /* {0,1} labels: converted */
    loss_case(NN_LOSS_HINGE, rows, cols, reals, pm, cols);
    loss_case(NN_LOSS_SQUARED_HINGE, rows, cols, reals, bin, cols);
    loss_case(NN_LOSS_SQUARED_HINGE, rows, cols, reals, pm, cols);
    loss_case(NN_LOSS_BINARY_CE, rows, cols, unit, bin, cols);
    loss_case(NN_LOSS_BINARY_CE_LOGITS, rows, cols, logits, bin, cols);
    loss_case(NN_LOSS_CATEGORICAL_CE, rows, cols, probs, oh, cols);
    loss_case(NN_LOSS_SOFTMAX_CE, rows, cols, logits, oh, cols);
    loss_case(NN_LOSS_SPARSE_CE, rows, cols, probs, labels, 1);
    loss_case(NN_LOSS_SPARSE_SOFTMAX_CE, rows, cols, logits, labels, 1);
    loss_case(NN_LOSS_CATEGORICAL_HINGE, rows, cols, reals, oh, cols);
    loss_case(NN_LOSS_KL_DIVERGENCE, rows, cols, unit, probs, cols); /* unit: both clips */
    loss_case(NN_LOSS_KL_DIVERGENCE, rows, cols, probs, oh, cols);
    loss_case(NN_LOSS_POISSON, rows, cols, pos, reals, cols);
    loss_case(NN_LOSS_LOG_COSH, rows, cols, reals, pos, cols);
    loss_case_param(NN_LOSS_HUBER, 1.0f, rows, cols, reals, pos, cols);
    loss_case_param(NN_LOSS_HUBER, 0.3f, rows, cols, reals, pos, cols);
    loss_case(NN_LOSS_COSINE_SIMILARITY, rows, cols, reals, pos, cols);
    free(probs), free(logits), free(reals), free(pos), free(oh), free(bin), free(unit), free(pm);
}

static void test_losses(void **state)
{
    (void)state;
    NEED_DEVICE();
    losses_at(19, 7);
    losses_at(5, 101); /* rows wider than a warp */
    losses_at(300, 1);
}

static void metric_case(nn_metric_kind kind, int k, int rows, int cols, const float *pred,
                        const float *tg, int tcols)
{
    pair p = pair_new((size_t)rows * cols, pred), t = pair_new((size_t)rows * tcols, tg);
    double mc = C->ops->metric(C, kind, k, &p.c, &t.c, rows, cols);
    double mg = G->ops->metric(G, kind, k, &p.g, &t.g, rows, cols);
    char what[64];
    snprintf(what, sizeof what, "metric %d (%dx%d)", (int)kind, rows, cols);
    expect_scalar(what, mc, mg, 1e-9);
    pair_free(&p);
    pair_free(&t);
}

static void test_metrics(void **state)
{
    (void)state;
    NEED_DEVICE();
    const int shapes[3][2] = {{23, 11}, {7, 70}, {64, 1}};
    for (int s = 0; s < 3; s++) {
        int rows = shapes[s][0], cols = shapes[s][1];
        size_t n = (size_t)rows * cols;
        float labels[128];
        float *oh = one_hot(rows, cols, labels), *bin = rnd(n, 0, 1), *pos = rnd(n, 0.01f, 3);
        for (size_t i = 0; i < n; i++)
            bin[i] = bin[i] < 0.5f ? 0.0f : 1.0f;
        pair grid = pair_grid(n); /* predictions with ties: the first maximum wins */
        float *pred = malloc(n * sizeof *pred);
        C->ops->download(C, pred, &grid.c, n);
        for (size_t i = 0; i < n; i++)
            pred[i] = (pred[i] + 2.0f) / 4.0f;
        metric_case(NN_METRIC_BINARY_ACCURACY, 0, rows, cols, pred, bin, cols);
        metric_case(NN_METRIC_CATEGORICAL_ACCURACY, 0, rows, cols, pred, oh, cols);
        metric_case(NN_METRIC_SPARSE_CATEGORICAL_ACCURACY, 0, rows, cols, pred, labels, 1);
        metric_case(NN_METRIC_TOP_K, 3, rows, cols, pred, oh, cols);
        metric_case(NN_METRIC_SPARSE_TOP_K, 3, rows, cols, pred, labels, 1);
        metric_case(NN_METRIC_MSE, 0, rows, cols, pred, pos, cols);
        metric_case(NN_METRIC_MAE, 0, rows, cols, pred, pos, cols);
        metric_case(NN_METRIC_MAPE, 0, rows, cols, pred, pos, cols);
        metric_case(NN_METRIC_MSLE, 0, rows, cols, pred, pos, cols);
        pair_free(&grid);
        free(pred), free(oh), free(bin), free(pos);
    }
}

/* ---- penalties and optimizers ------------------------------------------- */

static void test_penalties(void **state)
{
    (void)state;
    NEED_DEVICE();
    const size_t n = 100003;
    pair w = pair_rnd(n, -1, 1), g = pair_rnd(n, -1, 1);
    double pc = C->ops->regularize(C, &w.c, 0.01f, 0.001f, &g.c, 0.5f, n);
    double pg = G->ops->regularize(G, &w.g, 0.01f, 0.001f, &g.g, 0.5f, n);
    expect_scalar("regularize penalty", pc, pg, 1e-9);
    expect_close("regularize gradient", &g, 1e-6);
    pc = C->ops->regularize(C, &w.c, 0.0f, 0.02f, NULL, 1.0f, 17);
    pg = G->ops->regularize(G, &w.g, 0.0f, 0.02f, NULL, 1.0f, 17);
    expect_scalar("regularize penalty (17 values, no gradient)", pc, pg, 1e-9);
    expect_scalar("sum_squares", C->ops->sum_squares(C, &w.c, n),
                  G->ops->sum_squares(G, &w.g, n), 1e-9);
    expect_scalar("sum_squares of 1", C->ops->sum_squares(C, &w.c, 1),
                  G->ops->sum_squares(G, &w.g, 1), 1e-12);
    pair_free(&w);
    pair_free(&g);
}

static void opt_case(nn_opt_step s, const char *name)
{
    const size_t n = 1001;
    int slots = nn_opt_slot_count(s.kind, s.amsgrad);
    pair w = pair_rnd(n, -1, 1), sl[3];
    nn_tensor *cs[3] = {NULL}, *gs[3] = {NULL};
    for (int k = 0; k < slots; k++) {
        sl[k] = pair_new(n, NULL);
        cs[k] = &sl[k].c, gs[k] = &sl[k].g;
        if (s.kind == NN_OPT_ADAGRAD) {
            C->ops->fill(C, cs[k], 0.1f, n);
            G->ops->fill(G, gs[k], 0.1f, n);
        }
    }
    double prod = 1.0;
    for (int t = 1; t <= 3; t++) {
        pair g = pair_rnd(n, -1, 1);
        s.t = t;
        double mu = s.beta_1 * (1.0 - 0.5 * pow(0.96, t)); /* Keras's Nadam schedule */
        prod *= mu;
        s.nadam_mu_t = mu;
        s.nadam_mu_next = s.beta_1 * (1.0 - 0.5 * pow(0.96, t + 1));
        s.nadam_mu_product = prod;
        nn_opt_step_constants(&s);
        C->ops->opt_update(C, &s, &w.c, &g.c, cs, n);
        G->ops->opt_update(G, &s, &w.g, &g.g, gs, n);
        pair_free(&g);
    }
    char what[80];
    snprintf(what, sizeof what, "%s: weights after 3 steps", name);
    expect_close(what, &w, 1e-5);
    for (int k = 0; k < slots; k++) {
        snprintf(what, sizeof what, "%s: slot %d", name, k);
        expect_close(what, &sl[k], 1e-5);
        pair_free(&sl[k]);
    }
    pair_free(&w);
}

static void test_optimizers(void **state)
{
    (void)state;
    NEED_DEVICE();
    const nn_opt_step base = {.lr = 0.01f, .rho = 0.9f, .beta_1 = 0.9f, .beta_2 = 0.999f,
                              .epsilon = 1e-7f};
    nn_opt_step s = base;
    s.kind = NN_OPT_SGD;
    opt_case(s, "sgd");
    s.momentum = 0.9f;
    opt_case(s, "sgd momentum");
    s.nesterov = true;
    opt_case(s, "sgd nesterov");
    s = base, s.kind = NN_OPT_RMSPROP;
    opt_case(s, "rmsprop");
    s = base, s.kind = NN_OPT_ADAM;
    opt_case(s, "adam");
    s.amsgrad = true;
    opt_case(s, "adam amsgrad");
    s = base, s.kind = NN_OPT_ADAGRAD;
    opt_case(s, "adagrad");
    s = base, s.kind = NN_OPT_ADADELTA, s.lr = 1.0f, s.rho = 0.95f;
    opt_case(s, "adadelta");
    s = base, s.kind = NN_OPT_ADAMAX;
    opt_case(s, "adamax");
    s = base, s.kind = NN_OPT_NADAM;
    opt_case(s, "nadam");
}

/* ---- convolution, depthwise, pooling ------------------------------------ */

typedef struct window_case {
    int n, h, w, c, kh, kw, f, sh, sw, dh, dw;
    bool same;
} window_case;

static const window_case conv_cases[] = {
    {3, 7, 9, 3, 3, 3, 5, 1, 1, 1, 1, false},  /* odd sizes, valid */
    {2, 8, 8, 4, 3, 3, 6, 2, 2, 1, 1, true},   /* stride 2, asymmetric same */
    {2, 9, 7, 3, 3, 2, 4, 1, 1, 2, 2, true},   /* dilation, even kernel width */
    {2, 1, 15, 3, 1, 4, 5, 1, 2, 1, 1, true},  /* Conv1D: h = 1 */
    {2, 5, 5, 2, 1, 1, 3, 1, 1, 1, 1, false},  /* pointwise */
    {3, 10, 10, 3, 5, 5, 4, 2, 2, 1, 1, true}, /* symmetric same, stride 2 */
    {2, 6, 6, 2, 4, 4, 3, 1, 1, 1, 1, true},   /* even kernel: asymmetric same */
    {2, 11, 6, 5, 3, 3, 7, 2, 1, 1, 2, false}, /* mixed strides and dilations */
    {4, 28, 28, 1, 3, 3, 8, 1, 1, 1, 1, false} /* MNIST's first layer */
};

static void alloc_ws(nn_engine *e, const nn_conv_geom *g, nn_tensor *ws)
{
    nn_error err;
    int n[1] = {(int)e->ops->conv_workspace(e, g)};
    assert_int_equal(e->ops->alloc(e, ws, 1, n, &err), NN_OK);
}

static void conv_cases_on(nn_engine *gpu, double rtol)
{
    nn_engine *saved = G;
    G = gpu;
    for (size_t k = 0; k < sizeof conv_cases / sizeof conv_cases[0]; k++) {
        const window_case *w = &conv_cases[k];
        nn_conv_geom plan = geom(w->n, w->h, w->w, w->c, w->kh, w->kw, w->f, w->sh, w->sw, w->dh,
                                 w->dw, w->same);
        nn_tensor wsc, wsg;
        alloc_ws(C, &plan, &wsc);
        alloc_ws(G, &plan, &wsg);
        /* the planned batch, then a smaller last batch in the same workspace */
        for (int last = 0; last < 2; last++) {
            nn_conv_geom g = plan;
            g.n -= last;
            const char *name = geom_name(&g, w->same);
            size_t xs = (size_t)g.n * g.h * g.w * g.c, ys = (size_t)g.n * g.oh * g.ow * g.f,
                   ks = (size_t)g.kh * g.kw * g.c * g.f;
            pair x = pair_rnd(xs, -1, 1), wt = pair_rnd(ks, -1, 1), y = pair_new(ys, NULL);
            pair b = pair_rnd((size_t)g.f, -1, 1), db = pair_rnd((size_t)g.f, -1, 1);
            C->ops->conv2d_forward(C, &g, &x.c, &wt.c, &b.c, NN_ACT_LINEAR, &y.c, &wsc);
            G->ops->conv2d_forward(G, &g, &x.g, &wt.g, &b.g, NN_ACT_LINEAR, &y.g, &wsg);
            char what[240];
            snprintf(what, sizeof what, "conv forward %s", name);
            expect_close(what, &y, rtol);
            /* with a ReLU: applied in the pass (oneDNN) or after it (cuDNN) */
            if (!C->ops->conv2d_forward(C, &g, &x.c, &wt.c, &b.c, NN_ACT_RELU, &y.c, &wsc))
                C->ops->act_forward(C, NN_ACT_RELU, 0.0f, &y.c, &y.c, (int)(ys / g.f), g.f);
            if (!G->ops->conv2d_forward(G, &g, &x.g, &wt.g, &b.g, NN_ACT_RELU, &y.g, &wsg))
                G->ops->act_forward(G, NN_ACT_RELU, 0.0f, &y.g, &y.g, (int)(ys / g.f), g.f);
            snprintf(what, sizeof what, "conv forward + relu %s", name);
            expect_close(what, &y, rtol);
            pair dy = pair_rnd(ys, -1, 1), dx = pair_rnd(xs, -1, 1), dw = pair_rnd(ks, -1, 1);
            C->ops->conv2d_backward_data(C, &g, &dy.c, &wt.c, &dx.c, &wsc);
            G->ops->conv2d_backward_data(G, &g, &dy.g, &wt.g, &dx.g, &wsg);
            snprintf(what, sizeof what, "conv input gradient %s", name);
            expect_close(what, &dx, rtol);
            C->ops->conv2d_backward_filter(C, &g, &x.c, &dy.c, &dw.c, &db.c, 0.0f, &wsc);
            G->ops->conv2d_backward_filter(G, &g, &x.g, &dy.g, &dw.g, &db.g, 0.0f, &wsg);
            snprintf(what, sizeof what, "conv filter gradient %s", name);
            expect_close(what, &dw, rtol);
            snprintf(what, sizeof what, "conv bias gradient %s", name);
            expect_close(what, &db, rtol);
            C->ops->conv2d_backward_filter(C, &g, &x.c, &dy.c, &dw.c, &db.c, 1.0f, &wsc);
            G->ops->conv2d_backward_filter(G, &g, &x.g, &dy.g, &dw.g, &db.g, 1.0f, &wsg);
            snprintf(what, sizeof what, "conv filter gradient, accumulated %s", name);
            expect_close(what, &dw, rtol);
            snprintf(what, sizeof what, "conv bias gradient, accumulated %s", name);
            expect_close(what, &db, rtol);
            pair_free(&x), pair_free(&wt), pair_free(&y), pair_free(&dy), pair_free(&dx);
            pair_free(&dw), pair_free(&b), pair_free(&db);
        }
        C->ops->free(C, &wsc);
        G->ops->free(G, &wsg);
    }
    G = saved;
}

static void test_conv(void **state)
{
    (void)state;
    NEED_DEVICE();
    conv_cases_on(G, RTOL);
}

/* The direct kernels that stand in where cuDNN has no algorithm. */
static void test_conv_direct(void **state)
{
    (void)state;
    NEED_DEVICE();
    nn_engine *direct;
    nn_error err;
    setenv("NNCTL_GPU_CONV", "direct", 1);
    nn_status st = nn_engine_create(self_check ? "cpu" : "gpu", 1, &direct, &err);
    unsetenv("NNCTL_GPU_CONV");
    assert_int_equal(st, NN_OK);
    conv_cases_on(direct, RTOL);
    nn_engine_destroy(direct);
}

static void test_depthwise(void **state)
{
    (void)state;
    NEED_DEVICE();
    static const window_case cases[] = {
        /* f = c * depth multiplier */
        {3, 7, 9, 3, 3, 3, 3, 1, 1, 1, 1, false},
        {2, 8, 8, 4, 3, 3, 8, 2, 2, 1, 1, true},
        {2, 9, 7, 3, 3, 2, 6, 1, 1, 2, 2, true},
        {2, 1, 15, 2, 1, 4, 6, 1, 2, 1, 1, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const window_case *w = &cases[k];
        nn_conv_geom g = geom(w->n, w->h, w->w, w->c, w->kh, w->kw, w->f, w->sh, w->sw, w->dh,
                              w->dw, w->same);
        const char *name = geom_name(&g, w->same);
        size_t xs = (size_t)g.n * g.h * g.w * g.c, ys = (size_t)g.n * g.oh * g.ow * g.f,
               ks = (size_t)g.kh * g.kw * g.f;
        pair x = pair_rnd(xs, -1, 1), kk = pair_rnd(ks, -1, 1), y = pair_new(ys, NULL);
        C->ops->depthwise_forward(C, &g, &x.c, &kk.c, NULL, NN_ACT_LINEAR, &y.c);
        G->ops->depthwise_forward(G, &g, &x.g, &kk.g, NULL, NN_ACT_LINEAR, &y.g);
        char what[240];
        snprintf(what, sizeof what, "depthwise forward %s", name);
        expect_close(what, &y, RTOL);
        /* with a bias and ReLU6: the CPU applies both in its pass, the GPU
         * adds the bias and returns false (the caller applies the clamp) */
        pair bias = pair_rnd((size_t)g.f, -1, 1);
        int rows = g.n * g.oh * g.ow;
        if (!C->ops->depthwise_forward(C, &g, &x.c, &kk.c, &bias.c, NN_ACT_RELU6, &y.c))
            C->ops->act_forward(C, NN_ACT_RELU6, 0.0f, &y.c, &y.c, rows, g.f);
        if (!G->ops->depthwise_forward(G, &g, &x.g, &kk.g, &bias.g, NN_ACT_RELU6, &y.g))
            G->ops->act_forward(G, NN_ACT_RELU6, 0.0f, &y.g, &y.g, rows, g.f);
        snprintf(what, sizeof what, "depthwise forward + bias + relu6 %s", name);
        expect_close(what, &y, RTOL);
        pair_free(&bias);
        pair dy = pair_rnd(ys, -1, 1), dx = pair_rnd(xs, -1, 1), dk = pair_rnd(ks, -1, 1);
        C->ops->depthwise_backward_data(C, &g, &dy.c, &kk.c, &dx.c);
        G->ops->depthwise_backward_data(G, &g, &dy.g, &kk.g, &dx.g);
        snprintf(what, sizeof what, "depthwise input gradient %s", name);
        expect_close(what, &dx, RTOL);
        C->ops->depthwise_backward_filter(C, &g, &x.c, &dy.c, &dk.c, 0.5f);
        G->ops->depthwise_backward_filter(G, &g, &x.g, &dy.g, &dk.g, 0.5f);
        snprintf(what, sizeof what, "depthwise filter gradient %s", name);
        expect_close(what, &dk, RTOL);
        pair_free(&x), pair_free(&kk), pair_free(&y), pair_free(&dy), pair_free(&dx);
        pair_free(&dk);
    }
}

static void test_pool(void **state)
{
    (void)state;
    NEED_DEVICE();
    static const window_case cases[] = {
        /* f = c for pooling */
        {3, 8, 8, 3, 2, 2, 3, 2, 2, 1, 1, false},
        {2, 7, 9, 2, 3, 3, 2, 2, 2, 1, 1, true},  /* padding cells: never win, not counted */
        {2, 7, 7, 3, 3, 3, 3, 1, 1, 1, 1, true},  /* overlapping windows */
        {2, 9, 8, 2, 2, 3, 2, 1, 2, 2, 1, false}, /* dilation */
        {2, 1, 13, 4, 1, 3, 4, 1, 2, 1, 1, true}, /* 1-D */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int kind = 0; kind < 2; kind++) {
            const window_case *w = &cases[k];
            nn_conv_geom g = geom(w->n, w->h, w->w, w->c, w->kh, w->kw, w->f, w->sh, w->sw,
                                  w->dh, w->dw, w->same);
            const char *name = geom_name(&g, w->same);
            size_t xs = (size_t)g.n * g.h * g.w * g.c, ys = (size_t)g.n * g.oh * g.ow * g.c;
            pair x = pair_grid(xs), y = pair_new(ys, NULL);
            C->ops->pool2d_forward(C, (nn_pool_kind)kind, &g, &x.c, &y.c);
            G->ops->pool2d_forward(G, (nn_pool_kind)kind, &g, &x.g, &y.g);
            char what[240];
            snprintf(what, sizeof what, "%s pool forward %s", kind ? "avg" : "max", name);
            expect_close(what, &y, 1e-6);
            pair dy = pair_rnd(ys, -1, 1), dx = pair_rnd(xs, -1, 1);
            C->ops->pool2d_backward(C, (nn_pool_kind)kind, &g, &x.c, &y.c, &dy.c, &dx.c);
            G->ops->pool2d_backward(G, (nn_pool_kind)kind, &g, &x.g, &y.g, &dy.g, &dx.g);
            snprintf(what, sizeof what, "%s pool backward %s (first maximum takes it)",
                     kind ? "avg" : "max", name);
            expect_close(what, &dx, 1e-6);
            pair_free(&x), pair_free(&y), pair_free(&dy), pair_free(&dx);
        }
}

/* UpSampling2D: the same index arithmetic (engine/upsample.h) on both;
 * backward gathers in the same order, so only rounding may differ. */
static void test_upsample(void **state)
{
    (void)state;
    NEED_DEVICE();
    static const int cases[][6] = {/* rows, H, W, C, sh, sw */
                                   {3, 4, 5, 3, 2, 2}, {2, 1, 3, 4, 3, 2}, {2, 5, 2, 1, 1, 4}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int bilinear = 0; bilinear < 2; bilinear++) {
            const int *c = cases[k];
            size_t xs = (size_t)c[0] * c[1] * c[2] * c[3], ys = xs * c[4] * c[5];
            pair x = pair_rnd(xs, -1, 1), y = pair_new(ys, NULL);
            C->ops->upsample2d(C, bilinear, &x.c, &y.c, c[0], c[1], c[2], c[3], c[4], c[5]);
            G->ops->upsample2d(G, bilinear, &x.g, &y.g, c[0], c[1], c[2], c[3], c[4], c[5]);
            char what[160];
            snprintf(what, sizeof what, "upsample2d %s %dx%dx%d by %dx%d forward",
                     bilinear ? "bilinear" : "nearest", c[1], c[2], c[3], c[4], c[5]);
            expect_close(what, &y, 1e-6);
            pair dy = pair_rnd(ys, -1, 1), dx = pair_rnd(xs, -1, 1);
            C->ops->upsample2d_backward(C, bilinear, &dy.c, &dx.c, c[0], c[1], c[2], c[3], c[4],
                                        c[5]);
            G->ops->upsample2d_backward(G, bilinear, &dy.g, &dx.g, c[0], c[1], c[2], c[3], c[4],
                                        c[5]);
            snprintf(what, sizeof what, "upsample2d %s %dx%dx%d by %dx%d backward",
                     bilinear ? "bilinear" : "nearest", c[1], c[2], c[3], c[4], c[5]);
            expect_close(what, &dx, 1e-6);
            pair_free(&x), pair_free(&y), pair_free(&dy), pair_free(&dx);
        }
}

/* Masking's mask: 1 where a row has a feature other than the value (a NaN
 * included), 0 where all equal it; rows of 1 and of 7 features. */
static void test_mask_rows(void **state)
{
    (void)state;
    NEED_DEVICE();
    static const int widths[] = {1, 7};
    for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
        const int cols = widths[k];
        const size_t rows = 301, n = rows * (size_t)cols;
        float *v = rnd(n, -1, 1);
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
                if (r % 3 == 0 || (r % 3 == 1 && j > 0))
                    v[r * cols + j] = 0.5f; /* masked rows; one differing feature */
        v[2 * cols] = NAN;
        pair x = pair_new(n, v), m = pair_new(rows, NULL);
        free(v);
        C->ops->mask_rows(C, &x.c, 0.5f, &m.c, rows, cols);
        G->ops->mask_rows(G, &x.g, 0.5f, &m.g, rows, cols);
        char what[80];
        snprintf(what, sizeof what, "mask_rows of %zu rows of %d", rows, cols);
        expect_close(what, &m, 0);
        pair_free(&x), pair_free(&m);
    }
}

/* ---- batch normalization ------------------------------------------------ */

static void bn_case(int rows, int cols, bool affine)
{
    size_t n = (size_t)rows * cols;
    float *xv = rnd(n, -1, 1);
    for (size_t i = 0; i < n; i++)
        xv[i] += 5.0f + (float)(i % cols); /* far from zero: the shifted variance matters */
    pair x = pair_new(n, xv), y = pair_new(n, NULL), gm = pair_rnd(cols, 0.5f, 1.5f),
         bt = pair_rnd(cols, -1, 1), mu = pair_new(cols, NULL), var = pair_new(cols, NULL);
    free(xv);
    C->ops->batchnorm_forward(C, true, &x.c, rows, cols, affine ? &gm.c : NULL,
                              affine ? &bt.c : NULL, &mu.c, &var.c, 1e-3f, &y.c, NULL);
    G->ops->batchnorm_forward(G, true, &x.g, rows, cols, affine ? &gm.g : NULL,
                              affine ? &bt.g : NULL, &mu.g, &var.g, 1e-3f, &y.g, NULL);
    char what[80];
    snprintf(what, sizeof what, "batchnorm %dx%d batch mean", rows, cols);
    expect_close(what, &mu, 1e-6);
    snprintf(what, sizeof what, "batchnorm %dx%d batch variance", rows, cols);
    expect_close(what, &var, 1e-5);
    snprintf(what, sizeof what, "batchnorm %dx%d training output", rows, cols);
    expect_close(what, &y, RTOL);
    pair dy = pair_rnd(n, -1, 1), dx = pair_new(n, NULL), dg = pair_new(cols, NULL),
         db = pair_new(cols, NULL);
    C->ops->batchnorm_backward(C, &x.c, &dy.c, rows, cols, affine ? &gm.c : NULL, &mu.c, &var.c,
                               1e-3f, &dx.c, affine ? &dg.c : NULL, affine ? &db.c : NULL, NULL);
    G->ops->batchnorm_backward(G, &x.g, &dy.g, rows, cols, affine ? &gm.g : NULL, &mu.g, &var.g,
                               1e-3f, &dx.g, affine ? &dg.g : NULL, affine ? &db.g : NULL, NULL);
    snprintf(what, sizeof what, "batchnorm %dx%d input gradient", rows, cols);
    expect_close(what, &dx, RTOL);
    if (affine) {
        expect_close("batchnorm gamma gradient", &dg, RTOL);
        expect_close("batchnorm beta gradient", &db, RTOL);
    }
    /* parameter gradients alone (a frozen input), then inference */
    C->ops->batchnorm_backward(C, &x.c, &dy.c, rows, cols, &gm.c, &mu.c, &var.c, 1e-3f, NULL,
                               &dg.c, &db.c, NULL);
    G->ops->batchnorm_backward(G, &x.g, &dy.g, rows, cols, &gm.g, &mu.g, &var.g, 1e-3f, NULL,
                               &dg.g, &db.g, NULL);
    expect_close("batchnorm gamma gradient without dx", &dg, RTOL);
    C->ops->batchnorm_forward(C, false, &x.c, rows, cols, &gm.c, &bt.c, &mu.c, &var.c, 1e-3f,
                              &y.c, NULL);
    G->ops->batchnorm_forward(G, false, &x.g, rows, cols, &gm.g, &bt.g, &mu.g, &var.g, 1e-3f,
                              &y.g, NULL);
    expect_close("batchnorm inference output", &y, RTOL);
    /* SyncBatchNormalization's path (one process: the sums stay as they
     * are), on both engines */
    nn_sum_hook one = {.sum = no_sum, .ctx = NULL};
    C->ops->batchnorm_forward(C, true, &x.c, rows, cols, &gm.c, &bt.c, &mu.c, &var.c, 1e-3f,
                              &y.c, &one);
    G->ops->batchnorm_forward(G, true, &x.g, rows, cols, &gm.g, &bt.g, &mu.g, &var.g, 1e-3f,
                              &y.g, &one);
    expect_close("synchronized batchnorm mean", &mu, 1e-6);
    expect_close("synchronized batchnorm variance", &var, 1e-5);
    expect_close("synchronized batchnorm output", &y, RTOL);
    C->ops->batchnorm_backward(C, &x.c, &dy.c, rows, cols, &gm.c, &mu.c, &var.c, 1e-3f, &dx.c,
                               &dg.c, &db.c, &one);
    G->ops->batchnorm_backward(G, &x.g, &dy.g, rows, cols, &gm.g, &mu.g, &var.g, 1e-3f, &dx.g,
                               &dg.g, &db.g, &one);
    expect_close("synchronized batchnorm input gradient", &dx, RTOL);
    expect_close("synchronized batchnorm gamma gradient", &dg, RTOL);
    pair_free(&x), pair_free(&y), pair_free(&gm), pair_free(&bt), pair_free(&mu);
    pair_free(&var), pair_free(&dy), pair_free(&dx), pair_free(&dg), pair_free(&db);
}

static void test_batchnorm(void **state)
{
    (void)state;
    NEED_DEVICE();
    bn_case(37, 13, true);
    bn_case(37, 13, false);
    bn_case(5000, 33, true); /* several chunks of rows */
    bn_case(1, 3, true);
}

/* ---- broadcasting and layer normalization ------------------------------ */

static void bcast_case(int outer, int mid, int inner)
{
    size_t n = (size_t)outer * mid * inner, gn = (size_t)outer * inner;
    pair x = pair_rnd(n, -2, 2), g = pair_rnd(gn, -1, 1), y = pair_new(n, NULL),
         dg = pair_rnd(gn, -1, 1);
    char what[120];
    for (int mul = 0; mul < 2; mul++) {
        C->ops->bcast_apply(C, mul, &x.c, &g.c, &y.c, outer, mid, inner);
        G->ops->bcast_apply(G, mul, &x.g, &g.g, &y.g, outer, mid, inner);
        snprintf(what, sizeof what, "bcast %s %dx%dx%d", mul ? "mul" : "add", outer, mid, inner);
        expect_close(what, &y, 1e-6);
    }
    C->ops->bcast_reduce(C, &x.c, &y.c, &dg.c, outer, mid, inner, 0.5f);
    G->ops->bcast_reduce(G, &x.g, &y.g, &dg.g, outer, mid, inner, 0.5f);
    snprintf(what, sizeof what, "bcast reduce of a product %dx%dx%d", outer, mid, inner);
    expect_close(what, &dg, RTOL);
    C->ops->bcast_reduce(C, &x.c, NULL, &dg.c, outer, mid, inner, 0.0f);
    G->ops->bcast_reduce(G, &x.g, NULL, &dg.g, outer, mid, inner, 0.0f);
    snprintf(what, sizeof what, "bcast reduce %dx%dx%d", outer, mid, inner);
    expect_close(what, &dg, RTOL);
    pair_free(&x), pair_free(&g), pair_free(&y), pair_free(&dg);
}

static void test_bcast(void **state)
{
    (void)state;
    NEED_DEVICE();
    bcast_case(3, 49, 17);   /* squeeze-excite: per sample and channel */
    bcast_case(1, 5000, 33); /* a per-channel scale over many rows */
    bcast_case(4, 300, 1);   /* a per-sample scalar */
}

static void ln_case(int rows, int cols, bool affine)
{
    size_t n = (size_t)rows * cols;
    float *xv = rnd(n, -1, 1);
    for (size_t i = 0; i < n; i++)
        xv[i] += 3.0f; /* far from zero: the two-pass variance matters */
    pair x = pair_new(n, xv), y = pair_new(n, NULL), gm = pair_rnd(cols, 0.5f, 1.5f),
         bt = pair_rnd(cols, -1, 1), mu = pair_new(rows, NULL), rs = pair_new(rows, NULL);
    free(xv);
    C->ops->layernorm_forward(C, &x.c, rows, cols, affine ? &gm.c : NULL, affine ? &bt.c : NULL,
                              1e-6f, &y.c, &mu.c, &rs.c);
    G->ops->layernorm_forward(G, &x.g, rows, cols, affine ? &gm.g : NULL, affine ? &bt.g : NULL,
                              1e-6f, &y.g, &mu.g, &rs.g);
    expect_close("layernorm mean", &mu, 1e-6);
    expect_close("layernorm 1 / std", &rs, 1e-5);
    expect_close("layernorm output", &y, RTOL);
    pair dy = pair_rnd(n, -1, 1), dx = pair_new(n, NULL), dg = pair_new(cols, NULL),
         db = pair_new(cols, NULL);
    C->ops->layernorm_backward(C, &x.c, &dy.c, rows, cols, affine ? &gm.c : NULL, &mu.c, &rs.c,
                               &dx.c, affine ? &dg.c : NULL, affine ? &db.c : NULL);
    G->ops->layernorm_backward(G, &x.g, &dy.g, rows, cols, affine ? &gm.g : NULL, &mu.g, &rs.g,
                               &dx.g, affine ? &dg.g : NULL, affine ? &db.g : NULL);
    expect_close("layernorm input gradient", &dx, RTOL);
    if (affine) {
        expect_close("layernorm gamma gradient", &dg, RTOL);
        expect_close("layernorm beta gradient", &db, RTOL);
    }
    pair_free(&x), pair_free(&y), pair_free(&gm), pair_free(&bt), pair_free(&mu);
    pair_free(&rs), pair_free(&dy), pair_free(&dx), pair_free(&dg), pair_free(&db);
}

static void test_layernorm(void **state)
{
    (void)state;
    NEED_DEVICE();
    ln_case(37, 13, true);
    ln_case(37, 13, false);
    ln_case(3000, 96, true);
}

/* ---- recurrent cells, sequences, embedding ------------------------------ */

static void test_swap_axes(void **state)
{
    (void)state;
    NEED_DEVICE();
    const int a = 5, b = 7, c = 3;
    pair s = pair_rnd((size_t)a * b * c, -1, 1), d = pair_new((size_t)a * b * c, NULL);
    for (int rev = 0; rev < 4; rev++) {
        C->ops->swap_axes(C, &s.c, &d.c, a, b, c, rev & 1, rev & 2);
        G->ops->swap_axes(G, &s.g, &d.g, a, b, c, rev & 1, rev & 2);
        expect_close("swap_axes", &d, 0.0);
    }
    pair_free(&s);
    pair_free(&d);
}

static void lstm_case(nn_act act, nn_act rec)
{
    const int rows = 5, U = 37;
    nn_rnn_cell cell = {.kind = NN_RNN_LSTM, .act = act, .rec_act = rec, .units = U};
    pair z = pair_rnd((size_t)rows * 4 * U, -3, 3), cp = pair_rnd((size_t)rows * U, -1, 1);
    pair gates = pair_new((size_t)rows * 4 * U, NULL), c = pair_new((size_t)rows * U, NULL),
         tc = pair_new((size_t)rows * U, NULL), h = pair_new((size_t)rows * U, NULL);
    C->ops->lstm_forward(C, &cell, &z.c, &cp.c, &gates.c, &c.c, &tc.c, &h.c, rows);
    G->ops->lstm_forward(G, &cell, &z.g, &cp.g, &gates.g, &c.g, &tc.g, &h.g, rows);
    expect_close("lstm gates", &gates, RTOL);
    expect_close("lstm cell", &c, RTOL);
    expect_close("lstm act(cell)", &tc, RTOL);
    expect_close("lstm h", &h, RTOL);
    pair dh = pair_rnd((size_t)rows * U, -1, 1), dc = pair_rnd((size_t)rows * U, -1, 1),
         dz = pair_new((size_t)rows * 4 * U, NULL);
    C->ops->lstm_backward(C, &cell, &z.c, &gates.c, &cp.c, &c.c, &tc.c, &dh.c, &dc.c, &dz.c, rows);
    G->ops->lstm_backward(G, &cell, &z.g, &gates.g, &cp.g, &c.g, &tc.g, &dh.g, &dc.g, &dz.g, rows);
    expect_close("lstm dz", &dz, RTOL);
    expect_close("lstm dc_prev", &dc, RTOL);
    pair_free(&z), pair_free(&cp), pair_free(&gates), pair_free(&c), pair_free(&tc);
    pair_free(&h), pair_free(&dh), pair_free(&dc), pair_free(&dz);
}

static void test_lstm(void **state)
{
    (void)state;
    NEED_DEVICE();
    lstm_case(NN_ACT_TANH, NN_ACT_SIGMOID);
    lstm_case(NN_ACT_RELU, NN_ACT_HARD_SIGMOID);
}

static void gru_case(bool reset_after)
{
    const int rows = 6, U = 37;
    const size_t n3 = (size_t)rows * 3 * U, n1 = (size_t)rows * U;
    nn_rnn_cell cell = {.kind = NN_RNN_GRU, .act = NN_ACT_TANH, .rec_act = NN_ACT_SIGMOID,
                        .units = U, .reset_after = reset_after};
    pair zx = pair_rnd(n3, -2, 2), zh = pair_rnd(n3, -2, 2), hp = pair_rnd(n1, -1, 1);
    pair gates = pair_new(n3, NULL), rh = pair_new(n1, NULL), h = pair_new(n1, NULL);
    C->ops->gru_gates(C, &cell, &zx.c, &zh.c, &hp.c, &gates.c, reset_after ? NULL : &rh.c, rows);
    G->ops->gru_gates(G, &cell, &zx.g, &zh.g, &hp.g, &gates.g, reset_after ? NULL : &rh.g, rows);
    expect_close("gru gates z, r", &gates, RTOL);
    if (!reset_after)
        expect_close("gru r * h", &rh, RTOL);
    C->ops->gru_output(C, &cell, &zx.c, &zh.c, &hp.c, &gates.c, &h.c, rows);
    G->ops->gru_output(G, &cell, &zx.g, &zh.g, &hp.g, &gates.g, &h.g, rows);
    expect_close("gru candidate (gates)", &gates, RTOL);
    expect_close("gru h", &h, RTOL);
    pair dh = pair_rnd(n1, -1, 1), dzx = pair_rnd(n3, -1, 1), dzh = pair_rnd(n3, -1, 1),
         dhp = pair_rnd(n1, -1, 1);
    C->ops->gru_backward(C, &cell, &zx.c, &zh.c, &hp.c, &gates.c, &dh.c, &dzx.c,
                         reset_after ? &dzh.c : NULL, &dhp.c, rows);
    G->ops->gru_backward(G, &cell, &zx.g, &zh.g, &hp.g, &gates.g, &dh.g, &dzx.g,
                         reset_after ? &dzh.g : NULL, &dhp.g, rows);
    if (reset_after) {
        expect_close("gru dzx (reset_after)", &dzx, RTOL);
        expect_close("gru dzh (reset_after)", &dzh, RTOL);
    } else {
        pair drh = pair_rnd(n1, -1, 1);
        C->ops->gru_reset_backward(C, &cell, &zx.c, &zh.c, &hp.c, &gates.c, &drh.c, &dzx.c,
                                   &dhp.c, rows);
        G->ops->gru_reset_backward(G, &cell, &zx.g, &zh.g, &hp.g, &gates.g, &drh.g, &dzx.g,
                                   &dhp.g, rows);
        expect_close("gru dzx (reset before)", &dzx, RTOL);
        pair_free(&drh);
    }
    expect_close("gru dh_prev", &dhp, RTOL);
    pair_free(&zx), pair_free(&zh), pair_free(&hp), pair_free(&gates), pair_free(&rh);
    pair_free(&h), pair_free(&dh), pair_free(&dzx), pair_free(&dzh), pair_free(&dhp);
}

static void test_gru(void **state)
{
    (void)state;
    NEED_DEVICE();
    gru_case(true);
    gru_case(false);
}

static void test_embedding(void **state)
{
    (void)state;
    NEED_DEVICE();
    const int vocab = 50, dim = 33;
    const size_t n = 300;
    float *ids = rnd(n, 0, (float)vocab);
    for (size_t i = 0; i < n; i++)
        ids[i] = floorf(ids[i]);
    ids[3] = -1.0f, ids[7] = (float)vocab, ids[11] = 1e9f; /* outside: zero rows */
    pair id = pair_new(n, ids), table = pair_rnd((size_t)vocab * dim, -1, 1),
         out = pair_rnd(n * dim, -1, 1);
    free(ids);
    C->ops->embedding_forward(C, &id.c, &table.c, &out.c, n, vocab, dim);
    G->ops->embedding_forward(G, &id.g, &table.g, &out.g, n, vocab, dim);
    expect_close("embedding lookup", &out, 0.0);
    pair dout = pair_rnd(n * dim, -1, 1);
    const float betas[3] = {0.0f, 1.0f, 0.5f};
    for (int k = 0; k < 3; k++) {
        C->ops->embedding_backward(C, &id.c, &dout.c, &table.c, n, vocab, dim, betas[k]);
        G->ops->embedding_backward(G, &id.g, &dout.g, &table.g, n, vocab, dim, betas[k]);
        expect_close("embedding gradient (sums in id order)", &table, 1e-6);
    }
    pair_free(&id), pair_free(&table), pair_free(&out), pair_free(&dout);
}

/* ---- training through nnctl --------------------------------------------- */

/* $NNCTL (default build-gpu/nnctl) as an absolute path: the training runs
 * in its data directory */
static const char *nnctl_path(void)
{
    static char abs[4096];
    const char *p = getenv("NNCTL");
    if (!p || !*p)
        p = "build-gpu/nnctl";
    if (!realpath(p, abs))
        snprintf(abs, sizeof abs, "%s", p);
    return abs;
}

/* Runs a shell command; returns its exit status, its stderr in err. */
static int run_cmd(const char *cmd, char *err, size_t cap)
{
    char full[8192], errfile[] = "/tmp/nnctl-gpu-test-err.XXXXXX";
    int fd = mkstemp(errfile);
    assert_true(fd >= 0);
    close(fd);
    snprintf(full, sizeof full, "%s 2>%s", cmd, errfile);
    int st = system(full);
    FILE *f = fopen(errfile, "r");
    size_t got = f ? fread(err, 1, cap - 1, f) : 0;
    err[got] = '\0';
    if (f)
        fclose(f);
    unlink(errfile);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* 12x12 images of three classes (a bright top half, left half, or
 * checkerboard) with noise, as IDX files in dir. */
static void write_idx(const char *dir, int n)
{
    char path[4200];
    unsigned char hdr[16];
    snprintf(path, sizeof path, "%s/img.idx", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const uint32_t h[4] = {0x803, (uint32_t)n, 12, 12};
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            hdr[4 * i + b] = (unsigned char)(h[i] >> (24 - 8 * b));
    fwrite(hdr, 1, 16, f);
    unsigned char *labels = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        int c = (int)nn_rng_below(&R, 3);
        labels[i] = (unsigned char)c;
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 12; x++) {
                bool on = c == 0 ? y < 6 : (c == 1 ? x < 6 : (x + y) % 2 == 0);
                int v = (on ? 170 : 60) + (int)nn_rng_below(&R, 81) - 40;
                fputc(v, f);
            }
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/lab.idx", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    const uint32_t lh[2] = {0x801, (uint32_t)n};
    for (int i = 0; i < 2; i++)
        for (int b = 0; b < 4; b++)
            hdr[4 * i + b] = (unsigned char)(lh[i] >> (24 - 8 * b));
    fwrite(hdr, 1, 8, f);
    fwrite(labels, 1, (size_t)n, f);
    fclose(f);
    free(labels);
}

static void write_spec(const char *path, const char *layers, const char *optimizer)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "model: { name = \"gpu_check\"; input = { shape = [12, 12, 1]; };\n"
            "  layers = ( %s ); };\n"
            "data: { train = { format = \"idx\"; images = \"img.idx\"; labels = \"lab.idx\"; };\n"
            "  scale = 255.0; one_hot = true; validation_split = 0.25; };\n"
            "train: { loss = \"categorical_crossentropy\"; optimizer = %s;\n"
            "  metrics = [\"accuracy\"]; epochs = 4; batch_size = 24; seed = 7; };\n",
            layers, optimizer);
    fclose(f);
}

/* history.csv's loss and val_loss columns (2 per epoch) */
static int read_history(const char *path, double *out, int cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int n = 0;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return 0;
    }
    while (n + 2 <= cap && fgets(line, sizeof line, f)) {
        double epoch, loss, acc, val_loss;
        if (sscanf(line, "%lf,%lf,%lf,%lf", &epoch, &loss, &acc, &val_loss) == 4)
            out[n++] = loss, out[n++] = val_loss;
    }
    fclose(f);
    return n;
}

static void train_both(const char *dir, const char *name, const char *layers,
                       const char *optimizer)
{
    char spec[4200], cmd[8192], err[4096], hist[2][4200];
    snprintf(spec, sizeof spec, "%s/%s.cfg", dir, name);
    write_spec(spec, layers, optimizer);
    const char *engines[2] = {"cpu", self_check ? "cpu" : "gpu"};
    for (int k = 0; k < 2; k++) {
        snprintf(hist[k], sizeof hist[k], "%s/%s-%d/history.csv", dir, name, k);
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && NNCTL_DATA='%s' '%s' train '%s' --engine %s --threads 1 --quiet "
                 "--run-dir '%s/%s-%d' >/dev/null",
                 dir, dir, nnctl_path(), spec, engines[k], dir, name, k);
        int rc = run_cmd(cmd, err, sizeof err);
        if (rc != 0)
            fail_msg("%s on %s: nnctl exited %d: %s", name, engines[k], rc, err);
    }
    double c[64], g[64];
    int nc = read_history(hist[0], c, 64), ng = read_history(hist[1], g, 64);
    assert_true(nc == 8 && ng == nc);
    for (int i = 0; i < nc; i++) {
        printf("    %s epoch %d %-8s cpu %.6f gpu %.6f\n", name, i / 2 + 1,
               i % 2 ? "val_loss" : "loss", c[i], g[i]);
        if (!(fabs(g[i] - c[i]) <= 2e-3 * fabs(c[i]) + 1e-5))
            fail_msg("%s: epoch %d %s: cpu %.6f, gpu %.6f (2e-3 relative)", name, i / 2 + 1,
                     i % 2 ? "val_loss" : "loss", c[i], g[i]);
    }
    assert_true(c[6] < c[0]); /* it learned */
}

static void test_training(void **state)
{
    (void)state;
    NEED_DEVICE();
    char dir[] = "/tmp/nnctl-gpu-train.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_idx(dir, 480);
    train_both(dir, "mlp",
               "{ type = \"flatten\"; }, { type = \"dense\"; units = 32; activation = \"relu\"; },"
               "{ type = \"dropout\"; rate = 0.2; },"
               "{ type = \"dense\"; units = 3; activation = \"softmax\"; }",
               "{ type = \"rmsprop\"; lr = 0.001; }");
    train_both(dir, "cnn",
               "{ type = \"conv2d\"; filters = 6; kernel_size = 3; padding = \"same\";"
               "  activation = \"relu\"; },"
               "{ type = \"conv2d\"; filters = 8; kernel_size = 3; strides = 2;"
               "  activation = \"relu\"; },"
               "{ type = \"max_pooling2d\"; pool_size = 2; }, { type = \"dropout\"; rate = 0.25; },"
               "{ type = \"flatten\"; }, { type = \"dense\"; units = 3; activation = \"softmax\"; }",
               "{ type = \"adadelta\"; lr = 1.0; rho = 0.95; epsilon = 1e-7; }");
    char cmd[4200], err[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd, err, sizeof err);
}

/* ---- mixed precision --------------------------------------------------- */

static bool runs(nn_engine *e, nn_precision p)
{
    char why[256];
    bool ok = e->ops->precision_supported(e, p, why, sizeof why);
    if (!ok && e == G)
        printf("    %s on the %s engine: not here (%s)\n", nn_precision_policy(p),
               e->ops->name, why);
    return ok;
}

static double low_rtol(nn_precision p) { return p == NN_PREC_BFLOAT16 ? 4e-2 : 5e-3; }

static void test_mixed_gemm(void **state)
{
    (void)state;
    NEED_DEVICE();
    const nn_precision ps[2] = {NN_PREC_BFLOAT16, NN_PREC_FLOAT16};
    int ran = 0;
    for (int k = 0; k < 2; k++) {
        nn_precision p = ps[k];
        if (!runs(G, p))
            continue;
        ran++;
        G->precision = p;
        const double rtol = low_rtol(p);
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            const int M = 37, N = 29, K = 53;
            pair A = pair_rnd((size_t)M * K, -1, 1), B = pair_rnd((size_t)K * N, -1, 1),
                 Cm = pair_rnd((size_t)M * N, -1, 1);
            B.c.weights = B.g.weights = true; /* converted once per update */
            char what[120];
            C->ops->gemm(C, ta, tb, M, N, K, 0.7f, &A.c, &B.c, 0.3f, &Cm.c);
            G->ops->gemm(G, ta, tb, M, N, K, 0.7f, &A.g, &B.g, 0.3f, &Cm.g);
            snprintf(what, sizeof what, "%s gemm ta=%d tb=%d vs float32",
                     nn_precision_policy(p), ta, tb);
            expect_close(what, &Cm, rtol);
            /* new weights, by upload and by an update: no stale copy */
            float *v = rnd(B.n, -1, 1);
            C->ops->upload(C, &B.c, v, B.n);
            G->ops->upload(G, &B.g, v, B.n);
            free(v);
            C->ops->gemm(C, ta, tb, M, N, K, 1.0f, &A.c, &B.c, 0.0f, &Cm.c);
            G->ops->gemm(G, ta, tb, M, N, K, 1.0f, &A.g, &B.g, 0.0f, &Cm.g);
            snprintf(what, sizeof what, "%s gemm after new weights (upload)",
                     nn_precision_policy(p));
            expect_close(what, &Cm, rtol);
            pair gB = pair_rnd(B.n, -1, 1), slot = pair_new(B.n, NULL);
            nn_opt_step st = {.kind = NN_OPT_SGD, .lr = 0.5f};
            nn_tensor *sc[3] = {&slot.c, NULL, NULL}, *sg[3] = {&slot.g, NULL, NULL};
            C->ops->opt_update(C, &st, &B.c, &gB.c, sc, B.n);
            G->ops->opt_update(G, &st, &B.g, &gB.g, sg, B.n);
            C->ops->gemm(C, ta, tb, M, N, K, 1.0f, &A.c, &B.c, 0.0f, &Cm.c);
            G->ops->gemm(G, ta, tb, M, N, K, 1.0f, &A.g, &B.g, 0.0f, &Cm.g);
            snprintf(what, sizeof what, "%s gemm after an update (opt_update)",
                     nn_precision_policy(p));
            expect_close(what, &Cm, rtol);
            if (p == NN_PREC_BFLOAT16 && runs(C, p)) {
                /* the same rounding on both engines: fp32 accumulation order only */
                C->precision = p;
                C->ops->gemm(C, ta, tb, M, N, K, 1.0f, &A.c, &B.c, 0.0f, &Cm.c);
                G->ops->gemm(G, ta, tb, M, N, K, 1.0f, &A.g, &B.g, 0.0f, &Cm.g);
                C->precision = NN_PREC_FLOAT32;
                expect_close("bf16 gemm vs the CPU engine's bf16", &Cm, RTOL);
            }
            pair_free(&A), pair_free(&B), pair_free(&Cm), pair_free(&gB), pair_free(&slot);
        }
        G->precision = NN_PREC_FLOAT32;
    }
    if (!ran)
        skip();
}

static void test_mixed_conv(void **state)
{
    (void)state;
    NEED_DEVICE();
    const nn_precision ps[2] = {NN_PREC_BFLOAT16, NN_PREC_FLOAT16};
    int ran = 0;
    for (int k = 0; k < 2; k++) {
        if (!runs(G, ps[k]))
            continue;
        ran++;
        printf("    %s convolutions vs float32 (rtol %.0e)\n", nn_precision_policy(ps[k]),
               low_rtol(ps[k]));
        G->precision = ps[k];
        conv_cases_on(G, low_rtol(ps[k]));
        if (ps[k] == NN_PREC_BFLOAT16 && runs(C, ps[k])) {
            printf("    bf16 convolutions vs the CPU engine's bf16 (rtol %.0e)\n", RTOL);
            C->precision = ps[k];
            conv_cases_on(G, RTOL);
            C->precision = NN_PREC_FLOAT32;
        }
        G->precision = NN_PREC_FLOAT32;
    }
    if (!ran)
        skip();
}

static void test_mixed_training(void **state)
{
    (void)state;
    NEED_DEVICE();
    char dir[] = "/tmp/nnctl-gpu-mixed.XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_idx(dir, 480);
    char spec[4200], cmd[8192], err[4096], hist[4200];
    snprintf(spec, sizeof spec, "%s/cnn.cfg", dir);
    write_spec(spec,
               "{ type = \"conv2d\"; filters = 6; kernel_size = 3; padding = \"same\";"
               "  activation = \"relu\"; },"
               "{ type = \"max_pooling2d\"; pool_size = 2; }, { type = \"flatten\"; },"
               "{ type = \"dense\"; units = 16; activation = \"relu\"; },"
               "{ type = \"dense\"; units = 3; activation = \"softmax\"; }",
               "{ type = \"adam\"; lr = 0.003; }");
    const char *precs[3] = {"float32", "mixed_float16", "mixed_bfloat16"};
    const nn_precision ids[3] = {NN_PREC_FLOAT32, NN_PREC_FLOAT16, NN_PREC_BFLOAT16};
    double ref[64];
    int nref = 0, ran = 0;
    for (int k = 0; k < 3; k++) {
        if (k > 0 && !runs(G, ids[k]))
            continue;
        const char *engine = k == 0 || self_check ? "cpu" : "gpu";
        snprintf(hist, sizeof hist, "%s/cnn-%s/history.csv", dir, precs[k]);
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && NNCTL_DATA='%s' '%s' train '%s' --engine %s --precision %s "
                 "--threads 1 --quiet --run-dir '%s/cnn-%s' >/dev/null",
                 dir, dir, nnctl_path(), spec, engine, precs[k], dir, precs[k]);
        int rc = run_cmd(cmd, err, sizeof err);
        if (rc != 0)
            fail_msg("%s on %s: nnctl exited %d: %s", precs[k], engine, rc, err);
        double got[64];
        int n = read_history(hist, got, 64);
        if (k == 0) {
            memcpy(ref, got, sizeof ref);
            nref = n;
            continue;
        }
        ran++;
        assert_true(n == nref && n >= 4);
        for (int i = 0; i < n; i++) {
            printf("    cnn epoch %d %-8s float32 %.6f %s %.6f\n", i / 2 + 1,
                   i % 2 ? "val_loss" : "loss", ref[i], precs[k], got[i]);
            if (!(fabs(got[i] - ref[i]) <= 5e-2 * fabs(ref[i]) + 1e-4))
                fail_msg("%s: epoch %d %s: float32 %.6f, %s %.6f (5e-2 relative)", precs[k],
                         i / 2 + 1, i % 2 ? "val_loss" : "loss", ref[i], precs[k], got[i]);
        }
        assert_true(got[n - 2] < got[0]); /* it learned */
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd, err, sizeof err);
    if (!ran)
        skip();
}

/* ---- without a device --------------------------------------------------- */

/* Engine creation says what is missing, in one line, and the way out. */
static void test_no_device_message(void **state)
{
    (void)state;
    if (G) /* a device is here: nothing is missing */
        NN_SKIP_GPU("a CUDA device is here: the no-device path cannot be checked");
    assert_non_null(strstr(no_device, "engine 'gpu'"));
    assert_non_null(strstr(no_device, "no CUDA device"));
    assert_non_null(strstr(no_device, "--engine cpu"));
    assert_null(strchr(no_device, '\n'));
}

/* nnctl train --engine gpu: exit status 1 and one line on stderr. */
static void test_no_device_nnctl(void **state)
{
    (void)state;
    if (G)
        NN_SKIP_GPU("a CUDA device is here: the no-device path cannot be checked");
    char dir[] = "/tmp/nnctl-gpu-nodev.XXXXXX", spec[4200], cmd[8192], err[4096];
    assert_non_null(mkdtemp(dir));
    snprintf(spec, sizeof spec, "%s/s.cfg", dir);
    FILE *f = fopen(spec, "w");
    assert_non_null(f);
    fputs("model: { input = { shape = [4]; }; layers = ({ type = \"dense\"; units = 2; }); };\n"
          "train: { loss = \"mse\"; optimizer = { type = \"sgd\"; lr = 0.1; }; };\n",
          f);
    fclose(f);
    for (int k = 0; k < 2; k++) {
        if (k == 0)
            snprintf(cmd, sizeof cmd, "'%s' train '%s' --engine gpu --run-dir '%s/r' >/dev/null",
                     nnctl_path(), spec, dir);
        else /* the spec's own engine = "gpu" */
            snprintf(cmd, sizeof cmd,
                     "'%s' train '%s' --set train.engine=gpu --run-dir '%s/r' >/dev/null",
                     nnctl_path(), spec, dir);
        int rc = run_cmd(cmd, err, sizeof err);
        printf("    exit %d: %s", rc, err);
        assert_int_equal(rc, 1);
        char *nl = strchr(err, '\n');
        assert_true(nl && nl[1] == '\0'); /* exactly one line */
        assert_non_null(strstr(err, "no CUDA device"));
        assert_non_null(strstr(err, "--engine cpu"));
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    run_cmd(cmd, err, sizeof err);
}

/* --version names the GPU engine's libraries, device or not. */
static void test_version(void **state)
{
    (void)state;
    char cmd[4200], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' --version", nnctl_path());
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = '\0';
    assert_int_equal(pclose(p), 0);
    printf("%s", out);
    assert_non_null(strstr(out, "cpu (OpenBLAS"));
    assert_non_null(strstr(out, "gpu (CUDA runtime "));
    assert_non_null(strstr(out, "cuDNN 9."));
    assert_non_null(strstr(out, G && !self_check ? " device" : "no CUDA device"));
}

static int setup(void **state)
{
    (void)state;
    nn_error err;
    nn_rng_seed(&R, 2024, 99);
    if (nn_engine_create("cpu", 1, &C, &err)) {
        fprintf(stderr, "cpu engine: %s\n", err.msg);
        return -1;
    }
    const char *sc = getenv("GPU_TEST_SELF_CHECK");
    self_check = sc && !strcmp(sc, "1");
    if (self_check) {
        printf("test_gpu_engine: GPU_TEST_SELF_CHECK=1: the CPU engine plays the GPU\n");
        return nn_engine_create("cpu", 1, &G, &err) ? -1 : 0;
    }
    if (nn_engine_create("gpu", 1, &G, &err)) {
        G = NULL;
        snprintf(no_device, sizeof no_device, "%s", err.msg);
        printf("test_gpu_engine: SKIPPED the GPU comparisons and the training check: %s\n",
               err.msg);
        printf("test_gpu_engine: checking the no-device path instead\n");
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nn_engine_destroy(C);
    nn_engine_destroy(G);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),      cmocka_unit_test(test_no_device_message),
        cmocka_unit_test(test_no_device_nnctl), cmocka_unit_test(test_memory),
        cmocka_unit_test(test_gemm),         cmocka_unit_test(test_bias),
        cmocka_unit_test(test_activations),  cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_device_peak),
        cmocka_unit_test(test_comm_one_rank),
        cmocka_unit_test(test_elementwise),  cmocka_unit_test(test_losses),
        cmocka_unit_test(test_metrics),      cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_optimizers),   cmocka_unit_test(test_conv),
        cmocka_unit_test(test_conv_direct),
        cmocka_unit_test(test_depthwise),    cmocka_unit_test(test_pool),
        cmocka_unit_test(test_upsample),     cmocka_unit_test(test_mask_rows),
        cmocka_unit_test(test_batchnorm),    cmocka_unit_test(test_swap_axes),
        cmocka_unit_test(test_bcast),        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_lstm),         cmocka_unit_test(test_gru),
        cmocka_unit_test(test_embedding),    cmocka_unit_test(test_training),
        cmocka_unit_test(test_mixed_gemm),   cmocka_unit_test(test_mixed_conv),
        cmocka_unit_test(test_mixed_training),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

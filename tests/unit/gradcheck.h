/* Shared by the finite-difference gradient tests: the engine fixture,
 * tolerances, a deterministic random source (independent of the engine's
 * RNG) and host copies of tensors. Include after <cmocka.h>; define
 * GC_THREADS and GC_SEED first to change the defaults. */
#ifndef NN_TESTS_GRADCHECK_H
#define NN_TESTS_GRADCHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "model/model.h"
#include "spec/spec.h"

#ifndef GC_THREADS
#define GC_THREADS 2
#endif
#ifndef GC_SEED
#define GC_SEED 0x9E3779B97F4A7C15ULL
#endif

/* Two criteria, both must hold.
 * Element by element: |a - n| <= TOL_ABS + TOL_REL * |n|. It must allow the
 * float32 noise of one central difference (the objective's rounding over
 * 2h: up to a few 1e-4 on models with many outputs), so alone it misses
 * small errors (a gradient 15% off passes on elements near 0.014).
 * Over each whole tensor: the relative error ||a - n|| / ||n|| (2-norms)
 * <= GC_TENSOR_REL. The noise is independent from element to element and
 * averages out there, while a gradient off by 1% everywhere (a wrong
 * constant, a missing small term) has a relative error of 1e-2: the check
 * also verifies, for every tensor, that the analytic gradient scaled by
 * 1.01 would fail it (else it says that it cannot see a 1% error). */
#define TOL_ABS 2e-3
#define TOL_REL 1e-2
#define GC_TENSOR_REL 5e-3
#define GC_TENSOR_MIN_RMS 1e-3

static nn_engine *E;

static inline int setup(void **state)
{
    (void)state;
    nn_error err;
    return nn_engine_create("cpu", GC_THREADS, &E, &err) == NN_OK ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    nn_engine_destroy(E);
    E = NULL;
    return 0;
}

/* The tensor criterion: check_close feeds every (analytic, numeric) pair
 * to gc_tensor_add under its tensor's name; gc_tensor_flush (when the name
 * changes, and at the end of a check) judges the finished tensor. Returns
 * the number of failures it printed. */
static struct {
    char what[1400];
    double a2, n2, e2, e2_1pct; /* sums of squares */
    size_t n;
    double worst_rel;           /* over the tensors flushed so far */
} gc_t;

static inline int gc_tensor_flush(void)
{
    int failures = 0;
    /* a tensor whose gradient is 0 (a bias before batch normalization)
     * or at the noise's scale has no relative error to speak of: the
     * element criterion judges it */
    if (gc_t.n > 0 && sqrt(gc_t.n2 / (double)gc_t.n) > GC_TENSOR_MIN_RMS) {
        double rel = sqrt(gc_t.e2 / gc_t.n2), rel1 = sqrt(gc_t.e2_1pct / gc_t.n2);
        if (rel > gc_t.worst_rel)
            gc_t.worst_rel = rel;
        if (!(rel <= GC_TENSOR_REL)) {
            print_error("%s: relative error over the tensor %.3g > %.3g (%zu values)\n", gc_t.what,
                        rel, GC_TENSOR_REL, gc_t.n);
            failures++;
        } else if (!(rel1 > GC_TENSOR_REL)) {
            print_error("%s: an analytic gradient 1%% off would pass (relative error %.3g): the "
                        "check cannot see it\n",
                        gc_t.what, rel1);
            failures++;
        }
    }
    gc_t.what[0] = '\0';
    gc_t.a2 = gc_t.n2 = gc_t.e2 = gc_t.e2_1pct = 0.0;
    gc_t.n = 0;
    return failures;
}

/* Forgets a tensor left half checked (by a test that failed and jumped
 * out): each test starts afresh. */
static inline void gc_tensor_reset(void)
{
    memset(&gc_t, 0, sizeof gc_t);
}

static inline int gc_tensor_add(const char *what, double analytic, double numeric)
{
    int failures = 0;
    if (strncmp(what, gc_t.what, sizeof gc_t.what - 1) != 0) {
        failures = gc_tensor_flush();
        snprintf(gc_t.what, sizeof gc_t.what, "%s", what);
    }
    gc_t.a2 += analytic * analytic;
    gc_t.n2 += numeric * numeric;
    gc_t.e2 += (analytic - numeric) * (analytic - numeric);
    gc_t.e2_1pct += (1.01 * analytic - numeric) * (1.01 * analytic - numeric);
    gc_t.n++;
    return failures;
}

/* deterministic uniform in [lo, hi) (an LCG) and standard normal */
static uint64_t g_seed = GC_SEED;
static inline double urand(double lo, double hi)
{
    g_seed = g_seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + (hi - lo) * (double)(g_seed >> 11) / 9007199254740992.0;
}
static inline double nrand(void)
{
    double u = urand(1e-12, 1.0), v = urand(0.0, 1.0);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* A 1-D engine tensor of n floats, filled from src when not NULL. */
static inline nn_tensor tnew(size_t n, const float *src)
{
    nn_tensor t;
    nn_error err;
    int shape[1] = {(int)n};
    assert_int_equal(E->ops->alloc(E, &t, 1, shape, &err), NN_OK);
    if (src)
        E->ops->upload(E, &t, src, n);
    return t;
}

static inline float *falloc(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    return p;
}

/* a host copy of the first n values of t; caller frees */
static inline float *dl(const nn_tensor *t, size_t n)
{
    float *h = falloc(n);
    E->ops->download(E, h, t, n);
    return h;
}

/* A model from spec text ("model = { input = ...; layers = (...); };") on E,
 * with the input and everything downstream of it needing a gradient (from
 * the spec only nodes after trainable parameters would), planned for
 * plan_batch rows. Fails the test with the spec's error. */
static inline void gc_model_from_text(const char *text, const char *name, int plan_batch,
                                      nn_spec **spec, nn_model **m)
{
    nn_error err;
    nn_spec_node *ms;
    if (nn_spec_load_string(spec, text, name, &err) != NN_OK ||
        nn_spec_group(nn_spec_root(*spec), "model", true, &ms, &err) != NN_OK ||
        nn_model_from_spec(ms, m, &err) != NN_OK || nn_model_alloc(*m, E, 0, &err) != NN_OK) {
        print_error("model %s: %s\n", text, err.msg);
        fail();
    }
    (*m)->input->needs_grad = true;
    for (int i = 0; i < (*m)->n_nodes; i++)
        for (int k = 0; k < (*m)->nodes[i]->n_in; k++)
            (*m)->nodes[i]->needs_grad |= (*m)->nodes[i]->in[k]->needs_grad;
    if (nn_model_plan(*m, plan_batch, &err) != NN_OK) {
        print_error("plan %s: %s\n", text, err.msg);
        fail();
    }
}

#endif

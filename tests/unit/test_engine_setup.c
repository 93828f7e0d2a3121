/* How the CPU engine sets itself up, which start-up time depends on:
 *
 *   - OpenBLAS and oneDNN are not loaded when the engine is made, only by
 *     the first product (OpenBLAS) and the first convolution (oneDNN): a
 *     command that never computes never maps them (checked in the process's
 *     own list of loaded objects, dl_iterate_phdr);
 *   - OpenBLAS runs the kernel set the CPU's features allow, not the SSE3
 *     fallback it picks on CPUs it does not know (on a CPU with AVX2 and
 *     FMA its core name is not Prescott, Core2, Nehalem or Unknown);
 *   - every thread of the engine flushes denormals to zero (MXCSR FTZ and
 *     DAZ), though only the creating thread sets it: libgomp's threads
 *     inherit it;
 *   - a layer's weights are put in oneDNN's layout once per update: a
 *     forward and a backward pass with the same weights reorder them once,
 *     an update (opt_update) makes the next pass reorder again; the same for
 *     their bf16 copies in mixed_bfloat16 products (where the CPU has bf16).
 *
 * Broken by hand to see these fail: -lopenblas linked again (the first
 * check), the MXCSR set in the creating thread after the first parallel
 * region, the weights' version ignored by the reorder cache. */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <link.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <xmmintrin.h>

#include "engine/cpu/cpu_internal.h"
#include "engine/engine.h"

static int find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *want = data;
    return info->dlpi_name && strstr(info->dlpi_name, want) ? 1 : 0;
}

static bool loaded(const char *name)
{
    return dl_iterate_phdr(find_lib, (void *)name) == 1;
}

static nn_tensor tensor(nn_engine *e, int rows, int cols, float v)
{
    nn_tensor t;
    nn_error err;
    int shape[2] = {rows, cols};
    assert_int_equal(e->ops->alloc(e, &t, 2, shape, &err), NN_OK);
    e->ops->fill(e, &t, v, t.size);
    return t;
}

/* make SANITIZE=1 links OpenBLAS and oneDNN (LeakSanitizer and dlopen'ed
 * TLS: Makefile): then neither their lazy loading nor the kernel choice
 * made before loading can be checked */
static bool linked_blas;

static void test_lazy_libraries(void **state)
{
    (void)state;
    if (linked_blas) {
        /* make SANITIZE=1 links them (LeakSanitizer and dlopen'ed TLS: see
         * the Makefile); any other build must not */
#ifdef __SANITIZE_ADDRESS__
        print_message("sanitizer build: OpenBLAS and oneDNN are linked, loaded at start\n");
        return;
#else
        fail_msg("OpenBLAS was loaded before anything computed (linked?)");
#endif
    }
    assert_false(loaded("libdnnl"));
    nn_engine *e;
    nn_error err;
    assert_int_equal(nn_engine_create("cpu", 2, &e, &err), NN_OK);
    assert_false(loaded("libopenblas"));
    assert_false(loaded("libdnnl"));
    /* a product of at most 4 rows and under 2 MFLOP (one image through a
     * Dense layer) is the engine's own: OpenBLAS stays unloaded */
    nn_tensor a = tensor(e, 4, 3, 1.0f), b = tensor(e, 3, 5, 2.0f), c = tensor(e, 4, 5, 0.0f);
    e->ops->gemm(e, false, false, 4, 5, 3, 1.0f, &a, &b, 0.0f, &c);
    float out[20];
    e->ops->download(e, out, &c, 20);
    assert_true(out[0] == 6.0f && out[19] == 6.0f);
    assert_false(loaded("libopenblas"));
    /* 5 rows: OpenBLAS's, loaded now */
    nn_tensor a5 = tensor(e, 5, 3, 1.0f), c5 = tensor(e, 5, 5, 0.0f);
    e->ops->gemm(e, false, false, 5, 5, 3, 1.0f, &a5, &b, 0.0f, &c5);
    float out5[25];
    e->ops->download(e, out5, &c5, 25);
    assert_true(out5[0] == 6.0f && out5[24] == 6.0f);
    assert_true(loaded("libopenblas"));
    assert_false(loaded("libdnnl"));
    if (nn_cpu_dnnl_of(e)) { /* a build with oneDNN, not NNCTL_CONV=im2col */
        nn_conv_geom g = {.n = 1, .h = 4, .w = 4, .c = 1, .kh = 3, .kw = 3, .f = 2, .sh = 1,
                          .sw = 1, .dh = 1, .dw = 1, .oh = 2, .ow = 2};
        nn_tensor x = tensor(e, 1, 16, 1.0f), w = tensor(e, 9, 2, 0.5f), y = tensor(e, 1, 8, 0);
        int wsn[1] = {(int)e->ops->conv_workspace(e, &g) + 1};
        nn_tensor ws;
        assert_int_equal(e->ops->alloc(e, &ws, 1, wsn, &err), NN_OK);
        e->ops->conv2d_forward(e, &g, &x, &w, NULL, NN_ACT_LINEAR, &y, &ws);
        e->ops->download(e, out, &y, 8);
        assert_true(out[0] == 4.5f && out[7] == 4.5f);
        assert_true(loaded("libdnnl"));
        e->ops->free(e, &x);
        e->ops->free(e, &w);
        e->ops->free(e, &y);
        e->ops->free(e, &ws);
    }
    e->ops->free(e, &a);
    e->ops->free(e, &b);
    e->ops->free(e, &c);
    e->ops->free(e, &a5);
    e->ops->free(e, &c5);
    nn_engine_destroy(e);
}

static void test_blas_kernels(void **state)
{
    (void)state;
    if (linked_blas) {
        /* the sanitizer build links OpenBLAS: it chose its kernels as it
         * loaded, before nnctl could; the kernels it runs are still named */
        char buf[1024];
        nn_engine_describe(buf, sizeof buf);
        assert_non_null(strstr(buf, " kernels"));
        return;
    }
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")))
        skip();
    char buf[1024];
    nn_engine_describe(buf, sizeof buf);
    /* "cpu (OpenBLAS 0.3.21 with SkylakeX kernels; ..." */
    const char *with = strstr(buf, " with ");
    assert_non_null(with);
    char core[64] = "";
    sscanf(with + 6, "%63s", core);
    print_message("OpenBLAS kernels: %s\n", core);
    const char *fallback[] = {"Prescott", "Core2", "Nehalem", "Unknown"};
    for (int i = 0; i < 4; i++)
        assert_true(strcasecmp(core, fallback[i]) != 0);
}

static void test_denormals_every_thread(void **state)
{
    (void)state;
    nn_engine *e;
    nn_error err;
    assert_int_equal(nn_engine_create("cpu", 4, &e, &err), NN_OK);
    int ok = 0, team = 0;
#pragma omp parallel num_threads(4) reduction(+ : ok, team)
    {
        team += 1;
        ok += (_mm_getcsr() & 0x8040) == 0x8040;
    }
    assert_true(team > 1);
    assert_int_equal(ok, team);
    nn_engine_destroy(e);
}

/* forward, backward data, forward again: one reorder while the weights
 * stand; after opt_update, one more */
static void reorders_once(nn_precision prec)
{
    nn_engine *e;
    nn_error err;
    assert_int_equal(nn_engine_create("cpu", 2, &e, &err), NN_OK);
    nn_cpu_dnnl *d = nn_cpu_dnnl_of(e);
    char why[256] = "";
    if (!e->ops->precision_supported(e, prec, why, sizeof why)) {
        /* no bf16 here (or oneDNN off): the engine says why, in one line */
        print_message("%s not here: %s\n", nn_precision_policy(prec), why);
        assert_true(why[0] != '\0' && !strchr(why, '\n'));
        nn_engine_destroy(e);
        return;
    }
    e->precision = prec;
    nn_conv_geom g = {.n = 2, .h = 6, .w = 6, .c = 8, .kh = 3, .kw = 3, .f = 16, .sh = 1,
                      .sw = 1, .dh = 1, .dw = 1, .oh = 4, .ow = 4};
    nn_tensor x = tensor(e, 2, 6 * 6 * 8, 0.25f), w = tensor(e, 9 * 8, 16, 0.5f);
    nn_tensor y = tensor(e, 2, 4 * 4 * 16, 0.0f), dx = tensor(e, 2, 6 * 6 * 8, 0.0f);
    w.weights = true;
    nn_tensor_touch(&w);
    int wsn[1] = {(int)e->ops->conv_workspace(e, &g) + 1};
    nn_tensor ws;
    assert_int_equal(e->ops->alloc(e, &ws, 1, wsn, &err), NN_OK);
    long packs0, reorders0, packs, reorders;
    nn_cpu_dnnl_weight_counts(d, &packs0, &reorders0);
    e->ops->conv2d_forward(e, &g, &x, &w, NULL, NN_ACT_LINEAR, &y, &ws);
    e->ops->conv2d_backward_data(e, &g, &y, &w, &dx, &ws);
    e->ops->conv2d_forward(e, &g, &x, &w, NULL, NN_ACT_LINEAR, &y, &ws);
    e->ops->conv2d_backward_data(e, &g, &y, &w, &dx, &ws);
    nn_cpu_dnnl_weight_counts(d, &packs, &reorders);
    /* one per pass (forward's layout, backward data's); none without oneDNN
     * (NNCTL_CONV=im2col: im2col reads Keras's layout as it is) */
    const long per = d ? 1 : 0;
    assert_int_equal(reorders - reorders0, 2 * per);
    nn_opt_step s = {.kind = NN_OPT_SGD, .lr = 0.1f};
    nn_tensor gw = tensor(e, 9 * 8, 16, 1.0f), slot = tensor(e, 9 * 8, 16, 0.0f);
    nn_tensor *slots[3] = {&slot, NULL, NULL};
    e->ops->opt_update(e, &s, &w, &gw, slots, w.size);
    e->ops->conv2d_forward(e, &g, &x, &w, NULL, NN_ACT_LINEAR, &y, &ws);
    e->ops->conv2d_forward(e, &g, &x, &w, NULL, NN_ACT_LINEAR, &y, &ws);
    nn_cpu_dnnl_weight_counts(d, &packs, &reorders);
    assert_int_equal(reorders - reorders0, 3 * per);
    /* the products' bf16 copies: once per update too */
    nn_tensor a = tensor(e, 5, 9 * 8, 1.0f), c = tensor(e, 5, 16, 0.0f);
    nn_cpu_dnnl_weight_counts(d, &packs0, &reorders0);
    e->ops->gemm(e, false, false, 5, 16, 9 * 8, 1.0f, &a, &w, 0.0f, &c);
    e->ops->gemm(e, false, false, 5, 16, 9 * 8, 1.0f, &a, &w, 0.0f, &c);
    e->ops->opt_update(e, &s, &w, &gw, slots, w.size);
    e->ops->gemm(e, false, false, 5, 16, 9 * 8, 1.0f, &a, &w, 0.0f, &c);
    nn_cpu_dnnl_weight_counts(d, &packs, &reorders);
    assert_int_equal(packs - packs0, prec == NN_PREC_BFLOAT16 ? 2 : 0);
    nn_tensor *all[] = {&x, &w, &y, &dx, &ws, &gw, &slot, &a, &c};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        e->ops->free(e, all[i]);
    nn_engine_destroy(e);
}

static void test_weights_reordered_once_fp32(void **state)
{
    (void)state;
    reorders_once(NN_PREC_FLOAT32);
}

static void test_weights_reordered_once_bf16(void **state)
{
    (void)state;
    reorders_once(NN_PREC_BFLOAT16);
}

int main(void)
{
    /* the lazy-loading check first: nothing in this process has computed yet */
    linked_blas = loaded("libopenblas");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_libraries),
        cmocka_unit_test(test_blas_kernels),
        cmocka_unit_test(test_denormals_every_thread),
        cmocka_unit_test(test_weights_reordered_once_fp32),
        cmocka_unit_test(test_weights_reordered_once_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

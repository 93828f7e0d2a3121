/* Unit tests for src/plugin/: loading (every refusal one clear message
 * naming the file, no crash), what a plugin registers, its settings read
 * with the spec's errors, and the example F1 metric against a hand count.
 * The plugins are built by the Makefile into NN_PLUGIN_DIR. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "layers/common.h"
#include "layers/registry.h"
#include "model/model.h"
#include "objectives/metrics.h"
#include "plugin/loader.h"
#include "spec/spec.h"
#include "train/callbacks/callback.h"

#ifndef NN_PLUGIN_DIR
#define NN_PLUGIN_DIR "build/plugins"
#endif

static const char *so(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s.so", NN_PLUGIN_DIR, name);
    return path;
}

/* Loading name fails with a message holding every string given. */
static void refused(const char *name, ...)
{
    nn_error err = {0};
    assert_int_not_equal(nn_plugin_load(so(name), &err), NN_OK);
    assert_non_null(strstr(err.msg, so(name)));
    va_list ap;
    va_start(ap, name);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.msg, want))
            fail_msg("loading %s: \"%s\" not in: %s", name, want, err.msg);
    va_end(ap);
}

static void test_abi_and_entry_point_refusals(void **state)
{
    (void)state;
    refused("bad_abi_major", "ABI 2.0", "this nnctl has ABI 1.", "major version must match",
            NULL);
    refused("bad_abi_minor", "ABI 1.99", "newer than this nnctl's", NULL);
    refused("bad_no_entry", "no entry point nnctl_plugin_init", NULL);
    refused("bad_no_declare", "before NNCTL_DECLARE_PLUGIN", NULL);
    refused("bad_init_error", "(init_error)", "cannot read its lookup table", NULL);
    refused("bad_duplicate", "layer type \"dense\" is already registered", NULL);
    /* none of them left a type behind under their names */
    assert_null(nn_reg_type_find("undeclared"));
    assert_ptr_equal(nn_layer_type_find("dense")->plugin, NULL);
    nn_error err = {0};
    assert_int_not_equal(nn_plugin_load(NN_PLUGIN_DIR "/no_such_plugin.so", &err), NN_OK);
    assert_non_null(strstr(err.msg, "no such file"));
}

static void test_examples_register_their_types(void **state)
{
    (void)state;
    nn_error err = {0};
    const char *names[] = {"orthogonal_reg", "loss_history", "f1_metric", "swish_beta",
                           "pseudo_huber"};
    for (int i = 0; i < 5; i++)
        if (nn_plugin_load(so(names[i]), &err))
            fail_msg("%s", err.msg);
    /* loading the same file again is no error and registers nothing twice */
    assert_int_equal(nn_plugin_load(so("swish_beta"), &err), NN_OK);
    const nn_layer_type *sb = nn_layer_type_find("swish_beta");
    assert_non_null(sb);
    assert_string_equal(sb->keras_class, "SwishBeta");
    assert_ptr_equal(nn_layer_type_for_keras("SwishBeta"), sb);
    assert_string_equal(sb->keras_module, "nnctl.plugins.swish_beta");
    assert_string_equal(sb->keys[0].name, "initial_beta");
    assert_non_null(nn_reg_type_find("orthogonal"));
    assert_ptr_equal(nn_reg_type_for_keras("OrthogonalPenalty"),
                     nn_reg_type_find("orthogonal"));
    assert_non_null(nn_callback_type_find("loss_history"));
    assert_non_null(nn_loss_find("pseudo_huber"));
    const nn_metric_type *f1 = NULL, *t;
    for (int i = 0; (t = nn_metric_type_at(i)); i++)
        if (!strcmp(t->name, "f1"))
            f1 = t;
    assert_non_null(f1);
    assert_true(f1->maximize);
}

/* A plugin layer with bad shape inference: the model build refuses it,
 * naming the layer. */
static void test_bad_shapes_refused_at_build(void **state)
{
    (void)state;
    nn_error err = {0};
    if (nn_plugin_load(so("bad_shapes"), &err))
        fail_msg("%s", err.msg);
    nn_spec *s;
    assert_int_equal(nn_spec_load_string(&s,
                                         "model = { input = { shape = [4]; }; layers = (\n"
                                         "  { type = \"zero_axis\"; name = \"z\"; } ); };",
                                         "bad.cfg", &err),
                     NN_OK);
    nn_spec_node *model;
    assert_int_equal(nn_spec_group(nn_spec_root(s), "model", true, &model, &err), NN_OK);
    nn_model *m = NULL;
    assert_int_not_equal(nn_model_from_spec(model, &m, &err), NN_OK);
    assert_non_null(strstr(err.msg, "'z'"));
    assert_non_null(strstr(err.msg, "output axis 1 of size 0"));
    nn_model_free(m);
    nn_spec_free(s);
}

/* A plugin's settings are read with the spec's getters: file:line, the
 * key path, did you mean. */
static void test_settings_errors(void **state)
{
    (void)state;
    nn_error err = {0};
    if (nn_plugin_load(so("swish_beta"), &err))
        fail_msg("%s", err.msg);
    const char *cases[][3] = {
        {"{ type = \"swish_beta\"; initial_bet = 2.0; }", "unknown key \"initial_bet\"",
         "did you mean \"initial_beta\""},
        {"{ type = \"swish_beta\";\n initial_beta = \"two\"; }", "s.cfg:3",
         "model.layers.[0].initial_beta"},
    };
    for (int i = 0; i < 2; i++) {
        char text[512];
        snprintf(text, sizeof text, "model = { input = { shape = [4]; }; layers = (\n  %s ); };",
                 cases[i][0]);
        nn_spec *s;
        assert_int_equal(nn_spec_load_string(&s, text, "s.cfg", &err), NN_OK);
        nn_spec_node *model;
        assert_int_equal(nn_spec_group(nn_spec_root(s), "model", true, &model, &err), NN_OK);
        nn_model *m = NULL;
        assert_int_not_equal(nn_model_from_spec(model, &m, &err), NN_OK);
        for (int k = 1; k < 3; k++)
            if (!strstr(err.msg, cases[i][k]))
                fail_msg("case %d: \"%s\" not in: %s", i, cases[i][k], err.msg);
        nn_model_free(m);
        nn_spec_free(s);
    }
}

/* The example F1 metric over two batches against a hand count: one unit
 * (threshold 0.5) and three classes (argmax, macro average). */
static void test_f1_metric_against_hand_count(void **state)
{
    (void)state;
    nn_error err = {0};
    if (nn_plugin_load(so("f1_metric"), &err))
        fail_msg("%s", err.msg);
    const nn_metric_type *f1 = NULL, *t;
    for (int i = 0; (t = nn_metric_type_at(i)); i++)
        if (!strcmp(t->name, "f1"))
            f1 = t;
    assert_non_null(f1);
    void *inst;
    assert_int_equal(f1->create(f1, NULL, &inst, &err), NN_OK);
    double state_[NN_METRIC_STATE_MAX] = {0};
    /* binary: predictions .9 .2 .6 .4 | .7 .1, truths 1 0 0 1 | 1 1
     * TP = 2 (.9, .7), FP = 1 (.6), FN = 2 (.4, .1): F1 = 4 / (4 + 1 + 2) */
    const float p1[] = {0.9f, 0.2f, 0.6f, 0.4f}, t1[] = {1, 0, 0, 1};
    const float p2[] = {0.7f, 0.1f}, t2[] = {1, 1};
    assert_int_equal(f1->update(f1, inst, state_, p1, t1, 4, 1, &err), NN_OK);
    assert_int_equal(f1->update(f1, inst, state_, p2, t2, 2, 1, &err), NN_OK);
    assert_true(fabs(f1->result(f1, inst, state_) - 4.0 / 7.0) < 1e-12);
    /* three classes; rows (predicted, true): (0,0) (1,1) (1,0) (2,2) (2,1) (0,0)
     * class 0: TP 2, FP 0, FN 1 -> 4/5; class 1: TP 1, FP 1, FN 1 -> 2/4;
     * class 2: TP 1, FP 1, FN 0 -> 2/3; macro: (0.8 + 0.5 + 2/3) / 3 */
    double st3[NN_METRIC_STATE_MAX] = {0};
    const float p3[] = {.8f, .1f, .1f, .2f, .7f, .1f, .1f, .6f, .3f,
                        .1f, .2f, .7f, .3f, .3f, .4f, .5f, .4f, .1f};
    const float t3[] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0};
    assert_int_equal(f1->update(f1, inst, st3, p3, t3, 6, 3, &err), NN_OK);
    assert_true(fabs(f1->result(f1, inst, st3) - (0.8 + 0.5 + 2.0 / 3.0) / 3.0) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_and_entry_point_refusals),
        cmocka_unit_test(test_examples_register_their_types),
        cmocka_unit_test(test_bad_shapes_refused_at_build),
        cmocka_unit_test(test_settings_errors),
        cmocka_unit_test(test_f1_metric_against_hand_count),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nn_plugins_release();
    return rc;
}

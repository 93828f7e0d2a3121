/* Unit tests for src/spec/: getters, errors with file:line and key paths,
 * unknown keys, overrides, round trips. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/spec.h"

/* line numbers matter: each line of this text is numbered in the comment */
static const char *MNIST =
    "model = {\n"                                 /* 1 */
    "  name = \"mlp\";\n"                         /* 2 */
    "  layers = (\n"                              /* 3 */
    "    { type = \"dense\"; units = 128; },\n"   /* 4 */
    "    { type = \"dropout\"; rate = 0.5; },\n"  /* 5 */
    "    { type = \"dense\"; units = -3; }\n"     /* 6 */
    "  );\n"                                      /* 7 */
    "};\n"                                        /* 8 */
    "train = {\n"                                 /* 9 */
    "  epochs = 10;\n"                            /* 10 */
    "  lr = 1;\n"                                 /* 11 */
    "  momentum = 0.9;\n"                         /* 12 */
    "  shuffle = true;\n"                         /* 13 */
    "  optimizer = { type = \"adamm\"; };\n"      /* 14 */
    "  kernel = [3, 3];\n"                        /* 15 */
    "  metrics = [\"accuracy\", \"mse\"];\n"      /* 16 */
    "  half = 0.5;\n"                             /* 17 */
    "  flag = 1;\n"                               /* 18 */
    "  big = 5000000000L;\n"                      /* 19 */
    "  metric = \"accuracy\";\n"                  /* 20 */
    "  unitz = 3;\n"                              /* 21 */
    "  zzzzzz = 3;\n"                             /* 22 */
    "};\n";                                       /* 23 */

typedef struct {
    nn_spec *s;
    nn_spec_node *root, *model, *train;
    nn_error err;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(nn_spec_load_string(&f->s, MNIST, "mnist.cfg", &f->err), NN_OK);
    f->root = nn_spec_root(f->s);
    assert_int_equal(nn_spec_group(f->root, "model", true, &f->model, &f->err), NN_OK);
    assert_int_equal(nn_spec_group(f->root, "train", true, &f->train, &f->err), NN_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nn_spec_free(f->s);
    free(f);
    return 0;
}

#define assert_msg(f, expected) assert_string_equal((f)->err.msg, expected)
#define assert_msg_has(f, part)                                                                \
    do {                                                                                       \
        if (!strstr((f)->err.msg, part))                                                       \
            fail_msg("message \"%s\" lacks \"%s\"", (f)->err.msg, part);                      \
    } while (0)

/* ---- getters ----------------------------------------------------------- */

static void test_int(void **state)
{
    fixture *f = *state;
    long long v = 0;
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_int_equal(v, 10);
    assert_int_equal(nn_spec_int(f->train, "big", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_true(v == 5000000000LL);
    /* absent, optional: the default */
    assert_int_equal(nn_spec_int(f->train, "batch", false, 32, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_int_equal(v, 32);
    /* absent, required */
    assert_int_equal(nn_spec_int(f->train, "batch", true, 32, 1, LLONG_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"batch\"");
    /* a float where an integer is expected */
    assert_int_equal(nn_spec_int(f->train, "half", true, 0, LLONG_MIN, LLONG_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:17: train.half: expected an integer, got 0.5");
    assert_int_equal(nn_spec_int(f->train, "metric", true, 0, LLONG_MIN, LLONG_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:20: train.metric: expected an integer, got \"accuracy\"");
    /* ranges */
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, LLONG_MIN, 5, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected an integer <= 5, got 10");
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 11, 20, &v, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected an integer between 11 and 20, got 10");
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 10, 10, &v, &f->err), NN_OK);
}

static void test_int_in_list_element(void **state)
{
    fixture *f = *state;
    nn_spec_node *layers, *l2;
    long long v;
    assert_int_equal(nn_spec_list(f->model, "layers", true, &layers, &f->err), NN_OK);
    assert_int_equal(nn_spec_length(layers), 3);
    assert_string_equal(nn_spec_node_path(layers), "model.layers");
    assert_int_equal(nn_spec_elem_group(layers, 2, &l2, &f->err), NN_OK);
    assert_string_equal(nn_spec_node_path(l2), "model.layers.[2]");
    assert_int_equal(nn_spec_int(l2, "units", true, 0, 1, LLONG_MAX, &v, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:6: model.layers.[2].units: expected an integer >= 1, got -3");
    assert_int_equal(nn_spec_elem_group(layers, 3, &l2, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:3: model.layers: no element [3] (the list has 3)");
    /* a scalar is not a list, a list element not a group */
    nn_spec_node *n;
    assert_int_equal(nn_spec_list(f->train, "epochs", true, &n, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected a list ( ... ) or an array [ ... ], got 10");
    nn_spec_node *kernel;
    assert_int_equal(nn_spec_list(f->train, "kernel", true, &kernel, &f->err), NN_OK);
    assert_int_equal(nn_spec_elem_group(kernel, 0, &n, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:15: train.kernel.[0]: expected a group { ... }, got 3");
    /* absent optional list */
    assert_int_equal(nn_spec_list(f->train, "nothing", false, &n, &f->err), NN_OK);
    assert_null(n);
    assert_int_equal(nn_spec_length(n), 0);
    assert_int_equal(nn_spec_list(f->train, "nothing", true, &n, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"nothing\"");
}

static void test_group(void **state)
{
    fixture *f = *state;
    nn_spec_node *g, *g2;
    assert_int_equal(nn_spec_group(f->train, "optimizer", true, &g, &f->err), NN_OK);
    assert_string_equal(nn_spec_node_path(g), "train.optimizer");
    /* the same node both times */
    assert_int_equal(nn_spec_group(f->train, "optimizer", true, &g2, &f->err), NN_OK);
    assert_ptr_equal(g, g2);
    assert_int_equal(nn_spec_group(f->train, "callbacks", false, &g, &f->err), NN_OK);
    assert_null(g);
    assert_int_equal(nn_spec_group(f->train, "callbacks", true, &g, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"callbacks\"");
    assert_int_equal(nn_spec_group(f->train, "epochs", true, &g, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected a group { ... }, got 10");
    assert_int_equal(nn_spec_group(f->root, "nothing", true, &g, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg: missing required key \"nothing\"");
}

static void test_float(void **state)
{
    fixture *f = *state;
    double v = 0;
    assert_int_equal(nn_spec_float(f->train, "momentum", true, 0, 0, 1, &v, &f->err), NN_OK);
    assert_true(v == 0.9);
    /* an integer is accepted where a float is expected */
    assert_int_equal(nn_spec_float(f->train, "lr", true, 0, 0, INFINITY, &v, &f->err), NN_OK);
    assert_true(v == 1.0);
    assert_int_equal(nn_spec_float(f->train, "big", true, 0, 0, INFINITY, &v, &f->err), NN_OK);
    assert_true(v == 5e9);
    assert_int_equal(nn_spec_float(f->train, "decay", false, 0.25, 0, 1, &v, &f->err), NN_OK);
    assert_true(v == 0.25);
    assert_int_equal(nn_spec_float(f->train, "decay", true, 0.25, 0, 1, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"decay\"");
    assert_int_equal(nn_spec_float(f->train, "metric", true, 0, -INFINITY, INFINITY, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:20: train.metric: expected a number, got \"accuracy\"");
    assert_int_equal(nn_spec_float(f->train, "momentum", true, 0, 0, 0.5, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:12: train.momentum: expected a number between 0 and 0.5, got 0.9");
    assert_int_equal(nn_spec_float(f->train, "lr", true, 0, 2, DBL_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:11: train.lr: expected a number >= 2, got 1");
    assert_int_equal(nn_spec_float(f->train, "momentum", true, 0, -DBL_MAX, 0.1, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:12: train.momentum: expected a number <= 0.1, got 0.9");
}

static void test_bool_and_string(void **state)
{
    fixture *f = *state;
    bool b = false;
    const char *s = NULL;
    assert_int_equal(nn_spec_bool(f->train, "shuffle", true, false, &b, &f->err), NN_OK);
    assert_true(b);
    assert_int_equal(nn_spec_bool(f->train, "nope", false, true, &b, &f->err), NN_OK);
    assert_true(b);
    assert_int_equal(nn_spec_bool(f->train, "flag", true, false, &b, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:18: train.flag: expected true or false, got 1");
    assert_int_equal(nn_spec_bool(f->train, "nope", true, false, &b, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"nope\"");

    assert_int_equal(nn_spec_string(f->model, "name", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "mlp");
    assert_int_equal(nn_spec_string(f->model, "nope", false, NULL, &s, &f->err), NN_OK);
    assert_null(s);
    assert_int_equal(nn_spec_string(f->model, "nope", false, "dflt", &s, &f->err), NN_OK);
    assert_string_equal(s, "dflt");
    assert_int_equal(nn_spec_string(f->train, "epochs", true, NULL, &s, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected a string, got 10");
    assert_int_equal(nn_spec_string(f->train, "optimizer", true, NULL, &s, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:14: train.optimizer: expected a string, got a group");
    assert_int_equal(nn_spec_string(f->train, "nope", true, NULL, &s, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"nope\"");
}

static const char *const OPTIMIZERS[] = {"sgd", "rmsprop", "adam", "adagrad", NULL};

static void test_choice(void **state)
{
    fixture *f = *state;
    nn_spec_node *opt;
    int i = -5;
    assert_int_equal(nn_spec_group(f->train, "optimizer", true, &opt, &f->err), NN_OK);
    assert_int_equal(nn_spec_choice(opt, "type", true, OPTIMIZERS, -1, &i, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:14: train.optimizer.type: unknown value \"adamm\"; did you mean "
                  "\"adam\"? (one of: sgd, rmsprop, adam, adagrad)");
    assert_int_equal(nn_spec_choice(f->train, "metric", true, OPTIMIZERS, -1, &i, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:20: train.metric: unknown value \"accuracy\" (one of: sgd, rmsprop, "
                  "adam, adagrad)");
    assert_int_equal(nn_spec_choice(f->train, "epochs", true, OPTIMIZERS, -1, &i, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected a string (one of: sgd, rmsprop, adam, "
                  "adagrad), got 10");
    assert_int_equal(nn_spec_choice(f->train, "loss", false, OPTIMIZERS, 2, &i, &f->err), NN_OK);
    assert_int_equal(i, 2);
    assert_int_equal(nn_spec_choice(f->train, "loss", false, OPTIMIZERS, -1, &i, &f->err), NN_OK);
    assert_int_equal(i, -1);
    assert_int_equal(nn_spec_choice(f->train, "loss", true, OPTIMIZERS, -1, &i, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"loss\"");

    nn_spec *s;
    nn_error err;
    assert_int_equal(nn_spec_load_string(&s, "opt = \"rmsprop\";\n", "x.cfg", &err), NN_OK);
    assert_int_equal(nn_spec_choice(nn_spec_root(s), "opt", true, OPTIMIZERS, -1, &i, &err), NN_OK);
    assert_int_equal(i, 1);
    nn_spec_free(s);
}

static void test_int_array(void **state)
{
    fixture *f = *state;
    long long a[4];
    int n = -1;
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 1, LLONG_MAX, 4, a, &n, &f->err),
                     NN_OK);
    assert_int_equal(n, 2);
    assert_int_equal(a[0], 3);
    assert_int_equal(a[1], 3);
    /* a single integer is a one-element array */
    assert_int_equal(nn_spec_int_array(f->train, "epochs", true, 1, LLONG_MAX, 4, a, &n, &f->err),
                     NN_OK);
    assert_int_equal(n, 1);
    assert_int_equal(a[0], 10);
    assert_int_equal(nn_spec_int_array(f->train, "absent", false, 1, 9, 4, a, &n, &f->err), NN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(nn_spec_int_array(f->train, "absent", true, 1, 9, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"absent\"");
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 4, 9, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:15: train.kernel.[0]: expected an integer between 4 and 9, got 3");
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 1, 9, 1, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:15: train.kernel: expected at most 1 integer, got 2");
    assert_int_equal(nn_spec_int_array(f->train, "metrics", true, 1, 9, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:16: train.metrics.[0]: expected an integer, got \"accuracy\"");
    assert_int_equal(nn_spec_int_array(f->train, "half", true, 1, 9, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:17: train.half: expected an integer between 1 and 9 or an array of "
                  "them, got 0.5");
}

static void test_string_array(void **state)
{
    fixture *f = *state;
    const char *a[4];
    int n = -1;
    assert_int_equal(nn_spec_string_array(f->train, "metrics", true, 4, a, &n, &f->err), NN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(a[0], "accuracy");
    assert_string_equal(a[1], "mse");
    assert_int_equal(nn_spec_string_array(f->train, "metric", true, 4, a, &n, &f->err), NN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(a[0], "accuracy");
    assert_int_equal(nn_spec_string_array(f->train, "absent", false, 4, a, &n, &f->err), NN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(nn_spec_string_array(f->train, "absent", true, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train: missing required key \"absent\"");
    assert_int_equal(nn_spec_string_array(f->train, "kernel", true, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:15: train.kernel.[0]: expected a string, got 3");
    assert_int_equal(nn_spec_string_array(f->train, "metrics", true, 1, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:16: train.metrics: expected at most 1 string, got 2");
    assert_int_equal(nn_spec_string_array(f->train, "epochs", true, 4, a, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: expected a string or an array of strings, got 10");
}

/* ---- unknown keys ------------------------------------------------------ */

static void test_unknown_keys(void **state)
{
    fixture *f = *state;
    long long v;
    double d;
    bool b;
    const char *s;
    const char *a[4];
    long long ia[4];
    int n;
    nn_spec_node *g;
    /* ask for everything but unitz and zzzzzz */
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_int_equal(nn_spec_float(f->train, "lr", true, 0, 0, 1, &d, &f->err), NN_OK);
    assert_true(nn_spec_has(f->train, "momentum"));
    assert_false(nn_spec_has(f->train, "units")); /* known, but absent */
    assert_int_equal(nn_spec_bool(f->train, "shuffle", true, false, &b, &f->err), NN_OK);
    assert_int_equal(nn_spec_group(f->train, "optimizer", true, &g, &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 1, 9, 4, ia, &n, &f->err), NN_OK);
    assert_int_equal(nn_spec_string_array(f->train, "metrics", true, 4, a, &n, &f->err), NN_OK);
    /* errors still mark the key as known */
    assert_int_equal(nn_spec_int(f->train, "half", true, 0, 1, 9, &v, &f->err), NN_ERR_USAGE);
    assert_int_equal(nn_spec_bool(f->train, "flag", true, false, &b, &f->err), NN_ERR_USAGE);
    assert_int_equal(nn_spec_int(f->train, "big", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "metric", true, NULL, &s, &f->err), NN_OK);

    assert_int_equal(nn_spec_check_unknown(f->train, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:21: train: unknown key \"unitz\"; did you mean \"units\"?");
    assert_true(nn_spec_has(f->train, "unitz")); /* now known */
    assert_int_equal(nn_spec_check_unknown(f->train, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:22: train: unknown key \"zzzzzz\"");
    assert_true(nn_spec_has(f->train, "zzzzzz"));
    assert_int_equal(nn_spec_check_unknown(f->train, &f->err), NN_OK);

    /* the root, and a list element found twice */
    assert_int_equal(nn_spec_check_unknown(f->root, &f->err), NN_OK);
    nn_spec_node *layers, *l0;
    assert_int_equal(nn_spec_list(f->model, "layers", true, &layers, &f->err), NN_OK);
    assert_int_equal(nn_spec_elem_group(layers, 0, &l0, &f->err), NN_OK);
    assert_int_equal(nn_spec_string(l0, "type", true, NULL, &s, &f->err), NN_OK);
    assert_int_equal(nn_spec_check_unknown(l0, &f->err), NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:4: model.layers.[0]: unknown key \"units\""); /* nothing close */
}

static void test_unknown_key_in_element(void **state)
{
    (void)state;
    nn_spec *s;
    nn_error err;
    const char *text = "model = {\n"
                       "  layers = (\n"
                       "    { type = \"dense\";\n"
                       "      activation = \"relu\";\n"
                       "      unitz = 10; }\n"
                       "  );\n"
                       "};\n"
                       "modle = 1;\n";
    assert_int_equal(nn_spec_load_string(&s, text, "mnist.cfg", &err), NN_OK);
    nn_spec_node *root = nn_spec_root(s), *model, *layers, *l0, *again;
    const char *str;
    long long v;
    assert_int_equal(nn_spec_group(root, "model", true, &model, &err), NN_OK);
    assert_int_equal(nn_spec_list(model, "layers", true, &layers, &err), NN_OK);
    assert_int_equal(nn_spec_elem_group(layers, 0, &l0, &err), NN_OK);
    assert_int_equal(nn_spec_string(l0, "type", true, NULL, &str, &err), NN_OK);
    assert_int_equal(nn_spec_int(l0, "units", false, 1, 1, LLONG_MAX, &v, &err), NN_OK);
    /* asked again for the same element: same node, known keys accumulate */
    assert_int_equal(nn_spec_elem_group(layers, 0, &again, &err), NN_OK);
    assert_ptr_equal(l0, again);
    assert_int_equal(nn_spec_string(again, "activation", false, NULL, &str, &err), NN_OK);
    assert_int_equal(nn_spec_check_unknown(l0, &err), NN_ERR_USAGE);
    assert_string_equal(err.msg,
                        "mnist.cfg:5: model.layers.[0]: unknown key \"unitz\"; did you mean "
                        "\"units\"?");
    assert_int_equal(nn_spec_check_unknown(root, &err), NN_ERR_USAGE);
    assert_string_equal(err.msg, "mnist.cfg:8: unknown key \"modle\"; did you mean \"model\"?");
    nn_spec_free(s);
}

/* ---- loading ----------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    (void)state;
    nn_spec *s = (nn_spec *)1;
    nn_error err;
    assert_int_equal(nn_spec_load_string(&s, "a = 1;\nb = 2\nc = ;\n", "bad.cfg", &err),
                     NN_ERR_USAGE);
    assert_null(s);
    assert_string_equal(err.msg, "bad.cfg:3: syntax error");
    assert_int_equal(nn_spec_load_string(&s, "a = 1;\nb = {\n  x = 2;\n  x = 3;\n};\n", "dup.cfg",
                                         &err),
                     NN_ERR_USAGE);
    assert_string_equal(err.msg, "dup.cfg:4: duplicate key \"x\" (a key may appear only once in "
                                 "a group)");
    assert_int_equal(nn_spec_load_string(&s, "a = 1; b = 2;\na = 3; c = 4;\n", "dup.cfg", &err),
                     NN_ERR_USAGE);
    assert_string_equal(err.msg, "dup.cfg:2: duplicate key (a key may appear only once in a "
                                 "group)");
    assert_int_equal(nn_spec_load_string(&s, "\n\na = [1, \"x\"];\n", "arr.cfg", &err),
                     NN_ERR_USAGE);
    assert_string_equal(err.msg, "arr.cfg:3: array elements must all have the same type (use a "
                                 "list ( ... ) for mixed values)");
}

static void test_load_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/nn_spec_testXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/run.cfg", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("# a comment\n"
          "train = {\n"
          "  epochs = 0;\n"
          "};\n",
          fp);
    fclose(fp);

    nn_spec *s;
    nn_error err;
    long long v;
    assert_int_equal(nn_spec_load_file(&s, path, &err), NN_OK);
    assert_string_equal(nn_spec_dir(s), dir);
    assert_string_equal(nn_spec_filename(s), path);
    nn_spec_node *train;
    assert_int_equal(nn_spec_group(nn_spec_root(s), "train", true, &train, &err), NN_OK);
    assert_int_equal(nn_spec_int(train, "epochs", true, 0, 1, LLONG_MAX, &v, &err), NN_ERR_USAGE);
    char want[512];
    snprintf(want, sizeof want, "%s:3: train.epochs: expected an integer >= 1, got 0", path);
    assert_string_equal(err.msg, want);
    nn_spec_free(s);

    /* a relative path, as typed */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(nn_spec_load_file(&s, "run.cfg", &err), NN_OK);
    assert_string_equal(nn_spec_dir(s), ".");
    assert_string_equal(nn_spec_filename(s), "run.cfg");
    nn_spec_free(s);
    assert_int_equal(chdir(cwd), 0);

    /* an @include'd file, named relative to the spec's directory */
    char inc[256];
    snprintf(inc, sizeof inc, "%s/layers.cfg", dir);
    fp = fopen(inc, "w");
    assert_non_null(fp);
    fputs("units = 8;\n\nrate = \"high\";\n", fp);
    fclose(fp);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("layer = {\n  @include \"layers.cfg\"\n};\n", fp);
    fclose(fp);
    assert_int_equal(nn_spec_load_file(&s, path, &err), NN_OK);
    nn_spec_node *layer;
    double d;
    assert_int_equal(nn_spec_group(nn_spec_root(s), "layer", true, &layer, &err), NN_OK);
    assert_int_equal(nn_spec_float(layer, "rate", true, 0, 0, 1, &d, &err), NN_ERR_USAGE);
    snprintf(want, sizeof want, "%s:3: layer.rate: expected a number, got \"high\"", inc);
    assert_string_equal(err.msg, want);
    nn_spec_free(s);
    unlink(inc);

    /* a syntax error in a file */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("a = 1;\nb = 2;\n\nc = = 3;\n", fp);
    fclose(fp);
    assert_int_equal(nn_spec_load_file(&s, path, &err), NN_ERR_USAGE);
    snprintf(want, sizeof want, "%s:4: syntax error", path);
    assert_string_equal(err.msg, want);
    unlink(path);
    rmdir(dir);

    assert_int_equal(nn_spec_load_file(&s, "no/such/x.cfg", &err), NN_ERR_USAGE);
    assert_string_equal(err.msg,
                        "cannot read spec file 'no/such/x.cfg': No such file or directory");

    /* strings have no directory */
    assert_int_equal(nn_spec_load_string(&s, "a = 1;", "inline", &err), NN_OK);
    assert_string_equal(nn_spec_dir(s), "");
    assert_string_equal(nn_spec_filename(s), "inline");
    nn_spec_free(s);
}

/* ---- overrides --------------------------------------------------------- */

static void test_override_existing_types(void **state)
{
    fixture *f = *state;
    long long v;
    double d;
    const char *s;
    bool b;
    /* int key given a float becomes a float */
    assert_int_equal(nn_spec_override(f->s, "train.epochs=0.01", &f->err), NN_OK);
    assert_int_equal(nn_spec_float(f->train, "epochs", true, 0, 0, 1, &d, &f->err), NN_OK);
    assert_true(d == 0.01);
    /* ... and the int getter then cites the override */
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 1, LLONG_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "--set train.epochs=0.01: train.epochs: expected an integer, got 0.01");
    /* int key given a bare word: a string, cited with the override */
    assert_int_equal(nn_spec_override(f->s, "train.epochs=abc", &f->err), NN_OK);
    assert_int_equal(nn_spec_int(f->train, "epochs", true, 0, 1, LLONG_MAX, &v, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "--set train.epochs=abc: train.epochs: expected an integer, got \"abc\"");
    /* int key given an int stays an int */
    assert_int_equal(nn_spec_override(f->s, "train.big=7", &f->err), NN_OK);
    assert_int_equal(nn_spec_int(f->train, "big", true, 0, 1, 9, &v, &f->err), NN_OK);
    assert_int_equal(v, 7);
    /* float key given an int stays a float */
    assert_int_equal(nn_spec_override(f->s, "train.momentum=5", &f->err), NN_OK);
    assert_int_equal(nn_spec_float(f->train, "momentum", true, 0, 0, 1, &d, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "--set train.momentum=5: train.momentum: expected a number between 0 and 1, "
                  "got 5.0");
    /* string key: the text, quotes stripped */
    assert_int_equal(nn_spec_override(f->s, "model.name=42", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->model, "name", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "42");
    assert_int_equal(nn_spec_override(f->s, "model.name = \"my net\"", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->model, "name", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "my net");
    /* bool key */
    assert_int_equal(nn_spec_override(f->s, "train.shuffle=false", &f->err), NN_OK);
    assert_int_equal(nn_spec_bool(f->train, "shuffle", true, true, &b, &f->err), NN_OK);
    assert_false(b);
    assert_int_equal(nn_spec_override(f->s, "train.shuffle=1", &f->err), NN_OK);
    assert_int_equal(nn_spec_bool(f->train, "shuffle", true, true, &b, &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.shuffle=1: train.shuffle: expected true or false, got 1");
    /* a string key turned into an int and back (type changes in place) */
    assert_int_equal(nn_spec_override(f->s, "train.metric=3", &f->err), NN_OK);
    assert_int_equal(nn_spec_override(f->s, "train.metric=x", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "metric", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "x");
}

static void test_override_new_keys(void **state)
{
    fixture *f = *state;
    nn_spec_node *cb, *tb;
    const char *s;
    long long v;
    double d;
    bool b;
    long long ia[4];
    const char *sa[4];
    int n;
    assert_int_equal(nn_spec_override(f->s, "train.callbacks.tensorboard.log_dir=tb", &f->err),
                     NN_OK);
    assert_int_equal(nn_spec_group(f->train, "callbacks", true, &cb, &f->err), NN_OK);
    assert_int_equal(nn_spec_group(cb, "tensorboard", true, &tb, &f->err), NN_OK);
    assert_int_equal(nn_spec_string(tb, "log_dir", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "tb");
    /* missing keys in a created group cite the override */
    assert_int_equal(nn_spec_int(tb, "freq", true, 0, 1, 9, &v, &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.callbacks.tensorboard.log_dir=tb: train.callbacks.tensorboard: "
                  "missing required key \"freq\"");

    /* inferred types */
    assert_int_equal(nn_spec_override(f->s, "train.a=12", &f->err), NN_OK);
    assert_int_equal(nn_spec_int(f->train, "a", true, 0, 1, 99, &v, &f->err), NN_OK);
    assert_int_equal(v, 12);
    assert_int_equal(nn_spec_override(f->s, "train.b=1e-3", &f->err), NN_OK);
    assert_int_equal(nn_spec_float(f->train, "b", true, 0, 0, 1, &d, &f->err), NN_OK);
    assert_true(d == 1e-3);
    assert_int_equal(nn_spec_override(f->s, "train.c=-2.5", &f->err), NN_OK);
    assert_int_equal(nn_spec_float(f->train, "c", true, 0, -9, 9, &d, &f->err), NN_OK);
    assert_true(d == -2.5);
    assert_int_equal(nn_spec_override(f->s, "train.d=true", &f->err), NN_OK);
    assert_int_equal(nn_spec_bool(f->train, "d", true, false, &b, &f->err), NN_OK);
    assert_true(b);
    assert_int_equal(nn_spec_override(f->s, "train.e=\"12\"", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "e", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "12");
    assert_int_equal(nn_spec_override(f->s, "train.f=hello world", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "f", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "hello world");
    assert_int_equal(nn_spec_override(f->s, "train.g=9000000000", &f->err), NN_OK);
    assert_int_equal(nn_spec_int(f->train, "g", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_true(v == 9000000000LL);
    /* arrays */
    assert_int_equal(nn_spec_override(f->s, "train.h=[1, 2, 3]", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "h", true, 1, 9, 4, ia, &n, &f->err), NN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ia[2], 3);
    assert_int_equal(nn_spec_override(f->s, "train.i=[a, \"b, c\"]", &f->err), NN_OK);
    assert_int_equal(nn_spec_string_array(f->train, "i", true, 4, sa, &n, &f->err), NN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(sa[0], "a");
    assert_string_equal(sa[1], "b, c");
    assert_int_equal(nn_spec_override(f->s, "train.j=[0.5, 1]", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "j", true, 0, 9, 4, ia, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "--set train.j=[0.5, 1]: train.j.[0]: expected an integer, got 0.5");
    assert_int_equal(nn_spec_override(f->s, "train.k=[1, x]", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "--set train.k=[1, x]: train.k: array elements must all have the same type");
    /* a failed --set creates nothing */
    assert_int_equal(nn_spec_override(f->s, "train.newg.k=[1, x]", &f->err), NN_ERR_USAGE);
    assert_false(nn_spec_has(f->train, "newg"));
    assert_int_equal(nn_spec_override(f->s, "train.newg.list.[0]=1", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.newg.list.[0]=1: train.newg: no such key");
    assert_false(nn_spec_has(f->train, "newg"));
    assert_int_equal(nn_spec_override(f->s, "train.l=[]", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "l", true, 0, 9, 4, ia, &n, &f->err), NN_OK);
    assert_int_equal(n, 0);
    /* an existing array replaced */
    assert_int_equal(nn_spec_override(f->s, "train.kernel=[5,5,5]", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 1, 9, 4, ia, &n, &f->err), NN_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ia[0], 5);
    /* a float array keeps its element type */
    assert_int_equal(nn_spec_override(f->s, "train.fa=[0.5, 1.5]", &f->err), NN_OK);
    assert_int_equal(nn_spec_override(f->s, "train.fa=[1, 2]", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "fa", true, 0, 9, 4, ia, &n, &f->err),
                     NN_ERR_USAGE);
    assert_msg(f, "--set train.fa=[1, 2]: train.fa.[0]: expected an integer, got 1.0");
    assert_int_equal(nn_spec_override(f->s, "train.fa.[1]=7", &f->err), NN_OK);
    nn_spec_node *fa;
    assert_int_equal(nn_spec_list(f->train, "fa", true, &fa, &f->err), NN_OK);
    assert_int_equal(nn_spec_length(fa), 2);
    /* an array element */
    assert_int_equal(nn_spec_override(f->s, "train.kernel.[1]=7", &f->err), NN_OK);
    assert_int_equal(nn_spec_int_array(f->train, "kernel", true, 1, 9, 4, ia, &n, &f->err), NN_OK);
    assert_int_equal(ia[1], 7);
    assert_int_equal(nn_spec_override(f->s, "train.kernel.[1]=0.5", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.kernel.[1]=0.5: train.kernel.[1]: expected an integer like the "
                  "array's other elements, got 0.5");

    /* created keys are still unknown keys until asked for */
    nn_spec_node *opt;
    assert_int_equal(nn_spec_override(f->s, "train.optimizer.lr_typo=1", &f->err), NN_OK);
    assert_int_equal(nn_spec_group(f->train, "optimizer", true, &opt, &f->err), NN_OK);
    assert_true(nn_spec_has(opt, "type"));
    assert_false(nn_spec_has(opt, "lr"));
    assert_int_equal(nn_spec_check_unknown(opt, &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.optimizer.lr_typo=1: train.optimizer: unknown key \"lr_typo\"");
}

static void test_override_list_paths(void **state)
{
    fixture *f = *state;
    double d;
    nn_spec_node *layers, *l1, *l2;
    assert_int_equal(nn_spec_override(f->s, "model.layers.[1].rate=0.3", &f->err), NN_OK);
    assert_int_equal(nn_spec_override(f->s, "model.layers[2].units=64", &f->err), NN_OK);
    assert_int_equal(nn_spec_list(f->model, "layers", true, &layers, &f->err), NN_OK);
    assert_int_equal(nn_spec_elem_group(layers, 1, &l1, &f->err), NN_OK);
    assert_int_equal(nn_spec_float(l1, "rate", true, 0, 0, 1, &d, &f->err), NN_OK);
    assert_true(d == 0.3);
    long long v;
    assert_int_equal(nn_spec_elem_group(layers, 2, &l2, &f->err), NN_OK);
    assert_int_equal(nn_spec_int(l2, "units", true, 0, 1, LLONG_MAX, &v, &f->err), NN_OK);
    assert_int_equal(v, 64);
    /* a new key inside a list element */
    assert_int_equal(nn_spec_override(f->s, "model.layers.[0].activation=relu", &f->err), NN_OK);
    /* a value that fails later cites the override */
    assert_int_equal(nn_spec_override(f->s, "model.layers.[1].rate=1.5", &f->err), NN_OK);
    assert_int_equal(nn_spec_float(l1, "rate", true, 0, 0, 1, &d, &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set model.layers.[1].rate=1.5: model.layers.[1].rate: expected a number "
                  "between 0 and 1, got 1.5");

    /* errors */
    assert_int_equal(nn_spec_override(f->s, "model.layers.[7].rate=0.3", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set model.layers.[7].rate=0.3: model.layers.[7]: no such element "
                  "(model.layers has 3)");
    assert_int_equal(nn_spec_override(f->s, "train.epochs.x=1", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.epochs.x=1: train.epochs: expected a group holding \"x\", got 10");
    assert_int_equal(nn_spec_override(f->s, "train.optimizer.[0]=1", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.optimizer.[0]=1: train.optimizer: expected a list to index with "
                  "[0], got a group");
    assert_int_equal(nn_spec_override(f->s, "train.nolist.[0].x=1", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set train.nolist.[0].x=1: train.nolist: no such list");
    assert_int_equal(nn_spec_override(f->s, "model.layers.[0]=5", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set model.layers.[0]=5: model.layers.[0]: cannot replace a group inside a "
                  "list; set its keys instead");
}

/* 1e999 reads as inf, which no spec text can hold: refused at its line or
 * its --set (a model file's stored spec must load again) */
static void test_numbers_beyond_float(void **state)
{
    fixture *f = *state;
    nn_spec *s = NULL;
    nn_error err;
    assert_int_equal(nn_spec_load_string(&s, "a = 1;\ng = { h = [1.0, -1e999]; };\n", "x.cfg", &err),
                     NN_ERR_USAGE);
    assert_null(s);
    if (!strstr(err.msg, "x.cfg:2: g.h.[1]: a number beyond a float's range"))
        fail_msg("%s", err.msg);
    assert_int_equal(nn_spec_load_string(&s, "a = 1e308;\n", "x.cfg", &err), NN_OK);
    nn_spec_free(s);
    assert_int_equal(nn_spec_override(f->s, "train.g=1e999", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "--set train.g=1e999: train.g: 1e999 is beyond a number's range");
    assert_false(nn_spec_has(f->train, "g")); /* no trace */
    assert_int_equal(nn_spec_override(f->s, "train.lr=-2e400", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "-2e400 is beyond");
    assert_int_equal(nn_spec_override(f->s, "train.h=[1, 1e400]", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "1e400 is beyond");
}

static void test_override_bad_format(void **state)
{
    fixture *f = *state;
    assert_int_equal(nn_spec_override(f->s, "foo", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set foo: expected key.path=value");
    assert_int_equal(nn_spec_override(f->s, "=3", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set =3: expected key.path=value");
    assert_int_equal(nn_spec_override(f->s, " = 3", &f->err), NN_ERR_USAGE);
    assert_msg(f, "--set  = 3: expected key.path=value");
    assert_int_equal(nn_spec_override(f->s, "a..b=3", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "--set a..b=3: bad key path \"a..b\"");
    assert_int_equal(nn_spec_override(f->s, "a.=3", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "--set a.=3: bad key path \"a.\"");
    assert_int_equal(nn_spec_override(f->s, "1a=3", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "bad key path \"1a\"");
    assert_int_equal(nn_spec_override(f->s, "a.[x]=3", &f->err), NN_ERR_USAGE);
    assert_msg_has(f, "bad key path \"a.[x]\"");
    /* an empty value is an empty string; '=' in the value is kept */
    const char *s;
    assert_int_equal(nn_spec_override(f->s, "train.p=a=b", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "p", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "a=b");
    assert_int_equal(nn_spec_override(f->s, "train.q=", &f->err), NN_OK);
    assert_int_equal(nn_spec_string(f->train, "q", true, NULL, &s, &f->err), NN_OK);
    assert_string_equal(s, "");
}

static void test_override_replaces_group(void **state)
{
    (void)state;
    nn_spec *s;
    nn_error err;
    long long v;
    assert_int_equal(nn_spec_load_string(&s, "a = 1;\ng = { x = 1; };\nb = 2;\n", "r.cfg", &err),
                     NN_OK);
    assert_int_equal(nn_spec_override(s, "g=5", &err), NN_OK);
    assert_int_equal(nn_spec_int(nn_spec_root(s), "g", true, 0, 1, 9, &v, &err), NN_OK);
    assert_int_equal(v, 5);
    /* scalar type changes keep the key's place */
    assert_int_equal(nn_spec_override(s, "a=0.5", &err), NN_OK);
    char *text;
    assert_int_equal(nn_spec_to_text(s, &text, &err), NN_OK);
    const char *pa = strstr(text, "a = 0.5"), *pb = strstr(text, "b = 2");
    assert_non_null(pa);
    assert_non_null(pb);
    assert_true(pa < pb);
    free(text);
    nn_spec_free(s);
}

/* ---- round trip, did you mean, custom errors --------------------------- */

static void test_to_text_round_trip(void **state)
{
    fixture *f = *state;
    assert_int_equal(nn_spec_override(f->s, "model.layers.[1].rate=0.25", &f->err), NN_OK);
    assert_int_equal(nn_spec_override(f->s, "train.callbacks.csv.path=\"h \\\"x\\\".csv\"",
                                      &f->err),
                     NN_OK);
    assert_int_equal(nn_spec_override(f->s, "train.lr=0.001", &f->err), NN_OK);
    char *text;
    assert_int_equal(nn_spec_to_text(f->s, &text, &f->err), NN_OK);
    nn_spec *s2;
    nn_error err;
    assert_int_equal(nn_spec_load_string(&s2, text, "stored", &err), NN_OK);
    free(text);

    nn_spec_node *root = nn_spec_root(s2), *model, *layers, *l, *train, *cb, *csv;
    double d;
    long long v;
    const char *str;
    assert_int_equal(nn_spec_group(root, "model", true, &model, &err), NN_OK);
    assert_int_equal(nn_spec_list(model, "layers", true, &layers, &err), NN_OK);
    assert_int_equal(nn_spec_length(layers), 3);
    assert_int_equal(nn_spec_elem_group(layers, 1, &l, &err), NN_OK);
    assert_int_equal(nn_spec_float(l, "rate", true, 0, 0, 1, &d, &err), NN_OK);
    assert_true(d == 0.25);
    assert_int_equal(nn_spec_elem_group(layers, 2, &l, &err), NN_OK);
    assert_int_equal(nn_spec_int(l, "units", true, 0, LLONG_MIN, LLONG_MAX, &v, &err), NN_OK);
    assert_int_equal(v, -3);
    assert_int_equal(nn_spec_group(root, "train", true, &train, &err), NN_OK);
    assert_int_equal(nn_spec_float(train, "lr", true, 0, 0, 1, &d, &err), NN_OK);
    assert_true(d == 0.001);
    assert_int_equal(nn_spec_int(train, "big", true, 0, 0, LLONG_MAX, &v, &err), NN_OK);
    assert_true(v == 5000000000LL);
    assert_int_equal(nn_spec_string(model, "name", true, NULL, &str, &err), NN_OK);
    assert_string_equal(str, "mlp");
    assert_int_equal(nn_spec_group(train, "callbacks", true, &cb, &err), NN_OK);
    assert_int_equal(nn_spec_group(cb, "csv", true, &csv, &err), NN_OK);
    assert_int_equal(nn_spec_string(csv, "path", true, NULL, &str, &err), NN_OK);
    assert_string_equal(str, "h \"x\".csv");
    nn_spec_free(s2);
}

static void test_did_you_mean(void **state)
{
    (void)state;
    const char *const c[] = {"units", "activation", "use_bias", "kernel_initializer"};
    assert_string_equal(nn_did_you_mean("unitz", c, 4), "units");
    assert_string_equal(nn_did_you_mean("Units", c, 4), "units");
    assert_string_equal(nn_did_you_mean("untis", c, 4), "units"); /* transposition */
    assert_string_equal(nn_did_you_mean("activaton", c, 4), "activation");
    assert_string_equal(nn_did_you_mean("kernel_initialiser", c, 4), "kernel_initializer");
    assert_null(nn_did_you_mean("dropout", c, 4));
    assert_null(nn_did_you_mean("x", c, 4));
    assert_null(nn_did_you_mean("u", (const char *const[]){"v"}, 1));
    assert_null(nn_did_you_mean("abc", c, 0));
}

static void test_spec_fail(void **state)
{
    fixture *f = *state;
    nn_spec_node *layers, *l;
    assert_int_equal(nn_spec_fail(f->train, "epochs", &f->err, NN_ERR_USAGE, "must divide %d", 7),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:10: train.epochs: must divide 7");
    assert_int_equal(nn_spec_fail(f->train, "absent", &f->err, NN_ERR_USAGE, "needed"),
                     NN_ERR_USAGE);
    assert_msg(f, "mnist.cfg:9: train.absent: needed");
    assert_int_equal(nn_spec_list(f->model, "layers", true, &layers, &f->err), NN_OK);
    assert_int_equal(nn_spec_elem_group(layers, 1, &l, &f->err), NN_OK);
    assert_int_equal(nn_spec_fail(l, NULL, &f->err, NN_ERR_RUNTIME, "bad layer"), NN_ERR_RUNTIME);
    assert_msg(f, "mnist.cfg:5: model.layers.[1]: bad layer");
    assert_int_equal(f->err.code, NN_ERR_RUNTIME);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_int, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_in_list_element, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_float, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bool_and_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_choice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_array, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test(test_unknown_key_in_element),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test_setup_teardown(test_override_existing_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_new_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_list_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_bad_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_beyond_float, setup, teardown),
        cmocka_unit_test(test_override_replaces_group),
        cmocka_unit_test_setup_teardown(test_to_text_round_trip, setup, teardown),
        cmocka_unit_test(test_did_you_mean),
        cmocka_unit_test_setup_teardown(test_spec_fail, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for src/experiments/runs.c: spec flattening, the diff of
 * flattened specs, history parsing and the comparison table, on hand-written
 * texts (no run directories needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/runs.h"

static const char *SPEC_A =
    "model = {\n"
    "  name = \"mlp\";\n"
    "  input = { shape = [784]; };\n"
    "  layers = (\n"
    "    { type = \"dense\"; units = 128; activation = \"relu\"; },\n"
    "    { type = \"dropout\"; rate = 0.2; },\n"
    "    { type = \"dense\"; units = 10; activation = \"softmax\"; }\n"
    "  );\n"
    "};\n"
    "data = { train = { images = \"mnist/train.gz\"; }; scale = 255.0; one_hot = true; };\n"
    "train = {\n"
    "  optimizer = { type = \"adam\"; lr = 0.001; };\n"
    "  metrics = [\"accuracy\", \"mse\"];\n"
    "  epochs = 2;\n"
    "};\n";

/* SPEC_A with lr 0.01 */
static const char *SPEC_B =
    "model = {\n"
    "  name = \"mlp\";\n"
    "  input = { shape = [784]; };\n"
    "  layers = (\n"
    "    { type = \"dense\"; units = 128; activation = \"relu\"; },\n"
    "    { type = \"dropout\"; rate = 0.2; },\n"
    "    { type = \"dense\"; units = 10; activation = \"softmax\"; }\n"
    "  );\n"
    "};\n"
    "data = { train = { images = \"mnist/train.gz\"; }; scale = 255.0; one_hot = true; };\n"
    "train = {\n"
    "  optimizer = { type = \"adam\"; lr = 0.01; };\n"
    "  metrics = [\"accuracy\", \"mse\"];\n"
    "  epochs = 2;\n"
    "};\n";

/* SPEC_A with dropout 0.5, epochs written as 2.0 (a float equal to the int
 * 2: not a difference), keys in another order and a key of its own */
static const char *SPEC_C =
    "train = {\n"
    "  epochs = 2.0;\n"
    "  metrics = [\"accuracy\", \"mse\"];\n"
    "  optimizer = { lr = 0.001; type = \"adam\"; };\n"
    "  seed = 7;\n"
    "};\n"
    "model = {\n"
    "  name = \"mlp\";\n"
    "  input = { shape = [784]; };\n"
    "  layers = (\n"
    "    { type = \"dense\"; units = 128; activation = \"relu\"; },\n"
    "    { type = \"dropout\"; rate = 0.5; },\n"
    "    { type = \"dense\"; units = 10; activation = \"softmax\"; }\n"
    "  );\n"
    "};\n"
    "data = { train = { images = \"mnist/train.gz\"; }; scale = 255.0; one_hot = true; };\n";

static const char *value_of(const nn_flat *f, const char *key)
{
    const nn_kv *kv = nn_flat_get(f, key);
    return kv ? kv->value : NULL;
}

static void test_flatten_paths_and_values(void **state)
{
    (void)state;
    nn_flat f;
    nn_error err = {0};
    assert_int_equal(nn_spec_flatten(SPEC_A, "a.cfg", &f, &err), NN_OK);
    /* every leaf, in document order */
    const char *keys[] = {"model.name",
                          "model.input.shape",
                          "model.layers.[0].type",
                          "model.layers.[0].units",
                          "model.layers.[0].activation",
                          "model.layers.[1].type",
                          "model.layers.[1].rate",
                          "model.layers.[2].type",
                          "model.layers.[2].units",
                          "model.layers.[2].activation",
                          "data.train.images",
                          "data.scale",
                          "data.one_hot",
                          "train.optimizer.type",
                          "train.optimizer.lr",
                          "train.metrics",
                          "train.epochs"};
    int n = (int)(sizeof keys / sizeof keys[0]);
    assert_int_equal(f.n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(f.kv[i].key, keys[i]);
    assert_string_equal(value_of(&f, "model.name"), "mlp");
    assert_string_equal(value_of(&f, "model.input.shape"), "[784]");
    assert_string_equal(value_of(&f, "model.layers.[1].rate"), "0.2");
    assert_string_equal(value_of(&f, "model.layers.[0].units"), "128");
    assert_string_equal(value_of(&f, "data.scale"), "255.0");
    assert_string_equal(value_of(&f, "data.one_hot"), "true");
    assert_string_equal(value_of(&f, "train.optimizer.lr"), "0.001");
    assert_string_equal(value_of(&f, "train.metrics"), "[\"accuracy\", \"mse\"]");
    const nn_kv *lr = nn_flat_get(&f, "train.optimizer.lr");
    assert_true(lr->numeric);
    assert_true(lr->num == 0.001);
    assert_false(nn_flat_get(&f, "model.name")->numeric);
    assert_false(nn_flat_get(&f, "data.one_hot")->numeric);
    assert_null(nn_flat_get(&f, "model.layers"));
    assert_null(nn_flat_get(&f, "train.optimizer"));
    nn_flat_free(&f);
}

static void test_flatten_error_names_file_and_line(void **state)
{
    (void)state;
    nn_flat f;
    nn_error err = {0};
    assert_int_equal(nn_spec_flatten("a = 1;\nb = ;\n", "bad.cfg", &f, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "bad.cfg:2:"));
    assert_int_equal(f.n, 0);
    assert_null(f.kv);
}

static void test_kv_equal(void **state)
{
    (void)state;
    nn_kv i2 = {"k", "2", true, 2.0}, f2 = {"k", "2.0", true, 2.0}, f3 = {"k", "3.0", true, 3.0};
    nn_kv s2 = {"k", "2", false, NAN}, s2b = {"k", "2", false, NAN};
    assert_true(nn_kv_equal(&i2, &f2));
    assert_false(nn_kv_equal(&i2, &f3));
    assert_false(nn_kv_equal(&i2, &s2)); /* a number and a string */
    assert_true(nn_kv_equal(&s2, &s2b));
    assert_false(nn_kv_equal(&i2, NULL));
    assert_true(nn_kv_equal(NULL, NULL));
}

static void test_diff(void **state)
{
    (void)state;
    nn_flat a, b, c;
    nn_error err = {0};
    assert_int_equal(nn_spec_flatten(SPEC_A, "a", &a, &err), NN_OK);
    assert_int_equal(nn_spec_flatten(SPEC_B, "b", &b, &err), NN_OK);
    assert_int_equal(nn_spec_flatten(SPEC_C, "c", &c, &err), NN_OK);
    const char **keys;
    int n;

    const nn_flat *ab[] = {&a, &b};
    assert_int_equal(nn_flat_diff(ab, 2, &keys, &n, &err), NN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "train.optimizer.lr");
    free(keys);

    /* spec 0's order; epochs 2 vs 2.0 is no difference; train.seed only in c */
    const nn_flat *abc[] = {&a, &b, &c};
    assert_int_equal(nn_flat_diff(abc, 3, &keys, &n, &err), NN_OK);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "model.layers.[1].rate");
    assert_string_equal(keys[1], "train.optimizer.lr");
    assert_string_equal(keys[2], "train.seed");
    free(keys);

    /* a key only the first spec has differs too */
    const nn_flat *ca[] = {&c, &a};
    assert_int_equal(nn_flat_diff(ca, 2, &keys, &n, &err), NN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], "train.seed");
    assert_string_equal(keys[1], "model.layers.[1].rate");
    free(keys);

    /* identical specs, and a single spec: nothing */
    const nn_flat *aa[] = {&a, &a};
    assert_int_equal(nn_flat_diff(aa, 2, &keys, &n, &err), NN_OK);
    assert_int_equal(n, 0);
    assert_null(keys);
    assert_int_equal(nn_flat_diff(abc, 1, &keys, &n, &err), NN_OK);
    assert_int_equal(n, 0);
    nn_flat_free(&a);
    nn_flat_free(&b);
    nn_flat_free(&c);
}

static void test_history_parse(void **state)
{
    (void)state;
    nn_history h;
    nn_error err = {0};
    const char *csv = "epoch,loss,accuracy,val_loss,val_accuracy,lr,time\r\n"
                      "0,1.5,0.5,1.25,0.6,0.001,0.25\r\n"
                      "1,0.75,0.8,,0.7,0.001,0.5\r\n";
    assert_int_equal(nn_history_parse(csv, "h.csv", &h, &err), NN_OK);
    assert_int_equal(h.n_cols, 7);
    assert_int_equal(h.n_rows, 2);
    assert_int_equal(nn_history_col(&h, "val_accuracy"), 4);
    assert_int_equal(nn_history_col(&h, "time"), 6);
    assert_int_equal(nn_history_col(&h, "nope"), -1);
    assert_true(nn_history_at(&h, 1, 1) == 0.75);
    assert_true(isnan(nn_history_at(&h, 1, 3)));
    nn_history_free(&h);
    assert_int_equal(nn_history_parse("", "e.csv", &h, &err), NN_ERR_RUNTIME);
    assert_non_null(strstr(err.msg, "e.csv"));
}

/* A run from texts, as nn_run_load would fill it. */
static void make_run(nn_run *r, const char *name, const char *spec, const char *history,
                     long long params, double test_acc)
{
    nn_error err = {0};
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    r->path = strdup(name);
    assert_int_equal(nn_spec_flatten(spec, name, &r->spec, &err), NN_OK);
    assert_int_equal(nn_history_parse(history, name, &r->history, &err), NN_OK);
    r->epochs = r->history.n_rows;
    r->params = params;
    r->nonzero = -1;
    r->seconds = NAN;
    r->test_samples = -1;
    if (!isnan(test_acc)) {
        r->has_test = true;
        r->n_test = 2;
        r->test = calloc(2, sizeof *r->test);
        r->test[0] = (nn_named){strdup("loss"), 0.5};
        r->test[1] = (nn_named){strdup("accuracy"), test_acc};
    }
}

static char *table(const nn_run *runs, int n, const char *sort, bool max, nn_table_format fmt,
                   nn_status want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    nn_error err = {0};
    assert_int_equal(nn_runs_table(runs, n, sort, max, fmt, f, &err), want);
    fclose(f);
    if (want) {
        free(buf);
        return strdup(err.msg);
    }
    return buf;
}

static void test_table(void **state)
{
    (void)state;
    const char *h = "epoch,loss,accuracy,val_loss,val_accuracy,lr,time\n";
    char ha[256], hb[256], hc[256];
    snprintf(ha, sizeof ha, "%s0,1,0.5,0.9,0.70,0.001,1\n1,0.5,0.8,0.8,0.65,0.001,3\n", h);
    snprintf(hb, sizeof hb, "%s0,1,0.5,0.9,0.60,0.01,2\n1,0.5,0.8,0.8,0.90,0.01,2\n", h);
    snprintf(hc, sizeof hc, "%s0,1,0.5,0.9,0.75,0.001,1\n1,0.5,0.8,0.8,0.74,0.001,1\n", h);
    nn_run runs[3];
    make_run(&runs[0], "b_first", SPEC_A, ha, 1000, 0.5);
    make_run(&runs[1], "a_lr", SPEC_B, hb, 1000, NAN);
    make_run(&runs[2], "c,drop", SPEC_C, hc, 1000, 0.25);

    char *csv = table(runs, 3, NULL, false, NN_TABLE_CSV, NN_OK);
    const char *want =
        "run,model.layers.[1].rate,train.optimizer.lr,train.seed,epochs,best_val_accuracy,"
        "final_val_accuracy,test_accuracy,sec/epoch,params\r\n"
        "a_lr,0.2,0.01,,2,0.9,0.9,,2,1000\r\n"
        "b_first,0.2,0.001,,2,0.7,0.65,0.5,2,1000\r\n"
        "\"c,drop\",0.5,0.001,7,2,0.75,0.74,0.25,1,1000\r\n";
    assert_string_equal(csv, want);
    free(csv);

    /* the nonzero-weights column appears once a run's run.json has it;
     * a run without it shows an empty cell */
    runs[0].nonzero = 640;
    runs[2].nonzero = 985;
    csv = table(runs, 3, "nonzero>1e-3", false, NN_TABLE_CSV, NN_OK);
    assert_non_null(strstr(csv, ",sec/epoch,params,nonzero>1e-3\r\n"));
    assert_non_null(strstr(csv, "\r\nb_first,0.2,0.001,,2,0.7,0.65,0.5,2,1000,640\r\n"
                                "\"c,drop\",0.5,0.001,7,2,0.75,0.74,0.25,1,1000,985\r\n"
                                "a_lr,0.2,0.01,,2,0.9,0.9,,2,1000,\r\n"));
    free(csv);
    runs[0].nonzero = runs[2].nonzero = -1;

    /* best val_accuracy first: a_lr 0.9, c 0.75, b 0.7 */
    char *md = table(runs, 3, "val_accuracy", true, NN_TABLE_MARKDOWN, NN_OK);
    assert_non_null(strstr(md, "| run | model.layers.[1].rate |"));
    assert_non_null(strstr(md, "\n| --- | ---: |"));
    char *pa = strstr(md, "| a_lr |"), *pc = strstr(md, "| c,drop |"), *pb = strstr(md, "| b_first |");
    assert_true(pa && pc && pb && pa < pc && pc < pb);
    assert_non_null(strstr(md, "| b_first | 0.2 | 0.001 | - | 2 | 0.7000 | 0.6500 | 0.5000 |"));
    free(md);

    /* a test result: runs without one last */
    char *t = table(runs, 3, "test_accuracy", true, NN_TABLE_TEXT, NN_OK);
    char *tb = strstr(t, "b_first"), *tc = strstr(t, "c,drop"), *ta = strstr(t, "a_lr");
    assert_true(ta && tb && tc && tb < tc && tc < ta);
    assert_non_null(strstr(t, "\n---"));
    free(t);

    /* a spec key, ascending */
    t = table(runs, 3, "train.optimizer.lr", false, NN_TABLE_CSV, NN_OK);
    tb = strstr(t, "\r\nb_first"), tc = strstr(t, "\r\n\"c,drop"), ta = strstr(t, "\r\na_lr");
    assert_true(ta && tb && tc && tb < tc && tc < ta);
    free(t);

    char *e = table(runs, 3, "bogus", false, NN_TABLE_TEXT, NN_ERR_USAGE);
    assert_non_null(strstr(e, "--sort bogus"));
    assert_non_null(strstr(e, "best_val_accuracy"));
    free(e);
    for (int i = 0; i < 3; i++)
        nn_run_free(&runs[i]);
}

static void test_key_direction(void **state)
{
    (void)state;
    assert_true(nn_runs_key_maximize("val_accuracy"));
    assert_true(nn_runs_key_maximize("test_accuracy"));
    assert_false(nn_runs_key_maximize("val_loss"));
    assert_false(nn_runs_key_maximize("params"));
    assert_false(nn_runs_key_maximize("sec/epoch"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flatten_paths_and_values),
        cmocka_unit_test(test_flatten_error_names_file_and_line),
        cmocka_unit_test(test_kv_equal),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_history_parse),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_key_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for model.base's cut (src/io/keras/import_base.c): which
 * layers and inputs a cut keeps, the trainable flags each way of choosing
 * writes, and the errors. The network is a hand-written Keras 2 functional
 * config with two inputs, a merge and two outputs:
 *
 *   a -> da --+-> cat -> out
 *   b -> db --+
 *        da ------------> side
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/import.h"
#include "model/model.h"

#define DENSE(NAME, UNITS, FROM)                                                            \
    "{\"class_name\": \"Dense\", \"name\": \"" NAME "\", \"config\": {\"name\": \"" NAME \
    "\", \"units\": " #UNITS ", \"activation\": \"relu\", \"use_bias\": true},"           \
    " \"inbound_nodes\": [[[\"" FROM "\", 0, 0, {}]]]}"

static const char *NET =
    "{\"class_name\": \"Functional\", \"keras_version\": \"2.15.0\", \"config\": {"
    "\"name\": \"two\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"name\": \"a\", \"inbound_nodes\": [],"
    " \"config\": {\"name\": \"a\", \"batch_input_shape\": [null, 4]}},"
    "{\"class_name\": \"InputLayer\", \"name\": \"b\", \"inbound_nodes\": [],"
    " \"config\": {\"name\": \"b\", \"batch_input_shape\": [null, 3]}},"
    DENSE("da", 5, "a") "," DENSE("db", 6, "b") ","
    "{\"class_name\": \"Concatenate\", \"name\": \"cat\", \"config\": {\"name\": \"cat\","
    " \"axis\": -1}, \"inbound_nodes\": [[[\"da\", 0, 0, {}], [\"db\", 0, 0, {}]]]},"
    DENSE("out", 2, "cat") "," DENSE("side", 1, "da")
    "], \"input_layers\": [[\"a\", 0, 0], [\"b\", 0, 0]],"
    " \"output_layers\": [[\"out\", 0, 0], [\"side\", 0, 0]]}}";

/* the cut network built as a model; NULL (and err set) when it fails */
static nn_model *cut(const nn_keras_base *b, nn_spec **spec, nn_error *err)
{
    char *text = NULL;
    nn_model *m = NULL;
    nn_spec_node *g;
    *spec = NULL;
    if (nn_keras_base_text(NET, "'two.h5': model_config", "2.15.0", b, &text, err) ||
        nn_spec_load_string(spec, text, "converted", err) ||
        nn_spec_group(nn_spec_root(*spec), "model", true, &g, err) ||
        nn_model_from_spec(g, &m, err))
        m = NULL;
    free(text);
    return m;
}

/* b's cut built as a model: its layers but the inputs, "name:T" (trains)
 * or "name:F" each, and its inputs' names, both space-separated */
static void expect_cut(const nn_keras_base *b, const char *layers, const char *inputs)
{
    nn_spec *spec;
    nn_error err;
    nn_model *m = cut(b, &spec, &err);
    if (!m)
        fail_msg("%s", err.msg);
    char got[256] = "", in[64] = "";
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        bool input = nn_model_is_input(m, n);
        char *to = input ? in : got;
        size_t o = strlen(to), len = input ? sizeof in : sizeof got;
        snprintf(to + o, len - o, "%s%s", o ? " " : "", n->name);
        if (!input)
            snprintf(to + strlen(to), len - strlen(to), ":%c", n->trainable ? 'T' : 'F');
    }
    assert_string_equal(got, layers);
    assert_string_equal(in, inputs);
    /* the cut layer is the one output, and last */
    assert_int_equal(m->n_outputs, 1);
    assert_ptr_equal(m->outputs[0], m->nodes[m->n_nodes - 1]);
    nn_model_free(m);
    nn_spec_free(spec);
}

static void test_cut_keeps_ancestors_and_their_inputs(void **state)
{
    (void)state;
    nn_keras_base b = {.output = "da", .trainable = true};
    expect_cut(&b, "da:T", "a");
}

static void test_cut_at_merge_keeps_both_branches_frozen(void **state)
{
    (void)state;
    nn_keras_base b = {.output = "cat", .trainable = false};
    expect_cut(&b, "da:F db:F cat:F", "a b");
}

static void test_trainable_from_in_network_order(void **state)
{
    (void)state;
    /* side is not an ancestor of out: dropped */
    nn_keras_base b = {.output = "out", .trainable_from = "db"};
    expect_cut(&b, "da:F db:T cat:T out:T", "a b");
}

static void test_trainable_layers_by_pattern(void **state)
{
    (void)state;
    const char *globs[] = {"d?", "ou*"};
    nn_keras_base b = {.output = "out", .trainable_layers = globs, .n_trainable_layers = 2};
    expect_cut(&b, "da:T db:T cat:F out:T", "a b");
}

static void expect_error(const nn_keras_base *b, const char *part1, const char *part2)
{
    char *text = NULL;
    nn_error err;
    assert_int_not_equal(nn_keras_base_text(NET, "'two.h5': model_config", NULL, b, &text, &err),
                         NN_OK);
    assert_null(text);
    if (!strstr(err.msg, part1) || (part2 && !strstr(err.msg, part2)))
        fail_msg("message: %s", err.msg);
}

static void test_errors(void **state)
{
    (void)state;
    /* two outputs and no base.output */
    nn_keras_base b = {.trainable = true};
    expect_error(&b, "the model has 2 outputs", "base.output");
    b.output = "sid";
    expect_error(&b, "no layer named 'sid'", "did you mean 'side'?");
    b.output = "a";
    expect_error(&b, "'a' is the model's input", NULL);
    b.output = "cat";
    b.trainable_from = "out"; /* a layer, but not one the cut keeps */
    expect_error(&b, "no layer whose name starts with 'out'", NULL);
    const char *globs[] = {"side"};
    nn_keras_base c = {.output = "cat", .trainable_layers = globs, .n_trainable_layers = 1};
    expect_error(&c, "trainable_layers: no layer named 'side'", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_keeps_ancestors_and_their_inputs),
        cmocka_unit_test(test_cut_at_merge_keeps_both_branches_frozen),
        cmocka_unit_test(test_trainable_from_in_network_order),
        cmocka_unit_test(test_trainable_layers_by_pattern),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

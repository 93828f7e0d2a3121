/* Keras's masking semantics, checked against the same layers without a
 * mask (no Keras needed): an embedding with mask_zero into a recurrent
 * layer on ids padded with 0 must give what the unmasked layer gives on the
 * real ids alone, wherever the padding is (after them, before them, or
 * both: the state stays at 0 until the first real step and is kept after
 * the last), with go_backwards too; with return_sequences a masked step
 * repeats the previous output (0 before any real step), Bidirectional
 * outputs 0 there; global_average_pooling1d averages the real steps only;
 * the mask passes through dense and dropout to a second recurrent layer.
 * The weights are drawn once and copied into both models (the same names
 * and shapes). Fails if any layer ignores the mask. */
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

#include "unit/gradcheck.h"

#define STEPS 7
#define REAL 4

typedef struct {
    nn_spec *spec;
    nn_model *m;
} built;

/* "model = { input = { shape = [T]; }; layers = ( embedding, BODY ); };" */
static void build(built *b, int T, bool mask, const char *body)
{
    char text[2048];
    snprintf(text, sizeof text,
             "model = { input = { shape = [%d]; }; layers = ( { type = \"embedding\"; "
             "name = \"emb\"; input_dim = 9; output_dim = 3; mask_zero = %s; }, %s ); };",
             T, mask ? "true" : "false", body);
    gc_model_from_text(text, "masking.cfg", 4, &b->spec, &b->m);
}

static void drop(built *b)
{
    nn_model_free(b->m);
    nn_spec_free(b->spec);
}

/* Random weights into a and the same into b (node by node, param by param). */
static void same_weights(nn_model *a, nn_model *b)
{
    assert_int_equal(a->n_nodes, b->n_nodes);
    for (int i = 0; i < a->n_nodes; i++)
        for (int k = 0; k < a->nodes[i]->n_params; k++) {
            nn_param *p = &a->nodes[i]->params[k], *q = &b->nodes[i]->params[k];
            assert_int_equal(p->size, q->size);
            float *w = falloc(p->size);
            for (size_t j = 0; j < p->size; j++)
                w[j] = (float)(0.6 * nrand());
            E->ops->upload(E, &p->w, w, p->size);
            E->ops->upload(E, &q->w, w, p->size);
            free(w);
        }
}

static float *run(nn_model *m, const float *ids, int rows)
{
    E->ops->upload(E, nn_model_input_tensor(m), ids, (size_t)rows * m->input->size);
    nn_pass p = {.e = E, .rows = rows, .training = false};
    nn_model_forward(m, &p);
    return dl(&m->output->out, (size_t)rows * m->output->size);
}

static void near(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i]))) {
            print_error("%s [%zu]: %.7g, want %.7g\n", what, i, got[i], want[i]);
            fail();
        }
}

/* The real ids, and three paddings of them to STEPS: after, before, both. */
static const float real_ids[REAL] = {3, 1, 8, 5};
static void padded(float *rows)
{
    static const int at[3] = {0, STEPS - REAL, 1};
    for (int r = 0; r < 3; r++)
        for (int t = 0; t < STEPS; t++)
            rows[r * STEPS + t] = t >= at[r] && t < at[r] + REAL ? real_ids[t - at[r]] : 0.0f;
}

/* A layer ending in one vector per sample: the masked model on each
 * padding equals the unmasked one on the real ids. */
static void same_as_unpadded(const char *body)
{
    built a, b;
    build(&a, STEPS, true, body);
    build(&b, REAL, false, body);
    same_weights(a.m, b.m);
    float ids[3 * STEPS], three[3 * REAL];
    padded(ids);
    for (int r = 0; r < 3; r++)
        memcpy(three + r * REAL, real_ids, sizeof real_ids);
    float *got = run(a.m, ids, 3), *want = run(b.m, three, 3);
    near(got, want, 3 * a.m->output->size, body);
    /* each row alone: the batch's own steps only (before it, a wholly
     * masked batch, which outputs the zero state) */
    const float none[STEPS] = {0};
    float *zero = run(a.m, none, 1);
    for (size_t i = 0; i < a.m->output->size && !strstr(body, "average"); i++)
        if (zero[i] != 0.0f) {
            print_error("%s: a wholly masked sample outputs %g\n", body, zero[i]);
            fail();
        }
    free(zero);
    for (int r = 0; r < 3; r++) {
        float *one = run(a.m, ids + r * STEPS, 1);
        near(one, want, a.m->output->size, body);
        free(one);
    }
    free(got);
    free(want);
    drop(&a);
    drop(&b);
}

static void test_last_output(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{ type = \"simple_rnn\"; units = 3; }",
        "{ type = \"lstm\"; units = 3; }",
        "{ type = \"gru\"; units = 3; }",
        "{ type = \"gru\"; units = 2; reset_after = false; go_backwards = true; }",
        "{ type = \"lstm\"; units = 2; go_backwards = true; }",
        "{ type = \"bidirectional\"; layer = { type = \"gru\"; units = 2; }; }",
        "{ type = \"bidirectional\"; layer = { type = \"lstm\"; units = 2; "
        "return_sequences = true; }; }, { type = \"global_average_pooling1d\"; }",
        "{ type = \"gru\"; units = 3; return_sequences = true; }, { type = \"dense\"; units = 2; "
        "activation = \"tanh\"; }, { type = \"dropout\"; rate = 0.5; }, "
        "{ type = \"simple_rnn\"; units = 2; }",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++)
        same_as_unpadded(bodies[i]);
}

/* return_sequences: a plain recurrent layer repeats its last output over
 * masked steps (0 before the first real one); Bidirectional outputs 0. */
static void test_sequence_outputs(void **state)
{
    (void)state;
    const char *body = "{ type = \"lstm\"; units = 2; return_sequences = true; }";
    built a, b;
    build(&a, STEPS, true, body);
    build(&b, REAL, false, body);
    same_weights(a.m, b.m);
    float ids[3 * STEPS];
    padded(ids);
    float *got = run(a.m, ids, 3), *want = run(b.m, real_ids, 1);
    const int U = 2, start[3] = {0, STEPS - REAL, 1};
    for (int alone = 0; alone < 2; alone++) { /* in one batch; each row alone */
        for (int r = 0; r < 3; r++) {
            float *row = alone ? run(a.m, ids + r * STEPS, 1) : NULL;
            const float *rows = alone ? row : got + (size_t)r * STEPS * U;
            for (int t = 0; t < STEPS; t++) {
                int k = t - start[r]; /* the real step whose output shows */
                float zero[2] = {0, 0};
                const float *w = k < 0 ? zero : want + (k < REAL ? k : REAL - 1) * U;
                near(rows + (size_t)t * U, w, U, "lstm return_sequences");
            }
            free(row);
        }
    }
    free(got);
    free(want);
    drop(&a);
    drop(&b);

    built c;
    build(&c, STEPS, true,
          "{ type = \"bidirectional\"; layer = { type = \"gru\"; units = 2; "
          "return_sequences = true; }; }");
    same_weights(c.m, c.m);
    got = run(c.m, ids, 3);
    for (int r = 0; r < 3; r++)
        for (int t = 0; t < STEPS; t++) {
            bool masked = ids[r * STEPS + t] == 0.0f;
            for (int u = 0; u < 4; u++) {
                float v = got[((size_t)r * STEPS + t) * 4 + u];
                if (masked ? v != 0.0f : v == 0.0f) {
                    print_error("bidirectional row %d step %d: %g\n", r, t, v);
                    fail();
                }
            }
        }
    free(got);
    drop(&c);
}

/* Without mask_zero, padding is data: the outputs differ (the check above
 * is not vacuous). */
static void test_unmasked_padding_counts(void **state)
{
    (void)state;
    const char *body = "{ type = \"gru\"; units = 3; }";
    built a, b;
    build(&a, STEPS, false, body);
    build(&b, REAL, false, body);
    same_weights(a.m, b.m);
    float ids[3 * STEPS];
    padded(ids);
    float *got = run(a.m, ids, 1), *want = run(b.m, real_ids, 1);
    double diff = 0;
    for (int i = 0; i < 3; i++)
        diff += fabs(got[i] - want[i]);
    assert_true(diff > 1e-3);
    free(got);
    free(want);
    drop(&a);
    drop(&b);
}

/* The Masking layer by hand: a step whose features all equal mask_value
 * is zeroed and masked (0 in its mask), one with a single differing
 * feature (or a NaN) is kept whole; the gradient is dy where kept, 0 where
 * masked. Then Masking into a GRU on padded rows of numbers gives what
 * the GRU gives on the real steps alone (the weights copied). */
static void test_masking_layer(void **state)
{
    (void)state;
    nn_spec *spec;
    nn_model *m;
    gc_model_from_text("model = { input = { shape = [5, 3]; }; layers = ( { type = \"masking\"; "
                       "mask_value = -1.5; } ); };",
                       "masking.cfg", 2, &spec, &m);
    const float x[2 * 5 * 3] = {
        1, 2, 3, -1.5f, -1.5f, -1.5f, -1.5f, 0, -1.5f, -1.5f, -1.5f, -1.5f, NAN, -1.5f, -1.5f,
        -1.5f, -1.5f, -1.5f, 4, 5, 6, -1.5f, -1.5f, -1.5f, 0, 0, 0, -1.5f, -1.5f, 7};
    const float want_mask[10] = {1, 0, 1, 0, 1, 0, 1, 0, 1, 1};
    float *y = run(m, x, 2);
    for (int i = 0; i < 30; i++) {
        float want = want_mask[i / 3] ? x[i] : 0.0f;
        if (!(y[i] == want || (isnan(want) && isnan(y[i])))) {
            print_error("masking output [%d]: %g, want %g\n", i, y[i], want);
            fail();
        }
    }
    float *mask = dl(&m->output->mask_buf, 10);
    for (int i = 0; i < 10; i++)
        assert_true(mask[i] == want_mask[i]);
    float dy[30], *dx;
    for (int i = 0; i < 30; i++)
        dy[i] = (float)(i + 1);
    E->ops->upload(E, &m->output->dout, dy, 30);
    nn_pass p = {.e = E, .rows = 2, .training = true};
    nn_model_backward(m, &p);
    dx = dl(&m->input->dout, 30);
    for (int i = 0; i < 30; i++)
        assert_true(dx[i] == (want_mask[i / 3] ? dy[i] : 0.0f));
    free(dx);
    free(mask);
    free(y);
    nn_model_free(m);
    nn_spec_free(spec);

    /* padded sequences of numbers: after, before and both sides */
    nn_spec *sa, *sb;
    nn_model *a, *b;
    gc_model_from_text("model = { input = { shape = [7, 2]; }; layers = ( { type = \"masking\"; "
                       "mask_value = 9; }, { type = \"gru\"; name = \"g\"; units = 3; } ); };",
                       "masking.cfg", 4, &sa, &a);
    gc_model_from_text("model = { input = { shape = [4, 2]; }; layers = ( { type = \"gru\"; "
                       "name = \"g\"; units = 3; } ); };",
                       "masking.cfg", 4, &sb, &b);
    nn_node *ga = a->output, *gb = b->output;
    for (int k = 0; k < ga->n_params; k++) {
        float *w = falloc(ga->params[k].size);
        for (size_t j = 0; j < ga->params[k].size; j++)
            w[j] = (float)(0.6 * nrand());
        E->ops->upload(E, &ga->params[k].w, w, ga->params[k].size);
        E->ops->upload(E, &gb->params[k].w, w, ga->params[k].size);
        free(w);
    }
    const float real[4 * 2] = {0.5f, -1, 2, 9, 0.25f, 0.75f, -2, 1.5f}; /* (2, 9) is kept */
    float rows[3 * 7 * 2], three[3 * 4 * 2];
    static const int at[3] = {0, 3, 1};
    for (int r = 0; r < 3; r++) {
        for (int t = 0; t < 7; t++)
            for (int f = 0; f < 2; f++)
                rows[(r * 7 + t) * 2 + f] =
                    t >= at[r] && t < at[r] + 4 ? real[(t - at[r]) * 2 + f] : 9.0f;
        memcpy(three + r * 8, real, sizeof real);
    }
    float *got = run(a, rows, 3), *want = run(b, three, 3);
    near(got, want, 9, "masking + gru on padded numbers");
    free(got);
    free(want);
    nn_model_free(a);
    nn_model_free(b);
    nn_spec_free(sa);
    nn_spec_free(sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_output),
        cmocka_unit_test(test_sequence_outputs),
        cmocka_unit_test(test_unmasked_padding_counts),
        cmocka_unit_test(test_masking_layer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

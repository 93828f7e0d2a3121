/* data.bucket_by_length (train/buckets.c): batches hold sequences whose
 * real steps are alike, whatever the epoch's shuffle. The expected batches
 * are worked out by hand from the lengths below, not by the code under
 * test: pre-padded (Keras's pad_sequences default) rows of lengths
 * 1..8 sorted by their first real step put the longest first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "engine/engine.h"
#include "model/model.h"
#include "spec/spec.h"
#include "train/buckets.h"

#include "unit/gradcheck.h"

#define T 8
#define N 8

static const char *const masked_spec =
    "model = { input = { shape = [8]; }; layers = ( { type = \"embedding\"; input_dim = 20; "
    "output_dim = 2; mask_zero = true; }, { type = \"gru\"; units = 2; } ); };";

/* sample i: length len[i], padded before ("pre") */
static const int len[N] = {1, 5, 2, 6, 3, 7, 4, 8};
static float ids[N * T];

static nn_dataset dataset(void)
{
    for (int i = 0; i < N; i++)
        for (int t = 0; t < T; t++)
            ids[i * T + t] = t >= T - len[i] ? (float)(1 + (i + t) % 19) : 0.0f;
    nn_dataset d;
    memset(&d, 0, sizeof d);
    d.n = N;
    d.ndim = 1;
    d.shape[0] = T;
    d.sample_size = T;
    d.f32 = ids;
    d.scale = 1.0f;
    return d;
}

/* the length of the sample at position j of the order */
static int length_at(const uint32_t *idx, int j)
{
    return len[idx[j]];
}

static void test_sorted_without_shuffle(void **state)
{
    (void)state;
    nn_spec *spec;
    nn_model *m;
    gc_model_from_text(masked_spec, "buckets.cfg", 2, &spec, &m);
    nn_dataset d = dataset();
    nn_buckets bk;
    nn_error err;
    assert_int_equal(nn_buckets_init(&bk, m, &d, 2, &err), NN_OK);
    uint32_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = (uint32_t)i;
    nn_buckets_order(&bk, NULL, idx);
    static const int want[N] = {8, 7, 6, 5, 4, 3, 2, 1};
    for (int j = 0; j < N; j++)
        assert_int_equal(length_at(idx, j), want[j]);
    nn_buckets_free(&bk);
    nn_model_free(m);
    nn_spec_free(spec);
}

/* With shuffling the batches come in a seeded order, each still a pair
 * of neighbouring lengths; the same seed gives the same order. */
static void test_batches_shuffled(void **state)
{
    (void)state;
    nn_spec *spec;
    nn_model *m;
    gc_model_from_text(masked_spec, "buckets.cfg", 2, &spec, &m);
    nn_dataset d = dataset();
    nn_buckets bk;
    nn_error err;
    assert_int_equal(nn_buckets_init(&bk, m, &d, 2, &err), NN_OK);
    uint32_t first[N];
    bool moved = false;
    for (int epoch = 0; epoch < 6; epoch++) {
        for (int round = 0; round < 2; round++) {
            uint32_t idx[N];
            for (int i = 0; i < N; i++)
                idx[i] = (uint32_t)i;
            nn_rng base, r;
            nn_rng_seed(&base, 7, 1);
            r = nn_rng_split(&base, (uint64_t)epoch);
            nn_rng_shuffle_u32(&r, idx, N);
            nn_buckets_order(&bk, &r, idx);
            int seen = 0;
            for (int b = 0; b < N / 2; b++) {
                int a = length_at(idx, 2 * b), c = length_at(idx, 2 * b + 1);
                /* {8,7}, {6,5}, {4,3} or {2,1}, longer first */
                assert_int_equal(a % 2, 0);
                assert_int_equal(c, a - 1);
                seen |= 1 << (a / 2);
                if (b == 0 && a != 8)
                    moved = true;
            }
            assert_int_equal(seen, 0x1e);
            if (round == 0)
                memcpy(first, idx, sizeof idx);
            else
                assert_memory_equal(first, idx, sizeof idx);
        }
    }
    assert_true(moved); /* some epoch's first batch is not the longest */
    nn_buckets_free(&bk);
    nn_model_free(m);
    nn_spec_free(spec);
}

/* Without an Embedding that masks id 0 there is no padding to leave out. */
static void test_needs_mask_zero(void **state)
{
    (void)state;
    nn_spec *spec;
    nn_model *m;
    gc_model_from_text("model = { input = { shape = [8]; }; layers = ( { type = \"embedding\"; "
                       "input_dim = 20; output_dim = 2; }, { type = \"gru\"; units = 2; } ); };",
                       "buckets.cfg", 2, &spec, &m);
    nn_dataset d = dataset();
    nn_buckets bk;
    nn_error err;
    assert_int_equal(nn_buckets_init(&bk, m, &d, 2, &err), NN_ERR_USAGE);
    assert_non_null(strstr(err.msg, "mask_zero"));
    nn_model_free(m);
    nn_spec_free(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sorted_without_shuffle),
        cmocka_unit_test(test_batches_shuffled),
        cmocka_unit_test(test_needs_mask_zero),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

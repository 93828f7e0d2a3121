/* Dropout masks and augmentation are drawn per (key, sample id): a sample
 * gets the same mask and the same transform wherever it sits in a batch,
 * whichever process gathers it and whatever the thread count (what a run
 * split over MPI ranks relies on), and the masks keep the rate. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"
#include "engine/engine.h"

enum { ROWS = 96, COLS = 517 };

static nn_engine *engine(int threads)
{
    nn_engine *e;
    nn_error err;
    assert_int_equal(nn_engine_create("cpu", threads, &e, &err), NN_OK);
    return e;
}

static nn_tensor tensor(nn_engine *e, size_t n, const float *v)
{
    nn_tensor t;
    nn_error err;
    int shape[1] = {(int)n};
    assert_int_equal(e->ops->alloc(e, &t, 1, shape, &err), NN_OK);
    if (v)
        e->ops->upload(e, &t, v, n);
    return t;
}

/* masks[rows x cols] for the given sample ids */
static void masks(nn_engine *e, float rate, uint64_t key, const uint32_t *id, int rows, float *out)
{
    size_t n = (size_t)rows * COLS;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = 1.0f;
    nn_tensor xt = tensor(e, n, x), m = tensor(e, n, NULL), y = tensor(e, n, NULL);
    nn_tensor ids = tensor(e, (size_t)rows, id ? nn_ids_bits(id) : NULL);
    e->ops->dropout_forward(e, rate, key, id ? &ids : NULL, &xt, &m, &y, rows, COLS);
    e->ops->download(e, out, &m, n);
    float *yy = malloc(n * sizeof *yy);
    e->ops->download(e, yy, &y, n);
    assert_memory_equal(out, yy, n * sizeof *yy); /* y = x * mask with x = 1 */
    free(yy);
    free(x);
    e->ops->free(e, &xt);
    e->ops->free(e, &m);
    e->ops->free(e, &y);
    e->ops->free(e, &ids);
}

static void test_mask_follows_the_sample(void **state)
{
    (void)state;
    nn_engine *e1 = engine(1), *e2 = engine(2);
    uint32_t id[ROWS], rev[ROWS];
    for (int r = 0; r < ROWS; r++) {
        id[r] = (uint32_t)(r * 7919 + 11) % 60000u; /* a shuffled batch's dataset indices */
        rev[ROWS - 1 - r] = id[r];
    }
    static float a[ROWS * COLS], b[ROWS * COLS], c[ROWS * COLS], half[ROWS / 2 * COLS];
    const uint64_t key = 0x9e3779b97f4a7c15ULL;
    masks(e1, 0.3f, key, id, ROWS, a);
    masks(e2, 0.3f, key, rev, ROWS, b); /* reversed batch, two threads */
    for (int r = 0; r < ROWS; r++)
        assert_memory_equal(a + (size_t)r * COLS, b + (size_t)(ROWS - 1 - r) * COLS,
                            COLS * sizeof(float));
    /* the second half of the batch alone (another rank's shard) */
    masks(e1, 0.3f, key, id + ROWS / 2, ROWS / 2, half);
    assert_memory_equal(half, a + (size_t)(ROWS / 2) * COLS, sizeof half);
    /* another key (the next dropout layer, another epoch): another mask */
    masks(e1, 0.3f, key + 1, id, ROWS, c);
    assert_memory_not_equal(a, c, sizeof a);
    /* no ids: the row index is the id */
    uint32_t rows[ROWS];
    for (int r = 0; r < ROWS; r++)
        rows[r] = (uint32_t)r;
    masks(e1, 0.3f, key, rows, ROWS, b);
    masks(e1, 0.3f, key, NULL, ROWS, c);
    assert_memory_equal(b, c, sizeof b);
    nn_engine_destroy(e1);
    nn_engine_destroy(e2);
}

/* kept fraction near 1 - rate, kept values exactly 1 / (1 - rate), and two
 * samples' masks agree about as often as independent draws do */
static void test_mask_statistics(void **state)
{
    (void)state;
    nn_engine *e = engine(2);
    uint32_t id[ROWS];
    for (int r = 0; r < ROWS; r++)
        id[r] = (uint32_t)r; /* neighbouring ids: the hardest case for a hash */
    static float m[ROWS * COLS];
    const float rates[3] = {0.1f, 0.5f, 0.8f};
    for (int k = 0; k < 3; k++) {
        float rate = rates[k], keep = 1.0f / (1.0f - rate);
        masks(e, rate, 12345 + (uint64_t)k, id, ROWS, m);
        size_t n = (size_t)ROWS * COLS, kept = 0;
        for (size_t i = 0; i < n; i++) {
            assert_true(m[i] == 0.0f || m[i] == keep);
            kept += m[i] != 0.0f;
        }
        /* binomial(n, 1 - rate): 6 standard deviations either side */
        double mean = n * (1.0 - rate), sd = sqrt(n * rate * (1.0 - rate));
        assert_true(fabs((double)kept - mean) < 6 * sd);
        size_t agree = 0, pairs = 0;
        for (int r = 1; r < ROWS; r++)
            for (int c = 0; c < COLS; c++, pairs++)
                agree += (m[(size_t)r * COLS + c] != 0.0f) == (m[(size_t)(r - 1) * COLS + c] != 0.0f);
        double p = rate * rate + (1 - rate) * (1 - rate);
        double sd2 = sqrt(pairs * p * (1 - p));
        assert_true(fabs((double)agree - pairs * p) < 6 * sd2);
    }
    nn_engine_destroy(e);
}

/* an augmented sample is drawn from (seed, epoch, its index) */
static void test_augment_follows_the_sample(void **state)
{
    (void)state;
    enum { N = 6, H = 8, W = 8, C = 3, SS = H * W * C };
    uint8_t *pix = malloc((size_t)N * SS);
    for (int i = 0; i < N * SS; i++)
        pix[i] = (uint8_t)((i * 37 + 11) & 0xff);
    nn_dataset d;
    memset(&d, 0, sizeof d);
    d.n = N;
    d.ndim = 3;
    d.shape[0] = H;
    d.shape[1] = W;
    d.shape[2] = C;
    d.sample_size = SS;
    d.u8 = pix;
    d.scale = 255.0f;
    d.augment.rotation_range = 20.0;
    d.augment.width_shift_range = 0.2;
    d.augment.zoom_range = 0.2;
    d.augment.horizontal_flip = true;
    uint32_t idx[N] = {4, 1, 5, 0, 2, 3}, rev[N];
    for (int k = 0; k < N; k++)
        rev[N - 1 - k] = idx[k];
    static float a[N * SS], b[N * SS], one[SS], scratch[SS];
    nn_augment_gather_x(&d, idx, N, 7, 3, scratch, a);
    nn_augment_gather_x(&d, rev, N, 7, 3, scratch, b);
    for (int k = 0; k < N; k++) {
        assert_memory_equal(a + (size_t)k * SS, b + (size_t)(N - 1 - k) * SS, SS * sizeof(float));
        nn_augment_sample(&d, idx[k], 7, 3, scratch, one);
        assert_memory_equal(one, a + (size_t)k * SS, sizeof one);
    }
    free(pix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_follows_the_sample),
        cmocka_unit_test(test_mask_statistics),
        cmocka_unit_test(test_augment_follows_the_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

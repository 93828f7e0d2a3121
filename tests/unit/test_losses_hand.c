/* Losses and metrics against values worked out by hand (each derivation in
 * the comment beside it), independent of any other implementation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine/engine.h"

static nn_engine *E;

static nn_tensor make(const float *v, int rows, int cols)
{
    nn_tensor t;
    nn_error err;
    int shape[2] = {rows, cols};
    assert_int_equal(E->ops->alloc(E, &t, 2, shape, &err), NN_OK);
    E->ops->upload(E, &t, v, (size_t)rows * cols);
    return t;
}

static double loss(nn_loss_kind k, const float *p, const float *y, int rows, int cols, int ycols,
                   float *grad)
{
    nn_tensor tp = make(p, rows, cols), ty = make(y, rows, ycols), tg = make(p, rows, cols);
    double v = E->ops->loss(E, k, 1.0f, &tp, &ty, rows, cols, grad ? &tg : NULL, 1.0f);
    if (grad)
        E->ops->download(E, grad, &tg, (size_t)rows * cols);
    E->ops->free(E, &tp);
    E->ops->free(E, &ty);
    E->ops->free(E, &tg);
    return v;
}

static void test_mse_mae(void **state)
{
    (void)state;
    /* one sample, p = (1, 2), y = (0, 0): mse = (1 + 4) / 2 = 2.5,
     * d/dp = 2 (p - y) / 2 = (1, 2); mae = (1 + 2) / 2 = 1.5, d/dp = 1/2 each */
    float p[2] = {1, 2}, y[2] = {0, 0}, g[2];
    assert_true(fabs(loss(NN_LOSS_MSE, p, y, 1, 2, 2, g) - 2.5) < 1e-6);
    assert_true(fabsf(g[0] - 1.0f) < 1e-6f && fabsf(g[1] - 2.0f) < 1e-6f);
    assert_true(fabs(loss(NN_LOSS_MAE, p, y, 1, 2, 2, g) - 1.5) < 1e-6);
    assert_true(fabsf(g[0] - 0.5f) < 1e-6f && fabsf(g[1] - 0.5f) < 1e-6f);
    /* two samples: the sum over samples is returned, the gradient is of the
     * mean: rows (1,2) and (3,4) against 0: mse 2.5 + 12.5 = 15 */
    float p2[4] = {1, 2, 3, 4}, y2[4] = {0};
    assert_true(fabs(loss(NN_LOSS_MSE, p2, y2, 2, 2, 2, NULL) - 15.0) < 1e-5);
}

static void test_crossentropy(void **state)
{
    (void)state;
    /* p = (0.5, 0.25, 0.25), y = class 0: CE = -ln 0.5 = ln 2 */
    float p[3] = {0.5f, 0.25f, 0.25f}, y[3] = {1, 0, 0}, label[1] = {0};
    assert_true(fabs(loss(NN_LOSS_CATEGORICAL_CE, p, y, 1, 3, 3, NULL) - M_LN2) < 1e-6);
    assert_true(fabs(loss(NN_LOSS_SPARSE_CE, p, label, 1, 3, 1, NULL) - M_LN2) < 1e-6);
    /* logits z = (ln 2, 0, 0): softmax = (2, 1, 1) / 4 = (0.5, 0.25, 0.25),
     * so the fused loss is ln 2 too, and its gradient is p - y =
     * (-0.5, 0.25, 0.25) */
    float z[3] = {(float)M_LN2, 0, 0}, g[3];
    assert_true(fabs(loss(NN_LOSS_SOFTMAX_CE, z, y, 1, 3, 3, g) - M_LN2) < 1e-6);
    assert_true(fabsf(g[0] + 0.5f) < 1e-6f && fabsf(g[1] - 0.25f) < 1e-6f);
    assert_true(fabs(loss(NN_LOSS_SPARSE_SOFTMAX_CE, z, label, 1, 3, 1, NULL) - M_LN2) < 1e-6);
    /* binary: p = 0.8, y = 1: -ln 0.8; logits z = 0, y = 1: ln 2 */
    float pb[1] = {0.8f}, yb[1] = {1}, zb[1] = {0};
    assert_true(fabs(loss(NN_LOSS_BINARY_CE, pb, yb, 1, 1, 1, NULL) + log(0.8)) < 1e-6);
    assert_true(fabs(loss(NN_LOSS_BINARY_CE_LOGITS, zb, yb, 1, 1, 1, NULL) - M_LN2) < 1e-6);
}

static void test_hinge(void **state)
{
    (void)state;
    /* {0,1} labels become {-1,1}: y = (1, 0) -> (1, -1); p = (0.5, 0.5):
     * margins 1 - 0.5 = 0.5 and 1 + 0.5 = 1.5: hinge = 1, squared = (0.25 +
     * 2.25) / 2 = 1.25 */
    float p[2] = {0.5f, 0.5f}, y[2] = {1, 0};
    assert_true(fabs(loss(NN_LOSS_HINGE, p, y, 1, 2, 2, NULL) - 1.0) < 1e-6);
    assert_true(fabs(loss(NN_LOSS_SQUARED_HINGE, p, y, 1, 2, 2, NULL) - 1.25) < 1e-6);
    /* mape: p = 110, y = 100: 100 * 10 / 100 = 10 */
    float pm[1] = {110}, ym[1] = {100};
    assert_true(fabs(loss(NN_LOSS_MAPE, pm, ym, 1, 1, 1, NULL) - 10.0) < 1e-4);
    /* msle: p = e - 1, y = 0: (ln e - ln 1)^2 = 1 */
    float pl[1] = {(float)(M_E - 1.0)}, yl[1] = {0};
    assert_true(fabs(loss(NN_LOSS_MSLE, pl, yl, 1, 1, 1, NULL) - 1.0) < 1e-5);
}

static double metric(nn_metric_kind k, int topk, const float *p, const float *y, int rows,
                     int cols, int ycols)
{
    nn_tensor tp = make(p, rows, cols), ty = make(y, rows, ycols);
    double v = E->ops->metric(E, k, topk, &tp, &ty, rows, cols);
    E->ops->free(E, &tp);
    E->ops->free(E, &ty);
    return v;
}

static void test_metrics(void **state)
{
    (void)state;
    /* three samples over 3 classes; argmax = 1, 0, 2; labels 1, 2, 2:
     * two right */
    float p[9] = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f, 0.2f, 0.3f, 0.5f};
    float onehot[9] = {0, 1, 0, 0, 0, 1, 0, 0, 1}, labels[3] = {1, 2, 2};
    assert_true(metric(NN_METRIC_CATEGORICAL_ACCURACY, 0, p, onehot, 3, 3, 3) == 2.0);
    assert_true(metric(NN_METRIC_SPARSE_CATEGORICAL_ACCURACY, 0, p, labels, 3, 3, 1) == 2.0);
    /* top-2: sample 2's label 2 has 0.2, below 0.5 and 0.3: still missed */
    assert_true(metric(NN_METRIC_SPARSE_TOP_K, 2, p, labels, 3, 3, 1) == 2.0);
    /* top-3 takes everything */
    assert_true(metric(NN_METRIC_TOP_K, 3, p, onehot, 3, 3, 3) == 3.0);
    /* binary: p = (0.6, 0.4) vs y = (1, 1): one of two right = 0.5 */
    float pb[2] = {0.6f, 0.4f}, yb[2] = {1, 1};
    assert_true(fabs(metric(NN_METRIC_BINARY_ACCURACY, 0, pb, yb, 1, 2, 2) - 0.5) < 1e-9);
}

int main(void)
{
    nn_error err;
    if (nn_engine_create("cpu", 1, &E, &err) != NN_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_mae),
        cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_hinge),
        cmocka_unit_test(test_metrics),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nn_engine_destroy(E);
    return rc;
}

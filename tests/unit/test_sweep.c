/* Unit tests for src/sweep/: grid enumeration, the samplers' ranges and
 * spreads, and the Gaussian process's posterior on cases small enough to
 * check by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/gp.h"
#include "sweep/space.h"

static void add_choice(nn_space *s, const char *key, int n, const char *const *vals)
{
    nn_sweep_param p = {0};
    snprintf(p.key, sizeof p.key, "%s", key);
    p.kind = NN_PARAM_CHOICE;
    p.n_values = n;
    p.values = calloc((size_t)n, sizeof *p.values);
    for (int i = 0; i < n; i++)
        snprintf(p.values[i], sizeof p.values[i], "%s", vals[i]);
    assert_int_equal(nn_space_add(s, &p, NULL), NN_OK);
    free(p.values);
}

static void add_range(nn_space *s, const char *key, double lo, double hi, bool log, bool integer)
{
    nn_sweep_param p = {0};
    snprintf(p.key, sizeof p.key, "%s", key);
    p.kind = NN_PARAM_RANGE;
    p.min = lo;
    p.max = hi;
    p.log = log;
    p.integer = integer;
    assert_int_equal(nn_space_add(s, &p, NULL), NN_OK);
}

/* 3 x 2 x 2 = 12 combinations, last parameter fastest, each exactly once */
static void test_grid(void **state)
{
    (void)state;
    nn_space s = {0};
    const char *lr[] = {"0.001", "0.01", "0.1"}, *bs[] = {"64", "128"}, *opt[] = {"adam", "sgd"};
    add_choice(&s, "train.optimizer.lr", 3, lr);
    add_choice(&s, "train.batch_size", 2, bs);
    add_choice(&s, "train.optimizer.type", 2, opt);
    assert_int_equal(nn_space_grid_size(&s), 12);
    int idx[3], seen[3][2][2] = {{{0}}};
    nn_space_grid_point(&s, 0, idx);
    assert_true(idx[0] == 0 && idx[1] == 0 && idx[2] == 0);
    nn_space_grid_point(&s, 1, idx);
    assert_true(idx[0] == 0 && idx[1] == 0 && idx[2] == 1);
    nn_space_grid_point(&s, 2, idx);
    assert_true(idx[0] == 0 && idx[1] == 1 && idx[2] == 0);
    nn_space_grid_point(&s, 11, idx);
    assert_true(idx[0] == 2 && idx[1] == 1 && idx[2] == 1);
    for (int k = 0; k < 12; k++) {
        nn_space_grid_point(&s, k, idx);
        seen[idx[0]][idx[1]][idx[2]]++;
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++)
                assert_int_equal(seen[a][b][c], 1);
    /* a range makes a space that cannot be enumerated */
    add_range(&s, "x", 0, 1, false, false);
    assert_int_equal(nn_space_grid_size(&s), 0);
    nn_space_free(&s);
}

/* uniform, log-uniform, integer, log-integer and choice: inside their
 * ranges, the coordinates agree with the values, and the spread is right
 * (log-uniform over [1e-4, 1]: each decade gets about a quarter) */
static void test_samplers(void **state)
{
    (void)state;
    nn_space s = {0};
    const char *ch[] = {"relu", "tanh", "sigmoid"};
    add_range(&s, "u", -2.0, 3.0, false, false);
    add_range(&s, "lr", 1e-4, 1.0, true, false);
    add_range(&s, "units", 16, 20, false, true);
    add_range(&s, "width", 1, 1000, true, true);
    add_choice(&s, "act", 3, ch);
    nn_rng r;
    nn_rng_seed(&r, 7, 1);
    double u[5];
    char text[5][NN_PARAM_TEXT];
    int decades[4] = {0}, units[5] = {0}, acts[3] = {0};
    double sum_u = 0;
    const int N = 4000;
    for (int k = 0; k < N; k++) {
        nn_space_sample(&s, &r, u, text);
        for (int i = 0; i < 5; i++)
            assert_true(u[i] >= 0 && u[i] <= 1);
        double x = strtod(text[0], NULL);
        assert_true(x >= -2.0 && x <= 3.0);
        sum_u += x;
        double lr = strtod(text[1], NULL);
        assert_true(lr >= 1e-4 && lr <= 1.0);
        int dec = (int)floor(-log10(lr));
        decades[dec > 3 ? 3 : dec]++;
        /* the coordinate is the value's position in log space */
        assert_true(fabs(u[1] - log(lr / 1e-4) / log(1e4)) < 1e-5);
        char *end;
        long v = strtol(text[2], &end, 10);
        assert_true(*end == '\0' && v >= 16 && v <= 20);
        units[v - 16]++;
        long w = strtol(text[3], &end, 10);
        assert_true(*end == '\0' && w >= 1 && w <= 1000);
        int j;
        for (j = 0; j < 3 && strcmp(text[4], ch[j]); j++)
            ;
        assert_true(j < 3);
        acts[j]++;
        assert_true(fabs(u[4] - (j + 0.5) / 3) < 1e-12);
    }
    assert_true(fabs(sum_u / N - 0.5) < 0.1); /* mean of U(-2, 3) */
    for (int d = 0; d < 4; d++)
        assert_true(decades[d] > N / 4 - N / 16 && decades[d] < N / 4 + N / 16);
    for (int i = 0; i < 5; i++)
        assert_true(units[i] > N / 5 - N / 20 && units[i] < N / 5 + N / 20);
    for (int i = 0; i < 3; i++)
        assert_true(acts[i] > N / 3 - N / 15 && acts[i] < N / 3 + N / 15);
    /* the ends of a range are reachable and exact */
    double c;
    char t[64];
    nn_space_value(&s, 1, 0.0, t, sizeof t, &c);
    assert_string_equal(t, "0.0001");
    nn_space_value(&s, 1, 1.0, t, sizeof t, &c);
    assert_string_equal(t, "1");
    nn_space_value(&s, 2, 1.0, t, sizeof t, &c);
    assert_string_equal(t, "20");
    nn_space_free(&s);
}

static void test_format(void **state)
{
    (void)state;
    char b[64];
    nn_format_double(0.1, b, sizeof b);
    assert_string_equal(b, "0.1");
    nn_format_double(10, b, sizeof b);
    assert_string_equal(b, "10");
    nn_format_double(1e-5, b, sizeof b);
    assert_string_equal(b, "1e-05");
}

/* One observation y = 1 at x = 0, RBF, ls = 1, sf2 = 1, no noise:
 *   at x = 0: mean 1, variance 0
 *   at x = 1: k = e^-1/2, mean = k, variance = 1 - k^2 */
static void test_gp_one_point(void **state)
{
    (void)state;
    nn_gp gp;
    double X[1] = {0}, y[1] = {1}, m, v, x;
    assert_int_equal(nn_gp_fit(&gp, X, y, 1, 1, NN_KERNEL_RBF, 1.0, 1.0, 0.0, NULL), NN_OK);
    x = 0;
    nn_gp_predict(&gp, &x, &m, &v);
    assert_true(fabs(m - 1) < 1e-8 && v < 1e-8);
    x = 1;
    nn_gp_predict(&gp, &x, &m, &v);
    double k = exp(-0.5);
    assert_true(fabs(m - k) < 1e-8);
    assert_true(fabs(v - (1 - k * k)) < 1e-8);
    /* log marginal likelihood of one point: -1/2 - 0 - log(2 pi)/2 */
    assert_true(fabs(nn_gp_log_marginal(&gp) - (-0.5 - 0.5 * log(2 * M_PI))) < 1e-6);
    nn_gp_free(&gp);
}

/* Two observations y = (1, -1) at x = (0, 1), RBF, ls = 1, sf2 = 1:
 * with a = e^-1/2, K^-1 y = (1, -1) / (1 - a). At the midpoint x = 1/2,
 * k = (b, b) with b = e^-1/8: mean = b/(1-a) - b/(1-a) = 0 and
 * variance = 1 - b^2 (sum of K^-1's entries) = 1 - 2 b^2 / (1 + a).
 * At x = 2: k = (e^-2, e^-1/2), mean = (e^-2 - e^-1/2) / (1 - a). */
static void test_gp_two_points(void **state)
{
    (void)state;
    nn_gp gp;
    double X[2] = {0, 1}, y[2] = {1, -1}, m, v, x;
    assert_int_equal(nn_gp_fit(&gp, X, y, 2, 1, NN_KERNEL_RBF, 1.0, 1.0, 0.0, NULL), NN_OK);
    double a = exp(-0.5), b = exp(-0.125);
    x = 0.5;
    nn_gp_predict(&gp, &x, &m, &v);
    assert_true(fabs(m) < 1e-8);
    assert_true(fabs(v - (1 - 2 * b * b / (1 + a))) < 1e-8);
    x = 2;
    nn_gp_predict(&gp, &x, &m, &v);
    assert_true(fabs(m - (exp(-2) - exp(-0.5)) / (1 - a)) < 1e-8);
    x = 1;
    nn_gp_predict(&gp, &x, &m, &v);
    assert_true(fabs(m + 1) < 1e-6 && v < 1e-6);
    nn_gp_free(&gp);
    /* Matern-5/2 at distance r = ls: (1 + sqrt5 + 5/3) e^-sqrt5 */
    double p = 0, q = 1;
    assert_true(fabs(nn_gp_kernel(NN_KERNEL_MATERN52, 1, 1, &p, &q, 1) -
                     (1 + sqrt(5) + 5.0 / 3) * exp(-sqrt(5))) < 1e-12);
}

/* EI below best for N(mean, var): zero variance gives max(best - mean, 0);
 * at mean == best it is sigma * phi(0) = sigma / sqrt(2 pi) */
static void test_expected_improvement(void **state)
{
    (void)state;
    assert_true(fabs(nn_expected_improvement(1.0, 0.0, 3.0) - 2.0) < 1e-12);
    assert_true(nn_expected_improvement(3.0, 0.0, 1.0) == 0.0);
    assert_true(fabs(nn_expected_improvement(0.0, 4.0, 0.0) - 2.0 / sqrt(2 * M_PI)) < 1e-12);
    assert_true(nn_expected_improvement(0.0, 1.0, 0.5) > nn_expected_improvement(0.0, 1.0, 0.0));
}

/* The grid search picks a length scale that explains smooth data: a
 * smooth function gives a longer length scale than a wiggly one. */
static void test_gp_fit_auto(void **state)
{
    (void)state;
    double X[12], ys[12], yw[12];
    for (int i = 0; i < 12; i++) {
        X[i] = i / 11.0;
        ys[i] = X[i] - 0.5;
        yw[i] = sin(40 * X[i]);
    }
    nn_gp a, b;
    assert_int_equal(nn_gp_fit_auto(&a, X, ys, 12, 1, NN_KERNEL_MATERN52, NULL), NN_OK);
    assert_int_equal(nn_gp_fit_auto(&b, X, yw, 12, 1, NN_KERNEL_MATERN52, NULL), NN_OK);
    assert_true(a.ls > b.ls);
    nn_gp_free(&a);
    nn_gp_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid),
        cmocka_unit_test(test_samplers),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_gp_one_point),
        cmocka_unit_test(test_gp_two_points),
        cmocka_unit_test(test_expected_improvement),
        cmocka_unit_test(test_gp_fit_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

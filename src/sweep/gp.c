#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/gp.h"

double nn_gp_kernel(nn_kernel k, double ls, double sf2, const double *a, const double *b, int d)
{
    double r2 = 0;
    for (int i = 0; i < d; i++) {
        double t = (a[i] - b[i]) / ls;
        r2 += t * t;
    }
    if (k == NN_KERNEL_RBF)
        return sf2 * exp(-0.5 * r2);
    double r = sqrt(5.0 * r2);
    return sf2 * (1.0 + r + r * r / 3.0) * exp(-r);
}

void nn_gp_free(nn_gp *gp)
{
    free(gp->X);
    free(gp->y);
    free(gp->L);
    free(gp->alpha);
    memset(gp, 0, sizeof *gp);
}

/* Solves L z = b in place (forward substitution). */
static void solve_lower(const double *L, int n, double *b)
{
    for (int i = 0; i < n; i++) {
        double s = b[i];
        for (int j = 0; j < i; j++)
            s -= L[i * n + j] * b[j];
        b[i] = s / L[i * n + i];
    }
}

/* Solves L^T z = b in place (back substitution). */
static void solve_upper_t(const double *L, int n, double *b)
{
    for (int i = n - 1; i >= 0; i--) {
        double s = b[i];
        for (int j = i + 1; j < n; j++)
            s -= L[j * n + i] * b[j];
        b[i] = s / L[i * n + i];
    }
}

nn_status nn_gp_fit(nn_gp *gp, const double *X, const double *y, int n, int d, nn_kernel kernel,
                    double ls, double sf2, double sn2, nn_error *err)
{
    memset(gp, 0, sizeof *gp);
    if (n < 1 || d < 1)
        return nn_fail(err, NN_ERR_RUNTIME, "gp: no observations");
    gp->n = n;
    gp->d = d;
    gp->kernel = kernel;
    gp->ls = ls;
    gp->sf2 = sf2;
    gp->sn2 = sn2;
    gp->X = nn_malloc((size_t)n * (size_t)d * sizeof *gp->X, err);
    gp->y = nn_malloc((size_t)n * sizeof *gp->y, err);
    gp->L = nn_calloc((size_t)n * (size_t)n, sizeof *gp->L, err);
    gp->alpha = nn_malloc((size_t)n * sizeof *gp->alpha, err);
    if (!gp->X || !gp->y || !gp->L || !gp->alpha) {
        nn_gp_free(gp);
        return NN_ERR_RUNTIME;
    }
    memcpy(gp->X, X, (size_t)n * (size_t)d * sizeof *X);
    memcpy(gp->y, y, (size_t)n * sizeof *y);
    double *L = gp->L;
    /* Cholesky of K + (sn2 + jitter) I, row by row */
    for (int i = 0; i < n; i++)
        for (int j = 0; j <= i; j++) {
            double s = nn_gp_kernel(kernel, ls, sf2, X + (size_t)i * d, X + (size_t)j * d, d);
            if (i == j)
                s += sn2 + 1e-10 * sf2;
            for (int k = 0; k < j; k++)
                s -= L[i * n + k] * L[j * n + k];
            if (i == j) {
                if (!(s > 0)) {
                    nn_gp_free(gp);
                    return nn_fail(err, NN_ERR_RUNTIME, "gp: kernel matrix not positive definite");
                }
                L[i * n + i] = sqrt(s);
            } else {
                L[i * n + j] = s / L[j * n + j];
            }
        }
    memcpy(gp->alpha, y, (size_t)n * sizeof *y);
    solve_lower(L, n, gp->alpha);
    solve_upper_t(L, n, gp->alpha);
    return NN_OK;
}

double nn_gp_log_marginal(const nn_gp *gp)
{
    double fit = 0, logdet = 0;
    for (int i = 0; i < gp->n; i++) {
        fit += gp->y[i] * gp->alpha[i];
        logdet += log(gp->L[i * gp->n + i]);
    }
    return -0.5 * fit - logdet - 0.5 * gp->n * log(2 * M_PI);
}

void nn_gp_predict(const nn_gp *gp, const double *x, double *mean, double *var)
{
    int n = gp->n;
    double kbuf[256], *k = n <= 256 ? kbuf : malloc((size_t)n * sizeof *k);
    if (!k) {
        *mean = 0;
        *var = gp->sf2;
        return;
    }
    double m = 0;
    for (int i = 0; i < n; i++) {
        k[i] = nn_gp_kernel(gp->kernel, gp->ls, gp->sf2, x, gp->X + (size_t)i * gp->d, gp->d);
        m += k[i] * gp->alpha[i];
    }
    solve_lower(gp->L, n, k); /* v = L^-1 k; var = k(x,x) - v.v */
    double v = gp->sf2;
    for (int i = 0; i < n; i++)
        v -= k[i] * k[i];
    if (k != kbuf)
        free(k);
    *mean = m;
    *var = v > 0 ? v : 0;
}

nn_status nn_gp_fit_auto(nn_gp *gp, const double *X, const double *y, int n, int d,
                         nn_kernel kernel, nn_error *err)
{
    static const double ls_grid[] = {0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0};
    static const double sn_grid[] = {1e-6, 1e-4, 1e-3, 1e-2, 1e-1};
    double best = -INFINITY, best_ls = 0.3, best_sn = 1e-3;
    /* the length scale is per unit of the whole cube; in d dimensions
     * points are further apart, so scale the grid by sqrt(d) */
    double scale = sqrt((double)d);
    for (size_t a = 0; a < sizeof ls_grid / sizeof *ls_grid; a++)
        for (size_t b = 0; b < sizeof sn_grid / sizeof *sn_grid; b++) {
            nn_gp g;
            if (nn_gp_fit(&g, X, y, n, d, kernel, ls_grid[a] * scale, 1.0, sn_grid[b], NULL))
                continue;
            double lml = nn_gp_log_marginal(&g);
            if (lml > best) {
                best = lml;
                best_ls = ls_grid[a] * scale;
                best_sn = sn_grid[b];
            }
            nn_gp_free(&g);
        }
    return nn_gp_fit(gp, X, y, n, d, kernel, best_ls, 1.0, best_sn, err);
}

double nn_expected_improvement(double mean, double var, double best)
{
    double s = sqrt(var);
    double imp = best - mean;
    if (s < 1e-12)
        return imp > 0 ? imp : 0;
    double z = imp / s;
    double cdf = 0.5 * erfc(-z / sqrt(2.0));
    double pdf = exp(-0.5 * z * z) / sqrt(2 * M_PI);
    return imp * cdf + s * pdf;
}

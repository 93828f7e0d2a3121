/* A small Gaussian process for Bayesian optimization on the unit cube.
 *
 * Zero prior mean (callers standardize y), an isotropic RBF or Matern-5/2
 * kernel with length scale ls and signal variance sf2, Gaussian noise sn2:
 *   k(x, x') = sf2 * r(|x - x'| / ls),  K = k(X, X) + sn2 I = L L^T
 *   mean(x) = k(x, X) K^-1 y,  var(x) = k(x, x) - k(x, X) K^-1 k(X, x)
 * Hyper-parameters come from a small grid search on the log marginal
 * likelihood; the next point maximizes expected improvement. n is a sweep's
 * trial count, so the O(n^3) Cholesky is nothing. */
#ifndef NN_SWEEP_GP_H
#define NN_SWEEP_GP_H

#include "util/error.h"

typedef enum { NN_KERNEL_MATERN52, NN_KERNEL_RBF } nn_kernel;

typedef struct nn_gp {
    int n, d;
    nn_kernel kernel;
    double ls, sf2, sn2;
    double *X;     /* n x d */
    double *y;     /* n */
    double *L;     /* n x n, lower Cholesky factor of K */
    double *alpha; /* K^-1 y */
} nn_gp;

double nn_gp_kernel(nn_kernel k, double ls, double sf2, const double *a, const double *b, int d);

/* Fits with fixed hyper-parameters (copies X and y). Fails when K is not
 * positive definite. */
nn_status nn_gp_fit(nn_gp *gp, const double *X, const double *y, int n, int d, nn_kernel kernel,
                    double ls, double sf2, double sn2, nn_error *err);
/* Chooses ls and sn2 (sf2 = 1: y should be standardized) on a grid, by the
 * log marginal likelihood, and fits with the best. */
nn_status nn_gp_fit_auto(nn_gp *gp, const double *X, const double *y, int n, int d,
                         nn_kernel kernel, nn_error *err);
/* log p(y | X) = -y^T K^-1 y / 2 - sum log L_ii - n log(2 pi) / 2 */
double nn_gp_log_marginal(const nn_gp *gp);
void nn_gp_predict(const nn_gp *gp, const double *x, double *mean, double *var);
void nn_gp_free(nn_gp *gp);

/* Expected improvement below `best` (minimization) of N(mean, var). */
double nn_expected_improvement(double mean, double var, double best);

#endif

/* The search space of a sweep: one parameter per spec key, either a choice
 * among listed values or a numeric range (uniform, log-uniform, integer).
 *
 * Every parameter maps to a unit coordinate u in [0, 1], the space the
 * Bayesian optimizer models: a range is scaled linearly (or in log space),
 * a choice of n values takes the middle of the i-th of n equal cells,
 * (i + 0.5) / n. Sampling draws u uniformly and snaps it to the value it
 * denotes, so a sampled point and its coordinates always agree. */
#ifndef NN_SWEEP_SPACE_H
#define NN_SWEEP_SPACE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/rng.h"

#define NN_PARAM_TEXT 256

typedef enum { NN_PARAM_CHOICE, NN_PARAM_RANGE } nn_sweep_param_kind;

typedef struct nn_sweep_param {
    char key[NN_PARAM_TEXT]; /* spec key path, as --set takes it */
    nn_sweep_param_kind kind;
    /* choice: the values as --set text ("0.001", "adam", "true") */
    int n_values;
    char (*values)[NN_PARAM_TEXT];
    /* range */
    double min, max;
    bool log, integer;
} nn_sweep_param;

typedef struct nn_space {
    nn_sweep_param *p;
    int n;
} nn_space;

void nn_space_free(nn_space *s);
/* Appends a parameter (copied; values are copied too). */
nn_status nn_space_add(nn_space *s, const nn_sweep_param *p, nn_error *err);

/* Grid: the number of combinations of all choices (every parameter must be
 * a choice), and the k-th combination as one value index per parameter.
 * The last parameter varies fastest. Returns 0 on overflow or empty space. */
long long nn_space_grid_size(const nn_space *s);
void nn_space_grid_point(const nn_space *s, long long k, int *idx);

/* Snaps unit coordinate u of parameter i to the value it denotes: writes the
 * --set text to buf and the canonical coordinate of that value to *u_out. */
void nn_space_value(const nn_space *s, int i, double u, char *buf, size_t n, double *u_out);
/* The coordinate of choice j of parameter i. */
double nn_space_choice_unit(const nn_space *s, int i, int j);
/* A uniform random point: each u[i] canonical, text[i] its --set text. */
void nn_space_sample(const nn_space *s, nn_rng *r, double *u, char (*text)[NN_PARAM_TEXT]);

/* Shortest decimal text that reads back as v ("0.1", "1e-05", "3"). */
void nn_format_double(double v, char *buf, size_t n);

#endif

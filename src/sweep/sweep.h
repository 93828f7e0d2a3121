/* Hyper-parameter sweeps: the sweep file, the trial list, the strategies
 * (grid, random, bayes) and the objective read back from a run directory.
 * Running the trials (processes, signals) is src/sweep/scheduler.c's job. */
#ifndef NN_SWEEP_SWEEP_H
#define NN_SWEEP_SWEEP_H

#include <stdbool.h>

#include "sweep/gp.h"
#include "sweep/space.h"
#include "util/error.h"

#define NN_SWEEP_MAX_SETS 128

typedef enum { NN_SWEEP_GRID, NN_SWEEP_RANDOM, NN_SWEEP_BAYES } nn_sweep_strategy;

typedef struct nn_sweep {
    char path[4096];  /* the sweep file as typed */
    char dir[4096];   /* its directory */
    char base[4096];  /* base spec, resolved against dir; "" when none (command only) */
    nn_sweep_strategy strategy;
    char objective[128];
    bool maximize;
    long long trials; /* random/bayes; grid: the grid size */
    long long seed;
    long long init_trials; /* bayes: random trials before the model takes over */
    nn_kernel kernel;
    int n_sets;
    char sets[NN_SWEEP_MAX_SETS][NN_PARAM_TEXT * 2];
    char *command; /* NULL: nnctl train */
    nn_space space;
} nn_sweep;

typedef enum {
    NN_TRIAL_PENDING = 0, /* proposed, not finished (never run or interrupted) */
    NN_TRIAL_DONE,
    NN_TRIAL_FAILED
} nn_trial_status;

typedef struct nn_trial {
    int index; /* 1-based; directory trial-%04d */
    char (*text)[NN_PARAM_TEXT]; /* one value per parameter, as --set text */
    double *unit;                /* canonical unit coordinates */
    nn_trial_status status;
    double objective; /* when DONE */
    int exit_code;    /* when FAILED */
    bool running;     /* in this process, not stored */
} nn_trial;

typedef struct nn_trials {
    nn_trial *t;
    int n, cap;
} nn_trials;

/* Loads and checks a sweep file; errors name file:line and the key. */
nn_status nn_sweep_load(nn_sweep *sw, const char *path, nn_error *err);
void nn_sweep_free(nn_sweep *sw);

/* Does the objective name mean "higher is better"? (*acc*, *auc*) */
bool nn_objective_maximize(const char *name);

/* A hash of everything that decides the trials (base, set, strategy, seed,
 * space, command, kernel): a resume with another space is refused. */
unsigned long long nn_sweep_fingerprint(const nn_sweep *sw);

void nn_trials_free(nn_trials *ts);
/* Appends a trial with the given values; returns it (or NULL on OOM). */
nn_trial *nn_trials_add(nn_trials *ts, const nn_sweep *sw, char (*text)[NN_PARAM_TEXT],
                        const double *unit, nn_error *err);

/* Trials proposed up front: grid (all) and random (all); bayes: none. */
nn_status nn_sweep_initial(const nn_sweep *sw, nn_trials *ts, nn_error *err);
/* bayes: proposes trial number ts->n + 1 from the finished trials (running
 * ones count at their predicted mean) and appends it. Random while fewer
 * than init_trials exist or fewer than two have finished. */
nn_status nn_sweep_propose(const nn_sweep *sw, nn_trials *ts, nn_error *err);

/* DIR/sweep.json: the trial list with parameters and status (atomic). */
nn_status nn_sweep_save(const nn_sweep *sw, const nn_trials *ts, const char *dir, nn_error *err);
/* Loads DIR/sweep.json if it exists (*found = false otherwise); refuses one
 * written for a different sweep. */
nn_status nn_sweep_restore(const nn_sweep *sw, nn_trials *ts, const char *dir, bool *found,
                           nn_error *err);

/* The objective of a finished run directory: run.json "objective", else the
 * best of history.csv's column over epochs (by direction), else eval.json
 * for test_<metric>. */
nn_status nn_sweep_read_objective(const nn_sweep *sw, const char *run_dir, double *out,
                                  nn_error *err);

/* "key=value" of parameter i for trial t. */
void nn_trial_assignment(const nn_sweep *sw, const nn_trial *t, int i, char *buf, size_t n);

#endif

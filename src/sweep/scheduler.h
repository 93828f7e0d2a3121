/* Running a sweep's trials as processes: `nnctl train BASE --set ...` (or
 * the sweep file's own command, its parameters in the environment), N at
 * a time, each in DIR/trial-NNNN with its log in train.log. Ctrl-C stops
 * the running trials once (each saves its last.h5 for an exact resume), a
 * second one kills them. */
#ifndef NN_SWEEP_SCHEDULER_H
#define NN_SWEEP_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "experiments/rundir.h"
#include "spec/spec.h"
#include "sweep/sweep.h"

typedef struct nn_sweep_sched {
    const char *run_dir; /* as given: sweep.json is saved there */
    const char *abs_dir; /* the same, absolute: the trials run elsewhere */
    int jobs;            /* trials at once */
    int threads;         /* per trial */
    int finished;        /* trials already done (a resumed sweep) */
    bool quiet;          /* no per-trial lines (failures are still printed) */
} nn_sweep_sched;

/* " key=value" for each of the trial's parameters. */
void nn_sweep_print_params(FILE *out, const nn_sweep *sw, const nn_trial *t);

/* DIR/trial-NNNN. */
void nn_sweep_trial_dir(const char *dir, const nn_trial *t, char *buf, size_t n);

/* A trial's effective spec: the base (or an empty document) + the fixed
 * overrides + the trial's parameters; as a document or as libconfig text. */
nn_status nn_sweep_trial_spec(const nn_sweep *sw, const nn_trial *t, nn_spec **out,
                              nn_error *err);
nn_status nn_sweep_trial_spec_text(const nn_sweep *sw, const nn_trial *t, char **text,
                                   nn_error *err);

/* Starts one trial's process in ABS_DIR/trial-NNNN (its output in
 * train.log there) with `threads` threads and the trial's directory locked
 * (*lock, shared with the trial's process through NNCTL_RUN_LOCK_FD;
 * release it when the trial ends); env: up to NN_SWEEP_MAX_ENV more
 * "KEY=VALUE" entries for its environment (NULL-terminated; NULL: none). */
#define NN_SWEEP_MAX_ENV 8
nn_status nn_sweep_spawn(const nn_sweep *sw, const char *abs_dir, int threads,
                         const char *const *env, const nn_trial *t, pid_t *pid, nn_run_lock *lock,
                         nn_error *err);

/* A trial's process ended with wait status ws: reads its objective from
 * its run directory, marks it done or failed and prints its line ("[done /
 * total] trial-NNNN ..."; failures even when quiet). */
void nn_sweep_finish_trial(const nn_sweep *sw, const char *abs_dir, nn_trial *t, int ws,
                           double seconds, int done, int total, bool quiet);

/* Marks the trials whose run directory holds a finished run (run.json and
 * a readable objective) as done, the others as pending; returns how many
 * are done. */
int nn_sweep_mark_finished(const nn_sweep *sw, nn_trials *ts, const char *run_dir);

/* Runs every pending trial (bayes: proposes new ones until sw->trials),
 * saving the trial list after each. *stop_signal is the signal that
 * stopped the sweep, 0 when it ran to the end. A trial that fails is
 * reported on stdout and marked failed; the error return is for the
 * sweep itself (a trial that cannot start, waiting failed). */
nn_status nn_sweep_run(const nn_sweep *sw, nn_trials *ts, const nn_sweep_sched *o,
                       int *stop_signal, nn_error *err);

#endif

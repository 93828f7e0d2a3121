/* Run directories, read back: what `nnctl train` wrote (spec.cfg,
 * history.csv, run.json, eval.json) loaded into plain structs, and the
 * comparison table that `nnctl compare` (and `nnctl sweep`) print.
 *
 * A run directory is one holding spec.cfg and at least one of history.csv
 * and run.json. Everything is read, nothing is written.
 *
 *   nn_run *runs; int n;
 *   const char *dirs[] = {"runs/"};               // parents expand to their runs
 *   if (nn_runs_load(dirs, 1, stderr, &runs, &n, &err)) return nn_cli_report(&err);
 *   nn_runs_table(runs, n, "val_accuracy", true, NN_TABLE_TEXT, stdout, &err);
 *   nn_runs_free(runs, n);
 */
#ifndef NN_EXPERIMENTS_RUNS_H
#define NN_EXPERIMENTS_RUNS_H

#include <stdbool.h>
#include <stdio.h>

#include "util/error.h"

/* ---- flattened specs ----------------------------------------------------- */

/* One setting of a spec: its key path (libconfig path syntax with list
 * elements as `.[N]`, e.g. "model.layers.[1].rate") and its value as text
 * ("0.2", "\"relu\"", "true", "[ 784 ]" for an array). Numbers also carry
 * their value, so 1 and 1.0 compare equal. */
typedef struct nn_kv {
    char *key;
    char *value;
    bool numeric;
    double num;
} nn_kv;

/* A spec as its settings, in document order. Groups and lists `( ... )` are
 * descended into; arrays `[ ... ]` are one value. */
typedef struct nn_flat {
    nn_kv *kv;
    int n;
    int n_layers; /* model.layers entries (nn_flat_layers_by_name; 0: none) */
} nn_flat;

/* Parses libconfig text; errors name `display_name` and the line. */
nn_status nn_spec_flatten(const char *text, const char *display_name, nn_flat *out,
                          nn_error *err);
void nn_flat_free(nn_flat *f);
/* The setting at `key`, or NULL. */
const nn_kv *nn_flat_get(const nn_flat *f, const char *key);
/* Do two settings hold the same value (numerically for numbers)? NULL is
 * "absent": equal only to another NULL. */
bool nn_kv_equal(const nn_kv *a, const nn_kv *b);

/* train.callbacks written as a list of typed groups, ( { type =
 * "checkpoint"; path = "a.h5"; }, ... ), rewritten as the keyed form,
 * train.callbacks.checkpoint.path (a type listed again: checkpoint[2].path),
 * so both forms compare alike. */
nn_status nn_flat_callbacks_by_type(nn_flat *f, nn_error *err);
/* A key of a callback in the keyed form: its type ("checkpoint" for
 * train.callbacks.checkpoint[2].path) and the rest after it ("path"). */
bool nn_flat_callback_key(const char *key, char *type, size_t len, const char **leaf);

/* model.layers.[N].key rewritten model.layers.NAME.key, NAME the layer's
 * name (its own, or nnctl's default: its type, type_1, ...), so runs of
 * different architectures compare layers by what they are, not where
 * they stand; f->n_layers gets the number of layers. */
nn_status nn_flat_layers_by_name(nn_flat *f, nn_error *err);
/* Do two specs (layers by name) list the same layers (names and types) in
 * the same order? */
bool nn_flat_layer_types(const nn_flat *a, const nn_flat *b);

/* The keys whose values are not the same in all n specs (a key absent from
 * some spec counts as different), in order of first appearance (spec 0's
 * order, then keys only later specs have). *keys are pointers into the specs
 * (valid while they are); free the array with free(). n == 1 gives none. */
nn_status nn_flat_diff(const nn_flat *const *specs, int n, const char ***keys, int *n_keys,
                       nn_error *err);

/* ---- history.csv ---------------------------------------------------------- */

typedef struct nn_history {
    int n_cols, n_rows;
    char **cols;  /* column names: "epoch", "loss", ..., "val_loss", ..., "lr", "time" */
    double *v;    /* n_rows x n_cols, row-major; an empty or unparsable cell is NaN */
} nn_history;

/* Parses CSV text with a header line. */
nn_status nn_history_parse(const char *text, const char *display_name, nn_history *out,
                           nn_error *err);
void nn_history_free(nn_history *h);
/* Column index of `name`, or -1. */
int nn_history_col(const nn_history *h, const char *name);
/* h->v[row * n_cols + col] */
double nn_history_at(const nn_history *h, int row, int col);

/* ---- a run ---------------------------------------------------------------- */

/* A named number: a logged value from run.json's "final" or a test result. */
typedef struct nn_named {
    char *name;
    double value;
} nn_named;

typedef struct nn_run {
    char *name;      /* the directory's base name (its path when names collide) */
    char *path;      /* as given */
    char *spec_text; /* spec.cfg as read */
    nn_flat spec;
    nn_history history; /* n_rows == 0 when there is no history.csv */
    bool has_info;      /* run.json was read */
    long long params, trainable_params; /* -1 when unknown */
    long long nonzero;                  /* run.json "nonzero_weights_1e-3"; -1 when unknown */
    int epochs;                         /* epochs run: history rows, else run.json's; -1 */
    double seconds;                     /* run.json "seconds"; NaN when unknown */
    nn_named *final;                    /* run.json "final": last epoch's logs */
    int n_final;
    bool has_test;                      /* eval.json, else run.json "test" */
    nn_named *test;                     /* "loss", "accuracy", ... */
    int n_test;
    long long test_samples;             /* -1 when unknown */
} nn_run;

/* Is `dir` a run directory (spec.cfg plus history.csv or run.json)? */
bool nn_run_dir_is_run(const char *dir);
/* Loads one run directory. A directory that is not a run is an error naming
 * what is missing. On failure *run is left empty (safe to nn_run_free). */
nn_status nn_run_load(const char *dir, nn_run *run, nn_error *err);
void nn_run_free(nn_run *run);

/* Loads every path: a run directory, or a parent whose subdirectories
 * include runs (those, sorted by name). A path that is neither (a stray
 * file, a folder without runs) is skipped with one line on `skipped`, or
 * is an error when skipped is NULL; a path that does not exist, or none
 * left, is an error. Names that collide get their full paths. Free with
 * nn_runs_free. */
nn_status nn_runs_load(const char *const *paths, int n_paths, FILE *skipped, nn_run **runs,
                       int *n_runs, nn_error *err);
void nn_runs_free(nn_run *runs, int n);

/* A test result by name (NaN when absent). */
double nn_run_test_value(const nn_run *run, const char *name);
/* The primary validation metric of a set of runs: "val_accuracy" when any
 * run's history has it, else "val_loss", else "loss"; NULL without history. */
const char *nn_runs_primary_metric(const nn_run *runs, int n);
/* Does a larger value of this metric or column mean better? True for
 * accuracy-like metrics; false for losses, errors, times and counts. */
bool nn_runs_key_maximize(const char *key);
/* Best over the epochs of a history column (max when maximize, else min);
 * NaN when the run has no such column. */
double nn_run_best(const nn_run *run, const char *col, bool maximize);
/* Last epoch's value of a history column; NaN when absent. */
double nn_run_final(const nn_run *run, const char *col);

/* ---- the comparison table ------------------------------------------------- */

typedef enum { NN_TABLE_TEXT, NN_TABLE_CSV, NN_TABLE_MARKDOWN } nn_table_format;

/* Columns: run, every spec key that differs between the runs, epochs,
 * best_<m> and final_<m> for the primary metric m, test_<t> when any run was
 * evaluated (t: accuracy when logged, else loss), sec/epoch (mean of
 * history's time column), params, and nonzero>1e-3 (the final model's
 * weights with |w| > 1e-3, when a run.json has them). Missing values print
 * as "-" (empty in CSV).
 *
 * sort_key: a column name (e.g. "train.optimizer.lr", "params"), a spec
 * key, best_X / final_X for any history column X (best by X's own
 * direction), test_X for any test result, or a history column
 * ("val_accuracy": its best value over the epochs, by `maximize`); rows are sorted best first (descending when
 * maximize), runs without the key last; NULL sorts by name. An unknown key is
 * a usage error listing the columns.
 *
 * Text: aligned columns, numbers to 4 decimals. CSV: RFC 4180, numbers at
 * full precision. Markdown: a pipe table with a header separator. */
nn_status nn_runs_table(const nn_run *runs, int n, const char *sort_key, bool maximize,
                        nn_table_format fmt, FILE *out, nn_error *err);

#endif

/* Command-line flags shared by the subcommands. Each subcommand names the
 * flags it accepts; anything else is a usage error with a suggestion. */
#ifndef NN_CLI_ARGS_H
#define NN_CLI_ARGS_H

#include <stdbool.h>

#include "engine/engine.h"
#include "util/error.h"

#define NN_ARGS_MAX 256

typedef struct nn_args {
    const char *cmd;
    const char *pos[NN_ARGS_MAX];
    int n_pos;
    const char *sets[NN_ARGS_MAX];
    int n_sets;
    const char *inputs[NN_ARGS_MAX]; /* predict --input NAME=FILE */
    int n_inputs;
    const char *run_dir, *spec, *data, *engine, *output, *resume_file, *sort, *metric, *layer;
    const char *threshold, *labels; /* predict */
    const char *precision;
    long long threads, top_k, batch_size, width, height, jobs;
    bool threads_given; /* --threads N; 0 means every core, as train.threads = 0 */
    bool json, quiet, help, resize, crop, invert, resume, csv, markdown, overwrite;
    bool weights; /* summary --weights */
} nn_args;

/* allowed: space-separated long flag names without dashes, e.g.
 * "set run-dir threads engine quiet json". */
nn_status nn_args_parse(int argc, char **argv, const char *cmd, const char *allowed, nn_args *a,
                        nn_error *err);

/* --precision POLICY as a precision (float32, mixed_bfloat16,
 * mixed_float16; auto when allow_auto); a usage error names the choices. */
nn_status nn_args_precision(const nn_args *a, bool allow_auto, nn_precision *out, bool *is_auto,
                            nn_error *err);

/* eval and predict: --precision P runs every layer's products in P
 * (whatever the model file says); nothing without the flag. */
typedef struct nn_model nn_model;
nn_status nn_args_apply_precision(const nn_args *a, nn_model *m, nn_engine *e, nn_error *err);

/* --threads/--engine as spec overrides (train.threads=N, train.engine=E). */
int nn_args_overrides(const nn_args *a, const char **out, char bufs[2][64]);

#endif

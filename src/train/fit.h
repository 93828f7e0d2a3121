/* The fit loop and evaluation. */
#ifndef NN_TRAIN_FIT_H
#define NN_TRAIN_FIT_H

#include <stdio.h>

#include "data/dataset.h"
#include "model/model.h"
#include "train/logs.h"
#include "train/train_spec.h"

/* How the loss meets the model's output and the data's targets. */
typedef struct nn_objective {
    const nn_loss_info *loss;
    nn_loss_kind kind;  /* effective (fused or not) */
    bool fused;         /* loss reads the output's pre-activation */
    bool one_hot;       /* targets are one-hot rows, else one label per row */
    int cols;           /* output units */
    int target_cols;    /* per-sample target width */
} nn_objective;

/* Checks that loss, output layer and data fit together; errors say how to
 * fix a mismatch. one_hot_setting: -1 = derive from the loss. */
nn_status nn_objective_resolve(const nn_train_cfg *t, const nn_model *m, int one_hot_setting,
                               int n_classes, nn_objective *o, nn_error *err);

typedef struct nn_eval_result {
    double loss;
    double metrics[NN_MAX_METRICS];
    size_t samples;
} nn_eval_result;

/* Inference over a whole dataset in batches of `batch`. */
nn_status nn_evaluate(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                      const nn_dataset *d, int batch, nn_eval_result *r, nn_error *err);

typedef struct nn_fit_opts {
    const char *run_dir;
    const char *spec_text;   /* stored in checkpoints and the final model */
    FILE *out;               /* progress */
    bool tty, quiet;
    bool shuffle;            /* reshuffle the training set each epoch */
} nn_fit_opts;

typedef struct nn_fit_result {
    long long epochs_run;
    nn_logs last;            /* the last epoch's logs */
    double seconds;
    char model_path[4096];
} nn_fit_result;

nn_status nn_fit(nn_model *m, nn_train_cfg *t, const nn_objective *o, const nn_dataset *train,
                 const nn_dataset *val, const nn_fit_opts *opts, nn_fit_result *res,
                 nn_error *err);

#endif

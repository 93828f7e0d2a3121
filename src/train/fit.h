/* The fit loop and evaluation. */
#ifndef NN_TRAIN_FIT_H
#define NN_TRAIN_FIT_H

#include <jansson.h>
#include <stdio.h>

#include "data/dataset.h"
#include "io/keras/h5file.h"
#include "dist/dist.h"
#include "model/model.h"
#include "train/logs.h"
#include "train/train_spec.h"

/* How one output's loss meets that output and its targets. */
typedef struct nn_head {
    nn_node *node;      /* the model output */
    const nn_loss_info *loss;
    double weight;      /* its share of the total loss (train.loss_weights) */
    nn_loss_kind kind;  /* effective (fused or not) */
    float param;        /* the loss's parameter (huber's delta) */
    void *inst;         /* a plugin loss's instance */
    /* host copies for a plugin loss on an engine off the host (grown once) */
    float *stage_pred, *stage_true, *stage_grad;
    size_t stage_n;
    bool fused;         /* loss reads the output's pre-activation */
    bool one_hot;       /* targets are one-hot rows, else one label per row */
    int cols;           /* output units */
    int target_cols;    /* per-sample target width */
} nn_head;

/* Every output's loss, in model order; the loss minimized is the weighted
 * sum (Keras's loss_weights). */
typedef struct nn_objective {
    int n;
    nn_head h[NN_MAX_IO];
    /* On error: what to point the user at, and which output. */
    enum { NN_BLAME_LOSS, NN_BLAME_ONE_HOT, NN_BLAME_OUTPUT, NN_BLAME_METRICS } blame;
    int blame_head;
} nn_objective;

/* Checks that each loss, output layer and its data fit together; errors
 * say how to fix a mismatch. one_hot_setting: -1 = derive from the loss;
 * n_classes[k]: classes of output k's targets (0: regression targets). */
nn_status nn_objective_resolve(const nn_train_cfg *t, const nn_model *m, int one_hot_setting,
                               const int *n_classes, nn_objective *o, nn_error *err);

#define NN_EVAL_MAX_CLASSES 256
/* Frees what a plugin loss's host copies took. */
void nn_objective_release(nn_objective *o);

typedef struct nn_eval_result {
    double loss;
    double head_loss[NN_MAX_IO];   /* each output's (unweighted) data loss */
    double metrics[NN_MAX_METRICS];
    size_t samples;
    /* Output 0 of a classifier with class labels (the top unit, or one
     * sigmoid unit over 0.5): each class's samples and how many were
     * predicted right; n_classes = 0 otherwise. */
    int n_classes;
    size_t class_samples[NN_EVAL_MAX_CLASSES], class_right[NN_EVAL_MAX_CLASSES];
} nn_eval_result;

/* Inference over a whole dataset in batches of `batch`. While Ctrl-C
 * handling is installed (nn_interrupt_install), a signal stops it after the
 * current batch: NN_ERR_RUNTIME, "interrupted". dist (NULL: one process):
 * the processes of an MPI job each take a share of d and all get the
 * result. */
nn_status nn_evaluate(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                      const nn_dataset *d, int batch, nn_dist *dist, nn_eval_result *r,
                      nn_error *err);

/* Where a run stands, beyond weights and optimizer slots: everything an
 * exact resume needs (stored as JSON in every checkpoint). */
typedef struct nn_fit_state {
    long long epoch, step;         /* the next batch to run */
    double loss_sum, sums[NN_MAX_METRICS], head_sums[NN_MAX_IO];
    double mstate[NN_MAX_METRICS][NN_METRIC_STATE_MAX]; /* plugin metrics' state */
    size_t seen;
    json_t *callbacks;             /* each callback's state by its key (a resume), or NULL */
    float *best_weights;           /* restore_best_weights snapshot, or NULL */
    bool have_best_weights;
    bool stopped;                  /* a callback ended the run (early stopping) */
    nn_logs last;                  /* the last finished epoch's logs */
    double loss_scale;             /* loss scaling: the scale now (0: not started) */
    long long ls_good;             /* good steps in a row since it last changed */
    long long skipped;             /* steps skipped this epoch (gradients overflowed) */
} nn_fit_state;

/* Where a checkpoint f (loaded from path) stands: the next epoch and
 * batch to run (both from 0). NN_ERR_RUNTIME when it holds no training
 * state (not an nnctl checkpoint). */
nn_status nn_fit_checkpoint_position(const nn_h5_model *f, const char *path, long long *epoch,
                                     long long *step, nn_error *err);
/* Loads checkpoint f (read from path) for --resume into m (weights,
 * optimizer slots) and t (optimizer iterations) and fills st; checks it
 * belongs to this run. */
nn_status nn_fit_load_resume(const nn_h5_model *f, const char *path, nn_model *m,
                             nn_train_cfg *t, nn_fit_state *st, nn_error *err);
void nn_fit_state_free(nn_fit_state *st);
/* Data-parallel resume: rank 0 loaded the checkpoint (nn_fit_load_resume)
 * into m, t and st; every other rank gets the same from it. */
nn_status nn_fit_share_resume(nn_dist *d, nn_model *m, nn_train_cfg *t, nn_fit_state *st,
                              nn_error *err);

/* train.precision = "auto": times a few training steps (forward and
 * backward, no update) on the first batch in float32 and mixed_bfloat16
 * and gives the model the faster (weights and batch statistics are put
 * back). secs: the best step time of each (0 when not measured: no bf16
 * here, and then float32). */
nn_status nn_fit_pick_precision(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                                const nn_dataset *train, nn_precision *picked, double secs[2],
                                nn_error *err);

typedef struct nn_fit_opts {
    const char *run_dir;
    const char *spec_text;   /* stored in checkpoints and the final model */
    const char *spec_dir;    /* with it: the spec's folder (absolute), or NULL */
    const char *class_names; /* with it: JSON {"<output>": [names]}, or NULL */
    const char *preprocess;  /* with it: JSON featurewise statistics, or NULL */
    FILE *out;               /* progress */
    bool tty, quiet;
    bool shuffle;            /* reshuffle the training set each epoch */
    bool bucket_by_length;   /* batches of similar lengths (train/buckets.h) */
    nn_fit_state *resume;    /* continue from here, or NULL */
    /* Called once, right after the run's first checkpoint (last.h5) is
     * written (nnctl train --overwrite removes the old run's files then);
     * an error stops training. NULL: nothing. */
    nn_status (*first_checkpoint)(void *ctx, nn_error *err);
    void *ctx;
    /* Data-parallel training (mpirun; NULL: one process): each process
     * runs its share of every batch of train.batch_size samples and rank
     * 0 alone prints and writes; every rank calls nn_fit. */
    nn_dist *dist;
} nn_fit_opts;

typedef struct nn_fit_result {
    long long epochs_run;
    nn_logs last;            /* the last epoch's logs */
    double seconds;
    double comm_wait;        /* data-parallel: seconds waiting for the sums after backward */
    char model_path[4096];
    int interrupted;         /* the signal that stopped training, or 0 */
    char last_path[4096];    /* the resumable checkpoint written at the stop */
} nn_fit_result;

nn_status nn_fit(nn_model *m, nn_train_cfg *t, const nn_objective *o, const nn_dataset *train,
                 const nn_dataset *val, const nn_fit_opts *opts, nn_fit_result *res,
                 nn_error *err);

#endif

/* The spec's `train` section. */
#ifndef NN_TRAIN_TRAIN_SPEC_H
#define NN_TRAIN_TRAIN_SPEC_H

#include <limits.h>

#include "model/model.h"
#include "train/losses.h"
#include "train/metrics.h"
#include "train/optimizers.h"

typedef enum { NN_MODE_AUTO = 0, NN_MODE_MIN, NN_MODE_MAX } nn_monitor_mode;

typedef struct nn_early_stopping_cfg {
    bool enabled;
    char monitor[64];
    double min_delta;
    long long patience, start_from_epoch;
    nn_monitor_mode mode;
    bool has_baseline;
    double baseline;
    bool restore_best_weights;
} nn_early_stopping_cfg;

typedef struct nn_checkpoint_cfg {
    bool enabled;
    char path[PATH_MAX]; /* template, relative to the run directory */
    char monitor[64];
    nn_monitor_mode mode;
    bool save_best_only, save_weights_only, verbose;
} nn_checkpoint_cfg;

typedef struct nn_history_cfg {
    bool enabled;
    char path[PATH_MAX];
    char separator;
    bool append;
} nn_history_cfg;

/* Keras's TensorBoard callback: event files under log_dir/train and
 * log_dir/validation. */
typedef struct nn_tensorboard_cfg {
    bool enabled;
    char log_dir[PATH_MAX];   /* relative to the run directory unless absolute */
    long long histogram_freq; /* weight histograms every N epochs; 0: none */
    long long update_freq;    /* batch scalars every N batches; 0: "epoch" (none) */
} nn_tensorboard_cfg;

typedef struct nn_train_cfg {
    const nn_loss_info *loss; /* the first output's (the only one's) */
    /* One loss and one weight per model output, in model order: train.loss
     * names one loss for every output, or a group { output = "loss"; ... }
     * (loss_by_output); train.loss_weights = { output = w; ... } (default
     * 1). The loss minimized is the weighted sum, as in Keras. */
    int n_outputs;
    const nn_loss_info *losses[NN_MAX_IO];
    double loss_weights[NN_MAX_IO];
    bool loss_by_output, weights_given;
    char output_names[NN_MAX_IO][NN_NAME_MAX];
    nn_optimizer optimizer;
    /* train.metrics, flat (nn_metric.head says which output): one list
     * for every output, or a group of one list per output; with several
     * outputs the names carry the output's as a prefix. */
    nn_metric metrics[NN_MAX_METRICS];
    int n_metrics;
    long long epochs, batch_size, seed, threads;
    char engine[16];
    nn_early_stopping_cfg early_stopping;
    nn_checkpoint_cfg checkpoint;
    nn_history_cfg history;
    nn_tensorboard_cfg tensorboard;
    /* init_from: a model file whose weights, by layer name, start training
     * (layers it lacks, or holds with other shapes, keep their fresh
     * draws); "" for none. As written: resolved against the current
     * directory, then the spec file's. */
    char init_from[PATH_MAX];
} nn_train_cfg;

/* Reads `train` for model m (its outputs' names and widths). */
nn_status nn_spec_train(nn_spec_node *train, const nn_model *m, nn_train_cfg *out, nn_error *err);
/* The name an output's loss is logged under: "digit_loss" (several outputs). */
void nn_head_loss_name(const nn_train_cfg *t, int head, char *buf, size_t len);

/* Does `name` mean "bigger is better" (mode auto, Keras 2's rule)? */
bool nn_monitor_maximize(nn_monitor_mode mode, const char *name);

#endif

/* The spec's `train` section. */
#ifndef NN_TRAIN_TRAIN_SPEC_H
#define NN_TRAIN_TRAIN_SPEC_H

#include <limits.h>

#include "model/model.h"
#include "train/callbacks/callback.h"
#include "objectives/losses.h"
#include "objectives/metrics.h"
#include "train/optimizers.h"

/* Data-parallel training (mpirun): gradients are summed over the
 * processes in buckets of about bucket_mb megabytes, each started as soon
 * as backward has finished its layers (PyTorch DDP's bucket_cap_mb). */
typedef struct nn_distributed_cfg {
    double bucket_mb;
} nn_distributed_cfg;

/* Dynamic loss scaling, as Keras's LossScaleOptimizer: the loss's gradient
 * is multiplied by `scale` so small fp16 gradients do not flush to zero;
 * the gradients are divided by it before the update. A step whose
 * gradients overflowed (inf or NaN) is skipped and the scale halved; after
 * dynamic_growth_steps good steps in a row it doubles. train.loss_scale =
 * { initial_scale; dynamic_growth_steps; enabled; }; on by default with
 * precision mixed_float16. */
typedef struct nn_loss_scale_cfg {
    bool enabled;
    double initial_scale;       /* Keras: 2^15 */
    long long growth_steps;     /* Keras: 2000 */
} nn_loss_scale_cfg;

typedef struct nn_train_cfg {
    const nn_loss_info *loss; /* the first output's (the only one's) */
    /* One loss and one weight per model output, in model order: train.loss
     * names one loss for every output, or a group { output = "loss"; ... }
     * (loss_by_output); train.loss_weights = { output = w; ... } (default
     * 1). The loss minimized is the weighted sum, as in Keras. */
    int n_outputs;
    const nn_loss_info *losses[NN_MAX_IO];
    float loss_params[NN_MAX_IO]; /* each loss's parameter (huber's delta), or 0 */
    void *loss_inst[NN_MAX_IO];    /* a plugin loss's instance, else NULL */
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
    /* train.callbacks, in the spec's order (callback.h) */
    nn_callback callbacks[NN_MAX_CALLBACKS];
    int n_callbacks;
    nn_distributed_cfg distributed;
    bool has_batch_begin; /* some callback has a batch_begin hook */
    /* train.precision: Keras's dtype policy for every layer without its
     * own ("float32", "mixed_bfloat16", "mixed_float16"), or "auto": the
     * faster of float32 and mixed_bfloat16, measured when training starts */
    nn_precision precision;
    bool precision_auto;
    nn_loss_scale_cfg loss_scale;
    /* init_from: a model file whose weights, by layer name, start training
     * (layers it lacks, or holds with other shapes, keep their fresh
     * draws); "" for none. As written: resolved against the current
     * directory, then the spec file's. */
    char init_from[PATH_MAX];
} nn_train_cfg;

/* Reads `train` for model m (its outputs' names and widths). */
nn_status nn_spec_train(nn_spec_node *train, const nn_model *m, nn_train_cfg *out, nn_error *err);
/* Keras's compile() arguments as JSON text (training_config of model
 * files; malloc'd, NULL when out of memory). */
char *nn_train_keras_config(const nn_train_cfg *t);
/* The name an output's loss is logged under: "digit_loss" (several outputs). */
void nn_head_loss_name(const nn_train_cfg *t, int head, char *buf, size_t len);

/* The names each epoch logs, in history.csv's order: loss, each output's
 * loss (several outputs), each metric; then, with validation data, their
 * val_ forms. At most max; returns how many. */
#define NN_LOGGED_NAME 140
#define NN_MAX_LOGGED (2 * (NN_MAX_METRICS + NN_MAX_IO + 1))
int nn_logged_names(const nn_train_cfg *c, bool with_val, char (*names)[NN_LOGGED_NAME],
                    int max);


#endif

/* The metric registry. "accuracy" resolves from the loss, as in Keras. */
#ifndef NN_TRAIN_METRICS_H
#define NN_TRAIN_METRICS_H

#include "spec/spec.h"
#include "train/losses.h"

#define NN_MAX_METRICS 8

typedef struct nn_metric {
    char name[48];        /* column name: "accuracy", "top_k_categorical_accuracy" */
    nn_metric_kind kind;
    int k;                /* top-k */
    bool root;            /* rmse: sqrt of the epoch's mean squared error */
    bool maximize;        /* for mode "auto" */
} nn_metric;

/* Reads train.metrics (strings, or groups { type = "..."; k = 3; }). */
nn_status nn_spec_metrics(nn_spec_node *train, const nn_loss_info *loss, int output_units,
                          nn_metric *out, int *n_out, nn_error *err);

#endif

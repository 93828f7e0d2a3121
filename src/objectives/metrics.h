/* The metric registry. "accuracy" resolves from the output's width and its
 * targets, as in Keras 3 and tf.keras: binary for one unit, sparse
 * categorical for integer labels, else categorical. */
#ifndef NN_OBJECTIVES_METRICS_H
#define NN_OBJECTIVES_METRICS_H

#include "spec/spec.h"
#include "model/layer.h"
#include "objectives/losses.h"


/* The most state a plugin's metric keeps (doubles). */
#define NN_METRIC_STATE_MAX 64

/* A plugin's metric: stateful across batches like Keras's. nnctl keeps
 * state_count doubles, zeroed at each epoch's start. */
typedef struct nn_metric_type {
    const char *name;
    const char *doc;
    const nn_doc_key *keys;
    bool maximize;
    int state_count;
    nn_status (*create)(const struct nn_metric_type *t, nn_spec_node *g, void **inst,
                        nn_error *err);
    /* Adds a batch (host floats, rows x cols) to state. */
    nn_status (*update)(const struct nn_metric_type *t, void *inst, double *state,
                        const float *y_pred, const float *y_true, int rows, int cols,
                        nn_error *err);
    double (*result)(const struct nn_metric_type *t, void *inst, const double *state);
    const void *plugin;
} nn_metric_type;

/* The plugins' metric rows (NULL past the end); registering one. */
const nn_metric_type *nn_metric_type_at(int i);
nn_status nn_metric_type_register(const nn_metric_type *t, nn_error *err);
/* Every built-in metric name (NULL past the end), for the man page. */
const char *nn_metric_builtin_name(int i);

typedef struct nn_metric {
    /* column name: "accuracy", "top_k_categorical_accuracy"; with several
     * outputs prefixed by the output's name, as Keras logs them:
     * "digit_accuracy" */
    char name[128];
    char base[48];        /* the metric's own name, without the prefix */
    int head;             /* the model output it measures (its index) */
    nn_metric_kind kind;
    int k;                /* top-k */
    bool root;            /* rmse: sqrt of the epoch's mean squared error */
    bool maximize;        /* for mode "auto" */
    const nn_metric_type *plugin; /* a plugin's metric, or NULL */
    void *inst;           /* its instance */
} nn_metric;

/* Reads the list under `key` of `node` (train.metrics, or one output's
 * entry of the train.metrics group): strings, or groups { type = "...";
 * k = 3; }, for one output of output_units units and the given loss; at
 * most NN_MAX_METRICS_PER_OUTPUT; none when the key is absent. */
/* Keras 1/2's "acc" for "accuracy" in a logged name: "val_acc" is
 * "val_accuracy", "digit_acc" "digit_accuracy". True (and out filled) when
 * name ends so. */
bool nn_metric_keras2_alias(const char *name, char *out, size_t len);

nn_status nn_spec_metrics(nn_spec_node *node, const char *key, const nn_loss_info *loss,
                          int output_units, nn_metric *out, int *n_out, nn_error *err);

#endif

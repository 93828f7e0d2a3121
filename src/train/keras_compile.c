/* Keras's training_config (what compile() was given) from the train
 * section, for model files: Keras reopens them compiled the same way. */
#include <jansson.h>
#include <stdlib.h>

#include "train/train_spec.h"

/* One metric as Keras's compile() takes it: its name, or for a top-k
 * metric with k other than Keras's default 5 the serialized object (a name
 * like "top_3_categorical_accuracy" means nothing to Keras). */
static json_t *keras_metric(const nn_metric *m)
{
    bool sparse = m->kind == NN_METRIC_SPARSE_TOP_K;
    if ((m->kind != NN_METRIC_TOP_K && !sparse) || m->k == 5)
        return json_string(m->base);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:i}, s:n}", "module", "keras.metrics", "class_name",
                     sparse ? "SparseTopKCategoricalAccuracy" : "TopKCategoricalAccuracy",
                     "config", "name", m->base, "dtype", "float32", "k", m->k,
                     "registered_name");
}

/* Output k's loss as Keras's compile() takes it: its name, or for a loss
 * whose parameter is not Keras's default the serialized loss object (Huber
 * with its delta; both Keras 2 and 3 build it from this config). */
static json_t *keras_loss(const nn_train_cfg *t, int k)
{
    const nn_loss_info *L = t->losses[k];
    if (!L->param_name || t->loss_params[k] == (float)L->param_default)
        return json_string(L->keras_name);
    return json_pack("{s:s, s:s, s:{s:f}, s:n}", "module", "keras.losses", "class_name",
                     L->keras_class, "config", L->param_name, (double)t->loss_params[k],
                     "registered_name");
}

/* The metrics output k takes, as a JSON list. */
static json_t *head_metrics(const nn_train_cfg *t, int k)
{
    json_t *list = json_array();
    for (int i = 0; i < t->n_metrics; i++)
        if (t->metrics[i].head == k)
            json_array_append_new(list, keras_metric(&t->metrics[i]));
    return list;
}

/* Keras's compile() arguments. Several outputs: loss and loss_weights as
 * {output: ...} objects when the spec named them per output; metrics as
 * {output: its list} (Keras 3 takes a flat list only for one output). */
char *nn_train_keras_config(const nn_train_cfg *t)
{
    json_t *metrics = head_metrics(t, 0);
    if (t->n_outputs > 1) {
        json_decref(metrics);
        metrics = json_object();
        for (int k = 0; k < t->n_outputs; k++)
            json_object_set_new(metrics, t->output_names[k], head_metrics(t, k));
    }
    json_t *loss = keras_loss(t, 0), *weights = json_null();
    if (t->loss_by_output) {
        json_decref(loss);
        loss = json_object();
        for (int k = 0; k < t->n_outputs; k++)
            json_object_set_new(loss, t->output_names[k], keras_loss(t, k));
    }
    if (t->weights_given) {
        json_decref(weights);
        weights = json_object();
        for (int k = 0; k < t->n_outputs; k++)
            json_object_set_new(weights, t->output_names[k], json_real(t->loss_weights[k]));
    }
    json_t *cfg = json_pack("{s:o, s:o, s:n, s:o, s:n, s:o}", "loss", loss, "metrics", metrics,
                            "weighted_metrics", "loss_weights", weights, "sample_weight_mode",
                            "optimizer_config", nn_optimizer_keras_json(&t->optimizer));
    char *s = json_dumps(cfg, JSON_COMPACT);
    json_decref(cfg);
    return s;
}

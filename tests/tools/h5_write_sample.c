/* Writes a sample Keras-layout model file with nn_h5_save, for
 * tests/oracle/check_h5_layout.py (and keras.models.load_model).
 *
 *   h5_write_sample FILE [N]
 *
 * The model is a Keras 2 Sequential: Dense(3) on 4 inputs, Dropout,
 * Dense(2, softmax), plus N extra linear Activation layers with long names
 * (N = 3000 pushes layer_names over 64 KiB, so it is split). Weights are
 * deterministic: value = index * 0.25 - 1 within each array. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/h5file.h"

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (b->n + (size_t)need + 1 > b->cap) {
        b->cap = (b->n + (size_t)need + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)need;
}

static void array(nn_h5_array *a, const char *name, int ndim, size_t d0, size_t d1)
{
    a->name = strdup(name);
    a->ndim = ndim;
    a->dims[0] = d0;
    a->dims[1] = d1;
    size_t n = ndim == 0 ? 1 : ndim == 1 ? d0 : d0 * d1;
    a->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        a->data[i] = (float)i * 0.25f - 1.0f;
}

static void dense_layer(nn_h5_layer *L, const char *name, size_t in, size_t out)
{
    char wn[256];
    L->name = strdup(name);
    L->n_weights = 2;
    L->weights = calloc(2, sizeof *L->weights);
    snprintf(wn, sizeof wn, "%s/kernel:0", name);
    array(&L->weights[0], wn, 2, in, out);
    snprintf(wn, sizeof wn, "%s/bias:0", name);
    array(&L->weights[1], wn, 1, out, 0);
}

static const char *DENSE_CFG =
    "{\"class_name\": \"Dense\", \"config\": {\"name\": \"%s\", \"trainable\": true, "
    "\"dtype\": \"float32\", \"units\": %d, \"activation\": \"%s\", \"use_bias\": true, "
    "\"kernel_initializer\": {\"class_name\": \"GlorotUniform\", \"config\": {\"seed\": null}}, "
    "\"bias_initializer\": {\"class_name\": \"Zeros\", \"config\": {}}, "
    "\"kernel_regularizer\": null, \"bias_regularizer\": null, \"activity_regularizer\": null, "
    "\"kernel_constraint\": null, \"bias_constraint\": null}}";

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE [N_EXTRA_LAYERS]\n", argv[0]);
        return 2;
    }
    int extra = argc == 3 ? atoi(argv[2]) : 0;
    if (extra < 0)
        extra = 0;

    nn_h5_model m = {0};
    sbuf cfg = {0};
    sb_add(&cfg, "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential\", "
                 "\"layers\": [{\"class_name\": \"InputLayer\", \"config\": "
                 "{\"batch_input_shape\": [null, 4], \"dtype\": \"float32\", "
                 "\"sparse\": false, \"ragged\": false, \"name\": \"dense_input\"}}, ");
    sb_add(&cfg, DENSE_CFG, "dense", 3, "relu");
    sb_add(&cfg, ", {\"class_name\": \"Dropout\", \"config\": {\"name\": \"dropout\", "
                 "\"trainable\": true, \"dtype\": \"float32\", \"rate\": 0.5, "
                 "\"noise_shape\": null, \"seed\": null}}, ");
    sb_add(&cfg, DENSE_CFG, "dense_1", 2, "softmax");

    m.n_layers = 3 + extra;
    m.layers = calloc((size_t)m.n_layers, sizeof *m.layers);
    dense_layer(&m.layers[0], "dense", 4, 3);
    m.layers[1].name = strdup("dropout");
    dense_layer(&m.layers[2], "dense_1", 3, 2);
    for (int i = 0; i < extra; i++) {
        char name[128];
        snprintf(name, sizeof name, "activation_with_a_long_name_to_overflow_attrs_%05d", i);
        m.layers[3 + i].name = strdup(name);
        sb_add(&cfg,
               ", {\"class_name\": \"Activation\", \"config\": {\"name\": \"%s\", "
               "\"trainable\": true, \"dtype\": \"float32\", \"activation\": \"linear\"}}",
               name);
    }
    sb_add(&cfg, "]}}");
    m.model_config = cfg.s;
    m.training_config = strdup(
        "{\"loss\": \"categorical_crossentropy\", \"metrics\": [[{\"class_name\": "
        "\"MeanMetricWrapper\", \"config\": {\"name\": \"accuracy\", \"dtype\": \"float32\", "
        "\"fn\": \"categorical_accuracy\"}}]], \"weighted_metrics\": null, "
        "\"loss_weights\": null, \"optimizer_config\": {\"class_name\": \"SGD\", \"config\": "
        "{\"name\": \"SGD\", \"learning_rate\": 0.01, \"momentum\": 0.0, \"nesterov\": false}}}");
    m.keras_version = strdup("2.15.0");
    m.backend = strdup("tensorflow");
    m.nnctl_spec = strdup("model: { layers = ( { type = \"dense\"; units = 3; } ); };");
    m.nnctl_state = strdup("{\"epoch\": 2}");
    m.n_optimizer = 3;
    m.optimizer = calloc(3, sizeof *m.optimizer);
    array(&m.optimizer[0], "iterations", 0, 0, 0);
    array(&m.optimizer[1], "momentum/dense/kernel:0", 2, 4, 3);
    array(&m.optimizer[2], "momentum/dense/bias:0", 1, 3, 0);

    nn_error err = {0};
    nn_status st = nn_h5_save(argv[1], &m, &err);
    nn_h5_model_free(&m);
    if (st) {
        fprintf(stderr, "h5_write_sample: %s\n", err.msg);
        return 1;
    }
    return 0;
}

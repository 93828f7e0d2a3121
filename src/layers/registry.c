/* The layer rows. Adding a built-in layer type: one new file holding its
 * row, plus one line in `types` below. Plugins add rows at run time. */
#include <stdio.h>
#include <string.h>

#include "layers/registry.h"

extern const nn_layer_type nn_layer_dense, nn_layer_activation, nn_layer_dropout,
    nn_layer_flatten, nn_layer_reshape, nn_layer_conv1d, nn_layer_conv2d, nn_layer_max_pooling1d,
    nn_layer_max_pooling2d, nn_layer_average_pooling1d, nn_layer_average_pooling2d,
    nn_layer_global_max_pooling1d, nn_layer_global_max_pooling2d,
    nn_layer_global_average_pooling1d, nn_layer_global_average_pooling2d,
    nn_layer_batch_normalization, nn_layer_add, nn_layer_subtract, nn_layer_multiply,
    nn_layer_average, nn_layer_maximum, nn_layer_minimum, nn_layer_concatenate,
    nn_layer_depthwise_conv2d, nn_layer_separable_conv2d, nn_layer_simple_rnn, nn_layer_lstm,
    nn_layer_gru, nn_layer_bidirectional, nn_layer_time_distributed, nn_layer_embedding,
    nn_layer_zero_padding2d, nn_layer_relu, nn_layer_custom_scale,
    nn_layer_cropping2d, nn_layer_rescaling, nn_layer_normalization,
    nn_layer_layer_normalization, nn_layer_layer_scale, nn_layer_up_sampling2d,
    nn_layer_masking;

static const nn_layer_type *const types[] = {
    &nn_layer_input,   &nn_layer_dense,   &nn_layer_activation,
    &nn_layer_dropout, &nn_layer_flatten, &nn_layer_reshape,
    &nn_layer_conv1d,  &nn_layer_conv2d,
    &nn_layer_max_pooling1d, &nn_layer_max_pooling2d,
    &nn_layer_average_pooling1d, &nn_layer_average_pooling2d,
    &nn_layer_global_max_pooling1d, &nn_layer_global_max_pooling2d,
    &nn_layer_global_average_pooling1d, &nn_layer_global_average_pooling2d,
    &nn_layer_batch_normalization,
    &nn_layer_add, &nn_layer_subtract, &nn_layer_multiply, &nn_layer_average,
    &nn_layer_maximum, &nn_layer_minimum, &nn_layer_concatenate,
    &nn_layer_depthwise_conv2d, &nn_layer_separable_conv2d,
    &nn_layer_simple_rnn, &nn_layer_lstm, &nn_layer_gru,
    &nn_layer_bidirectional, &nn_layer_time_distributed, &nn_layer_embedding,
    &nn_layer_zero_padding2d, &nn_layer_relu, &nn_layer_custom_scale,
    &nn_layer_cropping2d, &nn_layer_rescaling, &nn_layer_normalization,
    &nn_layer_layer_normalization, &nn_layer_layer_scale, &nn_layer_up_sampling2d,
    &nn_layer_masking,
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))
#define MAX_PLUGIN 64

static const nn_layer_type *plugin_types[MAX_PLUGIN];
static int n_plugin;

const nn_layer_type *nn_layer_type_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < N_TYPES)
        return types[i];
    return i - N_TYPES < n_plugin ? plugin_types[i - N_TYPES] : NULL;
}

const nn_layer_type *nn_layer_type_find(const char *name)
{
    const nn_layer_type *t;
    for (int i = 0; (t = nn_layer_type_at(i)); i++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

const char *const *nn_layer_type_names(void)
{
    /* "input" is declared in model.input, never as a layer */
    static const char *names[N_TYPES + MAX_PLUGIN + 1];
    const nn_layer_type *t;
    int n = 0;
    for (int i = 0; (t = nn_layer_type_at(i)); i++)
        if (t != &nn_layer_input)
            names[n++] = t->name;
    names[n] = NULL;
    return names;
}

const nn_layer_type *nn_layer_type_for_keras(const char *cls)
{
    const nn_layer_type *t;
    /* a row's own class first: a type added later for what was an alias
     * (ReLU as its own layer) takes it over */
    for (int i = 0; (t = nn_layer_type_at(i)); i++)
        if (t != &nn_layer_input && t->keras_class && !strcmp(t->keras_class, cls))
            return t;
    for (int i = 0; (t = nn_layer_type_at(i)); i++)
        for (int k = 0; t->keras_aliases && t->keras_aliases[k]; k++)
            if (!strcmp(t->keras_aliases[k], cls))
                return t;
    return NULL;
}

void nn_layer_keras_classes(char *buf, size_t n)
{
    const nn_layer_type *t;
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; (t = nn_layer_type_at(i)) && o < n; i++) {
        if (t == &nn_layer_input || !t->keras_class)
            continue;
        o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", t->keras_class);
        for (int k = 0; t->keras_aliases && t->keras_aliases[k] && o < n; k++)
            o += (size_t)snprintf(buf + o, n - o, ", %s", t->keras_aliases[k]);
    }
}

nn_status nn_layer_type_register(const nn_layer_type *t, nn_error *err)
{
    if (nn_layer_type_find(t->name))
        return nn_fail(err, NN_ERR_USAGE, "layer type \"%s\" is already registered", t->name);
    if (t->keras_class && nn_layer_type_for_keras(t->keras_class))
        return nn_fail(err, NN_ERR_USAGE,
                       "layer type \"%s\": Keras class %s already belongs to layer type \"%s\"",
                       t->name, t->keras_class, nn_layer_type_for_keras(t->keras_class)->name);
    if (n_plugin == MAX_PLUGIN)
        return nn_fail(err, NN_ERR_USAGE, "more than %d plugin layer types", MAX_PLUGIN);
    plugin_types[n_plugin++] = t;
    return NN_OK;
}

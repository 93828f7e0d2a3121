/* Adding a layer: one new file plus one row here. */
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
    nn_layer_cropping2d;

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
    &nn_layer_cropping2d,
};
#define N_TYPES ((int)(sizeof types / sizeof types[0]))

const nn_layer_type *nn_layer_type_find(const char *name)
{
    for (int i = 0; i < N_TYPES; i++)
        if (strcmp(types[i]->name, name) == 0)
            return types[i];
    return NULL;
}

const char *const *nn_layer_type_names(void)
{
    /* "input" is declared in model.input, never as a layer */
    static const char *names[N_TYPES + 1];
    int n = 0;
    for (int i = 0; i < N_TYPES; i++)
        if (types[i] != &nn_layer_input)
            names[n++] = types[i]->name;
    names[n] = NULL;
    return names;
}

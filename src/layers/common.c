#include "layers/common.h"

void nn_keras_config_common(const nn_node *n, json_t *config)
{
    json_object_set_new(config, "name", json_string(n->name));
    json_object_set_new(config, "trainable", json_boolean(n->trainable));
    json_object_set_new(config, "dtype", json_string("float32"));
}

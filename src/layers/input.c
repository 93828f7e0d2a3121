/* The input node: its output tensor is the uploaded batch. */
#include "layers/common.h"
#include "layers/registry.h"

static nn_status input_keras_config(const nn_node *n, json_t *config, nn_error *err)
{
    (void)err;
    json_t *shape = json_array();
    json_array_append_new(shape, json_null());
    for (int i = 0; i < n->ndim; i++)
        json_array_append_new(shape, n->shape[i] && !(n->var_axes >> i & 1)
                                         ? json_integer(n->shape[i])
                                         : json_null());
    json_object_set_new(config, "batch_input_shape", shape);
    json_object_set_new(config, "dtype", json_string("float32"));
    json_object_set_new(config, "sparse", json_false());
    json_object_set_new(config, "ragged", json_false());
    json_object_set_new(config, "name", json_string(n->name));
    return NN_OK;
}

static const nn_doc_key input_keys[] = {

    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_input = {
    .name = "input",
    .keras_class = "InputLayer",
    .doc = "a model input (declared in model.input or model.inputs)",
    .keys = input_keys,
    .keras_config = input_keras_config,
};

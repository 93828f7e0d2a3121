/* The layer-type registry: one row per layer type. */
#ifndef NN_LAYERS_REGISTRY_H
#define NN_LAYERS_REGISTRY_H

#include "model/layer.h"

const nn_layer_type *nn_layer_type_find(const char *name);
/* The i-th row, built-in first then plugins' (NULL past the end). */
const nn_layer_type *nn_layer_type_at(int i);
/* The row that reads Keras class cls: by its own class, else by alias. */
const nn_layer_type *nn_layer_type_for_keras(const char *cls);
/* "Dense, Activation, LeakyReLU, ...": every class some row reads. */
void nn_layer_keras_classes(char *buf, size_t n);
/* Adds a plugin's row (which must live as long as the program); an error
 * when its name or Keras class is taken. */
nn_status nn_layer_type_register(const nn_layer_type *t, nn_error *err);
/* NULL-terminated list of spec type names (for "did you mean"). */
const char *const *nn_layer_type_names(void);
extern const nn_layer_type nn_layer_input;
/* An Embedding node's vocabulary size (input_dim), 0 for other layers
 * (the data checks refuse token ids the table lacks). */
int nn_embedding_input_dim(const nn_node *n);
/* Does node n's forward pass add up statistics over the processes of a
 * data-parallel run? (BatchNormalization with sync = true; false for any
 * other layer) */
bool nn_layer_syncs_processes(const nn_node *n);

#endif

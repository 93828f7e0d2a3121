/* The layer-type registry: one row per layer type. */
#ifndef NN_LAYERS_REGISTRY_H
#define NN_LAYERS_REGISTRY_H

#include "model/layer.h"

const nn_layer_type *nn_layer_type_find(const char *name);
/* NULL-terminated list of spec type names (for "did you mean"). */
const char *const *nn_layer_type_names(void);
extern const nn_layer_type nn_layer_input;
/* An Embedding node's vocabulary size (input_dim), 0 for other layers
 * (the data checks refuse token ids the table lacks). */
int nn_embedding_input_dim(const nn_node *n);

#endif

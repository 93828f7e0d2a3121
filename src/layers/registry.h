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
/* Does node n's forward pass add up statistics over the processes of a
 * data-parallel run? (BatchNormalization with sync = true; false for any
 * other layer) */
bool nn_layer_syncs_processes(const nn_node *n);

#endif

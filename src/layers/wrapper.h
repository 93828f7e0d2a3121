/* Shared by the layer wrappers (Bidirectional, TimeDistributed). */
#ifndef NN_LAYERS_WRAPPER_H
#define NN_LAYERS_WRAPPER_H

#include "layers/common.h"

/* The wrapped layer's group `layer = { type = ...; [name = ...;] ... }`:
 * its type must be one of types (NULL-terminated); the name (default: the
 * type) goes to n->inner_name. The caller reads the other keys and checks
 * for unknown ones. */
nn_status nn_wrapper_inner(nn_node *n, nn_spec_node *s, const char *const *types,
                           nn_spec_node **inner, int *type_idx, nn_error *err);
/* {"class_name": keras_class, "config": config} (takes config). */
json_t *nn_wrapper_inner_json(const char *keras_class, json_t *config);

#endif

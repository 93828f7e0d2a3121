/* The activation rows (model/activations.c): names, engine ids, default
 * parameters. Below layers: Keras import and layers both read them. */
#ifndef NN_MODEL_ACTIVATIONS_H
#define NN_MODEL_ACTIVATIONS_H

#include "engine/engine.h"
#include "spec/spec.h"

typedef struct nn_activation_info {
    const char *name;      /* spec and Keras name: "relu" */
    nn_act id;
    float default_alpha;   /* leaky_relu slope, elu alpha */
} nn_activation_info;

const nn_activation_info *nn_activation_lookup(nn_act id);
/* Reads key (default "linear") as an activation name. */
nn_status nn_spec_activation(nn_spec_node *s, const char *key, nn_act *act, float *alpha,
                             nn_error *err);
const char *nn_activation_name(nn_act id);
/* The row of a name (canonical or alias), or NULL. */
const nn_activation_info *nn_activation_find(const char *name);
/* Every name, canonical ones first, into names (at most cap); the count. */
int nn_activation_names(const char **names, int cap);

#endif

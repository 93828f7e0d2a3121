/* What the wrappers (Bidirectional, TimeDistributed) share: reading the
 * wrapped layer's group and its name. */
#include <string.h>

#include "layers/wrapper.h"

nn_status nn_wrapper_inner(nn_node *n, nn_spec_node *s, const char *const *types,
                           nn_spec_node **inner, int *type_idx, nn_error *err)
{
    nn_status st;
    if ((st = nn_spec_group(s, "layer", true, inner, err)) ||
        (st = nn_spec_choice(*inner, "type", true, types, -1, type_idx, err)))
        return st;
    const char *name = NULL;
    if ((st = nn_spec_string(*inner, "name", false, types[*type_idx], &name, err)))
        return st;
    if (!nn_layer_name_ok(name))
        return nn_spec_fail(*inner, "name", err, NN_ERR_USAGE, "expected " NN_LAYER_NAME_RULE);
    snprintf(n->inner_name, sizeof n->inner_name, "%s", name);
    return NN_OK;
}

json_t *nn_wrapper_inner_json(const char *keras_class, json_t *config)
{
    /* "module" as Keras >= 2.13 writes it: Keras 3 finds the class by it */
    return json_pack("{s:s, s:s, s:o, s:n}", "module", "keras.layers", "class_name", keras_class,
                     "config", config, "registered_name");
}

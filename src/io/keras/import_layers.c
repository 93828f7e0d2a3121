/* One Keras layer config to the keys of an nnctl spec layer group, by the
 * layer row that reads its class (the row's keras_import; a plugin's row
 * takes the config's keys as they are). */
#include <string.h>
#include <strings.h>

#include "layers/registry.h"
#include "io/keras/import_internal.h"

nn_status kx_layer_body(const kx_layer *L, const int *in_rank, int n_in, kx_text *t, int *rank)
{
    kx_shapes s = {in_rank, n_in, 0};
    /* quantized dtype policies change the weights' meaning */
    json_t *dt = json_object_get(L->cfg, "dtype");
    json_t *dcls = json_is_object(dt) ? json_object_get(dt, "class_name") : NULL;
    if (json_is_string(dcls) && strstr(json_string_value(dcls), "Quantized"))
        return kx_fail(L, "quantized layers (%s) are not supported", json_string_value(dcls));
    /* arithmetic on tensors (an operation's class may be a merge layer's:
     * Add), and the one Lambda nnctl reads */
    nn_status st = NN_OK;
    bool done = true;
    if (!strcmp(L->cls, "TFOpLambda"))
        st = kx_import_tf_op(L, t, &s);
    else if (kx_is_operation(L))
        st = kx_import_operation(L, t, &s);
    else if (!strcmp(L->cls, "Lambda"))
        st = kx_import_lambda(L, t, &s);
    else
        done = false;
    if (done) {
        *rank = s.rank;
        return st;
    }
    const nn_layer_type *row = nn_layer_type_for_keras(kx_class_name(L->cls));
    if (row) {
        kx_layer named = *L;
        named.row_class = row->keras_class;
        st = row->keras_import ? row->keras_import(&named, t, &s)
                               : kx_generic_layer(&named, row->name, t, &s);
        *rank = s.rank;
        return st;
    }
    if (!strcmp(L->cls, "Sequential") || !strcmp(L->cls, "Functional") ||
        !strcmp(L->cls, "Model"))
        return kx_fail(L, "a model nested as a layer is not supported (flatten it into one "
                          "model)");
    char list[2048];
    nn_layer_keras_classes(list, sizeof list);
    json_t *module = json_object_get(L->obj, "module");
    bool custom = json_is_string(module) && strncmp(json_string_value(module), "keras.", 6);
    /* Keras 3 names a registered custom class "package>Class" */
    custom |= strchr(L->cls, '>') != NULL;
    return kx_fail(L, "layer class %s is not supported%s. nnctl reads: InputLayer, %s", L->cls,
                   custom ? " (a custom layer: load the plugin that implements it with "
                            "--plugin)"
                          : "",
                   list);
}

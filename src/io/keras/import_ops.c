/* Arithmetic recorded as graph nodes rather than layers. Keras 3 keeps
 * operations on symbolic tensors as nodes of module keras.src.ops.* (x +
 * 3.0 is class Add with args [x, 3.0]); tf-keras keeps them as TFOpLambda
 * layers calling a TensorFlow function on x with y among the keyword
 * arguments (x + 3.0: function "__operators__.add", [["x", 0, 0, {"y":
 * 3.0}]]; y may be a tensor, [name, node, tensor], read as a second
 * input). Between two tensors they read as the merge layers of the same
 * class (which broadcast); between a tensor and a number as a Rescaling
 * config with the scale and offset the operation amounts to. */
#include <string.h>

#include "layers/registry.h"
#include "io/keras/import_internal.h"

bool kx_is_operation(const kx_layer *L)
{
    json_t *mod = json_object_get(L->obj, "module");
    if (json_is_string(mod))
        return !strncmp(json_string_value(mod), "keras.src.ops.", 14);
    /* the legacy .h5 writer drops "module": an operation's config holds
     * its name only, a layer's always trainable and dtype too */
    json_t *call = json_array_get(json_object_get(L->obj, "inbound_nodes"), 0);
    return json_is_object(call) && !kx_get(L, "trainable", NULL) && !kx_get(L, "dtype", NULL);
}

/* L read by the row of Keras class cls, with config cfg (NULL: L's). */
static nn_status as_class(const kx_layer *L, const char *cls, json_t *cfg, kx_text *t,
                          kx_shapes *s)
{
    const nn_layer_type *row = nn_layer_type_for_keras(cls);
    if (!row || !row->keras_import)
        return kx_fail(L, "no layer type reads %s", cls);
    kx_layer as = *L;
    as.cls = cls;
    as.row_class = row->keras_class;
    if (cfg)
        as.cfg = cfg;
    return row->keras_import(&as, t, s);
}

/* op between the tensor and the number k (tensor_first: x op k, else k op
 * x) as Rescaling's scale and offset. */
static nn_status scalar_op(const kx_layer *L, kx_text *t, kx_shapes *s, const char *op, double k,
                           bool tensor_first)
{
    double scale = 1.0, offset = 0.0;
    if (!strcmp(op, "Add"))
        offset = k;
    else if (!strcmp(op, "Subtract") && tensor_first)
        offset = -k;
    else if (!strcmp(op, "Subtract"))
        scale = -1.0, offset = k;
    else if (!strcmp(op, "Multiply"))
        scale = k;
    else if (!strcmp(op, "TrueDivide") && tensor_first && k != 0.0)
        scale = 1.0 / k;
    else
        return kx_fail(L, "the operation %s between a tensor and the number %g is not "
                          "supported (x + k, x - k, k - x, x * k and x / k are)",
                       op, k);
    json_t *cfg = json_pack("{s:f, s:f}", "scale", scale, "offset", offset);
    if (!cfg)
        return kx_fail(L, "out of memory");
    nn_status st = as_class(L, "Rescaling", cfg, t, s);
    json_decref(cfg);
    return st;
}

nn_status kx_import_operation(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const kx_name_map arith[] = {{"Add", "Add"},
                                        {"Subtract", "Subtract"},
                                        {"Multiply", "Multiply"},
                                        {"Divide", "TrueDivide"},
                                        {"TrueDivide", "TrueDivide"}};
    const char *op = NULL;
    for (size_t i = 0; i < sizeof arith / sizeof arith[0]; i++)
        if (!strcmp(L->cls, arith[i].keras))
            op = arith[i].nnctl;
    json_t *m = json_object_get(L->obj, "module");
    if (!op)
        return kx_fail(L, "the Keras operation %s (%s) is not supported: nnctl reads the "
                          "operations add, subtract, multiply and divide",
                       L->cls, json_is_string(m) ? json_string_value(m) : "keras.src.ops");
    json_t *call = json_array_get(json_object_get(L->obj, "inbound_nodes"), 0);
    json_t *args = json_object_get(call, "args");
    if (json_array_size(args) != 2 || json_object_size(json_object_get(call, "kwargs")))
        return kx_fail(L, "expected an operation on two arguments and no keyword arguments");
    json_t *a = json_array_get(args, 0), *b = json_array_get(args, 1);
    if (json_is_object(a) && json_is_object(b)) {
        if (!strcmp(op, "TrueDivide"))
            return kx_fail(L, "dividing a tensor by a tensor is not supported");
        return as_class(L, op, NULL, t, s);
    }
    if (s->n_in != 1 || !(json_is_number(a) || json_is_number(b)))
        return kx_fail(L, "expected a tensor and a number as arguments");
    return scalar_op(L, t, s, op, json_number_value(json_is_number(a) ? a : b),
                     json_is_object(a));
}

nn_status kx_import_tf_op(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const kx_name_map fns[] = {
        {"__operators__.add", "Add"},      {"math.add", "Add"},
        {"__operators__.sub", "Subtract"}, {"math.subtract", "Subtract"},
        {"math.multiply", "Multiply"},     {"__operators__.mul", "Multiply"},
        {"math.truediv", "TrueDivide"},    {"__operators__.truediv", "TrueDivide"},
        {"math.divide", "TrueDivide"},
    };
    json_t *fn = kx_get(L, "function", NULL);
    const char *op = NULL;
    for (size_t i = 0; json_is_string(fn) && i < sizeof fns / sizeof fns[0]; i++)
        if (!strcmp(json_string_value(fn), fns[i].keras))
            op = fns[i].nnctl;
    if (!op)
        return kx_fail(L, "the TensorFlow function %s is not supported: nnctl reads tf-keras's "
                          "add, subtract, multiply and divide",
                       json_is_string(fn) ? json_string_value(fn) : "(none)");
    json_t *entry = json_array_get(json_object_get(L->obj, "inbound_nodes"), 0);
    if (!json_is_string(json_array_get(entry, 0))) /* [[x, 0, 0, {y}]] rather than [x, 0, 0, {y}] */
        entry = json_array_get(entry, 0);
    json_t *y = json_object_get(json_array_get(entry, 3), "y");
    if (json_is_number(y) && s->n_in == 1)
        return scalar_op(L, t, s, op, json_number_value(y), true);
    if (json_is_array(y) && s->n_in == 2 && strcmp(op, "TrueDivide"))
        return as_class(L, op, NULL, t, s);
    return kx_fail(L, "expected x and a number or a tensor y (%s x by a tensor is not "
                      "supported)",
                   !strcmp(op, "TrueDivide") ? "dividing" : "the operation on");
}

/* What ONNX mappings share (formats/onnx_layer.h): errors naming the
 * layer, its weights and Keras config values, transposes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "formats/onnx_layer.h"

nn_status onnx_layer_fail(const onnx_layer *L, nn_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_fail(err, NN_ERR_RUNTIME, "ONNX export: layer '%s' (%s): %s", L->n->name,
                   L->n->type->keras_class, msg);
}

const float *onnx_param(const onnx_layer *L, const char *name, const nn_param **p)
{
    for (int k = 0; k < L->n->n_params; k++)
        if (!strcmp(L->n->params[k].name, name)) {
            if (p)
                *p = &L->n->params[k];
            return L->w[k];
        }
    return NULL;
}

long long onnx_cfg_int(const json_t *cfg, const char *key, long long def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

double onnx_cfg_real(const json_t *cfg, const char *key, double def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

bool onnx_cfg_bool(const json_t *cfg, const char *key, bool def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

const char *onnx_cfg_str(const json_t *cfg, const char *key, const char *def)
{
    json_t *v = json_object_get(cfg, key);
    return json_is_string(v) ? json_string_value(v) : def;
}

void onnx_cfg_ints(const json_t *cfg, const char *key, int rank, int def, int *out)
{
    json_t *v = json_object_get(cfg, key);
    for (int i = 0; i < rank; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, json_array_size(v) == 1 ? 0 : (size_t)i)
                                     : v;
        out[i] = json_is_integer(e) ? (int)json_integer_value(e) : def;
    }
}

const char *onnx_transpose(onnx_graph *g, const char *x, int n, const int64_t *perm)
{
    const char *y = onnx_fresh(g, "Transpose");
    onnx_node nd;
    onnx_node_begin(&nd, g, "Transpose");
    onnx_node_input(&nd, x);
    onnx_node_output(&nd, y);
    onnx_attr_ints(&nd, "perm", perm, n);
    onnx_node_end(&nd);
    return y;
}

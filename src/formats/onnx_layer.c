/* What ONNX mappings share (formats/onnx_layer.h): errors naming the
 * layer, its weights and Keras config values, transposes. */
#define _GNU_SOURCE /* M_SQRT1_2 */
#include <math.h>
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

/* op(x) with one float attribute (LeakyRelu alpha, Elu alpha). */
static const char *op_alpha(onnx_graph *g, const char *op, const char *x, float alpha)
{
    const char *y = onnx_fresh(g, op);
    onnx_node nd;
    onnx_node_begin(&nd, g, op);
    onnx_node_input(&nd, x);
    onnx_node_output(&nd, y);
    onnx_attr_float(&nd, "alpha", alpha);
    onnx_node_end(&nd);
    return y;
}

/* Keras 2 definitions, as engine/cpu/cpu_act.c computes them. */
const char *onnx_activation(onnx_graph *g, const char *x, nn_act act, float alpha)
{
    onnx_node nd;
    const char *y;
    switch (act) {
    case NN_ACT_LINEAR:
    case NN_ACT_COUNT:
        return x;
    case NN_ACT_RELU:
        return onnx_op1(g, "Relu", x);
    case NN_ACT_SIGMOID:
        return onnx_op1(g, "Sigmoid", x);
    case NN_ACT_TANH:
        return onnx_op1(g, "Tanh", x);
    case NN_ACT_SOFTPLUS:
        return onnx_op1(g, "Softplus", x);
    case NN_ACT_SOFTSIGN:
        return onnx_op1(g, "Softsign", x);
    case NN_ACT_ELU:
        return op_alpha(g, "Elu", x, alpha);
    case NN_ACT_LEAKY_RELU:
        return op_alpha(g, "LeakyRelu", x, alpha);
    case NN_ACT_SOFTMAX:
        y = onnx_fresh(g, "Softmax");
        onnx_node_begin(&nd, g, "Softmax");
        onnx_node_input(&nd, x);
        onnx_node_output(&nd, y);
        onnx_attr_int(&nd, "axis", -1);
        onnx_node_end(&nd);
        return y;
    case NN_ACT_SELU:
        y = onnx_fresh(g, "Selu");
        onnx_node_begin(&nd, g, "Selu");
        onnx_node_input(&nd, x);
        onnx_node_output(&nd, y);
        onnx_attr_float(&nd, "alpha", 1.6732632423543772848170429916717f);
        onnx_attr_float(&nd, "gamma", 1.0507009873554804934193349852946f);
        onnx_node_end(&nd);
        return y;
    case NN_ACT_HARD_SIGMOID: /* Keras 2's clip(0.2 x + 0.5, 0, 1) */
        y = onnx_fresh(g, "HardSigmoid");
        onnx_node_begin(&nd, g, "HardSigmoid");
        onnx_node_input(&nd, x);
        onnx_node_output(&nd, y);
        onnx_attr_float(&nd, "alpha", 0.2f);
        onnx_attr_float(&nd, "beta", 0.5f);
        onnx_node_end(&nd);
        return y;
    case NN_ACT_SWISH:
        return onnx_op2(g, "Mul", x, onnx_op1(g, "Sigmoid", x));
    case NN_ACT_RELU6: /* Clip takes its bounds as inputs since opset 11 */
        y = onnx_fresh(g, "Clip");
        onnx_node_begin(&nd, g, "Clip");
        onnx_node_input(&nd, x);
        onnx_node_input(&nd, onnx_scalar(g, "zero", 0.0f));
        onnx_node_input(&nd, onnx_scalar(g, "six", 6.0f));
        onnx_node_output(&nd, y);
        onnx_node_end(&nd);
        return y;
    case NN_ACT_MISH: /* opset 13 has no Mish (18 does): x tanh(softplus(x)) */
        return onnx_op2(g, "Mul", x, onnx_op1(g, "Tanh", onnx_op1(g, "Softplus", x)));
    case NN_ACT_EXPONENTIAL:
        return onnx_op1(g, "Exp", x);
    case NN_ACT_HARD_SILU: /* x HardSigmoid(x; 1/6, 0.5) (HardSwish is opset 14) */
        y = onnx_fresh(g, "HardSigmoid");
        onnx_node_begin(&nd, g, "HardSigmoid");
        onnx_node_input(&nd, x);
        onnx_node_output(&nd, y);
        onnx_attr_float(&nd, "alpha", 1.0f / 6.0f);
        onnx_attr_float(&nd, "beta", 0.5f);
        onnx_node_end(&nd);
        return onnx_op2(g, "Mul", x, y);
    case NN_ACT_GELU: { /* 0.5 x (1 + erf(x / sqrt 2)), the exact form */
        const char *e = onnx_op1(g, "Erf", onnx_op2(g, "Mul", x,
                                                    onnx_scalar(g, "rsqrt2", (float)M_SQRT1_2)));
        const char *half_x = onnx_op2(g, "Mul", x, onnx_scalar(g, "half", 0.5f));
        return onnx_op2(g, "Mul", half_x, onnx_op2(g, "Add", e, onnx_scalar(g, "one", 1.0f)));
    }
    }
    return x;
}

/* ONNX mappings of the layers that need no geometry: Dense (and
 * TimeDistributed(Dense)), Activation and the activations every layer
 * ends in, Dropout, Flatten, Reshape, BatchNormalization, the merges and
 * Embedding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx_layer.h"

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

/* ---- layers without geometry ---- */

/* x W + b on the last axis of any rank (MatMul broadcasts the leading axes),
 * then the activation: Dense and TimeDistributed(Dense). */
nn_status onnx_map_dense(onnx_layer *L, nn_error *err)
{
    const nn_param *kp = NULL;
    const float *k = onnx_param(L, "kernel", &kp), *b = onnx_param(L, "bias", NULL);
    if (!k)
        return onnx_layer_fail(L, err, "no kernel");
    int64_t dims[2] = {kp->shape[0], kp->shape[1]};
    const char *y = onnx_op2(L->g, "MatMul", L->in[0],
                             onnx_const_float(L->g, "kernel", 2, dims, k));
    if (b)
        y = onnx_op2(L->g, "Add", y, onnx_const_float(L->g, "bias", 1, dims + 1, b));
    L->out = onnx_activation(L->g, y, L->n->act, L->n->act_alpha);
    return NN_OK;
}

nn_status onnx_map_activation(onnx_layer *L, nn_error *err)
{
    (void)err;
    L->out = onnx_activation(L->g, L->in[0], L->n->act, L->n->act_alpha);
    return NN_OK;
}

nn_status onnx_map_identity(onnx_layer *L, nn_error *err) /* Dropout at inference */
{
    (void)err;
    L->out = onnx_op1(L->g, "Identity", L->in[0]);
    return NN_OK;
}

/* Flatten and Reshape: the node's inferred shape, the batch axis copied (0). */
nn_status onnx_map_reshape(onnx_layer *L, nn_error *err)
{
    (void)err;
    int64_t shape[NN_MAX_DIMS + 1] = {0};
    for (int i = 0; i < L->n->ndim; i++)
        shape[i + 1] = L->n->shape[i];
    L->out = onnx_op2(L->g, "Reshape", L->in[0],
                      onnx_ints(L->g, "shape", L->n->ndim + 1, shape));
    return NN_OK;
}

/* Inference BatchNormalization on the last axis, folded as the CPU engine
 * folds it (in float): x * scale + shift with scale = gamma / sqrt(var +
 * eps) and shift = beta - mean * scale. */
nn_status onnx_map_batchnorm(onnx_layer *L, nn_error *err)
{
    const nn_param *mp = NULL;
    const float *mean = onnx_param(L, "moving_mean", &mp);
    const float *var = onnx_param(L, "moving_variance", NULL);
    const float *gamma = onnx_param(L, "gamma", NULL), *beta = onnx_param(L, "beta", NULL);
    if (!mean || !var)
        return onnx_layer_fail(L, err, "no moving statistics");
    const int C = mp->shape[0];
    const float eps = (float)onnx_cfg_real(L->cfg, "epsilon", 1e-3);
    float *scale = malloc((size_t)C * sizeof *scale), *shift = malloc((size_t)C * sizeof *shift);
    if (!scale || !shift) {
        free(scale);
        free(shift);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int c = 0; c < C; c++) {
        float inv = 1.0f / sqrtf(var[c] + eps);
        scale[c] = (gamma ? gamma[c] : 1.0f) * inv;
        shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * scale[c];
    }
    int64_t dims[1] = {C};
    const char *y = onnx_op2(L->g, "Mul", L->in[0], onnx_const_float(L->g, "scale", 1, dims, scale));
    L->out = onnx_op2(L->g, "Add", y, onnx_const_float(L->g, "shift", 1, dims, shift));
    free(scale);
    free(shift);
    return NN_OK;
}

/* Elementwise merges in nnctl's order of operations ((a + b) + c ...). */
nn_status onnx_map_merge(onnx_layer *L, nn_error *err)
{
    (void)err;
    const char *cls = L->n->type->keras_class;
    onnx_graph *g = L->g;
    int n_in = L->n->n_in;
    if (!strcmp(cls, "Concatenate")) {
        long long axis = onnx_cfg_int(L->cfg, "axis", -1);
        /* Keras counts the batch axis, so does ONNX; a negative axis is
         * the same in both */
        L->out = onnx_fresh(g, "Concat");
        onnx_node nd;
        onnx_node_begin(&nd, g, "Concat");
        for (int i = 0; i < n_in; i++)
            onnx_node_input(&nd, L->in[i]);
        onnx_node_output(&nd, L->out);
        onnx_attr_int(&nd, "axis", axis);
        onnx_node_end(&nd);
        return NN_OK;
    }
    const char *op = !strcmp(cls, "Subtract")   ? "Sub"
                     : !strcmp(cls, "Multiply") ? "Mul"
                     : !strcmp(cls, "Maximum")  ? "Max"
                     : !strcmp(cls, "Minimum")  ? "Min"
                                                : "Add"; /* Add, Average */
    const char *y = L->in[0];
    for (int i = 1; i < n_in; i++)
        y = onnx_op2(g, op, y, L->in[i]);
    if (!strcmp(cls, "Average"))
        y = onnx_op2(g, "Mul", y, onnx_scalar(g, "inv_n", 1.0f / (float)n_in));
    L->out = y;
    return NN_OK;
}

/* Token ids arrive as floats (as nnctl holds them): Cast, then Gather rows. */
nn_status onnx_map_embedding(onnx_layer *L, nn_error *err)
{
    const nn_param *p = NULL;
    const float *table = onnx_param(L, "embeddings", &p);
    if (!table)
        return onnx_layer_fail(L, err, "no embeddings");
    onnx_graph *g = L->g;
    const char *ids = onnx_fresh(g, "Cast");
    onnx_node nd;
    onnx_node_begin(&nd, g, "Cast");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_output(&nd, ids);
    onnx_attr_int(&nd, "to", ONNX_INT64);
    onnx_node_end(&nd);
    int64_t dims[2] = {p->shape[0], p->shape[1]};
    L->out = onnx_op2(g, "Gather", onnx_const_float(g, "embeddings", 2, dims, table), ids);
    return NN_OK;
}


/* The activation registry. Keras 2 definitions (see engine/cpu/cpu_act.c);
 * hard_sigmoid is Keras 2's clip(0.2x + 0.5, 0, 1); leaky_relu's default
 * slope 0.2 is tf.nn.leaky_relu's (and Keras 3's). relu6, mish, exponential
 * and hard_silu are Keras 3's. A name's first row is its canonical one
 * (what model files are written with); later rows with the same id are
 * aliases (Keras 3 accepts both names). */
#include <string.h>

#include "model/activations.h"

static const nn_activation_info activations[] = {
    {"linear", NN_ACT_LINEAR, 0.0f},       {"relu", NN_ACT_RELU, 0.0f},
    {"sigmoid", NN_ACT_SIGMOID, 0.0f},     {"tanh", NN_ACT_TANH, 0.0f},
    {"softmax", NN_ACT_SOFTMAX, 0.0f},     {"elu", NN_ACT_ELU, 1.0f},
    {"selu", NN_ACT_SELU, 0.0f},           {"softplus", NN_ACT_SOFTPLUS, 0.0f},
    {"softsign", NN_ACT_SOFTSIGN, 0.0f},   {"hard_sigmoid", NN_ACT_HARD_SIGMOID, 0.0f},
    {"leaky_relu", NN_ACT_LEAKY_RELU, 0.2f}, {"swish", NN_ACT_SWISH, 0.0f},
    {"gelu", NN_ACT_GELU, 0.0f},           {"relu6", NN_ACT_RELU6, 0.0f},
    {"mish", NN_ACT_MISH, 0.0f},           {"exponential", NN_ACT_EXPONENTIAL, 0.0f},
    {"hard_silu", NN_ACT_HARD_SILU, 0.0f},
    /* aliases */
    {"silu", NN_ACT_SWISH, 0.0f},          {"hard_swish", NN_ACT_HARD_SILU, 0.0f},
};
#define N_ACT ((int)(sizeof activations / sizeof activations[0]))

const nn_activation_info *nn_activation_lookup(nn_act id)
{
    for (int i = 0; i < N_ACT; i++)
        if (activations[i].id == id)
            return &activations[i];
    return &activations[0];
}

const char *nn_activation_name(nn_act id) { return nn_activation_lookup(id)->name; }

const nn_activation_info *nn_activation_find(const char *name)
{
    for (int i = 0; i < N_ACT; i++)
        if (strcmp(activations[i].name, name) == 0)
            return &activations[i];
    return NULL;
}

int nn_activation_names(const char **names, int cap)
{
    int n = 0;
    for (int i = 0; i < N_ACT && n < cap; i++)
        names[n++] = activations[i].name;
    return n;
}

nn_status nn_spec_activation(nn_spec_node *s, const char *key, nn_act *act, float *alpha,
                             nn_error *err)
{
    const char *names[N_ACT + 1];
    for (int i = 0; i < N_ACT; i++)
        names[i] = activations[i].name;
    names[N_ACT] = NULL;
    int idx;
    nn_status st = nn_spec_choice(s, key, false, names, 0, &idx, err);
    if (st)
        return st;
    *act = activations[idx].id;
    *alpha = activations[idx].default_alpha;
    return NN_OK;
}

#include <string.h>

#include "objectives/losses.h"

/* One row per loss. kind: computed on the output; fused_kind with
 * fused_act: on the pre-activation when the model ends in that activation
 * (can_fuse). Each formula is in engine/engine.h. */
#define PLAIN(n, k, id, tgt)                                                                 \
    {.name = n, .keras_name = k, .kind = id, .fused_kind = id, .fused_act = NN_ACT_LINEAR,  \
     .target = tgt}
#define FUSED(n, id, fid, act, tgt)                                                          \
    {.name = n, .keras_name = n, .kind = id, .fused_kind = fid, .fused_act = act,           \
     .can_fuse = true, .target = tgt}

static const nn_loss_info losses[] = {
    PLAIN("mse", "mean_squared_error", NN_LOSS_MSE, NN_TARGET_ANY),
    PLAIN("mae", "mean_absolute_error", NN_LOSS_MAE, NN_TARGET_ANY),
    PLAIN("mape", "mean_absolute_percentage_error", NN_LOSS_MAPE, NN_TARGET_ANY),
    PLAIN("msle", "mean_squared_logarithmic_error", NN_LOSS_MSLE, NN_TARGET_ANY),
    PLAIN("hinge", "hinge", NN_LOSS_HINGE, NN_TARGET_ANY),
    PLAIN("squared_hinge", "squared_hinge", NN_LOSS_SQUARED_HINGE, NN_TARGET_ANY),
    FUSED("binary_crossentropy", NN_LOSS_BINARY_CE, NN_LOSS_BINARY_CE_LOGITS, NN_ACT_SIGMOID,
          NN_TARGET_BINARY),
    FUSED("categorical_crossentropy", NN_LOSS_CATEGORICAL_CE, NN_LOSS_SOFTMAX_CE, NN_ACT_SOFTMAX,
          NN_TARGET_ONE_HOT),
    FUSED("sparse_categorical_crossentropy", NN_LOSS_SPARSE_CE, NN_LOSS_SPARSE_SOFTMAX_CE,
          NN_ACT_SOFTMAX, NN_TARGET_SPARSE),
    PLAIN("categorical_hinge", "categorical_hinge", NN_LOSS_CATEGORICAL_HINGE, NN_TARGET_ONE_HOT),
    PLAIN("kl_divergence", "kl_divergence", NN_LOSS_KL_DIVERGENCE, NN_TARGET_ONE_HOT),
    PLAIN("poisson", "poisson", NN_LOSS_POISSON, NN_TARGET_ANY),
    PLAIN("log_cosh", "log_cosh", NN_LOSS_LOG_COSH, NN_TARGET_ANY),
    {.name = "huber", .keras_name = "huber", .kind = NN_LOSS_HUBER, .fused_kind = NN_LOSS_HUBER,
     .fused_act = NN_ACT_LINEAR, .target = NN_TARGET_ANY, .param_name = "delta",
     .param_default = 1.0, .param_min = 0.0, .keras_class = "Huber"},
    PLAIN("cosine_similarity", "cosine_similarity", NN_LOSS_COSINE_SIMILARITY, NN_TARGET_ANY),
};
#define N_LOSSES ((int)(sizeof losses / sizeof losses[0]))

#define MAX_PLUGIN 64
static const nn_loss_info *plugin_losses[MAX_PLUGIN];
static int n_plugin;

const nn_loss_info *nn_loss_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < N_LOSSES)
        return &losses[i];
    return i - N_LOSSES < n_plugin ? plugin_losses[i - N_LOSSES] : NULL;
}

const nn_loss_info *nn_loss_find(const char *name)
{
    const nn_loss_info *L;
    for (int i = 0; (L = nn_loss_at(i)); i++)
        if (strcmp(L->name, name) == 0 || strcmp(L->keras_name, name) == 0)
            return L;
    return NULL;
}

nn_status nn_loss_register(const nn_loss_info *L, nn_error *err)
{
    if (nn_loss_find(L->name) || nn_loss_find(L->keras_name))
        return nn_fail(err, NN_ERR_USAGE, "loss \"%s\" is already registered", L->name);
    if (n_plugin == MAX_PLUGIN)
        return nn_fail(err, NN_ERR_USAGE, "more than %d plugin losses", MAX_PLUGIN);
    plugin_losses[n_plugin++] = L;
    return NN_OK;
}

/* node.key as a loss name */
static nn_status loss_name(nn_spec_node *node, const char *key, const nn_loss_info **out,
                           nn_error *err)
{
    /* short names, then Keras's long ones where they differ */
    const char *names[2 * (N_LOSSES + MAX_PLUGIN) + 1];
    const nn_loss_info *owner[2 * (N_LOSSES + MAX_PLUGIN)];
    const nn_loss_info *L;
    int n = 0;
    for (int i = 0; (L = nn_loss_at(i)); i++) {
        owner[n] = L;
        names[n++] = L->name;
    }
    for (int i = 0; (L = nn_loss_at(i)); i++)
        if (strcmp(L->name, L->keras_name) != 0) {
            owner[n] = L;
            names[n++] = L->keras_name;
        }
    names[n] = NULL;
    int idx;
    nn_status st = nn_spec_choice(node, key, true, names, -1, &idx, err);
    if (st)
        return st;
    *out = owner[idx];
    return NN_OK;
}

nn_status nn_spec_loss_key(nn_spec_node *node, const char *key, const nn_loss_info **out,
                           float *param, void **inst, nn_error *err)
{
    nn_status st;
    *param = 0.0f;
    *inst = NULL;
    if (!nn_spec_is_group(node, key)) {
        if ((st = loss_name(node, key, out, err)))
            return st;
        *param = (float)(*out)->param_default;
        /* a plugin's loss named alone: its settings all default */
        return (*out)->create ? (*out)->create(*out, NULL, inst, err) : NN_OK;
    }
    nn_spec_node *g;
    if ((st = nn_spec_group(node, key, true, &g, err)) || (st = loss_name(g, "type", out, err)))
        return st;
    const nn_loss_info *L = *out;
    if (L->create) {
        if ((st = L->create(L, g, inst, err)))
            return st;
    } else if (L->param_name) {
        double v;
        if ((st = nn_spec_float(g, L->param_name, false, L->param_default, -1e30, 1e30, &v, err)))
            return st;
        if (v <= L->param_min)
            return nn_spec_fail(g, L->param_name, err, NN_ERR_USAGE,
                                "expected a number > %g, got %g", L->param_min, v);
        *param = (float)v;
    } else {
        const char *k;
        for (int i = 0; (k = nn_spec_member_key(g, i)); i++)
            if (strcmp(k, "type") != 0)
                return nn_spec_fail(g, k, err, NN_ERR_USAGE,
                                    "loss \"%s\" takes no parameters (write it as a name: "
                                    "loss = \"%s\";)",
                                    L->name, L->name);
    }
    return nn_spec_check_unknown(g, err);
}

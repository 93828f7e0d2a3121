#include <string.h>

#include "train/losses.h"

static const nn_loss_info losses[] = {
    {"mse", "mean_squared_error", NN_LOSS_MSE, NN_LOSS_MSE, NN_ACT_LINEAR, false, NN_TARGET_ANY,
     NN_METRIC_CATEGORICAL_ACCURACY},
    {"mae", "mean_absolute_error", NN_LOSS_MAE, NN_LOSS_MAE, NN_ACT_LINEAR, false, NN_TARGET_ANY,
     NN_METRIC_CATEGORICAL_ACCURACY},
    {"mape", "mean_absolute_percentage_error", NN_LOSS_MAPE, NN_LOSS_MAPE, NN_ACT_LINEAR, false,
     NN_TARGET_ANY, NN_METRIC_CATEGORICAL_ACCURACY},
    {"msle", "mean_squared_logarithmic_error", NN_LOSS_MSLE, NN_LOSS_MSLE, NN_ACT_LINEAR, false,
     NN_TARGET_ANY, NN_METRIC_CATEGORICAL_ACCURACY},
    {"hinge", "hinge", NN_LOSS_HINGE, NN_LOSS_HINGE, NN_ACT_LINEAR, false, NN_TARGET_ANY,
     NN_METRIC_BINARY_ACCURACY},
    {"squared_hinge", "squared_hinge", NN_LOSS_SQUARED_HINGE, NN_LOSS_SQUARED_HINGE,
     NN_ACT_LINEAR, false, NN_TARGET_ANY, NN_METRIC_BINARY_ACCURACY},
    {"binary_crossentropy", "binary_crossentropy", NN_LOSS_BINARY_CE, NN_LOSS_BINARY_CE_LOGITS,
     NN_ACT_SIGMOID, true, NN_TARGET_BINARY, NN_METRIC_BINARY_ACCURACY},
    {"categorical_crossentropy", "categorical_crossentropy", NN_LOSS_CATEGORICAL_CE,
     NN_LOSS_SOFTMAX_CE, NN_ACT_SOFTMAX, true, NN_TARGET_ONE_HOT, NN_METRIC_CATEGORICAL_ACCURACY},
    {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy", NN_LOSS_SPARSE_CE,
     NN_LOSS_SPARSE_SOFTMAX_CE, NN_ACT_SOFTMAX, true, NN_TARGET_SPARSE,
     NN_METRIC_SPARSE_CATEGORICAL_ACCURACY},
};
#define N_LOSSES ((int)(sizeof losses / sizeof losses[0]))

const nn_loss_info *nn_loss_find(const char *name)
{
    for (int i = 0; i < N_LOSSES; i++)
        if (strcmp(losses[i].name, name) == 0 || strcmp(losses[i].keras_name, name) == 0)
            return &losses[i];
    return NULL;
}

nn_status nn_spec_loss(nn_spec_node *train, const nn_loss_info **out, nn_error *err)
{
    return nn_spec_loss_key(train, "loss", out, err);
}

nn_status nn_spec_loss_key(nn_spec_node *train, const char *key, const nn_loss_info **out,
                           nn_error *err)
{
    /* short names, then Keras's long ones where they differ */
    const char *names[2 * N_LOSSES + 1];
    int owner[2 * N_LOSSES], n = 0;
    for (int i = 0; i < N_LOSSES; i++) {
        owner[n] = i;
        names[n++] = losses[i].name;
    }
    for (int i = 0; i < N_LOSSES; i++)
        if (strcmp(losses[i].name, losses[i].keras_name) != 0) {
            owner[n] = i;
            names[n++] = losses[i].keras_name;
        }
    names[n] = NULL;
    int idx;
    nn_status st = nn_spec_choice(train, key, true, names, -1, &idx, err);
    if (st)
        return st;
    *out = &losses[owner[idx]];
    return NN_OK;
}

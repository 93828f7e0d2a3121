/* The loss registry. Cross-entropies are fused with the output activation
 * (softmax or sigmoid) when the model ends in one: computed from logits,
 * which is stable and is what Keras does internally too. */
#ifndef NN_TRAIN_LOSSES_H
#define NN_TRAIN_LOSSES_H

#include "engine/engine.h"
#include "spec/spec.h"

typedef enum { NN_TARGET_ANY, NN_TARGET_ONE_HOT, NN_TARGET_SPARSE, NN_TARGET_BINARY } nn_target_kind;

typedef struct nn_loss_info {
    const char *name;        /* spec name */
    const char *keras_name;  /* Keras's function name */
    nn_loss_kind kind;       /* on the output (probabilities) */
    nn_loss_kind fused_kind; /* on the pre-activation, when fused */
    nn_act fused_act;        /* the output activation it fuses with */
    bool can_fuse;
    nn_target_kind target;
    nn_metric_kind accuracy; /* what "accuracy" means with this loss */
} nn_loss_info;

/* Reads train.loss (key "loss" of node), or another key holding a loss name. */
nn_status nn_spec_loss(nn_spec_node *train, const nn_loss_info **out, nn_error *err);
nn_status nn_spec_loss_key(nn_spec_node *node, const char *key, const nn_loss_info **out,
                           nn_error *err);
const nn_loss_info *nn_loss_find(const char *name);

#endif

/* The loss registry. Cross-entropies are fused with the output activation
 * (softmax or sigmoid) when the model ends in one: computed from logits,
 * which is stable and is what Keras does internally too. */
#ifndef NN_OBJECTIVES_LOSSES_H
#define NN_OBJECTIVES_LOSSES_H

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
    /* Its one parameter, if it has one (huber's "delta"): the spec key, the
     * default and the smallest value allowed (exclusive); NULL for none. */
    const char *param_name;
    double param_default, param_min;
    const char *keras_class; /* Keras's loss class, serialized with the parameter */
} nn_loss_info;

/* Reads node.key as a loss: a name ("mse"), or a group naming it with its
 * parameter ({ type = "huber"; delta = 2.0; }). *param: the parameter's
 * value (its default when not given; 0 for losses without one). */
nn_status nn_spec_loss_key(nn_spec_node *node, const char *key, const nn_loss_info **out,
                           float *param, nn_error *err);
const nn_loss_info *nn_loss_find(const char *name);

#endif

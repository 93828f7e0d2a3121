/* The loss registry. Cross-entropies are fused with the output activation
 * (softmax or sigmoid) when the model ends in one: computed from logits,
 * which is stable and is what Keras does internally too. */
#ifndef NN_OBJECTIVES_LOSSES_H
#define NN_OBJECTIVES_LOSSES_H

#include "engine/engine.h"
#include "spec/spec.h"
#include "util/doc.h"

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
    /* A plugin's loss: computed on host floats, from an instance made from
     * its settings (a group, or NULL when named alone); never fused. */
    nn_status (*create)(const struct nn_loss_info *L, nn_spec_node *g, void **inst,
                        nn_error *err);
    nn_status (*host_loss)(const struct nn_loss_info *L, void *inst, const float *y_pred,
                           const float *y_true, int rows, int cols, double *loss, float *grad,
                           nn_error *err);
    const char *doc;
    const nn_doc_key *keys;
    const void *plugin;
} nn_loss_info;

/* Every loss: built-in first, then plugins' (NULL past the end). */
const nn_loss_info *nn_loss_at(int i);
/* Adds a plugin's loss (the row must live as long as the program). */
nn_status nn_loss_register(const nn_loss_info *L, nn_error *err);

/* Reads node.key as a loss: a name ("mse"), or a group naming it with its
 * parameter ({ type = "huber"; delta = 2.0; }). *param: the parameter's
 * value (its default when not given; 0 for losses without one). *inst: a
 * plugin loss's instance (lives as long as the program), else NULL. */
nn_status nn_spec_loss_key(nn_spec_node *node, const char *key, const nn_loss_info **out,
                           float *param, void **inst, nn_error *err);
const nn_loss_info *nn_loss_find(const char *name);

#endif

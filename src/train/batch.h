/* One training batch, the way nn_fit runs it: forward in training mode,
 * the data loss (fused with the output activation when it can be), the
 * activity penalties, backward, and the weight penalties with their
 * gradients. Public so that tests check exactly what training does. */
#ifndef NN_TRAIN_BATCH_H
#define NN_TRAIN_BATCH_H

#include "train/fit.h"

typedef struct nn_batch_loss {
    double data, activity, weights; /* the batch loss is their sum */
} nn_batch_loss;

/* Mean data loss of the batch (targets in yt); with grad, writes the
 * gradient into the output node (its pre-activation when fused). */
double nn_batch_data_loss(nn_model *m, const nn_objective *o, const nn_tensor *yt, int rows,
                          bool grad);
/* Sum of every weight penalty; with grad, adds their gradients. */
double nn_model_weight_penalty(nn_model *m, bool grad);
/* Forward, loss, backward, penalties: every trainable parameter's gradient
 * is left in its g tensor. Returns the batch loss; parts may be NULL.
 * training = false runs the forward pass in inference mode (no dropout,
 * moving statistics), for checks against references. */
double nn_batch_gradients(nn_model *m, const nn_objective *o, const nn_tensor *yt, int rows,
                          bool training, nn_rng *dropout, nn_batch_loss *parts);

#endif

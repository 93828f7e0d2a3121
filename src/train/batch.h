/* One training batch, the way nn_fit runs it: forward in training mode,
 * the data loss (fused with the output activation when it can be), the
 * activity penalties, backward, and the weight penalties with their
 * gradients. Public so that tests check exactly what training does. */
#ifndef NN_TRAIN_BATCH_H
#define NN_TRAIN_BATCH_H

#include "train/fit.h"

typedef struct nn_batch_loss {
    double data, activity, weights; /* the batch loss is their sum */
    double head[NN_MAX_IO];         /* each output's mean data loss, unweighted */
} nn_batch_loss;

/* Weighted sum of the outputs' mean data losses (output k's targets in
 * yt[k]); each output's own mean goes to head_loss[k] (may be NULL). With
 * grad, writes each gradient into its output node (its pre-activation when
 * fused). */
double nn_batch_data_loss(nn_model *m, const nn_objective *o, nn_tensor *const *yt, int rows,
                          bool grad, double *head_loss);
/* Sum of every weight penalty; with grad, adds their gradients. */
double nn_model_weight_penalty(nn_model *m, bool grad);
/* Forward, loss, backward, penalties over the batch p describes (rows,
 * training mode, dropout stream and sample ids): every trainable
 * parameter's gradient is left in its g tensor. Returns the batch loss;
 * parts may be NULL. p->training = false runs the forward pass in
 * inference mode (no dropout, moving statistics), for checks against
 * references. With p->rep (data-parallel training) the data and activity
 * losses are this process's share of means over the whole batch (parts
 * filled before p->rep->loss_ready is called), and the gradients are
 * summed over the processes before the weight penalties' are added.
 * With p->loss_scale (loss scaling), the loss's gradient is multiplied
 * by it, backward runs on the scaled gradients, and each is divided by it
 * before the weight penalties' gradients are added. */
double nn_batch_gradients(nn_model *m, const nn_objective *o, nn_tensor *const *yt,
                          const nn_pass *p, nn_batch_loss *parts);
/* The same, saying whether the scaled gradients stayed finite: false when
 * one overflowed (inf or NaN; the gradients are then left as they are and
 * the caller skips the step). */
/* Divides every trainable gradient by scale (loss scaling); false, with
 * nothing divided, when one holds an inf or a NaN. */
bool nn_batch_unscale(nn_model *m, float scale);
double nn_batch_gradients_finite(nn_model *m, const nn_objective *o, nn_tensor *const *yt,
                                 const nn_pass *p, nn_batch_loss *parts, bool *finite);

#endif

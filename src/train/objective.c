/* Matching the loss to the output layer and to the data's labels. */
#include <stdlib.h>
#include <string.h>

#include "train/fit.h"

/* Fuse cross-entropy with the output's softmax/sigmoid: computed from
 * logits, stable where probabilities underflow. */
static void finish_head(const nn_loss_info *L, const nn_node *out, nn_head *o)
{
    o->fused = L->can_fuse && out->type->fuses_loss && out->act == L->fused_act &&
               !nn_regularizer_active(&out->activity_reg);
    o->kind = o->fused ? L->fused_kind : L->kind;
}

/* One output's; o->blame says what to fix on error. */
static nn_status resolve_head(const nn_loss_info *L, nn_node *out, int one_hot_setting,
                              int n_classes, nn_head *o, nn_objective *blame, nn_error *err)
{
    memset(o, 0, sizeof *o);
    o->node = out;
    o->loss = L;
    o->cols = out->ndim ? out->shape[out->ndim - 1] : 1;
    blame->blame = NN_BLAME_OUTPUT;
    if (out->ndim != 1)
        return nn_fail(err, NN_ERR_USAGE,
                       "output layer '%s' has shape %d-D per sample; this loss needs a flat "
                       "output (add a flatten or dense layer)",
                       out->name, out->ndim);
    if (n_classes == 0) {
        /* float targets, one per output unit (the session checked the
         * width): regression values, or class probabilities (one-hot rows
         * stored as floats) for a categorical or binary loss */
        blame->blame = NN_BLAME_LOSS;
        if (L->target == NN_TARGET_SPARSE)
            return nn_fail(err, NN_ERR_USAGE,
                           "loss \"%s\" needs integer class labels, but the data holds float "
                           "targets (npy floats, or csv label = \"value\"): store the labels as "
                           "integers (csv: label = \"class\"), use \"categorical_crossentropy\" "
                           "with one-hot rows, or a regression loss such as \"mse\"",
                           L->name);
        if (L->target == NN_TARGET_ONE_HOT && o->cols < 2)
            return nn_fail(err, NN_ERR_USAGE,
                           "loss \"%s\" needs one-hot rows of one value per class, but output "
                           "'%s' has 1 unit and the data holds float targets: use a regression "
                           "loss such as \"mse\", or integer class labels",
                           L->name, out->name);
        o->one_hot = o->cols > 1;
        o->target_cols = o->cols;
        finish_head(L, out, o);
        return NN_OK;
    }
    bool one_hot;
    switch (L->target) {
    case NN_TARGET_ONE_HOT: one_hot = true; break;
    case NN_TARGET_SPARSE: one_hot = false; break;
    case NN_TARGET_BINARY: one_hot = o->cols > 1; break;
    default: one_hot = o->cols > 1 && o->cols == n_classes; break;
    }
    blame->blame = NN_BLAME_ONE_HOT;
    if (one_hot_setting >= 0 && (bool)one_hot_setting != one_hot) {
        if (L->target == NN_TARGET_ONE_HOT)
            return nn_fail(err, NN_ERR_USAGE,
                           "data.one_hot = false, but loss \"%s\" needs one-hot targets: set "
                           "data.one_hot = true or use loss \"sparse_categorical_crossentropy\"",
                           L->name);
        if (L->target == NN_TARGET_SPARSE)
            return nn_fail(err, NN_ERR_USAGE,
                           "data.one_hot = true, but loss \"%s\" takes integer labels: set "
                           "data.one_hot = false or use loss \"categorical_crossentropy\"",
                           L->name);
        one_hot = one_hot_setting;
    }
    blame->blame = NN_BLAME_OUTPUT;
    if (one_hot && n_classes != o->cols)
        return nn_fail(err, NN_ERR_USAGE,
                       "the data has %d classes but output layer '%s' has %d units (one-hot "
                       "targets need one unit per class)",
                       n_classes, out->name, o->cols);
    if (!one_hot && L->target == NN_TARGET_SPARSE && n_classes > o->cols)
        return nn_fail(err, NN_ERR_USAGE,
                       "the data has %d classes but output layer '%s' has only %d units",
                       n_classes, out->name, o->cols);
    if (!one_hot && o->cols != 1 && L->target != NN_TARGET_SPARSE)
        return nn_fail(err, NN_ERR_USAGE,
                       "loss \"%s\" with integer labels needs an output of 1 unit, but '%s' has "
                       "%d (set data.one_hot = true for one unit per class)",
                       L->name, out->name, o->cols);
    blame->blame = NN_BLAME_LOSS;
    if (L->target == NN_TARGET_BINARY && !one_hot && n_classes > 2)
        return nn_fail(err, NN_ERR_USAGE,
                       "loss \"%s\" needs 0/1 labels but the data has %d classes", L->name,
                       n_classes);
    o->one_hot = one_hot;
    o->target_cols = one_hot ? o->cols : 1;
    finish_head(L, out, o);
    return NN_OK;
}

nn_status nn_objective_resolve(const nn_train_cfg *t, const nn_model *m, int one_hot_setting,
                               const int *n_classes, nn_objective *o, nn_error *err)
{
    memset(o, 0, sizeof *o);
    for (int k = 0; k < m->n_outputs; k++) {
        o->blame_head = k;
        /* data.one_hot speaks of class labels; regression targets ignore it */
        nn_status st = resolve_head(t->losses[k], m->outputs[k],
                                    n_classes[k] ? one_hot_setting : -1, n_classes[k], &o->h[k],
                                    o, err);
        if (st)
            return st;
        o->h[k].weight = t->loss_weights[k];
        o->h[k].param = t->loss_params[k];
        o->h[k].inst = t->loss_inst[k];
    }
    /* Element-wise metrics compare each output unit with its target: they
     * need targets as wide as the output (not one integer label a row). */
    for (int i = 0; i < t->n_metrics; i++) {
        const nn_metric *mt = &t->metrics[i];
        const nn_head *h = &o->h[mt->head];
        bool sparse = mt->kind == NN_METRIC_SPARSE_CATEGORICAL_ACCURACY ||
                      mt->kind == NN_METRIC_SPARSE_TOP_K;
        if (!sparse && h->target_cols != h->cols) {
            o->blame = NN_BLAME_METRICS;
            o->blame_head = mt->head;
            return nn_fail(err, NN_ERR_USAGE,
                           "metric \"%s\" compares output '%s' (%d units) with its targets unit "
                           "by unit, but the targets are integer class labels: use \"accuracy\", "
                           "or one-hot targets (data.one_hot = true with a categorical loss)",
                           mt->base, h->node->name, h->cols);
        }
    }
    o->n = m->n_outputs;
    return NN_OK;
}

void nn_objective_release(nn_objective *o)
{
    for (int k = 0; k < NN_MAX_IO; k++) {
        free(o->h[k].stage_pred);
        free(o->h[k].stage_true);
        free(o->h[k].stage_grad);
        o->h[k].stage_pred = o->h[k].stage_true = o->h[k].stage_grad = NULL;
        o->h[k].stage_n = 0;
    }
}

/* Batches (staging, gathering, metrics) and evaluation: the fit loop's
 * validation passes and nn_evaluate (eval, train's test set). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/batch.h"
#include "train/fit_internal.h"
#include "train/interrupt.h"

nn_status nn_fit__batcher_init(batcher *b, nn_model *m, const nn_objective *o, size_t n, int batch,
                               nn_error *err)
{
    memset(b, 0, sizeof *b);
    nn_engine *e = m->e;
    b->n_in = m->n_inputs;
    b->n_out = o->n;
    for (int k = 0; k < o->n; k++) {
        int shape[2] = {batch, o->h[k].target_cols};
        b->ytp[k] = &b->yt[k];
        nn_status st = e->ops->alloc(e, &b->yt[k], 2, shape, err);
        if (st)
            return st;
        /* host staging buffers only for engines whose memory is not the
         * host's (from the engine: page-locked memory uploads faster to a GPU) */
        if (!e->ops->host_ptr(e, &b->yt[k]) &&
            !(b->y[k] = e->ops->alloc_host(
                  e, (size_t)batch * (size_t)o->h[k].target_cols * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    }
    for (int k = 0; k < o->n; k++)
        if (!e->ops->host_ptr(e, &o->h[k].node->out) &&
            !(b->pred[k] =
                  nn_malloc((size_t)batch * (size_t)o->h[k].cols * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    for (int i = 0; i < m->n_inputs; i++)
        if (!e->ops->host_ptr(e, nn_model_input_tensor_at(m, i)) &&
            !(b->x[i] = e->ops->alloc_host(
                  e, (size_t)batch * m->inputs[i]->size * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    size_t widest = 0;
    for (int i = 0; i < m->n_inputs; i++)
        widest = m->inputs[i]->size > widest ? m->inputs[i]->size : widest;
    int ids_shape[1] = {batch};
    nn_status st = e->ops->alloc(e, &b->ids, 1, ids_shape, err);
    if (st)
        return st;
    b->idx = nn_malloc((n ? n : 1) * sizeof(uint32_t), err);
    b->aug = nn_malloc(widest * sizeof(float), err);
    if (!b->idx || !b->aug)
        return NN_ERR_RUNTIME;
    return NN_OK;
}

void nn_fit__batcher_free(batcher *b, nn_engine *e)
{
    for (int k = 0; k < NN_MAX_IO; k++) {
        e->ops->free_host(e, b->x[k]);
        e->ops->free_host(e, b->y[k]);
        e->ops->free(e, &b->yt[k]);
        free(b->pred[k]);
    }
    e->ops->free(e, &b->ids);
    free(b->idx);
    free(b->aug);
}


/* Gathers a batch straight into engine memory when it is host memory;
 * otherwise into host buffers that are then uploaded. Training batches
 * (pos != NULL) are augmented where an input's array has augmentation on
 * (data.augment: the image arrays), and their sample indices go to b->ids
 * for dropout. */
void nn_fit__load_batch(batcher *b, nn_model *m, const nn_objective *o, const nn_dataset *d,
                        const uint32_t *idx, int rows, const batch_pos *pos)
{
    nn_engine *e = m->e;
    for (int i = 0; i < b->n_in; i++) {
        nn_tensor *in = nn_model_input_tensor_at(m, i);
        const nn_dataset *part = nn_dataset_input_part(d, i);
        float *x = e->ops->host_ptr(e, in);
        if (pos && nn_augment_active(&part->augment))
            nn_augment_gather_x(part, idx, (size_t)rows, pos->seed, pos->epoch, b->aug,
                                x ? x : b->x[i]);
        else
            nn_dataset_gather_x(part, idx, (size_t)rows, x ? x : b->x[i]);
        if (!x)
            e->ops->upload(e, in, b->x[i], (size_t)rows * m->inputs[i]->size);
    }
    for (int k = 0; k < b->n_out; k++) {
        const nn_head *h = &o->h[k];
        float *y = e->ops->host_ptr(e, &b->yt[k]);
        nn_dataset_gather_y(nn_dataset_output_part(d, k), idx, (size_t)rows,
                            h->one_hot ? h->target_cols : 0, y ? y : b->y[k]);
        if (!y)
            e->ops->upload(e, &b->yt[k], b->y[k], (size_t)rows * (size_t)h->target_cols);
    }
    if (pos)
        e->ops->upload(e, &b->ids, nn_ids_bits(idx), (size_t)rows);
}

/* Adds a batch to the metrics: sums of the engine's per-batch values, and
 * each plugin metric's state (on host copies of outputs and targets). */
void nn_fit__add_metrics(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                         const batcher *b, int rows, double *sums,
                         double (*mstate)[NN_METRIC_STATE_MAX])
{
    nn_engine *e = m->e;
    for (int i = 0; i < t->n_metrics; i++) {
        const nn_metric *mt = &t->metrics[i];
        int k = mt->head;
        if (!mt->plugin) {
            sums[i] += e->ops->metric(e, mt->kind, mt->k, &o->h[k].node->out, &b->yt[k], rows,
                                      o->h[k].cols);
            continue;
        }
        nn_tensor *out = &o->h[k].node->out, *yt = (nn_tensor *)&b->yt[k];
        float *pred = e->ops->host_ptr(e, out), *tru = e->ops->host_ptr(e, yt);
        if (!pred)
            e->ops->download(e, pred = b->pred[k], out, (size_t)rows * (size_t)o->h[k].cols);
        if (!tru)
            tru = b->y[k]; /* the batch's targets, staged on the host before the upload */
        nn_error err = {0};
        if (mt->plugin->update(mt->plugin, mt->inst, mstate[i], pred, tru, rows, o->h[k].cols,
                               &err))
            nn_error_defer(err.code ? err.code : NN_ERR_RUNTIME, "metric %s: %s", mt->name,
                           err.msg);
    }
}

/* "loss", then each output's "<output>_loss" when there are several
 * (Keras's order); head_sums / n are the outputs' means. */
void nn_fit__set_losses(nn_logs *l, const nn_train_cfg *t, const char *prefix, double loss,
                        const double *head_sums, size_t n)
{
    char name[160], head[140];
    snprintf(name, sizeof name, "%sloss", prefix);
    nn_logs_set(l, name, loss);
    for (int k = 0; t->n_outputs > 1 && k < t->n_outputs; k++) {
        nn_head_loss_name(t, k, head, sizeof head);
        snprintf(name, sizeof name, "%s%s", prefix, head);
        nn_logs_set(l, name, head_sums[k] / (double)n);
    }
}

double nn_fit__metric_value(const nn_metric *mt, double sum, size_t n, const double *state)
{
    if (mt->plugin)
        return mt->plugin->result(mt->plugin, mt->inst, state);
    double v = sum / (double)n;
    return mt->root ? sqrt(v) : v;
}

/* Per class of output 0: the batch's rows [start, start + rows) against
 * their labels (host holds the batch's outputs). */
static void count_classes(const nn_model *m, const nn_objective *o, const nn_dataset *labels,
                          size_t start, int rows, float *host, nn_eval_result *r)
{
    const nn_head *h = &o->h[0];
    m->e->ops->download(m->e, host, &h->node->out, (size_t)rows * (size_t)h->cols);
    for (int j = 0; j < rows; j++) {
        const float *p = host + (size_t)j * (size_t)h->cols;
        int best = 0;
        if (h->cols == 1) {
            best = p[0] > 0.5f;
        } else {
            for (int c = 1; c < h->cols; c++)
                if (p[c] > p[best])
                    best = c;
        }
        int label = labels->labels[start + (size_t)j];
        if (label < 0 || label >= r->n_classes)
            continue;
        r->class_samples[label]++;
        r->class_right[label] += best == label;
    }
}

/* Inference over d in batches through b (planned for batch, its index
 * array at least d->n long): allocates nothing, so the fit loop's
 * validation passes reuse its training batcher. With several processes
 * (dist) each takes its contiguous share of d and the sums are added up:
 * every process gets the whole set's result. stop_on_signal (one process
 * only: ranks could not agree on a batch): a signal stops it before the
 * end (NN_ERR_RUNTIME, "interrupted"). host (batch x output 0's units
 * floats, or NULL): output 0 counted per class (r->n_classes set). */
nn_status nn_fit__evaluate_batches(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                                   const nn_dataset *d, int batch, batcher *b, nn_dist *dist,
                                   nn_eval_result *r, bool stop_on_signal, float *host,
                                   nn_error *err)
{
    int n_classes = r->n_classes;
    memset(r, 0, sizeof *r);
    r->n_classes = n_classes;
    const size_t size = (size_t)nn_dist_size(dist), me = (size_t)nn_dist_rank(dist);
    const size_t lo = d->n * me / size, hi = d->n * (me + 1) / size;
    for (size_t i = lo; i < hi; i++)
        b->idx[i] = (uint32_t)i;
    /* loss, the outputs' losses, the metrics' sums */
    double sums[1 + NN_MAX_IO + NN_MAX_METRICS] = {0};
    double *head_sums = sums + 1, *metric_sums = sums + 1 + NN_MAX_IO;
    /* plugin metrics' state: additive (counts, sums), so processes add up */
    double mstate[NN_MAX_METRICS][NN_METRIC_STATE_MAX] = {{0}};
    double penalty = nn_model_weight_penalty(m, false);
    for (size_t start = lo; start < hi; start += (size_t)batch) {
        if (stop_on_signal && !dist && nn_interrupt_pending())
            return nn_fail(err, NN_ERR_RUNTIME, "interrupted during the evaluation");
        int rows = (int)(hi - start < (size_t)batch ? hi - start : (size_t)batch);
        nn_fit__load_batch(b, m, o, d, b->idx + start, rows, NULL);
        nn_pass p = {.e = m->e, .rows = rows, .training = false, .rng = NULL};
        nn_model_forward(m, &p);
        double head[NN_MAX_IO];
        sums[0] +=
            (nn_batch_data_loss(m, o, b->ytp, rows, false, head) + m->activity_penalty) * rows;
        for (int k = 0; k < o->n; k++)
            head_sums[k] += head[k] * rows;
        nn_fit__add_metrics(m, t, o, b, rows, metric_sums, mstate);
        nn_status failed = nn_error_take_deferred(err); /* a plugin that failed in the pass */
        if (failed)
            return failed;
        if (host)
            count_classes(m, o, nn_dataset_output_part(d, 0), start, rows, host, r);
    }
    nn_status st = nn_dist_sum(dist, sums, sizeof sums / sizeof sums[0], err);
    if (!st && dist && t->n_metrics)
        st = nn_dist_sum(dist, &mstate[0][0], (size_t)t->n_metrics * NN_METRIC_STATE_MAX, err);
    if (st)
        return st;
    if (dist && r->n_classes) { /* every process's counts, added up */
        double counts[2 * NN_EVAL_MAX_CLASSES];
        for (int c = 0; c < r->n_classes; c++) {
            counts[c] = (double)r->class_samples[c];
            counts[r->n_classes + c] = (double)r->class_right[c];
        }
        if ((st = nn_dist_sum(dist, counts, 2 * (size_t)r->n_classes, err)))
            return st;
        for (int c = 0; c < r->n_classes; c++) {
            r->class_samples[c] = (size_t)counts[c];
            r->class_right[c] = (size_t)counts[r->n_classes + c];
        }
    }
    r->samples = d->n;
    r->loss = sums[0] / (double)d->n + penalty;
    for (int k = 0; k < o->n; k++)
        r->head_loss[k] = head_sums[k] / (double)d->n;
    for (int i = 0; i < t->n_metrics; i++)
        r->metrics[i] = nn_fit__metric_value(&t->metrics[i], metric_sums[i], d->n, mstate[i]);
    return NN_OK;
}

nn_status nn_evaluate(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                      const nn_dataset *d, int batch, nn_dist *dist, nn_eval_result *r,
                      nn_error *err)
{
    memset(r, 0, sizeof *r);
    if (d->n == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot evaluate on an empty dataset");
    nn_status st = nn_model_plan(m, batch, err);
    batcher b;
    memset(&b, 0, sizeof b);
    /* a classifier's output 0 with class labels: counted per class */
    const nn_dataset *labels = nn_dataset_output_part(d, 0);
    const nn_head *h = &o->h[0];
    int classes = labels && labels->labels ? labels->n_classes : 0;
    float *host = NULL;
    if (!st && classes >= 2 && classes <= NN_EVAL_MAX_CLASSES &&
        (h->cols == classes || (h->cols == 1 && classes == 2)) &&
        !(host = nn_malloc((size_t)batch * (size_t)h->cols * sizeof *host, err)))
        st = NN_ERR_RUNTIME;
    r->n_classes = host ? classes : 0;
    if (!st)
        st = nn_fit__batcher_init(&b, m, o, d->n, batch, err);
    /* a process that could not set up must not leave the others waiting */
    if (!(st = nn_dist_agree(dist, st, err)))
        st = nn_fit__evaluate_batches(m, t, o, d, batch, &b, dist, r, true, host, err);
    free(host);
    nn_fit__batcher_free(&b, m->e); /* also what nn_fit__batcher_init made before it failed */
    return st;
}

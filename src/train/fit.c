/* The fit loop: batches, forward, loss, backward, penalties, optimizer
 * step, metrics, callbacks. All buffers are made before the first batch;
 * nothing is allocated inside the loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dist/data_parallel.h"
#include "io/keras/model_file.h"
#include "layers/registry.h"
#include "train/callbacks/callbacks.h"
#include "train/batch.h"
#include "train/fit.h"
#include "train/interrupt.h"
#include "util/fileio.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct batcher {
    int n_in, n_out;
    float *x[NN_MAX_IO], *y[NN_MAX_IO]; /* host staging, for engines off the host */
    float *aug; /* one sample, the source of an augmented row */
    uint32_t *idx;
    nn_tensor ids;                      /* the batch's sample indices, for dropout */
    nn_tensor yt[NN_MAX_IO];            /* each output's targets */
    nn_tensor *ytp[NN_MAX_IO];          /* &yt[k], as nn_batch_* take them */
    float *pred[NN_MAX_IO]; /* host copies of the outputs, for plugin metrics off the host */
} batcher;

static nn_status batcher_init(batcher *b, nn_model *m, const nn_objective *o, size_t n, int batch,
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

static void batcher_free(batcher *b, nn_engine *e)
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

/* Where a training batch stands: augmentation and dropout are drawn per
 * (seed, epoch, sample index), so a resumed run sees the same, and so
 * does a run split over processes. */
typedef struct batch_pos {
    uint64_t seed;
    long long epoch;
} batch_pos;

/* Gathers a batch straight into engine memory when it is host memory;
 * otherwise into host buffers that are then uploaded. Training batches
 * (pos != NULL) are augmented where an input's array has augmentation on
 * (data.augment: the image arrays), and their sample indices go to b->ids
 * for dropout. */
static void load_batch(batcher *b, nn_model *m, const nn_objective *o, const nn_dataset *d,
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
static void add_metrics(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
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
static void set_losses(nn_logs *l, const nn_train_cfg *t, const char *prefix, double loss,
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

static double metric_value(const nn_metric *mt, double sum, size_t n, const double *state)
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
static nn_status evaluate_batches(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
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
        load_batch(b, m, o, d, b->idx + start, rows, NULL);
        nn_pass p = {.e = m->e, .rows = rows, .training = false, .rng = NULL};
        nn_model_forward(m, &p);
        double head[NN_MAX_IO];
        sums[0] +=
            (nn_batch_data_loss(m, o, b->ytp, rows, false, head) + m->activity_penalty) * rows;
        for (int k = 0; k < o->n; k++)
            head_sums[k] += head[k] * rows;
        add_metrics(m, t, o, b, rows, metric_sums, mstate);
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
        r->metrics[i] = metric_value(&t->metrics[i], metric_sums[i], d->n, mstate[i]);
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
        st = batcher_init(&b, m, o, d->n, batch, err);
    /* a process that could not set up must not leave the others waiting */
    if (!(st = nn_dist_agree(dist, st, err)))
        st = evaluate_batches(m, t, o, d, batch, &b, dist, r, true, host, err);
    free(host);
    batcher_free(&b, m->e); /* also what batcher_init made before it failed */
    return st;
}

static size_t total_weights(const nn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++)
            n += m->nodes[i]->params[k].size;
    return n;
}

static void copy_weights(nn_model *m, float *host, bool to_host)
{
    size_t off = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (to_host)
                m->e->ops->download(m->e, host + off, &p->w, p->size);
            else
                m->e->ops->upload(m->e, &p->w, host + off, p->size);
            off += p->size;
        }
}

/* The fit loop's side of what callbacks see (callback.h). */
struct nn_fit_loop {
    nn_fit_state *s;
    nn_train_cfg *t;
    const nn_fit_opts *opts;
    bool keep_best;         /* some callback keeps a best-weights snapshot */
    int n_saves;            /* saves asked for at this epoch's end */
    struct {
        char path[4096];
        bool weights_only;
    } saves[NN_MAX_CALLBACKS];
};

static char *state_json(const nn_train_cfg *t, const nn_fit_state *s)
{
    json_t *sums = json_array(), *heads = json_array(), *cbs = json_object();
    json_t *mstates = json_array();
    for (int i = 0; i < t->n_metrics; i++) {
        json_array_append_new(sums, json_real(s->sums[i]));
        json_t *one = json_array();
        for (int k = 0; t->metrics[i].plugin && k < t->metrics[i].plugin->state_count; k++)
            json_array_append_new(one, json_real(s->mstate[i][k]));
        json_array_append_new(mstates, one);
    }
    for (int k = 0; k < t->n_outputs; k++)
        json_array_append_new(heads, json_real(s->head_sums[k]));
    for (int i = 0; i < t->n_callbacks; i++) {
        const nn_callback *cb = &t->callbacks[i];
        if (cb->state && cb->type->save_state)
            json_object_set_new(cbs, cb->key, cb->type->save_state(cb));
    }
    json_t *last = json_object();
    for (int i = 0; i < s->last.n; i++)
        json_object_set_new(last, s->last.names[i], json_real(s->last.values[i]));
    json_t *j = json_pack(
        "{s:i, s:I, s:I, s:f, s:o, s:o, s:I, s:I, s:f, s:I, s:o, s:b, s:b, s:o}", "version", 2,
        "epoch", (json_int_t)s->epoch, "step", (json_int_t)s->step, "loss_sum", s->loss_sum,
        "metric_sums", sums, "head_loss_sums", heads, "seen", (json_int_t)s->seen, "iterations",
        (json_int_t)t->optimizer.iterations, "nadam_m_schedule", t->optimizer.nadam_m_schedule,
        "seed", (json_int_t)t->seed, "callbacks", cbs, "best_weights", s->have_best_weights,
        "stopped", s->stopped, "last_logs", last);
    json_object_set_new(j, "metric_states", mstates);
    /* %.17g: doubles round-trip exactly, so a resumed epoch sums the same */
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return text;
}

static nn_status save_model(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                            const nn_fit_opts *opts, const char *path, bool weights_only,
                            nn_error *err)
{
    char *state = state_json(t, s), *compile = nn_train_keras_config(t);
    if (!state || !compile) {
        free(state);
        free(compile);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot encode the training state");
    }
    nn_opt_slots slots = {t->optimizer.kind, t->optimizer.amsgrad, t->optimizer.name};
    nn_model_file_opts fo = {.spec_text = opts->spec_text,
                             .spec_dir = opts->spec_dir,
                             .class_names = opts->class_names,
                             .preprocess = opts->preprocess,
                             .state_json = state,
                             .training_config = compile,
                             .opt = &slots,
                             .weights_only = weights_only,
                             .best_weights = s->have_best_weights ? s->best_weights : NULL};
    nn_status st = nn_model_save(m, path, &fo, err);
    free(state);
    free(compile);
    return st;
}

/* last.h5, the resumable checkpoint; the first one written tells
 * opts->first_checkpoint. */
static nn_status save_last(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                           const nn_fit_opts *opts, const char *path, bool *first_done,
                           nn_error *err)
{
    nn_status st = save_model(m, t, s, opts, path, false, err);
    if (!st && !*first_done) {
        *first_done = true;
        if (opts->first_checkpoint)
            st = opts->first_checkpoint(opts->ctx, err);
    }
    return st;
}

static double json_num(const json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

nn_status nn_fit_checkpoint_position(const nn_h5_model *f, const char *path, long long *epoch,
                                     long long *step, nn_error *err)
{
    json_error_t jerr;
    json_t *j = f->nnctl_state ? json_loads(f->nnctl_state, 0, &jerr) : NULL;
    if (!j)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': no training state: not an nnctl checkpoint",
                       path);
    *epoch = (long long)json_num(j, "epoch", 0);
    *step = (long long)json_num(j, "step", 0);
    json_decref(j);
    return NN_OK;
}

/* The run's position, sums and callbacks' state from a checkpoint's JSON
 * (state_json's), into st and t's optimizer counters. */
static void read_state(json_t *j, nn_train_cfg *t, nn_fit_state *st)
{
    st->epoch = (long long)json_num(j, "epoch", 0);
    st->step = (long long)json_num(j, "step", 0);
    st->loss_sum = json_num(j, "loss_sum", 0.0);
    st->seen = (size_t)json_num(j, "seen", 0);
    json_t *sums = json_object_get(j, "metric_sums"), *heads = json_object_get(j, "head_loss_sums");
    for (int i = 0; i < t->n_metrics; i++)
        st->sums[i] = json_is_number(json_array_get(sums, (size_t)i))
                          ? json_number_value(json_array_get(sums, (size_t)i))
                          : 0.0;
    json_t *mstates = json_object_get(j, "metric_states");
    for (int i = 0; i < t->n_metrics; i++) {
        json_t *one = json_array_get(mstates, (size_t)i);
        for (int k = 0; t->metrics[i].plugin && k < t->metrics[i].plugin->state_count; k++) {
            json_t *v = json_array_get(one, (size_t)k);
            st->mstate[i][k] = json_is_number(v) ? json_number_value(v) : 0.0;
        }
    }
    for (int k = 0; k < t->n_outputs; k++)
        st->head_sums[k] = json_is_number(json_array_get(heads, (size_t)k))
                               ? json_number_value(json_array_get(heads, (size_t)k))
                               : 0.0;
    t->optimizer.iterations = (long long)json_num(j, "iterations", 0);
    t->optimizer.nadam_m_schedule = json_num(j, "nadam_m_schedule", 1.0);
    /* each callback's state by its key (version 1 kept EarlyStopping's and
     * ModelCheckpoint's at the top level, under the same keys) */
    json_t *cbs = json_object_get(j, "callbacks");
    if (!json_is_object(cbs)) {
        cbs = json_object();
        const char *keys[] = {"early_stopping", "checkpoint"};
        for (int i = 0; i < 2; i++)
            if (json_is_object(json_object_get(j, keys[i])))
                json_object_set(cbs, keys[i], json_object_get(j, keys[i]));
        st->callbacks = cbs;
    } else {
        st->callbacks = json_incref(cbs);
    }
    st->stopped = json_is_true(json_object_get(j, "stopped"));
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(j, "last_logs"), name, v) if (json_is_number(v))
        nn_logs_set(&st->last, name, json_number_value(v));
}

nn_status nn_fit_load_resume(const nn_h5_model *f, const char *path, nn_model *m,
                             nn_train_cfg *t, nn_fit_state *st, nn_error *err)
{
    memset(st, 0, sizeof *st);
    nn_status rc = NN_OK;
    json_error_t jerr;
    json_t *j = f->nnctl_state ? json_loads(f->nnctl_state, 0, &jerr) : NULL;
    if (!j) {
        rc = nn_fail(err, NN_ERR_RUNTIME, "'%s': no training state: not an nnctl checkpoint",
                     path);
        goto done;
    }
    if (json_num(j, "seed", (double)t->seed) != (double)t->seed) {
        rc = nn_fail(err, NN_ERR_USAGE,
                     "'%s' was trained with seed %.0f but the spec says %lld: an exact resume "
                     "needs the same seed",
                     path, json_num(j, "seed", 0), t->seed);
        goto done;
    }
    nn_opt_slots slots = {t->optimizer.kind, t->optimizer.amsgrad, t->optimizer.name};
    if ((rc = nn_model_load_weights(m, f, path, err)) ||
        (rc = nn_model_load_optimizer(m, f, &slots, path, err)))
        goto done;
    read_state(j, t, st);
    if (json_is_true(json_object_get(j, "best_weights"))) {
        if (!(st->best_weights = nn_malloc(total_weights(m) * sizeof(float), err))) {
            rc = NN_ERR_RUNTIME;
            goto done;
        }
        if ((rc = nn_model_load_best(m, f, st->best_weights, &st->have_best_weights, path,
                                     err)))
            goto done;
    }
done:
    json_decref(j);
    if (rc)
        nn_fit_state_free(st);
    return rc;
}

void nn_fit_state_free(nn_fit_state *st)
{
    free(st->best_weights);
    json_decref(st->callbacks);
    memset(st, 0, sizeof *st);
}

nn_status nn_fit_share_resume(nn_dist *d, nn_model *m, nn_train_cfg *t, nn_fit_state *st,
                              nn_error *err)
{
    if (!d)
        return NN_OK;
    /* the state as rank 0 read it, in its checkpoint form (the callbacks'
     * states as read: their instances start later) */
    char *text = NULL;
    if (nn_dist_is_root(d)) {
        char *base = state_json(t, st);
        json_error_t jerr;
        json_t *j = base ? json_loads(base, 0, &jerr) : NULL;
        if (j && st->callbacks)
            json_object_set(j, "callbacks", st->callbacks);
        text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
        json_decref(j);
        free(base);
    }
    unsigned long long len = text ? strlen(text) + 1 : 0;
    nn_status rc = nn_dist_is_root(d) && !text
                       ? nn_fail(err, NN_ERR_RUNTIME, "cannot encode the training state")
                       : NN_OK;
    if ((rc = nn_dist_agree(d, rc, err)) || (rc = nn_dist_bcast(d, &len, sizeof len, err)))
        goto done;
    if (!nn_dist_is_root(d) && !(text = calloc(1, (size_t)len)))
        rc = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    if ((rc = nn_dist_agree(d, rc, err)) || (rc = nn_dist_bcast(d, text, (size_t)len, err)))
        goto done;
    if (!nn_dist_is_root(d)) {
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        nn_fit_state_free(st);
        if (j)
            read_state(j, t, st);
        st->have_best_weights = json_is_true(json_object_get(j, "best_weights"));
        json_decref(j);
        if (!j)
            rc = nn_fail(err, NN_ERR_RUNTIME, "the training state from rank 0 is not JSON");
    }
    if ((rc = nn_dist_agree(d, rc, err)) || !st->have_best_weights)
        goto done;
    /* restore_best_weights' snapshot */
    size_t n = total_weights(m);
    if (!st->best_weights && !(st->best_weights = nn_malloc(n * sizeof(float), err)))
        rc = NN_ERR_RUNTIME;
    if (!(rc = nn_dist_agree(d, rc, err)))
        rc = nn_dist_bcast(d, st->best_weights, n * sizeof(float), err);
done:
    free(text);
    return rc;
}

/* ---- services to callbacks (callback.h) ---- */

nn_status nn_fit_keep_best(nn_fit_ctx *c, nn_error *err)
{
    nn_fit_loop *l = c->loop;
    if (l->s->best_weights)
        return NN_OK;
    size_t n = total_weights(c->model);
    if (!(l->s->best_weights = nn_malloc((n ? n : 1) * sizeof(float), err)))
        return NN_ERR_RUNTIME;
    const nn_fit_state *r = l->opts->resume;
    l->s->have_best_weights = r && r->have_best_weights && r->best_weights;
    if (l->s->have_best_weights)
        memcpy(l->s->best_weights, r->best_weights, n * sizeof(float));
    l->keep_best = true;
    return NN_OK;
}

void nn_fit_snapshot_best(nn_fit_ctx *c)
{
    nn_fit_loop *l = c->loop;
    if (!l->s->best_weights)
        return;
    copy_weights(c->model, l->s->best_weights, true);
    l->s->have_best_weights = true;
}

bool nn_fit_restore_best(nn_fit_ctx *c)
{
    nn_fit_loop *l = c->loop;
    if (!l->s->best_weights || !l->s->have_best_weights)
        return false;
    copy_weights(c->model, l->s->best_weights, false);
    return true;
}

nn_status nn_fit_request_save(nn_fit_ctx *c, const char *path, bool weights_only,
                              nn_error *err)
{
    nn_fit_loop *l = c->loop;
    if (l->n_saves == NN_MAX_CALLBACKS)
        return nn_fail(err, NN_ERR_RUNTIME, "more than %d saves in one epoch", NN_MAX_CALLBACKS);
    snprintf(l->saves[l->n_saves].path, sizeof l->saves[0].path, "%s", path);
    l->saves[l->n_saves++].weights_only = weights_only;
    return NN_OK;
}

double nn_fit_get_lr(const nn_fit_ctx *c)
{
    return c->train->optimizer.lr;
}

void nn_fit_set_lr(nn_fit_ctx *c, double lr)
{
    c->train->optimizer.lr = lr;
}

/* ---- the callbacks' hooks, in the spec's order ---- */

/* root_only callbacks run on rank 0 alone (callback.h) */
#define EACH_CALLBACK(t, c, cb)                                                          \
    for (nn_callback *cb = (t)->callbacks; cb < (t)->callbacks + (t)->n_callbacks; cb++) \
        if (!cb->type->root_only || (c)->root)

static nn_status callbacks_epoch_begin(nn_train_cfg *t, nn_fit_ctx *c, nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, c, cb)
    if (!st && cb->type->epoch_begin)
        st = cb->type->epoch_begin(cb, c, err);
    return st;
}

static nn_status callbacks_batch_begin(nn_train_cfg *t, nn_fit_ctx *c, nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, c, cb)
    if (!st && cb->type->batch_begin)
        st = cb->type->batch_begin(cb, c, err);
    return st;
}

static bool callbacks_want_batch(const nn_train_cfg *t, const nn_fit_ctx *c)
{
    for (int i = 0; i < t->n_callbacks; i++) {
        const nn_callback_type *ty = t->callbacks[i].type;
        if (ty->root_only && !c->root)
            continue;
        if (ty->batch_end && (!ty->wants_batch || ty->wants_batch(&t->callbacks[i], c)))
            return true;
    }
    return false;
}

static nn_status callbacks_batch_end(nn_train_cfg *t, nn_fit_ctx *c, const nn_logs *running,
                                     nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, c, cb)
    if (!st && cb->type->batch_end && (!cb->type->wants_batch || cb->type->wants_batch(cb, c)))
        st = cb->type->batch_end(cb, c, running, err);
    return st;
}

static nn_status callbacks_epoch_end(nn_train_cfg *t, nn_fit_ctx *c, const nn_logs *logs,
                                     nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, c, cb)
    if (!st && cb->type->epoch_end)
        st = cb->type->epoch_end(cb, c, logs, err);
    return st;
}

/* train_end for the first n callbacks (those whose train_begin ran). */
static nn_status callbacks_train_end(nn_train_cfg *t, nn_fit_ctx *c, int n, nn_error *err)
{
    nn_status st = NN_OK;
    for (int i = 0; i < n; i++) {
        nn_callback *cb = &t->callbacks[i];
        if (cb->type->root_only && !c->root)
            continue;
        nn_error e2 = {0};
        nn_status r = cb->type->train_end ? cb->type->train_end(cb, c, st ? &e2 : err) : NN_OK;
        if (!st)
            st = r;
        cb->state = NULL;
    }
    return st;
}

/* The running means of this epoch so far (Keras's batch logs). */
static void running_logs(nn_logs *running, const nn_train_cfg *t, const nn_fit_state *s)
{
    running->n = 0;
    set_losses(running, t, "", s->loss_sum / (double)s->seen, s->head_sums, s->seen);
    for (int i = 0; i < t->n_metrics; i++)
        nn_logs_set(running, t->metrics[i].name,
                    metric_value(&t->metrics[i], s->sums[i], s->seen, s->mstate[i]));
}

/* What one training batch added up, over every process: [data loss,
 * activity loss, each output's loss, each metric's sum, stop] (losses as
 * shares of the batch's mean; stop: processes that got a signal). */
typedef struct step_sums {
    nn_model *m;
    const nn_train_cfg *t;
    const nn_objective *o;
    const batcher *b;
    const nn_batch_loss *parts;
    int rows;
    double (*mstate)[NN_METRIC_STATE_MAX]; /* plugin metrics' state (this process's) */
    double v[3 + NN_MAX_IO + NN_MAX_METRICS];
    size_t n;
} step_sums;

static double *sum_heads(step_sums *ss) { return ss->v + 2; }
static double *sum_metrics(step_sums *ss) { return ss->v + 2 + ss->o->n; }
static double *sum_stop(step_sums *ss) { return ss->v + ss->n - 1; }

/* this process's share, once its loss is known (before backward: summing
 * it overlaps the gradients') */
static void fill_step_sums(void *ctx, double *v)
{
    step_sums *ss = ctx;
    (void)v;
    memset(ss->v, 0, sizeof ss->v);
    ss->v[0] = ss->parts->data;
    ss->v[1] = ss->parts->activity;
    for (int k = 0; k < ss->o->n; k++)
        sum_heads(ss)[k] = ss->parts->head[k];
    add_metrics(ss->m, ss->t, ss->o, ss->b, ss->rows, sum_metrics(ss), ss->mstate);
    *sum_stop(ss) = nn_interrupt_pending() ? 1.0 : 0.0;
}

/* Did any process get a signal? (every process asks at the same point) */
static int stop_signal(nn_dist *d, nn_error *err)
{
    double sig = nn_interrupt_pending();
    if (nn_dist_max(d, &sig, 1, err))
        return 0;
    return (int)sig;
}

/* Setting up data-parallel training: gradients in buckets, every rank
 * starting from rank 0's model (and optimizer state), checked equal. */
static nn_status dp_begin(nn_model *m, const nn_train_cfg *t, const nn_dataset *train, int batch,
                          const nn_fit_opts *opts, nn_data_parallel **dp, nn_error *err)
{
    nn_dist *d = opts->dist;
    const int ranks = nn_dist_size(d);
    /* SyncBatchNormalization sums inside the forward pass: every process
     * must run each batch, so none may get an empty share */
    size_t last = train->n % (size_t)batch ? train->n % (size_t)batch : (size_t)batch;
    bool empty = (size_t)batch < (size_t)ranks || last < (size_t)ranks;
    for (int i = 0; empty && i < m->n_nodes; i++)
        if (nn_layer_syncs_processes(m->nodes[i]))
            return nn_fail(err, NN_ERR_USAGE,
                           "layer '%s' (sync = true) needs every one of the %d ranks to get "
                           "samples of each batch, but %s has %zu samples: use a batch size "
                           "and sample count that leave at least one per rank",
                           m->nodes[i]->name, ranks,
                           (size_t)batch < (size_t)ranks ? "a batch" : "the epoch's last batch",
                           (size_t)batch < (size_t)ranks ? (size_t)batch : last);
    nn_status st = nn_dp_create(dp, d, m, t->distributed.bucket_mb, err);
    if ((st = nn_dist_agree(d, st, err)) || (st = nn_dist_bcast_model(d, m, true, err)) ||
        (st = nn_dist_check_model(d, m, err)))
        return st;
    if (!opts->quiet && nn_dist_is_root(d)) {
        fprintf(opts->out, "Data-parallel over %d ranks (%s): %s\n", ranks, nn_dist_library(d),
                nn_dp_describe(*dp));
        /* where each rank runs, to match a launcher's report of a dead
         * process (MPICH names its pid and host) */
        fprintf(opts->out, "Ranks:");
        for (int r = 0; r < ranks && r < 16; r++)
            fprintf(opts->out, " %d %s (pid %ld)%s", r, nn_dist_host(d, r), nn_dist_pid(d, r),
                    r + 1 < ranks && r < 15 ? "," : "");
        fprintf(opts->out, "%s\n", ranks > 16 ? ", ..." : "");
    }
    return NN_OK;
}

/* After the epoch's callbacks: a stop any rank's callbacks asked for (only
 * rank 0 runs commands) and rank 0's learning rate, on every rank. */
static nn_status agree_callbacks(nn_dist *d, nn_fit_ctx *c, nn_error *err)
{
    double stop = c->stop_training ? 1.0 : 0.0, lr = c->train->optimizer.lr;
    nn_status st = nn_dist_max(d, &stop, 1, err);
    if (!st)
        st = nn_dist_bcast(d, &lr, sizeof lr, err);
    c->stop_training = stop > 0.0;
    c->train->optimizer.lr = lr;
    return st;
}

nn_status nn_fit(nn_model *m, nn_train_cfg *t, const nn_objective *o, const nn_dataset *train,
                 const nn_dataset *val, const nn_fit_opts *opts, nn_fit_result *res,
                 nn_error *err)
{
    memset(res, 0, sizeof *res);
    if (train->n == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "the training set is empty");
    if (train->n > UINT32_MAX)
        return nn_fail(err, NN_ERR_RUNTIME, "more than 2^32 training samples");
    const int batch =
        (int)(t->batch_size < (long long)train->n ? t->batch_size : (long long)train->n);
    /* several processes (mpirun): each runs its share of every batch;
     * rank 0 alone prints and writes */
    nn_dist *d = opts->dist;
    const bool root = nn_dist_is_root(d);
    const bool quiet = opts->quiet || !root;
    const int ranks = nn_dist_size(d), me = nn_dist_rank(d);
    nn_data_parallel *dp = NULL;
    nn_fit_state s;
    memset(&s, 0, sizeof s);
    batcher b;
    memset(&b, 0, sizeof b);
    nn_fit_loop loop = {.s = &s, .t = t, .opts = opts};
    const long long steps = (long long)((train->n + (size_t)batch - 1) / (size_t)batch);
    nn_fit_ctx ctx = {.model = m, .train = t, .run_dir = opts->run_dir, .out = opts->out,
                      .tty = opts->tty, .quiet = quiet, .root = root, .epochs = t->epochs,
                      .steps = steps, .samples = train->n, .resumed = opts->resume != NULL,
                      .loop = &loop};
    int begun = 0; /* callbacks whose train_begin ran */
    nn_logs running; /* one batch's running means: made here, not per batch */
    nn_status st = nn_model_plan(m, batch, err);
    /* one batcher for training and validation passes (its index array
     * covers both sets) */
    size_t most = val && val->n > train->n ? val->n : train->n;
    if (!st)
        st = batcher_init(&b, m, o, most, batch, err);
    if ((st = nn_dist_agree(d, st, err)) ||
        (d && (st = dp_begin(m, t, train, batch, opts, &dp, err))))
        goto done;
    if (opts->resume) {
        s = *opts->resume;
        s.best_weights = NULL; /* ours is allocated by nn_fit_keep_best */
        s.have_best_weights = false;
        s.callbacks = NULL;
    }
    ctx.epoch = s.epoch;
    ctx.step = s.step;
    res->last = s.last; /* a resumed run that has no epoch left keeps them */
    for (; begun < t->n_callbacks; begun++) {
        nn_callback *cb = &t->callbacks[begun];
        cb->state = NULL;
        /* files and commands (history, TensorBoard, exec): rank 0's */
        if (cb->type->root_only && !root)
            continue;
        if (cb->type->train_begin && (st = cb->type->train_begin(cb, &ctx, err))) {
            begun++; /* its train_end releases what it made */
            break;
        }
        json_t *saved = opts->resume ? json_object_get(opts->resume->callbacks, cb->key) : NULL;
        if (saved && cb->state && cb->type->load_state)
            cb->type->load_state(cb, saved);
    }
    if ((st = nn_dist_agree(d, st, err)))
        goto done;
    char last_path[4200];
    snprintf(last_path, sizeof last_path, "%s/last.h5", opts->run_dir);
    bool first_done = false;
    nn_rng shuffle_base, dropout_base;
    nn_rng_seed(&shuffle_base, (uint64_t)t->seed, NN_STREAM_SHUFFLE);
    nn_rng_seed(&dropout_base, (uint64_t)t->seed, NN_STREAM_DROPOUT);
    nn_progress prog = {.out = opts->out, .tty = opts->tty, .quiet = quiet, .engine = m->e,
                        .epochs = t->epochs, .steps = steps};
    step_sums ss = {.m = m, .t = t, .o = o, .b = &b, .mstate = s.mstate,
                    .n = 3 + (size_t)o->n + (size_t)t->n_metrics};
    bool batch_stops = false; /* the same on every rank: the types, not their states */
    for (int i = 0; d && i < t->n_callbacks; i++)
        batch_stops |= t->callbacks[i].type->batch_end != NULL;
    double t_start = now();
    nn_interrupt_install();
    res->epochs_run = s.epoch;
    for (; s.epoch < t->epochs && !s.stopped; s.epoch++) {
        const long long epoch = s.epoch;
        ctx.epoch = epoch;
        double t_epoch = now();
        nn_progress_epoch_begin(&prog, epoch);
        if ((st = callbacks_epoch_begin(t, &ctx, err)))
            goto done;
        for (size_t i = 0; i < train->n; i++)
            b.idx[i] = (uint32_t)i;
        if (opts->shuffle) {
            /* One stream per epoch: the order depends on (seed, epoch) only,
             * so a resumed run sees the same batches, and so does every
             * process of a data-parallel run. */
            nn_rng r = nn_rng_split(&shuffle_base, (uint64_t)epoch);
            nn_rng_shuffle_u32(&r, b.idx, train->n);
        }
        if (s.step == 0) {
            s.loss_sum = 0.0;
            s.seen = 0;
            memset(s.sums, 0, sizeof s.sums);
            memset(s.mstate, 0, sizeof s.mstate);
            memset(s.head_sums, 0, sizeof s.head_sums);
        }
        for (; s.step < steps && !ctx.stop_training; s.step++) {
            const long long step = s.step;
            ctx.step = step;
            if (t->has_batch_begin && (st = callbacks_batch_begin(t, &ctx, err)))
                goto done;
            size_t start = (size_t)step * (size_t)batch;
            int rows = (int)(train->n - start < (size_t)batch ? train->n - start : (size_t)batch);
            /* this process's share of the batch */
            int lo = (int)((long long)rows * me / ranks);
            int hi = (int)((long long)rows * (me + 1) / ranks);
            ss.rows = hi - lo;
            /* the same stream for every batch of the epoch: each dropout
             * call takes the next key, each sample its own mask */
            nn_rng drop = nn_rng_split(&dropout_base, (uint64_t)epoch);
            nn_batch_loss parts;
            ss.parts = &parts;
            double loss = 0.0;
            if (ss.rows > 0) {
                load_batch(&b, m, o, train, b.idx + start + lo, ss.rows,
                           &(batch_pos){(uint64_t)t->seed, epoch});
                nn_pass pass = {.e = m->e, .rows = ss.rows, .training = true, .rng = &drop,
                                .ids = &b.ids};
                if (dp)
                    pass.rep = nn_dp_batch(dp, rows, fill_step_sums, &ss, ss.v, ss.n);
                loss = nn_batch_gradients(m, o, b.ytp, &pass, &parts);
                if (!dp)
                    fill_step_sums(&ss, ss.v);
                else if ((st = nn_dp_status(dp, err)))
                    goto done;
            } else {
                /* nothing of this batch here: zero gradients, summed with
                 * the others' */
                memset(ss.v, 0, sizeof ss.v);
                *sum_stop(&ss) = nn_interrupt_pending() || ctx.stop_training ? 1.0 : 0.0;
                if ((st = nn_dp_empty_batch(dp, ss.v, ss.n, err)))
                    goto done;
                parts.weights = nn_model_weight_penalty(m, true);
            }
            if (dp) /* the whole batch's loss */
                loss = ss.v[0] + ss.v[1] + parts.weights;
            /* a plugin's layer, loss, metric or regularizer that failed in
             * the pass (every process stops with it) */
            st = nn_error_take_deferred(err);
            if ((st = nn_dist_agree(d, st, err)))
                goto done;
            if (!isfinite(loss)) {
                bool have_last = access(last_path, F_OK) == 0;
                st = nn_fail(err, NN_ERR_RUNTIME,
                             "loss became %s at epoch %lld, batch %lld: training stopped (%s%s%s); "
                             "try a lower learning rate or check the data's scale",
                             isnan(loss) ? "NaN" : "infinite", epoch + 1, step + 1,
                             have_last ? "the last good checkpoint, " : "no checkpoint was "
                                                                         "written yet",
                             have_last ? last_path : "", have_last ? ", is kept" : "");
                goto done;
            }
            nn_optimizer_step(&t->optimizer, m);
            s.loss_sum += loss * rows;
            for (int k = 0; k < o->n; k++)
                s.head_sums[k] += sum_heads(&ss)[k] * rows;
            for (int i = 0; i < t->n_metrics; i++)
                s.sums[i] += sum_metrics(&ss)[i];
            s.seen += (size_t)rows;
            bool show = opts->tty && !quiet, hooks = callbacks_want_batch(t, &ctx);
            if (show || hooks) {
                running_logs(&running, t, &s);
                if (show)
                    nn_progress_step(&prog, step + 1, &running);
                if (hooks && (st = callbacks_batch_end(t, &ctx, &running, err)))
                    goto done;
            }
            /* a batch callback stopping training (on rank 0 alone, for
             * one that runs commands) stops every rank after this batch */
            if (batch_stops) {
                double v = ctx.stop_training ? 1.0 : 0.0;
                if ((st = nn_dist_max(d, &v, 1, err)))
                    goto done;
                ctx.stop_training = v > 0.0;
            }
            /* a signal here or on any other rank (summed with the batch) */
            if (*sum_stop(&ss) > 0 && step + 1 < steps) {
                /* Stop between batches with everything needed to go on:
                 * every process stops at this batch and rank 0 writes the
                 * checkpoint. */
                s.step = step + 1;
                if (opts->tty && !quiet)
                    fputc('\n', opts->out);
                res->interrupted = stop_signal(d, err);
                if ((st = nn_dist_average_moving(d, m, err)))
                    goto done;
                if (root)
                    st = save_last(m, t, &s, opts, last_path, &first_done, err);
                if ((st = nn_dist_agree(d, st, err)))
                    goto done;
                snprintf(res->last_path, sizeof res->last_path, "%s", last_path);
                st = nn_fail(err, NN_ERR_RUNTIME,
                             "interrupted at epoch %lld, batch %lld of %lld; saved %s (resume "
                             "with --resume %s)",
                             epoch + 1, step + 1, steps, last_path, last_path);
                goto done;
            }
        }
        s.step = 0;
        nn_logs logs = {0};
        /* s.seen: every sample, unless a callback stopped the epoch early */
        set_losses(&logs, t, "", s.loss_sum / (double)s.seen, s.head_sums, s.seen);
        {
            /* plugin metrics: every process's state added up */
            double mst[NN_MAX_METRICS][NN_METRIC_STATE_MAX];
            memcpy(mst, s.mstate, sizeof mst);
            if (d && t->n_metrics &&
                (st = nn_dist_sum(d, &mst[0][0], (size_t)t->n_metrics * NN_METRIC_STATE_MAX,
                                  err)))
                goto done;
            for (int i = 0; i < t->n_metrics; i++)
                nn_logs_set(&logs, t->metrics[i].name,
                            metric_value(&t->metrics[i], s.sums[i], s.seen, mst[i]));
        }
        /* the processes' moving statistics (per-rank BatchNormalization)
         * averaged before validation reads them and checkpoints store them */
        if ((st = nn_dist_average_moving(d, m, err)))
            goto done;
        if (val && val->n) {
            nn_eval_result vr;
            vr.n_classes = 0;
            if ((st = evaluate_batches(m, t, o, val, batch, &b, d, &vr, false, NULL, err)))
                goto done;
            set_losses(&logs, t, "val_", vr.loss, vr.head_loss, 1);
            for (int i = 0; i < t->n_metrics; i++) {
                char name[160];
                snprintf(name, sizeof name, "val_%s", t->metrics[i].name);
                nn_logs_set(&logs, name, vr.metrics[i]);
            }
        }
        nn_logs_set(&logs, "lr", nn_optimizer_current_lr(&t->optimizer));
        double secs = now() - t_epoch;
        ctx.epoch_seconds = secs;
        nn_progress_epoch_end(&prog, &logs, secs);
        res->last = logs;
        res->epochs_run = epoch + 1;
        s.last = logs;
        loop.n_saves = 0;
        st = callbacks_epoch_end(t, &ctx, &logs, err);
        /* every rank stops when one's callbacks say so (rank 0's alone run
         * commands) and goes on with rank 0's learning rate */
        if (!(st = nn_dist_agree(d, st, err)) && d &&
            (st = agree_callbacks(d, &ctx, err)))
            goto done;
        if (st)
            goto done;
        /* The state as of the end of this epoch: resuming starts the next
         * (or, after early stopping, only writes the final model). */
        bool stop = ctx.stop_training;
        s.epoch = epoch + 1;
        s.stopped = stop;
        for (int i = 0; root && !st && i < loop.n_saves; i++)
            st = save_model(m, t, &s, opts, loop.saves[i].path, loop.saves[i].weights_only, err);
        if (root && !st)
            st = save_last(m, t, &s, opts, last_path, &first_done, err);
        if ((st = nn_dist_agree(d, st, err)))
            goto done;
        s.epoch = epoch;
        if (stop) {
            if (!quiet)
                fprintf(opts->out, "Epoch %lld: early stopping\n", epoch + 1);
            s.epoch = epoch + 1;
            break;
        }
        int sig = d ? stop_signal(d, err) : nn_interrupt_pending();
        if (sig) {
            s.epoch = epoch + 1;
            res->interrupted = sig;
            snprintf(res->last_path, sizeof res->last_path, "%s", last_path);
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "interrupted after epoch %lld; saved %s (resume with --resume %s)",
                         epoch + 1, last_path, last_path);
            goto done;
        }
    }
    /* train_end (EarlyStopping restores the best weights) before the
     * final model is written */
    ctx.epoch = res->epochs_run - 1;
    st = callbacks_train_end(t, &ctx, begun, err);
    begun = 0;
    if (st)
        goto done;
    res->seconds = now() - t_start;
    res->comm_wait = nn_dp_waited(dp);
    snprintf(res->model_path, sizeof res->model_path, "%s/model.h5", opts->run_dir);
    if (root)
        st = save_model(m, t, &s, opts, res->model_path, false, err);
    st = nn_dist_agree(d, st, err);
done:
    nn_interrupt_uninstall();
    ctx.failed = true;
    nn_error ignored = {0}; /* the first error is the one to report */
    callbacks_train_end(t, &ctx, begun, &ignored);
    free(s.best_weights);
    nn_dp_free(dp);
    batcher_free(&b, m->e);
    return st;
}

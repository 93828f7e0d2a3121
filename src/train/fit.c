/* The fit loop: batches, forward, loss, backward, penalties, optimizer
 * step, metrics, callbacks. All buffers are made before the first batch;
 * nothing is allocated inside the loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/keras/model_file.h"
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

static void add_metrics(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                        const batcher *b, int rows, double *sums)
{
    for (int i = 0; i < t->n_metrics; i++) {
        int k = t->metrics[i].head;
        sums[i] += m->e->ops->metric(m->e, t->metrics[i].kind, t->metrics[i].k,
                                     &o->h[k].node->out, &b->yt[k], rows, o->h[k].cols);
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

static double metric_value(const nn_metric *mt, double sum, size_t n)
{
    double v = sum / (double)n;
    return mt->root ? sqrt(v) : v;
}

/* Inference over d in batches through b (planned for batch, its index
 * array at least d->n long): allocates nothing, so the fit loop's
 * validation passes reuse its training batcher. */
/* false when stopped by a signal (stop_on_signal) before the end */
static bool evaluate_batches(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                             const nn_dataset *d, int batch, batcher *b, nn_eval_result *r,
                             bool stop_on_signal)
{
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < d->n; i++)
        b->idx[i] = (uint32_t)i;
    double loss_sum = 0.0, sums[NN_MAX_METRICS] = {0}, head_sums[NN_MAX_IO] = {0};
    double penalty = nn_model_weight_penalty(m, false);
    for (size_t start = 0; start < d->n; start += (size_t)batch) {
        if (stop_on_signal && nn_interrupt_pending())
            return false;
        int rows = (int)(d->n - start < (size_t)batch ? d->n - start : (size_t)batch);
        load_batch(b, m, o, d, b->idx + start, rows, NULL);
        nn_pass p = {.e = m->e, .rows = rows, .training = false, .rng = NULL};
        nn_model_forward(m, &p);
        double head[NN_MAX_IO];
        loss_sum +=
            (nn_batch_data_loss(m, o, b->ytp, rows, false, head) + m->activity_penalty) * rows;
        for (int k = 0; k < o->n; k++)
            head_sums[k] += head[k] * rows;
        add_metrics(m, t, o, b, rows, sums);
    }
    r->samples = d->n;
    r->loss = loss_sum / (double)d->n + penalty;
    for (int k = 0; k < o->n; k++)
        r->head_loss[k] = head_sums[k] / (double)d->n;
    for (int i = 0; i < t->n_metrics; i++)
        r->metrics[i] = metric_value(&t->metrics[i], sums[i], d->n);
    return true;
}

nn_status nn_evaluate(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                      const nn_dataset *d, int batch, nn_eval_result *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    if (d->n == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot evaluate on an empty dataset");
    nn_status st = nn_model_plan(m, batch, err);
    batcher b;
    memset(&b, 0, sizeof b);
    if (!st && !(st = batcher_init(&b, m, o, d->n, batch, err)) &&
        !evaluate_batches(m, t, o, d, batch, &b, r, true))
        st = nn_fail(err, NN_ERR_RUNTIME, "interrupted during the evaluation");
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
    for (int i = 0; i < t->n_metrics; i++)
        json_array_append_new(sums, json_real(s->sums[i]));
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
    /* %.17g: doubles round-trip exactly, so a resumed epoch sums the same */
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return text;
}

static nn_status save_model(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                            const nn_fit_opts *opts, const char *path, bool weights_only,
                            nn_error *err)
{
    char *state = state_json(t, s);
    if (!state)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot encode the training state");
    nn_model_file_opts fo = {.spec_text = opts->spec_text,
                             .spec_dir = opts->spec_dir,
                             .class_names = opts->class_names,
                             .preprocess = opts->preprocess,
                             .state_json = state,
                             .train = t,
                             .weights_only = weights_only,
                             .best_weights = s->have_best_weights ? s->best_weights : NULL};
    nn_status st = nn_model_save(m, path, &fo, err);
    free(state);
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
    if ((rc = nn_model_load_weights(m, f, path, err)) ||
        (rc = nn_model_load_optimizer(m, f, &t->optimizer, path, err)))
        goto done;
    st->epoch = (long long)json_num(j, "epoch", 0);
    st->step = (long long)json_num(j, "step", 0);
    st->loss_sum = json_num(j, "loss_sum", 0.0);
    st->seen = (size_t)json_num(j, "seen", 0);
    json_t *sums = json_object_get(j, "metric_sums"), *heads = json_object_get(j, "head_loss_sums");
    for (int i = 0; i < t->n_metrics; i++)
        st->sums[i] = json_is_number(json_array_get(sums, (size_t)i))
                          ? json_number_value(json_array_get(sums, (size_t)i))
                          : 0.0;
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

#define EACH_CALLBACK(t, cb) \
    for (nn_callback *cb = (t)->callbacks; cb < (t)->callbacks + (t)->n_callbacks; cb++)

static nn_status callbacks_epoch_begin(nn_train_cfg *t, nn_fit_ctx *c, nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, cb)
    if (!st && cb->type->epoch_begin)
        st = cb->type->epoch_begin(cb, c, err);
    return st;
}

static bool callbacks_want_batch(const nn_train_cfg *t, const nn_fit_ctx *c)
{
    for (int i = 0; i < t->n_callbacks; i++) {
        const nn_callback_type *ty = t->callbacks[i].type;
        if (ty->batch_end && (!ty->wants_batch || ty->wants_batch(&t->callbacks[i], c)))
            return true;
    }
    return false;
}

static nn_status callbacks_batch_end(nn_train_cfg *t, nn_fit_ctx *c, const nn_logs *running,
                                     nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, cb)
    if (!st && cb->type->batch_end && (!cb->type->wants_batch || cb->type->wants_batch(cb, c)))
        st = cb->type->batch_end(cb, c, running, err);
    return st;
}

static nn_status callbacks_epoch_end(nn_train_cfg *t, nn_fit_ctx *c, const nn_logs *logs,
                                     nn_error *err)
{
    nn_status st = NN_OK;
    EACH_CALLBACK(t, cb)
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
                    metric_value(&t->metrics[i], s->sums[i], s->seen));
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
    nn_fit_state s;
    memset(&s, 0, sizeof s);
    batcher b;
    memset(&b, 0, sizeof b);
    nn_fit_loop loop = {.s = &s, .t = t, .opts = opts};
    const long long steps = (long long)((train->n + (size_t)batch - 1) / (size_t)batch);
    nn_fit_ctx ctx = {.model = m, .train = t, .run_dir = opts->run_dir, .out = opts->out,
                      .tty = opts->tty, .quiet = opts->quiet, .epochs = t->epochs,
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
    if (st)
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
        if (cb->type->train_begin && (st = cb->type->train_begin(cb, &ctx, err))) {
            begun++; /* its train_end releases what it made */
            goto done;
        }
        json_t *saved = opts->resume ? json_object_get(opts->resume->callbacks, cb->key) : NULL;
        if (saved && cb->state && cb->type->load_state)
            cb->type->load_state(cb, saved);
    }
    char last_path[4200];
    snprintf(last_path, sizeof last_path, "%s/last.h5", opts->run_dir);
    bool first_done = false;
    nn_rng shuffle_base, dropout_base;
    nn_rng_seed(&shuffle_base, (uint64_t)t->seed, NN_STREAM_SHUFFLE);
    nn_rng_seed(&dropout_base, (uint64_t)t->seed, NN_STREAM_DROPOUT);
    nn_progress prog = {.out = opts->out, .tty = opts->tty, .quiet = opts->quiet,
                        .epochs = t->epochs, .steps = steps};
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
             * so a resumed run sees the same batches. */
            nn_rng r = nn_rng_split(&shuffle_base, (uint64_t)epoch);
            nn_rng_shuffle_u32(&r, b.idx, train->n);
        }
        if (s.step == 0) {
            s.loss_sum = 0.0;
            s.seen = 0;
            memset(s.sums, 0, sizeof s.sums);
            memset(s.head_sums, 0, sizeof s.head_sums);
        }
        for (; s.step < steps && !ctx.stop_training; s.step++) {
            const long long step = s.step;
            ctx.step = step;
            size_t start = (size_t)step * (size_t)batch;
            int rows = (int)(train->n - start < (size_t)batch ? train->n - start : (size_t)batch);
            load_batch(&b, m, o, train, b.idx + start, rows, &(batch_pos){(uint64_t)t->seed, epoch});
            /* the same stream for every batch of the epoch: each dropout
             * call takes the next key, each sample its own mask */
            nn_rng drop = nn_rng_split(&dropout_base, (uint64_t)epoch);
            nn_batch_loss parts;
            nn_pass pass = {.e = m->e, .rows = rows, .training = true, .rng = &drop, .ids = &b.ids};
            double loss = nn_batch_gradients(m, o, b.ytp, &pass, &parts);
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
                s.head_sums[k] += parts.head[k] * rows;
            add_metrics(m, t, o, &b, rows, s.sums);
            s.seen += (size_t)rows;
            bool show = opts->tty && !opts->quiet, hooks = callbacks_want_batch(t, &ctx);
            if (show || hooks) {
                running_logs(&running, t, &s);
                if (show)
                    nn_progress_step(&prog, step + 1, &running);
                if (hooks && (st = callbacks_batch_end(t, &ctx, &running, err)))
                    goto done;
            }
            if (nn_interrupt_pending() && step + 1 < steps) {
                /* Stop between batches with everything needed to go on. */
                s.step = step + 1;
                if (opts->tty && !opts->quiet)
                    fputc('\n', opts->out);
                if ((st = save_last(m, t, &s, opts, last_path, &first_done, err)))
                    goto done;
                res->interrupted = nn_interrupt_pending();
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
        for (int i = 0; i < t->n_metrics; i++)
            nn_logs_set(&logs, t->metrics[i].name,
                        metric_value(&t->metrics[i], s.sums[i], s.seen));
        if (val && val->n) {
            nn_eval_result vr;
            evaluate_batches(m, t, o, val, batch, &b, &vr, false);
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
        if ((st = callbacks_epoch_end(t, &ctx, &logs, err)))
            goto done;
        /* The state as of the end of this epoch: resuming starts the next
         * (or, after early stopping, only writes the final model). */
        bool stop = ctx.stop_training;
        s.epoch = epoch + 1;
        s.stopped = stop;
        for (int i = 0; i < loop.n_saves; i++)
            if ((st = save_model(m, t, &s, opts, loop.saves[i].path, loop.saves[i].weights_only,
                                 err)))
                goto done;
        if ((st = save_last(m, t, &s, opts, last_path, &first_done, err)))
            goto done;
        s.epoch = epoch;
        if (stop) {
            if (!opts->quiet)
                fprintf(opts->out, "Epoch %lld: early stopping\n", epoch + 1);
            s.epoch = epoch + 1;
            break;
        }
        if (nn_interrupt_pending()) {
            s.epoch = epoch + 1;
            res->interrupted = nn_interrupt_pending();
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
    snprintf(res->model_path, sizeof res->model_path, "%s/model.h5", opts->run_dir);
    st = save_model(m, t, &s, opts, res->model_path, false, err);
done:
    nn_interrupt_uninstall();
    ctx.failed = true;
    nn_error ignored = {0}; /* the first error is the one to report */
    callbacks_train_end(t, &ctx, begun, &ignored);
    free(s.best_weights);
    batcher_free(&b, m->e);
    return st;
}

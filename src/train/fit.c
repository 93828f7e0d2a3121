/* The fit loop: batches, forward, loss, backward, penalties, optimizer
 * step, metrics, callbacks. All buffers are made before the first batch;
 * nothing is allocated inside the loop. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/model_file.h"
#include "train/callbacks/callbacks.h"
#include "train/fit.h"
#include "util/fileio.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct batcher {
    float *x, *y;
    uint32_t *idx;
    nn_tensor yt;
    size_t in_size;
} batcher;

static nn_status batcher_init(batcher *b, nn_model *m, const nn_objective *o, size_t n, int batch,
                              nn_error *err)
{
    memset(b, 0, sizeof *b);
    b->in_size = m->input->size;
    b->x = nn_malloc((size_t)batch * b->in_size * sizeof(float), err);
    b->y = nn_malloc((size_t)batch * (size_t)o->target_cols * sizeof(float), err);
    b->idx = nn_malloc((n ? n : 1) * sizeof(uint32_t), err);
    if (!b->x || !b->y || !b->idx)
        return NN_ERR_RUNTIME;
    int shape[2] = {batch, o->target_cols};
    return m->e->ops->alloc(m->e, &b->yt, 2, shape, err);
}

static void batcher_free(batcher *b, nn_engine *e)
{
    free(b->x);
    free(b->y);
    free(b->idx);
    e->ops->free(e, &b->yt);
}

static void load_batch(batcher *b, nn_model *m, const nn_objective *o, const nn_dataset *d,
                       const uint32_t *idx, int rows)
{
    nn_dataset_gather_x(d, idx, (size_t)rows, b->x);
    nn_dataset_gather_y(d, idx, (size_t)rows, o->one_hot, b->y);
    m->e->ops->upload(m->e, nn_model_input_tensor(m), b->x, (size_t)rows * b->in_size);
    m->e->ops->upload(m->e, &b->yt, b->y, (size_t)rows * (size_t)o->target_cols);
}

/* Mean data loss of the batch; with grad, writes the output gradient. */
static double data_loss(nn_model *m, const nn_objective *o, const batcher *b, int rows, bool grad)
{
    nn_node *out = m->output;
    nn_engine *e = m->e;
    double sum;
    if (o->fused) {
        sum = e->ops->loss(e, o->kind, out->preact, &b->yt, rows, o->cols,
                           grad ? out->dpreact : NULL, 1.0f);
        out->loss_wrote_preact = grad;
    } else {
        sum = e->ops->loss(e, o->kind, &out->out, &b->yt, rows, o->cols, grad ? &out->dout : NULL,
                           1.0f);
        out->loss_wrote_preact = false;
    }
    return sum / rows;
}

/* Sum of every weight penalty; with grad, adds their gradients. */
static double weight_penalty(nn_model *m, bool grad)
{
    double total = 0.0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (p->reg.l1 == 0.0f && p->reg.l2 == 0.0f)
                continue;
            total += m->e->ops->regularize(m->e, &p->w, p->reg.l1, p->reg.l2,
                                           grad && p->trainable ? &p->g : NULL, 1.0f, p->size);
        }
    return total;
}

static void add_metrics(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                        const batcher *b, int rows, double *sums)
{
    for (int i = 0; i < t->n_metrics; i++)
        sums[i] += m->e->ops->metric(m->e, t->metrics[i].kind, t->metrics[i].k, &m->output->out,
                                     &b->yt, rows, o->cols);
}

static double metric_value(const nn_metric *mt, double sum, size_t n)
{
    double v = sum / (double)n;
    return mt->root ? sqrt(v) : v;
}

nn_status nn_evaluate(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                      const nn_dataset *d, int batch, nn_eval_result *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    if (d->n == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot evaluate on an empty dataset");
    nn_status st = nn_model_plan(m, batch, err);
    batcher b;
    if (!st)
        st = batcher_init(&b, m, o, d->n, batch, err);
    if (st)
        return st;
    for (size_t i = 0; i < d->n; i++)
        b.idx[i] = (uint32_t)i;
    double loss_sum = 0.0, sums[NN_MAX_METRICS] = {0};
    double penalty = weight_penalty(m, false);
    for (size_t start = 0; start < d->n; start += (size_t)batch) {
        int rows = (int)(d->n - start < (size_t)batch ? d->n - start : (size_t)batch);
        load_batch(&b, m, o, d, b.idx + start, rows);
        nn_pass p = {.e = m->e, .rows = rows, .training = false, .rng = NULL};
        nn_model_forward(m, &p);
        loss_sum += (data_loss(m, o, &b, rows, false) + m->activity_penalty) * rows;
        add_metrics(m, t, o, &b, rows, sums);
    }
    r->samples = d->n;
    r->loss = loss_sum / (double)d->n + penalty;
    for (int i = 0; i < t->n_metrics; i++)
        r->metrics[i] = metric_value(&t->metrics[i], sums[i], d->n);
    batcher_free(&b, m->e);
    return NN_OK;
}

typedef struct fit_state {
    nn_early_stopping es;
    nn_checkpoint ck;
    nn_history hist;
    float *best_weights; /* host snapshot for restore_best_weights */
    size_t n_weights;
} fit_state;

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

static char *state_json(const nn_train_cfg *t, const fit_state *s, long long epochs_done)
{
    json_t *j = json_pack("{s:I, s:I, s:f, s:I, s:{s:f, s:I, s:I, s:b}, s:{s:f, s:b}}", "epoch",
                          (json_int_t)epochs_done, "iterations",
                          (json_int_t)t->optimizer.iterations, "nadam_m_schedule",
                          t->optimizer.nadam_m_schedule, "seed", (json_int_t)t->seed,
                          "early_stopping", "best", isfinite(s->es.best) ? s->es.best : 0.0,
                          "wait", (json_int_t)s->es.wait, "best_epoch",
                          (json_int_t)s->es.best_epoch, "have_best", s->es.have_best,
                          "checkpoint", "best", isfinite(s->ck.best) ? s->ck.best : 0.0,
                          "have_best", s->ck.have_best);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return text;
}

static nn_status save_model(nn_model *m, const nn_train_cfg *t, const fit_state *s,
                            long long epochs_done, const nn_fit_opts *opts, const char *path,
                            bool weights_only, nn_error *err)
{
    char *state = state_json(t, s, epochs_done);
    nn_model_file_opts fo = {.spec_text = opts->spec_text,
                             .state_json = state,
                             .train = t,
                             .weights_only = weights_only};
    nn_status st = nn_model_save(m, path, &fo, err);
    free(state);
    return st;
}

nn_status nn_fit(nn_model *m, nn_train_cfg *t, const nn_objective *o, const nn_dataset *train,
                 const nn_dataset *val, const nn_fit_opts *opts, nn_fit_result *res,
                 nn_error *err)
{
    memset(res, 0, sizeof *res);
    const int batch = (int)(t->batch_size < (long long)train->n ? t->batch_size : (long long)train->n);
    if (train->n == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "the training set is empty");
    if (train->n > UINT32_MAX)
        return nn_fail(err, NN_ERR_RUNTIME, "more than 2^32 training samples");
    fit_state s;
    memset(&s, 0, sizeof s);
    batcher b;
    nn_status st = nn_model_plan(m, batch, err);
    if (!st)
        st = batcher_init(&b, m, o, train->n, batch, err);
    if (st)
        return st;
    nn_early_stopping_begin(&s.es, &t->early_stopping);
    nn_checkpoint_begin(&s.ck, &t->checkpoint);
    if ((st = nn_history_open(&s.hist, &t->history, opts->run_dir, err)))
        goto done;
    if (t->early_stopping.enabled && t->early_stopping.restore_best_weights) {
        s.n_weights = total_weights(m);
        if (!(s.best_weights = nn_malloc(s.n_weights * sizeof(float), err))) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
    }
    nn_rng shuffle_base, dropout_base;
    nn_rng_seed(&shuffle_base, (uint64_t)t->seed, NN_STREAM_SHUFFLE);
    nn_rng_seed(&dropout_base, (uint64_t)t->seed, NN_STREAM_DROPOUT);
    const long long steps = (long long)((train->n + (size_t)batch - 1) / (size_t)batch);
    nn_progress prog = {.out = opts->out, .tty = opts->tty, .quiet = opts->quiet,
                        .epochs = t->epochs, .steps = steps};
    double t_start = now();
    const bool shuffle = opts->shuffle;
    long long epoch;
    for (epoch = 0; epoch < t->epochs; epoch++) {
        double t_epoch = now();
        nn_progress_epoch_begin(&prog, epoch);
        for (size_t i = 0; i < train->n; i++)
            b.idx[i] = (uint32_t)i;
        if (shuffle) {
            /* One stream per epoch: the order depends on (seed, epoch) only,
             * so a resumed run sees the same batches. */
            nn_rng r = nn_rng_split(&shuffle_base, (uint64_t)epoch);
            nn_rng_shuffle_u32(&r, b.idx, train->n);
        }
        double loss_sum = 0.0, sums[NN_MAX_METRICS] = {0};
        size_t seen = 0;
        for (long long step = 0; step < steps; step++) {
            size_t start = (size_t)step * (size_t)batch;
            int rows = (int)(train->n - start < (size_t)batch ? train->n - start : (size_t)batch);
            load_batch(&b, m, o, train, b.idx + start, rows);
            nn_rng drop = nn_rng_split(&dropout_base, ((uint64_t)epoch << 32) | (uint64_t)step);
            nn_pass p = {.e = m->e, .rows = rows, .training = true, .rng = &drop};
            nn_model_forward(m, &p);
            double loss = data_loss(m, o, &b, rows, true) + m->activity_penalty;
            nn_model_backward(m, &p);
            loss += weight_penalty(m, true);
            if (!isfinite(loss)) {
                st = nn_fail(err, NN_ERR_RUNTIME,
                             "loss became %s at epoch %lld, batch %lld: training stopped (the "
                             "last checkpoint, if any, is kept); try a lower learning rate or "
                             "check the data's scale",
                             isnan(loss) ? "NaN" : "infinite", epoch + 1, step + 1);
                goto done;
            }
            nn_optimizer_step(&t->optimizer, m);
            loss_sum += loss * rows;
            add_metrics(m, t, o, &b, rows, sums);
            seen += (size_t)rows;
            if (opts->tty && !opts->quiet) {
                nn_logs running = {0};
                nn_logs_set(&running, "loss", loss_sum / (double)seen);
                for (int i = 0; i < t->n_metrics; i++)
                    nn_logs_set(&running, t->metrics[i].name,
                                metric_value(&t->metrics[i], sums[i], seen));
                nn_progress_step(&prog, step + 1, &running);
            }
        }
        nn_logs logs = {0};
        nn_logs_set(&logs, "loss", loss_sum / (double)train->n);
        for (int i = 0; i < t->n_metrics; i++)
            nn_logs_set(&logs, t->metrics[i].name, metric_value(&t->metrics[i], sums[i], train->n));
        if (val && val->n) {
            nn_eval_result vr;
            if ((st = nn_evaluate(m, t, o, val, batch, &vr, err)))
                goto done;
            nn_logs_set(&logs, "val_loss", vr.loss);
            for (int i = 0; i < t->n_metrics; i++) {
                char name[80];
                snprintf(name, sizeof name, "val_%s", t->metrics[i].name);
                nn_logs_set(&logs, name, vr.metrics[i]);
            }
        }
        nn_logs_set(&logs, "lr", nn_optimizer_current_lr(&t->optimizer));
        double secs = now() - t_epoch;
        nn_progress_epoch_end(&prog, &logs, secs);
        res->last = logs;
        res->epochs_run = epoch + 1;
        if ((st = nn_history_append(&s.hist, epoch, &logs, secs, err)))
            goto done;
        bool improved, stop = nn_early_stopping_epoch_end(&s.es, epoch, &logs, &improved);
        if (improved && s.best_weights)
            copy_weights(m, s.best_weights, true);
        bool save;
        char path[4096], msg[4300];
        if ((st = nn_checkpoint_epoch_end(&s.ck, epoch, &logs, opts->run_dir, &save, path,
                                          sizeof path, msg, sizeof msg, err)))
            goto done;
        if (msg[0] && t->checkpoint.verbose && !opts->quiet)
            fprintf(opts->out, "%s\n", msg);
        if (save && (st = save_model(m, t, &s, epoch + 1, opts, path,
                                     t->checkpoint.save_weights_only, err)))
            goto done;
        if (stop) {
            if (!opts->quiet)
                fprintf(opts->out, "Epoch %lld: early stopping\n", epoch + 1);
            break;
        }
    }
    if (s.best_weights && s.es.have_best && s.es.best_epoch != res->epochs_run - 1) {
        if (!opts->quiet)
            fprintf(opts->out, "Restoring model weights from the end of the best epoch: %lld.\n",
                    s.es.best_epoch + 1);
        copy_weights(m, s.best_weights, false);
    }
    res->seconds = now() - t_start;
    snprintf(res->model_path, sizeof res->model_path, "%s/model.h5", opts->run_dir);
    st = save_model(m, t, &s, res->epochs_run, opts, res->model_path, false, err);
done:
    free(s.best_weights);
    nn_history_close(&s.hist);
    batcher_free(&b, m->e);
    return st;
}

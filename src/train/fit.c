/* The fit loop: batches, forward, loss, backward, penalties, optimizer
 * step, metrics, callbacks. All buffers are made before the first batch;
 * nothing is allocated inside the loop. Batches and evaluation are in
 * evaluate.c, the checkpoints' training state in fit_state.c. */
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
#include "train/buckets.h"
#include "train/fit_internal.h"
#include "train/interrupt.h"
#include "util/fileio.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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
    nn_fit__set_losses(running, t, "", s->loss_sum / (double)s->seen, s->head_sums, s->seen);
    for (int i = 0; i < t->n_metrics; i++)
        nn_logs_set(running, t->metrics[i].name,
                    nn_fit__metric_value(&t->metrics[i], s->sums[i], s->seen, s->mstate[i]));
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
    nn_fit__add_metrics(ss->m, ss->t, ss->o, ss->b, ss->rows, sum_metrics(ss), ss->mstate);
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

/* Keras's LossScaleOptimizer: a step whose gradients overflowed halves
 * the scale (and was skipped); growth_steps good steps in a row double it. */
static void loss_scale_update(nn_fit_state *s, const nn_loss_scale_cfg *ls, bool finite)
{
    if (!finite) {
        s->skipped++;
        s->ls_good = 0;
        s->loss_scale = s->loss_scale / 2.0 > 1e-30 ? s->loss_scale / 2.0 : 1e-30;
    } else if (++s->ls_good >= ls->growth_steps) {
        s->ls_good = 0;
        if (s->loss_scale * 2.0 < 1e38)
            s->loss_scale *= 2.0;
    }
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
    nn_buckets buckets = {0};
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
        st = nn_fit__batcher_init(&b, m, o, most, batch, err);
    if (!st && opts->bucket_by_length)
        st = nn_buckets_init(&buckets, m, train, batch, err);
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
    const nn_loss_scale_cfg *ls = &t->loss_scale;
    if (ls->enabled && s.loss_scale <= 0.0)
        s.loss_scale = ls->initial_scale;
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
        /* One stream per epoch: the order depends on (seed, epoch) only,
         * so a resumed run sees the same batches, and so does every
         * process of a data-parallel run. */
        nn_rng order = nn_rng_split(&shuffle_base, (uint64_t)epoch);
        if (opts->shuffle)
            nn_rng_shuffle_u32(&order, b.idx, train->n);
        if (buckets.span)
            nn_buckets_order(&buckets, opts->shuffle ? &order : NULL, b.idx);
        if (s.step == 0) {
            s.loss_sum = 0.0;
            s.seen = 0;
            s.skipped = 0;
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
            bool finite = true; /* loss scaling: the gradients did not overflow */
            if (ss.rows > 0) {
                nn_fit__load_batch(&b, m, o, train, b.idx + start + lo, ss.rows,
                                   &(batch_pos){(uint64_t)t->seed, epoch});
                nn_pass pass = {.e = m->e, .rows = ss.rows, .training = true, .rng = &drop,
                                .ids = &b.ids,
                                .loss_scale = ls->enabled ? (float)s.loss_scale : 0.0f};
                if (dp)
                    pass.rep = nn_dp_batch(dp, rows, fill_step_sums, &ss, ss.v, ss.n);
                loss = nn_batch_gradients_finite(m, o, b.ytp, &pass, &parts, &finite);
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
                /* the summed gradients, scaled as everywhere: the same
                 * unscaling and the same skip as the other processes */
                if (ls->enabled)
                    finite = nn_batch_unscale(m, (float)s.loss_scale);
                parts.weights = nn_model_weight_penalty(m, finite);
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
            if (finite) /* loss scaling: an overflowed step is skipped */
                nn_optimizer_step(&t->optimizer, m);
            if (ls->enabled)
                loss_scale_update(&s, ls, finite);
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
                    st = nn_fit__save_last(m, t, &s, opts, last_path, &first_done, err);
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
        nn_fit__set_losses(&logs, t, "", s.loss_sum / (double)s.seen, s.head_sums, s.seen);
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
                            nn_fit__metric_value(&t->metrics[i], s.sums[i], s.seen, mst[i]));
        }
        /* the processes' moving statistics (per-rank BatchNormalization)
         * averaged before validation reads them and checkpoints store them */
        if ((st = nn_dist_average_moving(d, m, err)))
            goto done;
        if (val && val->n) {
            nn_eval_result vr;
            vr.n_classes = 0;
            if ((st = nn_fit__evaluate_batches(m, t, o, val, batch, &b, d, &vr, false, NULL, err)))
                goto done;
            nn_fit__set_losses(&logs, t, "val_", vr.loss, vr.head_loss, 1);
            for (int i = 0; i < t->n_metrics; i++) {
                char name[160];
                snprintf(name, sizeof name, "val_%s", t->metrics[i].name);
                nn_logs_set(&logs, name, vr.metrics[i]);
            }
        }
        nn_logs_set(&logs, "lr", nn_optimizer_current_lr(&t->optimizer));
        if (ls->enabled) {
            nn_logs_set(&logs, "loss_scale", s.loss_scale);
            nn_logs_set(&logs, "skipped_steps", (double)s.skipped);
        }
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
            st = nn_fit__save_model(m, t, &s, opts, loop.saves[i].path, loop.saves[i].weights_only,
                                    err);
        if (root && !st)
            st = nn_fit__save_last(m, t, &s, opts, last_path, &first_done, err);
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
        st = nn_fit__save_model(m, t, &s, opts, res->model_path, false, err);
    st = nn_dist_agree(d, st, err);
done:
    nn_interrupt_uninstall();
    ctx.failed = true;
    nn_error ignored = {0}; /* the first error is the one to report */
    callbacks_train_end(t, &ctx, begun, &ignored);
    free(s.best_weights);
    nn_dp_free(dp);
    nn_fit__batcher_free(&b, m->e);
    nn_buckets_free(&buckets);
    return st;
}

/* The training state in checkpoints (position, sums, callbacks' state,
 * best weights): saving, resuming, sharing a resume over processes; and
 * the fit loop's services to callbacks (callback.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/model_file.h"
#include "train/fit_internal.h"

size_t nn_fit__total_weights(const nn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++)
            n += m->nodes[i]->params[k].size;
    return n;
}

void nn_fit__copy_weights(nn_model *m, float *host, bool to_host)
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
    /* loss scaling: where the dynamic scale stands */
    json_object_set_new(j, "loss_scale", json_real(s->loss_scale));
    json_object_set_new(j, "loss_scale_good_steps", json_integer((json_int_t)s->ls_good));
    json_object_set_new(j, "skipped_steps", json_integer((json_int_t)s->skipped));
    /* %.17g: doubles round-trip exactly, so a resumed epoch sums the same */
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return text;
}

nn_status nn_fit__save_model(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
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
nn_status nn_fit__save_last(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                            const nn_fit_opts *opts, const char *path, bool *first_done,
                            nn_error *err)
{
    nn_status st = nn_fit__save_model(m, t, s, opts, path, false, err);
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

/* The state's counters become long long / size_t: each must be a whole
 * number from 0 to 2^53 (a double's exact integers), or the file is
 * refused before any cast (a crafted 4e121 would be undefined). */
static nn_status check_counts(const json_t *j, const char *path, nn_error *err)
{
    static const char *const keys[] = {"epoch", "step", "seen", "iterations",
                                       "loss_scale_good_steps", "skipped_steps"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        double v = json_num(j, keys[i], 0);
        if (!(v >= 0.0 && v <= 9007199254740992.0) || v != floor(v))
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': training state: %s is %g, not a count: the checkpoint is "
                           "damaged",
                           path, keys[i], v);
    }
    return NN_OK;
}

nn_status nn_fit_checkpoint_position(const nn_h5_model *f, const char *path, long long *epoch,
                                     long long *step, nn_error *err)
{
    json_error_t jerr;
    json_t *j = f->nnctl_state ? json_loads(f->nnctl_state, 0, &jerr) : NULL;
    if (!j)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': no training state: not an nnctl checkpoint",
                       path);
    nn_status rc = check_counts(j, path, err);
    if (rc) {
        json_decref(j);
        return rc;
    }
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
    st->loss_scale = json_num(j, "loss_scale", 0.0);
    st->ls_good = (long long)json_num(j, "loss_scale_good_steps", 0);
    st->skipped = (long long)json_num(j, "skipped_steps", 0);
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
    if ((rc = check_counts(j, path, err)))
        goto done;
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
        if (!(st->best_weights = nn_malloc(nn_fit__total_weights(m) * sizeof(float), err))) {
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
    size_t n = nn_fit__total_weights(m);
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
    size_t n = nn_fit__total_weights(c->model);
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
    nn_fit__copy_weights(c->model, l->s->best_weights, true);
    l->s->have_best_weights = true;
}

bool nn_fit_restore_best(nn_fit_ctx *c)
{
    nn_fit_loop *l = c->loop;
    if (!l->s->best_weights || !l->s->have_best_weights)
        return false;
    nn_fit__copy_weights(c->model, l->s->best_weights, false);
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

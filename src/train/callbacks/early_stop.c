/* EarlyStopping with Keras's semantics: an epoch improves when
 * current - min_delta beats best (sign flipped for "min"); the wait counter
 * resets only when the value beats both best and the baseline; an epoch
 * that improves never stops training; otherwise training stops when
 * wait >= patience (and not on the first epoch). Unlike Keras 2,
 * restore_best_weights restores at the end of training whether or not this
 * callback stopped it (Keras 3's behaviour; Keras 2's surprised users). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "train/callbacks/callbacks.h"

void nn_early_stopping_begin(nn_early_stopping *s, const nn_early_stopping_cfg *cfg)
{
    s->cfg = cfg;
    s->maximize = nn_monitor_maximize(cfg->mode, cfg->monitor);
    s->best = s->maximize ? -INFINITY : INFINITY;
    s->wait = 0;
    s->best_epoch = 0;
    s->stopped_epoch = -1;
    s->have_best = false;
}

static bool improves(const nn_early_stopping *s, double current, double reference)
{
    double delta = fabs(s->cfg->min_delta);
    return s->maximize ? current - delta > reference : current + delta < reference;
}

bool nn_early_stopping_epoch_end(nn_early_stopping *s, long long epoch, const nn_logs *logs,
                                 bool *improved)
{
    *improved = false;
    double current;
    if (!s->cfg->enabled || !nn_logs_get(logs, s->cfg->monitor, &current))
        return false;
    if (epoch < s->cfg->start_from_epoch)
        return false;
    s->wait++;
    if (improves(s, current, s->best)) {
        s->best = current;
        s->best_epoch = epoch;
        s->have_best = true;
        *improved = true;
        if (!s->cfg->has_baseline || improves(s, current, s->cfg->baseline))
            s->wait = 0;
        return false; /* an improving epoch never stops training (Keras) */
    }
    if (s->wait >= s->cfg->patience && epoch > 0) {
        s->stopped_epoch = epoch;
        return true;
    }
    return false;
}

/* ---- the registry row ---- */

static const char *const modes[] = {"auto", "min", "max", NULL};

static nn_status es_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                          nn_error *err)
{
    nn_early_stopping_cfg *e = (nn_early_stopping_cfg *)cb->cfg;
    const char *monitor;
    int mode;
    nn_status st;
    if ((st = nn_spec_bool(g, "enabled", false, true, &e->enabled, err)) ||
        (st = nn_spec_string(g, "monitor", false, "val_loss", &monitor, err)) ||
        (st = nn_spec_float(g, "min_delta", false, 0.0, -1e30, 1e30, &e->min_delta, err)) ||
        (st = nn_spec_int(g, "patience", false, 0, 0, 1LL << 40, &e->patience, err)) ||
        (st = nn_spec_int(g, "start_from_epoch", false, 0, 0, 1LL << 40, &e->start_from_epoch,
                          err)) ||
        (st = nn_spec_choice(g, "mode", false, modes, 0, &mode, err)) ||
        (st = nn_spec_bool(g, "restore_best_weights", false, false, &e->restore_best_weights,
                           err)))
        return st;
    e->has_baseline = nn_spec_has(g, "baseline");
    if (e->has_baseline &&
        (st = nn_spec_float(g, "baseline", true, 0.0, -1e30, 1e30, &e->baseline, err)))
        return st;
    e->mode = (nn_monitor_mode)mode;
    return nn_callback_check_monitor(g, "monitor", monitor, t, e->monitor, sizeof e->monitor,
                                     err);
}

static const char *es_monitor(const nn_callback *cb)
{
    const nn_early_stopping_cfg *e = (const nn_early_stopping_cfg *)cb->cfg;
    return e->enabled ? e->monitor : NULL;
}

static nn_status es_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const nn_early_stopping_cfg *e = (const nn_early_stopping_cfg *)cb->cfg;
    nn_early_stopping *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    cb->state = s;
    nn_early_stopping_begin(s, e);
    return e->enabled && e->restore_best_weights ? nn_fit_keep_best(c, err) : NN_OK;
}

static nn_status es_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                              nn_error *err)
{
    (void)err;
    nn_early_stopping *s = cb->state;
    bool improved;
    if (nn_early_stopping_epoch_end(s, c->epoch, logs, &improved))
        c->stop_training = true;
    if (improved && s->cfg->restore_best_weights)
        nn_fit_snapshot_best(c);
    return NN_OK;
}

static nn_status es_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)err;
    nn_early_stopping *s = cb->state;
    if (s && !c->failed && s->cfg->enabled && s->cfg->restore_best_weights && s->have_best &&
        s->best_epoch != c->epoch && nn_fit_restore_best(c) && !c->quiet)
        fprintf(c->out, "Restoring model weights from the end of the best epoch: %lld.\n",
                s->best_epoch + 1);
    free(s);
    cb->state = NULL;
    return NN_OK;
}

/* JSON has no infinity: a best value not yet set is stored as null. */
static json_t *finite_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *es_save_state(const nn_callback *cb)
{
    const nn_early_stopping *s = cb->state;
    return json_pack("{s:o, s:I, s:I, s:b}", "best", finite_or_null(s->best), "wait",
                     (json_int_t)s->wait, "best_epoch", (json_int_t)s->best_epoch, "have_best",
                     s->have_best);
}

static void es_load_state(nn_callback *cb, const json_t *j)
{
    nn_early_stopping *s = cb->state;
    json_t *best = json_object_get(j, "best");
    if (json_is_true(json_object_get(j, "have_best")) && json_is_number(best)) {
        s->best = json_number_value(best);
        s->have_best = true;
    }
    s->wait = json_integer_value(json_object_get(j, "wait"));
    s->best_epoch = json_integer_value(json_object_get(j, "best_epoch"));
}

static const nn_doc_key es_keys[] = {
    {"monitor", "string", "\"val_loss\"", "the logged value to watch"},
    {"min_delta", "float", "0", "smallest change that counts as an improvement"},
    {"patience", "int", "0", "epochs without improvement before stopping"},
    {"mode", "string", "\"auto\"", "auto, min or max"},
    {"baseline", "float", "none", "a value the monitor must beat"},
    {"start_from_epoch", "int", "0", "epochs to wait before watching"},
    {"restore_best_weights", "bool", "false", "end with the best epoch's weights"},
    {"enabled", "bool", "true", "false turns the callback off"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_early_stopping = {
    .name = "early_stopping",
    .keras_class = "EarlyStopping",
    .doc = "stops training when a monitored value stops improving",
    .keys = es_keys,
    .cfg_size = sizeof(nn_early_stopping_cfg),
    .parse = es_parse,
    .monitor = es_monitor,
    .train_begin = es_train_begin,
    .epoch_end = es_epoch_end,
    .train_end = es_train_end,
    .save_state = es_save_state,
    .load_state = es_load_state,
};

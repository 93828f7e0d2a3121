/* ReduceLROnPlateau with Keras's semantics: at each epoch's end, while in
 * cooldown the counter goes down and the wait is cleared; an epoch
 * improves when the monitor beats best by more than min_delta; otherwise
 * (out of cooldown) the wait grows, and when it reaches patience the rate
 * becomes max(rate * factor, min_lr) (only while the rate is above min_lr),
 * the cooldown starts and the wait is cleared. Its state (best, wait,
 * cooldown counter) and the rate it set are kept in checkpoints, so a
 * resumed run goes on exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/callbacks/callbacks.h"
#include "train/train_spec.h"

typedef struct {
    bool enabled;
    char monitor[64];
    nn_monitor_mode mode;
    double factor, min_delta, min_lr;
    long long patience, cooldown;
    bool verbose;
} reduce_cfg;

typedef struct {
    bool maximize;
    double best;
    long long wait, cooldown_counter;
    bool have_lr;  /* the rate it last set, to put back on a resume */
    double lr;
    bool restore;  /* a resume: set lr at the next epoch's start */
    bool warned;   /* said once that the monitor is not logged */
} reduce_state;

static const char *const modes[] = {"auto", "min", "max", NULL};

static nn_status reduce_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                              nn_error *err)
{
    reduce_cfg *r = (reduce_cfg *)cb->cfg;
    const char *monitor = "val_loss";
    int mode = 0;
    nn_status st;
    r->enabled = true;
    r->factor = 0.1;
    r->patience = 10;
    r->min_delta = 1e-4;
    if (g && ((st = nn_spec_bool(g, "enabled", false, true, &r->enabled, err)) ||
              (st = nn_spec_string(g, "monitor", false, "val_loss", &monitor, err)) ||
              (st = nn_spec_float(g, "factor", false, 0.1, 0.0, 1e30, &r->factor, err)) ||
              (st = nn_spec_int(g, "patience", false, 10, 0, 1LL << 40, &r->patience, err)) ||
              (st = nn_spec_choice(g, "mode", false, modes, 0, &mode, err)) ||
              (st = nn_spec_float(g, "min_delta", false, 1e-4, -1e30, 1e30, &r->min_delta,
                                  err)) ||
              (st = nn_spec_int(g, "cooldown", false, 0, 0, 1LL << 40, &r->cooldown, err)) ||
              (st = nn_spec_float(g, "min_lr", false, 0.0, 0.0, 1e6, &r->min_lr, err)) ||
              (st = nn_spec_bool(g, "verbose", false, false, &r->verbose, err))))
        return st;
    if (g && r->factor >= 1.0)
        return nn_spec_fail(g, "factor", err, NN_ERR_USAGE,
                            "expected a number below 1 (the rate is multiplied by it), got %g",
                            r->factor);
    if (g && r->factor <= 0.0)
        return nn_spec_fail(g, "factor", err, NN_ERR_USAGE, "expected a number above 0, got %g",
                            r->factor);
    r->mode = (nn_monitor_mode)mode;
    snprintf(r->monitor, sizeof r->monitor, "%s", monitor);
    return g ? nn_callback_check_monitor(g, "monitor", monitor, t, r->monitor,
                                         sizeof r->monitor, err)
             : NN_OK;
}

static const char *reduce_monitor(const nn_callback *cb)
{
    const reduce_cfg *r = (const reduce_cfg *)cb->cfg;
    return r->enabled ? r->monitor : NULL;
}

static nn_status reduce_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c;
    const reduce_cfg *r = (const reduce_cfg *)cb->cfg;
    reduce_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    s->maximize = nn_monitor_maximize(r->mode, r->monitor);
    s->best = s->maximize ? -INFINITY : INFINITY;
    cb->state = s;
    return NN_OK;
}

static nn_status reduce_epoch_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)err;
    reduce_state *s = cb->state;
    if (s->restore && s->have_lr)
        nn_fit_set_lr(c, s->lr);
    s->restore = false;
    return NN_OK;
}

static bool improves(const reduce_state *s, const reduce_cfg *r, double current)
{
    return s->maximize ? current > s->best + r->min_delta : current < s->best - r->min_delta;
}

static nn_status reduce_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                                  nn_error *err)
{
    (void)err;
    const reduce_cfg *r = (const reduce_cfg *)cb->cfg;
    reduce_state *s = cb->state;
    double current;
    if (!r->enabled)
        return NN_OK;
    if (!nn_logs_get(logs, r->monitor, &current)) {
        if (!s->warned && !c->quiet)
            fprintf(c->out, "ReduceLROnPlateau: \"%s\" is not logged in this run (no validation "
                            "data?); the learning rate is left as it is\n",
                    r->monitor);
        s->warned = true;
        return NN_OK;
    }
    if (s->cooldown_counter > 0) {
        s->cooldown_counter--;
        s->wait = 0;
    }
    if (improves(s, r, current)) {
        s->best = current;
        s->wait = 0;
    } else if (s->cooldown_counter <= 0) {
        s->wait++;
        if (s->wait >= r->patience) {
            double old = nn_fit_get_lr(c);
            if (old > (double)(float)r->min_lr) {
                double lr = fmax(old * r->factor, r->min_lr);
                nn_fit_set_lr(c, lr);
                s->have_lr = true;
                s->lr = lr;
                if (r->verbose && !c->quiet)
                    fprintf(c->out, "Epoch %lld: ReduceLROnPlateau reducing learning rate to "
                                    "%.9g.\n",
                            c->epoch + 1, lr);
                s->cooldown_counter = r->cooldown;
                s->wait = 0;
            }
        }
    }
    return NN_OK;
}

static nn_status reduce_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c;
    (void)err;
    free(cb->state);
    cb->state = NULL;
    return NN_OK;
}

static json_t *finite_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *reduce_save_state(const nn_callback *cb)
{
    const reduce_state *s = cb->state;
    return json_pack("{s:o, s:I, s:I, s:o}", "best", finite_or_null(s->best), "wait",
                     (json_int_t)s->wait, "cooldown_counter", (json_int_t)s->cooldown_counter,
                     "lr", s->have_lr ? json_real(s->lr) : json_null());
}

static void reduce_load_state(nn_callback *cb, const json_t *j)
{
    reduce_state *s = cb->state;
    json_t *best = json_object_get(j, "best"), *lr = json_object_get(j, "lr");
    if (json_is_number(best))
        s->best = json_number_value(best);
    s->wait = json_integer_value(json_object_get(j, "wait"));
    s->cooldown_counter = json_integer_value(json_object_get(j, "cooldown_counter"));
    if (json_is_number(lr)) {
        s->have_lr = true;
        s->lr = json_number_value(lr);
        s->restore = true;
    }
}

static const nn_doc_key reduce_keys[] = {
    {"monitor", "string", "\"val_loss\"", "the logged value to watch"},
    {"factor", "float", "0.1", "the rate is multiplied by it (0 < factor < 1)"},
    {"patience", "int", "10", "epochs without improvement before reducing"},
    {"mode", "string", "\"auto\"", "auto, min or max"},
    {"min_delta", "float", "0.0001", "smallest change that counts as an improvement"},
    {"cooldown", "int", "0", "epochs to wait after a reduction before watching again"},
    {"min_lr", "float", "0", "the rate is never reduced below it"},
    {"verbose", "bool", "false", "say when the rate is reduced"},
    {"enabled", "bool", "true", "false turns the callback off"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_reduce_lr_on_plateau = {
    .name = "reduce_lr_on_plateau",
    .keras_class = "ReduceLROnPlateau",
    .doc = "reduces the learning rate when a monitored value stops improving",
    .keys = reduce_keys,
    .cfg_size = sizeof(reduce_cfg),
    .parse = reduce_parse,
    .monitor = reduce_monitor,
    .train_begin = reduce_train_begin,
    .epoch_begin = reduce_epoch_begin,
    .epoch_end = reduce_epoch_end,
    .train_end = reduce_train_end,
    .save_state = reduce_save_state,
    .load_state = reduce_load_state,
};

/* LearningRateScheduler with built-in schedules: Keras's callback sets the
 * learning rate at the start of each epoch from a function of the epoch;
 * here the function is one of Keras's own schedules (keras.optimizers.
 * schedules), evaluated at the epoch (unit "epoch", the callback's way) or
 * at the optimizer's step count (unit "batch", the way an optimizer given a
 * schedule counts):
 *   step         initial * decay_rate ^ floor(t / decay_steps)
 *                (ExponentialDecay with staircase = True)
 *   exponential  initial * decay_rate ^ (t / decay_steps), floor with staircase
 *   cosine       CosineDecay: linear warm-up from initial to warmup_target over
 *                warmup_steps, then from that rate down to alpha times it
 *                along half a cosine over decay_steps
 *   piecewise    PiecewiseConstantDecay: values[0] while t <= boundaries[0],
 *                values[i] while boundaries[i-1] < t <= boundaries[i],
 *                values[n] after the last boundary
 * The rate depends on t alone, so a resumed run sets the same rates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/callbacks/callbacks.h"
#include "train/callbacks/lr_schedule.h"
#include "train/train_spec.h"

double nn_lr_schedule_at(const nn_lr_schedule_cfg *s, double initial, double t)
{
    switch (s->kind) {
    case NN_SCHEDULE_STEP:
    case NN_SCHEDULE_EXPONENTIAL: {
        double p = t / s->decay_steps;
        if (s->staircase || s->kind == NN_SCHEDULE_STEP)
            p = floor(p);
        return initial * pow(s->decay_rate, p);
    }
    case NN_SCHEDULE_COSINE: {
        double from = initial;
        if (s->has_warmup_target) {
            t = fmin(t, s->decay_steps + s->warmup_steps);
            if (t < s->warmup_steps)
                return (s->warmup_target - initial) * (t / s->warmup_steps) + initial;
            t -= s->warmup_steps;
            from = s->warmup_target;
        } else {
            t = fmin(t, s->decay_steps);
        }
        double cosine = 0.5 * (1.0 + cos(M_PI * (t / s->decay_steps)));
        return from * ((1.0 - s->alpha) * cosine + s->alpha);
    }
    case NN_SCHEDULE_PIECEWISE: {
        int i = 0;
        while (i < s->n_boundaries && t > s->boundaries[i])
            i++;
        return s->values[i];
    }
    }
    return initial;
}

static const char *const schedules[] = {"step", "exponential", "cosine", "piecewise", NULL};
static const char *const units[] = {"epoch", "batch", NULL};

/* The keys only some schedules take, with the schedules (a bit each). */
static const struct {
    const char *key;
    unsigned kinds;
} schedule_keys[] = {
    {"decay_steps", 1u << NN_SCHEDULE_STEP | 1u << NN_SCHEDULE_EXPONENTIAL | 1u << NN_SCHEDULE_COSINE},
    {"decay_rate", 1u << NN_SCHEDULE_STEP | 1u << NN_SCHEDULE_EXPONENTIAL},
    {"staircase", 1u << NN_SCHEDULE_EXPONENTIAL},
    {"alpha", 1u << NN_SCHEDULE_COSINE},
    {"warmup_steps", 1u << NN_SCHEDULE_COSINE},
    {"warmup_target", 1u << NN_SCHEDULE_COSINE},
    {"boundaries", 1u << NN_SCHEDULE_PIECEWISE},
    {"values", 1u << NN_SCHEDULE_PIECEWISE},
};

/* A key of another schedule: say whose it is (the unknown-key check would
 * only call it unknown). */
static nn_status foreign_keys(nn_spec_node *g, nn_schedule_kind kind, nn_error *err)
{
    const char *k;
    for (int i = 0; (k = nn_spec_member_key(g, i)); i++)
        for (size_t j = 0; j < sizeof schedule_keys / sizeof schedule_keys[0]; j++) {
            if (strcmp(k, schedule_keys[j].key) != 0 || (schedule_keys[j].kinds >> kind & 1u))
                continue;
            char whose[64] = "";
            for (int n = 0; schedules[n]; n++)
                if (schedule_keys[j].kinds >> n & 1u)
                    snprintf(whose + strlen(whose), sizeof whose - strlen(whose), "%s%s",
                             whose[0] ? ", " : "", schedules[n]);
            return nn_spec_fail(g, k, err, NN_ERR_USAGE,
                                "schedule \"%s\" takes no %s (a key of: %s)", schedules[kind],
                                k, whose);
        }
    return NN_OK;
}

nn_status nn_lr_schedule_parse(nn_lr_schedule_cfg *s, nn_spec_node *g, nn_error *err)
{
    int kind, unit;
    nn_status st;
    memset(s, 0, sizeof *s);
    if ((st = nn_spec_choice(g, "schedule", true, schedules, -1, &kind, err)) ||
        (st = nn_spec_choice(g, "unit", false, units, 0, &unit, err)) ||
        (st = nn_spec_bool(g, "verbose", false, false, &s->verbose, err)))
        return st;
    s->kind = (nn_schedule_kind)kind;
    s->per_batch = unit == 1;
    if ((st = foreign_keys(g, s->kind, err)))
        return st;
    s->has_initial = nn_spec_has(g, "initial_learning_rate");
    if (s->has_initial && (st = nn_spec_float(g, "initial_learning_rate", true, 0.0, 0.0, 1e6,
                                              &s->initial, err)))
        return st;
    switch (s->kind) {
    case NN_SCHEDULE_STEP:
    case NN_SCHEDULE_EXPONENTIAL:
        if ((st = nn_spec_float(g, "decay_steps", true, 1.0, 1e-12, 1e15, &s->decay_steps, err)) ||
            (st = nn_spec_float(g, "decay_rate", true, 1.0, 0.0, 1e6, &s->decay_rate, err)))
            return st;
        if (s->kind == NN_SCHEDULE_EXPONENTIAL &&
            (st = nn_spec_bool(g, "staircase", false, false, &s->staircase, err)))
            return st;
        break;
    case NN_SCHEDULE_COSINE:
        if ((st = nn_spec_float(g, "decay_steps", true, 1.0, 1e-12, 1e15, &s->decay_steps, err)) ||
            (st = nn_spec_float(g, "alpha", false, 0.0, 0.0, 1.0, &s->alpha, err)) ||
            (st = nn_spec_float(g, "warmup_steps", false, 0.0, 0.0, 1e15, &s->warmup_steps, err)))
            return st;
        s->has_warmup_target = nn_spec_has(g, "warmup_target");
        if (s->has_warmup_target &&
            (st = nn_spec_float(g, "warmup_target", true, 0.0, 0.0, 1e6, &s->warmup_target, err)))
            return st;
        if (s->warmup_steps > 0.0 && !s->has_warmup_target)
            return nn_spec_fail(g, "warmup_steps", err, NN_ERR_USAGE,
                                "a warm-up needs warmup_target (the learning rate it reaches; "
                                "Keras's CosineDecay ignores warmup_steps without it)");
        break;
    case NN_SCHEDULE_PIECEWISE: {
        int nv;
        if ((st = nn_spec_float_array(g, "boundaries", true, -1e15, 1e15, NN_SCHEDULE_MAX_PIECES,
                                      s->boundaries, &s->n_boundaries, err)) ||
            (st = nn_spec_float_array(g, "values", true, 0.0, 1e6, NN_SCHEDULE_MAX_PIECES + 1,
                                      s->values, &nv, err)))
            return st;
        if (s->n_boundaries == 0)
            return nn_spec_fail(g, "boundaries", err, NN_ERR_USAGE,
                                "expected at least one boundary");
        if (nv != s->n_boundaries + 1)
            return nn_spec_fail(g, "values", err, NN_ERR_USAGE,
                                "expected %d values (one more than the %d boundaries), got %d",
                                s->n_boundaries + 1, s->n_boundaries, nv);
        for (int i = 1; i < s->n_boundaries; i++)
            if (!(s->boundaries[i] > s->boundaries[i - 1]))
                return nn_spec_fail(g, "boundaries", err, NN_ERR_USAGE,
                                    "boundaries must increase ([%d] = %g after %g)", i,
                                    s->boundaries[i], s->boundaries[i - 1]);
        break;
    }
    }
    return NN_OK;
}

/* ---- the registry row ---- */

typedef struct {
    double initial; /* the schedule's starting rate */
} sched_state;

static nn_status sched_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                             nn_error *err)
{
    (void)t;
    if (!g)
        return nn_fail(err, NN_ERR_USAGE, "learning_rate_scheduler needs a schedule");
    return nn_lr_schedule_parse((nn_lr_schedule_cfg *)cb->cfg, g, err);
}

/* Sets the rate for step (epoch or optimizer step) t. */
static void set_rate(nn_callback *cb, nn_fit_ctx *c, double t)
{
    const nn_lr_schedule_cfg *s = (const nn_lr_schedule_cfg *)cb->cfg;
    const sched_state *st = cb->state;
    double lr = nn_lr_schedule_at(s, st->initial, t);
    nn_fit_set_lr(c, lr);
    if (s->verbose && !c->quiet && !s->per_batch)
        fprintf(c->out, "Epoch %lld: LearningRateScheduler setting learning rate to %.9g.\n",
                c->epoch + 1, lr);
}

static nn_status sched_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const nn_lr_schedule_cfg *s = (const nn_lr_schedule_cfg *)cb->cfg;
    sched_state *st = calloc(1, sizeof *st);
    if (!st)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    st->initial = s->has_initial ? s->initial : nn_fit_get_lr(c);
    cb->state = st;
    if (s->per_batch) /* the first step's rate (a resumed run's next step's) */
        set_rate(cb, c, (double)c->train->optimizer.iterations);
    return NN_OK;
}

static nn_status sched_epoch_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)err;
    if (!((const nn_lr_schedule_cfg *)cb->cfg)->per_batch)
        set_rate(cb, c, (double)c->epoch);
    return NN_OK;
}

static bool sched_wants_batch(const nn_callback *cb, const nn_fit_ctx *c)
{
    (void)c;
    return ((const nn_lr_schedule_cfg *)cb->cfg)->per_batch;
}

/* After each step: the next step's rate, so the rate logged at an epoch's
 * end is the one the optimizer would use next, as Keras logs it. */
static nn_status sched_batch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *running,
                                 nn_error *err)
{
    (void)running;
    (void)err;
    set_rate(cb, c, (double)c->train->optimizer.iterations);
    return NN_OK;
}

static nn_status sched_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c;
    (void)err;
    free(cb->state);
    cb->state = NULL;
    return NN_OK;
}

static const nn_doc_key sched_keys[] = {
    {"schedule", "string", "required", "step, exponential, cosine or piecewise"},
    {"unit", "string", "\"epoch\"", "epoch (set at each epoch's start) or batch (each step)"},
    {"initial_learning_rate", "float", "the optimizer's", "the rate the schedule starts from"},
    {"decay_steps", "float", "required", "step, exponential, cosine: epochs (or steps) of decay"},
    {"decay_rate", "float", "required", "step, exponential: factor per decay_steps"},
    {"staircase", "bool", "false", "exponential: decay in whole decay_steps (step: always)"},
    {"alpha", "float", "0", "cosine: the final rate as a fraction of the decayed-from one"},
    {"warmup_steps", "float", "0", "cosine: length of the linear warm-up"},
    {"warmup_target", "float", "none", "cosine: the rate the warm-up reaches"},
    {"boundaries", "float array", "required", "piecewise: where the rate changes"},
    {"values", "float array", "required", "piecewise: one rate more than boundaries"},
    {"verbose", "bool", "false", "say the rate at each epoch's start"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_lr_scheduler = {
    .name = "learning_rate_scheduler",
    .keras_class = "LearningRateScheduler",
    .doc = "sets the learning rate from a schedule (Keras's step, exponential, cosine with "
           "warm-up, piecewise) each epoch or each step",
    .keys = sched_keys,
    .cfg_size = sizeof(nn_lr_schedule_cfg),
    .parse = sched_parse,
    .train_begin = sched_train_begin,
    .epoch_begin = sched_epoch_begin,
    .wants_batch = sched_wants_batch,
    .batch_end = sched_batch_end,
    .train_end = sched_train_end,
};

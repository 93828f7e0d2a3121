/* A plugin's descriptors as nnctl registry rows: the same rows the
 * built-in types have, so parsing, training, model files and the man page
 * treat both alike. Rows live as long as the program. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/common.h"
#include "layers/registry.h"
#include "plugin/internal.h"

#define ERR(e) ((nnctl_error *)(e))
#define SET(g) ((nnctl_settings *)(g))
#define CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A plugin's error, named after the type. */
static nn_status plugin_err(nn_error *err, nn_status code, const char *kind, const char *name)
{
    if (err->code == NN_OK || !err->msg[0]) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "%s %s failed without a message", kind, name);
    }
    return err->code ? err->code : code;
}

/* Instances of regularizers, losses and metrics live as long as the
 * program (their rows are shared by every model that names them). */
typedef struct keep {
    void (*destroy)(void *);
    void *inst;
    struct keep *next;
} keep;
static keep *kept;

static void keep_inst(void (*destroy)(void *), void *inst)
{
    if (!destroy || !inst)
        return;
    keep *k = malloc(sizeof *k);
    if (!k)
        return; /* a leak rather than a crash */
    *k = (keep){destroy, inst, kept};
    kept = k;
}

void nn_plugins_release(void)
{
    while (kept) {
        keep *k = kept;
        kept = k->next;
        k->destroy(k->inst);
        free(k);
    }
}

/* ---- regularizers ---------------------------------------------------------- */

typedef struct plugin_reg {
    nn_reg_type row;
    nnctl_regularizer_desc d;
    char keras_module[96];
} plugin_reg;

static nn_status reg_create(const nn_reg_type *t, nn_spec_node *g, void **inst, nn_error *err)
{
    const plugin_reg *r = (const plugin_reg *)t;
    *inst = NULL;
    if (r->d.create && r->d.create(SET(g), inst, ERR(err)))
        return plugin_err(err, NN_ERR_USAGE, "regularizer", t->name);
    keep_inst(r->d.destroy, *inst);
    return NN_OK;
}

static nn_status reg_apply(const nn_reg_type *t, void *inst, const float *w, int ndim,
                           const int *dims, double *penalty, float *grad, float scale,
                           nn_error *err)
{
    const plugin_reg *r = (const plugin_reg *)t;
    *penalty = 0.0;
    if (r->d.apply(inst, w, ndim, dims, penalty, grad, scale, ERR(err)))
        return plugin_err(err, NN_ERR_RUNTIME, "regularizer", t->name);
    return NN_OK;
}

nnctl_status nn_plugin_add_regularizer(nnctl_registry *reg, const nnctl_regularizer_desc *d)
{
    if (!d || nn_plugin_check_desc(reg, "regularizer", d->size,
                                   offsetof(nnctl_regularizer_desc, apply) + sizeof d->apply,
                                   d->name))
        return NNCTL_ERROR;
    if (!d->apply)
        return nn_plugin_refuse(reg, "regularizer %s has no apply function", d->name);
    plugin_reg *r = calloc(1, sizeof *r);
    if (!r)
        return nn_plugin_refuse(reg, "out of memory");
    memcpy(&r->d, d, d->size < sizeof r->d ? d->size : sizeof r->d);
    snprintf(r->keras_module, sizeof r->keras_module, "%s", reg->rec->module);
    r->row = (nn_reg_type){.name = r->d.name,
                           .keras_class = r->d.keras_class ? r->d.keras_class : r->d.name,
                           .keras_module = r->keras_module,
                           .doc = r->d.doc,
                           .keys = nn_plugin_keys(r->d.keys),
                           .create = reg_create,
                           .host_apply = reg_apply,
                           .plugin = reg->rec};
    if (nn_reg_type_register(&r->row, &reg->err)) {
        free((void *)r->row.keys); /* refused: nothing refers to it */
        free(r);
        return NNCTL_ERROR;
    }
    return NNCTL_OK;
}

/* ---- losses ------------------------------------------------------------------ */

typedef struct plugin_loss {
    nn_loss_info row;
    nnctl_loss_desc d;
} plugin_loss;

static nn_status loss_create(const nn_loss_info *L, nn_spec_node *g, void **inst, nn_error *err)
{
    const plugin_loss *p = (const plugin_loss *)L;
    *inst = NULL;
    if (p->d.create && p->d.create(SET(g), inst, ERR(err)))
        return plugin_err(err, NN_ERR_USAGE, "loss", L->name);
    keep_inst(p->d.destroy, *inst);
    return g ? nn_spec_check_unknown(g, err) : NN_OK;
}

static nn_status loss_compute(const nn_loss_info *L, void *inst, const float *y_pred,
                              const float *y_true, int rows, int cols, double *loss, float *grad,
                              nn_error *err)
{
    const plugin_loss *p = (const plugin_loss *)L;
    if (p->d.compute(inst, y_pred, y_true, rows, cols, loss, grad, ERR(err)))
        return plugin_err(err, NN_ERR_RUNTIME, "loss", L->name);
    return NN_OK;
}

nnctl_status nn_plugin_add_loss(nnctl_registry *reg, const nnctl_loss_desc *d)
{
    if (!d || nn_plugin_check_desc(reg, "loss", d->size,
                                   offsetof(nnctl_loss_desc, compute) + sizeof d->compute,
                                   d->name))
        return NNCTL_ERROR;
    if (!d->compute)
        return nn_plugin_refuse(reg, "loss %s has no compute function", d->name);
    plugin_loss *p = calloc(1, sizeof *p);
    if (!p)
        return nn_plugin_refuse(reg, "out of memory");
    memcpy(&p->d, d, d->size < sizeof p->d ? d->size : sizeof p->d);
    p->row = (nn_loss_info){.name = p->d.name,
                            .keras_name = p->d.keras_class ? p->d.keras_class : p->d.name,
                            .kind = NN_LOSS_MSE, /* unused: host_loss computes it */
                            .fused_kind = NN_LOSS_MSE,
                            .fused_act = NN_ACT_LINEAR,
                            .can_fuse = false,
                            .target = NN_TARGET_ANY,
                            .keras_class = p->d.keras_class ? p->d.keras_class : p->d.name,
                            .create = loss_create,
                            .host_loss = loss_compute,
                            .doc = p->d.doc,
                            .keys = nn_plugin_keys(p->d.keys),
                            .plugin = reg->rec};
    if (nn_loss_register(&p->row, &reg->err)) {
        free((void *)p->row.keys);
        free(p);
        return NNCTL_ERROR;
    }
    return NNCTL_OK;
}

/* ---- metrics -------------------------------------------------------------------- */

typedef struct plugin_metric {
    nn_metric_type row;
    nnctl_metric_desc d;
} plugin_metric;

static nn_status metric_create(const nn_metric_type *t, nn_spec_node *g, void **inst,
                               nn_error *err)
{
    const plugin_metric *p = (const plugin_metric *)t;
    *inst = NULL;
    if (p->d.create && p->d.create(SET(g), inst, ERR(err)))
        return plugin_err(err, NN_ERR_USAGE, "metric", t->name);
    keep_inst(p->d.destroy, *inst);
    return NN_OK;
}

static nn_status metric_update(const nn_metric_type *t, void *inst, double *state,
                               const float *y_pred, const float *y_true, int rows, int cols,
                               nn_error *err)
{
    const plugin_metric *p = (const plugin_metric *)t;
    if (p->d.update(inst, state, y_pred, y_true, rows, cols, ERR(err)))
        return plugin_err(err, NN_ERR_RUNTIME, "metric", t->name);
    return NN_OK;
}

static double metric_result(const nn_metric_type *t, void *inst, const double *state)
{
    return ((const plugin_metric *)t)->d.result(inst, state);
}

nnctl_status nn_plugin_add_metric(nnctl_registry *reg, const nnctl_metric_desc *d)
{
    if (!d || nn_plugin_check_desc(reg, "metric", d->size,
                                   offsetof(nnctl_metric_desc, result) + sizeof d->result,
                                   d->name))
        return NNCTL_ERROR;
    if (!d->update || !d->result)
        return nn_plugin_refuse(reg, "metric %s needs update and result functions", d->name);
    if (d->state_count < 0 || d->state_count > NN_METRIC_STATE_MAX)
        return nn_plugin_refuse(reg, "metric %s: state_count %d (0 to %d allowed)", d->name,
                                d->state_count, NN_METRIC_STATE_MAX);
    plugin_metric *p = calloc(1, sizeof *p);
    if (!p)
        return nn_plugin_refuse(reg, "out of memory");
    memcpy(&p->d, d, d->size < sizeof p->d ? d->size : sizeof p->d);
    p->row = (nn_metric_type){.name = p->d.name,
                              .doc = p->d.doc,
                              .keys = nn_plugin_keys(p->d.keys),
                              .maximize = p->d.maximize != 0,
                              .state_count = p->d.state_count,
                              .create = metric_create,
                              .update = metric_update,
                              .result = metric_result,
                              .plugin = reg->rec};
    if (nn_metric_type_register(&p->row, &reg->err)) {
        free((void *)p->row.keys);
        free(p);
        return NNCTL_ERROR;
    }
    return NNCTL_OK;
}

/* ---- callbacks --------------------------------------------------------------------- */

typedef struct plugin_cb {
    nn_callback_type row;
    nnctl_callback_desc d;
} plugin_cb;

static const plugin_cb *cb_row(const nn_callback *cb) { return (const plugin_cb *)cb->type; }

/* The settings are checked when the spec is read: an instance is made and
 * dropped; training makes its own at train_begin. */
static nn_status cb_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                          nn_error *err)
{
    (void)t;
    const plugin_cb *p = cb_row(cb);
    void *inst = NULL;
    if (p->d.create && p->d.create(SET(g), &inst, ERR(err)))
        return plugin_err(err, NN_ERR_USAGE, "callback", cb->type->name);
    if (p->d.destroy && inst)
        p->d.destroy(inst);
    return NN_OK;
}

typedef struct cb_state {
    void *inst;
} cb_state;

#define CB_HOOK(hook, call)                                                                    \
    const plugin_cb *p = cb_row(cb);                                                           \
    cb_state *s = cb->state;                                                                   \
    nnctl_train tr = {c};                                                                      \
    if (!p->d.hook)                                                                            \
        return NN_OK;                                                                          \
    if (call)                                                                                  \
        return nn_error_prefix(err, "callback %s (%s)", cb->type->name, #hook),               \
               plugin_err(err, NN_ERR_RUNTIME, "callback", cb->type->name);                    \
    (void)s, (void)tr;                                                                         \
    return NN_OK;

static nn_status cb_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const plugin_cb *p = cb_row(cb);
    cb_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    cb->state = s;
    if (p->d.create && p->d.create(SET(cb->spec), &s->inst, ERR(err)))
        return plugin_err(err, NN_ERR_USAGE, "callback", cb->type->name);
    nnctl_train tr = {c};
    if (p->d.train_begin && p->d.train_begin(s->inst, &tr, ERR(err)))
        return nn_error_prefix(err, "callback %s (train_begin)", cb->type->name),
               plugin_err(err, NN_ERR_RUNTIME, "callback", cb->type->name);
    return NN_OK;
}

static nn_status cb_epoch_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    CB_HOOK(epoch_begin, p->d.epoch_begin(s->inst, &tr, ERR(err)))
}

static nn_status cb_batch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *running,
                              nn_error *err)
{
    CB_HOOK(batch_end, p->d.batch_end(s->inst, &tr, (const nnctl_logs *)running, ERR(err)))
}

static nn_status cb_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                              nn_error *err)
{
    CB_HOOK(epoch_end, p->d.epoch_end(s->inst, &tr, (const nnctl_logs *)logs, ERR(err)))
}

static nn_status cb_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const plugin_cb *p = cb_row(cb);
    cb_state *s = cb->state;
    nn_status st = NN_OK;
    nnctl_train tr = {c};
    if (s && !c->failed && p->d.train_end && p->d.train_end(s->inst, &tr, ERR(err))) {
        nn_error_prefix(err, "callback %s (train_end)", cb->type->name);
        st = plugin_err(err, NN_ERR_RUNTIME, "callback", cb->type->name);
    }
    if (s && s->inst && p->d.destroy)
        p->d.destroy(s->inst);
    free(s);
    cb->state = NULL;
    return st;
}

static nn_status cb_batch_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    CB_HOOK(batch_begin, p->d.batch_begin(s->inst, &tr, ERR(err)))
}

static bool cb_wants_batch(const nn_callback *cb, const nn_fit_ctx *c)
{
    (void)c;
    return cb_row(cb)->d.batch_end != NULL;
}

nnctl_status nn_plugin_add_callback(nnctl_registry *reg, const nnctl_callback_desc *d)
{
    if (!d || nn_plugin_check_desc(reg, "callback", d->size,
                                   offsetof(nnctl_callback_desc, train_end) + sizeof d->train_end,
                                   d->name))
        return NNCTL_ERROR;
    plugin_cb *p = calloc(1, sizeof *p);
    if (!p)
        return nn_plugin_refuse(reg, "out of memory");
    memcpy(&p->d, d, d->size < sizeof p->d ? d->size : sizeof p->d);
    p->row = (nn_callback_type){.name = p->d.name,
                                .doc = p->d.doc,
                                .keys = nn_plugin_keys(p->d.keys),
                                .cfg_size = 0,
                                .parse = cb_parse,
                                .train_begin = cb_train_begin,
                                .epoch_begin = cb_epoch_begin,
                                .batch_begin = p->d.batch_begin ? cb_batch_begin : NULL,
                                .wants_batch = cb_wants_batch,
                                .batch_end = p->d.batch_end ? cb_batch_end : NULL,
                                .epoch_end = cb_epoch_end,
                                .train_end = cb_train_end,
                                /* one instance for the job: rank 0 of a
                                 * data-parallel run (its stop_training and
                                 * learning rate reach every rank) */
                                .root_only = true,
                                .plugin = reg->rec};
    if (nn_callback_type_register(&p->row, &reg->err)) {
        free((void *)p->row.keys);
        free(p);
        return NNCTL_ERROR;
    }
    return NNCTL_OK;
}

/* The host table: the only functions a plugin calls. Settings go through
 * the spec getters (the same file:line errors and "did you mean" as the
 * built-in types), shapes through the node being built, the run through
 * the fit loop's context. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layers/common.h"
#include "plugin/internal.h"

#define E(err) (&(err)->e)
#define S(s) ((nn_spec_node *)(s))

static nnctl_status status(nn_status st) { return st ? NNCTL_ERROR : NNCTL_OK; }

static nnctl_status fail(nnctl_error *err, const char *fmt, ...)
{
    if (!err)
        return NNCTL_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->e.msg, sizeof err->e.msg, fmt, ap);
    va_end(ap);
    err->e.code = NN_ERR_RUNTIME;
    return NNCTL_ERROR;
}

/* ---- settings -------------------------------------------------------------
 * A type named alone (loss = "my_loss") has no group: every key is absent. */

static nnctl_status absent(nnctl_error *err, const char *key)
{
    err->e.code = NN_ERR_USAGE;
    snprintf(err->e.msg, sizeof err->e.msg,
             "missing required key \"%s\" (give the type as a group { type = ...; %s = ...; })",
             key, key);
    return NNCTL_ERROR;
}

static int has(nnctl_settings *s, const char *key) { return s && nn_spec_has(S(s), key); }

static nnctl_status get_int(nnctl_settings *s, const char *key, int required, long long def,
                            long long min, long long max, long long *out, nnctl_error *err)
{
    if (!s) {
        *out = def;
        return required ? absent(err, key) : NNCTL_OK;
    }
    return status(nn_spec_int(S(s), key, required, def, min, max, out, E(err)));
}

static nnctl_status get_float(nnctl_settings *s, const char *key, int required, double def,
                              double min, double max, double *out, nnctl_error *err)
{
    if (!s) {
        *out = def;
        return required ? absent(err, key) : NNCTL_OK;
    }
    return status(nn_spec_float(S(s), key, required, def, min, max, out, E(err)));
}

static nnctl_status get_bool(nnctl_settings *s, const char *key, int required, int def, int *out,
                             nnctl_error *err)
{
    bool b = def != 0;
    nnctl_status rc = NNCTL_OK;
    if (!s)
        rc = required ? absent(err, key) : NNCTL_OK;
    else
        rc = status(nn_spec_bool(S(s), key, required, def != 0, &b, E(err)));
    *out = b;
    return rc;
}

static nnctl_status get_string(nnctl_settings *s, const char *key, int required, const char *def,
                               const char **out, nnctl_error *err)
{
    if (!s) {
        *out = def;
        return required ? absent(err, key) : NNCTL_OK;
    }
    return status(nn_spec_string(S(s), key, required, def, out, E(err)));
}

static nnctl_status get_floats(nnctl_settings *s, const char *key, int required, int max_n,
                               double *out, int *n_out, nnctl_error *err)
{
    *n_out = 0;
    if (!s)
        return required ? absent(err, key) : NNCTL_OK;
    return status(
        nn_spec_float_array(S(s), key, required, -1e300, 1e300, max_n, out, n_out, E(err)));
}

static nnctl_status settings_fail(nnctl_settings *s, const char *key, nnctl_error *err,
                                  const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!s) {
        err->e.code = NN_ERR_USAGE;
        snprintf(err->e.msg, sizeof err->e.msg, "%s%s%s", key ? key : "", key ? ": " : "", msg);
        return NNCTL_ERROR;
    }
    return status(nn_spec_fail(S(s), key, E(err), NN_ERR_USAGE, "%s", msg));
}

/* ---- layers: shapes ------------------------------------------------------- */

static int input_count(const nnctl_shapes *sh) { return sh->n->n_in; }

static int input_shape(const nnctl_shapes *sh, int i, int *dims)
{
    if (i < 0 || i >= sh->n->n_in)
        return -1;
    const nn_node *in = sh->n->in[i];
    for (int d = 0; d < in->ndim && d < NNCTL_MAX_DIMS; d++)
        dims[d] = in->shape[d];
    return in->ndim;
}

static nnctl_status set_output_shape(nnctl_shapes *sh, int ndim, const int *dims,
                                     nnctl_error *err)
{
    nn_node *n = sh->n;
    if (ndim < 1 || ndim > NNCTL_MAX_DIMS || ndim > NN_MAX_DIMS)
        return status(nn_node_fail(n, E(err), "output shape of %d axes (1 to %d allowed)", ndim,
                                   NNCTL_MAX_DIMS < NN_MAX_DIMS ? NNCTL_MAX_DIMS : NN_MAX_DIMS));
    size_t size = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 1 || dims[d] > (1 << 30))
            return status(nn_node_fail(n, E(err), "output axis %d of size %d (sizes are 1 to %d)",
                                       d, dims[d], 1 << 30));
        size *= (size_t)dims[d];
        if (size > ((size_t)1 << 32))
            return status(nn_node_fail(n, E(err), "an output of more than 2^32 values"));
    }
    n->ndim = ndim;
    memcpy(n->shape, dims, (size_t)ndim * sizeof *dims);
    sh->output_set = true;
    return NNCTL_OK;
}

static nnctl_status add_param(nnctl_shapes *sh, const nnctl_param_decl *p, nnctl_error *err)
{
    nn_node *n = sh->n;
    if (!p || p->size < offsetof(nnctl_param_decl, trainable) + sizeof p->trainable)
        return status(nn_node_fail(n, E(err), "a parameter declaration without its size set"));
    if (n->n_params == NN_MAX_PARAMS)
        return status(nn_node_fail(n, E(err), "more than %d parameters", NN_MAX_PARAMS));
    if (!p->name || !p->name[0] || strlen(p->name) >= 48 || strchr(p->name, '/'))
        return status(nn_node_fail(n, E(err), "a parameter needs a name (1 to 47 characters, no "
                                              "'/')"));
    for (int k = 0; k < n->n_params; k++)
        if (!strcmp(n->params[k].name, p->name))
            return status(nn_node_fail(n, E(err), "two parameters named \"%s\"", p->name));
    if (p->ndim < 1 || p->ndim > NNCTL_MAX_DIMS || p->ndim > NN_MAX_DIMS)
        return status(nn_node_fail(n, E(err), "parameter \"%s\" has %d axes (1 to %d allowed)",
                                   p->name, p->ndim, NN_MAX_DIMS));
    size_t size = 1;
    for (int d = 0; d < p->ndim; d++) {
        if (p->dims[d] < 1 || p->dims[d] > (1 << 30))
            return status(nn_node_fail(n, E(err), "parameter \"%s\": axis %d of size %d",
                                       p->name, d, p->dims[d]));
        size *= (size_t)p->dims[d];
    }
    if (size > ((size_t)1 << 31))
        return status(nn_node_fail(n, E(err), "parameter \"%s\" is too large", p->name));
    nn_initializer init = nn_initializer_named("zeros");
    if (p->initializer && !nn_initializer_find(p->initializer, &init))
        return status(nn_node_fail(n, E(err), "parameter \"%s\": unknown initializer \"%s\"",
                                   p->name, p->initializer));
    if (p->initializer && !strcmp(p->initializer, "constant"))
        init.a = p->init_value;
    /* Keras's fans: the last axis is fan_out, the rest fan_in */
    int fan_out = p->dims[p->ndim - 1], fan_in = (int)(size / (size_t)fan_out);
    if (p->fan_in > 0)
        fan_in = p->fan_in;
    if (p->fan_out > 0)
        fan_out = p->fan_out;
    nn_regularizer none = {0};
    nn_param *par = nn_node_add_param(n, p->name, p->ndim, p->dims, fan_in, fan_out, init, none);
    par->trainable = par->trainable && p->trainable;
    return NNCTL_OK;
}

/* ---- callbacks: the run --------------------------------------------------- */

static long long epoch(const nnctl_train *t) { return t->c->epoch; }
static long long epochs(const nnctl_train *t) { return t->c->epochs; }
static long long batch(const nnctl_train *t) { return t->c->step; }
static long long batches(const nnctl_train *t) { return t->c->steps; }
static const char *run_dir(const nnctl_train *t) { return t->c->run_dir; }
static double get_lr(const nnctl_train *t) { return nn_fit_get_lr(t->c); }
static void set_lr(nnctl_train *t, double lr) { nn_fit_set_lr(t->c, lr); }
static void stop_training(nnctl_train *t) { t->c->stop_training = true; }

/* Parameter i of the model, counting every node's in order. */
static const nn_param *param_at(const nnctl_train *t, int i, const nn_node **node)
{
    const nn_model *m = t->c->model;
    for (int k = 0; k < m->n_nodes; k++) {
        if (i < m->nodes[k]->n_params) {
            if (node)
                *node = m->nodes[k];
            return &m->nodes[k]->params[i];
        }
        i -= m->nodes[k]->n_params;
    }
    return NULL;
}

static int param_count(const nnctl_train *t)
{
    int n = 0;
    for (int k = 0; k < t->c->model->n_nodes; k++)
        n += t->c->model->nodes[k]->n_params;
    return n;
}

static const char *param_name(const nnctl_train *t, int i)
{
    static char name[2 * NN_NAME_MAX + 2];
    const nn_node *n;
    const nn_param *p = param_at(t, i, &n);
    if (!p)
        return NULL;
    snprintf(name, sizeof name, "%s/%s", n->name, p->name);
    return name;
}

static int param_shape(const nnctl_train *t, int i, int *dims)
{
    const nn_param *p = param_at(t, i, NULL);
    if (!p)
        return -1;
    memcpy(dims, p->shape, (size_t)p->ndim * sizeof *dims);
    return p->ndim;
}

static size_t param_size(const nnctl_train *t, int i)
{
    const nn_param *p = param_at(t, i, NULL);
    return p ? p->size : 0;
}

static nnctl_status param_read(const nnctl_train *t, int i, float *out, nnctl_error *err)
{
    const nn_param *p = param_at(t, i, NULL);
    if (!p)
        return fail(err, "no parameter %d (the model has %d)", i, param_count(t));
    nn_engine *e = t->c->model->e;
    e->ops->download(e, out, &p->w, p->size);
    return NNCTL_OK;
}

/* ---- logs ------------------------------------------------------------------ */

#define L(l) ((const nn_logs *)(l))
static int log_count(const nnctl_logs *l) { return L(l)->n; }
static const char *log_name(const nnctl_logs *l, int i)
{
    return i >= 0 && i < L(l)->n ? L(l)->names[i] : NULL;
}
static double log_value(const nnctl_logs *l, int i)
{
    return i >= 0 && i < L(l)->n ? L(l)->values[i] : 0.0;
}
static int log_get(const nnctl_logs *l, const char *name, double *v)
{
    return nn_logs_get(L(l), name, v);
}

static nnctl_status init_fail(nnctl_registry *reg, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_plugin_refuse(reg, "%s", msg);
}

const nnctl_host nn_plugin_host = {
    .size = sizeof(nnctl_host),
    .abi_major = NNCTL_PLUGIN_ABI_MAJOR,
    .abi_minor = NNCTL_PLUGIN_ABI_MINOR,
    .nnctl_version = NNCTL_VERSION,
    .fail = fail,
    .add_regularizer = nn_plugin_add_regularizer,
    .add_loss = nn_plugin_add_loss,
    .add_metric = nn_plugin_add_metric,
    .add_callback = nn_plugin_add_callback,
    .add_layer = nn_plugin_add_layer,
    .init_fail = init_fail,
    .has = has,
    .get_int = get_int,
    .get_float = get_float,
    .get_bool = get_bool,
    .get_string = get_string,
    .get_floats = get_floats,
    .settings_fail = settings_fail,
    .input_count = input_count,
    .input_shape = input_shape,
    .set_output_shape = set_output_shape,
    .add_param = add_param,
    .epoch = epoch,
    .epochs = epochs,
    .batch = batch,
    .batches = batches,
    .run_dir = run_dir,
    .get_lr = get_lr,
    .set_lr = set_lr,
    .stop_training = stop_training,
    .param_count = param_count,
    .param_name = param_name,
    .param_shape = param_shape,
    .param_size = param_size,
    .param_read = param_read,
    .log_count = log_count,
    .log_name = log_name,
    .log_value = log_value,
    .log_get = log_get,
};

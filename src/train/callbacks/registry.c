/* The callback registry and train.callbacks. Adding a built-in callback:
 * one new file with its row, plus one line in `builtin` below. */
#include <stdio.h>
#include <string.h>

#include "train/callbacks/callbacks.h"

static const nn_callback_type *const builtin[] = {
    &nn_callback_early_stopping, &nn_callback_checkpoint, &nn_callback_history,
    &nn_callback_tensorboard,    &nn_callback_exec,       &nn_callback_reduce_lr_on_plateau,
    &nn_callback_lr_scheduler,
};
#define N_BUILTIN ((int)(sizeof builtin / sizeof builtin[0]))
#define MAX_PLUGIN 64

static const nn_callback_type *plugin_types[MAX_PLUGIN];
static int n_plugin;

const nn_callback_type *nn_callback_type_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < N_BUILTIN)
        return builtin[i];
    return i - N_BUILTIN < n_plugin ? plugin_types[i - N_BUILTIN] : NULL;
}

const nn_callback_type *nn_callback_type_find(const char *name)
{
    const nn_callback_type *t;
    for (int i = 0; (t = nn_callback_type_at(i)); i++)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

const char *const *nn_callback_type_names(void)
{
    static const char *names[N_BUILTIN + MAX_PLUGIN + 1];
    const nn_callback_type *t;
    int i = 0;
    for (; (t = nn_callback_type_at(i)); i++)
        names[i] = t->name;
    names[i] = NULL;
    return names;
}

nn_status nn_callback_type_register(const nn_callback_type *t, nn_error *err)
{
    if (nn_callback_type_find(t->name))
        return nn_fail(err, NN_ERR_USAGE, "callback type \"%s\" is already registered",
                       t->name);
    if (n_plugin == MAX_PLUGIN)
        return nn_fail(err, NN_ERR_USAGE, "more than %d plugin callback types", MAX_PLUGIN);
    if (t->cfg_size > NN_CALLBACK_CFG_MAX)
        return nn_fail(err, NN_ERR_RUNTIME, "callback type \"%s\": settings too large",
                       t->name);
    plugin_types[n_plugin++] = t;
    return NN_OK;
}

nn_status nn_callback_check_monitor(nn_spec_node *g, const char *key, const char *monitor,
                                    const nn_train_cfg *c, char *canon, size_t len,
                                    nn_error *err)
{
    char names[NN_MAX_LOGGED][NN_LOGGED_NAME];
    const char *cands[NN_MAX_LOGGED];
    int n = nn_logged_names(c, true, names, NN_MAX_LOGGED);
    for (int i = 0; i < n; i++)
        cands[i] = names[i];
    char alias[160];
    bool keras2 = nn_metric_keras2_alias(monitor, alias, sizeof alias);
    for (int i = 0; i < n; i++)
        if (strcmp(cands[i], monitor) == 0 || (keras2 && strcmp(cands[i], alias) == 0)) {
            if (canon)
                snprintf(canon, len, "%s", cands[i]);
            return NN_OK;
        }
    char list[1024] = "";
    for (int i = 0, o = 0; i < n && o < (int)sizeof list; i++)
        o += snprintf(list + o, sizeof list - (size_t)o, "%s%s", i ? ", " : "", cands[i]);
    const char *guess = nn_did_you_mean(keras2 ? alias : monitor, cands, n);
    return nn_spec_fail(g, key, err, NN_ERR_USAGE, "\"%s\" is not logged%s%s%s (logged: %s)",
                        monitor, guess ? "; did you mean \"" : "", guess ? guess : "",
                        guess ? "\"?" : "", list);
}

bool nn_monitor_maximize(nn_monitor_mode mode, const char *name)
{
    if (mode != NN_MODE_AUTO)
        return mode == NN_MODE_MAX;
    size_t n = strlen(name);
    const char *suffixes[] = {"acc", "accuracy", "auc"};
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(suffixes[i]);
        if (n >= k && strcmp(name + n - k, suffixes[i]) == 0)
            return true;
    }
    return false;
}

const nn_callback *nn_train_callback(const nn_train_cfg *t, const char *name)
{
    for (int i = 0; i < t->n_callbacks; i++)
        if (!strcmp(t->callbacks[i].type->name, name))
            return &t->callbacks[i];
    return NULL;
}

/* One instance of type ty from group g (NULL: its defaults). */
static nn_status add_callback(nn_train_cfg *t, const nn_callback_type *ty, nn_spec_node *g,
                              nn_spec_node *where, nn_error *err)
{
    if (t->n_callbacks == NN_MAX_CALLBACKS)
        return nn_spec_fail(where, NULL, err, NN_ERR_USAGE, "at most %d callbacks",
                            NN_MAX_CALLBACKS);
    nn_callback *cb = &t->callbacks[t->n_callbacks];
    memset(cb, 0, sizeof *cb);
    cb->type = ty;
    cb->spec = g;
    int same = 0;
    for (int i = 0; i < t->n_callbacks; i++)
        same += t->callbacks[i].type == ty;
    if (same)
        snprintf(cb->key, sizeof cb->key, "%s_%d", ty->name, same + 1);
    else
        snprintf(cb->key, sizeof cb->key, "%s", ty->name);
    nn_status st = ty->parse ? ty->parse(cb, g, t, err) : NN_OK;
    if (!st && g)
        st = nn_spec_check_unknown(g, err);
    if (!st) {
        t->n_callbacks++;
        t->has_batch_begin |= ty->batch_begin != NULL;
    }
    return st;
}

static nn_status unknown_type(nn_spec_node *n, const char *key, const char *name,
                              nn_error *err)
{
    const char *const *names = nn_callback_type_names();
    int count = 0;
    while (names[count])
        count++;
    const char *guess = nn_did_you_mean(name, names, count);
    char list[1024] = "";
    for (int i = 0; names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 names[i]);
    return nn_spec_fail(n, key, err, NN_ERR_USAGE,
                        "unknown callback type \"%s\"%s%s%s (callbacks: %s; a plugin's types "
                        "need --plugin or plugins = [...])",
                        name, guess ? "; did you mean \"" : "", guess ? guess : "",
                        guess ? "\"?" : "", list);
}

nn_status nn_spec_callbacks(nn_spec_node *train, nn_train_cfg *t, nn_error *err)
{
    t->n_callbacks = 0;
    t->has_batch_begin = false;
    nn_spec_node *cb = NULL;
    nn_status st;
    bool list = nn_spec_has(train, "callbacks") && !nn_spec_is_group(train, "callbacks");
    if (list) {
        if ((st = nn_spec_list(train, "callbacks", true, &cb, err)))
            return st;
        int n = nn_spec_length(cb);
        for (int i = 0; i < n; i++) {
            nn_spec_node *g;
            const char *type;
            if ((st = nn_spec_elem_group(cb, i, &g, err)) ||
                (st = nn_spec_string(g, "type", true, "", &type, err)))
                return st;
            const nn_callback_type *ty = nn_callback_type_find(type);
            if (!ty)
                return unknown_type(g, "type", type, err);
            if ((st = add_callback(t, ty, g, g, err)))
                return st;
        }
    } else {
        if ((st = nn_spec_group(train, "callbacks", false, &cb, err)))
            return st;
        int n = cb ? nn_spec_length(cb) : 0;
        for (int i = 0; i < n; i++) {
            const char *name = nn_spec_member_key(cb, i);
            const nn_callback_type *ty = nn_callback_type_find(name);
            if (!ty)
                return unknown_type(cb, name, name, err);
            nn_spec_node *g;
            if ((st = nn_spec_group(cb, name, true, &g, err)) ||
                (st = add_callback(t, ty, g, cb, err)))
                return st;
        }
    }
    /* history.csv unless the spec has its own history entry */
    if (!nn_train_callback(t, "history")) {
        if ((st = add_callback(t, &nn_callback_history, NULL, train, err)))
            return st;
    }
    return NN_OK;
}

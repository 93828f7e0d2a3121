#include <stdio.h>
#include <string.h>

#include "objectives/metrics.h"

typedef struct {
    const char *name;
    nn_metric_kind kind;
    bool root, maximize, has_k;
} metric_row;

enum { ACCURACY_ALIAS = -1 };

static const metric_row rows[] = {
    {"accuracy", (nn_metric_kind)ACCURACY_ALIAS, false, true, false},
    {"acc", (nn_metric_kind)ACCURACY_ALIAS, false, true, false},
    {"binary_accuracy", NN_METRIC_BINARY_ACCURACY, false, true, false},
    {"categorical_accuracy", NN_METRIC_CATEGORICAL_ACCURACY, false, true, false},
    {"sparse_categorical_accuracy", NN_METRIC_SPARSE_CATEGORICAL_ACCURACY, false, true, false},
    {"top_k_categorical_accuracy", NN_METRIC_TOP_K, false, true, true},
    {"sparse_top_k_categorical_accuracy", NN_METRIC_SPARSE_TOP_K, false, true, true},
    {"mse", NN_METRIC_MSE, false, false, false},
    {"mae", NN_METRIC_MAE, false, false, false},
    {"rmse", NN_METRIC_MSE, true, false, false},
    {"mape", NN_METRIC_MAPE, false, false, false},
    {"msle", NN_METRIC_MSLE, false, false, false},
};
#define N_ROWS ((int)(sizeof rows / sizeof rows[0]))

#define MAX_PLUGIN 64
static const nn_metric_type *plugin_metrics[MAX_PLUGIN];
static int n_plugin;

const nn_metric_type *nn_metric_type_at(int i)
{
    return i >= 0 && i < n_plugin ? plugin_metrics[i] : NULL;
}

const char *nn_metric_builtin_name(int i) { return i >= 0 && i < N_ROWS ? rows[i].name : NULL; }

static const nn_metric_type *plugin_metric(const char *name)
{
    for (int i = 0; i < n_plugin; i++)
        if (!strcmp(plugin_metrics[i]->name, name))
            return plugin_metrics[i];
    return NULL;
}

nn_status nn_metric_type_register(const nn_metric_type *t, nn_error *err)
{
    for (int i = 0; i < N_ROWS; i++)
        if (!strcmp(rows[i].name, t->name))
            return nn_fail(err, NN_ERR_USAGE, "metric \"%s\" is built in", t->name);
    if (plugin_metric(t->name))
        return nn_fail(err, NN_ERR_USAGE, "metric \"%s\" is already registered", t->name);
    if (n_plugin == MAX_PLUGIN)
        return nn_fail(err, NN_ERR_USAGE, "more than %d plugin metrics", MAX_PLUGIN);
    plugin_metrics[n_plugin++] = t;
    return NN_OK;
}

/* A plugin's metric from its name and settings g (NULL: named alone). */
static nn_status plugin_one(const nn_metric_type *t, nn_spec_node *g, nn_metric *m,
                            nn_error *err)
{
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", t->name);
    snprintf(m->base, sizeof m->base, "%s", t->name);
    m->maximize = t->maximize;
    m->plugin = t;
    nn_status st = t->create(t, g, &m->inst, err);
    if (!st && g)
        st = nn_spec_check_unknown(g, err);
    return st;
}

static nn_status one_metric(nn_spec_node *where, const char *key, int idx, int k,
                            const nn_loss_info *loss, int units, nn_metric *m, nn_error *err)
{
    const metric_row *r = &rows[idx];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", r->name);
    if (strcmp(r->name, "acc") == 0)
        snprintf(m->name, sizeof m->name, "accuracy");
    snprintf(m->base, sizeof m->base, "%s", m->name);
    m->root = r->root;
    m->maximize = r->maximize;
    m->k = k;
    if ((int)r->kind == ACCURACY_ALIAS) {
        /* As Keras 3 and tf.keras (2.2 on) resolve it, from the output and
         * its targets whatever the loss: one unit is binary accuracy,
         * integer labels against several units sparse categorical, rows of
         * one value per unit categorical. Several units take integer labels
         * exactly when the loss is a sparse one (objective.c). */
        m->kind = units == 1                         ? NN_METRIC_BINARY_ACCURACY
                  : loss->target == NN_TARGET_SPARSE ? NN_METRIC_SPARSE_CATEGORICAL_ACCURACY
                                                     : NN_METRIC_CATEGORICAL_ACCURACY;
    } else {
        m->kind = r->kind;
    }
    bool sparse_metric = m->kind == NN_METRIC_SPARSE_CATEGORICAL_ACCURACY ||
                         m->kind == NN_METRIC_SPARSE_TOP_K;
    if (sparse_metric != (loss->target == NN_TARGET_SPARSE) &&
        (sparse_metric || m->kind == NN_METRIC_CATEGORICAL_ACCURACY || m->kind == NN_METRIC_TOP_K))
        return nn_spec_fail(where, key, err, NN_ERR_USAGE,
                            "metric \"%s\" needs %s targets but loss \"%s\" uses %s targets",
                            r->name, sparse_metric ? "integer" : "one-hot", loss->name,
                            loss->target == NN_TARGET_SPARSE ? "integer" : "one-hot");
    if (r->has_k && k > units)
        return nn_spec_fail(where, key, err, NN_ERR_USAGE,
                            "k = %d is more than the model's %d output units", k, units);
    return NN_OK;
}

bool nn_metric_keras2_alias(const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    if (n < 3 || strcmp(name + n - 3, "acc") || (n > 3 && name[n - 4] != '_'))
        return false;
    snprintf(out, len, "%.*saccuracy", (int)(n - 3), name);
    return true;
}

nn_status nn_spec_metrics(nn_spec_node *node, const char *key, const nn_loss_info *loss,
                          int units, nn_metric *out, int *n_out, nn_error *err)
{
    const char *names[N_ROWS + MAX_PLUGIN + 1];
    int n_names = 0;
    for (int i = 0; i < N_ROWS; i++)
        names[n_names++] = rows[i].name;
    for (int i = 0; i < n_plugin; i++)
        names[n_names++] = plugin_metrics[i]->name;
    names[n_names] = NULL;
    *n_out = 0;
    nn_spec_node *list;
    nn_status st = nn_spec_list(node, key, false, &list, err);
    if (st || !list)
        return st;
    int count = nn_spec_length(list);
    if (count > NN_MAX_METRICS_PER_OUTPUT)
        return nn_spec_fail(node, key, err, NN_ERR_USAGE, "at most %d metrics",
                            NN_MAX_METRICS_PER_OUTPUT);
    /* Strings: read them all through the string-array getter, then match. */
    const char *strs[NN_MAX_METRICS_PER_OUTPUT];
    int ns = 0;
    nn_error probe;
    if (nn_spec_string_array(node, key, false, NN_MAX_METRICS_PER_OUTPUT, strs, &ns,
                             &probe) ==
        NN_OK) {
        for (int i = 0; i < ns; i++) {
            const nn_metric_type *pt = plugin_metric(strs[i]);
            if (pt) {
                if ((st = plugin_one(pt, NULL, &out[i], err)))
                    return st;
                continue;
            }
            int idx = -1;
            for (int j = 0; j < N_ROWS; j++)
                if (strcmp(rows[j].name, strs[i]) == 0)
                    idx = j;
            if (idx < 0) {
                const char *guess = nn_did_you_mean(strs[i], names, n_names);
                return nn_spec_fail(node, key, err, NN_ERR_USAGE,
                                    "unknown metric \"%s\"%s%s%s", strs[i],
                                    guess ? "; did you mean \"" : "", guess ? guess : "",
                                    guess ? "\"?" : "");
            }
            if ((st = one_metric(node, key, idx, 5, loss, units, &out[i], err)))
                return st;
        }
        *n_out = ns;
    } else {
        for (int i = 0; i < count; i++) {
            nn_spec_node *g;
            int idx;
            long long k;
            if ((st = nn_spec_elem_group(list, i, &g, err)) ||
                (st = nn_spec_choice(g, "type", true, names, -1, &idx, err)))
                return st;
            if (idx >= N_ROWS) {
                if ((st = plugin_one(plugin_metrics[idx - N_ROWS], g, &out[i], err)))
                    return st;
                continue;
            }
            if ((st = nn_spec_int(g, "k", false, 5, 1, 1 << 20, &k, err)) ||
                (st = nn_spec_check_unknown(g, err)) ||
                (st = one_metric(g, "type", idx, (int)k, loss, units, &out[i], err)))
                return st;
            if (rows[idx].has_k && k != 5) {
                snprintf(out[i].name, sizeof out[i].name, "top_%d_%s", (int)k,
                         idx == 5 ? "categorical_accuracy" : "sparse_categorical_accuracy");
                snprintf(out[i].base, sizeof out[i].base, "%s", out[i].name);
            }
        }
        *n_out = count;
    }
    for (int i = 0; i < *n_out; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(out[i].name, out[j].name) == 0)
                return nn_spec_fail(node, key, err, NN_ERR_USAGE,
                                    "metric \"%s\" is listed twice", out[i].name);
    return NN_OK;
}

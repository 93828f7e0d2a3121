/* Keras's training_config (what compile() was given) to an nnctl `train`
 * group: the loss (required; it decides what eval reports), one per output
 * or one for all, with loss_weights; the metrics nnctl has (others are
 * left out), and the optimizer where it maps (only training would use it;
 * one that does not map becomes plain sgd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/keras/import.h"
#include "io/keras/import_internal.h"
#include "objectives/metrics.h"

typedef struct {
    const char *keras, *nnctl;
} name_map;

static const char *lookup(const name_map *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].keras, name))
            return m[i].nnctl;
    return NULL;
}

static const name_map losses[] = {
    {"categorical_crossentropy", "categorical_crossentropy"},
    {"CategoricalCrossentropy", "categorical_crossentropy"},
    {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy"},
    {"SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"},
    {"binary_crossentropy", "binary_crossentropy"},
    {"BinaryCrossentropy", "binary_crossentropy"},
    {"mse", "mse"}, {"MSE", "mse"}, {"mean_squared_error", "mse"}, {"MeanSquaredError", "mse"},
    {"mae", "mae"}, {"MAE", "mae"}, {"mean_absolute_error", "mae"}, {"MeanAbsoluteError", "mae"},
    {"mape", "mape"}, {"MAPE", "mape"}, {"mean_absolute_percentage_error", "mape"},
    {"MeanAbsolutePercentageError", "mape"},
    {"msle", "msle"}, {"MSLE", "msle"}, {"mean_squared_logarithmic_error", "msle"},
    {"MeanSquaredLogarithmicError", "msle"},
    {"hinge", "hinge"}, {"Hinge", "hinge"},
    {"squared_hinge", "squared_hinge"}, {"SquaredHinge", "squared_hinge"},
    {"categorical_hinge", "categorical_hinge"}, {"CategoricalHinge", "categorical_hinge"},
    {"kl_divergence", "kl_divergence"}, {"kld", "kl_divergence"}, {"KLD", "kl_divergence"},
    {"kullback_leibler_divergence", "kl_divergence"}, {"KLDivergence", "kl_divergence"},
    {"poisson", "poisson"}, {"Poisson", "poisson"},
    {"log_cosh", "log_cosh"}, {"logcosh", "log_cosh"}, {"LogCosh", "log_cosh"},
    {"huber", "huber"}, {"huber_loss", "huber"}, {"Huber", "huber"},
    {"cosine_similarity", "cosine_similarity"}, {"CosineSimilarity", "cosine_similarity"},
};

static const name_map metrics[] = {
    {"accuracy", "accuracy"}, {"acc", "accuracy"},
    {"binary_accuracy", "binary_accuracy"}, {"BinaryAccuracy", "binary_accuracy"},
    {"categorical_accuracy", "categorical_accuracy"},
    {"CategoricalAccuracy", "categorical_accuracy"},
    {"sparse_categorical_accuracy", "sparse_categorical_accuracy"},
    {"SparseCategoricalAccuracy", "sparse_categorical_accuracy"},
    {"top_k_categorical_accuracy", "top_k_categorical_accuracy"},
    {"TopKCategoricalAccuracy", "top_k_categorical_accuracy"},
    {"sparse_top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy"},
    {"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"},
    {"mse", "mse"}, {"mean_squared_error", "mse"}, {"MeanSquaredError", "mse"},
    {"mae", "mae"}, {"mean_absolute_error", "mae"}, {"MeanAbsoluteError", "mae"},
    {"mape", "mape"}, {"mean_absolute_percentage_error", "mape"},
    {"MeanAbsolutePercentageError", "mape"},
    {"msle", "msle"}, {"mean_squared_logarithmic_error", "msle"},
    {"MeanSquaredLogarithmicError", "msle"},
    {"rmse", "rmse"}, {"root_mean_squared_error", "rmse"}, {"RootMeanSquaredError", "rmse"},
};

/* "cls, reg": the outputs, for messages. */
static const char *output_list(const kx_outputs *o, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int k = 0; o && k < o->n && at < len; k++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", k ? ", " : "", o->name[k]);
    return buf;
}

/* A libconfig setting name (what a train.loss / loss_weights key must be). */
static bool key_ok(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '*'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '*'))
            return false;
    return true;
}

/* A compile() argument given per output: a list by output position or a
 * dict by output name. each[k] gets output k's value (NULL: none given).
 * Without known outputs (o NULL) there is one, whatever its name. */
static nn_status per_output(const kx_layer *L, const char *key, json_t *v, const kx_outputs *o,
                            json_t **each)
{
    int n = o ? o->n : 1;
    char names[NN_MAX_IO * (NN_NAME_MAX + 2)];
    for (int k = 0; k < n; k++)
        each[k] = NULL;
    if (json_is_array(v)) {
        if (json_array_size(v) != (size_t)n)
            return kx_fail(L, "%s lists %zu value%s (one per output, in order) but the model "
                              "has %d output%s%s%s%s",
                           key, json_array_size(v), json_array_size(v) == 1 ? "" : "s", n,
                           n == 1 ? "" : "s", o ? " (" : "", output_list(o, names, sizeof names),
                           o ? ")" : "");
        for (int k = 0; k < n; k++)
            each[k] = json_array_get(v, (size_t)k);
    } else {
        const char *name;
        json_t *e;
        json_object_foreach(v, name, e) {
            int k = 0;
            while (o && k < n && strcmp(o->name[k], name) &&
                   (!o->key[k][0] || strcmp(o->key[k], name)))
                k++;
            if (k == n || (!o && json_object_size(v) != 1))
                return kx_fail(L, "%s names '%s', which is not an output of the model%s%s%s",
                               key, name, o ? " (outputs: " : "",
                               output_list(o, names, sizeof names), o ? ")" : "");
            each[k] = e;
        }
    }
    for (int k = 0; k < n; k++)
        if (json_is_null(each[k]))
            each[k] = NULL;
    return NN_OK;
}

/* One loss (a name, a serialized loss object or function) to nnctl's
 * name, and in text the spec value that says it (the name, or a group with
 * its parameter: Huber's delta); `out` names the output in errors when
 * losses are per output. */
static nn_status map_loss(const kx_layer *L, json_t *loss, const char *out, const char **mapped,
                          char *text, size_t cap)
{
    char pre[NN_NAME_MAX + 24] = "";
    if (out)
        snprintf(pre, sizeof pre, "output '%s': ", out);
    const char *name = NULL;
    json_t *cfg = NULL;
    if (json_is_string(loss)) {
        name = json_string_value(loss);
    } else if (json_is_object(loss) && json_is_string(json_object_get(loss, "class_name"))) {
        /* {"class_name": "CategoricalCrossentropy", "config": {...}}, or a
         * function: {"class_name": "function", "config": "mse"} */
        cfg = json_object_get(loss, "config");
        name = json_string_value(json_is_string(cfg) ? cfg : json_object_get(loss, "class_name"));
    }
    if (!name && loss && !json_is_null(loss))
        return kx_fail(L, "%sthe loss must be a name or a serialized Keras loss", pre);
    if (!name)
        return kx_fail(L, "%sno loss", pre);
    *mapped = lookup(losses, sizeof losses / sizeof losses[0], name);
    if (!*mapped)
        return kx_fail(L, "%sloss %s has no nnctl equivalent", pre, name);
    if (json_is_object(cfg)) {
        if (json_is_true(json_object_get(cfg, "from_logits")))
            return kx_fail(L, "%sloss %s with from_logits = true is not supported (nnctl's "
                              "cross-entropy takes probabilities, as from a softmax/sigmoid)",
                           pre, name);
        json_t *ls = json_object_get(cfg, "label_smoothing");
        if (json_is_number(ls) && json_number_value(ls) != 0.0)
            return kx_fail(L, "%sloss %s with label_smoothing is not supported", pre, name);
        json_t *axis = json_object_get(cfg, "axis");
        if (json_is_integer(axis) && json_integer_value(axis) != -1)
            return kx_fail(L, "%sloss %s over axis %lld is not supported (nnctl's is over the "
                              "last axis)",
                           pre, name, (long long)json_integer_value(axis));
    }
    snprintf(text, cap, "\"%s\"", *mapped);
    const nn_loss_info *info = nn_loss_find(*mapped);
    json_t *p = info && info->param_name && json_is_object(cfg) ? json_object_get(cfg, info->param_name) : NULL;
    if (p) {
        if (!json_is_number(p) || json_number_value(p) <= info->param_min)
            return kx_fail(L, "%sloss %s: %s must be a number > %g", pre, name, info->param_name,
                           info->param_min);
        snprintf(text, cap, "{ type = \"%s\"; %s = %.9g; }", *mapped, info->param_name,
                 json_number_value(p));
    }
    return NN_OK;
}

/* loss: one for every output (a name or a serialized loss), or one per
 * output (a list by position, a dict by name) as the train.loss group.
 * sparse[k]: whether output k's loss takes integer labels; binary[k]:
 * whether it is binary_crossentropy. */
static nn_status write_loss(const kx_layer *L, json_t *loss, const kx_outputs *o, kx_text *t,
                            bool *sparse, bool *binary)
{
    int n = o ? o->n : 1;
    const char *mapped[NN_MAX_IO];
    char text[NN_MAX_IO][96];
    /* a dict is per output unless it is one serialized loss object (whose
     * "class_name" is no output's name) */
    bool by_output = json_is_array(loss) || json_is_object(loss);
    if (json_is_object(loss) && json_is_string(json_object_get(loss, "class_name"))) {
        by_output = false;
        for (int k = 0; o && k < n; k++)
            if (!strcmp(o->name[k], "class_name"))
                by_output = true;
    }
    nn_status st;
    if (by_output) {
        json_t *each[NN_MAX_IO];
        if ((st = per_output(L, "loss", loss, o, each)))
            return st;
        for (int k = 0; k < n; k++) {
            const char *out = o ? o->name[k] : "?";
            if (!each[k])
                return kx_fail(L, "loss gives output '%s' no loss: nnctl needs a loss for every "
                                  "output",
                               out);
            if ((st = map_loss(L, each[k], n > 1 ? out : NULL, &mapped[k], text[k],
                               sizeof text[k])))
                return st;
        }
    } else {
        if ((st = map_loss(L, loss, NULL, &mapped[0], text[0], sizeof text[0])))
            return st;
        for (int k = 1; k < n; k++) {
            mapped[k] = mapped[0];
            snprintf(text[k], sizeof text[k], "%s", text[0]);
        }
    }
    bool same = true, keys = true;
    for (int k = 0; k < n; k++) {
        sparse[k] = strncmp(mapped[k], "sparse_", 7) == 0;
        binary[k] = strcmp(mapped[k], "binary_crossentropy") == 0;
        same &= !strcmp(text[k], text[0]);
        keys &= o && key_ok(o->name[k]);
    }
    /* the group keeps Keras's per-output form (nnctl writes it back so);
     * one name serves when the outputs' names cannot be keys */
    if (n == 1 || !by_output || (same && !keys)) {
        kx_printf(t, " loss = %s;", text[0]);
        return NN_OK;
    }
    kx_printf(t, " loss = {");
    for (int k = 0; k < n; k++) {
        if (!key_ok(o->name[k]))
            return kx_fail(L, "output '%s' has a loss of its own, but its name cannot be a key "
                              "of nnctl's train.loss group",
                           o->name[k]);
        kx_printf(t, " %s = %s;", o->name[k], text[k]);
    }
    kx_printf(t, " };");
    return NN_OK;
}

/* loss_weights: a list by output position, a dict by name, or one number
 * for every output, to the train.loss_weights group (needs the outputs'
 * names: none is written without them). */
static nn_status write_weights(const kx_layer *L, json_t *w, const kx_outputs *o, kx_text *t)
{
    if (!w || json_is_null(w) || !o)
        return NN_OK;
    json_t *each[NN_MAX_IO];
    nn_status st;
    if (json_is_number(w)) {
        for (int k = 0; k < o->n; k++)
            each[k] = w;
    } else if (!json_is_array(w) && !json_is_object(w)) {
        return kx_fail(L, "loss_weights must be a number, a list or a dict by output");
    } else if ((st = per_output(L, "loss_weights", w, o, each))) {
        return st;
    }
    kx_printf(t, " loss_weights = {");
    for (int k = 0; k < o->n; k++) {
        if (!each[k])
            continue; /* nnctl's default, as Keras's: 1 */
        double d = json_is_number(each[k]) ? json_number_value(each[k]) : -1.0;
        if (!(d >= 0.0 && d <= 1e30))
            return kx_fail(L, "loss_weights: the weight of output '%s' must be a number >= 0",
                           o->name[k]);
        if (!key_ok(o->name[k]))
            return kx_fail(L, "loss_weights: output '%s' has a weight, but its name cannot be a "
                              "key of nnctl's train.loss_weights group",
                           o->name[k]);
        kx_printf(t, " %s = ", o->name[k]);
        kx_float_text(t, d);
        kx_printf(t, ";");
    }
    kx_printf(t, " };");
    return NN_OK;
}

/* The metrics collected for one output (or for all). */
typedef struct {
    const char *names[NN_MAX_METRICS];
    long long ks[NN_MAX_METRICS];
    int n, cap;
} metric_set;

/* Metric names out of strings, {class_name, config: {name}} objects and
 * the nested lists tf.keras writes; those nnctl lacks are left out. A
 * metric needing the other target kind than the loss's would be refused
 * with that loss: left out too (sparse_ok: every loss it is for takes
 * integer labels; dense_ok: none does). out: the output these are for
 * (NULL: all), whose "<out>_" tf.keras puts before its metrics' names.
 * binary_acc: "accuracy" is binary accuracy whatever the output's width, as
 * Keras before tf.keras 2.2 resolved it for binary_crossentropy. */
static void collect_metrics(json_t *v, metric_set *m, bool sparse_ok, bool dense_ok,
                            const char *out, bool binary_acc)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) collect_metrics(e, m, sparse_ok, dense_ok, out, binary_acc);
        return;
    }
    const char *name = NULL;
    long long k = 5;
    if (json_is_string(v)) {
        name = lookup(metrics, sizeof metrics / sizeof metrics[0], json_string_value(v));
    } else if (json_is_object(v)) {
        json_t *cfg = json_object_get(v, "config");
        json_t *nm = json_object_get(cfg, "name"), *cn = json_object_get(v, "class_name");
        const char *s = json_string_value(nm);
        size_t len = out ? strlen(out) : 0;
        if (s && len && !strncmp(s, out, len) && s[len] == '_')
            s += len + 1; /* "cls_accuracy" */
        if (s)
            name = lookup(metrics, sizeof metrics / sizeof metrics[0], s);
        if (!name && json_is_string(cn))
            name = lookup(metrics, sizeof metrics / sizeof metrics[0], json_string_value(cn));
        kx_as_int(json_object_get(cfg, "k"), &k);
    }
    if (!name || m->n == m->cap || k < 1 || k > (1 << 20))
        return;
    if (binary_acc && !strcmp(name, "accuracy"))
        name = "binary_accuracy";
    bool sparse_metric = !strncmp(name, "sparse_", 7);
    bool dense_metric = !strcmp(name, "categorical_accuracy") ||
                        !strcmp(name, "top_k_categorical_accuracy");
    if ((sparse_metric && !sparse_ok) || (dense_metric && !dense_ok))
        return;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->names[i], name) && m->ks[i] == k)
            return;
    m->names[m->n] = name;
    m->ks[m->n++] = k;
}

static bool metric_sets_equal(const metric_set *a, const metric_set *b)
{
    if (a->n != b->n)
        return false;
    for (int i = 0; i < a->n; i++) {
        int j = 0;
        while (j < b->n && (strcmp(a->names[i], b->names[j]) || a->ks[i] != b->ks[j]))
            j++;
        if (j == b->n)
            return false;
    }
    return true;
}

/* Metrics per output need the outputs' names as keys of train.metrics. */
static nn_status keyed_outputs(const kx_layer *L, const kx_outputs *o)
{
    for (int k = 0; k < o->n; k++)
        if (!key_ok(o->name[k]))
            return kx_fail(L, "output '%s' has metrics of its own, but its name cannot be a key "
                              "of nnctl's train.metrics group",
                           o->name[k]);
    return NN_OK;
}

/* metrics: one list for every output, or per output: a dict by name, a
 * list of one list per output (tf.keras), or Keras 3's list of one entry
 * per output (Keras 3 refuses a list of another length with several
 * outputs; Keras 2 applies a flat list to every output). per[k]: output
 * k's; *by_output when they differ (else per[0] serves every output).
 * binary_acc[k]: output k's "accuracy" is binary accuracy (Keras <= 2.3
 * with binary_crossentropy). */
static nn_status read_metrics(const kx_layer *L, json_t *v, const kx_outputs *o,
                              const bool *sparse, const bool *binary_acc, metric_set *per,
                              bool *by_output)
{
    int n = o ? o->n : 1;
    bool any_sparse = false, all_sparse = true, all_binary = true;
    for (int k = 0; k < n; k++) {
        any_sparse |= sparse[k];
        all_sparse &= sparse[k];
        all_binary &= binary_acc[k];
    }
    *by_output = false;
    per[0].n = 0;
    per[0].cap = NN_MAX_METRICS / n < NN_MAX_METRICS_PER_OUTPUT ? NN_MAX_METRICS / n
                                                                 : NN_MAX_METRICS_PER_OUTPUT;
    bool nested = n > 1 && json_is_array(v) && json_array_size(v) == (size_t)n;
    for (size_t i = 0; nested && o->keras_major != 3 && i < json_array_size(v); i++)
        nested = json_is_array(json_array_get(v, i));
    if ((!nested && !json_is_object(v)) ||
        (json_is_object(v) && json_is_string(json_object_get(v, "class_name")))) {
        /* one list (or one serialized metric) for every output */
        collect_metrics(v, &per[0], all_sparse, !any_sparse, NULL, all_binary);
        for (int k = 1; k < n && !*by_output; k++)
            *by_output = binary_acc[k] != binary_acc[0] && v && !json_is_null(v);
        if (!*by_output)
            return NN_OK;
        for (int k = 0; k < n; k++) { /* "accuracy" means one thing here, another there */
            per[k].n = 0;
            per[k].cap = per[0].cap;
            collect_metrics(v, &per[k], sparse[k], !sparse[k], NULL, binary_acc[k]);
        }
        return keyed_outputs(L, o);
    }
    json_t *each[NN_MAX_IO];
    nn_status st = per_output(L, "metrics", v, o, each);
    if (st)
        return st;
    for (int k = 0; k < n; k++) {
        per[k].n = 0;
        per[k].cap = per[0].cap;
        collect_metrics(each[k], &per[k], sparse[k], !sparse[k], o ? o->name[k] : NULL,
                        binary_acc[k]);
        *by_output |= !metric_sets_equal(&per[0], &per[k]);
    }
    return *by_output ? keyed_outputs(L, o) : NN_OK;
}

/* One output's list (or every output's), as the spec writes it. */
static void write_metric_list(kx_text *t, const metric_set *m)
{
    kx_printf(t, "(");
    for (int i = 0; i < m->n; i++) {
        kx_printf(t, "%s{ type = \"%s\";", i ? ", " : " ", m->names[i]);
        if (strstr(m->names[i], "top_k"))
            kx_printf(t, " k = %lld;", m->ks[i]);
        kx_printf(t, " }");
    }
    kx_printf(t, " )");
}

static void opt_number(kx_text *t, json_t *cfg, const char *key, const char *spec_key,
                       double lo, double hi)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_number(v))
        return;
    double d = json_number_value(v);
    if (d < lo || d > hi)
        return;
    kx_printf(t, " %s = ", spec_key);
    kx_float_text(t, d);
    kx_printf(t, ";");
}

static void write_optimizer(json_t *opt, kx_text *t)
{
    static const char *const names[] = {"sgd",     "rmsprop", "adam", "adagrad",
                                        "adadelta", "adamax",  "nadam"};
    json_t *cn = json_object_get(opt, "class_name"), *cfg = json_object_get(opt, "config");
    const char *cls = json_is_string(cn) ? json_string_value(cn) : "";
    if (!strncmp(cls, "Custom>", 7)) /* tf.keras 2.11+ */
        cls += 7;
    const char *type = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcasecmp(cls, names[i]))
            type = names[i];
    if (!type || !json_is_object(cfg)) {
        kx_printf(t, " optimizer = \"sgd\";");
        return;
    }
    kx_printf(t, " optimizer = { type = \"%s\";", type);
    if (json_is_number(json_object_get(cfg, "learning_rate")))
        opt_number(t, cfg, "learning_rate", "lr", 0.0, 1e6);
    else
        opt_number(t, cfg, "lr", "lr", 0.0, 1e6);
    opt_number(t, cfg, "decay", "decay", 0.0, 1e6);
    opt_number(t, cfg, "epsilon", "epsilon", 0.0, 1.0);
    opt_number(t, cfg, "clipnorm", "clipnorm", 0.0, 1e30);
    opt_number(t, cfg, "clipvalue", "clipvalue", 0.0, 1e30);
    if (!strcmp(type, "sgd")) {
        opt_number(t, cfg, "momentum", "momentum", 0.0, 1.0);
        if (json_is_boolean(json_object_get(cfg, "nesterov")))
            kx_printf(t, " nesterov = %s;",
                      json_is_true(json_object_get(cfg, "nesterov")) ? "true" : "false");
    } else if (!strcmp(type, "rmsprop") || !strcmp(type, "adadelta")) {
        opt_number(t, cfg, "rho", "rho", 0.0, 1.0);
    } else if (!strcmp(type, "adagrad")) {
        opt_number(t, cfg, "initial_accumulator_value", "initial_accumulator_value", 0.0, 1e6);
    } else {
        opt_number(t, cfg, "beta_1", "beta_1", 0.0, 0.999999);
        opt_number(t, cfg, "beta_2", "beta_2", 0.0, 0.999999);
        if (!strcmp(type, "adam") && json_is_true(json_object_get(cfg, "amsgrad")))
            kx_printf(t, " amsgrad = true;");
    }
    kx_printf(t, " };");
}

/* Keras before tf.keras 2.2 (standalone Keras up to 2.3.x, tf.keras up to
 * "2.2.4-tf") resolved "accuracy" from the loss: binary accuracy for
 * binary_crossentropy whatever the output's width. */
static bool loss_resolved_accuracy(const char *keras_version)
{
    int major = 0, minor = 0;
    if (!keras_version || sscanf(keras_version, "%d.%d", &major, &minor) != 2)
        return false;
    return major < 2 || (major == 2 && (minor < 3 || (minor == 3 && !strstr(keras_version, "-tf"))));
}

nn_status kx_train_text(const char *json_text, const char *what, const kx_outputs *outs,
                        const char *keras_version, char **text, nn_error *err)
{
    *text = NULL;
    kx_layer L = {.what = what, .err = err};
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: not valid JSON (line %d: %s)", what, je.line,
                       je.text);
    if (outs && outs->n < 1)
        outs = NULL;
    kx_text t = {0};
    bool sparse[NN_MAX_IO] = {false}, binary[NN_MAX_IO] = {false}, by_output = false;
    bool legacy = loss_resolved_accuracy(keras_version);
    metric_set ms[NN_MAX_IO];
    kx_printf(&t, "train: {");
    nn_status st = json_is_object(root)
                       ? write_loss(&L, json_object_get(root, "loss"), outs, &t, sparse, binary)
                       : kx_fail(&L, "not a JSON object");
    if (!st)
        st = write_weights(&L, json_object_get(root, "loss_weights"), outs, &t);
    for (int k = 0; k < NN_MAX_IO; k++)
        binary[k] &= legacy;
    if (!st)
        st = read_metrics(&L, json_object_get(root, "metrics"), outs, sparse, binary, ms,
                          &by_output);
    if (!st) {
        if (by_output) {
            kx_printf(&t, " metrics = {");
            for (int k = 0; k < outs->n; k++) {
                kx_printf(&t, " %s = ", outs->name[k]);
                write_metric_list(&t, &ms[k]);
                kx_printf(&t, ";");
            }
            kx_printf(&t, " };");
        } else if (ms[0].n) {
            kx_printf(&t, " metrics = ");
            write_metric_list(&t, &ms[0]);
            kx_printf(&t, ";");
        }
        write_optimizer(json_object_get(root, "optimizer_config"), &t);
        kx_printf(&t, " };\n");
        if (t.oom)
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory converting %s", what);
    }
    json_decref(root);
    if (st) {
        free(t.s);
        return st;
    }
    *text = t.s;
    return NN_OK;
}

nn_status nn_keras_train_text(const char *json_text, const char *what, char **text,
                              nn_error *err)
{
    return kx_train_text(json_text, what, NULL, NULL, text, err);
}

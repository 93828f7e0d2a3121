/* Keras's training_config (what compile() was given) to an nnctl `train`
 * group: the loss (required; it decides what eval reports), the metrics
 * nnctl has (others are left out), and the optimizer where it maps (only
 * training would use it; one that does not map becomes plain sgd). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/keras_import.h"
#include "io/keras_import_internal.h"
#include "train/metrics.h"

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

static nn_status write_loss(const kx_layer *L, json_t *loss, kx_text *t, const char **sparse)
{
    const char *name = NULL;
    json_t *cfg = NULL;
    if (json_is_string(loss)) {
        name = json_string_value(loss);
    } else if (json_is_object(loss) && json_is_string(json_object_get(loss, "class_name"))) {
        /* {"class_name": "CategoricalCrossentropy", "config": {...}}, or a
         * function: {"class_name": "function", "config": "mse"} */
        cfg = json_object_get(loss, "config");
        name = json_string_value(json_is_string(cfg) ? cfg : json_object_get(loss, "class_name"));
    } else if (json_is_array(loss) || json_is_object(loss)) {
        return kx_fail(L, "a loss per output is not supported (nnctl models have one output)");
    }
    if (!name)
        return kx_fail(L, "no loss");
    const char *mapped = lookup(losses, sizeof losses / sizeof losses[0], name);
    if (!mapped)
        return kx_fail(L, "loss %s has no nnctl equivalent", name);
    if (json_is_object(cfg)) {
        if (json_is_true(json_object_get(cfg, "from_logits")))
            return kx_fail(L, "loss %s with from_logits = true is not supported (nnctl's "
                              "cross-entropy takes probabilities, as from a softmax/sigmoid)",
                           name);
        json_t *ls = json_object_get(cfg, "label_smoothing");
        if (json_is_number(ls) && json_number_value(ls) != 0.0)
            return kx_fail(L, "loss %s with label_smoothing is not supported", name);
    }
    kx_printf(t, " loss = \"%s\";", mapped);
    *sparse = strncmp(mapped, "sparse_", 7) == 0 ? "sparse" : "dense";
    return NN_OK;
}

/* Metric names out of strings, {class_name, config: {name}} objects and
 * the nested per-output lists tf.keras writes. */
static void collect_metrics(json_t *v, const char **names, long long *ks, int *n, bool sparse)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) collect_metrics(e, names, ks, n, sparse);
        return;
    }
    const char *name = NULL;
    long long k = 5;
    if (json_is_string(v)) {
        name = lookup(metrics, sizeof metrics / sizeof metrics[0], json_string_value(v));
    } else if (json_is_object(v)) {
        json_t *cfg = json_object_get(v, "config");
        json_t *nm = json_object_get(cfg, "name"), *cn = json_object_get(v, "class_name");
        if (json_is_string(nm))
            name = lookup(metrics, sizeof metrics / sizeof metrics[0], json_string_value(nm));
        if (!name && json_is_string(cn))
            name = lookup(metrics, sizeof metrics / sizeof metrics[0], json_string_value(cn));
        kx_as_int(json_object_get(cfg, "k"), &k);
    }
    if (!name || *n == NN_MAX_METRICS || k < 1 || k > (1 << 20))
        return;
    /* metrics of the other target kind would be refused with the loss */
    bool sparse_metric = !strncmp(name, "sparse_", 7);
    bool dense_metric = !strcmp(name, "categorical_accuracy") ||
                        !strcmp(name, "top_k_categorical_accuracy");
    if ((sparse_metric && !sparse) || (dense_metric && sparse))
        return;
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], name) && ks[i] == k)
            return;
    names[*n] = name;
    ks[(*n)++] = k;
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

nn_status nn_keras_train_text(const char *json_text, const char *what, char **text,
                              nn_error *err)
{
    *text = NULL;
    kx_layer L = {.what = what, .err = err};
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: not valid JSON (line %d: %s)", what, je.line,
                       je.text);
    kx_text t = {0};
    const char *kind = NULL;
    kx_printf(&t, "train: {");
    nn_status st = json_is_object(root)
                       ? write_loss(&L, json_object_get(root, "loss"), &t, &kind)
                       : kx_fail(&L, "not a JSON object");
    if (!st) {
        const char *names[NN_MAX_METRICS];
        long long ks[NN_MAX_METRICS];
        int n = 0;
        collect_metrics(json_object_get(root, "metrics"), names, ks, &n,
                        !strcmp(kind, "sparse"));
        if (n) {
            kx_printf(&t, " metrics = (");
            for (int i = 0; i < n; i++) {
                kx_printf(&t, "%s{ type = \"%s\";", i ? ", " : " ", names[i]);
                if (strstr(names[i], "top_k"))
                    kx_printf(&t, " k = %lld;", ks[i]);
                kx_printf(&t, " }");
            }
            kx_printf(&t, " );");
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

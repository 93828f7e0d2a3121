/* F1 score as a stateful metric (a plugin for nnctl), like Keras 3's
 * F1Score: true positives, false positives and false negatives counted
 * over every batch of the epoch, F1 = 2 TP / (2 TP + FP + FN) at the end
 * (per class for several classes, then averaged: "macro").
 *
 * One output unit: a prediction >= threshold is positive, the target is
 * 0/1. Several units (softmax): the predicted class is the largest unit,
 * the target a one-hot row.
 *
 *   cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) f1_metric.c -o f1_metric.so
 *   train: { metrics = ["accuracy", { type = "f1"; threshold = 0.5; }]; };
 */
#include <stdlib.h>

#include <nnctl/plugin.h>

#define MAX_CLASSES 21 /* 3 counts a class in the 64 doubles nnctl keeps */

static const nnctl_host *H;

typedef struct {
    double threshold;
} f1;

static nnctl_status create(nnctl_settings *s, void **inst, nnctl_error *err)
{
    f1 *m = malloc(sizeof *m);
    if (!m)
        return H->fail(err, "out of memory");
    if (H->get_float(s, "threshold", 0, 0.5, 0.0, 1.0, &m->threshold, err)) {
        free(m);
        return NNCTL_ERROR;
    }
    *inst = m;
    return NNCTL_OK;
}

static void destroy(void *inst) { free(inst); }

/* state: [0] classes seen (0 before the first batch), then TP, FP, FN per
 * class */
static nnctl_status update(void *inst, double *state, const float *y_pred, const float *y_true,
                           int rows, int cols, nnctl_error *err)
{
    const f1 *m = inst;
    int classes = cols == 1 ? 1 : cols;
    if (classes > MAX_CLASSES)
        return H->fail(err, "f1 counts at most %d classes, the output has %d", MAX_CLASSES,
                       classes);
    state[0] = classes;
    double *c = state + 1;
    for (int r = 0; r < rows; r++) {
        const float *p = y_pred + (size_t)r * cols, *t = y_true + (size_t)r * cols;
        if (cols == 1) {
            int pred = p[0] >= m->threshold, truth = t[0] >= 0.5f;
            c[0] += pred && truth;
            c[1] += pred && !truth;
            c[2] += !pred && truth;
            continue;
        }
        int pk = 0, tk = 0;
        for (int k = 1; k < cols; k++) {
            if (p[k] > p[pk])
                pk = k;
            if (t[k] > t[tk])
                tk = k;
        }
        if (pk == tk) {
            c[3 * pk] += 1; /* a true positive of its class */
        } else {
            c[3 * pk + 1] += 1; /* a false positive of the predicted class */
            c[3 * tk + 2] += 1; /* a false negative of the true one */
        }
    }
    return NNCTL_OK;
}

static double result(void *inst, const double *state)
{
    (void)inst;
    int classes = (int)state[0];
    if (classes == 0)
        return 0.0;
    double sum = 0.0;
    for (int k = 0; k < classes; k++) {
        const double *c = state + 1 + 3 * k;
        double d = 2 * c[0] + c[1] + c[2];
        sum += d > 0 ? 2 * c[0] / d : 0.0;
    }
    return sum / classes;
}

static const nnctl_key_doc keys[] = {
    {"threshold", "float", "0.5", "one output unit: predictions at or above it are positive"},
    {NULL, NULL, NULL, NULL},
};

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "f1_metric", "1.0",
                             "F1 score over the epoch (macro average for several classes)"))
        return NNCTL_ERROR;
    static const nnctl_metric_desc d = {
        .size = sizeof d,
        .name = "f1",
        .keras_class = "F1Score",
        .doc = "2 TP / (2 TP + FP + FN) over the whole epoch, averaged over classes",
        .keys = keys,
        .create = create,
        .destroy = destroy,
        .state_count = 1 + 3 * MAX_CLASSES,
        .maximize = 1,
        .update = update,
        .result = result,
    };
    return host->add_metric(reg, &d);
}

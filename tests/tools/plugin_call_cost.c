/* plugin_call_cost: what a plugin callback costs the fit loop per batch,
 * for scripts/bench-plugins.
 *
 *   build/tools/plugin_call_cost RUN_DIR CALLS PLUGIN.so TYPE [PLUGIN.so TYPE]...
 *
 * For each plugin callback TYPE (with its defaults, run directory RUN_DIR),
 * does what the fit loop does after a batch when a callback wants batches
 * (src/train/fit.c): the running logs (loss and accuracy), the wants_batch
 * test and batch_end through the callback's row, CALLS times in a round,
 * 7 rounds; then the same loop without the call (the logs alone). Prints
 * the fastest and the median round in nanoseconds per batch:
 *   TYPE logs_ns=A call_ns=B (median A' B')
 * call_ns: logs, test and call together, what a batch pays for the
 * callback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin/loader.h"
#include "spec/spec.h"
#include "train/callbacks/callback.h"
#include "train/logs.h"
#include "train/train_spec.h"

#define ROUNDS 7

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile double sink;

/* the running means as fit.c's running_logs makes them */
static void fill(nn_logs *l, double loss_sum, double acc_sum, double seen)
{
    l->n = 0;
    nn_logs_set(l, "loss", loss_sum / seen);
    nn_logs_set(l, "accuracy", acc_sum / seen);
}

static int run(const char *dir, long calls, const char *so, const char *type)
{
    nn_error err = {0};
    if (nn_plugin_load(so, &err)) {
        fprintf(stderr, "plugin_call_cost: %s\n", err.msg);
        return 1;
    }
    char text[512];
    snprintf(text, sizeof text, "train = { callbacks = ( { type = \"%s\"; } ); };", type);
    nn_spec *s;
    nn_spec_node *train;
    static nn_train_cfg t;
    memset(&t, 0, sizeof t);
    if (nn_spec_load_string(&s, text, "bench.cfg", &err) ||
        nn_spec_group(nn_spec_root(s), "train", true, &train, &err) ||
        nn_spec_callbacks(train, &t, &err)) {
        fprintf(stderr, "plugin_call_cost: %s\n", err.msg);
        return 1;
    }
    nn_callback *cb = (nn_callback *)nn_train_callback(&t, type);
    nn_fit_ctx c = {.train = &t, .run_dir = dir, .out = stdout, .epochs = 1, .steps = calls,
                    .samples = (size_t)calls * 128, .root = true};
    if (!cb || !cb->type->batch_end ||
        (cb->type->train_begin && cb->type->train_begin(cb, &c, &err))) {
        fprintf(stderr, "plugin_call_cost: %s: %s\n", type,
                err.msg[0] ? err.msg : "no batch_end");
        return 1;
    }
    static nn_logs running;
    double with[ROUNDS], without[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double loss = 0.0, acc = 0.0, seen = 0.0;
        double t0 = now();
        for (long i = 0; i < calls; i++) {
            loss += 0.3 * 128, acc += 0.9 * 128, seen += 128;
            fill(&running, loss, acc, seen);
            sink = running.values[0];
        }
        without[r] = (now() - t0) / (double)calls * 1e9;
        loss = acc = seen = 0.0;
        c.epoch = r;
        t0 = now();
        for (long i = 0; i < calls; i++) {
            loss += 0.3 * 128, acc += 0.9 * 128, seen += 128;
            c.step = i;
            fill(&running, loss, acc, seen);
            if ((!cb->type->wants_batch || cb->type->wants_batch(cb, &c)) &&
                cb->type->batch_end(cb, &c, &running, &err)) {
                fprintf(stderr, "plugin_call_cost: %s\n", err.msg);
                return 1;
            }
        }
        with[r] = (now() - t0) / (double)calls * 1e9;
    }
    if (cb->type->train_end && cb->type->train_end(cb, &c, &err)) {
        fprintf(stderr, "plugin_call_cost: %s\n", err.msg);
        return 1;
    }
    qsort(with, ROUNDS, sizeof *with, cmp);
    qsort(without, ROUNDS, sizeof *without, cmp);
    printf("%s logs_ns=%.1f call_ns=%.1f (median %.1f %.1f)\n", type, without[0], with[0],
           without[ROUNDS / 2], with[ROUNDS / 2]);
    nn_spec_free(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc % 2 == 0) {
        fprintf(stderr, "usage: plugin_call_cost RUN_DIR CALLS PLUGIN.so TYPE [PLUGIN.so TYPE]...\n");
        return 2;
    }
    long calls = atol(argv[2]);
    if (calls < 1)
        calls = 1;
    for (int i = 3; i + 1 < argc; i += 2)
        if (run(argv[1], calls, argv[i], argv[i + 1]))
            return 1;
    return 0;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/callbacks/callbacks.h"
#include "train/train_spec.h"

static const char *const modes[] = {"auto", "min", "max", NULL};

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

/* A monitor must name a logged quantity: loss, a metric, or their val_. */
static nn_status check_monitor(nn_spec_node *g, const char *key, const char *monitor,
                               const nn_train_cfg *c, nn_error *err)
{
    const char *cands[2 * (NN_MAX_METRICS + NN_MAX_IO) + 2];
    char names[NN_MAX_METRICS + NN_MAX_IO][2][140];
    int n = 0, k = 0;
    cands[n++] = "loss";
    cands[n++] = "val_loss";
    for (int i = 0; c->n_outputs > 1 && i < c->n_outputs; i++, k++)
        nn_head_loss_name(c, i, names[k][0], sizeof names[k][0]);
    for (int i = 0; i < c->n_metrics; i++, k++)
        snprintf(names[k][0], sizeof names[k][0], "%s", c->metrics[i].name);
    for (int i = 0; i < k; i++) {
        snprintf(names[i][1], sizeof names[i][1], "val_%s", names[i][0]);
        cands[n++] = names[i][0];
        cands[n++] = names[i][1];
    }
    for (int i = 0; i < n; i++)
        if (strcmp(cands[i], monitor) == 0)
            return NN_OK;
    const char *guess = nn_did_you_mean(monitor, cands, n);
    return nn_spec_fail(g, key, err, NN_ERR_USAGE,
                        "\"%s\" is not logged (loss, metrics and their val_ forms are)%s%s%s",
                        monitor, guess ? "; did you mean \"" : "", guess ? guess : "",
                        guess ? "\"?" : "");
}

static nn_status parse_early_stopping(nn_spec_node *cb, nn_train_cfg *c, nn_error *err)
{
    nn_spec_node *g;
    nn_status st = nn_spec_group(cb, "early_stopping", false, &g, err);
    if (st || !g)
        return st;
    nn_early_stopping_cfg *e = &c->early_stopping;
    const char *monitor;
    int mode;
    if ((st = nn_spec_bool(g, "enabled", false, true, &e->enabled, err)) ||
        (st = nn_spec_string(g, "monitor", false, "val_loss", &monitor, err)) ||
        (st = nn_spec_float(g, "min_delta", false, 0.0, -1e30, 1e30, &e->min_delta, err)) ||
        (st = nn_spec_int(g, "patience", false, 0, 0, 1LL << 40, &e->patience, err)) ||
        (st = nn_spec_int(g, "start_from_epoch", false, 0, 0, 1LL << 40, &e->start_from_epoch,
                          err)) ||
        (st = nn_spec_choice(g, "mode", false, modes, 0, &mode, err)) ||
        (st = nn_spec_bool(g, "restore_best_weights", false, false, &e->restore_best_weights,
                           err)))
        return st;
    e->has_baseline = nn_spec_has(g, "baseline");
    if (e->has_baseline &&
        (st = nn_spec_float(g, "baseline", true, 0.0, -1e30, 1e30, &e->baseline, err)))
        return st;
    e->mode = (nn_monitor_mode)mode;
    snprintf(e->monitor, sizeof e->monitor, "%s", monitor);
    if ((st = check_monitor(g, "monitor", monitor, c, err)))
        return st;
    return nn_spec_check_unknown(g, err);
}

/* Validates a Python-style template: {epoch[:02d]} and {<logged>[:.4f]}. */
static nn_status check_template(nn_spec_node *g, const char *path, const nn_train_cfg *c,
                                nn_error *err)
{
    for (const char *p = path; *p; p++) {
        if (*p == '}')
            return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "unmatched '}' in \"%s\"", path);
        if (*p != '{')
            continue;
        const char *end = strchr(p, '}');
        if (!end)
            return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "unmatched '{' in \"%s\"", path);
        char field[96];
        size_t len = (size_t)(end - p - 1);
        if (len >= sizeof field)
            len = sizeof field - 1;
        memcpy(field, p + 1, len);
        field[len] = '\0';
        char *colon = strchr(field, ':');
        if (colon)
            *colon = '\0';
        if (strcmp(field, "epoch") != 0) {
            nn_status st = check_monitor(g, "path", field, c, err);
            if (st)
                return st;
        }
        p = end;
    }
    /* Try the formats now, on made-up values, so a bad one fails before
     * training rather than after the first epoch. */
    nn_logs logs = {0};
    nn_logs_set(&logs, "loss", 0.5);
    nn_logs_set(&logs, "val_loss", 0.5);
    for (int i = 0; i < c->n_metrics; i++) {
        char name[80];
        nn_logs_set(&logs, c->metrics[i].name, 0.5);
        snprintf(name, sizeof name, "val_%s", c->metrics[i].name);
        nn_logs_set(&logs, name, 0.5);
    }
    char out[4096];
    nn_error inner;
    if (nn_format_template(path, 0, &logs, out, sizeof out, &inner))
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "%s", inner.msg);
    return NN_OK;
}

static nn_status parse_checkpoint(nn_spec_node *cb, nn_train_cfg *c, nn_error *err)
{
    nn_spec_node *g;
    nn_status st = nn_spec_group(cb, "checkpoint", false, &g, err);
    if (st || !g)
        return st;
    nn_checkpoint_cfg *k = &c->checkpoint;
    const char *monitor, *path;
    int mode;
    if ((st = nn_spec_bool(g, "enabled", false, true, &k->enabled, err)) ||
        (st = nn_spec_string(g, "path", false, "ckpt-{epoch:02d}.h5", &path, err)) ||
        (st = nn_spec_string(g, "monitor", false, "val_loss", &monitor, err)) ||
        (st = nn_spec_choice(g, "mode", false, modes, 0, &mode, err)) ||
        (st = nn_spec_bool(g, "save_best_only", false, false, &k->save_best_only, err)) ||
        (st = nn_spec_bool(g, "save_weights_only", false, false, &k->save_weights_only, err)) ||
        (st = nn_spec_bool(g, "verbose", false, true, &k->verbose, err)))
        return st;
    k->mode = (nn_monitor_mode)mode;
    snprintf(k->path, sizeof k->path, "%s", path);
    snprintf(k->monitor, sizeof k->monitor, "%s", monitor);
    if ((st = check_monitor(g, "monitor", monitor, c, err)) ||
        (st = check_template(g, path, c, err)))
        return st;
    return nn_spec_check_unknown(g, err);
}

static nn_status parse_history(nn_spec_node *cb, nn_train_cfg *c, nn_error *err)
{
    nn_history_cfg *h = &c->history;
    h->enabled = true;
    h->separator = ',';
    snprintf(h->path, sizeof h->path, "history.csv");
    if (!cb)
        return NN_OK;
    nn_spec_node *g;
    nn_status st = nn_spec_group(cb, "history", false, &g, err);
    if (st || !g)
        return st;
    const char *path, *sep;
    if ((st = nn_spec_bool(g, "enabled", false, true, &h->enabled, err)) ||
        (st = nn_spec_string(g, "path", false, "history.csv", &path, err)) ||
        (st = nn_spec_string(g, "separator", false, ",", &sep, err)) ||
        (st = nn_spec_bool(g, "append", false, false, &h->append, err)))
        return st;
    if (strlen(sep) != 1)
        return nn_spec_fail(g, "separator", err, NN_ERR_USAGE,
                            "expected a single character, got \"%s\"", sep);
    h->separator = sep[0];
    snprintf(h->path, sizeof h->path, "%s", path);
    return nn_spec_check_unknown(g, err);
}

/* update_freq: "epoch", "batch" (= 1) or a number of batches, as Keras. */
static nn_status parse_update_freq(nn_spec_node *g, long long *out, nn_error *err)
{
    static const char *const words[] = {"epoch", "batch", NULL};
    const char *s;
    nn_error scratch;
    if (nn_spec_string(g, "update_freq", false, "epoch", &s, &scratch) == NN_OK) {
        /* digits as a string: what --set gives a key that held "batch" */
        if (s[0] && strspn(s, "0123456789") == strlen(s)) {
            *out = strlen(s) <= 12 ? strtoll(s, NULL, 10) : 0;
            if (*out >= 1)
                return NN_OK;
            return nn_spec_fail(g, "update_freq", err, NN_ERR_USAGE,
                                "expected \"epoch\", \"batch\" or a number of batches (an "
                                "integer >= 1), got %s",
                                s);
        }
        int which;
        nn_status st = nn_spec_choice(g, "update_freq", false, words, 0, &which, err);
        *out = which; /* epoch: 0, batch: 1 */
        return st;
    }
    if (nn_spec_int(g, "update_freq", true, 0, LLONG_MIN, LLONG_MAX, out, &scratch) == NN_OK)
        return nn_spec_int(g, "update_freq", true, 0, 1, 1LL << 40, out, err);
    return nn_spec_fail(g, "update_freq", err, NN_ERR_USAGE,
                        "expected \"epoch\", \"batch\" or a number of batches (an integer >= 1)");
}

static nn_status parse_tensorboard(nn_spec_node *cb, nn_train_cfg *c, nn_error *err)
{
    nn_spec_node *g;
    nn_status st = nn_spec_group(cb, "tensorboard", false, &g, err);
    if (st || !g)
        return st;
    nn_tensorboard_cfg *k = &c->tensorboard;
    const char *dir;
    if ((st = nn_spec_bool(g, "enabled", false, true, &k->enabled, err)) ||
        (st = nn_spec_string(g, "log_dir", false, "tb", &dir, err)) ||
        (st = nn_spec_int(g, "histogram_freq", false, 0, 0, 1LL << 40, &k->histogram_freq,
                          err)) ||
        (st = parse_update_freq(g, &k->update_freq, err)))
        return st;
    if (!dir[0])
        return nn_spec_fail(g, "log_dir", err, NN_ERR_USAGE, "expected a directory, got \"\"");
    snprintf(k->log_dir, sizeof k->log_dir, "%s", dir);
    return nn_spec_check_unknown(g, err);
}

void nn_head_loss_name(const nn_train_cfg *t, int head, char *buf, size_t len)
{
    if (t->n_outputs > 1)
        snprintf(buf, len, "%s_loss", t->output_names[head]);
    else
        snprintf(buf, len, "loss");
}

/* train.loss: one name for every output, or { output = "loss"; ... }
 * naming each output; train.loss_weights = { output = w; ... }. */
static nn_status parse_losses(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    nn_status st;
    c->n_outputs = m->n_outputs;
    for (int k = 0; k < m->n_outputs; k++) {
        snprintf(c->output_names[k], sizeof c->output_names[k], "%s", m->outputs[k]->name);
        c->loss_weights[k] = 1.0;
    }
    if (nn_spec_is_group(t, "loss")) {
        nn_spec_node *g;
        if ((st = nn_spec_group(t, "loss", true, &g, err)))
            return st;
        for (int k = 0; k < m->n_outputs; k++)
            if ((st = nn_spec_loss_key(g, c->output_names[k], &c->losses[k], err)))
                return st;
        if ((st = nn_spec_check_unknown(g, err)))
            return st;
        c->loss_by_output = true;
    } else {
        if ((st = nn_spec_loss(t, &c->losses[0], err)))
            return st;
        for (int k = 1; k < m->n_outputs; k++)
            c->losses[k] = c->losses[0];
    }
    c->loss = c->losses[0];
    nn_spec_node *w;
    if ((st = nn_spec_group(t, "loss_weights", false, &w, err)) || !w)
        return st;
    for (int k = 0; k < m->n_outputs; k++)
        if ((st = nn_spec_float(w, c->output_names[k], false, 1.0, 0.0, 1e30, &c->loss_weights[k],
                                err)))
            return st;
    if ((st = nn_spec_check_unknown(w, err)))
        return st;
    c->weights_given = true;
    return NN_OK;
}

/* train.metrics: a list every output takes (Keras's list form), or a
 * group of one list per output by name (Keras's dict form; an output left
 * out gets none). With several outputs each is logged as
 * "<output>_<metric>". */
static nn_status parse_metrics(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    c->n_metrics = 0;
    nn_spec_node *node = t;
    nn_status st;
    bool by_output = nn_spec_is_group(t, "metrics");
    if (by_output && (st = nn_spec_group(t, "metrics", true, &node, err)))
        return st;
    for (int k = 0; k < m->n_outputs; k++) {
        const nn_node *out = m->outputs[k];
        int units = out->ndim ? out->shape[out->ndim - 1] : 1, n;
        nn_metric *dst = c->metrics + c->n_metrics;
        if (c->n_metrics + NN_MAX_METRICS_PER_OUTPUT > NN_MAX_METRICS)
            return nn_spec_fail(t, "metrics", err, NN_ERR_USAGE,
                                "at most %d metrics over all outputs", NN_MAX_METRICS);
        const char *key = by_output ? c->output_names[k] : "metrics";
        if ((st = nn_spec_metrics(node, key, c->losses[k], units, dst, &n, err)))
            return st;
        for (int i = 0; i < n; i++) {
            dst[i].head = k;
            if (m->n_outputs > 1)
                snprintf(dst[i].name, sizeof dst[i].name, "%s_%s", out->name, dst[i].base);
        }
        c->n_metrics += n;
    }
    /* a key that names no output: did-you-mean from the outputs' names */
    return by_output ? nn_spec_check_unknown(node, err) : NN_OK;
}

nn_status nn_spec_train(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    static const char *const engines[] = {"cpu", "gpu", NULL};
    memset(c, 0, sizeof *c);
    nn_status st;
    int engine;
    if ((st = parse_losses(t, m, c, err)) || (st = nn_spec_optimizer(t, &c->optimizer, err)) ||
        (st = parse_metrics(t, m, c, err)) ||
        (st = nn_spec_int(t, "epochs", false, 1, 1, 1LL << 30, &c->epochs, err)) ||
        (st = nn_spec_int(t, "batch_size", false, 32, 1, 1 << 20, &c->batch_size, err)) ||
        (st = nn_spec_int(t, "seed", false, 1, 0, (long long)(~0ULL >> 1), &c->seed, err)) ||
        (st = nn_spec_int(t, "threads", false, 0, 0, 1024, &c->threads, err)) ||
        (st = nn_spec_choice(t, "engine", false, engines, 0, &engine, err)))
        return st;
    snprintf(c->engine, sizeof c->engine, "%s", engines[engine]);
    const char *init_from;
    if ((st = nn_spec_string(t, "init_from", false, "", &init_from, err)))
        return st;
    if (strlen(init_from) >= sizeof c->init_from)
        return nn_spec_fail(t, "init_from", err, NN_ERR_USAGE, "path too long");
    snprintf(c->init_from, sizeof c->init_from, "%s", init_from);
    nn_spec_node *cb;
    if ((st = nn_spec_group(t, "callbacks", false, &cb, err)))
        return st;
    if (cb && ((st = parse_early_stopping(cb, c, err)) || (st = parse_checkpoint(cb, c, err)) ||
               (st = parse_tensorboard(cb, c, err))))
        return st;
    if ((st = parse_history(cb, c, err)))
        return st;
    if (cb && (st = nn_spec_check_unknown(cb, err)))
        return st;
    return nn_spec_check_unknown(t, err);
}

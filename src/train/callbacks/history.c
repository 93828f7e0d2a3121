/* History CSV: epoch (from 0, as Keras's CSVLogger), every logged value,
 * the learning rate and the epoch's seconds. The whole file is rewritten
 * atomically each epoch, so a crash never leaves a torn line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "train/callbacks/callbacks.h"

static nn_status put(nn_history *h, const char *s, nn_error *err)
{
    size_t n = strlen(s);
    if (h->len + n + 1 > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4096;
        while (cap < h->len + n + 1)
            cap *= 2;
        char *grown = realloc(h->text, cap);
        if (!grown)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory writing the history");
        h->text = grown;
        h->cap = cap;
    }
    memcpy(h->text + h->len, s, n + 1);
    h->len += n;
    return NN_OK;
}

nn_status nn_history_open(nn_history *h, const nn_history_cfg *cfg, const char *run_dir,
                          nn_error *err)
{
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    if (!cfg->enabled)
        return NN_OK;
    if (cfg->path[0] == '/')
        snprintf(h->path, sizeof h->path, "%s", cfg->path);
    else
        snprintf(h->path, sizeof h->path, "%s/%s", run_dir, cfg->path);
    if (cfg->append) {
        char *old = NULL;
        size_t n = 0;
        nn_error ignore;
        if (nn_read_file(h->path, &old, &n, &ignore) == NN_OK) {
            nn_status st = put(h, old, err);
            free(old);
            if (st)
                return st;
            h->header_done = n > 0;
        }
    }
    return NN_OK;
}

nn_status nn_history_resume(nn_history *h, long long epochs, nn_error *err)
{
    if (!h->cfg || !h->cfg->enabled)
        return NN_OK;
    char *old = NULL;
    size_t n = 0;
    h->len = 0;
    h->header_done = false;
    if (h->text)
        h->text[0] = '\0';
    if (nn_read_file(h->path, &old, &n, err) != NN_OK) {
        if (epochs == 0)
            return NN_OK; /* stopped inside the first epoch: nothing logged yet */
        return nn_fail(err, NN_ERR_RUNTIME,
                       "cannot resume the history: '%s' is missing or unreadable", h->path);
    }
    /* header line + `epochs` data lines */
    size_t keep = 0;
    long long lines = 0;
    while (keep < n && lines < epochs + 1) {
        char *nl = memchr(old + keep, '\n', n - keep);
        if (!nl)
            break;
        keep = (size_t)(nl - old) + 1;
        lines++;
    }
    if (lines < epochs + 1) {
        free(old);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "cannot resume the history: '%s' has %lld epochs, the checkpoint %lld",
                       h->path, lines > 0 ? lines - 1 : 0, epochs);
    }
    old[keep] = '\0';
    nn_status st = keep ? put(h, old, err) : NN_OK;
    free(old);
    h->header_done = keep > 0;
    return st;
}

nn_status nn_history_append(nn_history *h, long long epoch, const nn_logs *logs, double time,
                            nn_error *err)
{
    if (!h->cfg || !h->cfg->enabled)
        return NN_OK;
    char sep[2] = {h->cfg->separator, '\0'}, buf[128];
    nn_status st = NN_OK;
    if (!h->header_done) {
        st = put(h, "epoch", err);
        for (int i = 0; !st && i < logs->n; i++) {
            if ((st = put(h, sep, err)))
                break;
            st = put(h, logs->names[i], err);
        }
        if (!st && !(st = put(h, sep, err)))
            st = put(h, "time", err);
        if (!st)
            st = put(h, "\n", err);
        h->header_done = true;
    }
    snprintf(buf, sizeof buf, "%lld", epoch);
    if (!st)
        st = put(h, buf, err);
    for (int i = 0; !st && i < logs->n; i++) {
        /* %.17g round-trips a double exactly: scripts get the true value. */
        snprintf(buf, sizeof buf, "%s%.17g", sep, logs->values[i]);
        st = put(h, buf, err);
    }
    snprintf(buf, sizeof buf, "%s%.3f\n", sep, time);
    if (!st)
        st = put(h, buf, err);
    if (st)
        return st;
    return nn_write_file_atomic(h->path, h->text, h->len, err);
}

void nn_history_close(nn_history *h)
{
    free(h->text);
    memset(h, 0, sizeof *h);
}

/* ---- the registry row ---- */

static nn_status hist_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                            nn_error *err)
{
    (void)t;
    nn_history_cfg *h = (nn_history_cfg *)cb->cfg;
    h->enabled = true;
    h->separator = ',';
    snprintf(h->path, sizeof h->path, "history.csv");
    if (!g)
        return NN_OK;
    const char *path, *sep;
    nn_status st;
    if ((st = nn_spec_bool(g, "enabled", false, true, &h->enabled, err)) ||
        (st = nn_spec_string(g, "path", false, "history.csv", &path, err)) ||
        (st = nn_spec_string(g, "separator", false, ",", &sep, err)) ||
        (st = nn_spec_bool(g, "append", false, false, &h->append, err)))
        return st;
    if (strlen(sep) != 1)
        return nn_spec_fail(g, "separator", err, NN_ERR_USAGE,
                            "expected a single character, got \"%s\"", sep);
    if (strlen(path) >= sizeof h->path)
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "path too long");
    h->separator = sep[0];
    snprintf(h->path, sizeof h->path, "%s", path);
    return NN_OK;
}

static nn_status hist_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    nn_history *h = calloc(1, sizeof *h);
    if (!h)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    cb->state = h;
    nn_status st = nn_history_open(h, (const nn_history_cfg *)cb->cfg, c->run_dir, err);
    if (!st && c->resumed)
        st = nn_history_resume(h, c->epoch, err);
    return st;
}

static nn_status hist_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                                nn_error *err)
{
    return nn_history_append(cb->state, c->epoch, logs, c->epoch_seconds, err);
}

static nn_status hist_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c, (void)err;
    if (cb->state)
        nn_history_close(cb->state);
    free(cb->state);
    cb->state = NULL;
    return NN_OK;
}

static const nn_doc_key hist_keys[] = {
    {"path", "string", "\"history.csv\"", "relative to the run directory"},
    {"separator", "string", "\",\"", "one character between columns"},
    {"append", "bool", "false", "add to an existing file instead of starting a new one"},
    {"enabled", "bool", "true", "false: no history file"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_history = {
    .root_only = true,
    .name = "history",
    .keras_class = "CSVLogger",
    .doc = "writes each epoch's logged values, learning rate and time to a CSV file (on by "
           "default)",
    .keys = hist_keys,
    .cfg_size = sizeof(nn_history_cfg),
    .parse = hist_parse,
    .train_begin = hist_train_begin,
    .epoch_end = hist_epoch_end,
    .train_end = hist_train_end,
};

/* ModelCheckpoint: a path template filled with {epoch} (from 1, as Keras)
 * and any logged value, saved every epoch or only on improvement. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/callbacks/callbacks.h"

void nn_checkpoint_begin(nn_checkpoint *c, const nn_checkpoint_cfg *cfg)
{
    c->cfg = cfg;
    c->maximize = nn_monitor_maximize(cfg->mode, cfg->monitor);
    c->best = c->maximize ? -INFINITY : INFINITY;
    c->have_best = false;
}

/* Turns a Python format spec ("02d", ".4f", ".2e", "") into printf's:
 * integers print as long long, everything else as double. */
static bool printf_spec(const char *spec, bool integer, char *out, size_t len)
{
    size_t n = strlen(spec);
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)spec[i]) && !strchr(".dfeEgG+- ", spec[i]))
            return false;
    char conv = n ? spec[n - 1] : (integer ? 'd' : 'g');
    if (!strchr("dfeEgG", conv) || (conv == 'd') != integer)
        return false;
    int flags = (int)(n ? n - 1 : 0);
    if (integer)
        snprintf(out, len, "%%%.*slld", flags, spec);
    else
        snprintf(out, len, "%%%.*s%c", flags, spec, conv);
    return true;
}

nn_status nn_format_template(const char *tmpl, long long epoch, const nn_logs *logs, char *out,
                             size_t len, nn_error *err)
{
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < len; p++) {
        if (*p != '{') {
            out[o++] = *p;
            continue;
        }
        const char *end = strchr(p, '}');
        if (!end)
            return nn_fail(err, NN_ERR_USAGE, "checkpoint path \"%s\": unmatched '{'", tmpl);
        char field[96], spec[32] = "", fmt[48];
        size_t flen = (size_t)(end - p - 1);
        if (flen >= sizeof field)
            flen = sizeof field - 1;
        memcpy(field, p + 1, flen);
        field[flen] = '\0';
        char *colon = strchr(field, ':');
        if (colon) {
            snprintf(spec, sizeof spec, "%s", colon + 1);
            *colon = '\0';
        }
        bool is_epoch = strcmp(field, "epoch") == 0;
        double v = 0.0;
        if (!is_epoch && !nn_logs_get(logs, field, &v))
            return nn_fail(err, NN_ERR_USAGE, "checkpoint path \"%s\": \"%s\" is not logged", tmpl,
                           field);
        if (is_epoch && spec[0] && spec[strlen(spec) - 1] != 'd')
            return nn_fail(err, NN_ERR_USAGE,
                           "checkpoint path \"%s\": {epoch} takes an integer format like 02d",
                           tmpl);
        if (!printf_spec(spec, is_epoch, fmt, sizeof fmt))
            return nn_fail(err, NN_ERR_USAGE, "checkpoint path \"%s\": bad format \"%s\"", tmpl,
                           spec);
        int w;
        if (is_epoch)
            w = snprintf(out + o, len - o, fmt, epoch + 1);
        else if (!spec[0]) {
            /* no format: the shortest text that reads back as the same
             * double, as Python's str() */
            char buf[40];
            for (int prec = 1; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, v);
                if (strtod(buf, NULL) == v)
                    break;
            }
            w = snprintf(out + o, len - o, "%s", buf);
        } else
            w = snprintf(out + o, len - o, fmt, v);
        if (w < 0 || (size_t)w >= len - o)
            return nn_fail(err, NN_ERR_USAGE, "checkpoint path too long");
        o += (size_t)w;
        p = end;
    }
    out[o] = '\0';
    return NN_OK;
}

nn_status nn_checkpoint_epoch_end(nn_checkpoint *c, long long epoch, const nn_logs *logs,
                                  const char *run_dir, bool *save, char *path, size_t len,
                                  char *message, size_t mlen, nn_error *err)
{
    *save = false;
    message[0] = '\0';
    if (!c->cfg->enabled)
        return NN_OK;
    char name[4096];
    nn_status st = nn_format_template(c->cfg->path, epoch, logs, name, sizeof name, err);
    if (st)
        return st;
    if (name[0] == '/')
        snprintf(path, len, "%s", name);
    else
        snprintf(path, len, "%s/%s", run_dir, name);
    if (!c->cfg->save_best_only) {
        *save = true;
        snprintf(message, mlen, "Epoch %lld: saving model to %s", epoch + 1, path);
        return NN_OK;
    }
    double current;
    if (!nn_logs_get(logs, c->cfg->monitor, &current))
        return NN_OK;
    bool better = c->maximize ? current > c->best : current < c->best;
    if (better) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.5f", c->best);
        snprintf(b, sizeof b, "%.5f", current);
        snprintf(message, mlen, "Epoch %lld: %s improved from %s to %s, saving model to %s",
                 epoch + 1, c->cfg->monitor, c->have_best ? a : (c->maximize ? "-inf" : "inf"), b,
                 path);
        c->best = current;
        c->have_best = true;
        *save = true;
    } else {
        snprintf(message, mlen, "Epoch %lld: %s did not improve from %.5f", epoch + 1,
                 c->cfg->monitor, c->best);
    }
    return NN_OK;
}

/* ---- the registry row ---- */

static const char *const modes[] = {"auto", "min", "max", NULL};

/* Validates a Python-style template: {epoch[:02d]} and {<logged>[:.4f]};
 * out gets it with each field as logged (Keras 2's "{val_acc:.2f}" is
 * "{val_accuracy:.2f}"). */
static nn_status check_template(nn_spec_node *g, const char *path, const nn_train_cfg *c,
                                char *out, size_t out_len, nn_error *err)
{
    size_t o = 0;
    for (const char *p = path; *p; p++) {
        if (*p == '}')
            return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "unmatched '}' in \"%s\"", path);
        if (*p != '{') {
            if (o + 1 < out_len)
                out[o++] = *p;
            continue;
        }
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
        const char *spec = colon ? strchr(p, ':') : end;
        if (colon)
            *colon = '\0';
        char logged[NN_LOGGED_NAME];
        snprintf(logged, sizeof logged, "%s", field);
        if (strcmp(field, "epoch") != 0) {
            nn_status st =
                nn_callback_check_monitor(g, "path", field, c, logged, sizeof logged, err);
            if (st)
                return st;
        }
        int w = snprintf(out + o, out_len - o, "{%s%.*s", logged, (int)(end - spec + 1), spec);
        if (w < 0 || (size_t)w >= out_len - o)
            return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "path too long");
        o += (size_t)w;
        p = end;
    }
    out[o < out_len ? o : out_len - 1] = '\0';
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
    char tried[4096];
    nn_error inner;
    if (nn_format_template(out, 0, &logs, tried, sizeof tried, &inner))
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "%s", inner.msg);
    return NN_OK;
}

static nn_status ck_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                          nn_error *err)
{
    nn_checkpoint_cfg *k = (nn_checkpoint_cfg *)cb->cfg;
    const char *monitor, *path;
    int mode;
    nn_status st;
    if ((st = nn_spec_bool(g, "enabled", false, true, &k->enabled, err)) ||
        (st = nn_spec_string(g, "path", false, "ckpt-{epoch:02d}.h5", &path, err)) ||
        (st = nn_spec_string(g, "monitor", false, "val_loss", &monitor, err)) ||
        (st = nn_spec_choice(g, "mode", false, modes, 0, &mode, err)) ||
        (st = nn_spec_bool(g, "save_best_only", false, false, &k->save_best_only, err)) ||
        (st = nn_spec_bool(g, "save_weights_only", false, false, &k->save_weights_only, err)) ||
        (st = nn_spec_bool(g, "verbose", false, true, &k->verbose, err)))
        return st;
    k->mode = (nn_monitor_mode)mode;
    if (strlen(path) >= sizeof k->path)
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "path too long");
    if ((st = nn_callback_check_monitor(g, "monitor", monitor, t, k->monitor, sizeof k->monitor,
                                        err)))
        return st;
    return check_template(g, path, t, k->path, sizeof k->path, err);
}

static const char *ck_monitor(const nn_callback *cb)
{
    const nn_checkpoint_cfg *k = (const nn_checkpoint_cfg *)cb->cfg;
    return k->enabled && k->save_best_only ? k->monitor : NULL;
}

static nn_status ck_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c;
    nn_checkpoint *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    cb->state = s;
    nn_checkpoint_begin(s, (const nn_checkpoint_cfg *)cb->cfg);
    return NN_OK;
}

static nn_status ck_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                              nn_error *err)
{
    nn_checkpoint *s = cb->state;
    bool save;
    char path[4096], msg[4300];
    nn_status st = nn_checkpoint_epoch_end(s, c->epoch, logs, c->run_dir, &save, path,
                                           sizeof path, msg, sizeof msg, err);
    if (st)
        return st;
    if (msg[0] && s->cfg->verbose && !c->quiet)
        fprintf(c->out, "%s\n", msg);
    return save ? nn_fit_request_save(c, path, s->cfg->save_weights_only, err) : NN_OK;
}

static nn_status ck_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c, (void)err;
    free(cb->state);
    cb->state = NULL;
    return NN_OK;
}

static json_t *ck_save_state(const nn_callback *cb)
{
    const nn_checkpoint *s = cb->state;
    return json_pack("{s:o, s:b}", "best", isfinite(s->best) ? json_real(s->best) : json_null(),
                     "have_best", s->have_best);
}

static void ck_load_state(nn_callback *cb, const json_t *j)
{
    nn_checkpoint *s = cb->state;
    json_t *best = json_object_get(j, "best");
    if (json_is_true(json_object_get(j, "have_best")) && json_is_number(best)) {
        s->best = json_number_value(best);
        s->have_best = true;
    }
}

static const nn_doc_key ck_keys[] = {
    {"path", "string", "\"ckpt-{epoch:02d}.h5\"",
     "file name template ({epoch}, {val_loss:.4f}, ...), relative to the run directory"},
    {"monitor", "string", "\"val_loss\"", "the logged value save_best_only watches"},
    {"mode", "string", "\"auto\"", "auto, min or max"},
    {"save_best_only", "bool", "false", "save only when the monitor improves"},
    {"save_weights_only", "bool", "false", "weights without the optimizer state"},
    {"verbose", "bool", "true", "say when and why a file is written"},
    {"enabled", "bool", "true", "false turns the callback off"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_checkpoint = {
    .name = "checkpoint",
    .keras_class = "ModelCheckpoint",
    .doc = "saves the model every epoch or when a monitored value improves",
    .keys = ck_keys,
    .cfg_size = sizeof(nn_checkpoint_cfg),
    .parse = ck_parse,
    .monitor = ck_monitor,
    .train_begin = ck_train_begin,
    .epoch_end = ck_epoch_end,
    .train_end = ck_train_end,
    .save_state = ck_save_state,
    .load_state = ck_load_state,
};

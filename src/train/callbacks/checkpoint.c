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

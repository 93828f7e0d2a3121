/* EarlyStopping with Keras's semantics: an epoch improves when
 * current - min_delta beats best (sign flipped for "min"); the wait counter
 * resets only when the value beats both best and the baseline; an epoch
 * that improves never stops training; otherwise training stops when
 * wait >= patience (and not on the first epoch). Unlike Keras 2,
 * restore_best_weights restores at the end of training whether or not this
 * callback stopped it (Keras 3's behaviour; Keras 2's surprised users). */
#include <math.h>

#include "train/callbacks/callbacks.h"

void nn_early_stopping_begin(nn_early_stopping *s, const nn_early_stopping_cfg *cfg)
{
    s->cfg = cfg;
    s->maximize = nn_monitor_maximize(cfg->mode, cfg->monitor);
    s->best = s->maximize ? -INFINITY : INFINITY;
    s->wait = 0;
    s->best_epoch = 0;
    s->stopped_epoch = -1;
    s->have_best = false;
}

static bool improves(const nn_early_stopping *s, double current, double reference)
{
    double delta = fabs(s->cfg->min_delta);
    return s->maximize ? current - delta > reference : current + delta < reference;
}

bool nn_early_stopping_epoch_end(nn_early_stopping *s, long long epoch, const nn_logs *logs,
                                 bool *improved)
{
    *improved = false;
    double current;
    if (!s->cfg->enabled || !nn_logs_get(logs, s->cfg->monitor, &current))
        return false;
    if (epoch < s->cfg->start_from_epoch)
        return false;
    s->wait++;
    if (improves(s, current, s->best)) {
        s->best = current;
        s->best_epoch = epoch;
        s->have_best = true;
        *improved = true;
        if (!s->cfg->has_baseline || improves(s, current, s->cfg->baseline))
            s->wait = 0;
        return false; /* an improving epoch never stops training (Keras) */
    }
    if (s->wait >= s->cfg->patience && epoch > 0) {
        s->stopped_epoch = epoch;
        return true;
    }
    return false;
}

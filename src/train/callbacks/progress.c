/* Keras-style progress: "Epoch 1/20" then
 * "469/469 [==============================] - 2s 4ms/step - loss: 0.2101 - ..."
 * redrawn in place on a terminal (at most 10 times a second); one line per
 * epoch otherwise, so logs of batch jobs stay short. The epoch's last line
 * ends with the peak resident memory (and the GPU engine's device memory). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "train/callbacks/callbacks.h"
#include "util/memory.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void per_step(double seconds, long long steps, char *buf, size_t len)
{
    double s = steps ? seconds / (double)steps : 0.0;
    if (s >= 1.0)
        snprintf(buf, len, "%.0fs/step", s);
    else if (s >= 1e-3)
        snprintf(buf, len, "%.0fms/step", s * 1e3);
    else
        snprintf(buf, len, "%.0fus/step", s * 1e6);
}

static void draw(nn_progress *p, long long step, const nn_logs *logs, bool done, double elapsed)
{
    int width = 30, filled = (int)(width * (double)step / (double)p->steps);
    char bar[64];
    int o = 0;
    bar[o++] = '[';
    for (int i = 0; i < width; i++)
        bar[o++] = i < filled - (done ? 0 : 1) ? '=' : (i == filled - 1 && !done ? '>' : '.');
    bar[o++] = ']';
    bar[o] = '\0';
    int digits = snprintf(NULL, 0, "%lld", p->steps);
    fprintf(p->out, "%*lld/%lld %s", digits, step, p->steps, bar);
    if (done) {
        char ps[32];
        per_step(elapsed, step, ps, sizeof ps);
        fprintf(p->out, " - %.0fs %s", elapsed, ps);
    } else {
        double eta = step ? elapsed / (double)step * (double)(p->steps - step) : 0.0;
        fprintf(p->out, " - ETA: %.0fs", eta);
    }
    for (int i = 0; i < logs->n; i++) {
        if (strcmp(logs->names[i], "lr") == 0)
            continue;
        char v[32];
        nn_format_value(logs->values[i], v, sizeof v);
        fprintf(p->out, " - %s: %s", logs->names[i], v);
    }
}

void nn_progress_epoch_begin(nn_progress *p, long long epoch)
{
    p->t_epoch = now();
    p->t_last_draw = 0.0;
    if (!p->quiet)
        fprintf(p->out, "Epoch %lld/%lld\n", epoch + 1, p->epochs);
}

void nn_progress_step(nn_progress *p, long long step, const nn_logs *running)
{
    if (p->quiet || !p->tty)
        return;
    double t = now();
    if (step != p->steps && t - p->t_last_draw < 0.1)
        return;
    p->t_last_draw = t;
    fputs("\r\033[K", p->out);
    draw(p, step, running, false, t - p->t_epoch);
    fflush(p->out);
}

void nn_progress_epoch_end(nn_progress *p, const nn_logs *logs, double seconds)
{
    if (p->quiet)
        return;
    if (p->tty)
        fputs("\r\033[K", p->out);
    draw(p, p->steps, logs, true, seconds);
    /* memory, as nvidia-smi and top would show it: the process's peak
     * resident set, and on a GPU the device memory the engine held */
    char mem[32];
    nn_format_bytes(nn_peak_rss_bytes(), mem, sizeof mem);
    fprintf(p->out, " - peak RSS: %s", mem);
    if (p->engine && p->engine->ops->device_peak_bytes) {
        nn_format_bytes(p->engine->ops->device_peak_bytes(p->engine), mem, sizeof mem);
        fprintf(p->out, " - device peak: %s", mem);
    }
    fputc('\n', p->out);
    fflush(p->out);
}

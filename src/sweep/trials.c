/* The trial list and the strategies that fill it: grid, random, bayes
 * (sweep.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/sweep.h"

/* ---- trials -------------------------------------------------------------- */

void nn_trials_free(nn_trials *ts)
{
    for (int i = 0; i < ts->n; i++) {
        free(ts->t[i].text);
        free(ts->t[i].unit);
    }
    free(ts->t);
    memset(ts, 0, sizeof *ts);
}

nn_trial *nn_trials_add(nn_trials *ts, const nn_sweep *sw, char (*text)[NN_PARAM_TEXT],
                        const double *unit, nn_error *err)
{
    if (ts->n == ts->cap) {
        int cap = ts->cap ? 2 * ts->cap : 16;
        nn_trial *t = realloc(ts->t, (size_t)cap * sizeof *t);
        if (!t) {
            nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            return NULL;
        }
        ts->t = t;
        ts->cap = cap;
    }
    int d = sw->space.n;
    nn_trial *t = &ts->t[ts->n];
    memset(t, 0, sizeof *t);
    t->text = nn_calloc((size_t)d, sizeof *t->text, err);
    t->unit = nn_calloc((size_t)d, sizeof *t->unit, err);
    if (!t->text || !t->unit) {
        free(t->text);
        free(t->unit);
        return NULL;
    }
    memcpy(t->text, text, (size_t)d * sizeof *text);
    memcpy(t->unit, unit, (size_t)d * sizeof *unit);
    t->index = ++ts->n;
    return t;
}

void nn_trial_assignment(const nn_sweep *sw, const nn_trial *t, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s=%s", sw->space.p[i].key, t->text[i]);
}

static nn_rng trial_rng(const nn_sweep *sw, int index)
{
    nn_rng r;
    nn_rng_seed(&r, (uint64_t)sw->seed, 0x5357000000ULL + (uint64_t)index);
    return r;
}

nn_status nn_sweep_initial(const nn_sweep *sw, nn_trials *ts, nn_error *err)
{
    int d = sw->space.n;
    char(*text)[NN_PARAM_TEXT] = nn_calloc((size_t)d, sizeof *text, err);
    double *u = nn_calloc((size_t)d, sizeof *u, err);
    int *idx = nn_calloc((size_t)d, sizeof *idx, err);
    nn_status st = text && u && idx ? NN_OK : NN_ERR_RUNTIME;
    if (!st && sw->strategy == NN_SWEEP_GRID) {
        for (long long k = 0; k < sw->trials && !st; k++) {
            nn_space_grid_point(&sw->space, k, idx);
            for (int i = 0; i < d; i++) {
                snprintf(text[i], NN_PARAM_TEXT, "%s", sw->space.p[i].values[idx[i]]);
                u[i] = nn_space_choice_unit(&sw->space, i, idx[i]);
            }
            if (!nn_trials_add(ts, sw, text, u, err))
                st = NN_ERR_RUNTIME;
        }
    } else if (!st && sw->strategy == NN_SWEEP_RANDOM) {
        for (long long k = 0; k < sw->trials && !st; k++) {
            nn_rng r = trial_rng(sw, (int)k + 1);
            nn_space_sample(&sw->space, &r, u, text);
            if (!nn_trials_add(ts, sw, text, u, err))
                st = NN_ERR_RUNTIME;
        }
    }
    free(text);
    free(u);
    free(idx);
    return st;
}

static bool same_point(const double *a, const double *b, int d)
{
    for (int i = 0; i < d; i++)
        if (fabs(a[i] - b[i]) > 1e-9)
            return false;
    return true;
}

nn_status nn_sweep_propose(const nn_sweep *sw, nn_trials *ts, nn_error *err)
{
    int d = sw->space.n, n = ts->n, index = n + 1;
    nn_rng r = trial_rng(sw, index);
    char(*text)[NN_PARAM_TEXT] = nn_calloc((size_t)d, sizeof *text, err);
    double *u = nn_calloc((size_t)d, sizeof *u, err);
    double *X = nn_calloc((size_t)(n + 1) * (size_t)d, sizeof *X, err);
    double *y = nn_calloc((size_t)(n + 1), sizeof *y, err);
    double *cand = nn_calloc((size_t)d, sizeof *cand, err);
    nn_gp gp = {0}, gp2 = {0};
    nn_status st = text && u && X && y && cand ? NN_OK : NN_ERR_RUNTIME;
    if (st)
        goto done;
    int n_done = 0;
    for (int i = 0; i < n; i++)
        if (ts->t[i].status == NN_TRIAL_DONE && isfinite(ts->t[i].objective)) {
            memcpy(X + (size_t)n_done * d, ts->t[i].unit, (size_t)d * sizeof *X);
            y[n_done++] = sw->maximize ? -ts->t[i].objective : ts->t[i].objective;
        }
    if (n < sw->init_trials || n_done < 2) {
        nn_space_sample(&sw->space, &r, u, text);
        goto add;
    }
    /* standardize: the GP has zero mean and unit signal variance */
    double mean = 0, var = 0;
    for (int i = 0; i < n_done; i++)
        mean += y[i];
    mean /= n_done;
    for (int i = 0; i < n_done; i++)
        var += (y[i] - mean) * (y[i] - mean);
    double sd = sqrt(var / n_done);
    if (!(sd > 1e-12))
        sd = 1;
    double best = INFINITY;
    for (int i = 0; i < n_done; i++) {
        y[i] = (y[i] - mean) / sd;
        if (y[i] < best)
            best = y[i];
    }
    if ((st = nn_gp_fit_auto(&gp, X, y, n_done, d, sw->kernel, err)))
        goto done;
    /* trials still running count at the model's prediction ("kriging
     * believer"), so parallel proposals spread out instead of repeating */
    int m = n_done;
    for (int i = 0; i < n; i++)
        if (ts->t[i].status != NN_TRIAL_DONE && ts->t[i].running) {
            double mu, v;
            nn_gp_predict(&gp, ts->t[i].unit, &mu, &v);
            memcpy(X + (size_t)m * d, ts->t[i].unit, (size_t)d * sizeof *X);
            y[m++] = mu;
        }
    const nn_gp *model = &gp;
    if (m > n_done) {
        if (nn_gp_fit(&gp2, X, y, m, d, sw->kernel, gp.ls, gp.sf2, gp.sn2, NULL) == NN_OK)
            model = &gp2;
    }
    /* maximize EI over random candidates: uniform ones, plus local ones
     * around the best few observations */
    int order[3] = {-1, -1, -1};
    for (int i = 0; i < n_done; i++)
        for (int k = 0; k < 3; k++)
            if (order[k] < 0 || y[i] < y[order[k]]) {
                for (int j = 2; j > k; j--)
                    order[j] = order[j - 1];
                order[k] = i;
                break;
            }
    double best_ei = -1;
    char(*ct)[NN_PARAM_TEXT] = nn_calloc((size_t)d, sizeof *ct, err);
    if (!ct) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    const int n_uniform = 2000, n_local = 300;
    for (int c = 0; c < n_uniform + 3 * n_local; c++) {
        if (c < n_uniform) {
            nn_space_sample(&sw->space, &r, cand, ct);
        } else {
            int o = order[(c - n_uniform) / n_local];
            if (o < 0)
                continue;
            double scale = (c % 2) ? 0.05 : 0.15;
            for (int i = 0; i < d; i++)
                nn_space_value(&sw->space, i, X[(size_t)o * d + i] + scale * nn_rng_normal(&r),
                               ct[i], NN_PARAM_TEXT, &cand[i]);
        }
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = same_point(cand, ts->t[i].unit, d);
        if (seen)
            continue;
        double mu, v;
        nn_gp_predict(model, cand, &mu, &v);
        double ei = nn_expected_improvement(mu, v, best);
        if (ei > best_ei) {
            best_ei = ei;
            memcpy(u, cand, (size_t)d * sizeof *u);
            memcpy(text, ct, (size_t)d * sizeof *text);
        }
    }
    free(ct);
    if (best_ei < 0) /* every candidate already tried: a small discrete space */
        nn_space_sample(&sw->space, &r, u, text);
add:
    if (!nn_trials_add(ts, sw, text, u, err))
        st = NN_ERR_RUNTIME;
done:
    nn_gp_free(&gp);
    nn_gp_free(&gp2);
    free(text);
    free(u);
    free(X);
    free(y);
    free(cand);
    return st;
}

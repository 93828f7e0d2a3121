#include <errno.h>
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec/spec.h"
#include "sweep/sweep.h"
#include "util/fileio.h"
#include "util/rng.h"

/* ---- the sweep file ------------------------------------------------------ */

bool nn_objective_maximize(const char *name)
{
    return strstr(name, "acc") || strstr(name, "auc");
}

/* A scalar libconfig value as --set text. */
static bool scalar_text(const config_setting_t *e, char *buf, size_t n)
{
    switch (config_setting_type(e)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, n, "%lld", (long long)config_setting_get_int64(e));
        return true;
    case CONFIG_TYPE_FLOAT:
        nn_format_double(config_setting_get_float(e), buf, n);
        if (!strpbrk(buf, ".eEn")) /* keep a float a float: 1.0, not 1 */
            strncat(buf, ".0", n - strlen(buf) - 1);
        return true;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, n, "%s", config_setting_get_bool(e) ? "true" : "false");
        return true;
    case CONFIG_TYPE_STRING:
        snprintf(buf, n, "%s", config_setting_get_string(e));
        return true;
    default:
        return false;
    }
}

/* `values = [...]` of space element i: the texts, read with libconfig
 * (the spec getters have no mixed-type array reader). */
static nn_status read_values(nn_spec_node *vals, const char *path, const char *dir, int i,
                             nn_sweep_param *p, nn_error *err)
{
    config_t c;
    config_init(&c);
    if (*dir)
        config_set_include_dir(&c, dir);
    nn_status st = NN_OK;
    if (!config_read_file(&c, path)) {
        st = nn_fail(err, NN_ERR_USAGE, "%s: cannot re-read the sweep file", path);
        goto done;
    }
    char at[64];
    snprintf(at, sizeof at, "space.[%d].values", i);
    const config_setting_t *v = config_lookup(&c, at);
    int len = v ? config_setting_length(v) : 0;
    if (len < 1) {
        st = nn_spec_fail(vals, NULL, err, NN_ERR_USAGE, "expected at least one value");
        goto done;
    }
    p->values = calloc((size_t)len, sizeof *p->values);
    if (!p->values) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    p->n_values = len;
    for (int j = 0; j < len; j++)
        if (!scalar_text(config_setting_get_elem(v, (unsigned)j), p->values[j],
                         sizeof p->values[j])) {
            st = nn_spec_fail(vals, NULL, err, NN_ERR_USAGE,
                              "value [%d]: expected a number, string or boolean", j);
            goto done;
        }
done:
    config_destroy(&c);
    return st;
}

static nn_status read_param(nn_sweep *sw, nn_spec_node *space, int i, nn_error *err)
{
    nn_spec_node *e, *vals;
    nn_sweep_param p = {0};
    const char *key;
    nn_status st;
    if ((st = nn_spec_elem_group(space, i, &e, err)) ||
        (st = nn_spec_string(e, "key", true, NULL, &key, err)))
        return st;
    if (!*key || strchr(key, '=') || strlen(key) >= sizeof p.key)
        return nn_spec_fail(e, "key", err, NN_ERR_USAGE,
                            "expected a spec key path like \"train.optimizer.lr\"");
    snprintf(p.key, sizeof p.key, "%s", key);
    for (int j = 0; j < sw->space.n; j++)
        if (!strcmp(sw->space.p[j].key, key))
            return nn_spec_fail(e, "key", err, NN_ERR_USAGE, "\"%s\" is already in the space",
                                key);
    if ((st = nn_spec_list(e, "values", false, &vals, err)))
        return st;
    bool has_min = nn_spec_has(e, "min"), has_max = nn_spec_has(e, "max");
    if (vals && (has_min || has_max))
        return nn_spec_fail(e, has_min ? "min" : "max", err, NN_ERR_USAGE,
                            "give either values = [...] or min/max, not both");
    if (vals) {
        p.kind = NN_PARAM_CHOICE;
        bool b;
        /* log/integer mean nothing for a choice, but are harmless */
        if ((st = nn_spec_bool(e, "log", false, false, &b, err)) ||
            (st = nn_spec_bool(e, "integer", false, false, &b, err)) ||
            (st = read_values(vals, sw->path, sw->dir, i, &p, err)))
            goto fail;
    } else {
        if (!has_min || !has_max)
            return nn_spec_fail(e, NULL, err, NN_ERR_USAGE,
                                "give values = [...] or a range min = ...; max = ...;");
        if (sw->strategy == NN_SWEEP_GRID)
            return nn_spec_fail(e, "min", err, NN_ERR_USAGE,
                                "a range cannot be enumerated by strategy = \"grid\": give "
                                "values = [...], or use strategy = \"random\" or \"bayes\"");
        p.kind = NN_PARAM_RANGE;
        if ((st = nn_spec_float(e, "min", true, 0, -HUGE_VAL, HUGE_VAL, &p.min, err)) ||
            (st = nn_spec_float(e, "max", true, 0, -HUGE_VAL, HUGE_VAL, &p.max, err)) ||
            (st = nn_spec_bool(e, "log", false, false, &p.log, err)) ||
            (st = nn_spec_bool(e, "integer", false, false, &p.integer, err)))
            return st;
        if (!(p.max > p.min))
            return nn_spec_fail(e, "max", err, NN_ERR_USAGE, "expected max > min (min = %g)",
                                p.min);
        if (p.log && !(p.min > 0))
            return nn_spec_fail(e, "min", err, NN_ERR_USAGE,
                                "log = true needs min > 0, got %g", p.min);
        if (p.integer && floor(p.max) < ceil(p.min))
            return nn_spec_fail(e, "max", err, NN_ERR_USAGE,
                                "integer = true: no integer between min and max");
    }
    if ((st = nn_spec_check_unknown(e, err)))
        goto fail;
    st = nn_space_add(&sw->space, &p, err);
fail:
    free(p.values);
    return st;
}

void nn_sweep_free(nn_sweep *sw)
{
    nn_space_free(&sw->space);
    free(sw->command);
    sw->command = NULL;
}

nn_status nn_sweep_load(nn_sweep *sw, const char *path, nn_error *err)
{
    memset(sw, 0, sizeof *sw);
    nn_spec *spec = NULL;
    nn_status st = nn_spec_load_file(&spec, path, err);
    if (st)
        return st;
    snprintf(sw->path, sizeof sw->path, "%s", path);
    snprintf(sw->dir, sizeof sw->dir, "%s", nn_spec_dir(spec));
    nn_spec_node *root = nn_spec_root(spec), *space = NULL;
    static const char *const strategies[] = {"grid", "random", "bayes", NULL};
    static const char *const kernels[] = {"matern52", "rbf", NULL};
    const char *base, *objective, *command;
    const char *sets[NN_SWEEP_MAX_SETS];
    int strategy, kernel;
    bool has_max = nn_spec_has(root, "maximize");
    /* base is optional with a custom command (the command may not use one) */
    bool has_command = nn_spec_has(root, "command");
    if ((st = nn_spec_string(root, "base", !has_command, NULL, &base, err)) ||
        (st = nn_spec_choice(root, "strategy", false, strategies, 0, &strategy, err)) ||
        (st = nn_spec_string(root, "objective", false, "val_loss", &objective, err)) ||
        (st = nn_spec_bool(root, "maximize", false, false, &sw->maximize, err)) ||
        (st = nn_spec_int(root, "seed", false, 1, 0, INT64_MAX, &sw->seed, err)) ||
        (st = nn_spec_string_array(root, "set", false, NN_SWEEP_MAX_SETS, sets, &sw->n_sets,
                                   err)) ||
        (st = nn_spec_string(root, "command", false, NULL, &command, err)) ||
        (st = nn_spec_choice(root, "kernel", false, kernels, 0, &kernel, err)))
        goto done;
    sw->strategy = (nn_sweep_strategy)strategy;
    sw->kernel = (nn_kernel)kernel;
    if (!*objective || strlen(objective) >= sizeof sw->objective) {
        st = nn_spec_fail(root, "objective", err, NN_ERR_USAGE,
                          "expected a logged value such as \"val_accuracy\" or \"test_loss\"");
        goto done;
    }
    snprintf(sw->objective, sizeof sw->objective, "%s", objective);
    if (!has_max)
        sw->maximize = nn_objective_maximize(objective);
    if (!base)
        sw->base[0] = '\0';
    else if (base[0] == '/' || !strcmp(sw->dir, "."))
        snprintf(sw->base, sizeof sw->base, "%s", base);
    else
        snprintf(sw->base, sizeof sw->base, "%s/%s", sw->dir, base);
    for (int i = 0; i < sw->n_sets; i++) {
        if (!strchr(sets[i], '=') || strlen(sets[i]) >= sizeof sw->sets[i]) {
            st = nn_spec_fail(root, "set", err, NN_ERR_USAGE,
                              "element [%d]: expected \"key.path=value\", got \"%s\"", i, sets[i]);
            goto done;
        }
        snprintf(sw->sets[i], sizeof sw->sets[i], "%s", sets[i]);
    }
    if (command) {
        if (!*command) {
            st = nn_spec_fail(root, "command", err, NN_ERR_USAGE, "expected a shell command");
            goto done;
        }
        if (!(sw->command = nn_strdup(command, err))) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
    }
    if ((st = nn_spec_list(root, "space", true, &space, err)))
        goto done;
    if (nn_spec_length(space) < 1) {
        st = nn_spec_fail(root, "space", err, NN_ERR_USAGE,
                          "expected at least one parameter { key = ...; values = [...]; }");
        goto done;
    }
    for (int i = 0; i < nn_spec_length(space); i++)
        if ((st = read_param(sw, space, i, err)))
            goto done;
    bool has_trials = nn_spec_has(root, "trials");
    if (sw->strategy == NN_SWEEP_GRID) {
        long long dummy;
        if ((st = nn_spec_int(root, "trials", false, 0, 1, 1000000, &dummy, err)))
            goto done;
        sw->trials = nn_space_grid_size(&sw->space);
        if (sw->trials < 1 || sw->trials > 1000000) {
            st = nn_spec_fail(root, "space", err, NN_ERR_USAGE, "the grid is too large");
            goto done;
        }
        if (has_trials && dummy != sw->trials) {
            st = nn_spec_fail(root, "trials", err, NN_ERR_USAGE,
                              "strategy = \"grid\" runs every combination (%lld); remove "
                              "trials or set it to %lld",
                              sw->trials, sw->trials);
            goto done;
        }
    } else {
        if (!has_trials) {
            st = nn_spec_fail(root, "strategy", err, NN_ERR_USAGE,
                              "strategy = \"%s\" needs trials = N", strategies[strategy]);
            goto done;
        }
        if ((st = nn_spec_int(root, "trials", true, 0, 1, 100000, &sw->trials, err)))
            goto done;
    }
    long long def_init = 2 * sw->space.n + 1;
    if (def_init < 3)
        def_init = 3;
    if ((st = nn_spec_int(root, "init_trials", false, def_init, 1, 100000, &sw->init_trials,
                          err)))
        goto done;
    st = nn_spec_check_unknown(root, err);
done:
    nn_spec_free(spec);
    if (st)
        nn_sweep_free(sw);
    return st;
}

static unsigned long long fnv(unsigned long long h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* a separator */
}

unsigned long long nn_sweep_fingerprint(const nn_sweep *sw)
{
    static const char *const strategies[] = {"grid", "random", "bayes"};
    char buf[128];
    unsigned long long h = 14695981039346656037ULL;
    h = fnv(h, sw->base);
    h = fnv(h, strategies[sw->strategy]);
    snprintf(buf, sizeof buf, "%lld/%lld/%d", sw->seed, sw->init_trials, (int)sw->kernel);
    h = fnv(h, buf);
    h = fnv(h, sw->command ? sw->command : "");
    for (int i = 0; i < sw->n_sets; i++)
        h = fnv(h, sw->sets[i]);
    for (int i = 0; i < sw->space.n; i++) {
        const nn_sweep_param *p = &sw->space.p[i];
        h = fnv(h, p->key);
        for (int j = 0; j < p->n_values; j++)
            h = fnv(h, p->values[j]);
        if (p->kind == NN_PARAM_RANGE) {
            snprintf(buf, sizeof buf, "%.17g/%.17g/%d/%d", p->min, p->max, p->log, p->integer);
            h = fnv(h, buf);
        }
    }
    return h;
}

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

/* ---- sweep.json ------------------------------------------------------------ */

static json_t *value_json(const char *text)
{
    char *end;
    errno = 0;
    long long i = strtoll(text, &end, 10);
    if (!errno && *text && !*end)
        return json_integer(i);
    double v = strtod(text, &end);
    if (*text && !*end && isfinite(v))
        return json_real(v);
    if (!strcmp(text, "true") || !strcmp(text, "false"))
        return json_boolean(!strcmp(text, "true"));
    return json_string(text);
}

static const char *status_name(nn_trial_status s)
{
    return s == NN_TRIAL_DONE ? "done" : s == NN_TRIAL_FAILED ? "failed" : "pending";
}

nn_status nn_sweep_save(const nn_sweep *sw, const nn_trials *ts, const char *dir, nn_error *err)
{
    static const char *const strategies[] = {"grid", "random", "bayes"};
    json_t *o = json_object(), *arr = json_array();
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", nn_sweep_fingerprint(sw));
    json_object_set_new(o, "sweep", json_string(sw->path));
    json_object_set_new(o, "base", json_string(sw->base));
    json_object_set_new(o, "strategy", json_string(strategies[sw->strategy]));
    json_object_set_new(o, "objective", json_string(sw->objective));
    json_object_set_new(o, "maximize", json_boolean(sw->maximize));
    json_object_set_new(o, "seed", json_integer(sw->seed));
    json_object_set_new(o, "fingerprint", json_string(fp));
    for (int k = 0; k < ts->n; k++) {
        const nn_trial *t = &ts->t[k];
        json_t *j = json_object(), *params = json_object(), *sets = json_array(),
               *unit = json_array();
        char name[32], a[NN_PARAM_TEXT * 2];
        snprintf(name, sizeof name, "trial-%04d", t->index);
        for (int i = 0; i < sw->space.n; i++) {
            json_object_set_new(params, sw->space.p[i].key, value_json(t->text[i]));
            nn_trial_assignment(sw, t, i, a, sizeof a);
            json_array_append_new(sets, json_string(a));
            json_array_append_new(unit, json_real(t->unit[i]));
        }
        json_object_set_new(j, "trial", json_integer(t->index));
        json_object_set_new(j, "dir", json_string(name));
        json_object_set_new(j, "params", params);
        json_object_set_new(j, "set", sets);
        json_object_set_new(j, "unit", unit);
        json_object_set_new(j, "status", json_string(status_name(t->status)));
        if (t->status == NN_TRIAL_DONE)
            json_object_set_new(j, "objective", json_real(t->objective));
        if (t->status == NN_TRIAL_FAILED)
            json_object_set_new(j, "exit", json_integer(t->exit_code));
        json_array_append_new(arr, j);
    }
    json_object_set_new(o, "trials", arr);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!text)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    nn_status st = nn_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return st;
}

nn_status nn_sweep_restore(const nn_sweep *sw, nn_trials *ts, const char *dir, bool *found,
                           nn_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    *found = false;
    if (access(path, F_OK) != 0)
        return NN_OK;
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o)
        return nn_fail(err, NN_ERR_RUNTIME, "%s:%d: %s", path, je.line, je.text);
    nn_status st = NN_OK;
    char fp[32];
    snprintf(fp, sizeof fp, "%016llx", nn_sweep_fingerprint(sw));
    const char *have = json_string_value(json_object_get(o, "fingerprint"));
    json_t *arr = json_object_get(o, "trials");
    if (!have || !json_is_array(arr)) {
        st = nn_fail(err, NN_ERR_RUNTIME, "%s: not a sweep state file", path);
        goto done;
    }
    if (strcmp(have, fp)) {
        st = nn_fail(err, NN_ERR_USAGE,
                     "%s was written by a different sweep (its base, set, strategy, seed, "
                     "command or space differ from %s): use another --run-dir, or delete it "
                     "to start over",
                     path, sw->path);
        goto done;
    }
    int d = sw->space.n;
    char(*text)[NN_PARAM_TEXT] = nn_calloc((size_t)d, sizeof *text, err);
    double *u = nn_calloc((size_t)d, sizeof *u, err);
    size_t k;
    json_t *j;
    json_array_foreach(arr, k, j)
    {
        json_t *sets = json_object_get(j, "set"), *unit = json_object_get(j, "unit");
        if (!text || !u || json_array_size(sets) != (size_t)d ||
            json_array_size(unit) != (size_t)d) {
            st = nn_fail(err, NN_ERR_RUNTIME, "%s: trial %zu is malformed", path, k + 1);
            break;
        }
        for (int i = 0; i < d; i++) {
            const char *a = json_string_value(json_array_get(sets, (size_t)i));
            const char *eq = a ? strchr(a, '=') : NULL;
            snprintf(text[i], NN_PARAM_TEXT, "%s", eq ? eq + 1 : "");
            u[i] = json_number_value(json_array_get(unit, (size_t)i));
        }
        nn_trial *t = nn_trials_add(ts, sw, text, u, err);
        if (!t) {
            st = NN_ERR_RUNTIME;
            break;
        }
        const char *s = json_string_value(json_object_get(j, "status"));
        if (s && !strcmp(s, "failed")) {
            t->status = NN_TRIAL_FAILED;
            t->exit_code = (int)json_integer_value(json_object_get(j, "exit"));
        }
        /* "done" is re-derived from the run directory by the caller */
    }
    free(text);
    free(u);
    if (!st)
        *found = true;
done:
    json_decref(o);
    return st;
}

/* ---- objective --------------------------------------------------------- */

static nn_status history_best(const nn_sweep *sw, const char *path, double *out, bool *have,
                              nn_error *err)
{
    *have = false;
    FILE *f = fopen(path, "r");
    if (!f)
        return NN_OK;
    char line[8192];
    int col = -1;
    nn_status st = NN_OK;
    char cols[1024] = "";
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        snprintf(cols, sizeof cols, "%s", line);
        int c = 0;
        for (char *save, *tok = strtok_r(line, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save), c++)
            if (!strcmp(tok, sw->objective))
                col = c;
    }
    if (col < 0) {
        fclose(f);
        if (*cols)
            return nn_fail(err, NN_ERR_RUNTIME, "%s has no column \"%s\" (columns: %s)", path,
                           sw->objective, cols);
        return st;
    }
    double best = sw->maximize ? -INFINITY : INFINITY;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        for (int c = 0; c < col && p; c++) {
            p = strchr(p, ',');
            if (p)
                p++;
        }
        if (!p)
            continue;
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v))
            continue;
        if (sw->maximize ? v > best : v < best)
            best = v;
    }
    fclose(f);
    if (isfinite(best)) {
        *out = best;
        *have = true;
    }
    return st;
}

nn_status nn_sweep_read_objective(const nn_sweep *sw, const char *run_dir, double *out,
                                  nn_error *err)
{
    char path[4200];
    /* run.json "objective": what a custom command reports */
    snprintf(path, sizeof path, "%s/run.json", run_dir);
    json_t *o = json_load_file(path, 0, NULL);
    if (o) {
        json_t *v = json_object_get(o, "objective");
        if (json_is_number(v)) {
            *out = json_number_value(v);
            json_decref(o);
            return NN_OK;
        }
        json_decref(o);
    }
    if (!strncmp(sw->objective, "test_", 5)) {
        snprintf(path, sizeof path, "%s/eval.json", run_dir);
        json_error_t je;
        o = json_load_file(path, 0, &je);
        if (!o)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "objective %s: cannot read %s (does the base spec have data.test?)",
                           sw->objective, path);
        json_t *v = json_object_get(o, sw->objective + 5);
        nn_status st = NN_OK;
        if (json_is_number(v))
            *out = json_number_value(v);
        else
            st = nn_fail(err, NN_ERR_RUNTIME, "objective %s: %s has no number \"%s\"",
                         sw->objective, path, sw->objective + 5);
        json_decref(o);
        return st;
    }
    snprintf(path, sizeof path, "%s/history.csv", run_dir);
    bool have;
    nn_status st = history_best(sw, path, out, &have, err);
    if (st)
        return st;
    if (!have)
        return nn_fail(err, NN_ERR_RUNTIME, "objective %s: no finite value in %s", sw->objective,
                       path);
    return NN_OK;
}

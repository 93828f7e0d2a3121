/* What a sweep leaves on disk: sweep.json (the trials proposed, for a
 * resume), and each trial's objective read back from its run directory
 * (sweep.h). */
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

/* The sweep file (sweep.h). */
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

/* The spec layer's typed getters: scalars, arrays, unknown keys, custom
 * errors (spec.h). */
#include <limits.h>
#include <float.h>
#include <string.h>

#include "spec/spec_internal.h"

/* ---- scalars ----------------------------------------------------------- */

static void int_expectation(long long min, long long max, char *buf, size_t n)
{
    if (min == LLONG_MIN && max == LLONG_MAX)
        snprintf(buf, n, "an integer");
    else if (max == LLONG_MAX)
        snprintf(buf, n, "an integer >= %lld", min);
    else if (min == LLONG_MIN)
        snprintf(buf, n, "an integer <= %lld", max);
    else if (min == max)
        snprintf(buf, n, "the integer %lld", min);
    else
        snprintf(buf, n, "an integer between %lld and %lld", min, max);
}

static void float_expectation(double min, double max, char *buf, size_t n)
{
    char lo[40], hi[40];
    bool has_min = min > -DBL_MAX, has_max = max < DBL_MAX;
    nn_spec__format_double(min, lo, sizeof lo);
    nn_spec__format_double(max, hi, sizeof hi);
    if (!has_min && !has_max)
        snprintf(buf, n, "a number");
    else if (!has_max)
        snprintf(buf, n, "a number >= %s", lo);
    else if (!has_min)
        snprintf(buf, n, "a number <= %s", hi);
    else if (min == max)
        snprintf(buf, n, "the number %s", lo);
    else
        snprintf(buf, n, "a number between %s and %s", lo, hi);
}

static bool is_int_type(int t) { return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64; }

static nn_status read_int(nn_spec_node *n, const config_setting_t *st, const char *path,
                          long long min, long long max, long long *out, nn_error *err)
{
    if (!is_int_type(config_setting_type(st)))
        return nn_spec__type_error(n, st, path, "an integer", err);
    long long v = config_setting_get_int64(st);
    if (v < min || v > max) {
        char want[128];
        int_expectation(min, max, want, sizeof want);
        return nn_spec__type_error(n, st, path, want, err);
    }
    *out = v;
    return NN_OK;
}

nn_status nn_spec_int(nn_spec_node *n, const char *key, bool required, long long def,
                      long long min, long long max, long long *out, nn_error *err)
{
    config_setting_t *st;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc)
        return rc;
    if (!st) {
        *out = def;
        return NN_OK;
    }
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    return read_int(n, st, path, min, max, out, err);
}

static nn_status read_float(nn_spec_node *n, const config_setting_t *st, const char *path,
                            double min, double max, double *out, nn_error *err)
{
    double v;
    int t = config_setting_type(st);
    if (t == CONFIG_TYPE_FLOAT)
        v = config_setting_get_float(st);
    else if (is_int_type(t))
        v = (double)config_setting_get_int64(st);
    else
        return nn_spec__type_error(n, st, path, "a number", err);
    if (!(v >= min && v <= max)) {
        char want[128];
        float_expectation(min, max, want, sizeof want);
        return nn_spec__type_error(n, st, path, want, err);
    }
    *out = v;
    return NN_OK;
}

nn_status nn_spec_float(nn_spec_node *n, const char *key, bool required, double def, double min,
                        double max, double *out, nn_error *err)
{
    config_setting_t *st;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc)
        return rc;
    if (!st) {
        *out = def;
        return NN_OK;
    }
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    return read_float(n, st, path, min, max, out, err);
}

nn_status nn_spec_bool(nn_spec_node *n, const char *key, bool required, bool def, bool *out,
                       nn_error *err)
{
    config_setting_t *st;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc)
        return rc;
    if (!st) {
        *out = def;
        return NN_OK;
    }
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    if (config_setting_type(st) != CONFIG_TYPE_BOOL)
        return nn_spec__type_error(n, st, path, "true or false", err);
    *out = config_setting_get_bool(st) != 0;
    return NN_OK;
}

nn_status nn_spec_string(nn_spec_node *n, const char *key, bool required, const char *def,
                         const char **out, nn_error *err)
{
    config_setting_t *st;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc)
        return rc;
    if (!st) {
        *out = def;
        return NN_OK;
    }
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    if (config_setting_type(st) != CONFIG_TYPE_STRING)
        return nn_spec__type_error(n, st, path, "a string", err);
    const char *v = config_setting_get_string(st);
    *out = v ? v : "";
    return NN_OK;
}

/* "sgd, rmsprop, adam" */
static void choice_list(const char *const *choices, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; choices[i]; i++) {
        int w = snprintf(buf + o, n - o, "%s%s", i ? ", " : "", choices[i]);
        if (w < 0 || (size_t)w >= n - o) {
            if (n > 4)
                strcpy(buf + n - 4, "...");
            return;
        }
        o += (size_t)w;
    }
}

nn_status nn_spec_choice(nn_spec_node *n, const char *key, bool required,
                         const char *const *choices, int def, int *out, nn_error *err)
{
    config_setting_t *st;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc)
        return rc;
    if (!st) {
        *out = def;
        return NN_OK;
    }
    char path[PATH_MAX_LEN], all[1024], want[1100];
    nn_spec__join(n->path, key, path, sizeof path);
    choice_list(choices, all, sizeof all);
    if (config_setting_type(st) != CONFIG_TYPE_STRING) {
        snprintf(want, sizeof want, "a string (one of: %s)", all);
        return nn_spec__type_error(n, st, path, want, err);
    }
    const char *v = config_setting_get_string(st);
    int count = 0;
    for (; choices[count]; count++)
        if (strcmp(choices[count], v) == 0) {
            *out = count;
            return NN_OK;
        }
    char got[DESC_LEN];
    nn_spec__describe(st, got, sizeof got);
    const char *close = nn_did_you_mean(v, choices, count);
    if (close)
        return nn_spec__fail_at(n->spec, st, path, err, "unknown value %s; did you mean \"%s\"? (one of: %s)",
                       got, close, all);
    return nn_spec__fail_at(n->spec, st, path, err, "unknown value %s (one of: %s)", got, all);
}

/* ---- arrays ------------------------------------------------------------ */

nn_status nn_spec_int_array(nn_spec_node *n, const char *key, bool required, long long min,
                            long long max, int max_n, long long *out, int *n_out,
                            nn_error *err)
{
    config_setting_t *st;
    *n_out = 0;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc || !st)
        return rc;
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    int t = config_setting_type(st);
    if (is_int_type(t)) {
        if (max_n < 1)
            return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d integers, got 1", max_n);
        rc = read_int(n, st, path, min, max, &out[0], err);
        if (rc == NN_OK)
            *n_out = 1;
        return rc;
    }
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
        char want[160], range[128];
        int_expectation(min, max, range, sizeof range);
        snprintf(want, sizeof want, "%s or an array of them", range);
        return nn_spec__type_error(n, st, path, want, err);
    }
    int len = config_setting_length(st);
    if (len > max_n)
        return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d integer%s, got %d", max_n,
                       max_n == 1 ? "" : "s", len);
    for (int i = 0; i < len; i++) {
        char idx[32], epath[PATH_MAX_LEN];
        snprintf(idx, sizeof idx, "[%d]", i);
        nn_spec__join(path, idx, epath, sizeof epath);
        rc = read_int(n, config_setting_get_elem(st, (unsigned)i), epath, min, max, &out[i], err);
        if (rc)
            return rc;
    }
    *n_out = len;
    return NN_OK;
}

nn_status nn_spec_float_array(nn_spec_node *n, const char *key, bool required, double min,
                              double max, int max_n, double *out, int *n_out, nn_error *err)
{
    config_setting_t *st;
    *n_out = 0;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc || !st)
        return rc;
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    int t = config_setting_type(st);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
        if (max_n < 1)
            return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d numbers, got 1",
                                    max_n);
        rc = read_float(n, st, path, min, max, &out[0], err);
        if (rc == NN_OK)
            *n_out = 1;
        return rc;
    }
    int len = config_setting_length(st);
    if (len > max_n)
        return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d number%s, got %d",
                                max_n, max_n == 1 ? "" : "s", len);
    for (int i = 0; i < len; i++) {
        char idx[32], epath[PATH_MAX_LEN];
        snprintf(idx, sizeof idx, "[%d]", i);
        nn_spec__join(path, idx, epath, sizeof epath);
        rc = read_float(n, config_setting_get_elem(st, (unsigned)i), epath, min, max, &out[i],
                        err);
        if (rc)
            return rc;
    }
    *n_out = len;
    return NN_OK;
}

nn_status nn_spec_string_array(nn_spec_node *n, const char *key, bool required, int max_n,
                               const char **out, int *n_out, nn_error *err)
{
    config_setting_t *st;
    *n_out = 0;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc || !st)
        return rc;
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    int t = config_setting_type(st);
    if (t == CONFIG_TYPE_STRING) {
        if (max_n < 1)
            return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d strings, got 1", max_n);
        out[0] = config_setting_get_string(st);
        *n_out = 1;
        return NN_OK;
    }
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
        return nn_spec__type_error(n, st, path, "a string or an array of strings", err);
    int len = config_setting_length(st);
    if (len > max_n)
        return nn_spec__fail_at(n->spec, st, path, err, "expected at most %d string%s, got %d", max_n,
                       max_n == 1 ? "" : "s", len);
    for (int i = 0; i < len; i++) {
        const config_setting_t *e = config_setting_get_elem(st, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            char idx[32], epath[PATH_MAX_LEN];
            snprintf(idx, sizeof idx, "[%d]", i);
            nn_spec__join(path, idx, epath, sizeof epath);
            return nn_spec__type_error(n, e, epath, "a string", err);
        }
        out[i] = config_setting_get_string(e);
    }
    *n_out = len;
    return NN_OK;
}

/* ---- unknown keys and custom errors ------------------------------------ */

nn_status nn_spec_check_unknown(nn_spec_node *n, nn_error *err)
{
    if (!n || config_setting_type(n->s) != CONFIG_TYPE_GROUP)
        return NN_OK;
    int len = config_setting_length(n->s);
    for (int i = 0; i < len; i++) {
        const config_setting_t *m = config_setting_get_elem(n->s, (unsigned)i);
        const char *name = config_setting_name(m);
        bool known = false;
        for (int k = 0; k < n->n_known && !known; k++)
            known = strcmp(n->known[k], name) == 0;
        if (known)
            continue;
        char where[256];
        if (nn_spec__misplaced(n->path, name, where, sizeof where))
            return nn_spec__fail_at(n->spec, m, n->path, err, "%s", where);
        const char *close =
            nn_did_you_mean(name, (const char *const *)n->known, n->n_known);
        if (close)
            return nn_spec__fail_at(n->spec, m, n->path, err, "unknown key \"%s\"; did you mean \"%s\"?",
                           name, close);
        return nn_spec__fail_at(n->spec, m, n->path, err, "unknown key \"%s\"", name);
    }
    return NN_OK;
}

nn_status nn_spec_fail(nn_spec_node *n, const char *key, nn_error *err, nn_status code,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!n) {
        char msg[sizeof err->msg];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        return nn_fail(err, code, "%s%s%s", key ? key : "", key ? ": " : "", msg);
    }
    const config_setting_t *st = n->s;
    if (key && config_setting_type(n->s) == CONFIG_TYPE_GROUP) {
        const config_setting_t *m = config_setting_get_member(n->s, key);
        if (m)
            st = m;
    }
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    nn_status rc = nn_spec__vfail_at(n->spec, st, path, err, code, fmt, ap);
    va_end(ap);
    return rc;
}

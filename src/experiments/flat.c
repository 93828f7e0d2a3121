/* Specs flattened to key = value pairs and their differences. See runs.h. */
#define _GNU_SOURCE /* asprintf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "experiments/runs.h"
#include "experiments/runs_internal.h"

/* ---- flattening ------------------------------------------------------------- */

typedef struct {
    nn_flat *f;
    int cap;
    nn_error *err;
} flattener;

static nn_status add_kv(flattener *fl, char *key, char *value, bool numeric, double num)
{
    if (!key || !value) {
        free(key);
        free(value);
        return nn_fail(fl->err, NN_ERR_RUNTIME, "out of memory");
    }
    if (fl->f->n == fl->cap) {
        int cap = fl->cap ? 2 * fl->cap : 32;
        nn_kv *kv = realloc(fl->f->kv, (size_t)cap * sizeof *kv);
        if (!kv) {
            free(key);
            free(value);
            return nn_fail(fl->err, NN_ERR_RUNTIME, "out of memory");
        }
        fl->f->kv = kv;
        fl->cap = cap;
    }
    fl->f->kv[fl->f->n++] = (nn_kv){key, value, numeric, num};
    return NN_OK;
}

/* Text of a scalar; quote_strings for strings inside arrays. */
static char *scalar_text(const config_setting_t *s, bool quote_strings, bool *numeric,
                         double *num)
{
    char buf[64];
    *numeric = false;
    *num = NAN;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: {
        long long v = config_setting_get_int64(s);
        snprintf(buf, sizeof buf, "%lld", v);
        *numeric = true;
        *num = (double)v;
        return strdup(buf);
    }
    case CONFIG_TYPE_FLOAT: {
        double v = config_setting_get_float(s);
        nn_runs__format_double(buf, sizeof buf, v, true);
        *numeric = true;
        *num = v;
        return strdup(buf);
    }
    case CONFIG_TYPE_BOOL:
        return strdup(config_setting_get_bool(s) ? "true" : "false");
    case CONFIG_TYPE_STRING: {
        const char *v = config_setting_get_string(s);
        if (!quote_strings)
            return strdup(v ? v : "");
        char *q = NULL;
        return asprintf(&q, "\"%s\"", v ? v : "") < 0 ? NULL : q;
    }
    default:
        return strdup("?");
    }
}

static nn_status flatten_setting(flattener *fl, const config_setting_t *s, const char *path)
{
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_GROUP || type == CONFIG_TYPE_LIST) {
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            const config_setting_t *c = config_setting_get_elem(s, (unsigned)i);
            char *sub;
            if (type == CONFIG_TYPE_GROUP)
                sub = *path ? nn_runs__asprintf(fl->err, "%s.%s", path, config_setting_name(c))
                            : nn_runs__asprintf(fl->err, "%s", config_setting_name(c));
            else
                sub = nn_runs__asprintf(fl->err, "%s.[%d]", path, i);
            if (!sub)
                return NN_ERR_RUNTIME;
            nn_status st = flatten_setting(fl, c, sub);
            free(sub);
            if (st)
                return st;
        }
        return NN_OK;
    }
    bool numeric;
    double num;
    char *value;
    if (type == CONFIG_TYPE_ARRAY) {
        /* one value: "[ 784 ]", "[ \"accuracy\", \"mse\" ]" */
        size_t len = 0;
        FILE *m = open_memstream(&value, &len);
        if (!m)
            return nn_fail(fl->err, NN_ERR_RUNTIME, "out of memory");
        fputc('[', m);
        int n = config_setting_length(s);
        for (int i = 0; i < n; i++) {
            bool en;
            double ev;
            char *e = scalar_text(config_setting_get_elem(s, (unsigned)i), true, &en, &ev);
            fprintf(m, "%s%s", i ? ", " : "", e ? e : "?");
            free(e);
        }
        fputc(']', m);
        if (fclose(m))
            return nn_fail(fl->err, NN_ERR_RUNTIME, "out of memory");
        numeric = false;
        num = NAN;
    } else {
        value = scalar_text(s, false, &numeric, &num);
    }
    return add_kv(fl, strdup(path), value, numeric, num);
}

nn_status nn_spec_flatten(const char *text, const char *display_name, nn_flat *out,
                          nn_error *err)
{
    memset(out, 0, sizeof *out);
    config_t cfg;
    config_init(&cfg);
    if (!config_read_string(&cfg, text)) {
        nn_status st = nn_fail(err, NN_ERR_RUNTIME, "%s:%d: %s", display_name,
                               config_error_line(&cfg), config_error_text(&cfg));
        config_destroy(&cfg);
        return st;
    }
    flattener fl = {out, 0, err};
    nn_status st = flatten_setting(&fl, config_root_setting(&cfg), "");
    config_destroy(&cfg);
    if (st)
        nn_flat_free(out);
    return st;
}

void nn_flat_free(nn_flat *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        free(f->kv[i].key);
        free(f->kv[i].value);
    }
    free(f->kv);
    f->kv = NULL;
    f->n = 0;
}

const nn_kv *nn_flat_get(const nn_flat *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->kv[i].key, key))
            return &f->kv[i];
    return NULL;
}

bool nn_kv_equal(const nn_kv *a, const nn_kv *b)
{
    if (!a || !b)
        return a == b;
    if (a->numeric && b->numeric)
        return a->num == b->num;
    return a->numeric == b->numeric && !strcmp(a->value, b->value);
}

/* "<list>.[N]..." -> N (list: "model.layers", "train.callbacks"), and
 * where the rest of the key starts; -1 for a key elsewhere. */
static int list_index(const char *key, const char *list, const char **rest)
{
    size_t n = strlen(list);
    if (strncmp(key, list, n) != 0 || strncmp(key + n, ".[", 2) != 0)
        return -1;
    char *end;
    long k = strtol(key + n + 2, &end, 10);
    if (end[0] != ']' || (end[1] != '.' && end[1] != '\0') || k < 0 || k > 100000)
        return -1;
    *rest = end + 1;
    return (int)k;
}

static int layer_index(const char *key, const char **rest)
{
    return list_index(key, "model.layers", rest);
}

nn_status nn_flat_layers_by_name(nn_flat *f, nn_error *err)
{
    int n = 0;
    const char *rest;
    for (int i = 0; i < f->n; i++) {
        int k = layer_index(f->kv[i].key, &rest);
        if (k >= n)
            n = k + 1;
    }
    f->n_layers = n;
    if (!n)
        return NN_OK;
    char **names = calloc((size_t)n, sizeof *names);
    if (!names)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    nn_status st = NN_OK;
    /* each layer's name: its own, or the one nnctl gives it (its type,
     * then type_1, type_2, ... as Keras) */
    for (int k = 0; k < n && !st; k++) {
        char key[64];
        snprintf(key, sizeof key, "model.layers.[%d].name", k);
        const nn_kv *name = nn_flat_get(f, key);
        snprintf(key, sizeof key, "model.layers.[%d].type", k);
        const nn_kv *type = nn_flat_get(f, key);
        const char *base = type ? type->value : "layer";
        if (name) {
            names[k] = strdup(name->value);
        } else {
            for (int c = 0; !names[k]; c++) {
                char *cand = c ? nn_runs__asprintf(err, "%s_%d", base, c) : strdup(base);
                if (!cand)
                    break;
                bool taken = false;
                for (int q = 0; q < k && !taken; q++)
                    taken = names[q] && !strcmp(names[q], cand);
                if (taken)
                    free(cand);
                else
                    names[k] = cand;
            }
        }
        if (!names[k])
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int i = 0; i < f->n && !st; i++) {
        int k = layer_index(f->kv[i].key, &rest);
        if (k < 0)
            continue;
        char *key = nn_runs__asprintf(err, "model.layers.%s%s", names[k], rest);
        if (!key) {
            st = NN_ERR_RUNTIME;
            break;
        }
        free(f->kv[i].key);
        f->kv[i].key = key;
    }
    for (int k = 0; k < n; k++)
        free(names[k]);
    free(names);
    return st;
}

/* model.layers.NAME.type: a layer's type (not a wrapped layer's). */
static bool layer_type_key(const char *k)
{
    static const char prefix[] = "model.layers.";
    const char *dot;
    return !strncmp(k, prefix, sizeof prefix - 1) && (dot = strchr(k + sizeof prefix - 1, '.')) &&
           !strcmp(dot, ".type");
}

static const nn_kv *next_layer_type(const nn_flat *f, int *i)
{
    for (; *i < f->n; (*i)++)
        if (layer_type_key(f->kv[*i].key))
            return &f->kv[(*i)++];
    return NULL;
}

bool nn_flat_layer_types(const nn_flat *a, const nn_flat *b)
{
    int ia = 0, ib = 0;
    for (;;) {
        const nn_kv *ka = next_layer_type(a, &ia), *kb = next_layer_type(b, &ib);
        if (!ka || !kb)
            return !ka && !kb;
        if (strcmp(ka->key, kb->key) || !nn_kv_equal(ka, kb))
            return false;
    }
}

nn_status nn_flat_diff(const nn_flat *const *specs, int n, const char ***keys, int *n_keys,
                       nn_error *err)
{
    *keys = NULL;
    *n_keys = 0;
    int total = 0;
    for (int r = 0; r < n; r++)
        total += specs[r]->n;
    if (n < 2 || total == 0)
        return NN_OK;
    const char **out = malloc((size_t)total * sizeof *out);
    if (!out)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int m = 0;
    for (int r = 0; r < n; r++)
        for (int i = 0; i < specs[r]->n; i++) {
            const char *key = specs[r]->kv[i].key;
            bool seen = false; /* in an earlier spec, or earlier in this one */
            for (int q = 0; q < r && !seen; q++)
                seen = nn_flat_get(specs[q], key) != NULL;
            if (seen)
                continue;
            const nn_kv *first = &specs[r]->kv[i];
            bool differs = r > 0; /* absent from spec 0 */
            for (int q = r + 1; q < n && !differs; q++)
                differs = !nn_kv_equal(first, nn_flat_get(specs[q], key));
            if (differs)
                out[m++] = key;
        }
    if (m == 0) {
        free(out);
        return NN_OK;
    }
    *keys = out;
    *n_keys = m;
    return NN_OK;
}

/* "train.callbacks.[N]." -> N, and where the rest of the key starts. */
static int callback_index(const char *key, const char **rest)
{
    return list_index(key, "train.callbacks", rest);
}

nn_status nn_flat_callbacks_by_type(nn_flat *f, nn_error *err)
{
    /* each entry's type, and which occurrence of it the entry is */
    int most = -1;
    const char *rest;
    for (int i = 0; i < f->n; i++) {
        int k = callback_index(f->kv[i].key, &rest);
        if (k > most)
            most = k;
    }
    if (most < 0)
        return NN_OK;
    const char **type = calloc((size_t)most + 1, sizeof *type);
    int *nth = calloc((size_t)most + 1, sizeof *nth);
    if (!type || !nth) {
        free(type);
        free(nth);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int i = 0; i < f->n; i++) {
        int k = callback_index(f->kv[i].key, &rest);
        if (k >= 0 && !strcmp(rest, ".type") && !f->kv[i].numeric)
            type[k] = f->kv[i].value;
    }
    for (int k = 0; k <= most; k++)
        for (int j = 0; j < k && type[k]; j++)
            nth[k] += type[j] && !strcmp(type[j], type[k]);
    /* the keys first (the types are strings of the type entries), then
     * the type entries go: the new keys imply them */
    nn_status st = NN_OK;
    for (int i = 0; i < f->n && !st; i++) {
        nn_kv *kv = &f->kv[i];
        int k = callback_index(kv->key, &rest);
        if (k < 0 || !type[k] || !strcmp(rest, ".type"))
            continue;
        char *key = nth[k] ? nn_runs__asprintf(err, "train.callbacks.%s[%d]%s", type[k],
                                               nth[k] + 1, rest)
                           : nn_runs__asprintf(err, "train.callbacks.%s%s", type[k], rest);
        if (!key) {
            st = NN_ERR_RUNTIME;
            break;
        }
        free(kv->key);
        kv->key = key;
    }
    int o = 0;
    for (int i = 0; i < f->n; i++) {
        int k = callback_index(f->kv[i].key, &rest);
        if (!st && k >= 0 && type[k] && !strcmp(rest, ".type")) {
            free(f->kv[i].key);
            free(f->kv[i].value);
            continue;
        }
        f->kv[o++] = f->kv[i];
    }
    f->n = o;
    free(type);
    free(nth);
    return st;
}

bool nn_flat_callback_key(const char *key, char *type, size_t len, const char **leaf)
{
    static const char prefix[] = "train.callbacks.";
    if (strncmp(key, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *t = key + sizeof prefix - 1, *dot = strchr(t, '.');
    if (!dot || t[0] == '[')
        return false;
    size_t n = strcspn(t, "[.");
    snprintf(type, len, "%.*s", (int)n, t);
    *leaf = dot + 1;
    return true;
}

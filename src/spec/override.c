/* --set key.path=value: changing the document after loading.
 *
 * Every setting created or changed here carries the assignment text as its
 * libconfig hook, so later errors about it cite "--set <assignment>". */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spec/spec_internal.h"

#define PATH_MAX_LEN 512
#define DESC_LEN 128

/* ---- values ------------------------------------------------------------ */

typedef struct {
    int type; /* CONFIG_TYPE_INT, INT64, FLOAT, BOOL or STRING */
    long long i;
    double f;
    int b;
    char *str; /* STRING: the value (malloc'd) */
    char *raw; /* the text as written, unquoted (malloc'd) */
} scalar;

typedef struct {
    bool is_array;
    scalar one;     /* !is_array */
    scalar *elems;  /* is_array */
    int n;
    int elem_type;  /* is_array: the common type (INT for an empty array) */
} value;

static void scalar_free(scalar *sc)
{
    free(sc->str);
    free(sc->raw);
    sc->str = sc->raw = NULL;
}

static void value_free(value *v)
{
    scalar_free(&v->one);
    for (int i = 0; i < v->n; i++)
        scalar_free(&v->elems[i]);
    free(v->elems);
    memset(v, 0, sizeof *v);
}

static char *dup_range(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void trim(const char **p, size_t *n)
{
    while (*n && isspace((unsigned char)**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*p)[*n - 1]))
        (*n)--;
}

static bool is_quoted(const char *p, size_t n) { return n >= 2 && p[0] == '"' && p[n - 1] == '"'; }

/* The contents of "...", with \" \\ \n \t unescaped. */
static char *unquote(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    size_t o = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        char c = p[i];
        if (c == '\\' && i + 2 < n) {
            char e = p[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
        s[o++] = c;
    }
    s[o] = '\0';
    return s;
}

static bool looks_integer(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

/* [+-] digits [. digits] [e [+-] digits], with at least one digit before the
 * exponent; no inf or nan (libconfig could not read them back). */
static bool looks_float(const char *s)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    while (isdigit((unsigned char)*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            digits++;
        }
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

/* Reads one scalar from p[0..n) (already trimmed) with the type its syntax
 * implies. Returns false only when out of memory. */
static bool parse_scalar(const char *p, size_t n, scalar *sc)
{
    memset(sc, 0, sizeof *sc);
    if (is_quoted(p, n)) {
        sc->type = CONFIG_TYPE_STRING;
        sc->str = unquote(p, n);
        sc->raw = unquote(p, n);
        return sc->str && sc->raw;
    }
    sc->raw = dup_range(p, n);
    if (!sc->raw)
        return false;
    const char *t = sc->raw;
    if (looks_integer(t)) {
        char *end;
        errno = 0;
        long long v = strtoll(t, &end, 10);
        if (errno == 0) {
            sc->type = (v >= INT_MIN && v <= INT_MAX) ? CONFIG_TYPE_INT : CONFIG_TYPE_INT64;
            sc->i = v;
            sc->f = (double)v;
            return true;
        }
        /* too big for 64 bits: read it as a float */
    }
    if (looks_float(t)) {
        sc->type = CONFIG_TYPE_FLOAT;
        sc->f = strtod(t, NULL);
        return true;
    }
    if (strcasecmp(t, "true") == 0 || strcasecmp(t, "false") == 0) {
        sc->type = CONFIG_TYPE_BOOL;
        sc->b = strcasecmp(t, "true") == 0;
        return true;
    }
    sc->type = CONFIG_TYPE_STRING;
    sc->str = strdup(t);
    return sc->str != NULL;
}

static bool is_int(int t) { return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64; }
static bool is_scalar(int t)
{
    return is_int(t) || t == CONFIG_TYPE_FLOAT || t == CONFIG_TYPE_BOOL || t == CONFIG_TYPE_STRING;
}

/* Gives sc the type `want` (an existing setting's type) where its text fits
 * that type: an int where a float was becomes a float, anything where a
 * string was becomes that string, an int where an int64 was stays int64.
 * Where it does not fit (0.5 for an int), sc keeps its own type. */
static bool fit_type(scalar *sc, int want)
{
    switch (want) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        if (is_int(sc->type) && want == CONFIG_TYPE_INT64)
            sc->type = CONFIG_TYPE_INT64;
        return true;
    case CONFIG_TYPE_FLOAT:
        if (is_int(sc->type)) {
            sc->type = CONFIG_TYPE_FLOAT;
            sc->f = (double)sc->i;
        }
        return true;
    case CONFIG_TYPE_STRING:
        if (sc->type != CONFIG_TYPE_STRING) {
            free(sc->str);
            sc->str = strdup(sc->raw);
            sc->type = CONFIG_TYPE_STRING;
            return sc->str != NULL;
        }
        return true;
    default:
        return true;
    }
}

/* Splits "[a, b, "c,d"]" into scalars. Returns 0, -1 for out of memory, or
 * 1 for a syntax problem (message in why). */
static int parse_array(const char *p, size_t n, value *v, char *why, size_t why_n)
{
    v->is_array = true;
    const char *in = p + 1;
    size_t in_n = n - 2;
    trim(&in, &in_n);
    if (in_n == 0) {
        v->elem_type = CONFIG_TYPE_INT;
        return 0;
    }
    int cap = 1;
    for (size_t i = 0; i < in_n; i++)
        cap += in[i] == ',';
    v->elems = calloc((size_t)cap, sizeof *v->elems);
    if (!v->elems)
        return -1;
    size_t start = 0;
    bool in_str = false;
    for (size_t i = 0; i <= in_n; i++) {
        if (i < in_n && in[i] == '"' && (i == 0 || in[i - 1] != '\\'))
            in_str = !in_str;
        if (i < in_n && (in_str || in[i] != ','))
            continue;
        const char *e = in + start;
        size_t e_n = i - start;
        trim(&e, &e_n);
        if (e_n == 0) {
            snprintf(why, why_n, "an empty element in the array");
            return 1;
        }
        if (e[0] == '[' || e[0] == '(' || e[0] == '{') {
            snprintf(why, why_n, "arrays cannot be nested");
            return 1;
        }
        if (!parse_scalar(e, e_n, &v->elems[v->n]))
            return -1;
        v->n++;
        start = i + 1;
    }
    /* one element type: ints with floats make floats; nothing else mixes */
    int t = v->elems[0].type;
    for (int i = 1; i < v->n; i++) {
        int u = v->elems[i].type;
        if (u == t)
            continue;
        if ((is_int(t) || t == CONFIG_TYPE_FLOAT) && (is_int(u) || u == CONFIG_TYPE_FLOAT))
            t = (t == CONFIG_TYPE_FLOAT || u == CONFIG_TYPE_FLOAT) ? CONFIG_TYPE_FLOAT
                                                                  : CONFIG_TYPE_INT64;
        else {
            snprintf(why, why_n,
                     "array elements must all have the same type (numbers, strings or "
                     "true/false)");
            return 1;
        }
    }
    v->elem_type = t;
    for (int i = 0; i < v->n; i++)
        if (!fit_type(&v->elems[i], t))
            return -1;
    return 0;
}

/* ---- paths ------------------------------------------------------------- */

typedef struct {
    char *name; /* NULL for an index */
    int index;
} component;

static bool name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '*' ||
           (!first && (isdigit((unsigned char)c) || c == '_' || c == '-'));
}

/* "model.layers.[1].rate" (also "model.layers[1].rate") into components.
 * Returns the count, 0 for a malformed path, -1 for out of memory. The
 * names point into `key`, which this modifies. */
static int parse_path(char *key, component *comps, int max)
{
    int n = 0;
    char *p = key;
    for (;;) {
        if (n == max)
            return 0;
        if (*p == '[') {
            char *end;
            p++;
            if (!isdigit((unsigned char)*p))
                return 0;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (*end != ']' || errno || v > INT_MAX)
                return 0;
            comps[n].name = NULL;
            comps[n].index = (int)v;
            n++;
            p = end + 1;
        } else {
            char *start = p;
            if (!name_char(*p, true))
                return 0;
            while (name_char(*p, false))
                p++;
            comps[n].name = start;
            comps[n].index = -1;
            n++;
            if (*p == '[') { /* layers[1]: terminate the name, keep the '[' */
                memmove(p + 1, p, strlen(p) + 1);
                *p++ = '\0';
                continue;
            }
        }
        if (*p == '\0')
            return n;
        if (*p != '.' && *p != '[')
            return 0;
        if (*p == '.') {
            *p++ = '\0';
            if (*p == '\0')
                return 0;
        }
    }
}

static void append_path(char *path, size_t n, const component *c)
{
    char piece[PATH_MAX_LEN];
    if (c->name)
        snprintf(piece, sizeof piece, "%s", c->name);
    else
        snprintf(piece, sizeof piece, "[%d]", c->index);
    char old[PATH_MAX_LEN];
    snprintf(old, sizeof old, "%s", path);
    nn_spec__join(old, piece, path, n);
}

/* ---- applying ---------------------------------------------------------- */

static bool set_hook(config_setting_t *st, const char *assignment)
{
    char *copy = strdup(assignment);
    if (!copy)
        return false;
    free(config_setting_get_hook(st));
    config_setting_set_hook(st, copy);
    return true;
}

static int set_scalar(config_setting_t *st, const scalar *sc)
{
    switch (sc->type) {
    case CONFIG_TYPE_INT:
        return config_setting_set_int(st, (int)sc->i);
    case CONFIG_TYPE_INT64:
        return config_setting_set_int64(st, sc->i);
    case CONFIG_TYPE_FLOAT:
        return config_setting_set_float(st, sc->f);
    case CONFIG_TYPE_BOOL:
        return config_setting_set_bool(st, sc->b);
    default:
        return config_setting_set_string(st, sc->str);
    }
}

/* Makes scalar setting st hold sc, changing its type in place (so it keeps
 * its position among its siblings). */
static int retype_scalar(config_setting_t *st, const scalar *sc)
{
    if (config_setting_type(st) != sc->type) {
        if (config_setting_type(st) == CONFIG_TYPE_STRING)
            free(st->value.sval); /* libconfig's strings come from malloc */
        memset(&st->value, 0, sizeof st->value);
        st->type = CONFIG_TYPE_NONE;
    }
    st->format = CONFIG_FORMAT_DEFAULT;
    return set_scalar(st, sc);
}

static int fill_array(config_setting_t *arr, const value *v)
{
    while (config_setting_length(arr) > 0)
        if (!config_setting_remove_elem(arr, 0))
            return CONFIG_FALSE;
    for (int i = 0; i < v->n; i++) {
        config_setting_t *e = config_setting_add(arr, NULL, v->elems[i].type);
        if (!e || !set_scalar(e, &v->elems[i]))
            return CONFIG_FALSE;
    }
    return CONFIG_TRUE;
}

/* A new setting `name` in group parent holding v. */
static config_setting_t *add_value(config_setting_t *parent, const char *name, const value *v)
{
    int type = v->is_array ? CONFIG_TYPE_ARRAY : v->one.type;
    config_setting_t *st = config_setting_add(parent, name, type);
    if (!st)
        return NULL;
    int ok = v->is_array ? fill_array(st, v) : set_scalar(st, &v->one);
    return ok ? st : NULL;
}

typedef struct {
    nn_spec *s;
    const char *assignment;
    nn_error *err;
} ctx;

static nn_status ofail(const ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static nn_status ofail(const ctx *c, const char *path, const char *fmt, ...)
{
    char msg[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (path && *path)
        return nn_fail(c->err, NN_ERR_USAGE, "--set %s: %s: %s", c->assignment, path, msg);
    return nn_fail(c->err, NN_ERR_USAGE, "--set %s: %s", c->assignment, msg);
}

static nn_status oom(const ctx *c)
{
    return nn_fail(c->err, NN_ERR_RUNTIME, "--set %s: out of memory", c->assignment);
}

/* Steps from cur into component comp; creates a missing group when `create`.
 * path is cur's path on entry and the child's on return. */
static nn_status step(const ctx *c, config_setting_t *cur, const component *comp, bool create,
                      config_setting_t **next, char *path, size_t path_n)
{
    char got[DESC_LEN];
    int t = config_setting_type(cur);
    *next = NULL;
    if (comp->name) {
        if (t != CONFIG_TYPE_GROUP) {
            nn_spec__describe(cur, got, sizeof got);
            return ofail(c, path, "expected a group holding \"%s\", got %s", comp->name, got);
        }
        append_path(path, path_n, comp);
        *next = config_setting_get_member(cur, comp->name);
        if (!*next && create) {
            *next = config_setting_add(cur, comp->name, CONFIG_TYPE_GROUP);
            if (!*next)
                return ofail(c, path, "cannot create this group");
            if (!set_hook(*next, c->assignment))
                return oom(c);
        }
        return NN_OK;
    }
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) {
        nn_spec__describe(cur, got, sizeof got);
        return ofail(c, path, "expected a list to index with [%d], got %s", comp->index, got);
    }
    int len = config_setting_length(cur);
    if (comp->index >= len) {
        char parent[PATH_MAX_LEN];
        snprintf(parent, sizeof parent, "%s", path);
        append_path(path, path_n, comp);
        return ofail(c, path, "no such element (%s has %d)", *parent ? parent : "the list", len);
    }
    append_path(path, path_n, comp);
    *next = config_setting_get_elem(cur, (unsigned)comp->index);
    return NN_OK;
}

static nn_status apply(const ctx *c, config_setting_t *parent, const component *last,
                       config_setting_t *existing, value *v, const char *path)
{
    char got[DESC_LEN];
    if (!existing) {
        config_setting_t *st = add_value(parent, last->name, v);
        if (!st)
            return ofail(c, path, "cannot create this key");
        return set_hook(st, c->assignment) ? NN_OK : oom(c);
    }
    int old = config_setting_type(existing);
    int new_type = v->is_array ? CONFIG_TYPE_ARRAY : v->one.type;
    bool in_array = config_setting_type(parent) == CONFIG_TYPE_ARRAY;
    if (in_array && new_type != old) {
        const char *want = is_int(old) ? "an integer" : old == CONFIG_TYPE_FLOAT ? "a number"
                           : old == CONFIG_TYPE_BOOL ? "true or false" : "a string";
        const char *q = !v->is_array && v->one.type == CONFIG_TYPE_STRING ? "\"" : "";
        return ofail(c, path, "expected %s like the array's other elements, got %s%s%s", want, q,
                     v->is_array ? "an array" : v->one.raw, q);
    }
    if (is_scalar(old) && !v->is_array) {
        if (!retype_scalar(existing, &v->one))
            return ofail(c, path, "cannot set this value");
        return set_hook(existing, c->assignment) ? NN_OK : oom(c);
    }
    if (old == CONFIG_TYPE_ARRAY && v->is_array) {
        if (!fill_array(existing, v))
            return ofail(c, path, "cannot set this array");
        return set_hook(existing, c->assignment) ? NN_OK : oom(c);
    }
    /* a group, list or array replaced by something else: remove and re-add */
    if (config_setting_type(parent) != CONFIG_TYPE_GROUP) {
        nn_spec__describe(existing, got, sizeof got);
        return ofail(c, path, "cannot replace %s inside a list; set its keys instead", got);
    }
    if (nn_spec__node_uses(c->s, existing))
        return ofail(c, path, "apply overrides before reading the spec");
    if (!config_setting_remove(parent, last->name))
        return ofail(c, path, "cannot replace this key");
    config_setting_t *st = add_value(parent, last->name, v);
    if (!st)
        return ofail(c, path, "cannot create this key");
    return set_hook(st, c->assignment) ? NN_OK : oom(c);
}

/* Walks to the parent of the last component and finds the last one there
 * (*existing, NULL when absent). Missing groups on the way are created when
 * `create`; otherwise the walk stops at the first one with *parent = NULL,
 * after checking that the rest of the path could be created (a group can be,
 * a list cannot). */
static nn_status resolve(const ctx *c, const component *comps, int n, bool create,
                         config_setting_t **parent, config_setting_t **existing, char *path,
                         size_t path_n)
{
    config_setting_t *cur = config_root_setting(&c->s->cfg), *next;
    path[0] = '\0';
    *parent = *existing = NULL;
    for (int i = 0; i + 1 < n; i++) {
        nn_status rc = step(c, cur, &comps[i], create, &next, path, path_n);
        if (rc)
            return rc;
        if (!next) {
            for (int j = i + 1; j < n; j++)
                if (!comps[j].name)
                    return ofail(c, path, "%s", j == i + 1 ? "no such list" : "no such key");
            return NN_OK;
        }
        cur = next;
    }
    *parent = cur;
    return step(c, cur, &comps[n - 1], false, existing, path, path_n);
}

nn_status nn_spec_override(nn_spec *s, const char *assignment, nn_error *err)
{
    ctx c = {s, assignment, err};
    const char *eq = strchr(assignment, '=');
    const char *k = assignment;
    size_t k_n = eq ? (size_t)(eq - assignment) : 0;
    trim(&k, &k_n);
    if (!eq || k_n == 0)
        return nn_fail(err, NN_ERR_USAGE, "--set %s: expected key.path=value", assignment);
    const char *val = eq + 1;
    size_t val_n = strlen(val);
    trim(&val, &val_n);

    /* the path */
    char *key = malloc(2 * k_n + 1); /* room for parse_path's insertions */
    if (!key)
        return oom(&c);
    memcpy(key, k, k_n);
    key[k_n] = '\0';
    char key_text[PATH_MAX_LEN];
    snprintf(key_text, sizeof key_text, "%s", key);
    component comps[64];
    int n = parse_path(key, comps, 64);
    /* libconfig reads true/false (any case) as booleans, never as names: a
     * key so named could be set here but would not load again from the
     * spec text stored in model files */
    for (int i = 0; i < n; i++)
        if (comps[i].name &&
            (strcasecmp(comps[i].name, "true") == 0 || strcasecmp(comps[i].name, "false") == 0))
            n = 0;
    if (n <= 0) {
        free(key);
        return nn_fail(err, NN_ERR_USAGE,
                       "--set %s: bad key path \"%s\" (expected names and [N] indices joined "
                       "by dots, e.g. model.layers.[1].rate)",
                       assignment, key_text);
    }

    /* check the path without changing anything, then read the value, and
     * only then create missing groups, so a failed --set leaves no trace */
    nn_status rc;
    value v;
    memset(&v, 0, sizeof v);
    char path[PATH_MAX_LEN] = "", walked[PATH_MAX_LEN];
    for (int i = 0; i < n; i++)
        append_path(path, sizeof path, &comps[i]);
    const component *last = &comps[n - 1];
    config_setting_t *cur = NULL, *existing = NULL;
    rc = resolve(&c, comps, n, false, &cur, &existing, walked, sizeof walked);

    /* the value */
    if (rc == NN_OK) {
        /* an existing key (or array element) keeps its type where the value fits */
        int old = existing ? config_setting_type(existing) : CONFIG_TYPE_NONE;
        if (old == CONFIG_TYPE_STRING) {
            /* a string key takes the text as is (without surrounding quotes) */
            if (!parse_scalar(val, val_n, &v.one) || !fit_type(&v.one, CONFIG_TYPE_STRING))
                rc = oom(&c);
        } else if (val_n >= 2 && val[0] == '[' && val[val_n - 1] == ']') {
            char why[200];
            int r = parse_array(val, val_n, &v, why, sizeof why);
            if (r < 0)
                rc = oom(&c);
            else if (r > 0)
                rc = ofail(&c, path, "%s", why);
            else if (old == CONFIG_TYPE_ARRAY && config_setting_length(existing) > 0 && v.n > 0) {
                /* keep the old element type where the new elements fit it */
                int et = config_setting_type(config_setting_get_elem(existing, 0));
                int target = v.elem_type;
                if (et == CONFIG_TYPE_STRING)
                    target = CONFIG_TYPE_STRING;
                else if (et == CONFIG_TYPE_FLOAT && is_int(v.elem_type))
                    target = CONFIG_TYPE_FLOAT;
                else if (et == CONFIG_TYPE_INT64 && v.elem_type == CONFIG_TYPE_INT)
                    target = CONFIG_TYPE_INT64;
                v.elem_type = target;
                for (int i = 0; i < v.n && rc == NN_OK; i++)
                    if (!fit_type(&v.elems[i], target))
                        rc = oom(&c);
            }
        } else if (!parse_scalar(val, val_n, &v.one)) {
            rc = oom(&c);
        } else if (old != CONFIG_TYPE_NONE && !fit_type(&v.one, old)) {
            rc = oom(&c);
        }
    }
    if (rc == NN_OK && !cur)
        rc = resolve(&c, comps, n, true, &cur, &existing, walked, sizeof walked);
    if (rc == NN_OK)
        rc = apply(&c, cur, last, existing, &v, path);
    value_free(&v);
    free(key);
    return rc;
}

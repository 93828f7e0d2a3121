/* --set key.path=value: changing the document after loading.
 *
 * Every setting created or changed here carries the assignment text as its
 * libconfig hook, so later errors about it cite "--set <assignment>". */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spec/override_value.h"
#include "spec/spec_internal.h"

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

/* A float of v that is not finite ("1e999" reads as inf, and a spec
 * holding inf cannot be written back to text that loads), or NULL */
static const ov_scalar *non_finite(const ov_value *v)
{
    if (!v->is_array)
        return v->one.type == CONFIG_TYPE_FLOAT && !isfinite(v->one.f) ? &v->one : NULL;
    for (int i = 0; i < v->n; i++)
        if (v->elems[i].type == CONFIG_TYPE_FLOAT && !isfinite(v->elems[i].f))
            return &v->elems[i];
    return NULL;
}

static int set_scalar(config_setting_t *st, const ov_scalar *sc)
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
static int retype_scalar(config_setting_t *st, const ov_scalar *sc)
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

static int fill_array(config_setting_t *arr, const ov_value *v)
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
static config_setting_t *add_value(config_setting_t *parent, const char *name, const ov_value *v)
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
                       config_setting_t *existing, ov_value *v, const char *path)
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
        const char *want = ov_is_int(old) ? "an integer" : old == CONFIG_TYPE_FLOAT ? "a number"
                           : old == CONFIG_TYPE_BOOL ? "true or false" : "a string";
        const char *q = !v->is_array && v->one.type == CONFIG_TYPE_STRING ? "\"" : "";
        return ofail(c, path, "expected %s like the array's other elements, got %s%s%s", want, q,
                     v->is_array ? "an array" : v->one.raw, q);
    }
    if (ov_is_scalar(old) && !v->is_array) {
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
    ov_trim(&k, &k_n);
    if (!eq || k_n == 0)
        return nn_fail(err, NN_ERR_USAGE, "--set %s: expected key.path=value", assignment);
    const char *val = eq + 1;
    size_t val_n = strlen(val);
    ov_trim(&val, &val_n);

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
    ov_value v;
    memset(&v, 0, sizeof v);
    char path[PATH_MAX_LEN] = "", walked[PATH_MAX_LEN];
    for (int i = 0; i < n; i++)
        append_path(path, sizeof path, &comps[i]);
    const component *last = &comps[n - 1];
    config_setting_t *cur = NULL, *existing = NULL;
    rc = resolve(&c, comps, n, false, &cur, &existing, walked, sizeof walked);

    /* the ov_value */
    if (rc == NN_OK) {
        /* an existing key (or array element) keeps its type where the value fits */
        int old = existing ? config_setting_type(existing) : CONFIG_TYPE_NONE;
        if (old == CONFIG_TYPE_STRING) {
            /* a string key takes the text as is (without surrounding quotes) */
            if (!ov_parse_scalar(val, val_n, &v.one) || !ov_fit_type(&v.one, CONFIG_TYPE_STRING))
                rc = oom(&c);
        } else if (val_n >= 2 && val[0] == '[' && val[val_n - 1] == ']') {
            char why[200];
            int r = ov_parse_array(val, val_n, &v, why, sizeof why);
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
                else if (et == CONFIG_TYPE_FLOAT && ov_is_int(v.elem_type))
                    target = CONFIG_TYPE_FLOAT;
                else if (et == CONFIG_TYPE_INT64 && v.elem_type == CONFIG_TYPE_INT)
                    target = CONFIG_TYPE_INT64;
                v.elem_type = target;
                for (int i = 0; i < v.n && rc == NN_OK; i++)
                    if (!ov_fit_type(&v.elems[i], target))
                        rc = oom(&c);
            }
        } else if (!ov_parse_scalar(val, val_n, &v.one)) {
            rc = oom(&c);
        } else if (old != CONFIG_TYPE_NONE && !ov_fit_type(&v.one, old)) {
            rc = oom(&c);
        }
    }
    const ov_scalar *inf = rc == NN_OK ? non_finite(&v) : NULL;
    if (inf)
        rc = ofail(&c, path, "%s is beyond a number's range (about 1.8e308 at most)", inf->raw);
    if (rc == NN_OK && !cur)
        rc = resolve(&c, comps, n, true, &cur, &existing, walked, sizeof walked);
    if (rc == NN_OK)
        rc = apply(&c, cur, last, existing, &v, path);
    ov_value_free(&v);
    free(key);
    return rc;
}

/* The spec layer: loading and nodes. Error formatting (file:line, what a
 * value is) lives in spec_errors.c, the typed getters in spec_values.c,
 * overrides (--set) in override.c, "did you mean" in did_you_mean.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_internal.h"

/* ---- loading ----------------------------------------------------------- */

static void spec_hook_free(void *hook) { free(hook); }

/* The duplicated key's name: the only key on line `line` of text, or the
 * key named twice on that line. */
static int duplicate_key_name(const char *text, int line, char *name, size_t n)
{
    const char *p = text;
    for (int l = 1; l < line && p; l++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!p)
        return 0;
    const char *end = strchr(p, '\n');
    if (!end)
        end = p + strlen(p);
    int found = 0;
    char keys[32][128];
    while (p < end) {
        if (*p == '"') { /* skip strings */
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
            p++;
            continue;
        }
        if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/'))
            break;
        if (isalpha((unsigned char)*p) || *p == '*') {
            const char *start = p;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '*'))
                p++;
            const char *q = p;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (q < end && (*q == '=' || *q == ':')) {
                if (found < 32)
                    snprintf(keys[found], sizeof keys[0], "%.*s", (int)(p - start), start);
                found++;
            }
            continue;
        }
        p++;
    }
    if (found == 1) {
        snprintf(name, n, "%s", keys[0]);
        return 1;
    }
    for (int i = 1; i < found && i < 32; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(keys[i], keys[j]) == 0) {
                snprintf(name, n, "%s", keys[i]);
                return 1;
            }
    return 0;
}

static nn_status parse_error(const nn_spec *s, const char *text, nn_error *err)
{
    const char *file = config_error_file(&s->cfg);
    const char *what = config_error_text(&s->cfg);
    int line = config_error_line(&s->cfg);
    char where[WHERE_LEN], name[WHERE_LEN - 20];
    nn_spec__file_name(s, file, name, sizeof name);
    if (line > 0)
        snprintf(where, sizeof where, "%s:%d", name, line);
    else
        snprintf(where, sizeof where, "%s", name);
    if (!what)
        what = "syntax error";
    if (strcmp(what, "duplicate setting name") == 0) {
        char name[128];
        if (!file && duplicate_key_name(text, line, name, sizeof name))
            return nn_fail(err, NN_ERR_USAGE,
                           "%s: duplicate key \"%s\" (a key may appear only once in a group)",
                           where, name);
        return nn_fail(err, NN_ERR_USAGE,
                       "%s: duplicate key (a key may appear only once in a group)", where);
    }
    if (strcmp(what, "mismatched element type in array") == 0)
        return nn_fail(err, NN_ERR_USAGE,
                       "%s: array elements must all have the same type (use a list ( ... ) "
                       "for mixed values)",
                       where);
    if (strcmp(what, "file I/O error") == 0)
        return nn_fail(err, NN_ERR_USAGE, "%s: cannot read an @include'd file", where);
    return nn_fail(err, NN_ERR_USAGE, "%s: %s", where, what);
}

/* The first float under st that is not finite (libconfig reads 1e999 as
 * inf, and a spec holding inf cannot be written back to text that loads,
 * as model files store it), or NULL */
static const config_setting_t *non_finite(const config_setting_t *st)
{
    int t = config_setting_type(st);
    if (t == CONFIG_TYPE_FLOAT)
        return isfinite(config_setting_get_float(st)) ? NULL : st;
    if (t != CONFIG_TYPE_GROUP && t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return NULL;
    for (int i = 0; i < config_setting_length(st); i++) {
        const config_setting_t *bad = non_finite(config_setting_get_elem(st, (unsigned)i));
        if (bad)
            return bad;
    }
    return NULL;
}

/* "train.optimizer.lr", "a.[2]": st's key path, as errors name keys */
static void setting_path(const config_setting_t *st, char *out, size_t len)
{
    const config_setting_t *up = config_setting_parent(st);
    if (!up) /* the root */
        return;
    setting_path(up, out, len);
    size_t o = strlen(out);
    const char *name = config_setting_name(st);
    if (name)
        snprintf(out + o, len - o, "%s%s", o ? "." : "", name);
    else
        snprintf(out + o, len - o, "%s[%d]", o ? "." : "", config_setting_index(st));
}

static nn_status load_text(nn_spec **out, const char *text, const char *display,
                           const char *dir, nn_error *err)
{
    *out = NULL;
    nn_spec *s = nn_calloc(1, sizeof *s, err);
    if (!s)
        return NN_ERR_RUNTIME;
    config_init(&s->cfg);
    config_set_destructor(&s->cfg, spec_hook_free);
    s->display = nn_strdup(display, err);
    s->dir = s->display ? nn_strdup(dir, err) : NULL;
    if (!s->display || !s->dir) {
        nn_spec_free(s);
        return NN_ERR_RUNTIME;
    }
    if (*dir)
        config_set_include_dir(&s->cfg, dir);
    if (!config_read_string(&s->cfg, text)) {
        nn_status rc = parse_error(s, text, err);
        nn_spec_free(s);
        return rc;
    }
    const config_setting_t *inf = non_finite(config_root_setting(&s->cfg));
    if (inf) {
        char path[512] = "";
        setting_path(inf, path, sizeof path);
        nn_status rc = nn_fail(err, NN_ERR_USAGE,
                               "%s:%d: %s: a number beyond a float's range (about 1.8e308 at "
                               "most)",
                               s->display, config_setting_source_line(inf), path);
        nn_spec_free(s);
        return rc;
    }
    *out = s;
    return NN_OK;
}

nn_status nn_spec_load_string(nn_spec **out, const char *text, const char *display_name,
                              nn_error *err)
{
    return load_text(out, text, display_name ? display_name : "<string>", "", err);
}

nn_status nn_spec_load_file(nn_spec **out, const char *path, nn_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(err, NN_ERR_USAGE, "cannot read spec file '%s': %s", path,
                       strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        fclose(f);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot read spec file '%s': %s", path,
                       strerror(errno));
    }
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, got, mem);
    int read_err = ferror(f) ? errno : 0;
    fclose(f);
    fclose(mem);
    if (read_err) {
        free(text);
        return nn_fail(err, NN_ERR_USAGE, "cannot read spec file '%s': %s", path,
                       strerror(read_err));
    }
    if (strlen(text) != len) {
        free(text);
        return nn_fail(err, NN_ERR_USAGE, "cannot read spec file '%s': not a text file", path);
    }

    /* the directory, as dirname(3) would give it */
    char *dir = nn_strdup(path, err);
    if (!dir) {
        free(text);
        return NN_ERR_RUNTIME;
    }
    char *slash = strrchr(dir, '/');
    while (slash && slash > dir && slash[1] == '\0') { /* trailing slashes */
        *slash = '\0';
        slash = strrchr(dir, '/');
    }
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';

    nn_status rc = load_text(out, text, path, dir, err);
    free(dir);
    free(text);
    return rc;
}

void nn_spec_free(nn_spec *s)
{
    if (!s)
        return;
    nn_spec_node *n = s->nodes;
    while (n) {
        nn_spec_node *next = n->next;
        for (int i = 0; i < n->n_known; i++)
            free(n->known[i]);
        free(n->known);
        free(n->path);
        free(n);
        n = next;
    }
    config_destroy(&s->cfg);
    free(s->display);
    free(s->dir);
    free(s);
}

nn_status nn_spec_to_text(const nn_spec *s, char **text, nn_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    *text = NULL;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write the spec as text: %s", strerror(errno));
    config_write(&s->cfg, f);
    if (fclose(f) != 0) {
        free(buf);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write the spec as text: %s", strerror(errno));
    }
    *text = buf;
    return NN_OK;
}

const char *nn_spec_dir(const nn_spec *s) { return s->dir; }
const char *nn_spec_filename(const nn_spec *s) { return s->display; }
const char *nn_spec_node_dir(const nn_spec_node *n) { return n && n->spec->dir ? n->spec->dir : ""; }

nn_status nn_spec_set_dir(nn_spec *s, const char *dir, nn_error *err)
{
    char *copy = nn_strdup(dir, err);
    if (!copy)
        return NN_ERR_RUNTIME;
    free(s->dir);
    s->dir = copy;
    return NN_OK;
}

/* ---- nodes ------------------------------------------------------------- */

int nn_spec__node_uses(const nn_spec *s, const config_setting_t *st)
{
    for (const nn_spec_node *n = s->nodes; n; n = n->next)
        for (const config_setting_t *p = n->s; p; p = p->parent)
            if (p == st)
                return 1;
    return 0;
}

/* The node for setting st, made once and reused so known keys accumulate. */
static nn_spec_node *get_node(nn_spec *s, config_setting_t *st, const char *path, nn_error *err)
{
    for (nn_spec_node *n = s->nodes; n; n = n->next)
        if (n->s == st)
            return n;
    nn_spec_node *n = nn_calloc(1, sizeof *n, err);
    if (!n)
        return NULL;
    n->path = nn_strdup(path, err);
    if (!n->path) {
        free(n);
        return NULL;
    }
    n->spec = s;
    n->s = st;
    n->next = s->nodes;
    s->nodes = n;
    return n;
}

nn_spec_node *nn_spec_root(nn_spec *s)
{
    return get_node(s, config_root_setting(&s->cfg), "", NULL);
}

const char *nn_spec_node_path(const nn_spec_node *n) { return n ? n->path : ""; }

static void mark_known(nn_spec_node *n, const char *key)
{
    if (!n || !key)
        return;
    for (int i = 0; i < n->n_known; i++)
        if (strcmp(n->known[i], key) == 0)
            return;
    if (n->n_known == n->cap_known) {
        int cap = n->cap_known ? 2 * n->cap_known : 8;
        char **k = realloc(n->known, (size_t)cap * sizeof *k);
        if (!k)
            return; /* out of memory: the key just stays unknown */
        n->known = k;
        n->cap_known = cap;
    }
    char *copy = strdup(key);
    if (copy)
        n->known[n->n_known++] = copy;
}

nn_status nn_spec_misspelt(nn_spec_node *n, const char *key, nn_error *err)
{
    if (!n || config_setting_type(n->s) != CONFIG_TYPE_GROUP)
        return NN_OK;
    int count = config_setting_length(n->s);
    for (int i = 0; i < count; i++) {
        const config_setting_t *m = config_setting_get_elem(n->s, (unsigned)i);
        const char *have = config_setting_name(m);
        const char *want[1] = {key};
        if (have && strcmp(have, key) && nn_did_you_mean(have, want, 1))
            return nn_spec__fail_at(n->spec, m, n->path, err,
                                    "unknown key \"%s\"; did you mean \"%s\"? (a required key)",
                                    have, key);
    }
    return NN_OK;
}

/* Marks key as known and finds it. Absent: *st = NULL, and an error only
 * when required. */
nn_status nn_spec__lookup(nn_spec_node *n, const char *key, bool required, config_setting_t **st,
                        nn_error *err)
{
    *st = NULL;
    if (!n)
        return nn_fail(err, NN_ERR_RUNTIME, "spec: reading \"%s\" from a missing group", key);
    mark_known(n, key);
    if (config_setting_type(n->s) != CONFIG_TYPE_GROUP) {
        char got[DESC_LEN];
        nn_spec__describe(n->s, got, sizeof got);
        return nn_spec__fail_at(n->spec, n->s, n->path, err, "expected a group { ... }, got %s", got);
    }
    *st = config_setting_get_member(n->s, key);
    if (!*st && required) {
        nn_status typo = nn_spec_misspelt(n, key, err);
        if (typo)
            return typo;
        return nn_spec__fail_at(n->spec, n->s, n->path, err, "missing required key \"%s\"", key);
    }
    return NN_OK;
}

nn_status nn_spec__type_error(nn_spec_node *n, const config_setting_t *st, const char *path,
                            const char *expected, nn_error *err)
{
    char got[DESC_LEN];
    nn_spec__describe(st, got, sizeof got);
    return nn_spec__fail_at(n->spec, st, path, err, "expected %s, got %s", expected, got);
}

const char *nn_spec_known_key(const nn_spec_node *n, int i)
{
    return n && i >= 0 && i < n->n_known ? n->known[i] : NULL;
}

bool nn_spec_has(nn_spec_node *n, const char *key)
{
    if (!n)
        return false;
    mark_known(n, key);
    return config_setting_type(n->s) == CONFIG_TYPE_GROUP &&
           config_setting_get_member(n->s, key) != NULL;
}

nn_status nn_spec_group(nn_spec_node *n, const char *key, bool required, nn_spec_node **out,
                        nn_error *err)
{
    config_setting_t *st;
    *out = NULL;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc || !st)
        return rc;
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    if (config_setting_type(st) != CONFIG_TYPE_GROUP)
        return nn_spec__type_error(n, st, path, "a group { ... }", err);
    *out = get_node(n->spec, st, path, err);
    return *out ? NN_OK : NN_ERR_RUNTIME;
}

nn_status nn_spec_list(nn_spec_node *n, const char *key, bool required, nn_spec_node **out,
                       nn_error *err)
{
    config_setting_t *st;
    *out = NULL;
    nn_status rc = nn_spec__lookup(n, key, required, &st, err);
    if (rc || !st)
        return rc;
    char path[PATH_MAX_LEN];
    nn_spec__join(n->path, key, path, sizeof path);
    int t = config_setting_type(st);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return nn_spec__type_error(n, st, path, "a list ( ... ) or an array [ ... ]", err);
    *out = get_node(n->spec, st, path, err);
    return *out ? NN_OK : NN_ERR_RUNTIME;
}

int nn_spec_length(const nn_spec_node *list)
{
    if (!list)
        return 0;
    int t = config_setting_type(list->s);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_GROUP)
        return 0;
    return config_setting_length(list->s);
}

const char *nn_spec_member_key(const nn_spec_node *group, int i)
{
    if (!group || config_setting_type(group->s) != CONFIG_TYPE_GROUP || i < 0 ||
        i >= config_setting_length(group->s))
        return NULL;
    return config_setting_name(config_setting_get_elem(group->s, (unsigned)i));
}

bool nn_spec_is_group(nn_spec_node *n, const char *key)
{
    if (!n || config_setting_type(n->s) != CONFIG_TYPE_GROUP)
        return false;
    mark_known(n, key);
    config_setting_t *m = config_setting_get_member(n->s, key);
    return m && config_setting_type(m) == CONFIG_TYPE_GROUP;
}

nn_status nn_spec_elem_group(nn_spec_node *list, int i, nn_spec_node **out, nn_error *err)
{
    *out = NULL;
    if (!list)
        return nn_fail(err, NN_ERR_RUNTIME, "spec: element [%d] of a missing list", i);
    int t = config_setting_type(list->s);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return nn_spec__type_error(list, list->s, list->path, "a list ( ... )", err);
    int len = config_setting_length(list->s);
    if (i < 0 || i >= len)
        return nn_spec__fail_at(list->spec, list->s, list->path, err,
                       "no element [%d] (the list has %d)", i, len);
    config_setting_t *st = config_setting_get_elem(list->s, (unsigned)i);
    char idx[32], path[PATH_MAX_LEN];
    snprintf(idx, sizeof idx, "[%d]", i);
    nn_spec__join(list->path, idx, path, sizeof path);
    if (config_setting_type(st) != CONFIG_TYPE_GROUP)
        return nn_spec__type_error(list, st, path, "a group { ... }", err);
    *out = get_node(list->spec, st, path, err);
    return *out ? NN_OK : NN_ERR_RUNTIME;
}

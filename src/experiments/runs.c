/* Run directories read back, and the comparison table. See runs.h. */
#define _GNU_SOURCE /* asprintf, qsort_r */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <libconfig.h>

#include "experiments/runs.h"
#include "util/fileio.h"

/* ---- small helpers --------------------------------------------------------- */

static char *xasprintf(nn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xasprintf(nn_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0) {
        nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        return NULL;
    }
    return s;
}

/* Shortest decimal text that reads back as v; integral values keep a ".0"
 * so that they read as floats (as libconfig writes them). */
static void format_double(char *buf, size_t size, double v, bool keep_point)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, size, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (keep_point && !strpbrk(buf, ".eEn"))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

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
        format_double(buf, sizeof buf, v, true);
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
                sub = *path ? xasprintf(fl->err, "%s.%s", path, config_setting_name(c))
                            : xasprintf(fl->err, "%s", config_setting_name(c));
            else
                sub = xasprintf(fl->err, "%s.[%d]", path, i);
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

/* ---- history.csv ------------------------------------------------------------- */

/* Splits one CSV line (no quoting: history files hold names and numbers)
 * into at most max fields, in place. */
static int split_line(char *line, char **fields, int max)
{
    int n = 0;
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r')
        line[len - 1] = '\0';
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

nn_status nn_history_parse(const char *text, const char *display_name, nn_history *out,
                           nn_error *err)
{
    memset(out, 0, sizeof *out);
    char *copy = strdup(text);
    if (!copy)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    nn_status st = NN_OK;
    int cap_rows = 0;
    char **fields = NULL;
    int line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        if (line[0] == '\0' || !strcmp(line, "\r"))
            continue;
        if (!out->cols) {
            int max = 1;
            for (const char *p = line; *p; p++)
                max += *p == ',';
            fields = malloc((size_t)max * sizeof *fields);
            out->cols = calloc((size_t)max, sizeof *out->cols);
            if (!fields || !out->cols) {
                st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                break;
            }
            out->n_cols = split_line(line, fields, max);
            for (int c = 0; c < out->n_cols; c++)
                if (!(out->cols[c] = strdup(fields[c]))) {
                    st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                    break;
                }
            if (st)
                break;
            continue;
        }
        if (out->n_rows == cap_rows) {
            cap_rows = cap_rows ? 2 * cap_rows : 16;
            double *v = realloc(out->v, (size_t)cap_rows * (size_t)out->n_cols * sizeof *v);
            if (!v) {
                st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                break;
            }
            out->v = v;
        }
        int nf = split_line(line, fields, out->n_cols);
        double *row = out->v + (size_t)out->n_rows * (size_t)out->n_cols;
        for (int c = 0; c < out->n_cols; c++) {
            row[c] = NAN;
            if (c < nf && fields[c][0]) {
                char *end;
                double v = strtod(fields[c], &end);
                if (*end == '\0')
                    row[c] = v;
            }
        }
        out->n_rows++;
    }
    if (!st && !out->cols)
        st = nn_fail(err, NN_ERR_RUNTIME, "%s: empty (no header line)", display_name);
    free(fields);
    free(copy);
    if (st)
        nn_history_free(out);
    return st;
}

void nn_history_free(nn_history *h)
{
    if (!h)
        return;
    for (int c = 0; h->cols && c < h->n_cols; c++)
        free(h->cols[c]);
    free(h->cols);
    free(h->v);
    memset(h, 0, sizeof *h);
}

int nn_history_col(const nn_history *h, const char *name)
{
    for (int c = 0; c < h->n_cols; c++)
        if (!strcmp(h->cols[c], name))
            return c;
    return -1;
}

double nn_history_at(const nn_history *h, int row, int col)
{
    return h->v[(size_t)row * (size_t)h->n_cols + (size_t)col];
}

/* ---- run.json / eval.json ------------------------------------------------------ */

static nn_status named_from_object(json_t *obj, nn_named **out, int *n_out, nn_error *err)
{
    *out = NULL;
    *n_out = 0;
    if (!json_is_object(obj))
        return NN_OK;
    size_t n = json_object_size(obj);
    if (n == 0)
        return NN_OK;
    nn_named *v = calloc(n, sizeof *v);
    if (!v)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int m = 0;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        if (!json_is_number(val) || !strcmp(key, "samples"))
            continue;
        v[m].name = strdup(key);
        if (!v[m].name) {
            for (int i = 0; i < m; i++)
                free(v[i].name);
            free(v);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        v[m++].value = json_number_value(val);
    }
    *out = v;
    *n_out = m;
    return NN_OK;
}

static void named_free(nn_named *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

static json_t *load_json(const char *dir, const char *name, nn_error *err, nn_status *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    *st = NN_OK;
    if (!j)
        *st = nn_fail(err, NN_ERR_RUNTIME, "%s:%d: %s", path, jerr.line, jerr.text);
    else if (!json_is_object(j)) {
        json_decref(j);
        j = NULL;
        *st = nn_fail(err, NN_ERR_RUNTIME, "%s: expected a JSON object", path);
    }
    return j;
}

static long long json_int_or(json_t *obj, const char *key, long long def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? (long long)json_number_value(v) : def;
}

/* ---- loading a run ----------------------------------------------------------- */

bool nn_run_dir_is_run(const char *dir)
{
    return file_exists(dir, "spec.cfg") &&
           (file_exists(dir, "history.csv") || file_exists(dir, "run.json"));
}

static char *base_name(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    return strndup(path + start, len - start);
}

nn_status nn_run_load(const char *dir, nn_run *run, nn_error *err)
{
    memset(run, 0, sizeof *run);
    run->params = run->trainable_params = run->test_samples = -1;
    run->epochs = -1;
    run->seconds = NAN;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return nn_fail(err, NN_ERR_USAGE, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return nn_fail(err, NN_ERR_USAGE, "%s: not a directory (expected a run directory)", dir);
    if (!nn_run_dir_is_run(dir)) {
        bool spec = file_exists(dir, "spec.cfg");
        bool logs = file_exists(dir, "history.csv") || file_exists(dir, "run.json");
        return nn_fail(err, NN_ERR_USAGE,
                       "%s: not a run directory: no %s%s%s (nnctl train writes spec.cfg, "
                       "history.csv and run.json)",
                       dir, spec ? "" : "spec.cfg", !spec && !logs ? " and no " : "",
                       logs ? "" : "history.csv or run.json");
    }
    nn_status st;
    char path[4096];
    run->path = strdup(dir);
    run->name = base_name(dir);
    if (!run->path || !run->name) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/spec.cfg", dir);
    size_t len;
    if ((st = nn_read_file(path, &run->spec_text, &len, err)) ||
        (st = nn_spec_flatten(run->spec_text, path, &run->spec, err)))
        goto fail;
    if (file_exists(dir, "history.csv")) {
        char *text;
        snprintf(path, sizeof path, "%s/history.csv", dir);
        if ((st = nn_read_file(path, &text, &len, err)))
            goto fail;
        st = nn_history_parse(text, path, &run->history, err);
        free(text);
        if (st)
            goto fail;
        run->epochs = run->history.n_rows;
    }
    json_t *eval = NULL;
    if (file_exists(dir, "run.json")) {
        json_t *info = load_json(dir, "run.json", err, &st);
        if (st)
            goto fail;
        run->has_info = true;
        run->params = json_int_or(info, "params", -1);
        run->trainable_params = json_int_or(info, "trainable_params", -1);
        if (run->epochs < 0)
            run->epochs = (int)json_int_or(info, "epochs", -1);
        json_t *sec = json_object_get(info, "seconds");
        if (json_is_number(sec))
            run->seconds = json_number_value(sec);
        st = named_from_object(json_object_get(info, "final"), &run->final, &run->n_final, err);
        if (!st && json_is_object(json_object_get(info, "test")))
            eval = json_incref(json_object_get(info, "test"));
        json_decref(info);
        if (st)
            goto fail;
    }
    if (file_exists(dir, "eval.json")) {
        json_decref(eval);
        eval = load_json(dir, "eval.json", err, &st);
        if (st)
            goto fail;
    }
    if (eval) {
        run->has_test = true;
        run->test_samples = json_int_or(eval, "samples", -1);
        st = named_from_object(eval, &run->test, &run->n_test, err);
        json_decref(eval);
        if (st)
            goto fail;
    }
    return NN_OK;
fail:
    nn_run_free(run);
    return st;
}

void nn_run_free(nn_run *run)
{
    if (!run)
        return;
    free(run->name);
    free(run->path);
    free(run->spec_text);
    nn_flat_free(&run->spec);
    nn_history_free(&run->history);
    named_free(run->final, run->n_final);
    named_free(run->test, run->n_test);
    memset(run, 0, sizeof *run);
}

void nn_runs_free(nn_run *runs, int n)
{
    for (int i = 0; runs && i < n; i++)
        nn_run_free(&runs[i]);
    free(runs);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run subdirectories of parent, sorted; *n_out 0 when none. */
static nn_status child_runs(const char *parent, char ***out, int *n_out, nn_error *err)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(parent);
    if (!d)
        return nn_fail(err, NN_ERR_USAGE, "%s: %s", parent, strerror(errno));
    char **v = NULL;
    int n = 0, cap = 0;
    size_t plen = strlen(parent);
    bool slash = plen && parent[plen - 1] == '/';
    struct dirent *e;
    nn_status st = NN_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = xasprintf(err, "%s%s%s", parent, slash ? "" : "/", e->d_name);
        if (!p) {
            st = NN_ERR_RUNTIME;
            break;
        }
        if (!is_dir(p) || !nn_run_dir_is_run(p)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                free(p);
                st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                break;
            }
            v = nv;
        }
        v[n++] = p;
    }
    closedir(d);
    if (st) {
        for (int i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return st;
    }
    if (n)
        qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    *n_out = n;
    return NN_OK;
}

nn_status nn_runs_load(const char *const *paths, int n_paths, nn_run **runs, int *n_runs,
                       nn_error *err)
{
    *runs = NULL;
    *n_runs = 0;
    nn_run *v = NULL;
    int n = 0, cap = 0;
    nn_status st = NN_OK;
    for (int p = 0; p < n_paths && !st; p++) {
        char **dirs = NULL;
        int n_dirs = 0;
        const char *one = paths[p];
        if (is_dir(paths[p]) && !nn_run_dir_is_run(paths[p])) {
            if ((st = child_runs(paths[p], &dirs, &n_dirs, err)))
                break;
            if (n_dirs == 0) {
                st = nn_fail(err, NN_ERR_USAGE,
                             "%s: not a run directory, and none of its subdirectories is one "
                             "(nnctl train writes spec.cfg, history.csv and run.json)",
                             paths[p]);
                break;
            }
        }
        for (int i = 0; i < (dirs ? n_dirs : 1) && !st; i++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                nn_run *nv = realloc(v, (size_t)cap * sizeof *nv);
                if (!nv) {
                    st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                    break;
                }
                v = nv;
            }
            if (!(st = nn_run_load(dirs ? dirs[i] : one, &v[n], err)))
                n++;
        }
        for (int i = 0; i < n_dirs; i++)
            free(dirs[i]);
        free(dirs);
    }
    /* colliding names: use the paths (all of them decided before renaming) */
    bool *clash = n ? calloc((size_t)n, sizeof *clash) : NULL;
    if (n && !clash && !st)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n && !st; i++)
        for (int j = 0; j < n; j++)
            clash[i] |= j != i && !strcmp(v[i].name, v[j].name) && strcmp(v[i].path, v[j].path);
    for (int i = 0; i < n && !st; i++) {
        if (!clash[i])
            continue;
        char *nm = strdup(v[i].path);
        if (!nm) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            break;
        }
        free(v[i].name);
        v[i].name = nm;
    }
    free(clash);
    if (st) {
        nn_runs_free(v, n);
        return st;
    }
    *runs = v;
    *n_runs = n;
    return NN_OK;
}

/* ---- derived values -------------------------------------------------------------- */

double nn_run_test_value(const nn_run *run, const char *name)
{
    for (int i = 0; i < run->n_test; i++)
        if (!strcmp(run->test[i].name, name))
            return run->test[i].value;
    return NAN;
}

const char *nn_runs_primary_metric(const nn_run *runs, int n)
{
    static const char *const order[] = {"val_accuracy", "val_loss", "loss"};
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < n; r++)
            if (nn_history_col(&runs[r].history, order[k]) >= 0)
                return order[k];
    return NULL;
}

bool nn_runs_key_maximize(const char *key)
{
    static const char *const better_high[] = {"acc", "auc", "precision", "recall", "f1", "iou"};
    for (size_t i = 0; i < sizeof better_high / sizeof better_high[0]; i++)
        if (strstr(key, better_high[i]))
            return true;
    return false;
}

double nn_run_best(const nn_run *run, const char *col, bool maximize)
{
    int c = nn_history_col(&run->history, col);
    double best = NAN;
    for (int r = 0; c >= 0 && r < run->history.n_rows; r++) {
        double v = nn_history_at(&run->history, r, c);
        if (!isnan(v) && (isnan(best) || (maximize ? v > best : v < best)))
            best = v;
    }
    return best;
}

double nn_run_final(const nn_run *run, const char *col)
{
    int c = nn_history_col(&run->history, col);
    if (c < 0 || run->history.n_rows == 0)
        return NAN;
    return nn_history_at(&run->history, run->history.n_rows - 1, c);
}

static double seconds_per_epoch(const nn_run *run)
{
    int c = nn_history_col(&run->history, "time");
    double sum = 0;
    int n = 0;
    for (int r = 0; c >= 0 && r < run->history.n_rows; r++) {
        double v = nn_history_at(&run->history, r, c);
        if (!isnan(v)) {
            sum += v;
            n++;
        }
    }
    if (n)
        return sum / n;
    if (!isnan(run->seconds) && run->epochs > 0)
        return run->seconds / run->epochs;
    return NAN;
}

/* ---- the table ----------------------------------------------------------------- */

typedef struct {
    char *text;  /* display text; NULL: missing */
    bool has_num;
    double num;
} cell;

typedef struct {
    char *name;
    bool numeric; /* right-aligned */
} column;

typedef struct {
    const nn_run *runs;
    cell *sort_cells; /* one per run */
    bool maximize;
} sort_ctx;

static int cmp_rows(const void *pa, const void *pb, void *ctx)
{
    const sort_ctx *g = ctx;
    int a = *(const int *)pa, b = *(const int *)pb;
    if (g->sort_cells) {
        const cell *ca = &g->sort_cells[a], *cb = &g->sort_cells[b];
        bool ma = !ca->text, mb = !cb->text;
        if (ma != mb)
            return ma ? 1 : -1; /* missing last */
        if (!ma) {
            int c = 0;
            if (ca->has_num && cb->has_num)
                c = (ca->num > cb->num) - (ca->num < cb->num);
            else
                c = strcmp(ca->text, cb->text);
            if (c)
                return g->maximize ? -c : c;
        }
    }
    int c = strcmp(g->runs[a].name, g->runs[b].name);
    return c ? c : (a > b) - (a < b);
}

static void set_num(cell *c, double v, nn_table_format fmt)
{
    if (isnan(v))
        return;
    char buf[64];
    if (fmt == NN_TABLE_CSV)
        format_double(buf, sizeof buf, v, false);
    else
        snprintf(buf, sizeof buf, "%.4f", v);
    c->text = strdup(buf);
    c->has_num = true;
    c->num = v;
}

static void set_int(cell *c, long long v)
{
    if (v < 0)
        return;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    c->text = strdup(buf);
    c->has_num = true;
    c->num = (double)v;
}

static void put_csv(FILE *out, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void put_markdown(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|' || *s == '\\')
            fputc('\\', out);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, out);
    }
}

nn_status nn_runs_table(const nn_run *runs, int n, const char *sort_key, bool maximize,
                        nn_table_format fmt, FILE *out, nn_error *err)
{
    if (n <= 0)
        return nn_fail(err, NN_ERR_USAGE, "no runs to compare");
    nn_status st = NN_OK;
    const nn_flat **specs = malloc((size_t)n * sizeof *specs);
    if (!specs)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    for (int r = 0; r < n; r++)
        specs[r] = &runs[r].spec;
    const char **keys = NULL;
    int n_keys = 0;
    if ((st = nn_flat_diff(specs, n, &keys, &n_keys, err))) {
        free(specs);
        return st;
    }

    const char *metric = nn_runs_primary_metric(runs, n);
    bool metric_max = metric && nn_runs_key_maximize(metric);
    bool any_test = false, test_acc = false;
    for (int r = 0; r < n; r++) {
        any_test |= runs[r].has_test;
        test_acc |= !isnan(nn_run_test_value(&runs[r], "accuracy"));
    }
    const char *test_metric = test_acc ? "accuracy" : "loss";

    int max_cols = 1 + n_keys + 6;
    column *cols = calloc((size_t)max_cols, sizeof *cols);
    cell *cells = calloc((size_t)max_cols * (size_t)n, sizeof *cells);
    cell *sort_cells = calloc((size_t)n, sizeof *sort_cells);
    int *order = malloc((size_t)n * sizeof *order);
    if (!cols || !cells || !sort_cells || !order) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    int nc = 0;
#define CELL(r, c) cells[(size_t)(r) * (size_t)max_cols + (size_t)(c)]
    cols[nc].name = strdup("run");
    for (int r = 0; r < n; r++)
        CELL(r, nc).text = strdup(runs[r].name);
    nc++;
    for (int k = 0; k < n_keys; k++, nc++) {
        cols[nc].name = strdup(keys[k]);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++) {
            const nn_kv *kv = nn_flat_get(&runs[r].spec, keys[k]);
            if (!kv)
                continue;
            CELL(r, nc).text = strdup(kv->value);
            CELL(r, nc).has_num = kv->numeric;
            CELL(r, nc).num = kv->num;
            cols[nc].numeric &= kv->numeric;
        }
    }
    cols[nc].name = strdup("epochs");
    cols[nc].numeric = true;
    for (int r = 0; r < n; r++)
        set_int(&CELL(r, nc), runs[r].epochs);
    nc++;
    if (metric) {
        cols[nc].name = xasprintf(err, "best_%s", metric);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_num(&CELL(r, nc), nn_run_best(&runs[r], metric, metric_max), fmt);
        nc++;
        cols[nc].name = xasprintf(err, "final_%s", metric);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_num(&CELL(r, nc), nn_run_final(&runs[r], metric), fmt);
        nc++;
    }
    if (any_test) {
        cols[nc].name = xasprintf(err, "test_%s", test_metric);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_num(&CELL(r, nc), nn_run_test_value(&runs[r], test_metric), fmt);
        nc++;
    }
    cols[nc].name = strdup("sec/epoch");
    cols[nc].numeric = true;
    for (int r = 0; r < n; r++)
        set_num(&CELL(r, nc), seconds_per_epoch(&runs[r]), fmt);
    nc++;
    cols[nc].name = strdup("params");
    cols[nc].numeric = true;
    for (int r = 0; r < n; r++)
        set_int(&CELL(r, nc), runs[r].params);
    nc++;
    for (int c = 0; c < nc; c++) {
        if (!cols[c].name) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            goto done;
        }
        for (int r = 0; r < n; r++) /* strdup failures of present values */
            if (CELL(r, c).has_num && !CELL(r, c).text) {
                st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
                goto done;
            }
    }

    /* the sort key: a column, a history column (its best value), a spec key */
    bool sorting = false;
    if (sort_key && strcmp(sort_key, "run") && strcmp(sort_key, "name")) {
        int sc = -1;
        for (int c = 0; c < nc; c++)
            if (!strcmp(cols[c].name, sort_key))
                sc = c;
        /* best_X, final_X (X a history column), test_X (a test result) */
        const char *sub = NULL;
        int kind = 0; /* 1 best, 2 final, 3 test */
        static const char *const prefixes[] = {"best_", "final_", "test_"};
        for (int k = 0; k < 3 && sc < 0 && !sub; k++)
            if (!strncmp(sort_key, prefixes[k], strlen(prefixes[k]))) {
                sub = sort_key + strlen(prefixes[k]);
                kind = k + 1;
            }
        bool in_history = false, in_spec = false, in_sub = false;
        for (int r = 0; r < n; r++) {
            in_history |= nn_history_col(&runs[r].history, sort_key) >= 0;
            in_spec |= nn_flat_get(&runs[r].spec, sort_key) != NULL;
            if (sub)
                in_sub |= kind == 3 ? !isnan(nn_run_test_value(&runs[r], sub))
                                    : nn_history_col(&runs[r].history, sub) >= 0;
        }
        sorting = true;
        for (int r = 0; r < n; r++) {
            cell *c = &sort_cells[r];
            if (sc >= 0) {
                *c = CELL(r, sc);
                c->text = c->text ? strdup(c->text) : NULL;
            } else if (in_sub) {
                double v = kind == 1   ? nn_run_best(&runs[r], sub, nn_runs_key_maximize(sub))
                           : kind == 2 ? nn_run_final(&runs[r], sub)
                                       : nn_run_test_value(&runs[r], sub);
                set_num(c, v, NN_TABLE_CSV);
            } else if (in_history) {
                set_num(c, nn_run_best(&runs[r], sort_key, maximize), NN_TABLE_CSV);
            } else if (in_spec) {
                const nn_kv *kv = nn_flat_get(&runs[r].spec, sort_key);
                if (kv)
                    *c = (cell){strdup(kv->value), kv->numeric, kv->num};
            } else {
                char *list = NULL;
                size_t len = 0;
                FILE *m = open_memstream(&list, &len);
                for (int k = 0; m && k < nc; k++)
                    fprintf(m, "%s%s", k ? ", " : "", cols[k].name);
                if (m)
                    fclose(m);
                st = nn_fail(err, NN_ERR_USAGE,
                             "--sort %s: no such column, history metric (best_X, final_X) "
                             "or test result (test_X); columns: %s",
                             sort_key, list ? list : "?");
                free(list);
                goto done;
            }
        }
    }
    for (int r = 0; r < n; r++)
        order[r] = r;
    sort_ctx ctx = {runs, sorting ? sort_cells : NULL, maximize};
    qsort_r(order, (size_t)n, sizeof *order, cmp_rows, &ctx);

    if (fmt == NN_TABLE_CSV) {
        for (int c = 0; c < nc; c++) {
            if (c)
                fputc(',', out);
            put_csv(out, cols[c].name);
        }
        fputs("\r\n", out);
        for (int i = 0; i < n; i++) {
            for (int c = 0; c < nc; c++) {
                if (c)
                    fputc(',', out);
                put_csv(out, CELL(order[i], c).text);
            }
            fputs("\r\n", out);
        }
    } else if (fmt == NN_TABLE_MARKDOWN) {
        fputs("|", out);
        for (int c = 0; c < nc; c++) {
            fputc(' ', out);
            put_markdown(out, cols[c].name);
            fputs(" |", out);
        }
        fputs("\n|", out);
        for (int c = 0; c < nc; c++)
            fputs(cols[c].numeric ? " ---: |" : " --- |", out);
        fputc('\n', out);
        for (int i = 0; i < n; i++) {
            fputs("|", out);
            for (int c = 0; c < nc; c++) {
                const char *t = CELL(order[i], c).text;
                fputc(' ', out);
                put_markdown(out, t ? t : "-");
                fputs(" |", out);
            }
            fputc('\n', out);
        }
    } else {
        int *w = calloc((size_t)nc, sizeof *w);
        if (!w) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            goto done;
        }
        for (int c = 0; c < nc; c++) {
            w[c] = (int)strlen(cols[c].name);
            for (int r = 0; r < n; r++) {
                const char *t = CELL(r, c).text;
                int l = t ? (int)strlen(t) : 1;
                if (l > w[c])
                    w[c] = l;
            }
        }
        for (int row = -2; row < n; row++) {
            for (int c = 0; c < nc; c++) {
                const char *t;
                char rule[256];
                if (row == -2)
                    t = cols[c].name;
                else if (row == -1) {
                    int l = w[c] < (int)sizeof rule - 1 ? w[c] : (int)sizeof rule - 1;
                    memset(rule, '-', (size_t)l);
                    rule[l] = '\0';
                    t = rule;
                } else {
                    t = CELL(order[row], c).text;
                    if (!t)
                        t = "-";
                }
                bool last = c == nc - 1;
                if (cols[c].numeric)
                    fprintf(out, "%*s%s", w[c], t, last ? "" : "  ");
                else if (last)
                    fputs(t, out);
                else
                    fprintf(out, "%-*s  ", w[c], t);
            }
            fputc('\n', out);
        }
        free(w);
    }
    if (ferror(out))
        st = nn_fail(err, NN_ERR_RUNTIME, "writing the table: %s", strerror(errno));
#undef CELL
done:
    for (int c = 0; cols && c < max_cols; c++) {
        free(cols[c].name);
        for (int r = 0; cells && r < n; r++)
            free(cells[(size_t)r * (size_t)max_cols + (size_t)c].text);
    }
    for (int r = 0; sort_cells && r < n; r++)
        free(sort_cells[r].text);
    free(cols);
    free(cells);
    free(sort_cells);
    free(order);
    free(keys);
    free(specs);
    return st;
}

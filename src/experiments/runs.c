/* Run directories read back (run.json, eval.json, the spec). See runs.h. */
#define _GNU_SOURCE /* vasprintf */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "experiments/runs.h"
#include "util/fileio.h"

/* ---- small helpers --------------------------------------------------------- */

char *nn_runs__asprintf(nn_error *err, const char *fmt, ...)
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

void nn_runs__format_double(char *buf, size_t size, double v, bool keep_point)
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
    run->params = run->trainable_params = run->test_samples = run->nonzero = -1;
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
        (st = nn_spec_flatten(run->spec_text, path, &run->spec, err)) ||
        (st = nn_flat_layers_by_name(&run->spec, err)))
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
        run->nonzero = json_int_or(info, "nonzero_weights_1e-3", -1);
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
        char *p = nn_runs__asprintf(err, "%s%s%s", parent, slash ? "" : "/", e->d_name);
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

nn_status nn_runs_load(const char *const *paths, int n_paths, FILE *skipped, nn_run **runs,
                       int *n_runs, nn_error *err)
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
        struct stat sb;
        if (skipped && stat(paths[p], &sb) == 0 && !S_ISDIR(sb.st_mode)) {
            fprintf(skipped, "skipping %s: not a directory\n", paths[p]);
            continue;
        }
        if (is_dir(paths[p]) && !nn_run_dir_is_run(paths[p])) {
            if ((st = child_runs(paths[p], &dirs, &n_dirs, err)))
                break;
            if (n_dirs == 0 && skipped) {
                fprintf(skipped,
                        "skipping %s: not a run directory, and none of its subdirectories is "
                        "one\n",
                        paths[p]);
                continue;
            }
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
    if (!st && n == 0)
        st = nn_fail(err, NN_ERR_USAGE,
                     "no run directory among the %d path%s given (nnctl train writes spec.cfg, "
                     "history.csv and run.json)",
                     n_paths, n_paths == 1 ? "" : "s");
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

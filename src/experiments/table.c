/* The comparison table of several runs. See runs.h. */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/runs.h"
#include "experiments/runs_internal.h"

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
        nn_runs__format_double(buf, sizeof buf, v, false);
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

    /* runs of different architectures: the layer count (and params)
     * instead of a column for every layer setting that differs */
    bool same_arch = true;
    for (int r = 1; r < n; r++)
        same_arch &= nn_flat_layer_types(&runs[0].spec, &runs[r].spec);
    if (!same_arch) {
        int kept = 0;
        for (int k = 0; k < n_keys; k++)
            if (strncmp(keys[k], "model.layers.", 13) != 0)
                keys[kept++] = keys[k];
        n_keys = kept;
    }

    const char *metric = nn_runs_primary_metric(runs, n);
    bool metric_max = metric && nn_runs_key_maximize(metric);
    bool any_test = false, test_acc = false;
    for (int r = 0; r < n; r++) {
        any_test |= runs[r].has_test;
        test_acc |= !isnan(nn_run_test_value(&runs[r], "accuracy"));
    }
    const char *test_metric = test_acc ? "accuracy" : "loss";

    int max_cols = 1 + n_keys + 8;
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
    if (!same_arch) {
        cols[nc].name = strdup("layers");
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_int(&CELL(r, nc), runs[r].spec.n_layers ? runs[r].spec.n_layers : -1);
        nc++;
    }
    cols[nc].name = strdup("epochs");
    cols[nc].numeric = true;
    for (int r = 0; r < n; r++)
        set_int(&CELL(r, nc), runs[r].epochs);
    nc++;
    if (metric) {
        cols[nc].name = nn_runs__asprintf(err, "best_%s", metric);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_num(&CELL(r, nc), nn_run_best(&runs[r], metric, metric_max), fmt);
        nc++;
        cols[nc].name = nn_runs__asprintf(err, "final_%s", metric);
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_num(&CELL(r, nc), nn_run_final(&runs[r], metric), fmt);
        nc++;
    }
    if (any_test) {
        cols[nc].name = nn_runs__asprintf(err, "test_%s", test_metric);
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
    /* weights over 1e-3 in the final model: lower after an L1 penalty */
    bool any_nonzero = false;
    for (int r = 0; r < n; r++)
        any_nonzero |= runs[r].nonzero >= 0;
    if (any_nonzero) {
        cols[nc].name = strdup("nonzero>1e-3");
        cols[nc].numeric = true;
        for (int r = 0; r < n; r++)
            set_int(&CELL(r, nc), runs[r].nonzero);
        nc++;
    }
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

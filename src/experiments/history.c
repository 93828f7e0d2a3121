/* history.csv read back. See runs.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/runs.h"

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

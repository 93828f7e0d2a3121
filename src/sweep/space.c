#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sweep/space.h"

void nn_space_free(nn_space *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->p[i].values);
    free(s->p);
    s->p = NULL;
    s->n = 0;
}

nn_status nn_space_add(nn_space *s, const nn_sweep_param *p, nn_error *err)
{
    nn_sweep_param *np = realloc(s->p, (size_t)(s->n + 1) * sizeof *np);
    if (!np)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    s->p = np;
    nn_sweep_param *q = &s->p[s->n];
    *q = *p;
    q->values = NULL;
    if (p->kind == NN_PARAM_CHOICE) {
        q->values = nn_calloc((size_t)(p->n_values ? p->n_values : 1), sizeof *q->values, err);
        if (!q->values)
            return NN_ERR_RUNTIME;
        memcpy(q->values, p->values, (size_t)p->n_values * sizeof *q->values);
    }
    s->n++;
    return NN_OK;
}

long long nn_space_grid_size(const nn_space *s)
{
    if (s->n == 0)
        return 0;
    long long total = 1;
    for (int i = 0; i < s->n; i++) {
        if (s->p[i].kind != NN_PARAM_CHOICE || s->p[i].n_values < 1)
            return 0;
        if (total > (1LL << 40) / s->p[i].n_values)
            return 0;
        total *= s->p[i].n_values;
    }
    return total;
}

void nn_space_grid_point(const nn_space *s, long long k, int *idx)
{
    for (int i = s->n - 1; i >= 0; i--) {
        int nv = s->p[i].n_values;
        idx[i] = (int)(k % nv);
        k /= nv;
    }
}

void nn_format_double(double v, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* "10", not "1e+01" */
    const char *e = strstr(buf, "e+");
    if (e && atoi(e + 2) < 17)
        snprintf(buf, n, "%.*g", atoi(e + 2) + 1, v);
}

double nn_space_choice_unit(const nn_space *s, int i, int j)
{
    return (j + 0.5) / s->p[i].n_values;
}

static double clamp01(double u) { return u < 0 ? 0 : u > 1 ? 1 : u; }

void nn_space_value(const nn_space *s, int i, double u, char *buf, size_t n, double *u_out)
{
    const nn_sweep_param *p = &s->p[i];
    u = clamp01(u);
    if (p->kind == NN_PARAM_CHOICE) {
        int j = (int)floor(u * p->n_values);
        if (j >= p->n_values)
            j = p->n_values - 1;
        snprintf(buf, n, "%s", p->values[j]);
        *u_out = nn_space_choice_unit(s, i, j);
        return;
    }
    if (p->integer) {
        long long lo = (long long)ceil(p->min), hi = (long long)floor(p->max), v;
        if (hi < lo)
            hi = lo;
        if (p->log) {
            double a = log((double)lo), b = log((double)hi);
            v = llround(exp(a + u * (b - a)));
            if (v < lo) v = lo;
            if (v > hi) v = hi;
            *u_out = b > a ? (log((double)v) - a) / (b - a) : 0.5;
        } else {
            long long cells = hi - lo + 1;
            v = lo + (long long)floor(u * (double)cells);
            if (v > hi)
                v = hi;
            *u_out = ((double)(v - lo) + 0.5) / (double)cells;
        }
        snprintf(buf, n, "%lld", v);
        return;
    }
    double v;
    if (p->log) {
        double a = log(p->min), b = log(p->max);
        v = exp(a + u * (b - a));
    } else {
        v = p->min + u * (p->max - p->min);
    }
    /* six significant digits: short in tables, plenty for a hyper-parameter */
    char t[64];
    snprintf(t, sizeof t, "%.6g", v);
    v = strtod(t, NULL);
    if (v < p->min) v = p->min;
    if (v > p->max) v = p->max;
    nn_format_double(v, buf, n);
    if (p->log)
        *u_out = log(p->max) > log(p->min) ? clamp01((log(v) - log(p->min)) /
                                                     (log(p->max) - log(p->min)))
                                           : 0.5;
    else
        *u_out = p->max > p->min ? clamp01((v - p->min) / (p->max - p->min)) : 0.5;
}

void nn_space_sample(const nn_space *s, nn_rng *r, double *u, char (*text)[NN_PARAM_TEXT])
{
    for (int i = 0; i < s->n; i++) {
        double x = nn_rng_uniform_d(r);
        nn_space_value(s, i, x, text[i], NN_PARAM_TEXT, &u[i]);
    }
}

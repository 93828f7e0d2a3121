/* The value text of a --set assignment: scalars with the type their
 * syntax gives, arrays, quoting (override_value.h). */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "spec/override_value.h"
#include "spec/spec_internal.h"

void ov_scalar_free(ov_scalar *sc)
{
    free(sc->str);
    free(sc->raw);
    sc->str = sc->raw = NULL;
}

void ov_value_free(ov_value *v)
{
    ov_scalar_free(&v->one);
    for (int i = 0; i < v->n; i++)
        ov_scalar_free(&v->elems[i]);
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

void ov_trim(const char **p, size_t *n)
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
bool ov_parse_scalar(const char *p, size_t n, ov_scalar *sc)
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

bool ov_is_int(int t) { return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64; }
bool ov_is_scalar(int t)
{
    return ov_is_int(t) || t == CONFIG_TYPE_FLOAT || t == CONFIG_TYPE_BOOL || t == CONFIG_TYPE_STRING;
}

/* Gives sc the type `want` (an existing setting's type) where its text fits
 * that type: an int where a float was becomes a float, anything where a
 * string was becomes that string, an int where an int64 was stays int64.
 * Where it does not fit (0.5 for an int), sc keeps its own type. */
bool ov_fit_type(ov_scalar *sc, int want)
{
    switch (want) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        if (ov_is_int(sc->type) && want == CONFIG_TYPE_INT64)
            sc->type = CONFIG_TYPE_INT64;
        return true;
    case CONFIG_TYPE_FLOAT:
        if (ov_is_int(sc->type)) {
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
int ov_parse_array(const char *p, size_t n, ov_value *v, char *why, size_t why_n)
{
    v->is_array = true;
    const char *in = p + 1;
    size_t in_n = n - 2;
    ov_trim(&in, &in_n);
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
        ov_trim(&e, &e_n);
        if (e_n == 0) {
            snprintf(why, why_n, "an empty element in the array");
            return 1;
        }
        if (e[0] == '[' || e[0] == '(' || e[0] == '{') {
            snprintf(why, why_n, "arrays cannot be nested");
            return 1;
        }
        if (!ov_parse_scalar(e, e_n, &v->elems[v->n]))
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
        if ((ov_is_int(t) || t == CONFIG_TYPE_FLOAT) && (ov_is_int(u) || u == CONFIG_TYPE_FLOAT))
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
        if (!ov_fit_type(&v->elems[i], t))
            return -1;
    return 0;
}

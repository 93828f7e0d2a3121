/* The Keras importer's text and value helpers (import_internal.h). */
#include <string.h>

#include "io/keras/import_internal.h"

/* ---- text --------------------------------------------------------------- */

void kx_printf(kx_text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (t->n + (size_t)need + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + (size_t)need + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

void kx_string(kx_text *t, const char *s)
{
    kx_printf(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            kx_printf(t, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            kx_printf(t, "\\x%02x", (unsigned char)*s);
        else
            kx_printf(t, "%c", *s);
    }
    kx_printf(t, "\"");
}

void kx_float_text(kx_text *t, double v)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* libconfig reads "1" as an integer: keep floats floats */
    kx_printf(t, "%s%s", buf, strpbrk(buf, ".eEn") ? "" : ".0");
}

/* ---- errors and values -------------------------------------------------- */

nn_status kx_fail(const kx_layer *L, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->name)
        return nn_fail(L->err, NN_ERR_RUNTIME, "%s: layer '%s' (%s): %s", L->what, L->name,
                       L->cls ? L->cls : "?", msg);
    return nn_fail(L->err, NN_ERR_RUNTIME, "%s: %s", L->what, msg);
}

json_t *kx_get(const kx_layer *L, const char *key, const char *k1)
{
    json_t *v = json_object_get(L->cfg, key);
    if ((!v || json_is_null(v)) && k1)
        v = json_object_get(L->cfg, k1);
    return v && !json_is_null(v) ? v : NULL;
}

bool kx_as_int(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(long long)d && d > -1e15 && d < 1e15) {
            *out = (long long)d;
            return true;
        }
    }
    return false;
}

nn_status kx_check_name(const kx_layer *L, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= NN_NAME_MAX || strchr(name, '/'))
        return kx_fail(L, "name \"%s\" is not usable: nnctl takes names of 1 to %d characters "
                          "without '/'",
                       name, NN_NAME_MAX - 1);
    return NN_OK;
}

/* Where a spec value is and what it is, for errors: "file:line: key",
 * a value described for "expected ..., got ...", and the failures built
 * from them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec/spec_internal.h"

void nn_spec__join(const char *parent, const char *key, char *buf, size_t n)
{
    if (!n)
        return;
    bool both = parent && *parent && key && *key;
    const char *parts[3] = {parent, both ? "." : "", key};
    size_t o = 0;
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; p && *p && o + 1 < n; p++)
            buf[o++] = *p;
    buf[o] = '\0';
}

void nn_spec__format_double(double v, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* A file as errors name it: the spec itself by its display name, an
 * @include'd file by its path relative to the spec's directory. */
void nn_spec__file_name(const nn_spec *s, const char *file, char *buf, size_t n)
{
    if (!file)
        snprintf(buf, n, "%s", s->display);
    else if (file[0] == '/' || !s->dir[0] || strcmp(s->dir, ".") == 0)
        snprintf(buf, n, "%s", file);
    else if (strcmp(s->dir, "/") == 0)
        snprintf(buf, n, "/%s", file);
    else
        snprintf(buf, n, "%s/%s", s->dir, file);
}

void nn_spec__where(const nn_spec *s, const config_setting_t *st, char *buf, size_t n)
{
    for (const config_setting_t *p = st; p; p = p->parent) {
        if (p->hook) {
            snprintf(buf, n, "--set %s", (const char *)p->hook);
            return;
        }
        if (p->line > 0) {
            char file[WHERE_LEN - 20];
            nn_spec__file_name(s, p->file, file, sizeof file);
            snprintf(buf, n, "%s:%u", file, p->line);
            return;
        }
    }
    snprintf(buf, n, "%s", s->display);
}

static void quote(const char *str, char *buf, size_t n)
{
    size_t o = 0;
    const size_t max_chars = 60;
    if (n < 8) {
        if (n)
            buf[0] = '\0';
        return;
    }
    buf[o++] = '"';
    for (size_t i = 0; str[i]; i++) {
        if (i >= max_chars || o + 6 >= n) {
            buf[o++] = '.';
            buf[o++] = '.';
            buf[o++] = '.';
            break;
        }
        unsigned char c = (unsigned char)str[i];
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (c == '\t') {
            buf[o++] = '\\';
            buf[o++] = 't';
        } else if (c < 0x20) {
            buf[o++] = '?';
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

void nn_spec__describe(const config_setting_t *st, char *buf, size_t n)
{
    if (!st) {
        snprintf(buf, n, "nothing");
        return;
    }
    switch (config_setting_type(st)) {
    case CONFIG_TYPE_INT:
        snprintf(buf, n, "%d", st->value.ival);
        break;
    case CONFIG_TYPE_INT64:
        snprintf(buf, n, "%lld", st->value.llval);
        break;
    case CONFIG_TYPE_FLOAT: {
        nn_spec__format_double(st->value.fval, buf, n);
        /* keep floats recognisable: "2.0", not "2" */
        if (!strpbrk(buf, ".eEni"))
            strncat(buf, ".0", n - strlen(buf) - 1);
        break;
    }
    case CONFIG_TYPE_STRING:
        quote(st->value.sval ? st->value.sval : "", buf, n);
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, n, "%s", st->value.ival ? "true" : "false");
        break;
    case CONFIG_TYPE_GROUP:
        snprintf(buf, n, "a group");
        break;
    case CONFIG_TYPE_LIST:
        snprintf(buf, n, "a list");
        break;
    case CONFIG_TYPE_ARRAY:
        snprintf(buf, n, "an array");
        break;
    default:
        snprintf(buf, n, "nothing");
        break;
    }
}

/* "<where>: <path>: <message>" (no "path: " when path is empty). */
nn_status nn_spec__vfail_at(const nn_spec *s, const config_setting_t *st, const char *path,
                          nn_error *err, nn_status code, const char *fmt, va_list ap)
{
    char where[WHERE_LEN], msg[sizeof err->msg];
    nn_spec__where(s, st, where, sizeof where);
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (path && *path)
        return nn_fail(err, code, "%s: %s: %s", where, path, msg);
    return nn_fail(err, code, "%s: %s", where, msg);
}

nn_status nn_spec__fail_at(const nn_spec *s, const config_setting_t *st, const char *path,
                         nn_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nn_status rc = nn_spec__vfail_at(s, st, path, err, NN_ERR_USAGE, fmt, ap);
    va_end(ap);
    return rc;
}

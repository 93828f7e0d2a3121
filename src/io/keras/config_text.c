/* JSON and YAML text of a JSON value (see config_text.h).
 *
 * YAML: block mappings; lists of scalars (and lists of such lists, and
 * empty containers) in flow style ([a, 0, {}]), other lists as block
 * sequences. A string is plain only when it is an identifier-like word
 * that no YAML 1.1 resolver (PyYAML's) would read as a bool, null or
 * number; anything else is double-quoted with escapes. Floats always have
 * a '.' in the mantissa and a signed exponent, which PyYAML's float
 * resolver requires ("1e-05" would be a string there). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "io/keras/config_text.h"

typedef struct text {
    char *s;
    size_t len, cap;
    bool oom;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->oom)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->s = p;
        t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void printf_(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(text *t, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(t, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void indent(text *t, int n)
{
    for (int i = 0; i < n; i++)
        put(t, " ", 1);
}

static char *finish(text *t)
{
    if (t->oom) {
        free(t->s);
        return NULL;
    }
    return t->s;
}

/* Python's repr of a float: the fewest significant digits that read back
 * to v, in fixed notation when 1e-4 <= |v| < 1e16, else as 1.5e-07. */
static void shortest(double v, char *buf, size_t len)
{
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, len, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, len, "%.*e", p - 1, v);
    int e = atoi(strchr(buf, 'e') + 1);
    if (e >= -4 && e < 16)
        snprintf(buf, len, "%.*f", p - 1 - e > 0 ? p - 1 - e : 0, v);
}

/* 1e-05 -> 1e-05 for JSON (a float to json.loads as it is); 3 -> 3.0. */
static void real_json(text *t, double v)
{
    char buf[40];
    shortest(v, buf, sizeof buf);
    puts_(t, buf);
    if (!strpbrk(buf, ".eEni"))
        puts_(t, ".0");
}

/* 1e-05 -> 1.0e-05 for YAML 1.1; 3 -> 3.0. */
static void real_yaml(text *t, double v)
{
    char buf[40];
    shortest(v, buf, sizeof buf);
    char *e = strpbrk(buf, "eE");
    if (strchr(buf, '.') || strpbrk(buf, "ni")) {
        puts_(t, buf);
    } else if (e) {
        put(t, buf, (size_t)(e - buf));
        puts_(t, ".0");
        puts_(t, e);
    } else {
        puts_(t, buf);
        puts_(t, ".0");
    }
}

/* ---- JSON ---- */

static void json_string_(text *t, const char *s)
{
    put(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': puts_(t, "\\\""); break;
        case '\\': puts_(t, "\\\\"); break;
        case '\n': puts_(t, "\\n"); break;
        case '\r': puts_(t, "\\r"); break;
        case '\t': puts_(t, "\\t"); break;
        case '\b': puts_(t, "\\b"); break;
        case '\f': puts_(t, "\\f"); break;
        default:
            if (*p < 0x20)
                printf_(t, "\\u%04x", *p);
            else
                put(t, (const char *)p, 1);
        }
    }
    put(t, "\"", 1);
}

static void json_value(text *t, const json_t *v, int depth)
{
    const char *key;
    json_t *e;
    size_t i, n;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (!json_object_size(v)) {
            puts_(t, "{}");
            return;
        }
        puts_(t, "{\n");
        n = 0;
        json_object_foreach((json_t *)v, key, e) {
            if (n++)
                puts_(t, ",\n");
            indent(t, 2 * (depth + 1));
            json_string_(t, key);
            puts_(t, ": ");
            json_value(t, e, depth + 1);
        }
        puts_(t, "\n");
        indent(t, 2 * depth);
        puts_(t, "}");
        return;
    case JSON_ARRAY:
        if (!json_array_size(v)) {
            puts_(t, "[]");
            return;
        }
        puts_(t, "[\n");
        json_array_foreach(v, i, e) {
            if (i)
                puts_(t, ",\n");
            indent(t, 2 * (depth + 1));
            json_value(t, e, depth + 1);
        }
        puts_(t, "\n");
        indent(t, 2 * depth);
        puts_(t, "]");
        return;
    case JSON_STRING:
        json_string_(t, json_string_value(v));
        return;
    case JSON_INTEGER:
        printf_(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        real_json(t, json_real_value(v));
        return;
    case JSON_TRUE:
        puts_(t, "true");
        return;
    case JSON_FALSE:
        puts_(t, "false");
        return;
    case JSON_NULL:
        puts_(t, "null");
        return;
    }
}

char *nn_json_text(const json_t *v)
{
    text t = {0};
    json_value(&t, v, 0);
    puts_(&t, "\n");
    return finish(&t);
}

/* ---- YAML ---- */

static bool plain_ok(const char *s)
{
    static const char *const reserved[] = {"y", "yes", "n", "no", "true", "false",
                                           "on", "off", "null"};
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-' || *p == '/'))
            return false;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (!strcasecmp(s, reserved[i]))
            return false;
    return true;
}

/* One UTF-8 sequence at p: its code point and length (a malformed byte
 * reads as itself, escaped below). */
static unsigned decode(const unsigned char *p, int *len)
{
    int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 1;
    unsigned c = n == 1 ? *p : *p & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *len = 1;
            return *p;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }
    *len = n;
    return c;
}

static void yaml_string(text *t, const char *s)
{
    if (plain_ok(s)) {
        puts_(t, s);
        return;
    }
    put(t, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len;
        unsigned c = decode(p, &len);
        if (c == '"')
            puts_(t, "\\\"");
        else if (c == '\\')
            puts_(t, "\\\\");
        else if (c == '\n')
            puts_(t, "\\n");
        else if (c == '\t')
            puts_(t, "\\t");
        /* what YAML would not keep as it is: controls, C1 (NEL is a line
         * break), line/paragraph separators, the BOM, non-characters */
        else if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029 ||
                 c == 0xfeff || c == 0xfffe || c == 0xffff || (c >= 0xd800 && c <= 0xdfff))
            printf_(t, c > 0xffff ? "\\U%08x" : "\\u%04x", c);
        else if (len == 1 && c >= 0x80) /* a stray byte: keep the text valid */
            puts_(t, "\\ufffd");
        else
            put(t, (const char *)p, (size_t)len);
        p += len;
    }
    put(t, "\"", 1);
}

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* Written on one line: scalars, empty containers, lists of those. */
static bool flow_ok(const json_t *v)
{
    if (json_is_object(v))
        return json_object_size(v) == 0;
    if (!json_is_array(v))
        return true;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!flow_ok(e)) return false;
    return true;
}

static void yaml_flow(text *t, const json_t *v)
{
    size_t i;
    json_t *e;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        puts_(t, "{}");
        return;
    case JSON_ARRAY:
        puts_(t, "[");
        json_array_foreach(v, i, e) {
            if (i)
                puts_(t, ", ");
            yaml_flow(t, e);
        }
        puts_(t, "]");
        return;
    case JSON_STRING:
        yaml_string(t, json_string_value(v));
        return;
    case JSON_INTEGER:
        printf_(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return;
    case JSON_REAL:
        real_yaml(t, json_real_value(v));
        return;
    case JSON_TRUE:
        puts_(t, "true");
        return;
    case JSON_FALSE:
        puts_(t, "false");
        return;
    case JSON_NULL:
        puts_(t, "null");
        return;
    }
}

static void yaml_block(text *t, const json_t *v, int col, bool first_inline);

/* A mapping at column col; with first_inline the first key continues the
 * current line (after "- "). */
static void yaml_map(text *t, const json_t *v, int col, bool first_inline)
{
    const char *key;
    json_t *e;
    bool first = true;
    json_object_foreach((json_t *)v, key, e) {
        if (!(first && first_inline))
            indent(t, col);
        first = false;
        yaml_string(t, key);
        puts_(t, ":");
        if (flow_ok(e)) {
            puts_(t, " ");
            yaml_flow(t, e);
            puts_(t, "\n");
        } else {
            puts_(t, "\n");
            yaml_block(t, e, col + 2, false);
        }
    }
}

/* A block sequence at column col. */
static void yaml_seq(text *t, const json_t *v, int col, bool first_inline)
{
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!(i == 0 && first_inline))
            indent(t, col);
        puts_(t, "- ");
        if (flow_ok(e)) {
            yaml_flow(t, e);
            puts_(t, "\n");
        } else {
            yaml_block(t, e, col + 2, true);
        }
    }
}

static void yaml_block(text *t, const json_t *v, int col, bool first_inline)
{
    if (json_is_object(v))
        yaml_map(t, v, col, first_inline);
    else
        yaml_seq(t, v, col, first_inline);
}

char *nn_yaml_text(const json_t *v)
{
    text t = {0};
    if (is_scalar(v) || flow_ok(v)) {
        yaml_flow(&t, v);
        puts_(&t, "\n");
    } else {
        yaml_block(&t, v, 0, false);
    }
    return finish(&t);
}

/* The C export's writer (see c_export.h): identifiers, weight arrays, the
 * scratch plan, one block per layer in the generated function, and the
 * header around them. The kernels' text is in c_export_ops.c. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/c/internal.h"
#include "util/fileio.h"

#define MAX_TEMPS 8

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

typedef enum { B_INPUT, B_OUTPUT, B_SCRATCH } buf_kind;

/* A node's output values: the caller's input or output, or scratch memory
 * from the node to its last consumer (Flatten & co. share their input's). */
typedef struct {
    buf_kind kind;
    size_t off, size;
    int refs; /* consumers still to run */
    bool freed;
} c_buf;

typedef struct {
    size_t lo, hi;
} span;

struct nn_c_writer {
    const nn_model *m;
    char prefix[NN_NAME_MAX + 8], upper[NN_NAME_MAX + 8];
    sbuf weights, body, lines; /* lines: the current layer's block */
    bool used[NN_CK_COUNT];
    char **names; /* identifiers taken */
    int n_names, cap_names;
    const char *(*param_name)[NN_MAX_PARAMS]; /* per node */
    float *(*host)[NN_MAX_PARAMS];
    int *uses;     /* per node: consumers (+1 for the model's output) */
    int *node_buf; /* per node: its buffer, -1 before it runs */
    c_buf *bufs;
    int n_bufs;
    span *live; /* scratch in use, by offset */
    int n_live;
    size_t peak;
    /* the layer being written */
    const nn_node *cur;
    bool in_used[NN_MAX_INPUTS], out_used, aliased;
    int n_temps;
    size_t temp_off[MAX_TEMPS];
    nn_status st;
    nn_error err;
};

/* ---- text ---- */

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->s, cap);
        if (!grown) {
            b->oom = true;
            return;
        }
        b->s = grown;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    char small[512];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        sb_add(b, small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, again);
            sb_add(b, big, (size_t)n);
        }
        b->oom |= !big;
        free(big);
    } else {
        b->oom = true; /* vsnprintf failed: the export fails */
    }
    va_end(again);
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Appends s with every '$' replaced by "<prefix>_". */
static void sb_expand(sbuf *b, const char *s, const char *prefix)
{
    for (const char *d; (d = strchr(s, '$')); s = d + 1) {
        sb_add(b, s, (size_t)(d - s));
        sb_str(b, prefix);
        sb_str(b, "_");
    }
    sb_str(b, s);
}

void nn_c_float(char buf[NN_C_FLOAT_LEN], float v)
{
    int n = snprintf(buf, NN_C_FLOAT_LEN - 4, "%.9g", (double)v);
    if (!strpbrk(buf, ".e"))
        memcpy(buf + n, ".0", 3), n += 2;
    memcpy(buf + n, "f", 2);
}

/* Text from a name that is safe inside a C comment. */
static void comment_safe(const char *s, char *out, size_t len)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = s[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("_-.:+ ", c);
        out[i] = keep ? c : '_';
    }
    out[i] = '\0';
}

static void shape_text(const nn_node *n, char *out, size_t len)
{
    size_t at = (size_t)snprintf(out, len, "(");
    for (int d = 0; d < n->ndim && at < len; d++)
        at += (size_t)snprintf(out + at, len - at, "%s%d", d ? ", " : "", n->shape[d]);
    if (at < len)
        snprintf(out + at, len - at, ")");
}

/* ---- errors ---- */

static void fail(nn_c_writer *w, nn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(nn_c_writer *w, nn_status code, const char *fmt, ...)
{
    if (w->st)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
    va_end(ap);
    w->st = w->err.code = code;
}

nn_status nn_c_status(const nn_c_writer *w, nn_error *err)
{
    if (w->st) {
        if (err)
            *err = w->err;
        return w->st;
    }
    if (w->weights.oom || w->body.oom || w->lines.oom)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory writing the C header");
    return NN_OK;
}

/* ---- identifiers ---- */

/* Keeps [A-Za-z0-9_] (lowered when asked); anything else becomes '_'. */
static void sanitize(const char *s, char *out, size_t len, bool lower)
{
    size_t i = 0;
    for (; s[i] && i + 1 < len; i++) {
        char c = s[i];
        if (lower && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static bool taken(const nn_c_writer *w, const char *s)
{
    for (int i = 0; i < w->n_names; i++)
        if (strcmp(w->names[i], s) == 0)
            return true;
    return false;
}

/* Reserves base, or base_2, base_3, ... when taken; NULL on failure. */
static const char *take_name(nn_c_writer *w, const char *base)
{
    char name[3 * NN_NAME_MAX + 80];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 2; taken(w, name); k++)
        snprintf(name, sizeof name, "%s_%d", base, k);
    if (w->n_names == w->cap_names) {
        int cap = w->cap_names ? 2 * w->cap_names : 64;
        char **grown = realloc(w->names, sizeof *grown * (size_t)cap);
        if (!grown) {
            fail(w, NN_ERR_RUNTIME, "out of memory writing the C header");
            return NULL;
        }
        w->names = grown;
        w->cap_names = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        fail(w, NN_ERR_RUNTIME, "out of memory writing the C header");
        return NULL;
    }
    return w->names[w->n_names++] = copy;
}

/* ---- weights ---- */

static void write_array(nn_c_writer *w, const char *name, const char *comment, const float *v,
                        size_t count)
{
    sb_printf(&w->weights, "/* %s */\nstatic const float %s[%zu] = {\n", comment, name, count);
    char num[NN_C_FLOAT_LEN];
    for (size_t i = 0; i < count; i++) {
        nn_c_float(num, v[i]);
        sb_str(&w->weights, i % 8 == 0 ? "    " : " ");
        sb_str(&w->weights, num);
        sb_str(&w->weights, i + 1 < count ? "," : "");
        if (i % 8 == 7 || i + 1 == count)
            sb_str(&w->weights, "\n");
    }
    sb_str(&w->weights, "};\n\n");
}

static bool all_finite(nn_c_writer *w, const nn_node *n, const char *what, const float *v,
                       size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(v[i])) {
            fail(w, NN_ERR_RUNTIME,
                 "layer '%s' (%s): %s holds %s at index %zu; a model with NaN or infinite "
                 "weights cannot be exported",
                 n->name, n->type->name, what, isnan(v[i]) ? "NaN" : "an infinity", i);
            return false;
        }
    return true;
}

static bool own_param(nn_c_writer *w, const nn_node *n, int k)
{
    if (n->index < 0 || n->index >= w->m->n_nodes || w->m->nodes[n->index] != n || k < 0 ||
        k >= n->n_params) {
        fail(w, NN_ERR_RUNTIME, "layer '%s' (%s): C export asked for parameter %d of %d", n->name,
             n->type->name, k, n->n_params);
        return false;
    }
    return true;
}

const float *nn_c_values(nn_c_writer *w, const nn_node *n, int k)
{
    if (!own_param(w, n, k))
        return NULL;
    float **slot = &w->host[n->index][k];
    if (*slot)
        return *slot;
    const nn_param *p = &n->params[k];
    float *v = malloc(p->size * sizeof *v);
    if (!v) {
        fail(w, NN_ERR_RUNTIME, "out of memory reading layer '%s' weight '%s'", n->name, p->name);
        return NULL;
    }
    w->m->e->ops->download(w->m->e, v, &p->w, p->size);
    *slot = v;
    return all_finite(w, n, p->name, v, p->size) ? v : NULL;
}

static const char *array_name(nn_c_writer *w, const nn_node *n, const char *what)
{
    char layer[NN_NAME_MAX], weight[NN_NAME_MAX + 16], base[3 * NN_NAME_MAX + 32];
    sanitize(n->name, layer, sizeof layer, false);
    sanitize(what, weight, sizeof weight, false);
    snprintf(base, sizeof base, "%s_%s_%s", w->prefix, layer, weight);
    return take_name(w, base);
}

const char *nn_c_param(nn_c_writer *w, const nn_node *n, int k)
{
    if (!own_param(w, n, k))
        return "0";
    const char **slot = &w->param_name[n->index][k];
    if (*slot)
        return *slot;
    const nn_param *p = &n->params[k];
    const float *v = nn_c_values(w, n, k);
    const char *name = v ? array_name(w, n, p->name) : NULL;
    if (!name)
        return "0";
    char comment[4 * NN_NAME_MAX], shape[128] = "";
    size_t at = 0;
    for (int d = 0; d < p->ndim; d++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%d", d ? ", " : "",
                               p->shape[d]);
    comment_safe(n->name, comment, sizeof comment);
    snprintf(comment + strlen(comment), sizeof comment - strlen(comment), "/%s: (%s)",
             p->name, shape);
    write_array(w, name, comment, v, p->size);
    return *slot = name;
}

const char *nn_c_const(nn_c_writer *w, const nn_node *n, const char *what, const float *v,
                       size_t count)
{
    const char *name = all_finite(w, n, what, v, count) ? array_name(w, n, what) : NULL;
    if (!name)
        return "0";
    char comment[4 * NN_NAME_MAX];
    comment_safe(n->name, comment, sizeof comment);
    snprintf(comment + strlen(comment), sizeof comment - strlen(comment),
             " %s (%zu values, computed at export)", what, count);
    write_array(w, name, comment, v, count);
    return name;
}

/* ---- scratch memory: first fit over the spans in use ---- */

static size_t span_alloc(nn_c_writer *w, size_t size)
{
    size_t at = 0;
    int pos = 0;
    for (; pos < w->n_live && w->live[pos].lo < at + size; pos++)
        if (w->live[pos].hi > at)
            at = w->live[pos].hi;
    /* w->live holds room for every buffer and temporary (see writer_init) */
    memmove(&w->live[pos + 1], &w->live[pos], sizeof *w->live * (size_t)(w->n_live - pos));
    w->live[pos] = (span){at, at + size};
    w->n_live++;
    if (at + size > w->peak)
        w->peak = at + size;
    return at;
}

static void span_free(nn_c_writer *w, size_t off)
{
    for (int i = 0; i < w->n_live; i++)
        if (w->live[i].lo == off) {
            memmove(&w->live[i], &w->live[i + 1], sizeof *w->live * (size_t)(w->n_live - i - 1));
            w->n_live--;
            return;
        }
}

static int new_buf(nn_c_writer *w, buf_kind kind, size_t size, int refs)
{
    c_buf *b = &w->bufs[w->n_bufs];
    *b = (c_buf){.kind = kind, .size = size, .refs = refs};
    if (kind == B_SCRATCH)
        b->off = span_alloc(w, size ? size : 1);
    return w->n_bufs++;
}

static void drop_ref(nn_c_writer *w, int b)
{
    c_buf *c = &w->bufs[b];
    if (--c->refs <= 0 && c->kind == B_SCRATCH && !c->freed) {
        span_free(w, c->off);
        c->freed = true;
    }
}

static void buf_expr(const nn_c_writer *w, int b, char *out, size_t len)
{
    const c_buf *c = &w->bufs[b];
    if (c->kind != B_SCRATCH)
        snprintf(out, len, "%s", c->kind == B_INPUT ? "input" : "output");
    else if (c->off == 0)
        snprintf(out, len, "scratch");
    else
        snprintf(out, len, "scratch + %zu", c->off);
}

/* ---- what hooks call ---- */

static bool is_current(nn_c_writer *w, const nn_node *n, const char *what)
{
    if (n == w->cur)
        return true;
    fail(w, NN_ERR_RUNTIME, "layer '%s' (%s): C export %s outside its own layer", n->name,
         n->type->name, what);
    return false;
}

const char *nn_c_in(nn_c_writer *w, const nn_node *n, int i)
{
    static const char *const names[NN_MAX_INPUTS] = {"x0", "x1", "x2", "x3",
                                                     "x4", "x5", "x6", "x7"};
    if (!is_current(w, n, "read an input"))
        return "0";
    if (i < 0 || i >= n->n_in) {
        fail(w, NN_ERR_RUNTIME, "layer '%s' (%s): C export read input %d of %d", n->name,
             n->type->name, i, n->n_in);
        return "0";
    }
    w->in_used[i] = true;
    return n->n_in == 1 ? "x" : names[i];
}

const char *nn_c_out(nn_c_writer *w, const nn_node *n)
{
    if (!is_current(w, n, "wrote an output"))
        return "0";
    if (w->aliased) {
        fail(w, NN_ERR_RUNTIME, "layer '%s': C export both aliased and wrote its output",
             n->name);
        return "0";
    }
    if (!w->out_used) {
        bool last = n == w->m->output;
        w->node_buf[n->index] = new_buf(w, last ? B_OUTPUT : B_SCRATCH, n->size, w->uses[n->index]);
        w->out_used = true;
    }
    return "y";
}

void nn_c_alias(nn_c_writer *w, const nn_node *n)
{
    if (!is_current(w, n, "aliased an input"))
        return;
    if (w->out_used || n->n_in < 1) {
        fail(w, NN_ERR_RUNTIME, "layer '%s': C export cannot alias its input here", n->name);
        return;
    }
    int b = w->node_buf[n->in[0]->index];
    w->node_buf[n->index] = b;
    w->bufs[b].refs += w->uses[n->index];
    w->aliased = true;
}

const char *nn_c_temp(nn_c_writer *w, size_t count)
{
    static const char *const names[MAX_TEMPS] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};
    if (!w->cur) {
        fail(w, NN_ERR_RUNTIME, "C export: a temporary outside a layer");
        return "0";
    }
    if (w->n_temps == MAX_TEMPS) {
        fail(w, NN_ERR_RUNTIME, "layer '%s' (%s): C export needs more than %d temporaries",
             w->cur->name, w->cur->type->name, MAX_TEMPS);
        return "0";
    }
    w->temp_off[w->n_temps] = span_alloc(w, count ? count : 1);
    return names[w->n_temps++];
}

void nn_c_use(nn_c_writer *w, int k)
{
    for (; k >= 0 && !w->used[k]; k = nn_c_kernels[k].dep)
        w->used[k] = true;
}

void nn_c_emit(nn_c_writer *w, int k, const char *fmt, ...)
{
    sbuf line = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&line, fmt, ap);
    va_end(ap);
    if (line.oom) {
        w->lines.oom = true;
        return;
    }
    sb_str(&w->lines, "        ");
    sb_expand(&w->lines, line.s ? line.s : "", w->prefix);
    sb_str(&w->lines, "\n");
    free(line.s);
    if (k >= 0)
        nn_c_use(w, k);
}

/* ---- the model ---- */

static nn_status check_model(const nn_model *m, nn_error *err)
{
    if (m && (m->n_inputs > 1 || m->n_outputs > 1))
        return nn_fail(err, NN_ERR_USAGE,
                       "export --format c writes one-input, one-output models; this one has %d "
                       "inputs and %d outputs (export --format onnx takes it)",
                       m->n_inputs, m->n_outputs);
    if (!m || !m->e || !m->input || !m->output || m->n_nodes < 1)
        return nn_fail(err, NN_ERR_RUNTIME, "C export: the model has no weights loaded");
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        if (n->index != i)
            return nn_fail(err, NN_ERR_RUNTIME, "C export: layer '%s' is out of order", n->name);
        if (n->size > INT_MAX / 4)
            return nn_node_fail(n, err, "its output (%zu values) is too large for C export",
                                n->size);
        for (int k = 0; k < n->n_params; k++)
            if (n->params[k].size > INT_MAX / 4)
                return nn_node_fail(n, err, "weight '%s' is too large for C export",
                                    n->params[k].name);
        if (n != m->input && !n->type->export_c)
            return nn_fail(err, NN_ERR_USAGE,
                           "layer '%s' (%s) cannot be exported to C: nnctl has no C code for "
                           "%s layers",
                           n->name, n->type->name, n->type->name);
    }
    return NN_OK;
}

static nn_status writer_init(nn_c_writer *w, const nn_model *m, nn_error *err)
{
    memset(w, 0, sizeof *w);
    w->m = m;
    const int N = m->n_nodes;
    w->param_name = calloc((size_t)N, sizeof *w->param_name);
    w->host = calloc((size_t)N, sizeof *w->host);
    w->uses = calloc((size_t)N, sizeof *w->uses);
    w->node_buf = malloc(sizeof *w->node_buf * (size_t)N);
    w->bufs = calloc((size_t)N + 1, sizeof *w->bufs);
    w->live = calloc((size_t)N + MAX_TEMPS + 1, sizeof *w->live);
    if (!w->param_name || !w->host || !w->uses || !w->node_buf || !w->bufs || !w->live)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory writing the C header");
    for (int i = 0; i < N; i++) {
        w->node_buf[i] = -1;
        for (int k = 0; k < m->nodes[i]->n_in; k++)
            w->uses[m->nodes[i]->in[k]->index]++;
    }
    w->uses[m->output->index]++;
    w->node_buf[m->input->index] = new_buf(w, B_INPUT, m->input->size, 0);

    /* the prefix starts with a letter: identifiers and macros never clash */
    char name[NN_NAME_MAX + 8];
    sanitize(m->name, name, sizeof name, true);
    bool letter = name[0] >= 'a' && name[0] <= 'z';
    snprintf(w->prefix, sizeof w->prefix, "%s%s", letter ? "" : "model_", name);
    for (size_t i = 0; i <= strlen(w->prefix); i++)
        w->upper[i] = (char)(w->prefix[i] >= 'a' && w->prefix[i] <= 'z'
                                 ? w->prefix[i] - 'a' + 'A'
                                 : w->prefix[i]);
    char ident[NN_NAME_MAX + 40];
    snprintf(ident, sizeof ident, "%s_predict", w->prefix);
    take_name(w, ident);
    for (int k = 0; k < NN_CK_COUNT; k++)
        if (nn_c_kernels[k].name) {
            snprintf(ident, sizeof ident, "%s_%s", w->prefix, nn_c_kernels[k].name);
            take_name(w, ident);
        }
    return nn_c_status(w, err);
}

static void writer_free(nn_c_writer *w)
{
    for (int i = 0; i < w->n_names; i++)
        free(w->names[i]);
    free(w->names);
    if (w->host)
        for (int i = 0; i < w->m->n_nodes; i++)
            for (int k = 0; k < NN_MAX_PARAMS; k++)
                free(w->host[i][k]);
    free(w->host);
    free(w->param_name);
    free(w->uses);
    free(w->node_buf);
    free(w->bufs);
    free(w->live);
    free(w->weights.s);
    free(w->body.s);
    free(w->lines.s);
}

/* The layer's block: its pointers, then what its hook emitted. */
static void close_block(nn_c_writer *w, const nn_node *n)
{
    char name[NN_NAME_MAX], shape[128], expr[64];
    comment_safe(n->name, name, sizeof name);
    shape_text(n, shape, sizeof shape);
    sb_printf(&w->body, "%s    /* %s (%s): %s", w->body.len ? "\n" : "", name, n->type->name,
              shape);
    if (w->aliased) {
        char src[NN_NAME_MAX];
        comment_safe(n->in[0]->name, src, sizeof src);
        sb_printf(&w->body, ", the values of %s */\n", src);
        return;
    }
    sb_str(&w->body, " */\n    {\n");
    for (int i = 0; i < n->n_in; i++)
        if (w->in_used[i]) {
            buf_expr(w, w->node_buf[n->in[i]->index], expr, sizeof expr);
            if (n->n_in == 1)
                sb_printf(&w->body, "        const float *x = %s;\n", expr);
            else
                sb_printf(&w->body, "        const float *x%d = %s;\n", i, expr);
        }
    buf_expr(w, w->node_buf[n->index], expr, sizeof expr);
    sb_printf(&w->body, "        float *y = %s;\n", expr);
    for (int t = 0; t < w->n_temps; t++)
        if (w->temp_off[t])
            sb_printf(&w->body, "        float *t%d = scratch + %zu;\n", t, w->temp_off[t]);
        else
            sb_printf(&w->body, "        float *t%d = scratch;\n", t);
    sb_add(&w->body, w->lines.s ? w->lines.s : "", w->lines.len);
    sb_str(&w->body, "    }\n");
}

static nn_status write_layers(nn_c_writer *w, nn_error *err)
{
    const nn_model *m = w->m;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        if (n == m->input)
            continue;
        w->cur = n;
        memset(w->in_used, 0, sizeof w->in_used);
        w->out_used = w->aliased = false;
        w->n_temps = 0;
        w->lines.len = 0;
        if (w->lines.s)
            w->lines.s[0] = '\0';
        for (int k = 0; k < n->n_in; k++)
            if (w->node_buf[n->in[k]->index] < 0)
                return nn_fail(err, NN_ERR_RUNTIME, "C export: layer '%s' runs before its input",
                               n->name);
        nn_status st = n->type->export_c(n, w, err);
        if (!st)
            st = nn_c_status(w, err);
        if (st)
            return st;
        if (!w->out_used && !w->aliased)
            return nn_node_fail(n, err, "its C export wrote no output");
        close_block(w, n);
        for (int t = 0; t < w->n_temps; t++)
            span_free(w, w->temp_off[t]);
        for (int k = 0; k < n->n_in; k++)
            drop_ref(w, w->node_buf[n->in[k]->index]);
        int own = w->node_buf[n->index];
        if (w->bufs[own].refs <= 0 && w->bufs[own].kind == B_SCRATCH && !w->bufs[own].freed) {
            span_free(w, w->bufs[own].off);
            w->bufs[own].freed = true;
        }
    }
    w->cur = NULL;
    int out = w->node_buf[m->output->index];
    if (w->bufs[out].kind != B_OUTPUT) { /* the output aliases another buffer */
        char expr[64];
        buf_expr(w, out, expr, sizeof expr);
        sb_printf(&w->body, "\n    memcpy(output, %s, sizeof(float) * %zu);\n", expr,
                  m->output->size);
    }
    return nn_c_status(w, err);
}

static void write_header(nn_c_writer *w, sbuf *h)
{
    const nn_model *m = w->m;
    const char *P = w->upper, *p = w->prefix;
    char name[NN_NAME_MAX], in_shape[128], out_shape[128];
    comment_safe(m->name, name, sizeof name);
    shape_text(m->input, in_shape, sizeof in_shape);
    shape_text(m->output, out_shape, sizeof out_shape);
    sb_printf(h,
              "/* Model '%s' as C: generated by nnctl %s (nnctl export --format c).\n"
              " * Self-contained C99: needs only <math.h> and <string.h> (link with -lm);\n"
              " * no allocation and no global state. Include it in one .c file (the\n"
              " * weights are static arrays).\n"
              " *\n"
              " *   static float scratch[%s_SCRATCH_SIZE];\n"
              " *   float in[%s_INPUT_SIZE], out[%s_OUTPUT_SIZE];\n"
              " *   %s_predict(in, out, scratch);\n"
              " *\n"
              " * %s_predict runs ONE sample through nnctl's inference pass (dropout off,\n"
              " * batch normalization with its moving statistics):\n"
              " *   input    %s_INPUT_SIZE floats, shape %s, row-major and\n"
              " *            channels-last: the values the model takes (nnctl divides PNG\n"
              " *            and IDX pixels by the spec's data.scale first; token ids are\n"
              " *            floats)\n"
              " *   output   %s_OUTPUT_SIZE floats, shape %s\n"
              " *   scratch  %s_SCRATCH_SIZE floats of working memory (any RAM: static, stack\n"
              " *            or a pool); calls with separate scratch buffers may run at the\n"
              " *            same time. input, output and scratch must not overlap.\n"
              " *\n"
              " * Layers:\n",
              name, NNCTL_VERSION, P, P, P, p, p, P, in_shape, P, out_shape, P);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        char nm[NN_NAME_MAX], shape[128];
        comment_safe(n->name, nm, sizeof nm);
        shape_text(n, shape, sizeof shape);
        sb_printf(h, " *   %-24s %-26s -> %s\n", nm, n->type->name, shape);
    }
    sb_printf(h,
              " */\n#ifndef %s_H\n#define %s_H\n\n#include <math.h>\n#include <string.h>\n\n"
              "#define %s_INPUT_SIZE %zu\n#define %s_OUTPUT_SIZE %zu\n"
              "#define %s_SCRATCH_SIZE %zu /* floats (at least 1) */\n\n",
              P, P, P, m->input->size, P, m->output->size, P, w->peak ? w->peak : 1);
}

static void assemble(nn_c_writer *w, sbuf *h)
{
    write_header(w, h);
    sb_add(h, w->weights.s ? w->weights.s : "", w->weights.len);
    for (int k = 0; k < NN_CK_COUNT; k++)
        if (w->used[k] && nn_c_kernels[k].name) {
            sb_expand(h, nn_c_kernels[k].text, w->prefix);
            sb_str(h, "\n");
        }
    sb_printf(h, "static void %s_predict(const float *input, float *output, float *scratch)\n{\n",
              w->prefix);
    if (!w->peak)
        sb_str(h, "    (void)scratch;\n");
    sb_add(h, w->body.s ? w->body.s : "", w->body.len);
    sb_printf(h, "}\n\n#endif /* %s_H */\n", w->upper);
}

nn_status nn_export_c(const nn_model *m, const char *path, nn_error *err)
{
    nn_status st = check_model(m, err);
    if (st)
        return st;
    nn_c_writer w;
    sbuf h = {0};
    if (!(st = writer_init(&w, m, err)) && !(st = write_layers(&w, err))) {
        assemble(&w, &h);
        if (h.oom)
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory writing the C header");
        else
            st = nn_write_file_atomic(path, h.s, h.len, err);
    }
    free(h.s);
    writer_free(&w);
    return st;
}

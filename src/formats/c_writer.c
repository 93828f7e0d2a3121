/* The C export's writer (formats/c_code.h): identifiers, weight arrays,
 * the scratch plan and one block per layer of the generated function. The
 * kernels' text is in c_kernels.c; io/c/export.c assembles the header. */
#include <math.h>
#include <string.h>

#include "formats/c_internal.h"

/* ---- text ---- */

void nn_c__sb_add(sbuf *b, const char *s, size_t n)
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

void nn_c__sb_str(sbuf *b, const char *s) { nn_c__sb_add(b, s, strlen(s)); }

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    char small[512];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        nn_c__sb_add(b, small, (size_t)n);
    } else if (n >= 0) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, fmt, again);
            nn_c__sb_add(b, big, (size_t)n);
        }
        b->oom |= !big;
        free(big);
    } else {
        b->oom = true; /* vsnprintf failed: the export fails */
    }
    va_end(again);
}

void nn_c__sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Appends s with every '$' replaced by "<prefix>_". */
void nn_c__sb_expand(sbuf *b, const char *s, const char *prefix)
{
    for (const char *d; (d = strchr(s, '$')); s = d + 1) {
        nn_c__sb_add(b, s, (size_t)(d - s));
        nn_c__sb_str(b, prefix);
        nn_c__sb_str(b, "_");
    }
    nn_c__sb_str(b, s);
}

void nn_c_float(char buf[NN_C_FLOAT_LEN], float v)
{
    int n = snprintf(buf, NN_C_FLOAT_LEN - 4, "%.9g", (double)v);
    if (!strpbrk(buf, ".e"))
        memcpy(buf + n, ".0", 3), n += 2;
    memcpy(buf + n, "f", 2);
}

/* Text from a name that is safe inside a C comment. */
void nn_c__comment_safe(const char *s, char *out, size_t len)
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

void nn_c__shape_text(const nn_node *n, char *out, size_t len)
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
void nn_c__sanitize(const char *s, char *out, size_t len, bool lower)
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
const char *nn_c__take_name(nn_c_writer *w, const char *base)
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
    nn_c__sb_printf(&w->weights, "/* %s */\nstatic const float %s[%zu] %s_UNUSED = {\n", comment,
                    name, count, w->upper);
    char num[NN_C_FLOAT_LEN];
    for (size_t i = 0; i < count; i++) {
        nn_c_float(num, v[i]);
        nn_c__sb_str(&w->weights, i % 8 == 0 ? "    " : " ");
        nn_c__sb_str(&w->weights, num);
        nn_c__sb_str(&w->weights, i + 1 < count ? "," : "");
        if (i % 8 == 7 || i + 1 == count)
            nn_c__sb_str(&w->weights, "\n");
    }
    nn_c__sb_str(&w->weights, "};\n\n");
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
    nn_c__sanitize(n->name, layer, sizeof layer, false);
    nn_c__sanitize(what, weight, sizeof weight, false);
    snprintf(base, sizeof base, "%s_%s_%s", w->prefix, layer, weight);
    return nn_c__take_name(w, base);
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
    nn_c__comment_safe(n->name, comment, sizeof comment);
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
    nn_c__comment_safe(n->name, comment, sizeof comment);
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

void nn_c__span_free(nn_c_writer *w, size_t off)
{
    for (int i = 0; i < w->n_live; i++)
        if (w->live[i].lo == off) {
            memmove(&w->live[i], &w->live[i + 1], sizeof *w->live * (size_t)(w->n_live - i - 1));
            w->n_live--;
            return;
        }
}

int nn_c__new_buf(nn_c_writer *w, buf_kind kind, size_t size, int refs)
{
    c_buf *b = &w->bufs[w->n_bufs];
    *b = (c_buf){.kind = kind, .size = size, .refs = refs};
    if (kind == B_SCRATCH)
        b->off = span_alloc(w, size ? size : 1);
    return w->n_bufs++;
}

void nn_c__drop_ref(nn_c_writer *w, int b)
{
    c_buf *c = &w->bufs[b];
    if (--c->refs <= 0 && c->kind == B_SCRATCH && !c->freed) {
        nn_c__span_free(w, c->off);
        c->freed = true;
    }
}

void nn_c__buf_expr(const nn_c_writer *w, int b, char *out, size_t len)
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
        w->node_buf[n->index] = nn_c__new_buf(w, last ? B_OUTPUT : B_SCRATCH, n->size, w->uses[n->index]);
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
    nn_c__sb_str(&w->lines, "        ");
    nn_c__sb_expand(&w->lines, line.s ? line.s : "", w->prefix);
    nn_c__sb_str(&w->lines, "\n");
    free(line.s);
    if (k >= 0)
        nn_c_use(w, k);
}

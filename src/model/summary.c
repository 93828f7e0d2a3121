/* Keras 2-style model summary: a chain prints like a Sequential model, a
 * graph like a functional Model with its "Connected to" column. */
#include <stdio.h>
#include <string.h>

#include "model/model.h"

void nn_shape_string(const nn_node *n, char *buf, size_t len)
{
    size_t off = (size_t)snprintf(buf, len, "(None");
    for (int i = 0; i < n->ndim && off < len; i++)
        off += n->shape[i] ? (size_t)snprintf(buf + off, len - off, ", %d", n->shape[i])
                           : (size_t)snprintf(buf + off, len - off, ", None");
    if (off < len)
        snprintf(buf + off, len - off, ")");
}

static bool is_chain(const nn_model *m)
{
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i]->n_in != 1 || m->nodes[i]->in[0] != m->nodes[i - 1])
            return false;
    return true;
}

static void thousands(size_t v, char *buf, size_t len)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%zu", v);
    size_t n = strlen(raw), o = 0;
    for (size_t i = 0; i < n && o + 2 < len; i++) {
        if (i && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = raw[i];
    }
    buf[o] = '\0';
}

static void memory_size(size_t bytes, char *buf, size_t len)
{
    const char *units[] = {"Byte", "KB", "MB", "GB", "TB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.2f %s", v, units[u]);
}

static void rule(FILE *f, char c, int width)
{
    for (int i = 0; i < width; i++)
        fputc(c, f);
    fputc('\n', f);
}

static size_t node_params(const nn_node *n)
{
    size_t t = 0;
    for (int k = 0; k < n->n_params; k++)
        t += n->params[k].size;
    return t;
}

/* One table row the way Keras 2's print_row lays it out: each column's
 * text is cut to its width less two spaces, the rest continues on the next
 * line, until every column is printed. positions are the columns' right
 * edges. */
static void print_row(FILE *f, const char *const *fields, const int *positions, int ncols)
{
    const char *left[4];
    for (int c = 0; c < ncols; c++)
        left[c] = fields[c];
    for (;;) {
        bool any = false;
        for (int c = 0; c < ncols; c++)
            any |= left[c][0] != '\0';
        if (!any)
            break;
        char line[512];
        int len = 0;
        for (int c = 0; c < ncols; c++) {
            int start = c ? positions[c - 1] : 0;
            int space = c != ncols - 1 ? 2 : 0;
            int cutoff = positions[c] - start - space - (c == 0 ? 1 : 0);
            int take = (int)strlen(left[c]);
            if (take > cutoff)
                take = cutoff;
            len += snprintf(line + len, sizeof line - (size_t)len, "%s%.*s%*s", c == 0 ? " " : "",
                            take, left[c], space, "");
            left[c] += take;
            while (len < positions[c] && len < (int)sizeof line - 1)
                line[len++] = ' ';
            line[len] = '\0';
        }
        fprintf(f, "%s\n", line);
    }
}

void nn_model_summary(const nn_model *m, FILE *f)
{
    bool chain = is_chain(m);
    /* Keras 2: Sequential columns end at 45%, 85%, 100% of 65 characters;
     * functional ones at 33%, 55%, 67%, 100% of 98 */
    const int seq_pos[3] = {29, 55, 65}, fun_pos[4] = {33, 55, 67, 98};
    const int *pos = chain ? seq_pos : fun_pos;
    const int ncols = chain ? 3 : 4, width = chain ? 65 : 98;
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, '_', width);
    const char *head[4] = {"Layer (type)", "Output Shape", "Param #", "Connected to"};
    print_row(f, head, pos, ncols);
    rule(f, '=', width);
    for (int i = chain ? 1 : 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        char name[160], shape[96], conn[512] = "", params[32];
        snprintf(name, sizeof name, "%s (%s)", n->name, n->type->keras_class);
        nn_shape_string(n, shape, sizeof shape);
        snprintf(params, sizeof params, "%zu", node_params(n));
        /* str() of Keras's Python list: ['a[0][0]', 'b[0][0]'] */
        size_t o = (size_t)snprintf(conn, sizeof conn, "[");
        for (int k = 0; k < n->n_in && o < sizeof conn; k++)
            o += (size_t)snprintf(conn + o, sizeof conn - o, "%s'%s[0][0]'", k ? ", " : "",
                                  n->in[k]->name);
        if (o < sizeof conn)
            snprintf(conn + o, sizeof conn - o, "]");
        const char *row[4] = {name, shape, params, conn};
        print_row(f, row, pos, ncols);
        if (i + 1 < m->n_nodes)
            fprintf(f, "%*s\n", width, "");
    }
    rule(f, '=', width);
    size_t tr, nt;
    nn_model_count_params(m, &tr, &nt);
    char a[32], b[32], c[32], sa[32], sb[32], sc[32];
    thousands(tr + nt, a, sizeof a);
    thousands(tr, b, sizeof b);
    thousands(nt, c, sizeof c);
    memory_size((tr + nt) * 4, sa, sizeof sa);
    memory_size(tr * 4, sb, sizeof sb);
    memory_size(nt * 4, sc, sizeof sc);
    fprintf(f, "Total params: %s (%s)\nTrainable params: %s (%s)\nNon-trainable params: %s (%s)\n",
            a, sa, b, sb, c, sc);
    rule(f, '_', width);
}

void nn_model_weights_summary(const nn_model *m, const size_t *nonzero, double threshold, FILE *f)
{
    const int pos[4] = {33, 47, 61, 70}, width = 70;
    fprintf(f, "Model: \"%s\": weights with |w| > %g\n", m->name, threshold);
    rule(f, '_', width);
    const char *head[4] = {"Layer (type)", "Param #", "Nonzero", "Share"};
    print_row(f, head, pos, 4);
    rule(f, '=', width);
    size_t total = 0, nz = 0;
    bool first = true;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        size_t p = node_params(n);
        if (!p)
            continue; /* nothing to count */
        total += p;
        nz += nonzero[i];
        char name[160], params[32], count[32], share[32];
        snprintf(name, sizeof name, "%s (%s)", n->name, n->type->keras_class);
        thousands(p, params, sizeof params);
        thousands(nonzero[i], count, sizeof count);
        snprintf(share, sizeof share, "%.2f%%", 100.0 * (double)nonzero[i] / (double)p);
        if (!first)
            fprintf(f, "%*s\n", width, "");
        first = false;
        const char *row[4] = {name, params, count, share};
        print_row(f, row, pos, 4);
    }
    rule(f, '=', width);
    char a[32], b[32];
    thousands(total, a, sizeof a);
    thousands(nz, b, sizeof b);
    fprintf(f, "Total params: %s\nNonzero: %s (%.2f%%)\n", a, b,
            total ? 100.0 * (double)nz / (double)total : 0.0);
    rule(f, '_', width);
}

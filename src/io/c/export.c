/* nnctl export --format c: the model driver. Checks the model, plans one
 * block per layer through each row's export_c hook (formats/c_code.h),
 * then assembles and writes the header. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/c_internal.h"
#include "io/c/export.h"
#include "util/fileio.h"

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
    w->node_buf[m->input->index] = nn_c__new_buf(w, B_INPUT, m->input->size, 0);

    /* the prefix starts with a letter: identifiers and macros never clash */
    char name[NN_NAME_MAX + 8];
    nn_c__sanitize(m->name, name, sizeof name, true);
    bool letter = name[0] >= 'a' && name[0] <= 'z';
    snprintf(w->prefix, sizeof w->prefix, "%s%s", letter ? "" : "model_", name);
    for (size_t i = 0; i <= strlen(w->prefix); i++)
        w->upper[i] = (char)(w->prefix[i] >= 'a' && w->prefix[i] <= 'z'
                                 ? w->prefix[i] - 'a' + 'A'
                                 : w->prefix[i]);
    char ident[NN_NAME_MAX + 40];
    snprintf(ident, sizeof ident, "%s_predict", w->prefix);
    nn_c__take_name(w, ident);
    for (int k = 0; k < NN_CK_COUNT; k++)
        if (nn_c_kernels[k].name) {
            snprintf(ident, sizeof ident, "%s_%s", w->prefix, nn_c_kernels[k].name);
            nn_c__take_name(w, ident);
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
    nn_c__comment_safe(n->name, name, sizeof name);
    nn_c__shape_text(n, shape, sizeof shape);
    nn_c__sb_printf(&w->body, "%s    /* %s (%s): %s", w->body.len ? "\n" : "", name, n->type->name,
              shape);
    if (w->aliased) {
        char src[NN_NAME_MAX];
        nn_c__comment_safe(n->in[0]->name, src, sizeof src);
        nn_c__sb_printf(&w->body, ", the values of %s */\n", src);
        return;
    }
    nn_c__sb_str(&w->body, " */\n    {\n");
    for (int i = 0; i < n->n_in; i++)
        if (w->in_used[i]) {
            nn_c__buf_expr(w, w->node_buf[n->in[i]->index], expr, sizeof expr);
            if (n->n_in == 1)
                nn_c__sb_printf(&w->body, "        const float *x = %s;\n", expr);
            else
                nn_c__sb_printf(&w->body, "        const float *x%d = %s;\n", i, expr);
        }
    nn_c__buf_expr(w, w->node_buf[n->index], expr, sizeof expr);
    nn_c__sb_printf(&w->body, "        float *y = %s;\n", expr);
    for (int t = 0; t < w->n_temps; t++)
        if (w->temp_off[t])
            nn_c__sb_printf(&w->body, "        float *t%d = scratch + %zu;\n", t, w->temp_off[t]);
        else
            nn_c__sb_printf(&w->body, "        float *t%d = scratch;\n", t);
    nn_c__sb_add(&w->body, w->lines.s ? w->lines.s : "", w->lines.len);
    nn_c__sb_str(&w->body, "    }\n");
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
            nn_c__span_free(w, w->temp_off[t]);
        for (int k = 0; k < n->n_in; k++)
            nn_c__drop_ref(w, w->node_buf[n->in[k]->index]);
        int own = w->node_buf[n->index];
        if (w->bufs[own].refs <= 0 && w->bufs[own].kind == B_SCRATCH && !w->bufs[own].freed) {
            nn_c__span_free(w, w->bufs[own].off);
            w->bufs[own].freed = true;
        }
    }
    w->cur = NULL;
    int out = w->node_buf[m->output->index];
    if (w->bufs[out].kind != B_OUTPUT) { /* the output aliases another buffer */
        char expr[64];
        nn_c__buf_expr(w, out, expr, sizeof expr);
        nn_c__sb_printf(&w->body, "\n    memcpy(output, %s, sizeof(float) * %zu);\n", expr,
                  m->output->size);
    }
    return nn_c_status(w, err);
}

static void write_header(nn_c_writer *w, sbuf *h)
{
    const nn_model *m = w->m;
    const char *P = w->upper, *p = w->prefix;
    char name[NN_NAME_MAX], in_shape[128], out_shape[128];
    nn_c__comment_safe(m->name, name, sizeof name);
    nn_c__shape_text(m->input, in_shape, sizeof in_shape);
    nn_c__shape_text(m->output, out_shape, sizeof out_shape);
    nn_c__sb_printf(h,
              "/* Model '%s' as C: generated by nnctl %s (nnctl export --format c).\n"
              " * Self-contained C99: needs only <math.h> and <string.h> (link with -lm);\n"
              " * no allocation and no global state. Include it in one .c file (the\n"
              " * weights are static arrays); everything is static (inline), so a file\n"
              " * that includes it without calling it compiles without warnings.\n"
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
        nn_c__comment_safe(n->name, nm, sizeof nm);
        nn_c__shape_text(n, shape, sizeof shape);
        nn_c__sb_printf(h, " *   %-24s %-26s -> %s\n", nm, n->type->name, shape);
    }
    nn_c__sb_printf(h,
              " */\n#ifndef %s_H\n#define %s_H\n\n#include <math.h>\n#include <string.h>\n\n"
              "#define %s_INPUT_SIZE %zu\n#define %s_OUTPUT_SIZE %zu\n"
              "#define %s_SCRATCH_SIZE %zu /* floats (at least 1) */\n\n"
              "/* the weights of a file that does not call %s_predict are unused */\n"
              "#if defined(__GNUC__) || defined(__clang__)\n"
              "#define %s_UNUSED __attribute__((unused))\n#else\n#define %s_UNUSED\n#endif\n\n",
              P, P, P, m->input->size, P, m->output->size, P, w->peak ? w->peak : 1, p, P, P);
}

static void assemble(nn_c_writer *w, sbuf *h)
{
    write_header(w, h);
    nn_c__sb_add(h, w->weights.s ? w->weights.s : "", w->weights.len);
    for (int k = 0; k < NN_CK_COUNT; k++)
        if (w->used[k] && nn_c_kernels[k].name) {
            nn_c__sb_expand(h, nn_c_kernels[k].text, w->prefix);
            nn_c__sb_str(h, "\n");
        }
    nn_c__sb_printf(h,
                    "static inline void %s_predict(const float *input, float *output, "
                    "float *scratch)\n{\n",
                    w->prefix);
    if (!w->peak)
        nn_c__sb_str(h, "    (void)scratch;\n");
    nn_c__sb_add(h, w->body.s ? w->body.s : "", w->body.len);
    nn_c__sb_printf(h, "}\n\n#endif /* %s_H */\n", w->upper);
}

nn_status nn_export_c(const nn_model *m, const char *path, nn_error *err)
{
    if (nn_model_check_unfused(m, err))
        return NN_ERR_RUNTIME;
    /* the C code's loops and buffers are sized at export time */
    for (int i = 0; i < m->n_inputs; i++)
        if (nn_model_input_variable(m->inputs[i]))
            return nn_fail(err, NN_ERR_USAGE,
                           "C export: input '%s' has a variable (None) length, which is not "
                           "exported yet: give the model a fixed length",
                           m->inputs[i]->name);
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

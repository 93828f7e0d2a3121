/* Merge layers of the functional API: Add, Subtract, Multiply, Average,
 * Maximum, Minimum (elementwise over inputs of one shape) and Concatenate
 * (along an axis). Add, Subtract and Multiply also broadcast, as Keras
 * does: an input may have 1 where the output has more along a block of
 * adjacent axes (squeeze-excite's (h, w, c) * (1, 1, c)). */
#include <stdlib.h>
#include <string.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "model/model.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef enum { M_ADD, M_SUBTRACT, M_MULTIPLY, M_AVERAGE, M_MAXIMUM, M_MINIMUM, M_CONCAT } merge_op;

/* How input i spreads over the output: per sample (outer, mid, inner)
 * with its values repeated along mid (mid 1: the output's own shape). */
typedef struct {
    int outer, mid, inner;
} merge_spread;

typedef struct {
    merge_op op;
    int axis; /* Concatenate: per-sample axis, resolved in infer */
    long long axis_spec;
    bool broadcast; /* some input is spread */
    merge_spread spread[NN_MAX_INPUTS];
} merge_cfg;

typedef struct {
    nn_tensor scratch, taken;
    nn_tensor tmp; /* broadcasting: an output-sized gradient */
} merge_state;

static nn_status merge_parse(nn_node *n, nn_spec_node *s, merge_op op, nn_error *err)
{
    merge_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    c->op = op;
    if (op == M_CONCAT)
        return nn_spec_int(s, "axis", false, -1, -8, 8, &c->axis_spec, err);
    return NN_OK;
}

#define MERGE_PARSER(fn, op)                                                                  \
    static nn_status fn(nn_node *n, nn_spec_node *s, nn_error *err)                          \
    {                                                                                         \
        return merge_parse(n, s, op, err);                                                    \
    }
MERGE_PARSER(add_parse, M_ADD)
MERGE_PARSER(subtract_parse, M_SUBTRACT)
MERGE_PARSER(multiply_parse, M_MULTIPLY)
MERGE_PARSER(average_parse, M_AVERAGE)
MERGE_PARSER(maximum_parse, M_MAXIMUM)
MERGE_PARSER(minimum_parse, M_MINIMUM)
MERGE_PARSER(concat_parse, M_CONCAT)

/* Input b's spread over n's shape: the axes where b has 1 and n more must
 * be one block (kept axes, spread axes, kept axes). */
static bool spread_of(const nn_node *n, const nn_node *b, merge_spread *sp)
{
    int d = 0, outer = 1, mid = 1, inner = 1;
    while (d < n->ndim && b->shape[d] == n->shape[d])
        outer *= n->shape[d++];
    while (d < n->ndim && b->shape[d] == 1)
        mid *= n->shape[d++];
    while (d < n->ndim && b->shape[d] == n->shape[d])
        inner *= n->shape[d++];
    if (d < n->ndim)
        return false;
    if (mid == 1) /* nothing spread: the whole sample is one block */
        inner *= outer, outer = 1;
    *sp = (merge_spread){outer, mid, inner};
    return true;
}

static nn_status merge_infer(nn_node *n, nn_error *err)
{
    merge_cfg *c = n->cfg;
    if (n->n_in < 2)
        return nn_node_fail(n, err, "merges at least 2 inputs (inputs = [\"a\", \"b\"]), got %d",
                            n->n_in);
    /* Keras merges its inputs' masks; nnctl would drop them silently */
    for (int i = 0; i < n->n_in; i++)
        if (n->in[i]->mask)
            return nn_node_fail(n, err, "input '%s' is masked (mask_zero): merging masked "
                                        "sequences is not supported",
                                n->in[i]->name);
    if (c->op == M_SUBTRACT && n->n_in != 2)
        return nn_node_fail(n, err, "subtracts exactly 2 inputs, got %d", n->n_in);
    const nn_node *a = n->in[0];
    n->ndim = a->ndim;
    for (int d = 0; d < a->ndim; d++)
        n->shape[d] = a->shape[d];
    if (c->op == M_CONCAT) {
        int axis = (int)c->axis_spec;
        /* Keras counts the batch axis: axis 1 is the first per-sample axis */
        if (axis < 0)
            axis += a->ndim;
        else
            axis -= 1;
        if (axis < 0 || axis >= a->ndim)
            return nn_node_fail(n, err, "axis %lld is outside its %d-D inputs", c->axis_spec,
                                a->ndim + 1);
        c->axis = axis;
        n->shape[axis] = 0;
    }
    bool spreads = c->op == M_ADD || c->op == M_SUBTRACT || c->op == M_MULTIPLY;
    if (spreads)
        for (int i = 1; i < n->n_in; i++)
            for (int d = 0; d < a->ndim && n->in[i]->ndim == a->ndim; d++)
                if (n->shape[d] == 1)
                    n->shape[d] = n->in[i]->shape[d];
    for (int i = 0; i < n->n_in; i++) {
        const nn_node *b = n->in[i];
        bool ok = b->ndim == a->ndim;
        for (int d = 0; ok && d < a->ndim; d++)
            ok = b->shape[d] == n->shape[d] || (c->op == M_CONCAT && d == c->axis) ||
                 (spreads && b->shape[d] == 1);
        if (ok && spreads)
            ok = spread_of(n, b, &c->spread[i]);
        if (!ok) {
            char sa[96], sb[96];
            nn_shape_string(a, sa, sizeof sa);
            nn_shape_string(b, sb, sizeof sb);
            return nn_node_fail(n, err, "inputs '%s' %s and '%s' %s do not match%s", a->name, sa,
                                b->name, sb,
                                c->op == M_CONCAT ? " outside the concatenation axis"
                                : spreads ? " (an input may have 1 where the other has more, "
                                            "along one block of adjacent axes)"
                                          : "");
        }
        if (c->op == M_CONCAT)
            n->shape[c->axis] += b->shape[c->axis];
        if (spreads && c->spread[i].mid > 1)
            c->broadcast = true;
    }
    return NN_OK;
}

static nn_status merge_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    (void)batch;
    merge_cfg *c = n->cfg;
    merge_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    nn_status st = NN_OK;
    if (c->op == M_MAXIMUM || c->op == M_MINIMUM)
        st = e->ops->alloc(e, &s->taken, n->out.ndim, n->out.shape, err);
    if (!st && (c->op == M_MAXIMUM || c->op == M_MINIMUM))
        st = e->ops->alloc(e, &s->scratch, n->out.ndim, n->out.shape, err);
    if (!st && c->broadcast && n->needs_grad)
        st = e->ops->alloc(e, &s->tmp, n->out.ndim, n->out.shape, err);
    return st;
}

static void merge_release(nn_node *n, nn_engine *e)
{
    merge_state *s = n->state;
    if (s) {
        e->ops->free(e, &s->scratch);
        e->ops->free(e, &s->taken);
        e->ops->free(e, &s->tmp);
        free(s);
        n->state = NULL;
    }
}

/* Concatenate as column blocks: rows = batch x the axes before `axis`. */
static void concat_layout(const nn_node *n, const nn_node *x, int rows, int *outer, int *cols)
{
    const merge_cfg *c = n->cfg;
    int o = rows;
    for (int d = 0; d < c->axis; d++)
        o *= x->shape[d];
    *outer = o;
    *cols = (int)((size_t)rows * x->size / (size_t)o);
}

/* y = y op x_i for input i (x spread over y as the input's spread says;
 * Subtract negates its second input). */
static void fold(nn_engine *e, const merge_cfg *c, int i, int rows, const nn_tensor *x,
                 nn_tensor *y, size_t count)
{
    const merge_spread *sp = &c->spread[i];
    const bool mul = c->op == M_MULTIPLY, neg = c->op == M_SUBTRACT && i == 1;
    if (sp->mid == 1) {
        if (mul)
            e->ops->mul(e, y, x, y, count);
        else
            e->ops->axpy(e, neg ? -1.0f : 1.0f, x, y, count);
        return;
    }
    if (neg) /* y - x: negate around the addition */
        e->ops->scale(e, y, -1.0f, count);
    e->ops->bcast_apply(e, mul, y, x, y, rows * sp->outer, sp->mid, sp->inner);
    if (neg)
        e->ops->scale(e, y, -1.0f, count);
}

static void merge_forward(nn_node *n, const nn_pass *p)
{
    const merge_cfg *c = n->cfg;
    nn_engine *e = p->e;
    size_t count = (size_t)p->rows * n->size;
    if (c->op == M_CONCAT) {
        int outer, out_cols, off = 0;
        concat_layout(n, n, p->rows, &outer, &out_cols);
        for (int i = 0; i < n->n_in; i++) {
            int cols;
            concat_layout(n, n->in[i], p->rows, &outer, &cols);
            e->ops->copy_cols(e, &n->in[i]->out, cols, 0, &n->out, out_cols, off, outer, cols);
            off += cols;
        }
        return;
    }
    if (c->op == M_MAXIMUM || c->op == M_MINIMUM) {
        e->ops->extremum(e, c->op == M_MAXIMUM, &n->in[0]->out, &n->in[1]->out, &n->out, count);
        for (int i = 2; i < n->n_in; i++)
            e->ops->extremum(e, c->op == M_MAXIMUM, &n->out, &n->in[i]->out, &n->out, count);
        return;
    }
    if (c->broadcast && n->n_in == 2 && c->op != M_SUBTRACT) {
        /* one input whole, the other spread (squeeze-excite's x * scale):
         * one pass, the same values as folding both into the identity */
        int f = c->spread[0].mid == 1 ? 0 : c->spread[1].mid == 1 ? 1 : -1;
        const merge_spread *sp = f >= 0 ? &c->spread[1 - f] : NULL;
        if (sp && sp->mid != 1) {
            e->ops->bcast_apply(e, c->op == M_MULTIPLY, &n->in[f]->out, &n->in[1 - f]->out,
                                &n->out, p->rows * sp->outer, sp->mid, sp->inner);
            return;
        }
    }
    if (c->broadcast) {
        /* from the identity of the operation, each input folded in */
        e->ops->fill(e, &n->out, c->op == M_MULTIPLY ? 1.0f : 0.0f, count);
        for (int i = 0; i < n->n_in; i++)
            fold(e, c, i, p->rows, &n->in[i]->out, &n->out, count);
        return;
    }
    if (c->op == M_ADD && n->n_in == 2) { /* one pass (and a fused ReLU: model/fuse.c) */
        e->ops->add(e, &n->in[0]->out, &n->in[1]->out, &n->out, count, n->act);
        return;
    }
    e->ops->copy(e, &n->out, &n->in[0]->out, count);
    for (int i = 1; i < n->n_in; i++) {
        if (c->op == M_MULTIPLY)
            e->ops->mul(e, &n->out, &n->in[i]->out, &n->out, count);
        else
            e->ops->axpy(e, c->op == M_SUBTRACT ? -1.0f : 1.0f, &n->in[i]->out, &n->out, count);
    }
    if (c->op == M_AVERAGE)
        e->ops->scale(e, &n->out, 1.0f / (float)n->n_in, count);
}

/* Input i's gradient: dy (times the other inputs, for Multiply; negated
 * for Subtract's second), summed over the axes it was spread along. */
/* A two-input Add without broadcasting applies ReLU or ReLU6 in its pass */
static bool merge_takes_act(const nn_node *n, nn_act act)
{
    const merge_cfg *c = n->cfg;
    return c->op == M_ADD && n->n_in == 2 && !c->broadcast &&
           (act == NN_ACT_RELU || act == NN_ACT_RELU6);
}

static void broadcast_backward(nn_node *n, const nn_pass *p)
{
    const merge_cfg *c = n->cfg;
    merge_state *s = n->state;
    nn_engine *e = p->e;
    size_t count = (size_t)p->rows * n->size;
    for (int i = 0; i < n->n_in; i++) {
        nn_tensor *dx = nn_grad_target(n, i);
        if (!dx)
            continue;
        const merge_spread *sp = &c->spread[i];
        nn_tensor *g = sp->mid == 1 ? dx : &s->tmp;
        e->ops->copy(e, g, &n->dout, count);
        if (c->op == M_SUBTRACT && i == 1)
            e->ops->scale(e, g, -1.0f, count);
        if (c->op == M_MULTIPLY)
            for (int j = 0; j < n->n_in; j++)
                if (j != i)
                    fold(e, c, j, p->rows, &n->in[j]->out, g, count);
        if (sp->mid > 1)
            e->ops->bcast_reduce(e, g, NULL, dx, p->rows * sp->outer, sp->mid, sp->inner, 0.0f);
        nn_grad_commit(n, i, dx, p);
    }
}

static void merge_backward(nn_node *n, const nn_pass *p)
{
    const merge_cfg *c = n->cfg;
    merge_state *s = n->state;
    nn_engine *e = p->e;
    size_t count = (size_t)p->rows * n->size;
    int off = 0, outer = 0, out_cols = 0;
    if (c->op == M_CONCAT)
        concat_layout(n, n, p->rows, &outer, &out_cols);
    if (c->broadcast) {
        broadcast_backward(n, p);
        return;
    }
    if (c->op == M_MAXIMUM || c->op == M_MINIMUM)
        e->ops->fill(e, &s->taken, 0.0f, count);
    for (int i = 0; i < n->n_in; i++) {
        nn_tensor *dx = nn_grad_target(n, i);
        if (c->op == M_CONCAT) {
            int cols;
            concat_layout(n, n->in[i], p->rows, &outer, &cols);
            if (dx)
                e->ops->copy_cols(e, &n->dout, out_cols, off, dx, cols, 0, outer, cols);
            off += cols;
        } else if (c->op == M_MAXIMUM || c->op == M_MINIMUM) {
            /* every input takes its turn, so earlier ones claim ties */
            e->ops->route_equal(e, &n->in[i]->out, &n->out, &n->dout, &s->taken,
                                dx ? dx : &s->scratch, count);
        } else if (dx) {
            e->ops->copy(e, dx, &n->dout, count);
            if (c->op == M_SUBTRACT && i == 1)
                e->ops->scale(e, dx, -1.0f, count);
            if (c->op == M_AVERAGE)
                e->ops->scale(e, dx, 1.0f / (float)n->n_in, count);
            if (c->op == M_MULTIPLY)
                for (int j = 0; j < n->n_in; j++)
                    if (j != i)
                        e->ops->mul(e, dx, &n->in[j]->out, dx, count);
        }
        if (dx)
            nn_grad_commit(n, i, dx, p);
    }
}

static nn_status merge_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const merge_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    if (c->op == M_CONCAT)
        json_object_set_new(cfg, "axis", json_integer(c->axis_spec));
    return NN_OK;
}

static nn_status merge_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    static const nn_c_op ops[] = {[M_ADD] = NN_C_ADD,      [M_SUBTRACT] = NN_C_SUB,
                                  [M_MULTIPLY] = NN_C_MUL, [M_AVERAGE] = NN_C_ADD,
                                  [M_MAXIMUM] = NN_C_MAX,  [M_MINIMUM] = NN_C_MIN};
    const merge_cfg *c = n->cfg;
    if (c->broadcast)
        return nn_fail(err, NN_ERR_USAGE,
                       "C export: layer '%s' (%s) broadcasts an input; the C export takes "
                       "inputs of one shape only",
                       n->name, n->type->name);
    const char *y = nn_c_out(w, n);
    if (c->op == M_CONCAT) {
        int outer, out_cols, cols, off = 0;
        concat_layout(n, n, 1, &outer, &out_cols);
        for (int i = 0; i < n->n_in; i++, off += cols) {
            concat_layout(n, n->in[i], 1, &outer, &cols);
            nn_c_concat(w, nn_c_in(w, n, i), y, (size_t)outer, (size_t)cols, (size_t)out_cols,
                        (size_t)off);
        }
        return nn_c_status(w, err);
    }
    /* as the forward pass: input 0, then each other input folded in */
    nn_c_copy(w, y, nn_c_in(w, n, 0), n->size);
    for (int i = 1; i < n->n_in; i++)
        nn_c_ewise(w, ops[c->op], y, nn_c_in(w, n, i), n->size);
    if (c->op == M_AVERAGE)
        nn_c_scale(w, y, n->size, 1.0f / (float)n->n_in);
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* Add, Subtract, ..., Concatenate; Keras 1's Merge by its mode. */
static nn_status conv_merge(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const kx_name_map ops[] = {{"Add", "add"},         {"Subtract", "subtract"},
                                   {"Multiply", "multiply"}, {"Average", "average"},
                                   {"Maximum", "maximum"}, {"Minimum", "minimum"},
                                   {"Concatenate", "concatenate"}};
    static const kx_name_map modes[] = {{"sum", "add"},     {"mul", "multiply"}, {"ave", "average"},
                                     {"max", "maximum"}, {"concat", "concatenate"}};
    const char *type = NULL, *axis_key = "axis";
    if (!strcmp(L->cls, "Merge")) {
        json_t *m = kx_get(L, "mode", NULL);
        const char *mode = json_is_string(m) ? json_string_value(m) : "sum";
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (!strcmp(mode, modes[i].keras))
                type = modes[i].nnctl;
        if (!type)
            return kx_fail(L, "Merge mode %s is not supported (sum, mul, ave, max, concat are)",
                           json_is_string(m) ? mode : "(not a name)");
        axis_key = "concat_axis";
    } else {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (!strcmp(L->cls, ops[i].keras))
                type = ops[i].nnctl;
    }
    if (s->n_in < 2)
        return kx_fail(L, "merges at least 2 inputs, got %d", s->n_in);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"%s\";", type);
    if (!strcmp(type, "concatenate")) {
        long long axis;
        nn_status st = kx_want_int(L, axis_key, NULL, false, -1, -8, &axis);
        if (st)
            return st;
        if (axis > 8)
            return kx_fail(L, "axis %lld is out of range", axis);
        kx_key_int(t, "axis", axis);
    }
    return NN_OK;
}

/* ---- ONNX export ---- */

/* Elementwise merges in nnctl's order of operations ((a + b) + c ...). */
static nn_status onnx_map_merge(onnx_layer *L, nn_error *err)
{
    (void)err;
    const char *cls = L->n->type->keras_class;
    onnx_graph *g = L->g;
    int n_in = L->n->n_in;
    if (!strcmp(cls, "Concatenate")) {
        long long axis = onnx_cfg_int(L->cfg, "axis", -1);
        /* Keras counts the batch axis, so does ONNX; a negative axis is
         * the same in both */
        L->out = onnx_fresh(g, "Concat");
        onnx_node nd;
        onnx_node_begin(&nd, g, "Concat");
        for (int i = 0; i < n_in; i++)
            onnx_node_input(&nd, L->in[i]);
        onnx_node_output(&nd, L->out);
        onnx_attr_int(&nd, "axis", axis);
        onnx_node_end(&nd);
        return NN_OK;
    }
    const char *op = !strcmp(cls, "Subtract")   ? "Sub"
                     : !strcmp(cls, "Multiply") ? "Mul"
                     : !strcmp(cls, "Maximum")  ? "Max"
                     : !strcmp(cls, "Minimum")  ? "Min"
                                                : "Add"; /* Add, Average */
    const char *y = L->in[0];
    for (int i = 1; i < n_in; i++)
        y = onnx_op2(g, op, y, L->in[i]);
    if (!strcmp(cls, "Average"))
        y = onnx_op2(g, "Mul", y, onnx_scalar(g, "inv_n", 1.0f / (float)n_in));
    L->out = y;
    return NN_OK;
}

static const nn_doc_key concat_keys[] = {
    {"axis", "int", "-1", "the axis joined, counting the batch axis as 0 (Keras)"},
    {NULL, NULL, NULL, NULL},
};

static const nn_doc_key no_keys[] = {{NULL, NULL, NULL, NULL}};

/* Keras 1's Merge layer: its mode names the operation */
static const char *const merge_aliases[] = {"Merge", NULL};

#define MERGE_TYPE(var, spec_name, keras, parser, aliases, docs, keylist)                          \
    const nn_layer_type var = {                                                              \
        .name = spec_name,                                                                   \
        .keras_class = keras,                                                                \
        .keras_aliases = aliases, \
        .doc = docs, \
        .keys = keylist, \
        .keras_import = conv_merge, \
        .export_onnx = onnx_map_merge, \
        .parse = parser,                                                                     \
        .infer = merge_infer,                                                                \
        .plan = merge_plan,                                                                  \
        .forward = merge_forward,                                                            \
        .takes_act = merge_takes_act,                                                        \
        .backward = merge_backward,                                                          \
        .keras_config = merge_keras_config,                                                  \
        .release = merge_release,                                                            \
        .export_c = merge_export_c,                                                          \
    };
MERGE_TYPE(nn_layer_add, "add", "Add", add_parse,
           merge_aliases, "the sum of its inputs (same shapes)", no_keys)
MERGE_TYPE(nn_layer_subtract, "subtract", "Subtract", subtract_parse,
           NULL, "the first input minus the second", no_keys)
MERGE_TYPE(nn_layer_multiply, "multiply", "Multiply", multiply_parse,
           NULL, "the elementwise product of its inputs", no_keys)
MERGE_TYPE(nn_layer_average, "average", "Average", average_parse,
           NULL, "the mean of its inputs", no_keys)
MERGE_TYPE(nn_layer_maximum, "maximum", "Maximum", maximum_parse,
           NULL, "the elementwise maximum of its inputs", no_keys)
MERGE_TYPE(nn_layer_minimum, "minimum", "Minimum", minimum_parse,
           NULL, "the elementwise minimum of its inputs", no_keys)
MERGE_TYPE(nn_layer_concatenate, "concatenate", "Concatenate", concat_parse,
           NULL, "its inputs joined along one axis", concat_keys)

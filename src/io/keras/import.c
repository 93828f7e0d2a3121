/* Keras model_config JSON to an nnctl `model` spec group: the graph
 * (Sequential chain or Functional inbound nodes, in Keras 1/2 list form or
 * Keras 3 keras_history form), the inputs' shapes, the outputs and the
 * layers in a topological order; each layer's keys come from
 * keras_import_layers.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/import.h"
#include "io/keras/import_internal.h"
#include "model/layer.h"
#include "util/fileio.h"

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

/* ---- the graph ---------------------------------------------------------- */

typedef struct kx_node {
    kx_layer L;
    const char *in[NN_MAX_INPUTS];
    int n_in;
    int rank;       /* per-sample output axes */
    int consumers;
    bool done, is_input;
} kx_node;

/* One model input: its name and per-sample shape. */
typedef struct kx_input {
    const char *name;
    long long shape[NN_MAX_DIMS];
    int nd;
} kx_input;

typedef struct kx_model {
    const char *what;
    int keras_major;
    nn_error *err;
    const char *name;
    kx_node *nodes;
    int n;
    /* in model.inputs / model.outputs order (what data and losses follow) */
    kx_input in[NN_MAX_IO];
    int n_in;
    const char *out[NN_MAX_IO], *out_key[NN_MAX_IO]; /* out_key: its dict key or "" */
    int n_out;
    char implicit_input[NN_NAME_MAX + 8]; /* a Sequential's input without InputLayer */
    int *by_name;   /* node indices sorted by name, for find() */
    int *next_in;   /* emit_layers: the next input to visit, per node */
    int *stack;
} kx_model;

static nn_status model_fail(const kx_model *M, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static nn_status model_fail(const kx_model *M, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_fail(M->err, NN_ERR_RUNTIME, "%s: %s", M->what, msg);
}

static int version_major(const char *v)
{
    return v && v[0] >= '1' && v[0] <= '9' && (v[1] == '.' || v[1] == '\0') ? v[0] - '0' : 0;
}

/* Keras 3's marks: dtype policies as objects, keras_history nodes,
 * InputLayer batch_shape. */
static bool looks_keras3(json_t *layers)
{
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        json_t *c = json_object_get(l, "config");
        if (json_is_object(json_object_get(c, "dtype")) || json_object_get(c, "batch_shape") ||
            json_is_object(json_array_get(json_object_get(l, "inbound_nodes"), 0)))
            return true;
    }
    return false;
}

/* An input shape: [null, d1, d2, ...] (batch first) or [d1, ...]. */
static nn_status read_shape(kx_input *I, const kx_layer *L, json_t *v, bool batch_first)
{
    size_t n = json_array_size(v), skip = batch_first ? 1 : 0;
    if (!json_is_array(v) || n <= skip)
        return kx_fail(L, "the input shape must be a list of dimensions");
    if (n - skip > NN_MAX_DIMS - 1)
        return kx_fail(L, "the input has %zu axes per sample; nnctl takes at most %d", n - skip,
                       NN_MAX_DIMS - 1);
    I->nd = 0;
    for (size_t i = skip; i < n; i++) {
        long long d;
        json_t *e = json_array_get(v, i);
        if (json_is_null(e))
            return kx_fail(L, "input dimension %zu is None (variable): nnctl needs a fixed "
                              "input shape",
                           i - skip + 1);
        if (!kx_as_int(e, &d) || d < 1 || d > (1LL << 30))
            return kx_fail(L, "input dimensions must be positive integers");
        I->shape[I->nd++] = d;
    }
    return NN_OK;
}

/* The input shape a layer config declares: batch_shape (Keras 3),
 * batch_input_shape (Keras 1/2), or Keras 1's input_dim / input_length. */
static nn_status declared_shape(kx_input *I, const kx_layer *L, bool *found)
{
    json_t *v;
    *found = true;
    if ((v = kx_get(L, "batch_shape", "batch_input_shape")))
        return read_shape(I, L, v, true);
    if ((v = kx_get(L, "shape", "input_shape")) && json_is_array(v))
        return read_shape(I, L, v, false);
    long long d;
    if ((v = kx_get(L, "input_length", NULL)) && kx_as_int(v, &d) && d >= 1 &&
        d <= (1LL << 30)) {
        I->shape[0] = d;
        I->nd = 1;
        return NN_OK;
    }
    if ((v = kx_get(L, "input_dim", NULL)) && strcmp(L->cls, "Embedding") &&
        kx_as_int(v, &d) && d >= 1 && d <= (1LL << 30)) {
        I->shape[0] = d;
        I->nd = 1;
        return NN_OK;
    }
    *found = false;
    return NN_OK;
}

static nn_status read_layer(kx_model *M, json_t *l, size_t i, kx_node *n)
{
    kx_layer *L = &n->L;
    L->what = M->what;
    L->keras_major = M->keras_major;
    L->err = M->err;
    json_t *cn = json_object_get(l, "class_name"), *cfg = json_object_get(l, "config");
    if (!json_is_string(cn) || !json_is_object(cfg))
        return model_fail(M, "layer %zu has no class_name and config", i);
    L->cls = json_string_value(cn);
    L->cfg = cfg;
    json_t *nm = json_object_get(l, "name");
    if (!json_is_string(nm))
        nm = json_object_get(cfg, "name");
    if (!json_is_string(nm))
        return model_fail(M, "layer %zu (%s) has no name", i, L->cls);
    L->name = json_string_value(nm);
    n->is_input = !strcmp(L->cls, "InputLayer");
    json_t *tr = json_object_get(cfg, "trainable");
    if (tr && !json_is_boolean(tr))
        return kx_fail(L, "\"trainable\" must be true or false");
    return kx_check_name(L, L->name);
}

static nn_status add_input(kx_node *n, const char *src, long long node, long long tensor)
{
    if (node != 0)
        return kx_fail(&n->L, "takes call #%lld of layer '%s': layers shared between calls "
                              "are not supported",
                       node, src);
    if (tensor != 0)
        return kx_fail(&n->L, "takes output #%lld of layer '%s': layers with several outputs "
                              "are not supported",
                       tensor, src);
    if (n->n_in == NN_MAX_INPUTS)
        return kx_fail(&n->L, "has more than %d inputs", NN_MAX_INPUTS);
    n->in[n->n_in++] = src;
    return NN_OK;
}

/* Keras 3: the keras_history of every __keras_tensor__ in v, in order. */
static nn_status keras3_tensors(kx_node *n, json_t *v, bool allowed)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            nn_status st = keras3_tensors(n, e, allowed);
            if (st)
                return st;
        }
        return NN_OK;
    }
    if (!json_is_object(v))
        return NN_OK;
    json_t *cn = json_object_get(v, "class_name");
    if (!json_is_string(cn) || strcmp(json_string_value(cn), "__keras_tensor__")) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            nn_status st = keras3_tensors(n, e, allowed);
            if (st)
                return st;
        }
        return NN_OK;
    }
    if (!allowed)
        return kx_fail(&n->L, "tensors as keyword arguments (masks, initial states) are not "
                              "supported");
    json_t *h = json_object_get(json_object_get(v, "config"), "keras_history");
    long long node, tensor;
    if (!json_is_string(json_array_get(h, 0)) || !kx_as_int(json_array_get(h, 1), &node) ||
        !kx_as_int(json_array_get(h, 2), &tensor))
        return kx_fail(&n->L, "an inbound tensor has no keras_history [name, node, tensor]");
    return add_input(n, json_string_value(json_array_get(h, 0)), node, tensor);
}

static nn_status read_inbound(kx_node *n, json_t *l)
{
    json_t *nodes = json_object_get(l, "inbound_nodes");
    size_t calls = json_array_size(nodes);
    if (nodes && !json_is_array(nodes))
        return kx_fail(&n->L, "inbound_nodes must be a list");
    if (calls > 1)
        return kx_fail(&n->L, "is called %zu times in the model: shared layers are not "
                              "supported",
                       calls);
    if (calls == 0)
        return NN_OK;
    json_t *call = json_array_get(nodes, 0);
    if (json_is_object(call)) { /* Keras 3 */
        nn_status st = keras3_tensors(n, json_object_get(call, "args"), true);
        /* layer(inputs=x) puts the input among the keyword arguments */
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(call, "kwargs"), k, v) {
            bool side = !strcmp(k, "mask") || !strcmp(k, "initial_state") ||
                        !strcmp(k, "constants");
            if (!st)
                st = keras3_tensors(n, v, !side);
        }
        return st;
    }
    /* Keras 1/2: [[name, node_index, tensor_index(, kwargs)], ...]; entries
     * of other forms (TFOpLambda's constants) are left to the class check */
    size_t i;
    json_t *e;
    json_array_foreach(call, i, e) {
        long long node, tensor;
        if (!json_is_string(json_array_get(e, 0)) || !kx_as_int(json_array_get(e, 1), &node) ||
            !kx_as_int(json_array_get(e, 2), &tensor))
            continue;
        nn_status st = add_input(n, json_string_value(json_array_get(e, 0)), node, tensor);
        if (st)
            return st;
    }
    return NN_OK;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* input_layers / output_layers flattened the way Keras flattens
 * model.inputs / model.outputs: a leaf ["name", node, tensor]; lists in
 * order (Keras 2's [["a", 0, 0], ["b", 0, 0]], nested lists); dicts by
 * sorted key (Keras 3 writes the structure the model was called with).
 * keys (may be NULL) gets each leaf's dict key, "" if none: Keras 3's
 * compile() may name outputs by it. */
static nn_status endpoints(kx_model *M, json_t *v, const char *key, const char **names,
                           const char **keys, int *n, int depth, const char *dkey)
{
    const char *what = strcmp(key, "input_layers") ? "outputs" : "inputs";
    if (depth > 32)
        return model_fail(M, "%s is nested too deeply", key);
    if (json_is_array(v) && json_is_string(json_array_get(v, 0))) {
        long long node = 0, tensor = 0;
        json_t *nd = json_array_get(v, 1), *tn = json_array_get(v, 2);
        if ((nd && !kx_as_int(nd, &node)) || (tn && !kx_as_int(tn, &tensor)))
            return model_fail(M, "%s: expected [\"name\", node, tensor] entries", key);
        const char *name = json_string_value(json_array_get(v, 0));
        if (node != 0 || tensor != 0)
            return model_fail(M, "%s names call #%lld, output #%lld of layer '%s': layers "
                                 "called several times or with several outputs are not "
                                 "supported",
                              key, node, tensor, name);
        if (*n == NN_MAX_IO)
            return model_fail(M, "the model has more than %d %s; nnctl takes at most %d",
                              NN_MAX_IO, what, NN_MAX_IO);
        for (int k = 0; k < *n; k++)
            if (!strcmp(names[k], name))
                return model_fail(M, "%s lists '%s' twice", key, name);
        if (keys)
            keys[*n] = dkey;
        names[(*n)++] = name;
        return NN_OK;
    }
    nn_status st = NN_OK;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if ((st = endpoints(M, e, key, names, keys, n, depth + 1, "")))
                return st;
        }
        return NN_OK;
    }
    if (!json_is_object(v))
        return model_fail(M, "%s: expected [\"name\", node, tensor] entries", key);
    size_t count = json_object_size(v), i = 0;
    const char **sorted = malloc((count ? count : 1) * sizeof *sorted);
    if (!sorted)
        return nn_fail(M->err, NN_ERR_RUNTIME, "out of memory");
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) sorted[i++] = k;
    qsort(sorted, count, sizeof *sorted, str_cmp);
    for (i = 0; i < count && !st; i++)
        st = endpoints(M, json_object_get(v, sorted[i]), key, names, keys, n, depth + 1,
                       sorted[i]);
    free(sorted);
    return st;
}

static const kx_model *sort_model; /* qsort has no context argument */

static int by_name_cmp(const void *a, const void *b)
{
    return strcmp(sort_model->nodes[*(const int *)a].L.name,
                  sort_model->nodes[*(const int *)b].L.name);
}

/* Sorts the names once (a file may hold many layers); two layers of one
 * name are an error. */
static nn_status index_names(kx_model *M)
{
    M->by_name = malloc((size_t)M->n * 3 * sizeof *M->by_name);
    if (!M->by_name)
        return nn_fail(M->err, NN_ERR_RUNTIME, "out of memory");
    M->next_in = M->by_name + M->n;
    M->stack = M->by_name + 2 * M->n;
    for (int i = 0; i < M->n; i++)
        M->by_name[i] = i;
    sort_model = M;
    qsort(M->by_name, (size_t)M->n, sizeof *M->by_name, by_name_cmp);
    for (int i = 1; i < M->n; i++)
        if (!strcmp(M->nodes[M->by_name[i]].L.name, M->nodes[M->by_name[i - 1]].L.name))
            return kx_fail(&M->nodes[M->by_name[i]].L, "two layers have this name");
    return NN_OK;
}

static kx_node *find(kx_model *M, const char *name)
{
    int lo = 0, hi = M->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(M->nodes[M->by_name[mid]].L.name, name);
        if (!c)
            return &M->nodes[M->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static nn_status read_sequential(kx_model *M, json_t *cfg)
{
    const char *prev = NULL;
    bool found = false;
    nn_status st;
    kx_input *in = &M->in[0];
    M->n_in = 1;
    for (int i = 0; i < M->n; i++) {
        kx_node *n = &M->nodes[i];
        if (n->is_input) {
            if (i != 0)
                return kx_fail(&n->L, "an InputLayer after the first layer");
            in->name = n->L.name;
            if ((st = declared_shape(in, &n->L, &found)))
                return st;
            if (!found)
                return kx_fail(&n->L, "no batch_shape or batch_input_shape");
        } else if (i == 0 || (i == 1 && M->nodes[0].is_input)) {
            if (i == 0 && (st = declared_shape(in, &n->L, &found)))
                return st;
        }
        if (!n->is_input && prev)
            n->in[n->n_in++] = prev;
        prev = n->L.name;
    }
    if (!found) {
        /* Keras 2.x/3 keep the built shape on the model */
        json_t *b = json_object_get(cfg, "build_input_shape");
        kx_layer L = {.what = M->what, .err = M->err};
        if (!b)
            return model_fail(M, "the Sequential model declares no input shape (build it, or "
                                 "give its first layer an input shape)");
        if ((st = read_shape(in, &L, b, true)))
            return st;
    }
    if (!in->name) {
        /* Keras 2 names a Sequential's implicit input <first layer>_input */
        snprintf(M->implicit_input, sizeof M->implicit_input, "%.*s_input", NN_NAME_MAX - 8,
                 M->nodes[0].L.name);
        in->name = M->implicit_input;
        M->nodes[0].in[M->nodes[0].n_in++] = M->implicit_input;
    } else {
        M->nodes[0].rank = in->nd;
    }
    M->out[0] = M->nodes[M->n - 1].L.name;
    M->out_key[0] = "";
    M->n_out = 1;
    return NN_OK;
}

static nn_status read_functional(kx_model *M, json_t *cfg, json_t *layers)
{
    nn_status st;
    const char *ins[NN_MAX_IO];
    if ((st = endpoints(M, json_object_get(cfg, "input_layers"), "input_layers", ins, NULL,
                        &M->n_in, 0, "")) ||
        (st = endpoints(M, json_object_get(cfg, "output_layers"), "output_layers", M->out,
                        M->out_key, &M->n_out, 0, "")))
        return st;
    if (!M->n_in)
        return model_fail(M, "input_layers lists no input");
    if (!M->n_out)
        return model_fail(M, "output_layers lists no output");
    for (int k = 0; k < M->n_in; k++) {
        kx_node *in = find(M, ins[k]);
        if (!in || !in->is_input)
            return model_fail(M, "input_layers names '%s', which is not an InputLayer of the "
                                 "model",
                              ins[k]);
        bool found;
        M->in[k].name = in->L.name;
        if ((st = declared_shape(&M->in[k], &in->L, &found)))
            return st;
        if (!found)
            return kx_fail(&in->L, "no batch_shape or batch_input_shape");
        in->rank = M->in[k].nd;
    }
    for (int k = 0; k < M->n_out; k++) {
        kx_node *out = find(M, M->out[k]);
        if (!out || out->is_input)
            return model_fail(M, "output_layers names '%s', which is %s", M->out[k],
                              out ? "an InputLayer (an output must be a layer after the inputs)"
                                  : "not a layer of the model");
    }
    for (int i = 0; i < M->n; i++) {
        kx_node *n = &M->nodes[i];
        if (n->is_input) {
            int k = 0;
            while (k < M->n_in && strcmp(M->in[k].name, n->L.name))
                k++;
            /* nnctl feeds the model's inputs only */
            if (k == M->n_in)
                return kx_fail(&n->L, "an InputLayer that input_layers does not list");
        } else if ((st = read_inbound(n, json_array_get(layers, (size_t)i)))) {
            return st;
        }
    }
    return NN_OK;
}

/* Writes one layer group (its inputs are written already). */
static nn_status emit_one(kx_model *M, kx_node *n, kx_text *t, bool first)
{
    int ranks[NN_MAX_INPUTS];
    for (int k = 0; k < n->n_in; k++) {
        kx_node *src = find(M, n->in[k]);
        ranks[k] = src ? src->rank : M->in[0].nd; /* else a Sequential's implicit input */
        if (src)
            src->consumers++;
    }
    kx_text body = {0};
    nn_status st = kx_layer_body(&n->L, ranks, n->n_in, &body, &n->rank);
    if (st) {
        free(body.s);
        return st;
    }
    kx_printf(t, "%s    { name = ", first ? "" : ",\n");
    kx_string(t, n->L.name);
    kx_printf(t, "; inputs = [");
    for (int k = 0; k < n->n_in; k++) {
        kx_printf(t, "%s", k ? ", " : "");
        kx_string(t, n->in[k]);
    }
    kx_printf(t, "];%s %s }",
              json_is_false(json_object_get(n->L.cfg, "trainable")) ? " trainable = false;" : "",
              body.s ? body.s : "");
    if (body.oom)
        t->oom = true;
    free(body.s);
    n->done = true;
    return NN_OK;
}

/* Emits the layers in file order, each after its inputs (a depth-first walk
 * over the inputs: files list layers in a topological order, and any other
 * order still works); unknown inputs and cycles are errors. */
static nn_status emit_layers(kx_model *M, kx_text *t)
{
    bool first = true;
    for (int i = 0; i < M->n; i++) {
        if (M->nodes[i].done || M->nodes[i].is_input)
            continue;
        int sp = 0;
        M->stack[sp++] = i;
        M->next_in[i] = 0;
        M->nodes[i].rank = -1; /* in progress */
        while (sp) {
            kx_node *n = &M->nodes[M->stack[sp - 1]];
            if (M->next_in[n - M->nodes] < n->n_in) {
                const char *name = n->in[M->next_in[n - M->nodes]++];
                kx_node *src = find(M, name);
                if (!src && (!M->implicit_input[0] || strcmp(name, M->implicit_input)))
                    return kx_fail(&n->L, "takes input from '%s', which is not a layer of the "
                                          "model",
                                   name);
                if (!src || src->done || src->is_input)
                    continue;
                if (src->rank == -1)
                    return model_fail(M, "the layers' inbound nodes form a cycle (through '%s')",
                                      src->L.name);
                src->rank = -1;
                M->next_in[src - M->nodes] = 0;
                M->stack[sp++] = (int)(src - M->nodes);
                continue;
            }
            nn_status st = emit_one(M, n, t, first);
            if (st)
                return st;
            first = false;
            sp--;
        }
    }
    /* nnctl's outputs are the layers nothing consumes */
    for (int i = 0; i < M->n; i++) {
        kx_node *n = &M->nodes[i];
        int k = 0;
        while (k < M->n_out && strcmp(M->out[k], n->L.name))
            k++;
        if (!n->is_input && !n->consumers && k == M->n_out)
            return kx_fail(&n->L, "leads to no output of the model (output_layers): nnctl "
                                  "cannot hold a layer whose result goes nowhere");
        if (k < M->n_out && n->consumers)
            return model_fail(M, "the output layer '%s' also feeds other layers: an nnctl "
                                 "output must be a layer nothing consumes",
                              n->L.name);
    }
    return NN_OK;
}

static nn_status convert(kx_model *M, json_t *root, kx_text *t)
{
    json_t *cn = json_object_get(root, "class_name"), *cfg = json_object_get(root, "config");
    if (!json_is_string(cn) || (!json_is_object(cfg) && !json_is_array(cfg)))
        return model_fail(M, "not a Keras model: no class_name and config");
    const char *cls = json_string_value(cn);
    bool seq = !strcmp(cls, "Sequential");
    if (!seq && strcmp(cls, "Functional") && strcmp(cls, "Model"))
        return model_fail(M, "model class %s is not supported (Sequential, Functional and Model "
                             "are)",
                          cls);
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return model_fail(M, "the model has no layers");
    if (json_array_size(layers) > 100000)
        return model_fail(M, "too many layers");
    if (!M->keras_major)
        M->keras_major = looks_keras3(layers) ? 3 : 2;
    json_t *nm = json_is_object(cfg) ? json_object_get(cfg, "name") : NULL;
    M->name = json_is_string(nm) ? json_string_value(nm) : seq ? "sequential" : "model";
    M->n = (int)json_array_size(layers);
    M->nodes = calloc((size_t)M->n, sizeof *M->nodes);
    if (!M->nodes)
        return nn_fail(M->err, NN_ERR_RUNTIME, "out of memory");
    nn_status st;
    for (int i = 0; i < M->n; i++)
        if ((st = read_layer(M, json_array_get(layers, (size_t)i), (size_t)i, &M->nodes[i])))
            return st;
    if ((st = index_names(M)))
        return st;
    if ((st = seq ? read_sequential(M, cfg) : read_functional(M, cfg, layers)))
        return st;
    kx_layer in = {.what = M->what, .name = M->in[0].name, .cls = "InputLayer", .err = M->err};
    if ((st = kx_check_name(&in, M->in[0].name)))
        return st;
    if (M->n == M->n_in && M->nodes[0].is_input)
        return model_fail(M, "the model has no layers besides its input%s",
                          M->n_in > 1 ? "s" : "");
    kx_printf(t, "model: {\n  name = ");
    kx_string(t, M->name);
    /* one input keeps the `input = {...}` form */
    kx_printf(t, M->n_in > 1 ? ";\n  inputs = (" : ";\n  input =");
    for (int k = 0; k < M->n_in; k++) {
        kx_printf(t, "%s { name = ", k ? "," : "");
        kx_string(t, M->in[k].name);
        kx_printf(t, "; shape = [");
        for (int i = 0; i < M->in[k].nd; i++)
            kx_printf(t, "%s%lld", i ? ", " : "", M->in[k].shape[i]);
        kx_printf(t, "]; }");
    }
    kx_printf(t, M->n_in > 1 ? " );\n" : ";\n");
    if (M->n_out > 1) {
        kx_printf(t, "  outputs = [");
        for (int k = 0; k < M->n_out; k++) {
            kx_printf(t, "%s", k ? ", " : "");
            kx_string(t, M->out[k]);
        }
        kx_printf(t, "];\n");
    }
    kx_printf(t, "  layers = (\n");
    if ((st = emit_layers(M, t)))
        return st;
    kx_printf(t, "\n  );\n};\n");
    return NN_OK;
}

nn_status kx_model_text(const char *json_text, const char *what, const char *keras_version,
                        char **text, kx_outputs *outs, nn_error *err)
{
    *text = NULL;
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: not valid JSON (line %d: %s)", what, je.line,
                       je.text);
    kx_model M = {.what = what, .err = err, .keras_major = version_major(keras_version)};
    if (!M.keras_major && json_is_object(root))
        M.keras_major = version_major(json_string_value(json_object_get(root, "keras_version")));
    kx_text t = {0};
    nn_status st = json_is_object(root) ? convert(&M, root, &t)
                                        : model_fail(&M, "not a Keras model: not a JSON object");
    if (!st && t.oom)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory converting %s", what);
    if (!st && outs) {
        outs->n = M.n_out;
        outs->keras_major = M.keras_major;
        for (int k = 0; k < M.n_out; k++) {
            snprintf(outs->name[k], sizeof outs->name[k], "%s", M.out[k]);
            snprintf(outs->key[k], sizeof outs->key[k], "%s", M.out_key[k]);
        }
    }
    free(M.nodes);
    free(M.by_name);
    json_decref(root);
    if (st) {
        free(t.s);
        return st;
    }
    *text = t.s;
    return NN_OK;
}

nn_status nn_keras_model_text(const char *json_text, const char *what,
                              const char *keras_version, char **text, nn_error *err)
{
    return kx_model_text(json_text, what, keras_version, text, NULL, err);
}

/* ---- spec documents ----------------------------------------------------- */

nn_status nn_keras_file_spec(const nn_h5_model *f, const char *path, nn_spec **out,
                             char *train_note, size_t note_len, nn_error *err)
{
    *out = NULL;
    train_note[0] = '\0';
    char what[4200];
    snprintf(what, sizeof what, "'%s': model_config", path);
    char *model = NULL, *train = NULL;
    kx_outputs outs;
    nn_status st = kx_model_text(f->model_config, what, f->keras_version, &model, &outs, err);
    if (st)
        return st;
    nn_error terr;
    snprintf(what, sizeof what, "'%s': training_config", path);
    if (!f->training_config)
        snprintf(train_note, note_len,
                 "'%s' has no training_config (Keras saved it without compile())", path);
    else if (kx_train_text(f->training_config, what, &outs, &train, &terr))
        snprintf(train_note, note_len, "%s", terr.msg);
    /* train_standin: what predict and summary use when nnctl cannot use
     * the training_config (eval then says why) */
    static const char standin[] = "{ loss = \"mse\"; optimizer = \"sgd\"; };\n";
    kx_text t = {0};
    kx_printf(&t, "%s\ntrain_standin: %s", model, standin);
    if (train)
        kx_printf(&t, "%s", train);
    else
        kx_printf(&t, "train: %s", standin);
    free(model);
    free(train);
    if (t.oom) {
        free(t.s);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory converting '%s'", path);
    }
    char display[4200];
    snprintf(display, sizeof display, "%s (Keras model_config, converted)", path);
    st = nn_spec_load_string(out, t.s, display, err);
    free(t.s);
    return st;
}

nn_status nn_keras_json_file_spec(nn_spec_node *model, const char *spec_dir, nn_spec **out,
                                  nn_error *err)
{
    *out = NULL;
    const char *rel;
    nn_status st = nn_spec_string(model, "from_json", true, NULL, &rel, err);
    if (st)
        return st;
    if (nn_spec_has(model, "layers") || nn_spec_has(model, "input"))
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE,
                            "from_json replaces input and layers: give one or the other");
    if ((st = nn_spec_check_unknown(model, err)))
        return st;
    if (!rel[0])
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "expected a file name");
    char path[8192];
    if (rel[0] == '/' || !spec_dir || !spec_dir[0] || !strcmp(spec_dir, "."))
        snprintf(path, sizeof path, "%s", rel);
    else
        snprintf(path, sizeof path, "%s/%s", spec_dir, rel);
    char *json = NULL, *text = NULL;
    size_t len;
    nn_error inner;
    if (nn_read_file(path, &json, &len, &inner))
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s", inner.msg);
    char what[8300];
    snprintf(what, sizeof what, "'%s'", path);
    if (strlen(json) != len)
        st = nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s is not a text file", what);
    else if (nn_keras_model_text(json, what, NULL, &text, &inner))
        st = nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s", inner.msg);
    free(json);
    if (st)
        return st;
    snprintf(what, sizeof what, "%s (Keras JSON, converted)", path);
    st = nn_spec_load_string(out, text, what, err);
    free(text);
    return st;
}

/* A Keras model_config's graph: the Sequential chain or the Functional
 * inbound nodes (Keras 1/2 list form or Keras 3 keras_history form), the
 * inputs' shapes and the outputs (import_internal.h). */
#include <string.h>

#include "io/keras/import_internal.h"
/* ---- the graph ---------------------------------------------------------- */

nn_status kx_model_fail(const kx_model *M, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_fail(M->err, NN_ERR_RUNTIME, "%s: %s", M->what, msg);
}

int kx_version_major(const char *v)
{
    return v && v[0] >= '1' && v[0] <= '9' && (v[1] == '.' || v[1] == '\0') ? v[0] - '0' : 0;
}

/* Keras 3's marks: dtype policies as objects, keras_history nodes,
 * InputLayer batch_shape. */
bool kx_looks_keras3(json_t *layers)
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

/* An input shape: [null, d1, d2, ...] (batch first) or [d1, ...]; a None
 * dimension (variable: a text model's time axis) is 0, as in specs. */
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
        if (json_is_null(e)) {
            I->shape[I->nd++] = 0;
            continue;
        }
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

nn_status kx_read_layer(kx_model *M, json_t *l, size_t i, kx_node *n)
{
    kx_layer *L = &n->L;
    L->what = M->what;
    L->keras_major = M->keras_major;
    L->err = M->err;
    json_t *cn = json_object_get(l, "class_name"), *cfg = json_object_get(l, "config");
    if (!json_is_string(cn) || !json_is_object(cfg))
        return kx_model_fail(M, "layer %zu has no class_name and config", i);
    L->cls = json_string_value(cn);
    L->row_class = L->cls;
    L->cfg = cfg;
    L->obj = l;
    json_t *nm = json_object_get(l, "name");
    if (!json_is_string(nm))
        nm = json_object_get(cfg, "name");
    if (!json_is_string(nm))
        return kx_model_fail(M, "layer %zu (%s) has no name", i, L->cls);
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
            json_t *h = json_object_get(json_object_get(v, "config"), "keras_history");
            if (!st && !strcmp(k, "mask") && json_is_string(json_array_get(h, 0))) {
                n->mask_from = json_string_value(json_array_get(h, 0));
                continue; /* checked by kx_check_masks */
            }
            bool side = !strcmp(k, "mask") || !strcmp(k, "initial_state") ||
                        !strcmp(k, "constants");
            if (!st)
                st = keras3_tensors(n, v, !side);
        }
        return st;
    }
    /* Keras 1/2: [[name, node_index, tensor_index(, kwargs)], ...]; entries
     * of other forms (TFOpLambda's constants) are left to the class check.
     * tf-keras writes a TFOpLambda's call as one entry, unwrapped. */
    if (json_is_string(json_array_get(call, 0)))
        call = json_pack("[O]", call);
    else
        json_incref(call);
    size_t i;
    json_t *e;
    nn_status st = NN_OK;
    json_array_foreach(call, i, e) {
        long long node, tensor;
        if (!json_is_string(json_array_get(e, 0)) || !kx_as_int(json_array_get(e, 1), &node) ||
            !kx_as_int(json_array_get(e, 2), &tensor))
            continue;
        if ((st = add_input(n, json_string_value(json_array_get(e, 0)), node, tensor)))
            break;
        /* tf-keras's TFOpLambda: a tensor y among the keyword arguments */
        json_t *y = json_object_get(json_array_get(e, 3), "y");
        if (!strcmp(n->L.cls, "TFOpLambda") && json_is_string(json_array_get(y, 0)) &&
            kx_as_int(json_array_get(y, 1), &node) && kx_as_int(json_array_get(y, 2), &tensor) &&
            (st = add_input(n, json_string_value(json_array_get(y, 0)), node, tensor)))
            break;
    }
    json_decref(call);
    return st;
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
        return kx_model_fail(M, "%s is nested too deeply", key);
    if (json_is_array(v) && json_is_string(json_array_get(v, 0))) {
        long long node = 0, tensor = 0;
        json_t *nd = json_array_get(v, 1), *tn = json_array_get(v, 2);
        if ((nd && !kx_as_int(nd, &node)) || (tn && !kx_as_int(tn, &tensor)))
            return kx_model_fail(M, "%s: expected [\"name\", node, tensor] entries", key);
        const char *name = json_string_value(json_array_get(v, 0));
        if (node != 0 || tensor != 0)
            return kx_model_fail(M, "%s names call #%lld, output #%lld of layer '%s': layers "
                                 "called several times or with several outputs are not "
                                 "supported",
                              key, node, tensor, name);
        if (*n == NN_MAX_IO)
            return kx_model_fail(M, "the model has more than %d %s; nnctl takes at most %d",
                              NN_MAX_IO, what, NN_MAX_IO);
        for (int k = 0; k < *n; k++)
            if (!strcmp(names[k], name))
                return kx_model_fail(M, "%s lists '%s' twice", key, name);
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
        return kx_model_fail(M, "%s: expected [\"name\", node, tensor] entries", key);
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
nn_status kx_index_names(kx_model *M)
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

kx_node *kx_find(kx_model *M, const char *name)
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

nn_status kx_read_sequential(kx_model *M, json_t *cfg)
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
            return kx_model_fail(M, "the Sequential model declares no input shape (build it, or "
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

nn_status kx_read_functional(kx_model *M, json_t *cfg, json_t *layers)
{
    nn_status st;
    const char *ins[NN_MAX_IO];
    if ((st = endpoints(M, json_object_get(cfg, "input_layers"), "input_layers", ins, NULL,
                        &M->n_in, 0, "")) ||
        (st = endpoints(M, json_object_get(cfg, "output_layers"), "output_layers", M->out,
                        M->out_key, &M->n_out, 0, "")))
        return st;
    if (!M->n_in)
        return kx_model_fail(M, "input_layers lists no input");
    if (!M->n_out)
        return kx_model_fail(M, "output_layers lists no output");
    for (int k = 0; k < M->n_in; k++) {
        kx_node *in = kx_find(M, ins[k]);
        if (!in || !in->is_input)
            return kx_model_fail(M, "input_layers names '%s', which is not an InputLayer of the "
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
        kx_node *out = kx_find(M, M->out[k]);
        if (!out || out->is_input)
            return kx_model_fail(M, "output_layers names '%s', which is %s", M->out[k],
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
    return kx_check_masks(M, layers);
}

/* Keras 3 records the mask an Embedding's mask_zero makes as an operation,
 * NotEqual(ids, 0), passed to the layers that take it (mask=...). nnctl's
 * Embedding makes that mask itself and passes it on as Keras does, so the
 * operation is left out; any other mask is refused. */
nn_status kx_check_masks(kx_model *M, json_t *layers)
{
    for (int i = 0; i < M->n; i++) {
        kx_node *n = &M->nodes[i];
        if (!n->mask_from)
            continue;
        kx_node *src = kx_find(M, n->mask_from);
        json_t *args = src ? json_object_get(json_array_get(json_object_get(
                                                 json_array_get(layers, (size_t)(src - M->nodes)),
                                                 "inbound_nodes"), 0),
                                             "args")
                           : NULL;
        long long zero = -1;
        bool ok = src && !strcmp(src->L.cls, "NotEqual") && src->n_in == 1 &&
                  json_array_size(args) == 2 && kx_as_int(json_array_get(args, 1), &zero) &&
                  zero == 0;
        bool embedded = false;
        for (int k = 0; ok && k < M->n && !embedded; k++) {
            const kx_node *e = &M->nodes[k];
            embedded = !strcmp(e->L.cls, "Embedding") && e->n_in == 1 &&
                       !strcmp(e->in[0], src->in[0]) &&
                       json_is_true(json_object_get(e->L.cfg, "mask_zero"));
        }
        if (!ok || !embedded)
            return kx_fail(&n->L, "takes a mask (mask=...) from '%s', which is not the one an "
                                  "Embedding with mask_zero makes (ids != 0): only that mask is "
                                  "supported",
                           n->mask_from);
        src->mask_only = true;
    }
    return NN_OK;
}

/* Writes one layer group (its inputs are written already). */

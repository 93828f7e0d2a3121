/* Keras 1 weight layouts rewritten to Keras 2's, as Keras 2's own loader
 * (preprocess_weights_for_loading) does: LSTM's 12 per-gate arrays
 * (W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o) and GRU's 9
 * (z, r, h) become kernel, recurrent_kernel and bias with the gates in
 * Keras 2's order (i, f, c, o; z, r, h); Conv1D kernels (k, 1, in, out)
 * lose their unit axis. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/import.h"
#include "io/keras/import_internal.h"

static nn_h5_layer *find_layer(nn_h5_model *f, const char *name)
{
    for (int i = 0; i < f->n_layers; i++)
        if (!strcmp(f->layers[i].name, name))
            return &f->layers[i];
    return NULL;
}

/* Concatenates arrays src[idx[0..G)] along their last axis into dst. */
static nn_status concat_gates(const nn_h5_array *src, const int *idx, int G, const char *name,
                              nn_h5_array *dst, nn_error *err)
{
    const nn_h5_array *a = &src[idx[0]];
    size_t cols = a->ndim ? a->dims[a->ndim - 1] : 0, rows = 1;
    for (int d = 0; d + 1 < a->ndim; d++)
        rows *= a->dims[d];
    for (int g = 1; g < G; g++) {
        const nn_h5_array *b = &src[idx[g]];
        if (b->ndim != a->ndim || memcmp(b->dims, a->dims, sizeof a->dims))
            return NN_ERR_RUNTIME;
    }
    if (a->ndim < 1 || a->ndim > 2 || cols == 0)
        return NN_ERR_RUNTIME;
    dst->name = nn_strdup(name, err);
    dst->data = nn_malloc(rows * cols * (size_t)G * sizeof(float), err);
    if (!dst->name || !dst->data)
        return NN_ERR_RUNTIME;
    dst->ndim = a->ndim;
    memcpy(dst->dims, a->dims, sizeof dst->dims);
    dst->dims[a->ndim - 1] = cols * (size_t)G;
    for (size_t r = 0; r < rows; r++)
        for (int g = 0; g < G; g++)
            memcpy(dst->data + (r * (size_t)G + (size_t)g) * cols, src[idx[g]].data + r * cols,
                   cols * sizeof(float));
    return NN_OK;
}

/* Replaces L's per-gate arrays by the concatenated ones: `sets` groups of
 * 3 * G arrays (Bidirectional: forward, then backward). */
static nn_status merge_gates(nn_h5_layer *L, bool lstm, int sets, const char *inner,
                             const char *path, nn_error *err)
{
    static const int lstm_order[4] = {0, 6, 3, 9}, gru_order[3] = {0, 3, 6};
    static const char *const parts[3] = {"kernel", "recurrent_kernel", "bias"};
    const int G = lstm ? 4 : 3;
    const int *order = lstm ? lstm_order : gru_order;
    nn_h5_array *out = nn_calloc((size_t)sets * 3, sizeof *out, err);
    if (!out)
        return NN_ERR_RUNTIME;
    nn_status st = NN_OK;
    for (int s = 0; s < sets && !st; s++)
        for (int p = 0; p < 3 && !st; p++) {
            int idx[4];
            for (int g = 0; g < G; g++)
                idx[g] = s * 3 * G + order[g] + p;
            char name[200];
            if (sets == 2)
                snprintf(name, sizeof name, "%s_%s/%s", s ? "backward" : "forward", inner,
                         parts[p]);
            else
                snprintf(name, sizeof name, "%s", parts[p]);
            st = concat_gates(L->weights, idx, G, name, &out[s * 3 + p], err);
            if (st && !out[s * 3 + p].name)
                st = nn_fail(err, NN_ERR_RUNTIME,
                             "'%s': layer '%s': its Keras 1 %s gate weights do not have "
                             "matching shapes",
                             path, L->name, lstm ? "LSTM" : "GRU");
        }
    if (st) {
        for (int i = 0; i < sets * 3; i++) {
            free(out[i].name);
            free(out[i].data);
        }
        free(out);
        return st;
    }
    for (int i = 0; i < L->n_weights; i++) {
        free(L->weights[i].name);
        if (!L->weights[i].in_arena)
            free(L->weights[i].data);
    }
    free(L->weights);
    L->weights = out;
    L->n_weights = sets * 3;
    return NN_OK;
}

static nn_status fix_layer(nn_h5_model *f, json_t *layer, const char *path, nn_error *err)
{
    json_t *cn = json_object_get(layer, "class_name"), *cfg = json_object_get(layer, "config");
    json_t *nm = json_object_get(layer, "name");
    if (!json_is_string(nm))
        nm = json_object_get(cfg, "name");
    if (!json_is_string(cn) || !json_is_string(nm))
        return NN_OK;
    const char *cls = json_string_value(cn);
    nn_h5_layer *L = find_layer(f, json_string_value(nm));
    if (!L)
        return NN_OK;
    bool conv = strstr(cls, "Conv") != NULL;
    if (conv && f->backend && !strcmp(f->backend, "theano") && L->n_weights)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': layer '%s' (%s): kernels saved by the Theano backend are flipped; "
                       "nnctl reads TensorFlow-backend files",
                       path, L->name, cls);
    if (conv && strstr(cls, "1D") && L->n_weights >= 1 && L->weights[0].ndim == 4) {
        nn_h5_array *k = &L->weights[0];
        if (k->dims[1] != 1)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': layer '%s' (%s): kernel layout (%zu, %zu, %zu, %zu) is not "
                           "Keras 1's (k, 1, in, out)",
                           path, L->name, cls, k->dims[0], k->dims[1], k->dims[2], k->dims[3]);
        k->dims[1] = k->dims[2];
        k->dims[2] = k->dims[3];
        k->ndim = 3;
        return NN_OK;
    }
    const char *rnn = cls;
    int sets = 1;
    const char *inner = "";
    if (!strcmp(cls, "Bidirectional")) {
        json_t *w = json_object_get(cfg, "layer");
        json_t *wc = json_object_get(w, "class_name");
        json_t *wn = json_object_get(json_object_get(w, "config"), "name");
        if (!json_is_string(wc))
            return NN_OK;
        rnn = json_string_value(wc);
        inner = json_is_string(wn) ? json_string_value(wn) : "rnn";
        sets = 2;
    }
    bool lstm = !strcmp(rnn, "LSTM"), gru = !strcmp(rnn, "GRU");
    if ((lstm && L->n_weights == 12 * sets) || (gru && L->n_weights == 9 * sets))
        return merge_gates(L, lstm, sets, inner, path, err);
    return NN_OK;
}

/* Does weight name w have the component `layer` before its base name? */
static bool under_layer(const char *w, const char *layer)
{
    size_t n = strlen(layer);
    for (const char *c = w; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
        if (!strncmp(c, layer, n) && c[n] == '/')
            return true;
    return false;
}

/* Weights of group gi that `owns` gives to layer `name` move to a new
 * group of that name (n: how many at most). */
static nn_status split_off(nn_h5_model *f, int gi, const char *name, int n,
                           bool (*owns)(const char *w, const char *layer), nn_error *err)
{
    nn_h5_layer *grown = realloc(f->layers, (size_t)(f->n_layers + 1) * sizeof *grown);
    if (!grown)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    f->layers = grown;
    nn_h5_layer *group = &f->layers[gi], *L = &f->layers[f->n_layers];
    memset(L, 0, sizeof *L);
    L->name = nn_strdup(name, err);
    L->weights = nn_calloc((size_t)n, sizeof *L->weights, err);
    if (!L->name || !L->weights) {
        free(L->name);
        free(L->weights);
        return NN_ERR_RUNTIME;
    }
    f->n_layers++;
    int kept = 0;
    for (int k = 0; k < group->n_weights; k++) {
        if (owns(group->weights[k].name, name) && L->n_weights < n)
            L->weights[L->n_weights++] = group->weights[k];
        else
            group->weights[kept++] = group->weights[k];
    }
    group->n_weights = kept;
    return NN_OK;
}

/* A nested model's weights live in its own group, named
 * "<model>/<layer>/kernel" (Keras 3) or "<layer>/kernel:0" (Keras 2):
 * each of its layers (inner nested models' layers too) gets a group of its
 * own, as the spliced model (import_nested.c) has them at the top. */
static nn_status split_nested(nn_h5_model *f, nn_h5_layer *group, json_t *model, int depth,
                              nn_error *err)
{
    json_t *cfg = json_object_get(model, "config");
    json_t *inner = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    size_t i;
    json_t *l;
    json_array_foreach(inner, i, l) {
        json_t *cn = json_object_get(l, "class_name");
        json_t *nm = json_object_get(l, "name");
        if (!json_is_string(nm))
            nm = json_object_get(json_object_get(l, "config"), "name");
        if (!json_is_string(cn) || !json_is_string(nm))
            continue;
        if (kx_is_model_class(json_string_value(cn))) {
            if (depth < 16) {
                nn_status st = split_nested(f, group, l, depth + 1, err);
                if (st)
                    return st;
            }
            continue;
        }
        const char *name = json_string_value(nm);
        int n = 0;
        for (int k = 0; k < group->n_weights; k++)
            n += under_layer(group->weights[k].name, name);
        if (!n || find_layer(f, name))
            continue;
        ptrdiff_t at = group - f->layers;
        nn_status st = split_off(f, (int)at, name, n, under_layer, err);
        if (st)
            return st;
        group = f->layers + at;
    }
    return NN_OK;
}

/* The first component of weight name w ("conv/kernel:0": "conv"), into out. */
static void first_component(const char *w, char *out, size_t len)
{
    size_t n = strcspn(w, "/");
    snprintf(out, len, "%.*s", (int)n, w);
}

/* Is weight name w's first component `layer`? */
static bool first_is(const char *w, const char *layer)
{
    char c[256];
    first_component(w, c, sizeof c);
    return strcmp(c, layer) == 0;
}

/* A weights-only file (save_weights: no model_config) stores a nested
 * model's layers in the nested model's group, each weight named after its
 * own layer ("convnext_tiny_stem_conv/kernel:0" in the group
 * "convnext_tiny_stem"). A group none of whose weights is named under the
 * group's own name is such a model: its weights are split into a group per
 * layer (the name's first component: a nested layer whose own name holds
 * a '/' is not found this way), as split_nested does when the
 * model_config says so. */
static nn_status split_weights_only(nn_h5_model *f, nn_error *err)
{
    int n_groups = f->n_layers;
    for (int g = 0; g < n_groups; g++) {
        nn_h5_layer *group = &f->layers[g];
        bool own = false;
        char first[256];
        size_t gl = strlen(group->name);
        for (int k = 0; k < group->n_weights && !own; k++) {
            const char *w = group->weights[k].name;
            own = (strncmp(w, group->name, gl) == 0 && w[gl] == '/') || !strchr(w, '/');
        }
        while (!own && group->n_weights > 0) {
            first_component(group->weights[0].name, first, sizeof first);
            if (find_layer(f, first)) /* two groups claim a layer: leave it */
                break;
            int n = 0;
            for (int k = 0; k < group->n_weights; k++)
                n += first_is(group->weights[k].name, first);
            nn_status st = split_off(f, g, first, n, first_is, err);
            if (st)
                return st;
            group = &f->layers[g];
        }
    }
    return NN_OK;
}

nn_status nn_keras_fix_weights(nn_h5_model *f, const char *path, nn_error *err)
{
    if (!f->model_config)
        return f->nnctl_spec ? NN_OK : split_weights_only(f, err);
    json_t *root = json_loads(f->model_config, 0, NULL);
    json_t *cfg = json_object_get(root, "config");
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    nn_status st = NN_OK;
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        json_t *cn = json_object_get(l, "class_name");
        json_t *nm = json_object_get(l, "name");
        if (!json_is_string(nm))
            nm = json_object_get(json_object_get(l, "config"), "name");
        if (!json_is_string(cn) || !json_is_string(nm) ||
            !kx_is_model_class(json_string_value(cn)))
            continue;
        nn_h5_layer *group = find_layer(f, json_string_value(nm));
        if (group && (st = split_nested(f, group, l, 0, err)))
            break;
    }
    json_array_foreach(layers, i, l) {
        if (st || (st = fix_layer(f, l, path, err)))
            break;
    }
    json_decref(root);
    return st;
}

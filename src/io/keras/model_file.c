#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/model_config.h"
#include "io/keras/model_file.h"

static const char *slot_name(nn_opt_kind kind, int s)
{
    static const char *const names[NN_OPT_COUNT][3] = {
        [NN_OPT_SGD] = {"momentum"},
        [NN_OPT_RMSPROP] = {"rms"},
        [NN_OPT_ADAM] = {"m", "v", "vhat"},
        [NN_OPT_ADAGRAD] = {"accumulator"},
        [NN_OPT_ADADELTA] = {"accum_grad", "accum_var"},
        [NN_OPT_ADAMAX] = {"m", "u"},
        [NN_OPT_NADAM] = {"m", "v"},
    };
    return names[kind][s];
}

static bool chain_model(const nn_model *m)
{
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i]->n_in != 1 || m->nodes[i]->in[0] != m->nodes[i - 1])
            return false;
    return true;
}

/* Keras's order of a functional model's layers: model.layers, which its
 * HDF5 loader pairs with layer_names by position, runs from the deepest
 * layer (counted from the output) to the output, ties broken by the order
 * of a depth-first walk from the output (map_graph in Keras's
 * functional.py). order[] gets node indices. */
static nn_status keras_order(const nn_model *m, int *order, nn_error *err)
{
    const int n = m->n_nodes;
    int *seen = nn_calloc((size_t)n * 6, sizeof *seen, err);
    if (!seen)
        return NN_ERR_RUNTIME;
    int *visit = seen + n, *depth = seen + 2 * n, *post = seen + 3 * n, *stack = seen + 4 * n;
    int *child = seen + 5 * n; /* the next input to walk, per node */
    int sp = 0, np = 0, count = 0;
    /* one walk from each output, in model order, sharing what was seen */
    for (int o = 0; o < m->n_outputs; o++) {
        const nn_node *root = m->outputs[o];
        if (seen[root->index])
            continue;
        stack[sp++] = root->index;
        seen[root->index] = 1;
        visit[root->index] = count++;
        while (sp) {
            const nn_node *top = m->nodes[stack[sp - 1]];
            if (child[top->index] < top->n_in) {
                const nn_node *in = top->in[child[top->index]++];
                if (!seen[in->index]) {
                    seen[in->index] = 1;
                    visit[in->index] = count++;
                    stack[sp++] = in->index;
                }
            } else {
                post[np++] = stack[--sp];
            }
        }
    }
    for (int i = np - 1; i >= 0; i--) {
        const nn_node *x = m->nodes[post[i]];
        for (int k = 0; k < x->n_in; k++)
            if (depth[x->in[k]->index] < depth[x->index] + 1)
                depth[x->in[k]->index] = depth[x->index] + 1;
    }
    for (int i = 0; i < np; i++) { /* insertion sort: deeper first, then visit order */
        int v = post[i], j = i;
        while (j > 0 && (depth[order[j - 1]] < depth[v] ||
                         (depth[order[j - 1]] == depth[v] && visit[order[j - 1]] > visit[v]))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    /* nodes the output does not reach (none in a valid model) go last */
    for (int i = 0; i < n; i++)
        if (!seen[i])
            order[np++] = i;
    free(seen);
    return NN_OK;
}

/* One parameter-shaped array, from engine memory (t) or from host. */
static nn_status fill_array(nn_engine *e, const nn_tensor *t, const float *host,
                            const nn_param *p, const char *name, nn_h5_array *a, nn_error *err)
{
    a->name = nn_strdup(name, err);
    a->data = nn_malloc(p->size * sizeof(float), err);
    if (!a->name || !a->data) { /* the caller has not counted this array: free it here */
        free(a->name);
        free(a->data);
        a->name = NULL;
        a->data = NULL;
        return NN_ERR_RUNTIME;
    }
    a->ndim = p->ndim;
    for (int d = 0; d < p->ndim; d++)
        a->dims[d] = (size_t)p->shape[d];
    if (host)
        memcpy(a->data, host, p->size * sizeof(float));
    else
        e->ops->download(e, a->data, t, p->size);
    return NN_OK;
}

nn_status nn_model_save(const nn_model *m, const char *path, const nn_model_file_opts *o,
                        nn_error *err)
{
    if (nn_model_check_unfused(m, err))
        return NN_ERR_RUNTIME;
    nn_h5_model f;
    memset(&f, 0, sizeof f);
    nn_status st = NN_OK;
    json_t *config = NULL;
    int *order = NULL;
    if ((st = nn_model_keras_json(m, &config, err)))
        return st;
    f.model_config = json_dumps(config, JSON_COMPACT);
    json_decref(config);
    f.weights_only = o->weights_only;
    f.keras_version = nn_strdup(NN_KERAS_VERSION, err);
    f.backend = nn_strdup("tensorflow", err);
    if (o->training_config && !(f.training_config = nn_strdup(o->training_config, err)))
        return NN_ERR_RUNTIME;
    if (o->spec_text)
        f.nnctl_spec = nn_strdup(o->spec_text, err);
    if (o->state_json)
        f.nnctl_state = nn_strdup(o->state_json, err);
    if (o->spec_dir)
        f.nnctl_spec_dir = nn_strdup(o->spec_dir, err);
    if (o->class_names)
        f.nnctl_class_names = nn_strdup(o->class_names, err);
    if (o->preprocess)
        f.nnctl_preprocess = nn_strdup(o->preprocess, err);
    /* a part that could not be made must not vanish from the file quietly */
    if (!f.model_config || !f.keras_version || !f.backend ||
        (o->training_config && !f.training_config) || (o->spec_text && !f.nnctl_spec) ||
        (o->state_json && !f.nnctl_state) || (o->spec_dir && !f.nnctl_spec_dir) ||
        (o->class_names && !f.nnctl_class_names) || (o->preprocess && !f.nnctl_preprocess)) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory writing '%s'", path);
        goto done;
    }
    /* Keras lists InputLayer among a functional model's layers, not a
     * Sequential's. */
    int first = chain_model(m) ? 1 : 0;
    f.n_layers = m->n_nodes - first;
    f.layers = nn_calloc((size_t)f.n_layers, sizeof *f.layers, err);
    order = nn_calloc((size_t)m->n_nodes, sizeof *order, err);
    if (!f.layers || !order) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    for (int i = 0; i < m->n_nodes; i++)
        order[i] = i;
    if (!first && (st = keras_order(m, order, err)))
        goto done;
    int n_opt = 0, slots = o->opt ? nn_opt_slot_count(o->opt->kind, o->opt->amsgrad) : 0;
    int n_params = 0;
    for (int i = first; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[order[i]];
        nn_h5_layer *L = &f.layers[i - first];
        L->name = nn_strdup(n->name, err);
        L->weights = nn_calloc((size_t)n->n_params, sizeof *L->weights, err);
        if (!L->name || !L->weights) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        L->n_weights = n->n_params;
        for (int k = 0; k < n->n_params; k++) {
            char name[160];
            snprintf(name, sizeof name, "%s/%s:0", n->name, n->params[k].name);
            if ((st = fill_array(m->e, &n->params[k].w, NULL, &n->params[k], name, &L->weights[k],
                                  err)))
                goto done;
            if (n->params[k].trainable)
                n_opt += slots;
            n_params++;
        }
    }
    if (!o->opt)
        n_opt = 0;
    if (o->best_weights)
        n_opt += n_params;
    if (n_opt) {
        f.optimizer = nn_calloc((size_t)n_opt, sizeof *f.optimizer, err);
        if (!f.optimizer) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        size_t off = 0;
        for (int i = 0; i < m->n_nodes; i++)
            for (int k = 0; k < m->nodes[i]->n_params; k++) {
                const nn_param *p = &m->nodes[i]->params[k];
                if (o->best_weights) {
                    char name[200];
                    snprintf(name, sizeof name, "best/%s/%s", m->nodes[i]->name, p->name);
                    if ((st = fill_array(m->e, NULL, o->best_weights + off, p, name,
                                         &f.optimizer[f.n_optimizer], err)))
                        goto done;
                    f.n_optimizer++;
                }
                off += p->size;
                if (!p->trainable || !o->opt)
                    continue;
                for (int s = 0; s < slots; s++) {
                    char name[200];
                    snprintf(name, sizeof name, "%s/%s/%s", m->nodes[i]->name, p->name,
                             slot_name(o->opt->kind, s));
                    if ((st = fill_array(m->e, &p->slots[s], NULL, p, name,
                                         &f.optimizer[f.n_optimizer], err)))
                        goto done;
                    f.n_optimizer++;
                }
            }
    }
    st = nn_h5_save(path, &f, err);
done:
    free(order);
    nn_h5_model_free(&f);
    return st;
}

static const nn_h5_layer *find_layer(const nn_h5_model *f, const char *name)
{
    for (int i = 0; i < f->n_layers; i++)
        if (strcmp(f->layers[i].name, name) == 0)
            return &f->layers[i];
    return NULL;
}

/* Keras 2 names weights "layer/kernel:0" (or "layer/lstm_cell/kernel:0"),
 * Keras 3's legacy writer "kernel". A wrapper's parameter
 * "forward_lstm/kernel" matches a weight with base name "kernel" under a
 * path component that starts with "forward_" (Keras numbers the inner
 * layer's name: "forward_lstm_1"). */
static bool weight_matches(const char *weight, const char *param)
{
    const char *pslash = strrchr(param, '/');
    const char *pbase = pslash ? pslash + 1 : param;
    const char *wslash = strrchr(weight, '/');
    const char *wbase = wslash ? wslash + 1 : weight;
    size_t n = strlen(pbase);
    if (strncmp(wbase, pbase, n) != 0 || (wbase[n] != '\0' && wbase[n] != ':'))
        return false;
    if (!pslash)
        return true;
    const char *us = strchr(param, '_');
    size_t dir = us && us < pslash ? (size_t)(us - param) + 1 : (size_t)(pslash - param);
    for (const char *c = weight; c < wbase; c = strchr(c, '/') + 1)
        if (strncmp(c, param, dir) == 0)
            return true;
    return false;
}

static const nn_h5_array *find_weight(const nn_h5_layer *L, const char *param)
{
    for (int i = 0; i < L->n_weights; i++)
        if (weight_matches(L->weights[i].name, param))
            return &L->weights[i];
    return NULL;
}

static void dims_string(int ndim, const size_t *dims, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, "%s%zu", d ? ", " : "", dims[d]);
    if (o < len)
        snprintf(buf + o, len - o, ")");
}

static bool same_shape(const nn_param *p, const nn_h5_array *a)
{
    bool same = a->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++)
        same = a->dims[d] == (size_t)p->shape[d];
    return same;
}

static nn_status check_shape(const nn_param *p, const nn_h5_array *a, const char *path,
                             const char *layer, nn_error *err)
{
    if (same_shape(p, a))
        return NN_OK;
    char have[96], want[96];
    size_t pd[NN_MAX_DIMS];
    for (int d = 0; d < p->ndim; d++)
        pd[d] = (size_t)p->shape[d];
    dims_string(a->ndim, a->dims, have, sizeof have);
    dims_string(p->ndim, pd, want, sizeof want);
    return nn_fail(err, NN_ERR_RUNTIME,
                   "'%s': layer '%s' weight '%s' has shape %s but the model expects %s", path,
                   layer, p->name, have, want);
}

/* The stored array for each parameter of n: by name, else (Keras 1's
 * "dense_1_W", other spellings) by position when the layer holds exactly
 * as many arrays as n has parameters, as Keras writes them in order.
 * Returns the index of the first parameter without one, or -1. */
static int match_layer(const nn_node *n, const nn_h5_layer *L, const nn_h5_array **out)
{
    int missing = -1;
    for (int k = 0; k < n->n_params; k++) {
        out[k] = find_weight(L, n->params[k].name);
        if (!out[k] && missing < 0)
            missing = k;
    }
    if (missing >= 0 && L->n_weights == n->n_params) {
        for (int k = 0; k < n->n_params; k++)
            out[k] = &L->weights[k];
        missing = -1;
    }
    return missing;
}

nn_status nn_model_load_weights(nn_model *m, const nn_h5_model *f, const char *path,
                                nn_error *err)
{
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        if (!n->n_params)
            continue;
        const nn_h5_layer *L = find_layer(f, n->name);
        if (!L)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': no weights for layer '%s'", path,
                           n->name);
        const nn_h5_array *a[NN_MAX_PARAMS];
        int missing = match_layer(n, L, a);
        if (missing >= 0)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': layer '%s' has no weight '%s' (the file holds %d weight%s "
                           "for it, the model expects %d)",
                           path, n->name, n->params[missing].name, L->n_weights,
                           L->n_weights == 1 ? "" : "s", n->n_params);
        for (int k = 0; k < n->n_params; k++) {
            nn_status st = check_shape(&n->params[k], a[k], path, n->name, err);
            if (st)
                return st;
        }
        for (int k = 0; k < n->n_params; k++)
            m->e->ops->upload(m->e, &n->params[k].w, a[k]->data, n->params[k].size);
    }
    return NN_OK;
}

nn_init_result nn_model_load_matching(nn_model *m, const nn_h5_model *f, int node)
{
    nn_node *n = m->nodes[node];
    if (!n->n_params)
        return NN_INIT_NO_PARAMS;
    const nn_h5_layer *L = find_layer(f, n->name);
    if (!L)
        return NN_INIT_ABSENT;
    const nn_h5_array *a[NN_MAX_PARAMS];
    if (match_layer(n, L, a) >= 0)
        return NN_INIT_ABSENT;
    for (int k = 0; k < n->n_params; k++)
        if (!same_shape(&n->params[k], a[k]))
            return NN_INIT_SHAPE;
    for (int k = 0; k < n->n_params; k++)
        m->e->ops->upload(m->e, &n->params[k].w, a[k]->data, n->params[k].size);
    return NN_INIT_LOADED;
}

nn_status nn_model_load_optimizer(nn_model *m, const nn_h5_model *f, const nn_opt_slots *opt,
                                  const char *path, nn_error *err)
{
    int slots = nn_opt_slot_count(opt->kind, opt->amsgrad);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!p->trainable)
                continue;
            for (int s = 0; s < slots; s++) {
                char name[200];
                snprintf(name, sizeof name, "%s/%s/%s", m->nodes[i]->name, p->name,
                         slot_name(opt->kind, s));
                const nn_h5_array *a = NULL;
                for (int j = 0; j < f->n_optimizer && !a; j++)
                    if (strcmp(f->optimizer[j].name, name) == 0)
                        a = &f->optimizer[j];
                if (!a)
                    return nn_fail(err, NN_ERR_RUNTIME,
                                   "'%s': no %s optimizer state '%s' (was it trained with "
                                   "another optimizer?)",
                                   path, opt->name, name);
                nn_status st = check_shape(p, a, path, m->nodes[i]->name, err);
                if (st)
                    return st;
                m->e->ops->upload(m->e, &p->slots[s], a->data, p->size);
            }
        }
    return NN_OK;
}

nn_status nn_model_load_best(const nn_model *m, const nn_h5_model *f, float *host, bool *found,
                             const char *path, nn_error *err)
{
    *found = false;
    size_t off = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            const nn_param *p = &m->nodes[i]->params[k];
            char name[200];
            snprintf(name, sizeof name, "best/%s/%s", m->nodes[i]->name, p->name);
            const nn_h5_array *a = NULL;
            for (int j = 0; j < f->n_optimizer && !a; j++)
                if (strcmp(f->optimizer[j].name, name) == 0)
                    a = &f->optimizer[j];
            if (!a) {
                if (off == 0)
                    return NN_OK; /* no snapshot stored */
                return nn_fail(err, NN_ERR_RUNTIME, "'%s': incomplete best-weights snapshot (no '%s')",
                               path, name);
            }
            nn_status st = check_shape(p, a, path, m->nodes[i]->name, err);
            if (st)
                return st;
            memcpy(host + off, a->data, p->size * sizeof(float));
            off += p->size;
        }
    *found = true;
    return NN_OK;
}

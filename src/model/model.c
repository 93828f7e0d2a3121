/* Building, planning and running the model graph. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/common.h"
#include "layers/registry.h"
#include "model/model.h"
#include "model/model_internal.h"

nn_node *nn_model_find(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (strcmp(m->nodes[i]->name, name) == 0)
            return m->nodes[i];
    return NULL;
}

static nn_status add_node(nn_model *m, nn_node *n, nn_error *err)
{
    nn_node **grown = realloc(m->nodes, sizeof *grown * (size_t)(m->n_nodes + 1));
    if (!grown)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory building the model");
    m->nodes = grown;
    n->index = m->n_nodes;
    m->nodes[m->n_nodes++] = n;
    return NN_OK;
}

/* Keras's default names: dense, dense_1, dense_2, ... */
static void default_name(const nn_model *m, const char *base, char *out, size_t len)
{
    snprintf(out, len, "%s", base);
    for (int k = 1; nn_model_find(m, out); k++)
        snprintf(out, len, "%s_%d", base, k);
}

/* One input node from a group { name; shape }; default names input_1, input_2, ... */
static nn_status parse_input_group(nn_model *m, nn_spec_node *in, int k, nn_error *err)
{
    nn_node *n = calloc(1, sizeof *n);
    if (!n)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->type = &nn_layer_input;
    n->spec = in;
    long long shape[NN_MAX_DIMS - 1];
    int nd;
    const char *name;
    char def[32];
    snprintf(def, sizeof def, "input_%d", k + 1);
    nn_status st;
    /* 0: a None (variable) dimension, the length each batch brings */
    if ((st = nn_spec_int_array(in, "shape", true, 0, 1 << 30, NN_MAX_DIMS - 1, shape, &nd, err)) ||
        (st = nn_spec_string(in, "name", false, def, &name, err)) ||
        (st = nn_spec_check_unknown(in, err))) {
        free(n);
        return st;
    }
    if (!nn_layer_name_ok(name)) {
        free(n);
        return nn_spec_fail(in, "name", err, NN_ERR_USAGE, "expected " NN_LAYER_NAME_RULE);
    }
    if (nn_model_find(m, name)) {
        free(n);
        return nn_spec_fail(in, "name", err, NN_ERR_USAGE, "duplicate input name \"%s\"", name);
    }
    snprintf(n->name, sizeof n->name, "%s", name);
    n->ndim = nd;
    for (int i = 0; i < nd; i++) {
        n->shape[i] = (int)shape[i];
        if (shape[i] == 0 && k == 0 && m->fill) {
            n->shape[i] = m->fill[i];
            n->var_axes |= 1u << i;
        }
    }
    n->size = nn_shape_size(nd, n->shape);
    if (n->size > (size_t)1 << 31) {
        size_t size = n->size;
        free(n);
        return nn_spec_fail(in, "shape", err, NN_ERR_USAGE,
                            "input of %zu values per sample is too large", size);
    }
    n->trainable = false;
    m->inputs[m->n_inputs++] = n;
    return add_node(m, n, err);
}

/* model.input = { ... } (one input) or model.inputs = ( { ... }, ... ). */
static nn_status parse_inputs(nn_model *m, nn_spec_node *ms, nn_error *err)
{
    nn_spec_node *in = NULL, *list = NULL;
    nn_status st;
    if ((st = nn_spec_group(ms, "input", false, &in, err)) ||
        (!in && (st = nn_spec_list(ms, "inputs", false, &list, err))))
        return st;
    if (in && nn_spec_has(ms, "inputs"))
        return nn_spec_fail(ms, "inputs", err, NN_ERR_USAGE,
                            "give model.input (one input) or model.inputs (several), not both");
    if (in)
        return parse_input_group(m, in, 0, err);
    if (!list && (st = nn_spec_misspelt(ms, "input", err)))
        return st;
    if (!list)
        return nn_spec_fail(ms, NULL, err, NN_ERR_USAGE,
                            "missing required key \"input\" (for several inputs: model.inputs = "
                            "( { name = \"a\"; shape = [...]; }, ... ))");
    int count = nn_spec_length(list);
    if (count < 1 || count > NN_MAX_IO)
        return nn_spec_fail(ms, "inputs", err, NN_ERR_USAGE, "expected 1 to %d inputs, got %d",
                            NN_MAX_IO, count);
    for (int k = 0; k < count; k++) {
        nn_spec_node *g;
        if ((st = nn_spec_elem_group(list, k, &g, err)) ||
            (st = parse_input_group(m, g, k, err)))
            return st;
    }
    return NN_OK;
}

/* The outputs: model.outputs = ["a", "b"] in that order, else the one node
 * nothing consumes. An output feeds no other layer (its gradient comes
 * from its loss alone) and no layer is left dangling. */
static nn_status resolve_outputs(nn_model *m, nn_spec_node *ms, nn_spec_node *layers,
                                 nn_error *err)
{
    const char *names[NN_MAX_IO];
    int count = 0;
    nn_status st = nn_spec_string_array(ms, "outputs", false, NN_MAX_IO, names, &count, err);
    if (st)
        return st;
    bool listed = nn_spec_has(ms, "outputs");
    if (listed && count == 0)
        return nn_spec_fail(ms, "outputs", err, NN_ERR_USAGE, "expected at least one layer name");
    for (int k = 0; k < count; k++) {
        nn_node *n = nn_model_find(m, names[k]);
        if (!n || n->type == &nn_layer_input)
            return nn_spec_fail(ms, "outputs", err, NN_ERR_USAGE, "no layer named \"%s\"",
                                names[k]);
        if (nn_model_is_output(m, n))
            return nn_spec_fail(ms, "outputs", err, NN_ERR_USAGE, "\"%s\" is listed twice",
                                names[k]);
        if (n->n_consumers)
            return nn_spec_fail(ms, "outputs", err, NN_ERR_USAGE,
                                "output \"%s\" also feeds another layer; an output must be a "
                                "last layer (add a layer after it for the branch that goes on)",
                                names[k]);
        m->outputs[m->n_outputs++] = n;
    }
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        if (n->n_consumers || nn_model_is_output(m, n))
            continue;
        if (n->type == &nn_layer_input)
            return nn_spec_fail(ms, "inputs", err, NN_ERR_USAGE, "input \"%s\" feeds no layer",
                                n->name);
        if (listed)
            return nn_spec_fail(ms, "outputs", err, NN_ERR_USAGE,
                                "layer \"%s\" feeds nothing and is not in model.outputs",
                                n->name);
        if (m->n_outputs)
            return nn_spec_fail(layers, NULL, err, NN_ERR_USAGE,
                                "layers \"%s\" and \"%s\" both have no consumer: list the model's "
                                "outputs, model.outputs = [\"%s\", \"%s\"]",
                                m->outputs[0]->name, n->name, m->outputs[0]->name, n->name);
        m->outputs[m->n_outputs++] = n;
    }
    if (!m->n_outputs)
        return nn_spec_fail(layers, NULL, err, NN_ERR_USAGE, "the model has no output layer");
    return NN_OK;
}

bool nn_model_is_input(const nn_model *m, const nn_node *n)
{
    for (int k = 0; k < m->n_inputs; k++)
        if (m->inputs[k] == n)
            return true;
    return false;
}

bool nn_model_is_output(const nn_model *m, const nn_node *n)
{
    for (int k = 0; k < m->n_outputs; k++)
        if (m->outputs[k] == n)
            return true;
    return false;
}

static nn_status parse_layer(nn_model *m, nn_spec_node *ls, nn_error *err)
{
    int type_idx;
    const char *const *names = nn_layer_type_names();
    const char *type_name = NULL;
    nn_error probe;
    if (nn_spec_string(ls, "type", true, NULL, &type_name, &probe) == NN_OK &&
        strcmp(type_name, "input") == 0)
        return nn_spec_fail(ls, "type", err, NN_ERR_USAGE,
                            "the model's input is declared in model.input, not as a layer");
    nn_status st = nn_spec_choice(ls, "type", true, names, -1, &type_idx, err);
    if (st) {
        if (type_name && !nn_layer_type_find(type_name) && strlen(err->msg) < 1800)
            strcat(err->msg, "; a plugin's layer type needs its plugin: --plugin FILE, or "
                             "plugins = [\"FILE\"] in the spec");
        return st;
    }
    const nn_layer_type *type = nn_layer_type_find(names[type_idx]);
    nn_node *n = calloc(1, sizeof *n);
    if (!n)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->type = type;
    n->spec = ls;
    const char *name = NULL;
    if ((st = nn_spec_string(ls, "name", false, NULL, &name, err)))
        goto fail;
    if (name) {
        if (!nn_layer_name_ok(name)) {
            st = nn_spec_fail(ls, "name", err, NN_ERR_USAGE, "expected " NN_LAYER_NAME_RULE);
            goto fail;
        }
        if (nn_model_find(m, name)) {
            st = nn_spec_fail(ls, "name", err, NN_ERR_USAGE, "duplicate layer name \"%s\"", name);
            goto fail;
        }
        snprintf(n->name, sizeof n->name, "%s", name);
    } else {
        default_name(m, type->name, n->name, sizeof n->name);
    }
    const char *inputs[NN_MAX_INPUTS];
    int n_inputs = 0;
    if ((st = nn_spec_string_array(ls, "inputs", false, NN_MAX_INPUTS, inputs, &n_inputs, err)))
        goto fail;
    if (n_inputs == 0) {
        n->in[0] = m->nodes[m->n_nodes - 1];
        n->n_in = 1;
    }
    for (int i = 0; i < n_inputs; i++) {
        nn_node *src = nn_model_find(m, inputs[i]);
        if (!src) {
            const char *cands[256];
            int nc = 0;
            for (int k = 0; k < m->n_nodes && nc < 256; k++)
                cands[nc++] = m->nodes[k]->name;
            const char *guess = nn_did_you_mean(inputs[i], cands, nc);
            st = nn_spec_fail(ls, "inputs", err, NN_ERR_USAGE,
                              "no earlier layer named \"%s\"%s%s%s", inputs[i],
                              guess ? "; did you mean \"" : "", guess ? guess : "",
                              guess ? "\"?" : "");
            goto fail;
        }
        n->in[n->n_in++] = src;
    }
    bool trainable;
    if ((st = nn_spec_bool(ls, "trainable", false, true, &trainable, err)))
        goto fail;
    n->trainable = trainable;
    /* a layer's own dtype policy (Keras's dtype argument) beats train.precision */
    static const char *const policies[] = {"float32", "mixed_bfloat16", "mixed_float16", NULL};
    int policy;
    n->has_dtype = nn_spec_has(ls, "dtype");
    if ((st = nn_spec_choice(ls, "dtype", false, policies, 0, &policy, err)))
        goto fail;
    n->dtype = (nn_precision)policy;
    n->act = NN_ACT_LINEAR;
    if ((st = type->parse(n, ls, err)) || (st = nn_spec_check_unknown(ls, err)))
        goto fail;
    if (type->passes_mask && n->n_in > 0) {
        n->mask = n->in[0]->mask;
        n->mask_steps = n->in[0]->mask_steps;
    }
    if ((st = type->infer(n, err))) {
        /* name the spec line too */
        nn_error inner = *err;
        st = nn_spec_fail(ls, NULL, err, NN_ERR_USAGE, "%s", inner.msg);
        goto fail;
    }
    n->size = nn_shape_size(n->ndim, n->shape);
    for (int k = 0; k < n->n_params; k++)
        if (n->params[k].size == 0) {
            /* a weight shaped by a None (variable) dimension (0) */
            st = nn_spec_fail(ls, NULL, err, NN_ERR_USAGE,
                              "layer '%s' (%s): its weights would depend on the variable "
                              "(None) length of its input; a layer that flattens or mixes "
                              "steps needs a fixed length (give the input's shape)",
                              n->name, type->name);
            goto fail;
        }
    for (int i = 0; i < n->n_in; i++)
        n->in[i]->n_consumers++;
    return add_node(m, n, err);
fail:
    nn_node_free_cfg(n);
    free(n);
    return st;
}

/* Parses list's layer groups into m. */
static nn_status parse_layers(nn_model *m, nn_spec_node *list, nn_error *err)
{
    nn_status st = NN_OK;
    for (int i = 0; !st && i < nn_spec_length(list); i++) {
        nn_spec_node *ls;
        if (!(st = nn_spec_elem_group(list, i, &ls, err)))
            st = parse_layer(m, ls, err);
    }
    return st;
}

static nn_status build(nn_spec_node *base, nn_spec_node *ms, const int *fill, nn_model **out,
                       nn_error *err);

nn_status nn_model_from_spec(nn_spec_node *ms, nn_model **out, nn_error *err)
{
    return build(NULL, ms, NULL, out, err);
}

nn_status nn_model_from_spec_at(nn_spec_node *ms, const int *fill, nn_model **out,
                                nn_error *err)
{
    return build(NULL, ms, fill, out, err);
}

nn_status nn_model_from_base_spec(nn_spec_node *base, nn_spec_node *ms, nn_model **out,
                                  nn_error *err)
{
    return build(base, ms, NULL, out, err);
}

bool nn_model_input_variable(const nn_node *n)
{
    for (int i = 0; i < n->ndim; i++)
        if (n->shape[i] == 0)
            return true;
    return n->var_axes != 0;
}

static nn_status build(nn_spec_node *base, nn_spec_node *ms, const int *fill, nn_model **out,
                       nn_error *err)
{
    nn_model *m = calloc(1, sizeof *m);
    if (!m)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    m->fill = fill;
    const char *name;
    nn_spec_node *layers, *base_layers = NULL;
    nn_status st;
    if ((st = nn_spec_string(ms, "name", false, "model", &name, err)) ||
        (st = parse_inputs(m, base ? base : ms, err)) ||
        (base && (st = nn_spec_list(base, "layers", true, &base_layers, err))) ||
        (base && (st = parse_layers(m, base_layers, err))) ||
        (st = nn_spec_list(ms, "layers", !base, &layers, err)))
        goto fail;
    snprintf(m->name, sizeof m->name, "%s", name);
    m->n_base = base ? m->n_nodes : 0;
    if (!base && nn_spec_length(layers) == 0) {
        st = nn_spec_fail(ms, "layers", err, NN_ERR_USAGE, "expected at least one layer");
        goto fail;
    }
    if ((layers && (st = parse_layers(m, layers, err))) ||
        (st = resolve_outputs(m, ms, layers ? layers : base_layers, err)) ||
        (st = nn_spec_check_unknown(ms, err)))
        goto fail;
    m->input = m->inputs[0];
    m->output = m->outputs[0];
    m->fill = NULL;
    /* needs_grad: trainable parameters here or upstream. */
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        bool own = false;
        for (int k = 0; k < n->n_params; k++)
            own |= n->params[k].trainable;
        n->needs_grad = own;
        for (int k = 0; k < n->n_in; k++)
            n->needs_grad |= n->in[k]->needs_grad;
    }
    *out = m;
    return NN_OK;
fail:
    nn_model_free(m);
    return st;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    if (m->e) {
        if (m->batch || m->n_pool)
            nn_model__release_batch(m);
        for (int i = 0; i < m->n_nodes; i++)
            for (int k = 0; k < m->nodes[i]->n_params; k++) {
                nn_param *p = &m->nodes[i]->params[k];
                m->e->ops->free(m->e, &p->w);
                m->e->ops->free(m->e, &p->g);
                for (int s = 0; s < 3; s++)
                    m->e->ops->free(m->e, &p->slots[s]);
            }
        for (int i = 0; i < m->n_nodes; i++)
            m->e->ops->free(m->e, &m->nodes[i]->folded_bias);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node_free_cfg(m->nodes[i]);
        free(m->nodes[i]);
    }
    free(m->nodes);
    free(m);
}

static nn_status alloc_params(nn_model *m, nn_engine *e, int slots, bool grads, nn_error *err)
{
    m->e = e;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            nn_status st = e->ops->alloc(e, &p->w, p->ndim, p->shape, err);
            p->w.weights = true;
            if (!st && grads && p->trainable)
                st = e->ops->alloc(e, &p->g, p->ndim, p->shape, err);
            for (int s = 0; !st && grads && p->trainable && s < slots; s++)
                st = e->ops->alloc(e, &p->slots[s], p->ndim, p->shape, err);
            if (st)
                return st;
        }
    return NN_OK;
}

nn_status nn_model_alloc(nn_model *m, nn_engine *e, int slots, nn_error *err)
{
    return alloc_params(m, e, slots, true, err);
}

nn_status nn_model_alloc_inference(nn_model *m, nn_engine *e, nn_error *err)
{
    /* no layer computes a gradient: planning makes no gradient tensors,
     * and outputs share buffers */
    for (int i = 0; i < m->n_nodes; i++)
        m->nodes[i]->needs_grad = false;
    m->inference = true;
    return alloc_params(m, e, 0, false, err);
}

nn_status nn_model_init_params(nn_model *m, nn_rng *rng, nn_error *err)
{
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            float *host = nn_malloc(p->size * sizeof(float), err);
            if (!host)
                return NN_ERR_RUNTIME;
            /* One child stream per parameter: adding a layer never changes
             * the draws of the others. */
            nn_rng r = nn_rng_split(rng, (uint64_t)i * 16 + (uint64_t)k);
            nn_initializer_fill(&p->init, p->fan_in, p->fan_out,
                                p->ndim > 0 ? p->shape[p->ndim - 1] : 1, &r, host, p->size);
            for (size_t j = p->ones_lo; j < p->ones_hi && j < p->size; j++)
                host[j] = 1.0f;
            m->e->ops->upload(m->e, &p->w, host, p->size);
            free(host);
        }
    return NN_OK;
}

nn_tensor *nn_model_input_tensor(nn_model *m) { return &m->input->out; }
nn_tensor *nn_model_input_tensor_at(nn_model *m, int i) { return &m->inputs[i]->out; }

void nn_model_set_precision(nn_model *m, nn_precision prec)
{
    for (int i = 0; i < m->n_nodes; i++)
        m->nodes[i]->precision = prec;
}

void nn_model_forward(nn_model *m, const nn_pass *p)
{
    m->activity_penalty = 0.0;
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        p->e->precision = n->precision;
        if (n->type->forward && !n->fused_away)
            n->type->forward(n, p);
        p->e->precision = NN_PREC_FLOAT32;
        const nn_regularizer *r = &n->activity_reg;
        if (nn_regularizer_active(r)) {
            /* Keras 2: an activity penalty is divided by the batch size. */
            int dims[2] = {p->rows, (int)n->size};
            m->activity_penalty += nn_regularizer_apply(r, p->e, &n->out, 2, dims, NULL, 0.0f,
                                                        (size_t)p->rows * n->size) /
                                   nn_pass_batch_rows(p);
        }
    }
}

void nn_model_backward(nn_model *m, const nn_pass *p)
{
    for (int i = 0; i < m->n_nodes; i++)
        m->nodes[i]->grad_writes = 0;
    for (int k = 0; k < m->n_outputs; k++)
        m->outputs[k]->grad_writes = 1;
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        nn_node *n = m->nodes[i];
        if (!n->needs_grad || n->type == &nn_layer_input)
            continue;
        const nn_regularizer *r = &n->activity_reg;
        if (nn_regularizer_active(r) && !n->loss_wrote_preact) {
            int dims[2] = {p->rows, (int)n->size};
            nn_regularizer_apply(r, p->e, &n->out, 2, dims, &n->dout,
                                 (p->loss_scale > 0.0f ? p->loss_scale : 1.0f) /
                                     (float)nn_pass_batch_rows(p),
                                 (size_t)p->rows * n->size);
        }
        p->e->precision = n->precision;
        if (n->type->backward)
            n->type->backward(n, p);
        p->e->precision = NN_PREC_FLOAT32;
        if (p->rep && p->rep->grads_ready && n->n_params)
            p->rep->grads_ready(p->rep, n);
    }
}

void nn_model_count_params(const nn_model *m, size_t *trainable, size_t *non_trainable)
{
    size_t t = 0, nt = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            const nn_param *p = &m->nodes[i]->params[k];
            if (p->trainable)
                t += p->size;
            else
                nt += p->size;
        }
    *trainable = t;
    *non_trainable = nt;
}

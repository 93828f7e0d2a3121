/* Planning the per-batch tensors (nn_model_plan): each layer's output,
 * gradients when training, and in a model that only runs forward, output
 * buffers shared between layers whose outputs are never alive at once. */
#include <limits.h>
#include <stdlib.h>

#include "model/model.h"
#include "model/model_internal.h"

void nn_model__release_batch(nn_model *m)
{
    nn_engine *e = m->e;
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        if (n->type->release)
            n->type->release(n, e);
        e->ops->free(e, &n->out);
        e->ops->free(e, &n->dout);
        e->ops->free(e, &n->grad_scratch);
    }
    for (int k = 0; k < m->n_pool; k++)
        e->ops->free(e, &m->pool[k]);
    free(m->pool);
    m->pool = NULL;
    m->n_pool = 0;
    m->batch = 0;
}

/* The node whose buffer n's output is (n itself unless it is a view). */
static const nn_node *buffer_owner(const nn_node *n)
{
    while (n->type->aliases_input)
        n = n->in[0];
    return n;
}

/* Inference planning: last[i], the last node that reads owner i's buffer
 * (INT_MAX: never given away: inputs, which are filled before the pass,
 * outputs and keep_out layers, read after it). */
static void buffer_lifetimes(const nn_model *m, int *last)
{
    for (int i = 0; i < m->n_nodes; i++)
        last[i] = -1;
    for (int j = 0; j < m->n_nodes; j++) {
        const nn_node *n = m->nodes[j];
        for (int k = 0; k < n->n_in; k++) {
            int o = buffer_owner(n->in[k])->index;
            if (last[o] < j)
                last[o] = j;
        }
        if (nn_model_is_input(m, n) || n->keep_out || nn_model_is_output(m, n))
            last[buffer_owner(n)->index] = INT_MAX;
    }
}

/* *out: a tensor of the given shape over buf's memory (at least as large) */
static void view_of(nn_tensor *out, const nn_tensor *buf, int ndim, const int *shape)
{
    *out = *buf;
    out->view = true;
    out->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        out->shape[d] = shape[d];
    out->size = nn_shape_size(ndim, shape);
}

/* The buffer for a new output of `size` floats: the smallest free one that
 * holds it, else a new one. free_k lists pool indices, *n_free of them. */
static nn_status pool_take(nn_model *m, size_t size, int *free_k, int *n_free, int *k,
                           nn_error *err)
{
    int best = -1;
    for (int f = 0; f < *n_free; f++)
        if (m->pool[free_k[f]].size >= size &&
            (best < 0 || m->pool[free_k[f]].size < m->pool[free_k[best]].size))
            best = f;
    if (best >= 0) {
        *k = free_k[best];
        free_k[best] = free_k[--*n_free];
        return NN_OK;
    }
    if (size > (size_t)INT_MAX)
        return nn_fail(err, NN_ERR_RUNTIME, "a layer's batch output of %zu values is too large",
                       size);
    nn_tensor *grown = realloc(m->pool, sizeof *grown * (size_t)(m->n_pool + 1));
    if (!grown)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory planning the model");
    m->pool = grown;
    int shape[1] = {(int)size};
    nn_status st = m->e->ops->alloc(m->e, &m->pool[m->n_pool], 1, shape, err);
    if (st)
        return st;
    *k = m->n_pool++;
    return NN_OK;
}

/* Inference: every output that is not a view gets a shared buffer; a
 * buffer goes back to the free list after the last node that reads it. */
static nn_status plan_shared_outputs(nn_model *m, int batch, nn_error *err)
{
    int *last = malloc(sizeof *last * (size_t)m->n_nodes * 3);
    if (!last)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory planning the model");
    int *buf_of = last + m->n_nodes, *free_k = buf_of + m->n_nodes, n_free = 0;
    buffer_lifetimes(m, last);
    nn_status st = NN_OK;
    int shape[NN_MAX_DIMS + 1];
    for (int i = 0; !st && i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        shape[0] = batch;
        for (int d = 0; d < n->ndim; d++)
            shape[d + 1] = n->shape[d];
        buf_of[i] = -1;
        if (n->type->aliases_input)
            view_of(&n->out, &buffer_owner(n)->out, n->ndim + 1, shape);
        else if (last[i] == INT_MAX)
            st = m->e->ops->alloc(m->e, &n->out, n->ndim + 1, shape, err);
        else if (!(st = pool_take(m, (size_t)batch * n->size, free_k, &n_free, &buf_of[i], err)))
            view_of(&n->out, &m->pool[buf_of[i]], n->ndim + 1, shape);
        /* buffers last read by node i are free for the nodes after it (an
         * input read twice, add(x, x), is given back once) */
        for (int k = 0; !st && k < n->n_in; k++) {
            int o = buffer_owner(n->in[k])->index;
            if (last[o] == i && buf_of[o] >= 0) {
                free_k[n_free++] = buf_of[o];
                buf_of[o] = -1;
            }
        }
    }
    free(last);
    return st;
}

nn_status nn_model_plan(nn_model *m, int batch, nn_error *err)
{
    if (m->batch == batch)
        return NN_OK;
    if (m->batch)
        nn_model__release_batch(m);
    nn_engine *e = m->e;
    int shape[NN_MAX_DIMS + 1];
    nn_status st;
    if (m->inference && (st = plan_shared_outputs(m, batch, err)))
        return st;
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        shape[0] = batch;
        for (int d = 0; d < n->ndim; d++)
            shape[d + 1] = n->shape[d];
        if (m->inference) {
            /* outputs planned above */
        } else if (n->type->aliases_input) {
            n->out = n->in[0]->out;
            n->out.view = true;
            n->out.ndim = n->ndim + 1;
            for (int d = 0; d <= n->ndim; d++)
                n->out.shape[d] = shape[d];
        } else if ((st = e->ops->alloc(e, &n->out, n->ndim + 1, shape, err))) {
            return st;
        }
        if (n->needs_grad) {
            if ((st = e->ops->alloc(e, &n->dout, n->ndim + 1, shape, err)))
                return st;
            if (n->n_consumers > 1 &&
                (st = e->ops->alloc(e, &n->grad_scratch, n->ndim + 1, shape, err)))
                return st;
        } else if (nn_model_is_output(m, n)) {
            if ((st = e->ops->alloc(e, &n->dout, n->ndim + 1, shape, err)))
                return st;
        }
        n->preact = n->dpreact = NULL;
        if (n->type->plan && (st = n->type->plan(n, e, batch, err)))
            return st;
    }
    m->batch = batch;
    return NN_OK;
}


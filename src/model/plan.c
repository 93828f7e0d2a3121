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
    while (n->type->aliases_input || n->fused_away)
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

/* Inference: which shared buffer each node's output takes (buf_of[i];
 * -1: a view, or its own buffer when last[i] is INT_MAX) and the buffers'
 * sizes in floats (*n_buf of them). An output takes the smallest free
 * buffer that holds it, else a new one; a buffer is free again after the
 * last node that reads it. Arrays: n_nodes entries each. */
static nn_status assign_buffers(const nn_model *m, int batch, int *last, int *buf_of,
                                size_t *sizes, int *n_buf, nn_error *err)
{
    int *free_k = malloc(sizeof *free_k * (size_t)m->n_nodes), n_free = 0;
    if (!free_k)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory planning the model");
    buffer_lifetimes(m, last);
    *n_buf = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        buf_of[i] = -1;
        if (!n->type->aliases_input && !n->fused_away && last[i] != INT_MAX) {
            size_t size = (size_t)batch * n->size;
            int best = -1;
            for (int f = 0; f < n_free; f++)
                if (sizes[free_k[f]] >= size && (best < 0 || sizes[free_k[f]] < sizes[free_k[best]]))
                    best = f;
            if (best >= 0) {
                buf_of[i] = free_k[best];
                free_k[best] = free_k[--n_free];
            } else if (size > (size_t)INT_MAX) {
                free(free_k);
                return nn_fail(err, NN_ERR_RUNTIME,
                               "layer '%s': a batch output of %zu values is too large", n->name,
                               size);
            } else {
                sizes[*n_buf] = size;
                buf_of[i] = (*n_buf)++;
            }
        }
        /* buffers last read by node i are free for the nodes after it (an
         * input read twice, add(x, x), is given back once) */
        for (int k = 0; k < n->n_in; k++) {
            int o = buffer_owner(n->in[k])->index;
            if (last[o] == i && buf_of[o] >= 0) {
                free_k[n_free++] = buf_of[o];
                last[o] = -1; /* given back: buf_of[o] stays, for the views */
            }
        }
    }
    free(free_k);
    return NN_OK;
}

size_t nn_model_inference_floats(const nn_model *m, int batch)
{
    size_t n = (size_t)m->n_nodes, total = 0;
    int *last = malloc(sizeof *last * n * 2), n_buf = 0;
    size_t *sizes = malloc(sizeof *sizes * n);
    nn_error err;
    if (last && sizes && !assign_buffers(m, batch, last, last + n, sizes, &n_buf, &err)) {
        for (int k = 0; k < n_buf; k++)
            total += sizes[k];
        for (int i = 0; i < m->n_nodes; i++)
            if (!m->nodes[i]->type->aliases_input && !m->nodes[i]->fused_away &&
                last[i] == INT_MAX)
                total += (size_t)batch * m->nodes[i]->size;
    } else { /* no plan: every output its own */
        for (int i = 0; i < m->n_nodes; i++)
            total += (size_t)batch * m->nodes[i]->size;
    }
    free(last);
    free(sizes);
    return total;
}

/* Inference: every output that is not a view gets a shared buffer (or its
 * own, for those read after the pass). */
static nn_status plan_shared_outputs(nn_model *m, int batch, nn_error *err)
{
    size_t n = (size_t)m->n_nodes;
    int *last = malloc(sizeof *last * n * 2), n_buf = 0;
    size_t *sizes = malloc(sizeof *sizes * n);
    nn_status st = last && sizes ? NN_OK
                                 : nn_fail(err, NN_ERR_RUNTIME, "out of memory planning the model");
    int *buf_of = last + n;
    if (!st)
        st = assign_buffers(m, batch, last, buf_of, sizes, &n_buf, err);
    if (!st && n_buf && !(m->pool = calloc((size_t)n_buf, sizeof *m->pool)))
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory planning the model");
    for (int k = 0; !st && k < n_buf; k++) {
        int shape[1] = {(int)sizes[k]};
        if (!(st = m->e->ops->alloc(m->e, &m->pool[k], 1, shape, err)))
            m->n_pool = k + 1;
    }
    int shape[NN_MAX_DIMS + 1];
    for (int i = 0; !st && i < m->n_nodes; i++) {
        nn_node *nd = m->nodes[i];
        shape[0] = batch;
        for (int d = 0; d < nd->ndim; d++)
            shape[d + 1] = nd->shape[d];
        if (nd->type->aliases_input || nd->fused_away)
            view_of(&nd->out, &buffer_owner(nd)->out, nd->ndim + 1, shape);
        else if (buf_of[i] >= 0)
            view_of(&nd->out, &m->pool[buf_of[i]], nd->ndim + 1, shape);
        else
            st = m->e->ops->alloc(m->e, &nd->out, nd->ndim + 1, shape, err);
    }
    free(last);
    free(sizes);
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
    if (m->inference && ((st = nn_model_fuse_inference(m, err)) ||
                         (st = plan_shared_outputs(m, batch, err))))
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


/* Helpers every layer uses: parameters, gradient routing, errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/layer.h"
#include "util/fileio.h"

nn_tensor *nn_grad_target(nn_node *n, int i)
{
    nn_node *in = n->in[i];
    if (!in->needs_grad)
        return NULL;
    return in->grad_writes == 0 ? &in->dout : &in->grad_scratch;
}

void nn_grad_commit(nn_node *n, int i, nn_tensor *written, const nn_pass *p)
{
    nn_node *in = n->in[i];
    if (!in->needs_grad)
        return;
    size_t count = (size_t)p->rows * in->size;
    if (written == &in->grad_scratch)
        p->e->ops->axpy(p->e, 1.0f, &in->grad_scratch, &in->dout, count);
    in->grad_writes++;
}

nn_param *nn_node_add_param(nn_node *n, const char *name, int ndim, const int *shape,
                            int fan_in, int fan_out, nn_initializer init, nn_regularizer reg)
{
    nn_param *p = &n->params[n->n_params++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        p->shape[i] = shape[i];
    p->size = nn_shape_size(ndim, shape);
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->init = init;
    p->reg = reg;
    p->trainable = n->trainable;
    return p;
}

nn_status nn_node_fail(const nn_node *n, nn_error *err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nn_fail(err, NN_ERR_USAGE, "layer '%s' (%s): %s", n->name, n->type->name, msg);
}

void nn_node_free_cfg(nn_node *n)
{
    if (n->cfg && n->type && n->type->free_cfg)
        n->type->free_cfg(n);
    else
        free(n->cfg);
    n->cfg = NULL;
}

bool nn_layer_name_ok(const char *name)
{
    /* '/' separates parts (Keras's conv1/conv, stored as nested HDF5 groups) */
    return strlen(name) < NN_NAME_MAX && nn_rel_path_ok(name);
}

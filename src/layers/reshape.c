/* Flatten and Reshape: the same values under another shape. Their output is
 * a view of the input (no copy); the gradient is copied back. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"

typedef struct {
    int ndim;
    int shape[NN_MAX_DIMS - 1];
} reshape_cfg;

static nn_status flatten_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    (void)n, (void)s, (void)err;
    return NN_OK;
}

static nn_status flatten_infer(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = 1;
    n->shape[0] = (int)nn_shape_size(n->in[0]->ndim, n->in[0]->shape);
    return NN_OK;
}

static nn_status reshape_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    reshape_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long dims[NN_MAX_DIMS - 1];
    nn_status st = nn_spec_int_array(s, "target_shape", true, -1, 1 << 30, NN_MAX_DIMS - 1, dims,
                                     &c->ndim, err);
    if (st)
        return st;
    int unknown = 0;
    for (int i = 0; i < c->ndim; i++) {
        if (dims[i] == 0)
            return nn_spec_fail(s, "target_shape", err, NN_ERR_USAGE,
                                "dimensions must be positive (or -1 once), got 0");
        unknown += dims[i] == -1;
        c->shape[i] = (int)dims[i];
    }
    if (unknown > 1)
        return nn_spec_fail(s, "target_shape", err, NN_ERR_USAGE, "at most one -1 dimension");
    return NN_OK;
}

static nn_status reshape_infer(nn_node *n, nn_error *err)
{
    const reshape_cfg *c = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    size_t total = nn_shape_size(n->in[0]->ndim, n->in[0]->shape), known = 1;
    int unknown = -1;
    for (int i = 0; i < c->ndim; i++) {
        if (c->shape[i] == -1)
            unknown = i;
        else
            known *= (size_t)c->shape[i];
    }
    n->ndim = c->ndim;
    for (int i = 0; i < c->ndim; i++)
        n->shape[i] = c->shape[i];
    if (unknown >= 0) {
        if (total % known)
            return nn_node_fail(n, err, "cannot reshape %zu values per sample with a -1 dimension "
                                        "and the others multiplying to %zu",
                                total, known);
        n->shape[unknown] = (int)(total / known);
    } else if (known != total) {
        return nn_node_fail(n, err,
                            "target_shape has %zu values per sample but its input has %zu", known,
                            total);
    }
    return NN_OK;
}

static void reshape_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    p->e->ops->copy(p->e, dx, &n->dout, (size_t)p->rows * n->size);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status flatten_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "data_format", json_string("channels_last"));
    return NN_OK;
}

static nn_status reshape_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const reshape_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_t *shape = json_array();
    for (int i = 0; i < c->ndim; i++)
        json_array_append_new(shape, json_integer(c->shape[i]));
    json_object_set_new(cfg, "target_shape", shape);
    return NN_OK;
}

static nn_status reshape_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    nn_c_alias(w, n);
    return nn_c_status(w, err);
}

const nn_layer_type nn_layer_flatten = {
    .name = "flatten",
    .keras_class = "Flatten",
    .parse = flatten_parse,
    .infer = flatten_infer,
    .backward = reshape_backward,
    .keras_config = flatten_keras_config,
    .export_c = reshape_export_c,
    .aliases_input = true,
};

const nn_layer_type nn_layer_reshape = {
    .name = "reshape",
    .keras_class = "Reshape",
    .parse = reshape_parse,
    .infer = reshape_infer,
    .backward = reshape_backward,
    .keras_config = reshape_keras_config,
    .export_c = reshape_export_c,
    .aliases_input = true,
};

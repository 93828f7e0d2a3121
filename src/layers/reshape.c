/* Flatten and Reshape: the same values under another shape. Their output is
 * a view of the input (no copy); the gradient is copied back. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

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

/* ---- Keras import ---- */


static nn_status conv_flatten(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_channels_last(L)))
        return st;
    s->rank = 1;
    kx_printf(t, "type = \"flatten\";");
    return NN_OK;
}


static nn_status conv_reshape(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    json_t *v = kx_get(L, "target_shape", "dims");
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n < 1 || n > NN_MAX_DIMS - 1)
        return kx_fail(L, "\"target_shape\" must be a list of 1 to %d integers",
                       NN_MAX_DIMS - 1);
    kx_printf(t, "type = \"reshape\"; target_shape = [");
    for (size_t i = 0; i < n; i++) {
        long long d;
        if (!kx_as_int(json_array_get(v, i), &d) || d == 0 || d < -1 || d > (1LL << 30))
            return kx_fail(L, "\"target_shape\" must hold positive integers (or -1)");
        kx_printf(t, "%s%lld", i ? ", " : "", d);
    }
    kx_printf(t, "];");
    s->rank = (int)n;
    return NN_OK;
}

/* ---- ONNX export ---- */

/* Flatten and Reshape: the node's inferred shape, the batch axis copied (0). */
static nn_status onnx_map_reshape(onnx_layer *L, nn_error *err)
{
    (void)err;
    int64_t shape[NN_MAX_DIMS + 1] = {0};
    for (int i = 0; i < L->n->ndim; i++)
        shape[i + 1] = L->n->shape[i];
    L->out = onnx_op2(L->g, "Reshape", L->in[0],
                      onnx_ints(L->g, "shape", L->n->ndim + 1, shape));
    return NN_OK;
}

static const nn_doc_key flatten_keys[] = {

    {NULL, NULL, NULL, NULL},
};

static const nn_doc_key reshape_keys[] = {
    {"target_shape", "[int]", "required", "the per-sample shape; at most one -1 for the rest"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_flatten = {
    .name = "flatten",
    .keras_class = "Flatten",
    .doc = "one axis of all the input's values",
    .keys = flatten_keys,
    .keras_import = conv_flatten,
    .export_onnx = onnx_map_reshape,
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
    .doc = "the input's values in another shape",
    .keys = reshape_keys,
    .keras_import = conv_reshape,
    .export_onnx = onnx_map_reshape,
    .parse = reshape_parse,
    .infer = reshape_infer,
    .backward = reshape_backward,
    .keras_config = reshape_keras_config,
    .export_c = reshape_export_c,
    .aliases_input = true,
};

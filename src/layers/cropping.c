/* Cropping2D: rows removed above and below, columns left and right of each
 * (height, width, channels) sample (NASNet trims the row and column a
 * strided branch's padding added). The gradient is the output's, put back
 * in place, zero where the crop removed values.
 *
 * Spec: cropping = 1 | [h, w] (each on both sides) | [top, bottom, left,
 * right]. Keras: cropping = 1, (h, w) or ((top, bottom), (left, right)). */
#include "formats/onnx_layer.h"
#include "layers/sides.h"

static nn_status crop_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return nn_sides_parse(n, s, "cropping", 0, err);
}

static nn_status crop_infer(nn_node *n, nn_error *err)
{
    nn_status st = nn_sides_infer(n, -1, err);
    if (st)
        return st;
    const nn_sides *c = n->cfg;
    const nn_node *in = n->in[0];
    if ((in->shape[0] && n->shape[0] < 1) || (in->shape[1] && n->shape[1] < 1))
        return nn_node_fail(n, err, "cropping %d+%d rows and %d+%d columns leaves nothing of its "
                                    "%dx%d input",
                            c->top, c->bottom, c->left, c->right, in->shape[0], in->shape[1]);
    return NN_OK;
}

/* Copies between the output's rows and the input's kept region, a sample
 * at a time (to_out: input -> output). */
static void kept(const nn_node *n, const nn_pass *p, nn_tensor *big, nn_tensor *small,
                 bool to_out)
{
    const nn_sides *c = n->cfg;
    const nn_node *in = n->in[0];
    int H = in->shape[0], W = in->shape[1], C = in->shape[2];
    int h = n->shape[0], w = n->shape[1];
    for (int b = 0; b < p->rows; b++) {
        nn_tensor s = nn_tensor_view(small, (size_t)b * h * w * C, (size_t)h * w * C);
        size_t off = ((size_t)b * H + (size_t)c->top) * W * C;
        nn_tensor g = nn_tensor_view(big, off, (size_t)h * W * C);
        if (to_out)
            p->e->ops->copy_cols(p->e, &g, W * C, c->left * C, &s, w * C, 0, h, w * C);
        else
            p->e->ops->copy_cols(p->e, &s, w * C, 0, &g, W * C, c->left * C, h, w * C);
    }
}

static void crop_forward(nn_node *n, const nn_pass *p)
{
    kept(n, p, &n->in[0]->out, &n->out, true);
}

static void crop_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    p->e->ops->fill(p->e, dx, 0.0f, (size_t)p->rows * n->in[0]->size);
    kept(n, p, dx, &n->dout, false);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status crop_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    nn_sides_keras_config(n, "cropping", cfg);
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_cropping2d(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    return nn_sides_keras_import(L, t, s, "cropping", "cropping2d", 0);
}

static nn_status onnx_map_cropping2d(onnx_layer *L, nn_error *err)
{
    (void)err;
    const nn_sides *c = L->n->cfg;
    const nn_node *in = L->n->in[0];
    int64_t starts[2] = {c->top, c->left};
    int64_t ends[2] = {in->shape[0] - c->bottom, in->shape[1] - c->right};
    int64_t axes[2] = {1, 2};
    onnx_node nd;
    const char *out = onnx_fresh(L->g, "Slice");
    onnx_node_begin(&nd, L->g, "Slice");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_input(&nd, onnx_ints(L->g, "starts", 2, starts));
    onnx_node_input(&nd, onnx_ints(L->g, "ends", 2, ends));
    onnx_node_input(&nd, onnx_ints(L->g, "axes", 2, axes));
    onnx_node_output(&nd, out);
    onnx_node_end(&nd);
    L->out = out;
    return NN_OK;
}

static const nn_doc_key cropping_keys[] = {
    {"cropping", "int or [int]", "0", "removed: one for all sides, [rows, cols], or [top, bottom, left, right]"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_cropping2d = {
    .name = "cropping2d",
    .keras_class = "Cropping2D",
    .doc = "rows and columns removed from the edges of a (height, width, channels) input",
    .keys = cropping_keys,
    .keras_import = nn_keras_import_cropping2d,
    .export_onnx = onnx_map_cropping2d,
    .parse = crop_parse,
    .infer = crop_infer,
    .forward = crop_forward,
    .backward = crop_backward,
    .keras_config = crop_keras_config,
};

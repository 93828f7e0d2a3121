/* ZeroPadding2D: rows of zeros above and below, columns left and right of
 * each (height, width, channels) sample; the amounts may differ on each
 * side (ResNet pads 3 all round, EfficientNet and MobileNet pad only the
 * bottom and right before a strided convolution).
 *
 * Spec: padding = 1 | [h, w] (each on both sides) | [top, bottom, left,
 * right]. Keras: padding = 1, (h, w) or ((top, bottom), (left, right)). */
#include "formats/onnx_layer.h"
#include "layers/sides.h"

static nn_status pad_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    return nn_sides_parse(n, s, "padding", 1, err);
}

static nn_status pad_infer(nn_node *n, nn_error *err)
{
    return nn_sides_infer(n, 1, err);
}

/* Copies between the input's rows and the padded output's interior: one
 * sample at a time, its H rows of W*C values (to_out: input -> output). */
static void interior(const nn_node *n, const nn_pass *p, nn_tensor *small, nn_tensor *big,
                     bool to_out)
{
    const nn_sides *c = n->cfg;
    const nn_node *in = n->in[0];
    int H = in->shape[0], W = in->shape[1], C = in->shape[2];
    int Wp = n->shape[1], Hp = n->shape[0];
    for (int b = 0; b < p->rows; b++) {
        nn_tensor s = nn_tensor_view(small, (size_t)b * H * W * C, (size_t)H * W * C);
        size_t off = ((size_t)b * Hp + (size_t)c->top) * Wp * C;
        nn_tensor g = nn_tensor_view(big, off, (size_t)H * Wp * C);
        if (to_out)
            p->e->ops->copy_cols(p->e, &s, W * C, 0, &g, Wp * C, c->left * C, H, W * C);
        else
            p->e->ops->copy_cols(p->e, &g, Wp * C, c->left * C, &s, W * C, 0, H, W * C);
    }
}

static void pad_forward(nn_node *n, const nn_pass *p)
{
    p->e->ops->fill(p->e, &n->out, 0.0f, (size_t)p->rows * n->size);
    interior(n, p, &n->in[0]->out, &n->out, true);
}

static void pad_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    interior(n, p, dx, &n->dout, false);
    nn_grad_commit(n, 0, dx, p);
}

static bool pad_as_padding(const nn_node *n, int pad[4])
{
    const nn_sides *c = n->cfg;
    pad[0] = c->top, pad[1] = c->bottom, pad[2] = c->left, pad[3] = c->right;
    return true;
}

static nn_status pad_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    nn_sides_keras_config(n, "padding", cfg);
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status nn_keras_import_zero_padding2d(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    return nn_sides_keras_import(L, t, s, "padding", "zero_padding2d", 1);
}

static nn_status onnx_map_zero_padding2d(onnx_layer *L, nn_error *err)
{
    (void)err;
    const nn_sides *c = L->n->cfg;
    int64_t pads[8] = {0, c->top, c->left, 0, 0, c->bottom, c->right, 0};
    onnx_node nd;
    const char *out = onnx_fresh(L->g, L->n->name);
    onnx_node_begin(&nd, L->g, "Pad");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_input(&nd, onnx_ints(L->g, "pads", 8, pads));
    onnx_node_output(&nd, out);
    onnx_node_end(&nd);
    L->out = out;
    return NN_OK;
}

static const nn_doc_key zero_padding_keys[] = {
    {"padding", "int or [int]", "1", "rows/columns added: one for all sides, [rows, cols], or [top, bottom, left, right]"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_zero_padding2d = {
    .name = "zero_padding2d",
    .keras_class = "ZeroPadding2D",
    .doc = "zeros around a (height, width, channels) input",
    .keys = zero_padding_keys,
    .keras_import = nn_keras_import_zero_padding2d,
    .export_onnx = onnx_map_zero_padding2d,
    .parse = pad_parse,
    .infer = pad_infer,
    .forward = pad_forward,
    .backward = pad_backward,
    .as_padding = pad_as_padding,
    .keras_config = pad_keras_config,
};

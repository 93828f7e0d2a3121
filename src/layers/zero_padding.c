/* ZeroPadding2D: rows of zeros above and below, columns left and right of
 * each (height, width, channels) sample; the amounts may differ on each
 * side (ResNet pads 3 all round, EfficientNet and MobileNet pad only the
 * bottom and right before a strided convolution).
 *
 * Spec: padding = 1 | [h, w] (each on both sides) | [top, bottom, left,
 * right]. Keras: padding = 1, (h, w) or ((top, bottom), (left, right)). */
#include <stdlib.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    int top, bottom, left, right;
} pad_cfg;

static nn_status pad_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    pad_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long v[4];
    int k = 0;
    nn_status st = nn_spec_int_array(s, "padding", false, 0, 1 << 16, 4, v, &k, err);
    if (st)
        return st;
    if (!nn_spec_has(s, "padding"))
        v[0] = 1, k = 1;
    if (k == 1)
        c->top = c->bottom = c->left = c->right = (int)v[0];
    else if (k == 2)
        c->top = c->bottom = (int)v[0], c->left = c->right = (int)v[1];
    else if (k == 4)
        c->top = (int)v[0], c->bottom = (int)v[1], c->left = (int)v[2], c->right = (int)v[3];
    else
        return nn_spec_fail(s, "padding", err, NN_ERR_USAGE,
                            "expected n, [height, width] or [top, bottom, left, right]");
    return NN_OK;
}

static nn_status pad_infer(nn_node *n, nn_error *err)
{
    const pad_cfg *c = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    if (in->ndim != 3)
        return nn_node_fail(n, err, "expects (height, width, channels) samples, got %d axes",
                            in->ndim);
    n->ndim = 3;
    n->shape[0] = in->shape[0] + c->top + c->bottom;
    n->shape[1] = in->shape[1] + c->left + c->right;
    n->shape[2] = in->shape[2];
    return NN_OK;
}

/* Copies between the input's rows and the padded output's interior: one
 * sample at a time, its H rows of W*C values (to_out: input -> output). */
static void interior(const nn_node *n, const nn_pass *p, nn_tensor *small, nn_tensor *big,
                     bool to_out)
{
    const pad_cfg *c = n->cfg;
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

static nn_status pad_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const pad_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "padding",
                        json_pack("[[ii][ii]]", c->top, c->bottom, c->left, c->right));
    json_object_set_new(cfg, "data_format", json_string("channels_last"));
    return NN_OK;
}


/* ---- Keras import and ONNX export -------------------------------------- */

/* Keras's padding: n, (h, w) or ((top, bottom), (left, right)). */
static nn_status nn_keras_import_zero_padding2d(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 3);
    if (st || (st = kx_channels_last(L)))
        return st;
    json_t *v = kx_get(L, "padding", NULL);
    long long p[4] = {1, 1, 1, 1}, a, b;
    if (v && kx_as_int(v, &a)) {
        p[0] = p[1] = p[2] = p[3] = a;
    } else if (json_is_array(v) && json_array_size(v) == 2) {
        for (int i = 0; i < 2; i++) {
            json_t *e = json_array_get(v, (size_t)i);
            if (kx_as_int(e, &a))
                p[2 * i] = p[2 * i + 1] = a;
            else if (json_is_array(e) && json_array_size(e) == 2 &&
                     kx_as_int(json_array_get(e, 0), &a) && kx_as_int(json_array_get(e, 1), &b))
                p[2 * i] = a, p[2 * i + 1] = b;
            else
                v = NULL;
        }
        if (!v)
            return kx_fail(L, "\"padding\" must be n, (h, w) or ((top, bottom), (left, right))");
    } else if (v) {
        return kx_fail(L, "\"padding\" must be n, (h, w) or ((top, bottom), (left, right))");
    }
    for (int i = 0; i < 4; i++)
        if (p[i] < 0 || p[i] > (1 << 16))
            return kx_fail(L, "padding %lld is out of range", p[i]);
    kx_printf(t, "type = \"zero_padding2d\"; padding = [%lld, %lld, %lld, %lld];", p[0], p[1],
              p[2], p[3]);
    s->rank = 3;
    return NN_OK;
}

static nn_status onnx_map_zero_padding2d(onnx_layer *L, nn_error *err)
{
    (void)err;
    const pad_cfg *c = L->n->cfg;
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
    .keras_config = pad_keras_config,
};

/* UpSampling2D: each (height, width, channels) sample made size[0] times
 * taller and size[1] times wider, by repeating values (interpolation
 * "nearest", Keras's default) or by bilinear sampling with half-pixel
 * centres ("bilinear", as Keras 2 and 3 resize). Decoders, U-Nets and
 * feature pyramids use it, and so does a small image brought up to a
 * pre-built network's size (CIFAR-10's 32x32 for a MobileNetV2 base).
 * engine/upsample.h has the arithmetic both engines share.
 *
 * Spec: size = 2 | [rows, cols]; interpolation = "nearest" | "bilinear".
 * Keras: size = 2 or (rows, cols), interpolation; the other Keras 3
 * interpolations (bicubic, lanczos3, lanczos5) are refused by name. */
#include <stdlib.h>
#include <string.h>

#include "formats/keras_import.h"
#include "formats/onnx_layer.h"
#include "layers/common.h"

typedef struct {
    int sh, sw;
    bool bilinear;
} up_cfg;

static const char *const interpolations[] = {"nearest", "bilinear", NULL};

static nn_status up_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    up_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long v[2] = {2, 2};
    int k = 0, interp = 0;
    nn_status st = nn_spec_int_array(s, "size", false, 1, 1 << 12, 2, v, &k, err);
    if (st || (st = nn_spec_choice(s, "interpolation", false, interpolations, 0, &interp, err)))
        return st;
    if (k == 1)
        v[1] = v[0];
    c->sh = (int)v[0];
    c->sw = (int)v[1];
    c->bilinear = interp == 1;
    return NN_OK;
}

static nn_status up_infer(nn_node *n, nn_error *err)
{
    const up_cfg *c = n->cfg;
    nn_status st = nn_node_one_image(n, err);
    if (st)
        return st;
    const nn_node *in = n->in[0];
    if ((long long)in->shape[0] * c->sh > 1 << 20 || (long long)in->shape[1] * c->sw > 1 << 20)
        return nn_node_fail(n, err, "a %dx%d input made %dx%d larger is over 2^20 a side",
                            in->shape[0], in->shape[1], c->sh, c->sw);
    n->ndim = 3;
    /* a None (0) side stays None: the model is built again at each size */
    n->shape[0] = in->shape[0] * c->sh;
    n->shape[1] = in->shape[1] * c->sw;
    n->shape[2] = in->shape[2];
    return NN_OK;
}

static void up_forward(nn_node *n, const nn_pass *p)
{
    const up_cfg *c = n->cfg;
    const int *s = n->in[0]->shape;
    p->e->ops->upsample2d(p->e, c->bilinear, &n->in[0]->out, &n->out, p->rows, s[0], s[1], s[2],
                          c->sh, c->sw);
}

static void up_backward(nn_node *n, const nn_pass *p)
{
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    const up_cfg *c = n->cfg;
    const int *s = n->in[0]->shape;
    p->e->ops->upsample2d_backward(p->e, c->bilinear, &n->dout, dx, p->rows, s[0], s[1], s[2],
                                   c->sh, c->sw);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status up_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const up_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "size", json_pack("[ii]", c->sh, c->sw));
    json_object_set_new(cfg, "data_format", json_string("channels_last"));
    json_object_set_new(cfg, "interpolation", json_string(interpolations[c->bilinear]));
    return NN_OK;
}

/* ---- Keras import and ONNX export -------------------------------------- */

static nn_status up_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    long long size[2];
    nn_status st = kx_one_input(L, s, 3);
    if (st || (st = kx_channels_last(L)) ||
        (st = kx_want_window(L, "size", NULL, 2, 2, size)))
        return st;
    json_t *v = kx_get(L, "interpolation", NULL);
    const char *interp = json_is_string(v) ? json_string_value(v) : "nearest";
    if (v && !json_is_string(v))
        return kx_fail(L, "\"interpolation\" must be a string");
    if (strcmp(interp, "nearest") && strcmp(interp, "bilinear"))
        return kx_fail(L, "interpolation \"%s\" is not supported (nnctl has nearest and bilinear)",
                       interp);
    if (size[0] < 1 || size[1] < 1 || size[0] > 1 << 12 || size[1] > 1 << 12)
        return kx_fail(L, "size (%lld, %lld) is out of range", size[0], size[1]);
    kx_printf(t, "type = \"up_sampling2d\"; size = [%lld, %lld];", size[0], size[1]);
    kx_key_str(t, "interpolation", interp);
    s->rank = 3;
    return NN_OK;
}

/* ONNX Resize on the NHWC tensor, scales (1, rows, cols, 1): nearest as
 * floor(i / s) (asymmetric coordinates), bilinear with half-pixel ones. */
static nn_status up_export_onnx(onnx_layer *L, nn_error *err)
{
    (void)err;
    const up_cfg *c = L->n->cfg;
    const int64_t dims[1] = {4};
    const float scales[4] = {1.0f, (float)c->sh, (float)c->sw, 1.0f};
    onnx_node nd;
    const char *out = onnx_fresh(L->g, L->n->name);
    onnx_node_begin(&nd, L->g, "Resize");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_input(&nd, "");
    onnx_node_input(&nd, onnx_const_float(L->g, "scales", 1, dims, scales));
    onnx_node_output(&nd, out);
    if (c->bilinear) {
        onnx_attr_string(&nd, "mode", "linear");
        onnx_attr_string(&nd, "coordinate_transformation_mode", "half_pixel");
    } else {
        onnx_attr_string(&nd, "mode", "nearest");
        onnx_attr_string(&nd, "coordinate_transformation_mode", "asymmetric");
        onnx_attr_string(&nd, "nearest_mode", "floor");
    }
    onnx_node_end(&nd);
    L->out = out;
    return NN_OK;
}

static const nn_doc_key up_keys[] = {
    {"size", "int or [int]", "2", "how many times taller and wider: one for both, or [rows, cols]"},
    {"interpolation", "string", "\"nearest\"",
     "nearest (repeat each value) or bilinear (half-pixel centres, as Keras)"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_up_sampling2d = {
    .name = "up_sampling2d",
    .keras_class = "UpSampling2D",
    .doc = "a (height, width, channels) input made taller and wider: repeated or bilinear",
    .keys = up_keys,
    .keras_import = up_keras_import,
    .export_onnx = up_export_onnx,
    .parse = up_parse,
    .infer = up_infer,
    .forward = up_forward,
    .backward = up_backward,
    .keras_config = up_keras_config,
};

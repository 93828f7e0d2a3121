#include "layers/sides.h"

#include <stdlib.h>

nn_status nn_sides_parse(nn_node *n, nn_spec_node *s, const char *key, int def, nn_error *err)
{
    nn_sides *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long v[4];
    int k = 0;
    nn_status st = nn_spec_int_array(s, key, false, 0, 1 << 16, 4, v, &k, err);
    if (st)
        return st;
    if (!nn_spec_has(s, key))
        v[0] = def, k = 1;
    if (k == 1)
        c->top = c->bottom = c->left = c->right = (int)v[0];
    else if (k == 2)
        c->top = c->bottom = (int)v[0], c->left = c->right = (int)v[1];
    else if (k == 4)
        c->top = (int)v[0], c->bottom = (int)v[1], c->left = (int)v[2], c->right = (int)v[3];
    else
        return nn_spec_fail(s, key, err, NN_ERR_USAGE,
                            "expected n, [height, width] or [top, bottom, left, right]");
    return NN_OK;
}

nn_status nn_sides_infer(nn_node *n, int sign, nn_error *err)
{
    const nn_sides *c = n->cfg;
    nn_status st = nn_node_one_image(n, err);
    if (st)
        return st;
    const nn_node *in = n->in[0];
    n->ndim = 3;
    /* a None (0) side stays None: the model is built again at each size */
    n->shape[0] = in->shape[0] ? in->shape[0] + sign * (c->top + c->bottom) : 0;
    n->shape[1] = in->shape[1] ? in->shape[1] + sign * (c->left + c->right) : 0;
    n->shape[2] = in->shape[2];
    return NN_OK;
}

void nn_sides_keras_config(const nn_node *n, const char *key, json_t *cfg)
{
    const nn_sides *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, key, json_pack("[[ii][ii]]", c->top, c->bottom, c->left, c->right));
    json_object_set_new(cfg, "data_format", json_string("channels_last"));
}

nn_status nn_sides_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s, const char *key,
                                const char *type, long long def)
{
    nn_status st = kx_one_input(L, s, 3);
    if (st || (st = kx_channels_last(L)))
        return st;
    json_t *v = kx_get(L, key, NULL);
    long long p[4] = {def, def, def, def}, a, b;
    bool ok = true;
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
                ok = false;
        }
    } else if (v) {
        ok = false;
    }
    if (!ok)
        return kx_fail(L, "\"%s\" must be n, (h, w) or ((top, bottom), (left, right))", key);
    for (int i = 0; i < 4; i++)
        if (p[i] < 0 || p[i] > (1 << 16))
            return kx_fail(L, "%s %lld is out of range", key, p[i]);
    kx_printf(t, "type = \"%s\"; %s = [%lld, %lld, %lld, %lld];", type, key, p[0], p[1], p[2],
              p[3]);
    s->rank = 3;
    return NN_OK;
}

/* Constants that apply along the last axis: a number for every channel or
 * one for all (Rescaling, Normalization), read from a spec, written to
 * Keras configs and broadcast over a batch by the engine. */
#include <stdlib.h>

#include "layers/common.h"

#define MAX_CHANNELS (1 << 16)

nn_status nn_spec_channel_values(nn_spec_node *s, const char *key, bool required, double def,
                                 nn_channel_values *out, nn_error *err)
{
    double *tmp = malloc(MAX_CHANNELS * sizeof *tmp);
    if (!tmp)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int k = 0;
    nn_status st =
        nn_spec_float_array(s, key, required, -1e30, 1e30, MAX_CHANNELS, tmp, &k, err);
    if (!st && k == 0) {
        if (nn_spec_has(s, key)) {
            st = nn_spec_fail(s, key, err, NN_ERR_USAGE,
                              "expected a number or one number per channel, got an empty list");
        } else {
            tmp[0] = def;
            k = 1;
        }
    }
    if (!st) {
        out->v = malloc((size_t)k * sizeof *out->v);
        if (!out->v)
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        for (int i = 0; !st && i < k; i++)
            out->v[i] = (float)tmp[i];
        out->count = st ? 0 : k;
    }
    free(tmp);
    return st;
}

nn_status nn_channel_values_check(const nn_node *n, const nn_channel_values *c, const char *key,
                                  nn_error *err)
{
    int ch = n->ndim ? n->shape[n->ndim - 1] : 1;
    if (c->count == 1 || c->count == ch)
        return NN_OK;
    return nn_node_fail(n, err, "%s has %d values, but its input has %d channels (give one "
                                "value, or one per channel)",
                        key, c->count, ch);
}

json_t *nn_channel_values_json(const nn_channel_values *c)
{
    if (c->count == 1)
        return json_real(c->v[0]);
    json_t *a = json_array();
    for (int i = 0; i < c->count; i++)
        json_array_append_new(a, json_real(c->v[i]));
    return a;
}

void nn_channel_values_expand(const nn_channel_values *c, int channels, float *out)
{
    for (int i = 0; i < channels; i++)
        out[i] = c->v[c->count == 1 ? 0 : i];
}

nn_status nn_channel_values_upload(const nn_channel_values *c, nn_engine *e, nn_tensor *t,
                                   nn_error *err)
{
    int shape[1] = {c->count};
    nn_status st = e->ops->alloc(e, t, 1, shape, err);
    if (!st)
        e->ops->upload(e, t, c->v, (size_t)c->count);
    return st;
}

void nn_channel_apply(nn_engine *e, bool mul, const nn_tensor *x, const nn_tensor *g,
                      int g_count, nn_tensor *y, size_t total, int channels)
{
    int inner = g_count == 1 ? 1 : channels;
    e->ops->bcast_apply(e, mul, x, g, y, 1, (int)(total / (size_t)inner), inner);
}

#include "layers/conv_geom.h"

nn_status nn_spec_window_ints(nn_spec_node *s, const char *key, bool required, int def,
                              int rank, int *out, nn_error *err)
{
    long long v[2];
    int n = 0;
    nn_status st = nn_spec_int_array(s, key, required, 1, 1 << 16, 2, v, &n, err);
    if (st)
        return st;
    if (n == 0) {
        for (int i = 0; i < rank; i++)
            out[i] = def;
        return NN_OK;
    }
    if (n == 1) {
        for (int i = 0; i < rank; i++)
            out[i] = (int)v[0];
        return NN_OK;
    }
    if (n != rank)
        return nn_spec_fail(s, key, err, NN_ERR_USAGE, "expected %d value%s, got %d", rank,
                            rank > 1 ? "s" : "", n);
    for (int i = 0; i < rank; i++)
        out[i] = (int)v[i];
    return NN_OK;
}

nn_status nn_spec_padding(nn_spec_node *s, bool *same, nn_error *err)
{
    static const char *const pads[] = {"valid", "same", NULL};
    int idx;
    nn_status st = nn_spec_choice(s, "padding", false, pads, 0, &idx, err);
    *same = idx == 1;
    return st;
}

int nn_window_out(int in, int k, int s, int d, bool same, int *pad_before)
{
    int span = (k - 1) * d + 1;
    if (same) {
        int out = (in + s - 1) / s;
        int total = (out - 1) * s + span - in;
        if (total < 0)
            total = 0;
        *pad_before = total / 2; /* the extra row/column goes after */
        return out;
    }
    *pad_before = 0;
    return in >= span ? (in - span) / s + 1 : 0;
}

nn_conv_geom nn_window_geom(const nn_window *win, const nn_node *in, int n, int f)
{
    nn_conv_geom g = {0};
    g.n = n;
    if (win->rank == 1) { /* (steps, channels) as a 1 x steps image */
        g.h = 1, g.w = in->shape[0], g.c = in->shape[1];
        g.kh = 1, g.kw = win->k[0], g.sh = 1, g.sw = win->s[0], g.dh = 1, g.dw = win->d[0];
    } else {
        g.h = in->shape[0], g.w = in->shape[1], g.c = in->shape[2];
        g.kh = win->k[0], g.kw = win->k[1], g.sh = win->s[0], g.sw = win->s[1];
        g.dh = win->d[0], g.dw = win->d[1];
    }
    g.f = f;
    g.oh = nn_window_out(g.h, g.kh, g.sh, g.dh, win->same, &g.pad_top);
    g.ow = nn_window_out(g.w, g.kw, g.sw, g.dw, win->same, &g.pad_left);
    /* a ZeroPadding2D folded into this window (model/fuse.c): the window
     * reads the padding's input, whose buffer its output is a view of,
     * with its rows and columns as more padding (what is left over goes to
     * the bottom and right, as the geometry's padding always does) */
    int pad[4];
    if (win->rank == 2 && in->fused_away && in->type->as_padding && in->type->as_padding(in, pad)) {
        g.h = in->in[0]->shape[0], g.w = in->in[0]->shape[1];
        g.pad_top += pad[0], g.pad_left += pad[2];
    }
    return g;
}

void nn_window_keras_config(const nn_window *win, const char *size_key, bool dilation,
                            json_t *cfg)
{
    json_object_set_new(cfg, size_key, nn_window_ints_json(win, win->k));
    json_object_set_new(cfg, "strides", nn_window_ints_json(win, win->s));
    json_object_set_new(cfg, "padding", json_string(win->same ? "same" : "valid"));
    json_object_set_new(cfg, "data_format", json_string("channels_last"));
    if (dilation)
        json_object_set_new(cfg, "dilation_rate", nn_window_ints_json(win, win->d));
}

json_t *nn_window_ints_json(const nn_window *win, const int *v)
{
    json_t *a = json_array();
    for (int i = 0; i < win->rank; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

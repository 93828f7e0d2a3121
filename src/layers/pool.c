/* MaxPooling1D/2D, AveragePooling1D/2D and their global forms.
 * GlobalAveragePooling1D over a masked input (Keras's): the mean over the
 * real steps only, sum(m x) / sum(m), as weights w = m / sum(m) per step
 * (made on the host from the mask: B x T numbers a batch). */
#include <stdlib.h>
#include <string.h>

#include "formats/c_code.h"
#include "layers/conv_geom.h"
#include "formats/keras_import.h"

typedef struct {
    nn_window win;
    nn_pool_kind kind;
    bool global;
    bool keepdims; /* global: (1, 1, C) (or (1, C)) instead of (C): same values */
    /* a masked global average (planned only with a mask) */
    nn_tensor w, wx; /* (B, T) weights; (B, T, C) the weighted input */
    float *host;     /* B x T */
} pool_cfg;

static nn_status pool_parse(nn_node *n, nn_spec_node *s, int rank, nn_pool_kind kind,
                            bool global, nn_error *err)
{
    pool_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    c->win.rank = rank;
    c->kind = kind;
    c->global = global;
    c->win.d[0] = c->win.d[1] = 1;
    nn_status st;
    if (global)
        return nn_spec_bool(s, "keepdims", false, false, &c->keepdims, err);
    if ((st = nn_spec_window_ints(s, "pool_size", false, 2, rank, c->win.k, err)))
        return st;
    /* strides default to the pool size, as Keras */
    if ((st = nn_spec_window_ints(s, "strides", false, c->win.k[0], rank, c->win.s, err)))
        return st;
    if (!nn_spec_has(s, "strides"))
        for (int i = 0; i < rank; i++)
            c->win.s[i] = c->win.k[i];
    return nn_spec_padding(s, &c->win.same, err);
}

#define POOL_PARSER(fn, rank, kind, global)                                                  \
    static nn_status fn(nn_node *n, nn_spec_node *s, nn_error *err)                         \
    {                                                                                        \
        return pool_parse(n, s, rank, kind, global, err);                                    \
    }
POOL_PARSER(max1_parse, 1, NN_POOL_MAX, false)
POOL_PARSER(max2_parse, 2, NN_POOL_MAX, false)
POOL_PARSER(avg1_parse, 1, NN_POOL_AVG, false)
POOL_PARSER(avg2_parse, 2, NN_POOL_AVG, false)
POOL_PARSER(gmax1_parse, 1, NN_POOL_MAX, true)
POOL_PARSER(gmax2_parse, 2, NN_POOL_MAX, true)
POOL_PARSER(gavg1_parse, 1, NN_POOL_AVG, true)
POOL_PARSER(gavg2_parse, 2, NN_POOL_AVG, true)

/* The window over the whole input, for the global forms. */
static nn_conv_geom geom(const nn_node *n, int rows)
{
    const pool_cfg *c = n->cfg;
    const nn_node *in = n->in[0];
    nn_window win = c->win;
    if (c->global) {
        win.k[0] = win.s[0] = in->shape[0];
        if (win.rank == 2)
            win.k[1] = win.s[1] = in->shape[1];
        win.same = false;
    }
    return nn_window_geom(&win, in, rows, in->shape[in->ndim - 1]);
}

static nn_status pool_infer(nn_node *n, nn_error *err)
{
    const pool_cfg *c = n->cfg;
    const nn_node *in = n->in[0];
    int rank = c->win.rank;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    if (in->ndim != rank + 1)
        return nn_node_fail(n, err, "needs a %s input (%s, channels); got %d axes per sample",
                            rank == 1 ? "2-D" : "3-D", rank == 1 ? "steps" : "height, width",
                            in->ndim);
    /* a None (0) length stays None: the model is built again at each length */
    const bool var_h = rank == 2 && in->shape[0] == 0, var_w = in->shape[rank - 1] == 0;
    if (c->global && (var_h || var_w)) { /* a None length: any length pools to (C) */
        n->ndim = c->keepdims ? rank + 1 : 1;
        for (int i = 0; i < n->ndim; i++)
            n->shape[i] = 1;
        n->shape[n->ndim - 1] = in->shape[in->ndim - 1];
        return NN_OK;
    }
    nn_conv_geom g = geom(n, 1);
    if ((g.oh <= 0 && !var_h) || (g.ow <= 0 && !var_w))
        return nn_node_fail(n, err, "pool_size %dx%d is larger than its %dx%d input", g.kh, g.kw,
                            g.h, g.w);
    if (c->global) {
        n->ndim = c->keepdims ? rank + 1 : 1;
        for (int i = 0; i < n->ndim; i++)
            n->shape[i] = 1;
        n->shape[n->ndim - 1] = g.c;
    } else if (rank == 1) {
        n->ndim = 2;
        n->shape[0] = var_w ? 0 : g.ow;
        n->shape[1] = g.c;
    } else {
        n->ndim = 3;
        n->shape[0] = var_h ? 0 : g.oh;
        n->shape[1] = var_w ? 0 : g.ow;
        n->shape[2] = g.c;
    }
    return NN_OK;
}

/* Only a global average over steps uses a mask (Keras's
 * GlobalAveragePooling1D); the others drop it, as Keras does. */
static bool masked_mean(const nn_node *n)
{
    const pool_cfg *c = n->cfg;
    return c->global && c->kind == NN_POOL_AVG && c->win.rank == 1 && n->in[0]->mask;
}

static nn_status pool_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    pool_cfg *c = n->cfg;
    if (!masked_mean(n))
        return NN_OK;
    const int T = n->in[0]->shape[0], C = n->in[0]->shape[1];
    int ws[2] = {batch, T}, xs[3] = {batch, T, C};
    nn_status st;
    if ((st = e->ops->alloc(e, &c->w, 2, ws, err)) || (st = e->ops->alloc(e, &c->wx, 3, xs, err)))
        return st;
    if (!(c->host = malloc(sizeof *c->host * (size_t)batch * (size_t)T)))
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = c;
    return NN_OK;
}

static void pool_release(nn_node *n, nn_engine *e)
{
    pool_cfg *c = n->cfg;
    e->ops->free(e, &c->w);
    e->ops->free(e, &c->wx);
    free(c->host);
    c->host = NULL;
    n->state = NULL;
}

/* w = m / sum(m) per sample (0 / 0 for a wholly masked sample, as Keras) */
static void mask_weights(nn_node *n, const nn_pass *p)
{
    pool_cfg *c = n->cfg;
    const int T = n->in[0]->shape[0];
    p->e->ops->download(p->e, c->host, n->in[0]->mask, (size_t)p->rows * T);
    for (int b = 0; b < p->rows; b++) {
        float *m = c->host + (size_t)b * T, count = 0.0f;
        for (int t = 0; t < T; t++)
            count += m[t];
        for (int t = 0; t < T; t++)
            m[t] /= count;
    }
    p->e->ops->upload(p->e, &c->w, c->host, (size_t)p->rows * T);
}

static void pool_forward(nn_node *n, const nn_pass *p)
{
    pool_cfg *c = n->cfg;
    if (masked_mean(n)) { /* out = sum over steps of w x */
        const int T = n->in[0]->shape[0], C = n->in[0]->shape[1];
        mask_weights(n, p);
        p->e->ops->bcast_apply(p->e, true, &n->in[0]->out, &c->w, &c->wx,
                               p->rows * T, C, 1);
        p->e->ops->bcast_reduce(p->e, &c->wx, NULL, &n->out, p->rows, T, C, 0.0f);
        return;
    }
    nn_conv_geom g = geom(n, p->rows);
    p->e->ops->pool2d_forward(p->e, c->kind, &g, &n->in[0]->out, &n->out);
}

static void pool_backward(nn_node *n, const nn_pass *p)
{
    const pool_cfg *c = n->cfg;
    nn_tensor *dx = nn_grad_target(n, 0);
    if (!dx)
        return;
    if (masked_mean(n)) { /* dx = w dy, dy repeated over the steps */
        const int T = n->in[0]->shape[0], C = n->in[0]->shape[1];
        p->e->ops->fill(p->e, dx, 0.0f, (size_t)p->rows * T * C);
        p->e->ops->bcast_apply(p->e, false, dx, &n->dout, dx, p->rows, T, C);
        p->e->ops->bcast_apply(p->e, true, dx, &c->w, dx, p->rows * T, C, 1);
        nn_grad_commit(n, 0, dx, p);
        return;
    }
    nn_conv_geom g = geom(n, p->rows);
    p->e->ops->pool2d_backward(p->e, c->kind, &g, &n->in[0]->out, &n->out, &n->dout, dx);
    nn_grad_commit(n, 0, dx, p);
}

static nn_status pool_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const pool_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    if (c->global) {
        json_object_set_new(cfg, "data_format", json_string("channels_last"));
        json_object_set_new(cfg, "keepdims", json_boolean(c->keepdims));
        return NN_OK;
    }
    nn_window_keras_config(&c->win, "pool_size", false, cfg);
    return NN_OK;
}

static nn_status pool_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const pool_cfg *c = n->cfg;
    if (masked_mean(n))
        return nn_node_fail(n, err, "its input is masked (mask_zero): not exported to C");
    nn_conv_geom g = geom(n, 1);
    nn_c_pool(w, &g, c->kind == NN_POOL_MAX, nn_c_in(w, n, 0), nn_c_out(w, n));
    return nn_c_status(w, err);
}

/* ---- Keras import ---- */

/* MaxPooling1D/2D, AveragePooling1D/2D and the global forms. */
static nn_status conv_pool(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const int rank = strstr(L->row_class, "1D") ? 1 : 2;
    const bool global = strncmp(L->row_class, "Global", 6) == 0;
    const bool avg = strstr(L->row_class, "Average") != NULL;
    nn_status st = kx_one_input(L, s, rank + 1);
    if (st || (st = kx_channels_last(L)))
        return st;
    kx_printf(t, "type = \"%s%s_pooling%dd\";", global ? "global_" : "", avg ? "average" : "max",
              rank);
    if (global) {
        bool keep;
        if ((st = kx_want_bool(L, "keepdims", NULL, false, &keep)))
            return st;
        s->rank = keep ? rank + 1 : 1;
        if (keep)
            kx_key_bool(t, "keepdims", true);
        return NN_OK;
    }
    long long k[2], str[2];
    if ((st = kx_want_window(L, "pool_size", rank == 1 ? "pool_length" : NULL, rank, 2, k)) ||
        (st = kx_want_window(L, "strides", rank == 1 ? "stride" : NULL, rank, k[0], str)))
        return st;
    if (!kx_get(L, "strides", rank == 1 ? "stride" : NULL))
        for (int i = 0; i < rank; i++)
            str[i] = k[i]; /* Keras: strides default to the pool size */
    kx_key_window(t, "pool_size", rank, k);
    kx_key_window(t, "strides", rank, str);
    s->rank = rank + 1;
    return kx_write_padding(L, t);
}

static const nn_doc_key pool_keys[] = {
    {"pool_size", "int or [int]", "2", "the window"},
    {"strides", "int or [int]", "pool_size", "step of the window"},
    {"padding", "string", "\"valid\"", "valid or same"},
    {NULL, NULL, NULL, NULL},
};

static const nn_doc_key global_keys[] = {
    {"keepdims", "bool", "false", "keep the pooled axes, each of size 1"},
    {NULL, NULL, NULL, NULL},
};

static const char *const max1_aliases[] = {"MaxPool1D", NULL};
static const char *const max2_aliases[] = {"MaxPool2D", NULL};
static const char *const avg1_aliases[] = {"AvgPool1D", NULL};
static const char *const avg2_aliases[] = {"AvgPool2D", NULL};
static const char *const gmax1_aliases[] = {"GlobalMaxPool1D", NULL};
static const char *const gmax2_aliases[] = {"GlobalMaxPool2D", NULL};
static const char *const gavg1_aliases[] = {"GlobalAvgPool1D", NULL};
static const char *const gavg2_aliases[] = {"GlobalAvgPool2D", NULL};

#define POOL_TYPE(var, spec_name, keras, parser, aliases, onnx, docs, keylist)                     \
    const nn_layer_type var = {                                                              \
        .name = spec_name,                                                                   \
        .keras_class = keras,                                                                \
        .keras_aliases = aliases, \
        .doc = docs, \
        .keys = keylist, \
        .keras_import = conv_pool, \
        .export_onnx = onnx, \
        .parse = parser,                                                                     \
        .infer = pool_infer,                                                                 \
        .plan = pool_plan,                                                                   \
        .release = pool_release,                                                             \
        .forward = pool_forward,                                                             \
        .backward = pool_backward,                                                           \
        .keras_config = pool_keras_config,                                                   \
        .export_c = pool_export_c,                                                           \
    };
POOL_TYPE(nn_layer_max_pooling1d, "max_pooling1d", "MaxPooling1D", max1_parse, max1_aliases,
          onnx_map_pool, "the maximum over each window of a (steps, channels) input", pool_keys)
POOL_TYPE(nn_layer_max_pooling2d, "max_pooling2d", "MaxPooling2D", max2_parse, max2_aliases,
          onnx_map_pool, "the maximum over each window of a (height, width, channels) input",
          pool_keys)
POOL_TYPE(nn_layer_average_pooling1d, "average_pooling1d", "AveragePooling1D", avg1_parse,
          avg1_aliases, onnx_map_pool,
          "the mean over each window of a (steps, channels) input (padding not counted)",
          pool_keys)
POOL_TYPE(nn_layer_average_pooling2d, "average_pooling2d", "AveragePooling2D", avg2_parse,
          avg2_aliases, onnx_map_pool,
          "the mean over each window of a (height, width, channels) input (padding not counted)",
          pool_keys)
POOL_TYPE(nn_layer_global_max_pooling1d, "global_max_pooling1d", "GlobalMaxPooling1D",
          gmax1_parse, gmax1_aliases, onnx_map_global_pool,
          "the maximum over all steps, per channel", global_keys)
POOL_TYPE(nn_layer_global_max_pooling2d, "global_max_pooling2d", "GlobalMaxPooling2D",
          gmax2_parse, gmax2_aliases, onnx_map_global_pool,
          "the maximum over all pixels, per channel", global_keys)
POOL_TYPE(nn_layer_global_average_pooling1d, "global_average_pooling1d",
          "GlobalAveragePooling1D", gavg1_parse, gavg1_aliases, onnx_map_global_pool,
          "the mean over all steps, per channel", global_keys)
POOL_TYPE(nn_layer_global_average_pooling2d, "global_average_pooling2d",
          "GlobalAveragePooling2D", gavg2_parse, gavg2_aliases, onnx_map_global_pool,
          "the mean over all pixels, per channel", global_keys)

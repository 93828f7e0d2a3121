/* A plugin's layer as a layer row. Its forward and backward run on float
 * arrays in the engine's memory: on the CPU engine the tensors themselves;
 * on an engine off the host, the plugin's GPU functions when it has them,
 * else host copies made around each pass (said once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/common.h"
#include "layers/registry.h"
#include "plugin/internal.h"

#define ERR(e) ((nnctl_error *)(e))

typedef struct plugin_layer {
    nn_layer_type row;
    nnctl_layer_desc d;
    char module[96];
    bool said_host; /* the host-copy note was printed */
} plugin_layer;

typedef struct layer_cfg {
    plugin_layer *pl;
    void *inst;
    nn_spec_node *spec;
} layer_cfg;

/* Host copies, for engines off the host (made once per plan). */
typedef struct layer_state {
    bool copies;
    float *x[NN_MAX_INPUTS], *dx[NN_MAX_INPUTS], *y, *dy;
    float *w[NN_MAX_PARAMS], *dw[NN_MAX_PARAMS];
} layer_state;

static plugin_layer *row_of(const nn_node *n) { return (plugin_layer *)n->type; }

static void layer_defer(const nn_node *n, nn_error *e, const char *what)
{
    nn_error_defer(e->code ? e->code : NN_ERR_RUNTIME, "layer '%s' (%s): %s: %s", n->name,
                   n->type->name, what, e->msg[0] ? e->msg : "failed without a message");
}

static nn_status pl_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    plugin_layer *pl = row_of(n);
    layer_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    c->pl = pl;
    c->spec = s;
    if (pl->d.create && pl->d.create((nnctl_settings *)s, &c->inst, ERR(err))) {
        if (!err->msg[0])
            return nn_node_fail(n, err, "its plugin's create failed without a message");
        return err->code ? err->code : NN_ERR_USAGE;
    }
    return NN_OK;
}

static void pl_free_cfg(nn_node *n)
{
    layer_cfg *c = n->cfg;
    if (c && c->inst && c->pl->d.destroy)
        c->pl->d.destroy(c->inst);
    free(c);
}

static nn_status pl_infer(nn_node *n, nn_error *err)
{
    layer_cfg *c = n->cfg;
    nnctl_shapes sh = {.n = n};
    if (!c->pl->d.infer)
        return nn_node_fail(n, err, "its plugin gives no infer function");
    if (c->pl->d.infer(c->inst, &sh, ERR(err))) {
        if (!err->msg[0])
            nn_node_fail(n, err, "shape inference failed without a message");
        return err->code ? err->code : NN_ERR_USAGE;
    }
    if (!sh.output_set)
        return nn_node_fail(n, err, "its infer did not set the output shape "
                                    "(host->set_output_shape)");
    return NN_OK;
}

static void state_free(layer_state *s)
{
    for (int i = 0; i < NN_MAX_INPUTS; i++) {
        free(s->x[i]);
        free(s->dx[i]);
    }
    for (int k = 0; k < NN_MAX_PARAMS; k++) {
        free(s->w[k]);
        free(s->dw[k]);
    }
    free(s->y);
    free(s->dy);
    free(s);
}

static nn_status pl_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    plugin_layer *pl = row_of(n);
    layer_state *s = calloc(1, sizeof *s);
    if (!s)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->state = s;
    bool host = e->ops->host_ptr(e, &n->out) != NULL;
    s->copies = !host && !(pl->d.forward_gpu && pl->d.backward_gpu);
    n->preact = &n->out;
    n->dpreact = &n->dout;
    if (!s->copies)
        return NN_OK;
    if (!pl->said_host) {
        fprintf(stderr,
                "nnctl: note: plugin layer type %s has no GPU functions: it runs on the host, "
                "its tensors copied there and back around each pass\n",
                n->type->name);
        pl->said_host = true;
    }
    size_t rows = (size_t)batch;
    for (int i = 0; i < n->n_in; i++)
        if (!(s->x[i] = nn_malloc(rows * n->in[i]->size * sizeof(float), err)) ||
            !(s->dx[i] = nn_malloc(rows * n->in[i]->size * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    if (!(s->y = nn_malloc(rows * n->size * sizeof(float), err)) ||
        !(s->dy = nn_malloc(rows * n->size * sizeof(float), err)))
        return NN_ERR_RUNTIME;
    for (int k = 0; k < n->n_params; k++)
        if (!(s->w[k] = nn_malloc(n->params[k].size * sizeof(float), err)) ||
            !(s->dw[k] = nn_malloc(n->params[k].size * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    return NN_OK;
}

static void pl_release(nn_node *n, nn_engine *e)
{
    (void)e;
    if (n->state)
        state_free(n->state);
    n->state = NULL;
}

/* A tensor's floats for the plugin: the tensor itself when the engine's
 * memory is the host's or the plugin runs on the GPU, else the copy. */
static float *where(nn_engine *e, nn_tensor *t, const layer_state *s, float *copy)
{
    if (!s->copies) {
        float *h = e->ops->host_ptr(e, t);
        return h ? h : (float *)t->data;
    }
    return copy;
}

static void pl_forward(nn_node *n, const nn_pass *p)
{
    layer_cfg *c = n->cfg;
    layer_state *s = n->state;
    nn_engine *e = p->e;
    const float *x[NN_MAX_INPUTS];
    size_t xs[NN_MAX_INPUTS], ps[NN_MAX_PARAMS];
    const float *w[NN_MAX_PARAMS];
    for (int i = 0; i < n->n_in; i++) {
        xs[i] = n->in[i]->size;
        if (s->copies)
            e->ops->download(e, s->x[i], &n->in[i]->out, (size_t)p->rows * xs[i]);
        x[i] = where(e, &n->in[i]->out, s, s->x[i]);
    }
    for (int k = 0; k < n->n_params; k++) {
        ps[k] = n->params[k].size;
        if (s->copies)
            e->ops->download(e, s->w[k], &n->params[k].w, ps[k]);
        w[k] = where(e, &n->params[k].w, s, s->w[k]);
    }
    nn_tensor *out = &n->out;
    float *y = where(e, out, s, s->y);
    nnctl_pass pass = {.size = sizeof pass,
                       .rows = p->rows,
                       .training = p->training,
                       .n_inputs = n->n_in,
                       .x = x,
                       .x_size = xs,
                       .y = y,
                       .y_size = n->size,
                       .n_params = n->n_params,
                       .params = w,
                       .param_size = ps,
                       .stream = !s->copies && e->ops->native_stream ? e->ops->native_stream(e)
                                                                     : NULL};
    nn_error err = {0};
    bool gpu = !s->copies && !e->ops->host_ptr(e, out);
    nnctl_status rc = gpu ? c->pl->d.forward_gpu(c->inst, &pass, ERR(&err))
                          : c->pl->d.forward(c->inst, &pass, ERR(&err));
    if (rc) {
        layer_defer(n, &err, "forward");
        return;
    }
    if (s->copies)
        e->ops->upload(e, out, s->y, (size_t)p->rows * n->size);
}

static void pl_backward(nn_node *n, const nn_pass *p)
{
    layer_cfg *c = n->cfg;
    layer_state *s = n->state;
    nn_engine *e = p->e;
    nn_tensor *dyt = &n->dout;
    const float *x[NN_MAX_INPUTS];
    float *dx[NN_MAX_INPUTS];
    nn_tensor *dxt[NN_MAX_INPUTS];
    size_t xs[NN_MAX_INPUTS], ps[NN_MAX_PARAMS];
    const float *w[NN_MAX_PARAMS];
    float *dw[NN_MAX_PARAMS];
    for (int i = 0; i < n->n_in; i++) {
        xs[i] = n->in[i]->size;
        if (s->copies)
            e->ops->download(e, s->x[i], &n->in[i]->out, (size_t)p->rows * xs[i]);
        x[i] = where(e, &n->in[i]->out, s, s->x[i]);
        dxt[i] = nn_grad_target(n, i);
        dx[i] = dxt[i] ? where(e, dxt[i], s, s->dx[i]) : NULL;
    }
    for (int k = 0; k < n->n_params; k++) {
        nn_param *par = &n->params[k];
        ps[k] = par->size;
        if (s->copies)
            e->ops->download(e, s->w[k], &par->w, ps[k]);
        w[k] = where(e, &par->w, s, s->w[k]);
        dw[k] = par->trainable ? where(e, &par->g, s, s->dw[k]) : NULL;
    }
    if (s->copies)
        e->ops->download(e, s->dy, dyt, (size_t)p->rows * n->size);
    nnctl_pass pass = {.size = sizeof pass,
                       .rows = p->rows,
                       .training = p->training,
                       .n_inputs = n->n_in,
                       .x = x,
                       .x_size = xs,
                       .y = where(e, &n->out, s, s->y),
                       .y_size = n->size,
                       .n_params = n->n_params,
                       .params = w,
                       .param_size = ps,
                       .dy = where(e, dyt, s, s->dy),
                       .dx = dx,
                       .dparams = dw,
                       .stream = !s->copies && e->ops->native_stream ? e->ops->native_stream(e)
                                                                     : NULL};
    nn_error err = {0};
    bool gpu = !s->copies && !e->ops->host_ptr(e, dyt);
    nnctl_status rc = gpu ? c->pl->d.backward_gpu(c->inst, &pass, ERR(&err))
                          : c->pl->d.backward(c->inst, &pass, ERR(&err));
    if (rc) {
        layer_defer(n, &err, "backward");
        return;
    }
    for (int k = 0; s->copies && k < n->n_params; k++)
        if (n->params[k].trainable)
            e->ops->upload(e, &n->params[k].g, s->dw[k], ps[k]);
    for (int i = 0; i < n->n_in; i++)
        if (dxt[i]) {
            if (s->copies)
                e->ops->upload(e, dxt[i], s->dx[i], (size_t)p->rows * xs[i]);
            nn_grad_commit(n, i, dxt[i], p);
        }
}

/* Its settings, as they were written, are its Keras config. */
static nn_status pl_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const layer_cfg *c = n->cfg;
    static const char *const skip[] = {"type", "name", "inputs", "trainable", NULL};
    json_t *settings = nn_spec_group_json(c->spec, skip);
    nn_keras_config_common(n, cfg);
    if (settings)
        json_object_update(cfg, settings);
    json_decref(settings);
    return NN_OK;
}

nnctl_status nn_plugin_add_layer(nnctl_registry *reg, const nnctl_layer_desc *d)
{
    if (!d || nn_plugin_check_desc(reg, "layer", d->size,
                                   offsetof(nnctl_layer_desc, backward) + sizeof d->backward,
                                   d->name))
        return NNCTL_ERROR;
    if (!d->infer || !d->forward || !d->backward)
        return nn_plugin_refuse(reg, "layer %s needs infer, forward and backward functions",
                                d->name);
    plugin_layer *pl = calloc(1, sizeof *pl);
    if (!pl)
        return nn_plugin_refuse(reg, "out of memory");
    memcpy(&pl->d, d, d->size < sizeof pl->d ? d->size : sizeof pl->d);
    snprintf(pl->module, sizeof pl->module, "%s", reg->rec->module);
    pl->row = (nn_layer_type){.name = pl->d.name,
                              .keras_class = pl->d.keras_class ? pl->d.keras_class : pl->d.name,
                              .keras_module = pl->module,
                              .doc = pl->d.doc,
                              .keys = nn_plugin_keys(pl->d.keys),
                              .parse = pl_parse,
                              .infer = pl_infer,
                              .plan = pl_plan,
                              .forward = pl_forward,
                              .backward = pl_backward,
                              .keras_config = pl_keras_config,
                              .release = pl_release,
                              .free_cfg = pl_free_cfg,
                              .plugin = reg->rec};
    if (nn_layer_type_register(&pl->row, &reg->err)) {
        free((void *)pl->row.keys); /* refused: nothing refers to it */
        free(pl);
        return NNCTL_ERROR;
    }
    return NNCTL_OK;
}

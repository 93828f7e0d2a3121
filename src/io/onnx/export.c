/* The ONNX export driver: each layer's Keras config, weights and input
 * names handed to its row's export_onnx (formats/onnx_layer.h), in
 * topological order, then the graph's outputs and the file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/onnx/export.h"
#include "formats/onnx_layer.h"

/* ---- the driver ---- */

/* (N, shape...) with N symbolic. */
static int batch_dims(const nn_node *n, int64_t *dims)
{
    dims[0] = -1;
    for (int i = 0; i < n->ndim; i++)
        dims[i + 1] = n->shape[i];
    return n->ndim + 1;
}

/* One layer: its config and weights gathered, its mapping run. */
static nn_status export_layer(const nn_model *m, const nn_node *n, onnx_graph *g,
                              const char **names, nn_error *err)
{
    if (!n->type->export_onnx)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "ONNX export: layer '%s' (%s): no ONNX mapping for this layer type%s",
                       n->name, n->type->keras_class,
                       n->type->plugin ? " (a plugin layer)" : "");
    onnx_layer L = {.g = g, .n = n};
    for (int i = 0; i < n->n_in; i++)
        L.in[i] = names[n->in[i]->index];
    nn_status st = NN_OK;
    L.cfg = json_object();
    if (!L.cfg)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    if ((st = n->type->keras_config(n, L.cfg, err)))
        goto done;
    for (int p = 0; p < n->n_params; p++) {
        if (!(L.w[p] = nn_malloc(n->params[p].size * sizeof(float), err))) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        m->e->ops->download(m->e, L.w[p], &n->params[p].w, n->params[p].size);
    }
    g->scope = n->name;
    if (!(st = n->type->export_onnx(&L, err)))
        names[n->index] = L.out;
done:
    for (int p = 0; p < n->n_params; p++)
        free(L.w[p]);
    json_decref(L.cfg);
    return st;
}

nn_status nn_export_onnx(const nn_model *m, const char *path, nn_error *err)
{
    if (nn_model_check_unfused(m, err))
        return NN_ERR_RUNTIME;
    /* the graph's shapes and the recurrent ops' lengths are written fixed */
    for (int i = 0; i < m->n_inputs; i++)
        if (nn_model_input_variable(m->inputs[i]))
            return nn_fail(err, NN_ERR_USAGE,
                           "ONNX export: input '%s' has a variable (None) length, which is not "
                           "exported yet: give the model a fixed length",
                           m->inputs[i]->name);
    onnx_graph g;
    onnx_graph_init(&g);
    const char **names = nn_calloc((size_t)m->n_nodes, sizeof *names, err);
    if (!names)
        return NN_ERR_RUNTIME;
    int64_t dims[NN_MAX_DIMS + 1];
    for (int k = 0; k < m->n_inputs; k++) {
        const nn_node *in = m->inputs[k];
        int nd = batch_dims(in, dims);
        names[in->index] = onnx_keep(&g, in->name);
        onnx_graph_input(&g, in->name, nd, dims);
    }
    nn_status st = NN_OK;
    for (int i = 0; i < m->n_nodes && !st; i++)
        if (!nn_model_is_input(m, m->nodes[i]))
            st = export_layer(m, m->nodes[i], &g, names, err);
    for (int k = 0; k < m->n_outputs && !st; k++) {
        /* each graph output carries its output layer's name, in model order */
        const nn_node *out = m->outputs[k];
        g.scope = out->name;
        onnx_node node;
        onnx_node_begin(&node, &g, "Identity");
        onnx_node_input(&node, names[out->index]);
        onnx_node_output(&node, out->name);
        onnx_node_end(&node);
        int nd = batch_dims(out, dims);
        onnx_graph_output(&g, out->name, nd, dims);
    }
    if (!st) {
        char doc[256];
        snprintf(doc, sizeof doc, "nnctl model '%s': channels-last input, inference mode",
                 m->name);
        st = onnx_graph_write(&g, m->name, doc, path, err);
    }
    free(names);
    onnx_graph_free(&g);
    return st;
}

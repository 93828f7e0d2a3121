/* The ONNX export driver: each layer's Keras config, weights and input
 * names handed to its mapping (formats/onnx_layer.h), in topological
 * order, then the graph's output and the file. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/onnx/export.h"
#include "formats/onnx_layer.h"

/* ---- the driver ---- */

/* Mappings that live with their layer rows (layers/<type>.c). */
nn_status onnx_map_relu(onnx_layer *L, nn_error *err);
nn_status onnx_map_zero_padding2d(onnx_layer *L, nn_error *err);
nn_status onnx_map_custom_scale(onnx_layer *L, nn_error *err);
nn_status onnx_map_cropping2d(onnx_layer *L, nn_error *err);

static const struct {
    const char *keras_class;
    nn_status (*map)(onnx_layer *L, nn_error *err);
} mappings[] = {
    {"Dense", onnx_map_dense},
    {"TimeDistributed", onnx_map_dense},
    {"Activation", onnx_map_activation},
    {"Dropout", onnx_map_identity},
    {"Flatten", onnx_map_reshape},
    {"Reshape", onnx_map_reshape},
    {"BatchNormalization", onnx_map_batchnorm},
    {"Add", onnx_map_merge},
    {"Subtract", onnx_map_merge},
    {"Multiply", onnx_map_merge},
    {"Average", onnx_map_merge},
    {"Maximum", onnx_map_merge},
    {"Minimum", onnx_map_merge},
    {"Concatenate", onnx_map_merge},
    {"Embedding", onnx_map_embedding},
    {"Conv1D", onnx_map_conv},
    {"Conv2D", onnx_map_conv},
    {"DepthwiseConv2D", onnx_map_depthwise},
    {"SeparableConv2D", onnx_map_depthwise},
    {"MaxPooling1D", onnx_map_pool},
    {"MaxPooling2D", onnx_map_pool},
    {"AveragePooling1D", onnx_map_pool},
    {"AveragePooling2D", onnx_map_pool},
    {"GlobalMaxPooling1D", onnx_map_global_pool},
    {"GlobalMaxPooling2D", onnx_map_global_pool},
    {"GlobalAveragePooling1D", onnx_map_global_pool},
    {"GlobalAveragePooling2D", onnx_map_global_pool},
    {"SimpleRNN", onnx_map_rnn},
    {"LSTM", onnx_map_rnn},
    {"GRU", onnx_map_rnn},
    {"Bidirectional", onnx_map_bidirectional},
    {"ReLU", onnx_map_relu},
    {"ZeroPadding2D", onnx_map_zero_padding2d},
    {"CustomScaleLayer", onnx_map_custom_scale},
    {"Cropping2D", onnx_map_cropping2d},
};
#define N_MAPPINGS ((int)(sizeof mappings / sizeof mappings[0]))

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
    int k = 0;
    while (k < N_MAPPINGS && strcmp(mappings[k].keras_class, n->type->keras_class))
        k++;
    if (k == N_MAPPINGS)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "ONNX export: layer '%s' (%s): no ONNX mapping for this layer type",
                       n->name, n->type->keras_class);
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
    if (!(st = mappings[k].map(&L, err)))
        names[n->index] = L.out;
done:
    for (int p = 0; p < n->n_params; p++)
        free(L.w[p]);
    json_decref(L.cfg);
    return st;
}

nn_status nn_export_onnx(const nn_model *m, const char *path, nn_error *err)
{
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

/* What a layer row writes its ONNX export with: the row's export_onnx
 * (model/layer.h) gets an onnx_layer; io/onnx/export.c drives the rows.
 *
 * A mapping reads the layer's settings from its Keras config (the same JSON
 * that model files carry, so the export sees exactly what was saved), its
 * weights from host copies, and its input shapes from the nodes; it adds
 * ONNX nodes that compute, on channels-last tensors with a leading batch
 * axis, what the layer's inference forward pass computes, and sets `out`. */
#ifndef NN_FORMATS_ONNX_LAYER_H
#define NN_FORMATS_ONNX_LAYER_H

#include <jansson.h>

#include "formats/onnx_graph.h"
#include "model/model.h"

typedef struct onnx_layer {
    onnx_graph *g;
    const nn_node *n;
    json_t *cfg;                  /* the layer's Keras "config" */
    const char *in[NN_MAX_INPUTS];/* input tensor names */
    float *w[NN_MAX_PARAMS];      /* host copies of n->params[k] */
    const char *out;              /* the mapping's result */
} onnx_layer;

/* "ONNX export: layer 'name' (Class): ..." (a runtime error, exit status 1). */
nn_status onnx_layer_fail(const onnx_layer *L, nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The host copy of the parameter named name (NULL when the layer has
 * none), and its declaration when p is not NULL. */
const float *onnx_param(const onnx_layer *L, const char *name, const nn_param **p);

/* Config readers (a missing or mistyped key gives def). */
long long onnx_cfg_int(const json_t *cfg, const char *key, long long def);
double onnx_cfg_real(const json_t *cfg, const char *key, double def);
bool onnx_cfg_bool(const json_t *cfg, const char *key, bool def);
const char *onnx_cfg_str(const json_t *cfg, const char *key, const char *def);
/* An int or a list of ints (kernel_size = 3 or [3, 3]) into out[0..rank). */
void onnx_cfg_ints(const json_t *cfg, const char *key, int rank, int def, int *out);

/* An activation applied to x (x itself for linear). */
const char *onnx_activation(onnx_graph *g, const char *x, nn_act act, float alpha);
/* Transpose with a permutation. */
const char *onnx_transpose(onnx_graph *g, const char *x, int n, const int64_t *perm);

#endif

/* Window geometry shared by convolution and pooling layers (Keras rules). */
#ifndef NN_LAYERS_CONV_GEOM_H
#define NN_LAYERS_CONV_GEOM_H

#include "layers/common.h"

typedef struct nn_window {
    int rank;            /* 1 (Conv1D, pooling 1D) or 2 */
    int k[2], s[2], d[2];
    bool same;           /* padding "same", else "valid" */
} nn_window;

/* Reads an int or a list of `rank` ints (kernel_size = 3 or [3, 3]). */
nn_status nn_spec_window_ints(nn_spec_node *s, const char *key, bool required, int def,
                              int rank, int *out, nn_error *err);
nn_status nn_spec_padding(nn_spec_node *s, bool *same, nn_error *err);

/* Output size along one axis, and the padding before it. */
int nn_window_out(int in, int k, int s, int d, bool same, int *pad_before);

/* The geometry for n samples of node n's input (h, w, c), f filters. */
nn_conv_geom nn_window_geom(const nn_window *win, const nn_node *in, int n, int f);

json_t *nn_window_ints_json(const nn_window *win, const int *v);
/* kernel_size (or pool_size: size_key), strides, padding, data_format and,
 * for convolutions, dilation_rate, as Keras writes them. */
void nn_window_keras_config(const nn_window *win, const char *size_key, bool dilation,
                            json_t *cfg);

/* The window's keys in a layer's nn_doc_key table, as every convolution
 * (Conv1D/2D, DepthwiseConv2D, SeparableConv2D) documents them. */
#define NN_DOC_WINDOW_KEYS                                                                   \
    {"kernel_size", "int or [int]", "required", "the window, one size per spatial axis or one " \
     "for all"},                                                                             \
    {"strides", "int or [int]", "1", "step of the window"},                                  \
    {"dilation_rate", "int or [int]", "1", "spacing of the window's taps (strides must be 1 " \
     "when > 1)"},                                                                           \
    {"padding", "string", "\"valid\"", "valid, or same (the odd pixel at the bottom/right, "  \
     "as Keras)"}

/* ONNX export of the convolution family (conv_onnx.c): Conv1D/2D,
 * Depthwise/SeparableConv2D, Max/AveragePooling1D/2D, Global*Pooling1D/2D. */
nn_status onnx_map_conv(onnx_layer *L, nn_error *err);
nn_status onnx_map_depthwise(onnx_layer *L, nn_error *err);
nn_status onnx_map_pool(onnx_layer *L, nn_error *err);
nn_status onnx_map_global_pool(onnx_layer *L, nn_error *err);

#endif

/* A model as an ONNX file (opset 13) that computes what nnctl's inference
 * forward pass computes: the input is channels-last like the model's, with
 * a symbolic batch axis "N" ((N, H, W, C) images, (N, T, F) sequences,
 * (N, T) token ids as floats), and the output is the output layer's. */
#ifndef NN_IO_ONNX_EXPORT_H
#define NN_IO_ONNX_EXPORT_H

#include "model/model.h"

/* m must be allocated with its weights loaded. A layer without an ONNX
 * mapping is an error naming it. Writes path atomically. */
nn_status nn_export_onnx(const nn_model *m, const char *path, nn_error *err);

#endif

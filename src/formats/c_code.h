/* What a layer row writes its part of a C export with (nnctl export
 * --format c, io/c/export.h: one self-contained C99 header per model).
 *
 * Each layer type writes its own part through an export_c hook
 * (nn_layer_type) with the writer below: the hook asks where its inputs and
 * output live (nn_c_in/nn_c_out: C expressions valid inside the layer's
 * block of the generated function), names its weight arrays (nn_c_param)
 * and emits calls of the header's kernels (nn_c_dense, nn_c_conv, ...). The
 * writer plans the scratch memory (a buffer lives from its layer to its
 * last consumer) and writes only the kernels the model uses. Writer calls
 * never fail on their own: an error sticks in the writer and the hook
 * returns nn_c_status(w, err). */
#ifndef NN_FORMATS_C_CODE_H
#define NN_FORMATS_C_CODE_H

#include <stdbool.h>
#include <stddef.h>

#include "model/model.h"

/* Input i's values ("x", or "x0", "x1", ... for several inputs). */
const char *nn_c_in(nn_c_writer *w, const nn_node *n, int i);
/* Where n writes its n->size output values ("y"). */
const char *nn_c_out(nn_c_writer *w, const nn_node *n);
/* n's output is input 0's values unchanged (Flatten, Reshape, inference
 * Dropout): no code. */
void nn_c_alias(nn_c_writer *w, const nn_node *n);
/* Working memory of `count` floats for the current layer only ("t0"...). */
const char *nn_c_temp(nn_c_writer *w, size_t count);

/* The array holding parameter k of n (written to the header on first use). */
const char *nn_c_param(nn_c_writer *w, const nn_node *n, int k);
/* Parameter k of n as host floats (owned by the writer; NULL on error). */
const float *nn_c_values(nn_c_writer *w, const nn_node *n, int k);
/* An array of values derived at export time, named after n and `what`. */
const char *nn_c_const(nn_c_writer *w, const nn_node *n, const char *what, const float *v,
                       size_t count);

/* The sticky error (OK, or the first failure) into err. */
nn_status nn_c_status(const nn_c_writer *w, nn_error *err);

/* ---- kernels (formats/c_kernels.c); x, y, W... are expressions from above ---- */

/* y = x W (+ b) for `rows` rows of `in` values; W is in x out; b may be NULL. */
void nn_c_dense(nn_c_writer *w, const char *x, const char *y, size_t rows, int in, int out,
                const char *W, const char *b);
/* Convolution (Keras kernel layout (kh, kw, c, f)) plus bias (b may be NULL). */
void nn_c_conv(nn_c_writer *w, const nn_conv_geom *g, const char *x, const char *y,
               const char *K, const char *b);
/* Depthwise convolution, kernel (kh, kw, c, f / c). */
void nn_c_depthwise(nn_c_writer *w, const nn_conv_geom *g, const char *x, const char *y,
                    const char *K);
void nn_c_pool(nn_c_writer *w, const nn_conv_geom *g, bool is_max, const char *x,
               const char *y);
/* y[r, c] += b[c] */
void nn_c_bias(nn_c_writer *w, const char *y, size_t rows, int cols, const char *b);
/* y = act(x) (x may be y); softmax over rows of `cols`. */
void nn_c_activation(nn_c_writer *w, nn_act act, float alpha, const char *x, const char *y,
                     size_t rows, int cols);
/* y[r, c] = x[r, c] * scale[c] + shift[c] */
void nn_c_affine(nn_c_writer *w, const char *x, const char *y, size_t rows, int cols,
                 const char *scale, const char *shift);

typedef enum { NN_C_ADD, NN_C_SUB, NN_C_MUL, NN_C_MAX, NN_C_MIN } nn_c_op;
void nn_c_copy(nn_c_writer *w, const char *y, const char *x, size_t count);
/* y = y op x, elementwise (max/min keep y on ties, as nnctl) */
void nn_c_ewise(nn_c_writer *w, nn_c_op op, const char *y, const char *x, size_t count);
void nn_c_scale(nn_c_writer *w, const char *y, size_t count, float s);
/* y[o, off + c] = x[o, c] for o < outer, c < cols; y has out_cols columns. */
void nn_c_concat(nn_c_writer *w, const char *x, const char *y, size_t outer, size_t cols,
                 size_t out_cols, size_t off);
/* y[i, :] = table[ids[i], :] for `count` ids held as floats (zeros outside). */
void nn_c_embedding(nn_c_writer *w, const char *ids, const char *y, size_t count, int vocab,
                    int dim, const char *table);
/* One recurrent layer over a (T, F) sequence (bias b may be NULL); y gets
 * the last state, or every step's (processing order, or input order with
 * reverse_out). */
void nn_c_rnn(nn_c_writer *w, const nn_rnn_cell *cell, const char *x, const char *y, int T,
              int F, const char *W, const char *R, const char *b, bool backwards,
              bool sequences, bool reverse_out);

#endif

/* nnctl predict's inputs: one model input's samples from PNG images, IDX
 * files, .npy arrays and HDF5 datasets, read back in batches as the float32
 * the model takes. */
#ifndef NN_CLI_PREDICT_IN_H
#define NN_CLI_PREDICT_IN_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/predict_out.h"
#include "data/npy.h"
#include "model/layer.h"

/* One file's samples: rows [first, first + n) of the input's uint8 store
 * (kind 'u': PNG, IDX) or float store ('f': an HDF5 dataset), or a .npy
 * file ('n') read a batch at a time. */
typedef struct nn_predict_src {
    char kind;
    const char *path; /* rows are named path[i] */
    char *own;        /* path, when it was made here (a folder's file) */
    bool whole;       /* one sample named by the path alone (a PNG, a one-sample .npy) */
    size_t first, n;
} nn_predict_src;

typedef struct nn_predict_in {
    const nn_node *node; /* the model input */
    size_t per;          /* values a sample */
    uint8_t *u8;         /* PNG and IDX samples, as stored */
    size_t n_u8, cap_u8;
    float *f32;          /* HDF5 samples */
    size_t n_f32;
    nn_predict_src *src;
    int n_src, cap_src;
    size_t total;
    int at;              /* reading: the source, the rows read from it, its .npy reader */
    size_t done;
    nn_npy_reader r;
    bool open;
    int preprocess;      /* data.preprocess applied after the scale (nn_preprocess), or 0 */
    const struct nn_featurewise *featurewise; /* then data.featurewise_*'s statistics, or NULL */
} nn_predict_in;

/* How images are fitted to the input (predict's --resize, --crop, --invert). */
typedef struct nn_predict_in_opts {
    bool resize, crop, invert;
} nn_predict_in_opts;

void nn_predict_in_init(nn_predict_in *in, const nn_node *node);
/* An image (PNG, JPEG: one sample), IDX file (every sample), .npy (a batch,
 * or one sample of exactly the input's shape), or a folder (every PNG and
 * JPEG in it and its sub-folders, in path order), checked against the input. */
nn_status nn_predict_in_add(nn_predict_in *in, const char *path, const nn_predict_in_opts *o,
                            nn_error *err);
/* Is path an HDF5 file (by its signature)? */
bool nn_predict_is_h5(const char *path);
/* An HDF5 file holding one dataset per input, named after it: shape
 * (N, *input shape), or the input shape for one sample. */
nn_status nn_predict_in_add_h5(nn_predict_in *ins, int n_inputs, const char *path,
                               nn_error *err);
/* The next k samples into x (k * per floats), divided by scale as the
 * training data were; names (may be NULL) gets each row's name. */
nn_status nn_predict_in_read(nn_predict_in *in, float *x, size_t k, float scale,
                             nn_row_name *names, nn_error *err);
void nn_predict_in_free(nn_predict_in *in);

/* A model input with a None (variable, 0) dimension? */
bool nn_predict_in_variable(const nn_node *in);
/* A .npy file for such an input, a batch (N, *input shape): the lengths it
 * brings (dims: the input's shape with each None filled in from the file)
 * and its samples; an error names the file and both shapes. */
nn_status nn_predict_in_lengths(const nn_node *in, const char *path, int *dims, size_t *rows,
                                nn_error *err);

#endif

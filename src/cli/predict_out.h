/* Where nnctl predict's results go, a batch of rows at a time: each row's
 * reading printed (its classes, or its values; text or --json), a layer's
 * values as CSV or JSON on stdout, or a file of the whole (N, *shape) array
 * (.npy, .csv, anything else HDF5) written to a temporary name and renamed
 * when complete. */
#ifndef NN_CLI_PREDICT_OUT_H
#define NN_CLI_PREDICT_OUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "data/npy.h"
#include "util/error.h"

/* A row's input: "path" (index < 0) or "path[index]". */
typedef struct nn_row_name {
    const char *path;
    long long index;
} nn_row_name;

typedef enum {
    NN_OUT_READING, /* "name: class (p) ..." lines, or a JSON array with --json */
    NN_OUT_VALUES,  /* every value: CSV rows, or a JSON array with --json */
    NN_OUT_NPY,
    NN_OUT_CSV_FILE,
    NN_OUT_HDF5
} nn_out_kind;

/* How a row of the model's output is read (NN_OUT_READING). */
typedef enum {
    NN_READ_TOP_K,       /* softmax: the k likeliest classes and their probabilities */
    NN_READ_BINARY,      /* one sigmoid unit p: class 1 when p > threshold, else 0,
                          * with that class's probability (p, or 1 - p) */
    NN_READ_MULTI_LABEL, /* independent sigmoid units: every unit over the threshold */
    NN_READ_VALUES       /* regression: the values themselves */
} nn_read_kind;

typedef struct nn_predict_reading {
    nn_read_kind how;
    int top_k;
    double threshold;
    const char *const *labels; /* class names (label k is labels[k]), or NULL */
    int n_labels;
} nn_predict_reading;

typedef struct nn_predict_out {
    nn_out_kind kind;
    bool json;                 /* files: a JSON summary on stdout when done */
    nn_predict_reading read;
    const char *path, *name;   /* the file; the layer (HDF5 dataset name) */
    int ndim;                  /* the array: (N, *layer shape) */
    size_t shape[NN_NPY_MAX_DIMS];
    size_t width, done;        /* values a row; rows written */
    json_t *arr;
    FILE *csv;
    char *tmp;                 /* CSV and HDF5 files: the temporary name */
    nn_npy_writer npy;
    void *h5;                  /* HDF5 ids (predict_out.c) */
    int *cls;                  /* readings: a row's classes, likeliest first */
    double *prob;              /* and their probabilities (width each) */
} nn_predict_out;

/* values: every value of the layer `name` (shape ndim, shape) as CSV or
 * JSON rather than each row's reading `read`; path: the file (NULL:
 * stdout); n: the rows to come. */
nn_status nn_predict_out_open(nn_predict_out *o, const char *path, bool values, bool json,
                              const nn_predict_reading *read, const char *name, size_t n,
                              int ndim, const int *shape, nn_error *err);
nn_status nn_predict_out_rows(nn_predict_out *o, const float *v, const nn_row_name *names,
                              int rows, nn_error *err);
/* Completes the output (renames the file into place, prints JSON). */
nn_status nn_predict_out_finish(nn_predict_out *o, nn_error *err);
/* Frees everything; an unfinished file is removed. */
void nn_predict_out_free(nn_predict_out *o);

#endif

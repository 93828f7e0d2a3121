/* Where nnctl predict's results go, a batch of rows at a time: the top
 * classes printed (text or --json), a layer's values as CSV or JSON on
 * stdout, or a file of the whole (N, *shape) array (.npy, .csv, anything
 * else HDF5) written to a temporary name and renamed when complete. */
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
    NN_OUT_TOP_K,   /* "name: class (p) ..." lines, or a JSON array with --json */
    NN_OUT_VALUES,  /* every value: CSV rows, or a JSON array with --json */
    NN_OUT_NPY,
    NN_OUT_CSV_FILE,
    NN_OUT_HDF5
} nn_out_kind;

typedef struct nn_predict_out {
    nn_out_kind kind;
    bool json;                 /* files: a JSON summary on stdout when done */
    int top_k;
    const char *path, *name;   /* the file; the layer (HDF5 dataset name) */
    int ndim;                  /* the array: (N, *layer shape) */
    size_t shape[NN_NPY_MAX_DIMS];
    size_t width, done;        /* values a row; rows written */
    json_t *arr;
    FILE *csv;
    char *tmp;                 /* CSV and HDF5 files: the temporary name */
    nn_npy_writer npy;
    void *h5;                  /* HDF5 ids (predict_out.c) */
} nn_predict_out;

/* values: every value of the layer `name` (shape ndim, shape) rather than
 * the top classes; path: the file (NULL: stdout); n: the rows to come. */
nn_status nn_predict_out_open(nn_predict_out *o, const char *path, bool values, bool json,
                              int top_k, const char *name, size_t n, int ndim, const int *shape,
                              nn_error *err);
nn_status nn_predict_out_rows(nn_predict_out *o, const float *v, const nn_row_name *names,
                              int rows, nn_error *err);
/* Completes the output (renames the file into place, prints JSON). */
nn_status nn_predict_out_finish(nn_predict_out *o, nn_error *err);
/* Frees everything; an unfinished file is removed. */
void nn_predict_out_free(nn_predict_out *o);

#endif

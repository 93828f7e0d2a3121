/* NumPy .npy arrays: read (format versions 1.0, 2.0, 3.0) and write
 * (float32, version 1.0), so batches and activations travel to and from
 * Python without a conversion script.
 *
 * A file is the magic "\x93NUMPY", the version (two bytes), the header's
 * length (uint16 little-endian for 1.0, uint32 for 2.0/3.0), the header (a
 * Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape':
 * (2, 3), }) and the elements, row-major. Read: C order only; dtypes '<f4',
 * '<f8' (converted to float32), '|u1', '<i4', '<i8'. Every error names the
 * file and what was wrong; sizes are checked against the file's length
 * before anything is allocated. Reading: npy.c; writing: npy_write.c;
 * format "npy" datasets: npy_dataset.c. */
#ifndef NN_DATA_NPY_H
#define NN_DATA_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "data/dataset.h"
#include "util/error.h"

#define NN_NPY_MAX_DIMS 8
#define NN_NPY_MAX_HEADER (1u << 20) /* numpy's own headers are < 1 KiB */

typedef enum { NN_NPY_F4, NN_NPY_F8, NN_NPY_U1, NN_NPY_I4, NN_NPY_I8 } nn_npy_dtype;

typedef struct nn_npy_info {
    nn_npy_dtype dtype;
    char descr[16];              /* as written, e.g. "<f4" */
    int ndim;
    size_t shape[NN_NPY_MAX_DIMS];
    size_t count;                /* product of shape (1 for shape ()) */
    size_t itemsize;             /* bytes per element */
    size_t offset;               /* where the elements start */
} nn_npy_info;

/* An open file, read front to back in pieces (a batch at a time). */
typedef struct nn_npy_reader {
    FILE *f;
    const char *path;            /* the caller's string, for messages */
    nn_npy_info info;
    size_t next;                 /* elements read so far */
} nn_npy_reader;

/* Opens path and checks its header and length. */
nn_status nn_npy_open(const char *path, nn_npy_reader *r, nn_error *err);
void nn_npy_close(nn_npy_reader *r);
/* Just the header (opens, checks, closes). */
nn_status nn_npy_stat(const char *path, nn_npy_info *info, nn_error *err);

/* The next n elements as float32. Integers must lie in (-2^24, 2^24), where
 * float32 holds them exactly; float64 must fit float32's range; NaN and
 * infinity are refused. Errors name the element ("element [3, 1]"). */
nn_status nn_npy_read_f32(nn_npy_reader *r, float *out, size_t n, nn_error *err);
/* The next n elements of a '|u1' file as they are. */
nn_status nn_npy_read_u8(nn_npy_reader *r, uint8_t *out, size_t n, nn_error *err);
/* The next n elements of an integer file as class labels (or ids): integers
 * in [0, NN_SEQ_MAX_ID), which float32 holds exactly. */
nn_status nn_npy_read_labels(nn_npy_reader *r, int32_t *out, size_t n, nn_error *err);

/* "(3, 28, 28)" as numpy prints a shape ("(5,)" for one axis). */
void nn_npy_shape_str(const size_t *shape, int ndim, char *buf, size_t cap);
/* Whether the dtype holds integers (|u1, <i4, <i8). */
int nn_npy_is_integer(nn_npy_dtype t);

/* A float32 .npy file written in pieces to "<path>.tmp.<pid>", then fsynced
 * and renamed over path by commit; nothing appears at path before. */
typedef struct nn_npy_writer {
    FILE *f;
    char *path, *tmp;
    size_t left;                 /* elements still to come */
} nn_npy_writer;

nn_status nn_npy_writer_open(nn_npy_writer *w, const char *path, int ndim, const size_t *shape,
                             nn_error *err);
nn_status nn_npy_writer_put(nn_npy_writer *w, const float *v, size_t n, nn_error *err);
/* Fails (and removes the temporary file) unless every element was put. */
nn_status nn_npy_writer_commit(nn_npy_writer *w, nn_error *err);
/* Drops an unfinished file (safe after commit, and on a zeroed writer). */
void nn_npy_writer_abort(nn_npy_writer *w);
/* A whole array at once (version 1.0, '<f4', header padded as numpy pads
 * it, so the bytes equal np.save's). */
nn_status nn_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape,
                           nn_error *err);

/* Format "npy" (data_spec.h): samples from x_path (first axis: samples, at
 * most NN_DATA_MAX_DIMS more axes; '|u1' stays uint8 like IDX images, the
 * other dtypes become float32) and targets from y_path, whose first axis
 * must match: integers of shape (N) or (N, 1) are class labels (n_classes =
 * max + 1, at least 2), floats of shape (N) or (N, 1) regression targets. */
nn_status nn_npy_load_dataset(const char *x_path, const char *y_path, nn_dataset *out,
                              nn_error *err);
/* The same with several files (n_x, n_y >= 1), for multi-input /
 * multi-output models: x_paths[0] and y_paths[0] load into out itself,
 * x_paths[k] into out->more_x[k - 1] (samples only), y_paths[k] into
 * out->more_y[k - 1] (labels or targets only). Every file must hold as many
 * samples as x_paths[0]; the error names both files and both counts. Names
 * (x_name, y_name) are left "". */
nn_status nn_npy_load_parts(const char *const *x_paths, int n_x, const char *const *y_paths,
                            int n_y, nn_dataset *out, nn_error *err);

#endif

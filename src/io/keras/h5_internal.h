/* Private to the HDF5 model file code (h5file.c, h5_write.c, h5_read.c). */
#ifndef NN_IO_KERAS_H5_INTERNAL_H
#define NN_IO_KERAS_H5_INTERNAL_H

#include <hdf5.h>

#include "io/keras/h5file.h"

/* Keras's HDF5_OBJECT_HEADER_LIMIT: name lists above this are split. */
#define H5_ATTR_LIMIT 64512
/* Refuse datasets above this many elements (16 GiB of float32). */
#define H5_MAX_ELEMS ((size_t)1 << 32)
#define NNCTL_FORMAT_VERSION 1

/* Closes *id with fn when open, and marks it closed. */
void nn_h5__close_id(hid_t *id, herr_t (*fn)(hid_t));
/* HDF5 prints nothing on its own: errors come back as values. */
void nn_h5__quiet_hdf5(void);
/* "'path': <what>" plus ": <hdf5 detail>" when HDF5 gave one (call right
 * after the failing HDF5 call). */
nn_status nn_h5__fail(nn_error *err, const char *path, const char *what);
/* A variable-length string type of that character set (-1 on failure). */
hid_t nn_h5__vlen_str_type(H5T_cset_t cset);

/* Where the reader puts each weight's n floats (the sandbox's child: its
 * shared arena); NULL with err set when there is no room. */
typedef struct nn_h5_alloc {
    float *(*fn)(void *ctx, size_t n, nn_error *err);
    void *ctx;
    /* a weight stored as plain little-endian float32 bytes in one run of
     * the file (contiguous, no filters) is not read: its array says where
     * (in_file), and the sandbox's parent reads it into its own memory,
     * as fast as libhdf5 in-process would, where the arena's shared pages
     * cost twice over (the child's faults, then the parent's) */
    bool leave_plain_in_file;
} nn_h5_alloc;
/* The reader itself (h5_read.c): alloc NULL puts the floats in malloc'd
 * arrays; the optimizer's state only when asked (nn_h5_load_checkpoint). */
nn_status nn_h5__read(const char *path, nn_h5_model *m, const nn_h5_alloc *alloc,
                      bool with_optimizer, nn_error *err);
/* The sandbox's seccomp filter (h5_child.c), for this process from now
 * on: files open read-only, no executable memory, writes only to fd 3 (the
 * child's pipe), no network, fork or exec. 0 on success, else -1 with
 * errno set (ENOSYS: no seccomp here). */
#define NN_H5_SANDBOX_PIPE_FD 3
int nn_h5__confine(void);
/* Unmaps a model's arena (h5_sandbox.c). */
void nn_h5__arena_release(void *arena, size_t len);

#endif

/* The table an MPI plugin (nnctl-mpi-<impl>.so, built from mpi_plugin.c
 * against one MPI library's mpi.h) gives nnctl. nnctl itself never links
 * an MPI library: it loads the plugin with dlopen only when a launcher
 * (mpirun, mpiexec, srun) started it as one of several processes, so a
 * plain nnctl neither loads nor initialises MPI. Open MPI and MPICH differ
 * in their binary interface (handles are pointers in one, integers in the
 * other): one plugin per library, chosen from the launcher's environment.
 *
 * Every function returns 0 on success, else writes MPI's own message into
 * err (n bytes) and returns non-zero. Counts are element counts; the
 * plugin splits what does not fit MPI's int counts. */
#ifndef NN_DIST_MPI_ABI_H
#define NN_DIST_MPI_ABI_H

#include <stddef.h>

#define NN_MPI_ABI_VERSION 1
#define NN_MPI_PLUGIN_SYMBOL "nn_mpi_plugin"

typedef enum { NN_MPI_FLOAT = 0, NN_MPI_DOUBLE, NN_MPI_INT64 } nn_mpi_type;
typedef enum { NN_MPI_SUM = 0, NN_MPI_MAX, NN_MPI_MIN } nn_mpi_op;

/* The most non-blocking operations in flight at once (gradient buckets). */
#define NN_MPI_MAX_REQUESTS 256

typedef struct nn_mpi_ops {
    int abi_version; /* NN_MPI_ABI_VERSION */
    const char *impl; /* "openmpi" or "mpich": the plugin's build */
    /* MPI_Init_thread (funneled), errors returned rather than fatal;
     * library: MPI_Get_library_version's first line. */
    int (*init)(int *rank, int *size, char *library, size_t library_len, char *err, size_t n);
    int (*finalize)(void);
    void (*abort)(int code);
    /* 1 when the library takes device (CUDA) pointers, else 0. */
    int (*cuda_aware)(void);
    int (*allreduce)(void *buf, size_t count, nn_mpi_type type, nn_mpi_op op, char *err,
                     size_t n);
    /* Non-blocking allreduce in place of at most 2^30 elements; *req
     * identifies it for test/wait (at most NN_MPI_MAX_REQUESTS in flight). */
    int (*iallreduce)(void *buf, size_t count, nn_mpi_type type, nn_mpi_op op, int *req,
                      char *err, size_t n);
    /* *done = 1 once request req has completed (it is then freed). */
    int (*test)(int req, int *done, char *err, size_t n);
    int (*wait)(int req, char *err, size_t n);
    int (*bcast)(void *buf, size_t bytes, int root, char *err, size_t n);
    /* recv[rank * bytes ...] = every rank's send (bytes each) */
    int (*allgather)(const void *send, size_t bytes, void *recv, char *err, size_t n);
    /* Point to point (sweeps): blocking send of bytes to dest with tag;
     * probe: is a message waiting (source -1: any)? Its source, tag and
     * size; recv: that message. */
    int (*send)(const void *buf, size_t bytes, int dest, int tag, char *err, size_t n);
    int (*iprobe)(int source, int tag, int *flag, int *from, int *tag_out, size_t *bytes,
                  char *err, size_t n);
    int (*recv)(void *buf, size_t bytes, int source, int tag, char *err, size_t n);
} nn_mpi_ops;

typedef const nn_mpi_ops *(*nn_mpi_plugin_fn)(void);

#endif

/* The MPI plugin: nnctl's table of MPI calls (mpi_abi.h), compiled against
 * one MPI library's mpi.h into nnctl-mpi-<impl>.so. Only this file sees
 * mpi.h; nnctl loads it with dlopen when a launcher started it. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mpi.h>
#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h> /* MPIX_Query_cuda_support, where the build has it */
#endif

#include "dist/mpi_abi.h"

#ifndef NN_MPI_IMPL
#define NN_MPI_IMPL "mpi"
#endif

/* the largest element count one MPI call takes (its counts are int) */
#define CHUNK ((size_t)1 << 30)

static MPI_Request requests[NN_MPI_MAX_REQUESTS];

static int fail(int rc, const char *what, char *err, size_t n)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    snprintf(err, n, "%s: %s", what, text);
    return rc ? rc : 1;
}

static MPI_Datatype mpi_type(nn_mpi_type t)
{
    return t == NN_MPI_FLOAT ? MPI_FLOAT : t == NN_MPI_DOUBLE ? MPI_DOUBLE : MPI_INT64_T;
}

static size_t type_size(nn_mpi_type t) { return t == NN_MPI_FLOAT ? 4 : 8; }

static MPI_Op mpi_op(nn_mpi_op op) { return op == NN_MPI_SUM ? MPI_SUM : op == NN_MPI_MAX ? MPI_MAX : MPI_MIN; }

static int p_init(int *rank, int *size, char *library, size_t library_len, char *err, size_t n)
{
    int provided, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) {
        snprintf(err, n, "MPI_Init_thread failed (code %d)", rc);
        return rc;
    }
    /* errors come back as codes, so nnctl can say which rank and host */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    char v[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[strcspn(v, "\r\n,")] = '\0';
    snprintf(library, library_len, "%s", v);
    for (int i = 0; i < NN_MPI_MAX_REQUESTS; i++)
        requests[i] = MPI_REQUEST_NULL;
    return 0;
}

static int p_finalize(void) { return MPI_Finalize(); }

static void p_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

static int p_cuda_aware(void)
{
#if defined(MPIX_CUDA_AWARE_SUPPORT) && MPIX_CUDA_AWARE_SUPPORT
    return MPIX_Query_cuda_support() ? 1 : 0;
#else
    return 0;
#endif
}

static int p_allreduce(void *buf, size_t count, nn_mpi_type type, nn_mpi_op op, char *err,
                       size_t n)
{
    char *p = buf;
    for (size_t done = 0; done < count;) {
        size_t k = count - done < CHUNK ? count - done : CHUNK;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * type_size(type), (int)k, mpi_type(type),
                               mpi_op(op), MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return fail(rc, "MPI_Allreduce", err, n);
        done += k;
    }
    return 0;
}

static int p_iallreduce(void *buf, size_t count, nn_mpi_type type, nn_mpi_op op, int *req,
                        char *err, size_t n)
{
    /* one call each: the caller's pieces (gradient buckets) stay below
     * MPI's int counts, and collectives must start in the same order on
     * every rank (a piece started later, at test time, would not) */
    if (count > CHUNK) {
        snprintf(err, n, "MPI_Iallreduce: %zu elements in one reduction is too many", count);
        return 1;
    }
    int slot = 0;
    while (slot < NN_MPI_MAX_REQUESTS && requests[slot] != MPI_REQUEST_NULL)
        slot++;
    if (slot == NN_MPI_MAX_REQUESTS) {
        snprintf(err, n, "more than %d reductions in flight", NN_MPI_MAX_REQUESTS);
        return 1;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)count, mpi_type(type), mpi_op(op),
                            MPI_COMM_WORLD, &requests[slot]);
    if (rc != MPI_SUCCESS)
        return fail(rc, "MPI_Iallreduce", err, n);
    *req = slot;
    return 0;
}

static int p_test(int req, int *done, char *err, size_t n)
{
    *done = 1;
    if (req < 0 || req >= NN_MPI_MAX_REQUESTS)
        return 0;
    int rc = MPI_Test(&requests[req], done, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Test", err, n);
}

static int p_wait(int req, char *err, size_t n)
{
    if (req < 0 || req >= NN_MPI_MAX_REQUESTS)
        return 0;
    int rc = MPI_Wait(&requests[req], MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Wait", err, n);
}

static int p_bcast(void *buf, size_t bytes, int root, char *err, size_t n)
{
    char *p = buf;
    for (size_t done = 0; done < bytes;) {
        size_t k = bytes - done < CHUNK ? bytes - done : CHUNK;
        int rc = MPI_Bcast(p + done, (int)k, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return fail(rc, "MPI_Bcast", err, n);
        done += k;
    }
    return 0;
}

static int p_allgather(const void *send, size_t bytes, void *recv, char *err, size_t n)
{
    if (bytes > INT_MAX) {
        snprintf(err, n, "MPI_Allgather: %zu bytes per rank is too many", bytes);
        return 1;
    }
    int rc = MPI_Allgather(send, (int)bytes, MPI_BYTE, recv, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Allgather", err, n);
}

static int p_send(const void *buf, size_t bytes, int dest, int tag, char *err, size_t n)
{
    if (bytes > INT_MAX) {
        snprintf(err, n, "MPI_Send: %zu bytes is too many", bytes);
        return 1;
    }
    int rc = MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Send", err, n);
}

static int p_iprobe(int source, int tag, int *flag, int *from, int *tag_out, size_t *bytes,
                    char *err, size_t n)
{
    MPI_Status s;
    int rc = MPI_Iprobe(source < 0 ? MPI_ANY_SOURCE : source, tag < 0 ? MPI_ANY_TAG : tag,
                        MPI_COMM_WORLD, flag, &s);
    if (rc != MPI_SUCCESS)
        return fail(rc, "MPI_Iprobe", err, n);
    if (*flag) {
        int count = 0;
        MPI_Get_count(&s, MPI_BYTE, &count);
        *from = s.MPI_SOURCE;
        *tag_out = s.MPI_TAG;
        *bytes = (size_t)count;
    }
    return 0;
}

static int p_recv(void *buf, size_t bytes, int source, int tag, char *err, size_t n)
{
    if (bytes > INT_MAX) {
        snprintf(err, n, "MPI_Recv: %zu bytes is too many", bytes);
        return 1;
    }
    int rc = MPI_Recv(buf, (int)bytes, MPI_BYTE, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? 0 : fail(rc, "MPI_Recv", err, n);
}

static const nn_mpi_ops ops = {
    .abi_version = NN_MPI_ABI_VERSION,
    .impl = NN_MPI_IMPL,
    .init = p_init,
    .finalize = p_finalize,
    .abort = p_abort,
    .cuda_aware = p_cuda_aware,
    .allreduce = p_allreduce,
    .iallreduce = p_iallreduce,
    .test = p_test,
    .wait = p_wait,
    .bcast = p_bcast,
    .allgather = p_allgather,
    .send = p_send,
    .iprobe = p_iprobe,
    .recv = p_recv,
};

__attribute__((visibility("default"))) const nn_mpi_ops *nn_mpi_plugin(void) { return &ops; }

/* The GPU engine's collectives for data-parallel training: gradients
 * summed on the device by NCCL, loaded with dlopen (libnccl.so.2) when a
 * run first asks for it, so a build, and every run on one process, works
 * without it. Sums run on a stream of their own: each waits for the work
 * queued before it on the engine's stream (an event), and the engine's
 * stream waits for all of them at comm_wait, so they overlap the backward
 * work queued after them. Without NCCL comm_init fails and the caller
 * sums through MPI (src/dist/data_parallel.c). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nccl.h>

#include "engine/gpu/gpu_internal.h"

typedef struct nccl_lib {
    void *so;
    ncclResult_t (*get_unique_id)(ncclUniqueId *id);
    ncclResult_t (*init_rank)(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank);
    ncclResult_t (*all_reduce)(const void *send, void *recv, size_t count, ncclDataType_t type,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream);
    ncclResult_t (*destroy)(ncclComm_t comm);
    ncclResult_t (*async_error)(ncclComm_t comm, ncclResult_t *err);
    ncclResult_t (*version)(int *v);
    const char *(*error_string)(ncclResult_t r);
} nccl_lib;

/* one communicator for the process (one engine trains at a time) */
static struct {
    nccl_lib lib;
    ncclComm_t comm;
    cudaStream_t stream;
    cudaEvent_t queued, done;
    nn_engine *engine;
} nc;

static bool load(nccl_lib *l, char *why, size_t n)
{
    if (l->so)
        return true;
    const char *names[] = {"libnccl.so.2", "libnccl.so", NULL};
    for (int i = 0; names[i] && !l->so; i++)
        l->so = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!l->so) {
        snprintf(why, n, "no NCCL library (libnccl.so.2): %s", dlerror());
        return false;
    }
#define SYM(field, name)                                                  \
    if (!(*(void **)&l->field = dlsym(l->so, name))) {                   \
        snprintf(why, n, "the NCCL library lacks %s", name);             \
        dlclose(l->so);                                                   \
        l->so = NULL;                                                     \
        return false;                                                     \
    }
    SYM(get_unique_id, "ncclGetUniqueId");
    SYM(init_rank, "ncclCommInitRank");
    SYM(all_reduce, "ncclAllReduce");
    SYM(destroy, "ncclCommDestroy");
    SYM(async_error, "ncclCommGetAsyncError");
    SYM(version, "ncclGetVersion");
    SYM(error_string, "ncclGetErrorString");
#undef SYM
    return true;
}

static nn_status nccl_fail(nn_error *err, const char *what, ncclResult_t r)
{
    return nn_fail(err, NN_ERR_RUNTIME, "NCCL %s: %s", what,
                   nc.lib.error_string ? nc.lib.error_string(r) : "failed");
}

nn_status nn_gpu_comm_init(nn_engine *e, int rank, int size, nn_bcast_fn bcast, void *ctx,
                           char *desc, size_t desc_len, nn_error *err)
{
    char why[256];
    /* every rank learns whether every rank can: a rank without NCCL must
     * not leave the others waiting in ncclCommInitRank (rank 0's id goes
     * out with its answer) */
    struct {
        int ok;
        ncclUniqueId id;
    } msg;
    memset(&msg, 0, sizeof msg);
    bool have = load(&nc.lib, why, sizeof why);
    if (getenv("NNCTL_NCCL") && !strcmp(getenv("NNCTL_NCCL"), "0")) {
        have = false;
        snprintf(why, sizeof why, "NCCL turned off (NNCTL_NCCL=0)");
    }
    msg.ok = have;
    if (rank == 0 && have && nc.lib.get_unique_id(&msg.id) != ncclSuccess)
        msg.ok = 0;
    if (bcast(ctx, &msg, sizeof msg))
        return nn_fail(err, NN_ERR_RUNTIME, "the MPI broadcast of NCCL's id failed");
    if (!msg.ok || !have)
        return nn_fail(err, NN_ERR_RUNTIME, "%s", have ? "NCCL is missing on rank 0" : why);
    gpu_impl *g = nn_gpu(e);
    ncclResult_t r = nc.lib.init_rank(&nc.comm, size, msg.id, rank);
    if (r != ncclSuccess)
        return nccl_fail(err, "ncclCommInitRank", r);
    if (cudaStreamCreateWithFlags(&nc.stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreateWithFlags(&nc.queued, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventCreateWithFlags(&nc.done, cudaEventDisableTiming) != cudaSuccess)
        return nn_fail(err, NN_ERR_RUNTIME, "CUDA streams for NCCL could not be made");
    nc.engine = e;
    (void)g;
    int v = 0;
    nc.lib.version(&v);
    snprintf(desc, desc_len, "NCCL %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    return NN_OK;
}

nn_status nn_gpu_comm_sum_start(nn_engine *e, nn_tensor *t, size_t n, nn_error *err)
{
    gpu_impl *g = nn_gpu(e);
    /* after the work that produced t, before the work queued next */
    if (cudaEventRecord(nc.queued, g->stream) != cudaSuccess ||
        cudaStreamWaitEvent(nc.stream, nc.queued, 0) != cudaSuccess)
        return nn_fail(err, NN_ERR_RUNTIME, "CUDA event for NCCL failed");
    ncclResult_t r = nc.lib.all_reduce(t->data, t->data, n, ncclFloat, ncclSum, nc.comm, nc.stream);
    return r == ncclSuccess ? NN_OK : nccl_fail(err, "ncclAllReduce", r);
}

nn_status nn_gpu_comm_wait(nn_engine *e, nn_error *err)
{
    gpu_impl *g = nn_gpu(e);
    /* the engine's stream (the optimizer step next) waits for every sum;
     * the host does not */
    if (cudaEventRecord(nc.done, nc.stream) != cudaSuccess ||
        cudaStreamWaitEvent(g->stream, nc.done, 0) != cudaSuccess)
        return nn_fail(err, NN_ERR_RUNTIME, "CUDA event for NCCL failed");
    ncclResult_t async = ncclSuccess;
    nc.lib.async_error(nc.comm, &async);
    return async == ncclSuccess ? NN_OK : nccl_fail(err, "(a rank failed?)", async);
}

void nn_gpu_comm_free(nn_engine *e)
{
    if (nc.engine != e)
        return;
    cudaStreamSynchronize(nc.stream);
    nc.lib.destroy(nc.comm);
    cudaEventDestroy(nc.queued);
    cudaEventDestroy(nc.done);
    cudaStreamDestroy(nc.stream);
    nc.engine = NULL;
}

void nn_gpu_sync(nn_engine *e) { cudaStreamSynchronize(nn_gpu(e)->stream); }

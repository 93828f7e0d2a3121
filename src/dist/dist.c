/* Loading the MPI plugin and the collectives over it (dist.h). */
#include "dist/dist.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist/mpi_abi.h"
#include "util/fileio.h"

#define HOST_MAX 64

struct nn_dist {
    void *lib;
    const nn_mpi_ops *ops;
    int rank, size;
    char library[160];
    const char *launcher;
    char (*hosts)[HOST_MAX];
    long *pids;
    bool lost; /* a rank died: MPI_Finalize would wait for it */
};

static nn_status mpi_fail(const nn_dist *d, nn_error *err, const char *msg)
{
    return nn_fail(err, NN_ERR_RUNTIME,
                   "MPI failed on rank %d (%s): %s; another rank may have died or lost its "
                   "connection (see the launcher's messages)",
                   d->rank, d->hosts ? d->hosts[d->rank] : "?", msg);
}

/* <dir of this executable>/<name>, then <dir>/../lib/nnctl/<name> (an
 * installed nnctl), then <dir>/../<name> (the build's tools) */
static bool find_plugin(const char *name, char *path, size_t n)
{
    const char *forced = getenv("NNCTL_MPI_PLUGIN");
    if (forced && *forced) {
        snprintf(path, n, "%s", forced);
        return access(path, R_OK) == 0;
    }
    char exe[PATH_MAX];
    if (!nn_exe_dir(exe, sizeof exe, 0))
        return false;
    snprintf(path, n, "%s/%s", exe, name);
    if (access(path, R_OK) == 0)
        return true;
    snprintf(path, n, "%s/../lib/nnctl/%s", exe, name);
    if (access(path, R_OK) == 0)
        return true;
    /* the build's tools and tests (build/tools/, build/tests/) */
    snprintf(path, n, "%s/../%s", exe, name);
    return access(path, R_OK) == 0;
}

static const char *package_of(const char *impl)
{
    return !strcmp(impl, "mpich") ? "MPICH (Debian: libmpich-dev)"
                                  : "Open MPI (Debian: libopenmpi-dev)";
}

nn_status nn_dist_join(nn_dist **out, nn_error *err)
{
    *out = NULL;
    nn_launch l = nn_launch_detect();
    if (!nn_launch_parallel(&l))
        return NN_OK;
    if (!l.impl)
        return nn_fail(err, NN_ERR_USAGE,
                       "started by %s as process %d of %d, but without MPI: nnctl needs an MPI "
                       "launcher (mpirun, mpiexec, or srun --mpi=pmix)",
                       l.by, l.rank, l.size);
    char name[64], path[PATH_MAX + 64];
    snprintf(name, sizeof name, "nnctl-mpi-%s.so", l.impl);
    if (!find_plugin(name, path, sizeof path))
        return nn_fail(err, NN_ERR_USAGE,
                       "started by %s as process %d of %d, but this nnctl was built without MPI "
                       "support for %s (no %s beside the nnctl binary or in ../lib/nnctl/): "
                       "install %s (scripts/install-deps does) and rebuild with make; or run "
                       "nnctl without mpirun",
                       l.by, l.rank, l.size, l.impl, name, package_of(l.impl));
    nn_dist *d = calloc(1, sizeof *d);
    if (!d)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    d->launcher = l.by;
    d->rank = l.rank;
    d->size = l.size;
    /* global: Open MPI's own components resolve libmpi's symbols */
    d->lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    nn_mpi_plugin_fn fn = d->lib ? (nn_mpi_plugin_fn)dlsym(d->lib, NN_MPI_PLUGIN_SYMBOL) : NULL;
    if (!fn) {
        nn_fail(err, NN_ERR_RUNTIME, "cannot load the MPI plugin %s: %s", path, dlerror());
        goto fail;
    }
    d->ops = fn();
    if (!d->ops || d->ops->abi_version != NN_MPI_ABI_VERSION) {
        nn_fail(err, NN_ERR_RUNTIME,
                "the MPI plugin %s belongs to another nnctl version: rebuild nnctl (make)", path);
        goto fail;
    }
    char msg[512];
    int rank, size;
    if (d->ops->init(&rank, &size, d->library, sizeof d->library, msg, sizeof msg)) {
        nn_fail(err, NN_ERR_RUNTIME, "MPI could not start (%s): %s", name, msg);
        goto fail;
    }
    d->rank = rank;
    d->size = size;
    if (!(d->hosts = calloc((size_t)size, sizeof *d->hosts))) {
        nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        d->ops->abort(1);
    }
    char me[HOST_MAX] = "";
    gethostname(me, sizeof me - 1);
    long pid = (long)getpid();
    if (!(d->pids = calloc((size_t)size, sizeof *d->pids)) ||
        d->ops->allgather(me, HOST_MAX, d->hosts, msg, sizeof msg) ||
        d->ops->allgather(&pid, sizeof pid, d->pids, msg, sizeof msg)) {
        mpi_fail(d, err, d->pids ? msg : "out of memory");
        d->ops->abort(1);
    }
    for (int i = 0; i < size; i++)
        d->hosts[i][HOST_MAX - 1] = '\0';
    *out = d;
    return NN_OK;
fail:
    if (d->lib)
        dlclose(d->lib);
    free(d);
    return NN_ERR_RUNTIME;
}

void nn_dist_lost(nn_dist *d)
{
    if (d)
        d->lost = true;
}

void nn_dist_leave(nn_dist *d)
{
    if (!d)
        return;
    if (!d->lost)
        d->ops->finalize();
    /* the library stays loaded: MPI may have left threads and handlers */
    free(d->hosts);
    free(d->pids);
    free(d);
}

long nn_dist_pid(const nn_dist *d, int rank)
{
    return d && rank >= 0 && rank < d->size ? d->pids[rank] : (long)getpid();
}

int nn_dist_rank(const nn_dist *d) { return d ? d->rank : 0; }
int nn_dist_size(const nn_dist *d) { return d ? d->size : 1; }
bool nn_dist_is_root(const nn_dist *d) { return !d || d->rank == 0; }

const char *nn_dist_host(const nn_dist *d, int rank)
{
    return d && rank >= 0 && rank < d->size ? d->hosts[rank] : "localhost";
}

const char *nn_dist_library(const nn_dist *d) { return d ? d->library : "none"; }
const char *nn_dist_launcher(const nn_dist *d) { return d ? d->launcher : "none"; }
bool nn_dist_cuda_aware(const nn_dist *d) { return d && d->ops->cuda_aware(); }

static nn_status reduce(nn_dist *d, void *v, size_t n, nn_mpi_type type, nn_mpi_op op,
                        nn_error *err)
{
    if (!d || n == 0)
        return NN_OK;
    char msg[512];
    return d->ops->allreduce(v, n, type, op, msg, sizeof msg) ? mpi_fail(d, err, msg) : NN_OK;
}

nn_status nn_dist_sum(nn_dist *d, double *v, size_t n, nn_error *err)
{
    return reduce(d, v, n, NN_MPI_DOUBLE, NN_MPI_SUM, err);
}

nn_status nn_dist_sum_floats(nn_dist *d, float *v, size_t n, nn_error *err)
{
    return reduce(d, v, n, NN_MPI_FLOAT, NN_MPI_SUM, err);
}

nn_status nn_dist_max(nn_dist *d, double *v, size_t n, nn_error *err)
{
    return reduce(d, v, n, NN_MPI_DOUBLE, NN_MPI_MAX, err);
}

nn_status nn_dist_min(nn_dist *d, double *v, size_t n, nn_error *err)
{
    return reduce(d, v, n, NN_MPI_DOUBLE, NN_MPI_MIN, err);
}

nn_status nn_dist_bcast(nn_dist *d, void *buf, size_t bytes, nn_error *err)
{
    if (!d || bytes == 0)
        return NN_OK;
    char msg[512];
    return d->ops->bcast(buf, bytes, 0, msg, sizeof msg) ? mpi_fail(d, err, msg) : NN_OK;
}

nn_status nn_dist_agree(nn_dist *d, nn_status st, nn_error *err)
{
    if (!d)
        return st;
    /* the lowest failed rank speaks for everyone */
    double first = st ? (double)d->rank : (double)d->size;
    nn_error e2 = {0};
    if (nn_dist_min(d, &first, 1, &e2)) {
        *err = e2;
        return NN_ERR_RUNTIME;
    }
    if (first >= d->size)
        return NN_OK;
    int root = (int)first;
    struct {
        int code;
        char msg[sizeof err->msg];
    } m;
    memset(&m, 0, sizeof m);
    if (d->rank == root) {
        m.code = st;
        if (root == 0)
            snprintf(m.msg, sizeof m.msg, "%s", err->msg);
        else
            snprintf(m.msg, sizeof m.msg, "rank %d (%s): %s", root, d->hosts[root], err->msg);
    }
    char msg[512];
    if (d->ops->bcast(&m, sizeof m, root, msg, sizeof msg))
        return mpi_fail(d, err, msg);
    err->code = (nn_status)m.code;
    snprintf(err->msg, sizeof err->msg, "%s", m.msg);
    return err->code ? err->code : NN_ERR_RUNTIME;
}

static nn_status ireduce(nn_dist *d, void *v, size_t n, nn_mpi_type type, int *req,
                         nn_error *err)
{
    *req = -1;
    if (!d || n == 0)
        return NN_OK;
    char msg[512];
    return d->ops->iallreduce(v, n, type, NN_MPI_SUM, req, msg, sizeof msg) ? mpi_fail(d, err, msg)
                                                                            : NN_OK;
}

nn_status nn_dist_isum_floats(nn_dist *d, float *v, size_t n, int *req, nn_error *err)
{
    return ireduce(d, v, n, NN_MPI_FLOAT, req, err);
}

nn_status nn_dist_isum(nn_dist *d, double *v, size_t n, int *req, nn_error *err)
{
    return ireduce(d, v, n, NN_MPI_DOUBLE, req, err);
}

nn_status nn_dist_test(nn_dist *d, int req, bool *done, nn_error *err)
{
    *done = true;
    if (!d || req < 0)
        return NN_OK;
    int flag = 0;
    char msg[512];
    if (d->ops->test(req, &flag, msg, sizeof msg))
        return mpi_fail(d, err, msg);
    *done = flag != 0;
    return NN_OK;
}

nn_status nn_dist_wait(nn_dist *d, int req, nn_error *err)
{
    if (!d || req < 0)
        return NN_OK;
    char msg[512];
    return d->ops->wait(req, msg, sizeof msg) ? mpi_fail(d, err, msg) : NN_OK;
}

nn_status nn_dist_send(nn_dist *d, const void *buf, size_t bytes, int to, int tag, nn_error *err)
{
    char msg[512];
    return d->ops->send(buf, bytes, to, tag, msg, sizeof msg) ? mpi_fail(d, err, msg) : NN_OK;
}

nn_status nn_dist_probe(nn_dist *d, int from, int tag, bool *waiting, int *src, int *tag_out,
                        size_t *bytes, nn_error *err)
{
    int flag = 0;
    char msg[512];
    if (d->ops->iprobe(from, tag, &flag, src, tag_out, bytes, msg, sizeof msg))
        return mpi_fail(d, err, msg);
    *waiting = flag != 0;
    return NN_OK;
}

nn_status nn_dist_recv(nn_dist *d, void *buf, size_t bytes, int from, int tag, nn_error *err)
{
    char msg[512];
    return d->ops->recv(buf, bytes, from, tag, msg, sizeof msg) ? mpi_fail(d, err, msg) : NN_OK;
}

void nn_dist_abort(nn_dist *d, int code)
{
    if (d)
        d->ops->abort(code);
    _exit(code);
}

void nn_dist_describe_plugins(char *buf, size_t len)
{
    static const char *const impls[2][2] = {{"openmpi", "Open MPI"}, {"mpich", "MPICH"}};
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < 2; i++) {
        char name[64], path[PATH_MAX + 64];
        snprintf(name, sizeof name, "nnctl-mpi-%s.so", impls[i][0]);
        if (find_plugin(name, path, sizeof path) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                                     impls[i][1]);
    }
    if (used && used < len)
        snprintf(buf + used, len - used, " (under mpirun/mpiexec/srun: data-parallel train, "
                                         "eval, sweep)");
    else if (!used)
        snprintf(buf, len, "none (built without MPI: install libopenmpi-dev and rebuild)");
}

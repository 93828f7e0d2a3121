/* nnctl's side of an MPI job: which process this is, the collectives the
 * fit loop, evaluation and sweeps use, and how the processes agree on
 * failures. The MPI library itself is behind a plugin (mpi_abi.h) loaded
 * only when a launcher started several processes; everywhere else a NULL
 * nn_dist stands for "one process" and every function here accepts it
 * (rank 0 of 1, collectives that do nothing). */
#ifndef NN_DIST_DIST_H
#define NN_DIST_DIST_H

#include <stdbool.h>
#include <stddef.h>

#include "dist/launcher.h"
#include "util/error.h"

typedef struct nn_dist nn_dist;

/* Joins the job a launcher started (nn_launch_detect): loads the MPI
 * plugin for its library, initialises MPI, learns every rank's host.
 * *out = NULL for a plain process. Fails (the same on every rank) when a
 * launcher started several processes but this nnctl has no plugin for its
 * MPI library, or MPI cannot start. */
nn_status nn_dist_join(nn_dist **out, nn_error *err);
/* Finalizes MPI (every rank must get here) and frees d. After
 * nn_dist_lost, MPI is not finalized (its finalization waits for every
 * rank, dead ones too): the process just ends when main returns. */
void nn_dist_leave(nn_dist *d);
/* A rank died and the job goes on without it (a sweep under mpirun
 * --enable-recovery). */
void nn_dist_lost(nn_dist *d);

int nn_dist_rank(const nn_dist *d);
int nn_dist_size(const nn_dist *d);
const char *nn_dist_host(const nn_dist *d, int rank);
/* A rank's process id on its host (a launcher that reports a dead process
 * by pid, as MPICH's does, can be matched to a rank). */
long nn_dist_pid(const nn_dist *d, int rank);
/* "Open MPI v4.1.4" (the library's own words) and how it was launched */
const char *nn_dist_library(const nn_dist *d);
const char *nn_dist_launcher(const nn_dist *d);
/* Does the MPI library take GPU (CUDA) pointers? */
bool nn_dist_cuda_aware(const nn_dist *d);

/* Collectives: every rank calls them in the same order. Failures name the
 * rank and host ("a rank may have died"). */
nn_status nn_dist_sum(nn_dist *d, double *v, size_t n, nn_error *err);
nn_status nn_dist_sum_floats(nn_dist *d, float *v, size_t n, nn_error *err);
nn_status nn_dist_max(nn_dist *d, double *v, size_t n, nn_error *err);
nn_status nn_dist_min(nn_dist *d, double *v, size_t n, nn_error *err);
/* bytes from rank 0 to every rank */
nn_status nn_dist_bcast(nn_dist *d, void *buf, size_t bytes, nn_error *err);
/* Every rank learns whether any rank failed since the last agreement:
 * returns NN_OK when none did, else the status of the lowest failed rank,
 * with that rank's message in err on every rank (prefixed with "rank R
 * (host): " when it is not rank 0). */
nn_status nn_dist_agree(nn_dist *d, nn_status st, nn_error *err);

/* Non-blocking sums in place (at most 2^30 values each): *req for
 * test/wait. test also moves MPI's progress along. */
nn_status nn_dist_isum_floats(nn_dist *d, float *v, size_t n, int *req, nn_error *err);
nn_status nn_dist_isum(nn_dist *d, double *v, size_t n, int *req, nn_error *err);
nn_status nn_dist_test(nn_dist *d, int req, bool *done, nn_error *err);
nn_status nn_dist_wait(nn_dist *d, int req, nn_error *err);

/* Point to point (sweeps): a blocking send, a probe for a waiting message
 * (from -1: any rank; tag -1: any tag) and its receive. */
nn_status nn_dist_send(nn_dist *d, const void *buf, size_t bytes, int to, int tag,
                       nn_error *err);
nn_status nn_dist_probe(nn_dist *d, int from, int tag, bool *waiting, int *src, int *tag_out,
                        size_t *bytes, nn_error *err);
nn_status nn_dist_recv(nn_dist *d, void *buf, size_t bytes, int from, int tag, nn_error *err);

/* Ends the whole job at once (a rank that cannot go on without leaving
 * the others waiting). */
void nn_dist_abort(nn_dist *d, int code);

/* For --version: the MPI libraries this nnctl can run under, e.g.
 * "Open MPI, MPICH (mpirun/mpiexec: data-parallel train, eval, sweep)",
 * or that it has none. */
void nn_dist_describe_plugins(char *buf, size_t len);

/* Should this process print? (rank 0, or a plain process) */
bool nn_dist_is_root(const nn_dist *d);

#endif

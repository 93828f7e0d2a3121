/* Data-parallel training over the processes of an MPI job. Every process
 * holds the whole model and runs its share of each (global) batch; the
 * gradients are summed in buckets that start while backward is still
 * running on earlier layers, so communication overlaps computation; the
 * loss and metric sums of the batch are summed alongside. The fit loop
 * sees this only through nn_replicas (model/layer.h). */
#ifndef NN_DIST_DATA_PARALLEL_H
#define NN_DIST_DATA_PARALLEL_H

#include "dist/dist.h"
#include "model/model.h"

typedef struct nn_data_parallel nn_data_parallel;

/* Moves every trainable gradient of m into one block, laid out in the
 * order backward finishes them (each param's g becomes a view into it),
 * and plans buckets of about bucket_mb megabytes over it. Picks how the
 * sums run: in host memory through MPI; for an engine off the host, the
 * engine's own collectives (NCCL) when it has them, else MPI on device
 * memory when the library is CUDA-aware, else through page-locked host
 * buffers. */
nn_status nn_dp_create(nn_data_parallel **out, nn_dist *d, nn_model *m, double bucket_mb,
                       nn_error *err);
void nn_dp_free(nn_data_parallel *dp);

/* "2 ranks; gradients (1.3 MB) in 1 bucket of up to 25 MB, summed in host
 * memory by Open MPI v4.1.4" */
const char *nn_dp_describe(const nn_data_parallel *dp);

/* The hooks for one training batch of batch_rows rows (over every
 * process). Once the batch's loss is known, fill(ctx, stats) writes
 * n_stats doubles (loss parts, metric sums) that are summed over the
 * processes along with the gradients; both are done when
 * nn_batch_gradients returns. */
nn_replicas *nn_dp_batch(nn_data_parallel *dp, int batch_rows,
                         void (*fill)(void *ctx, double *stats), void *ctx, double *stats,
                         size_t n_stats);
/* A process whose share of a batch is empty: zero gradients and the
 * stats it was given, summed with the others'. */
nn_status nn_dp_empty_batch(nn_data_parallel *dp, double *stats, size_t n_stats, nn_error *err);
/* The first communication error of the last batch, NN_OK when none. */
nn_status nn_dp_status(nn_data_parallel *dp, nn_error *err);
/* Seconds spent waiting for the sums after backward (what the overlap did
 * not hide, and other ranks' lateness), over every batch so far. */
double nn_dp_waited(const nn_data_parallel *dp);

/* Model state shared by the processes: parameters (and, with slots, the
 * optimizer's) sent from rank 0 to every rank; a check that every rank
 * holds the same parameters (an error names the ranks and hosts that
 * differ); moving statistics (nn_param.moving) averaged over the ranks. */
nn_status nn_dist_bcast_model(nn_dist *d, nn_model *m, bool slots, nn_error *err);
nn_status nn_dist_check_model(nn_dist *d, nn_model *m, nn_error *err);
nn_status nn_dist_average_moving(nn_dist *d, nn_model *m, nn_error *err);

#endif

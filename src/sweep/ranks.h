/* A sweep over the ranks of an MPI job (mpirun -np N nnctl sweep): rank 0
 * schedules and proposes trials; every other rank runs the trials rank 0
 * hands it (-j at a time, each a process as in a local sweep) and says how
 * each ended. Trials read and write the sweep's run directory, so it must
 * be on a file system every host shares.
 *
 * Ranks that die: the other ranks hear from every rank once a second; one
 * silent for NNCTL_RANK_TIMEOUT seconds (default 10) is given up, and its
 * running trials go to the other ranks (they resume from their last.h5).
 * The job itself survives a dead rank only when the launcher lets it:
 * mpirun --enable-recovery (Open MPI), mpiexec -disable-auto-cleanup
 * (MPICH); otherwise the launcher ends the job and rerunning the sweep
 * resumes it. */
#ifndef NN_SWEEP_RANKS_H
#define NN_SWEEP_RANKS_H

#include "dist/dist.h"
#include "sweep/scheduler.h"

/* Rank 0: as nn_sweep_run, with every other rank's o->jobs slots. */
nn_status nn_sweep_run_ranks(nn_dist *d, const nn_sweep *sw, nn_trials *ts,
                             const nn_sweep_sched *o, int *stop_signal, nn_error *err);

/* Every other rank: runs what rank 0 sends until it says the sweep is
 * over. abs_dir: the sweep's run directory (absolute, rank 0's). */
nn_status nn_sweep_serve(nn_dist *d, const nn_sweep *sw, const char *abs_dir, int jobs,
                         int threads, nn_error *err);

#endif

/* Was this process started by an MPI launcher as one of several? Read
 * from the launcher's environment only (no MPI library is loaded or
 * initialised to find out), so a plain nnctl pays nothing. */
#ifndef NN_DIST_LAUNCHER_H
#define NN_DIST_LAUNCHER_H

#include <stdbool.h>

typedef struct nn_launch {
    int rank, size;      /* size 1: a plain process (or a job of one) */
    const char *by;      /* "mpirun (Open MPI)", "mpiexec (MPICH Hydra)", "srun (Slurm)" */
    const char *impl;    /* the plugin to load: "openmpi" or "mpich" (NNCTL_MPI overrides) */
} nn_launch;

/* Open MPI (OMPI_COMM_WORLD_*), MPICH's Hydra and PMI-2 launchers
 * (PMI_RANK/PMI_SIZE), srun --mpi=pmix (PMIX_RANK with
 * SLURM_STEP_NUM_TASKS), and srun without an MPI plugin (SLURM_PROCID,
 * SLURM_STEP_NUM_TASKS: impl NULL). NNCTL_MPI=openmpi|mpich picks the
 * plugin; NNCTL_MPI=none: a plain process whatever the environment says
 * (what a rank gives the processes it starts itself). */
nn_launch nn_launch_detect(void);

/* size > 1 */
bool nn_launch_parallel(const nn_launch *l);

#endif

#include "dist/launcher.h"

#include <stdlib.h>
#include <string.h>

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 || x > 1 << 24 ? def : (int)x;
}

nn_launch nn_launch_detect(void)
{
    nn_launch l = {.rank = 0, .size = 1, .by = NULL, .impl = NULL};
    const char *forced = getenv("NNCTL_MPI");
    /* a process an MPI rank started itself (a sweep's trial) */
    if (forced && !strcmp(forced, "none"))
        return l;
    if (getenv("OMPI_COMM_WORLD_SIZE")) {
        l.size = env_int("OMPI_COMM_WORLD_SIZE", 1);
        l.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
        l.by = "mpirun (Open MPI)";
        l.impl = "openmpi";
    } else if (getenv("PMI_SIZE") && getenv("PMI_RANK")) {
        l.size = env_int("PMI_SIZE", 1);
        l.rank = env_int("PMI_RANK", 0);
        l.by = getenv("SLURM_PROCID") ? "srun (Slurm, PMI-2)" : "mpiexec (MPICH Hydra)";
        l.impl = "mpich";
    } else if (getenv("PMIX_RANK") && getenv("SLURM_STEP_NUM_TASKS")) {
        l.size = env_int("SLURM_STEP_NUM_TASKS", 1);
        l.rank = env_int("PMIX_RANK", 0);
        l.by = "srun (Slurm, PMIx)";
        l.impl = "openmpi";
    } else if (getenv("SLURM_PROCID") && getenv("SLURM_STEP_NUM_TASKS")) {
        /* a job step (srun), not the batch script itself */
        l.size = env_int("SLURM_STEP_NUM_TASKS", 1);
        l.rank = env_int("SLURM_PROCID", 0);
        l.by = "srun (Slurm, no MPI plugin: srun --mpi=pmix or pmi2)";
        l.impl = NULL;
    }
    if (forced && *forced && l.size > 1)
        l.impl = forced;
    if (l.rank >= l.size)
        l.rank = 0;
    return l;
}

bool nn_launch_parallel(const nn_launch *l) { return l->size > 1; }

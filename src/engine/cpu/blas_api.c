/* Loading OpenBLAS at run time (blas_api.h says why). */
#define NN_BLAS_LOADER
#include "engine/cpu/blas_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

nn_blas_api nn_blas;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;

/* Debian's OpenBLAS picks its kernels by CPU model; on CPUs it does not
 * know (new Xeons under a hypervisor report a generic model; Zen 5) it
 * falls back to its SSE3 "Prescott" kernels, 3-7x slower. So the kernel
 * set comes from the CPU's features: what OpenBLAS itself picks for the
 * CPUs it knows (SkylakeX for the AVX-512 Xeons, whose sgemm Cooper Lake
 * and Sapphire Rapids share, and for Zen 4 as newer OpenBLAS does; Haswell
 * or Zen for AVX2); older CPUs are left to OpenBLAS. */
static const char *core_for_cpu(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return __builtin_cpu_is("amd") ? "Zen" : "Haswell";
    return NULL;
}

static void load(void)
{
    /* a user's own setting wins; NNCTL_NO_BLAS_TUNE leaves OpenBLAS to pick */
    const char *core =
        getenv("OPENBLAS_CORETYPE") || getenv("NNCTL_NO_BLAS_TUNE") ? NULL : core_for_cpu();
    if (core)
        setenv("OPENBLAS_CORETYPE", core, 1);
    void *lib = dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "nnctl: error: cannot load OpenBLAS: %s (install Debian's libopenblas0 "
                        "package, or scripts/install-deps)\n", dlerror());
        return;
    }
    bool all = true;
#define NN_BLAS_SYM(f) all = all && (*(void **)&nn_blas.f = dlsym(lib, #f)) != NULL;
    NN_BLAS_FUNCS(NN_BLAS_SYM)
#undef NN_BLAS_SYM
    if (!all)
        fprintf(stderr, "nnctl: error: libopenblas.so.0 lacks cblas_sgemm or openblas_* "
                        "functions: not OpenBLAS?\n");
    loaded = all;
}

void nn_blas_load(void)
{
    pthread_once(&once, load);
    if (!loaded)
        exit(1);
}

/* OpenBLAS, loaded when the CPU engine first multiplies (or is asked its
 * version), not when nnctl starts: commands that never compute (summary,
 * export, compare, plot) do not load it, and the kernel set is chosen
 * before it loads (OPENBLAS_CORETYPE, read by OpenBLAS as it loads),
 * without nnctl re-executing itself. cpu_engine.c includes this header
 * instead of calling cblas directly. */
#ifndef NN_ENGINE_CPU_BLAS_API_H
#define NN_ENGINE_CPU_BLAS_API_H

#include <cblas.h>
#include <stdbool.h>

#define NN_BLAS_FUNCS(X)                                                                         \
    X(cblas_sgemm) X(openblas_set_num_threads) X(openblas_get_corename) X(openblas_get_config)

#define NN_BLAS_POINTER(f) __typeof__(f) *f;
typedef struct nn_blas_api {
    NN_BLAS_FUNCS(NN_BLAS_POINTER)
} nn_blas_api;
#undef NN_BLAS_POINTER
extern nn_blas_api nn_blas;

/* Loads libopenblas.so.0 once (thread-safe), with OPENBLAS_CORETYPE set
 * from the CPU's features unless the user set it. Exits with a message
 * when it cannot: no product can run without it (Debian's libopenblas0
 * package provides it). */
void nn_blas_load(void);

#ifndef NN_BLAS_LOADER
#define cblas_sgemm (nn_blas_load(), nn_blas.cblas_sgemm)
#define openblas_set_num_threads (nn_blas_load(), nn_blas.openblas_set_num_threads)
#define openblas_get_corename (nn_blas_load(), nn_blas.openblas_get_corename)
#define openblas_get_config (nn_blas_load(), nn_blas.openblas_get_config)
#endif

#endif

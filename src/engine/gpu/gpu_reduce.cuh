/* Deterministic sums on the device: a launch geometry that depends on n
 * only, per-block partials in double, then one block adds the partials in
 * a fixed tree. The same inputs give the same bits on every run. */
#ifndef NN_ENGINE_GPU_REDUCE_CUH
#define NN_ENGINE_GPU_REDUCE_CUH

#include "engine/gpu/gpu_internal.h"

#define NN_RED_THREADS 256
#define NN_RED_MAX_BLOCKS 256

/* Sum of the block's values of v, in a fixed tree; thread 0 gets it. */
__device__ __forceinline__ double nn_block_sum(double v)
{
    __shared__ double sh[NN_RED_THREADS];
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = NN_RED_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

/* part[block] = sum of f(i) over the block's grid-stride share of [0, n). */
template <class F> __global__ void nn_reduce_partials(F f, size_t n, double *part)
{
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * NN_RED_THREADS + threadIdx.x; i < n;
         i += (size_t)gridDim.x * NN_RED_THREADS)
        acc += f(i);
    double s = nn_block_sum(acc);
    if (threadIdx.x == 0)
        part[blockIdx.x] = s;
}

__global__ void nn_reduce_final(const double *part, int n, double *out);

/* Sum over i in [0, n) of f(i), read back to the host (one download). */
template <class F> double nn_gpu_reduce(nn_engine *e, F f, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    size_t blocks = (n + NN_RED_THREADS - 1) / NN_RED_THREADS;
    if (blocks < 1)
        blocks = 1;
    if (blocks > NN_RED_MAX_BLOCKS)
        blocks = NN_RED_MAX_BLOCKS;
    double *part = (double *)nn_gpu_scratch(e, NN_GPU_SCRATCH_REDUCE,
                                            NN_RED_MAX_BLOCKS * sizeof(double));
    if (!part)
        return nn_gpu_fetch_sum(e);
    nn_reduce_partials<F><<<(unsigned)blocks, NN_RED_THREADS, 0, g->stream>>>(f, n, part);
    nn_reduce_final<<<1, NN_RED_THREADS, 0, g->stream>>>(part, (int)blocks, g->dev_sum);
    NN_GPU_LAUNCHED(e, "reduction");
    return nn_gpu_fetch_sum(e);
}

#endif

/* fp32 <-> fp16/bf16 for mixed precision (gpu_mixed.c, gpu_conv.c): round
 * to nearest even, as the CPU engine's bf16 and Keras's casts do. fp16
 * overflows to inf beyond 65504: loss scaling sees it and skips the step. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

template <typename T> __device__ __forceinline__ T to_low(float v);
template <> __device__ __forceinline__ __half to_low<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 to_low<__nv_bfloat16>(float v)
{
    return __float2bfloat16_rn(v);
}
__device__ __forceinline__ float of_low(__half v) { return __half2float(v); }
__device__ __forceinline__ float of_low(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
static __global__ void to_low_kernel(const float *x, T *y, size_t rows, size_t cols, size_t ld)
{
    const size_t total = rows * cols;
    NN_GPU_FOR(q, total) y[q] = to_low<T>(x[(q / cols) * ld + q % cols]);
}

template <typename T> static __global__ void from_low_kernel(const T *y, float *x, size_t n)
{
    NN_GPU_FOR(i, n) x[i] = of_low(y[i]);
}

extern "C" void nn_gpu_to_low(nn_engine *e, nn_precision p, const float *x, size_t rows,
                              size_t cols, size_t ld, void *y)
{
    size_t total = rows * cols;
    if (total == 0)
        return;
    cudaStream_t s = nn_gpu(e)->stream;
    if (p == NN_PREC_BFLOAT16)
        to_low_kernel<<<nn_gpu_blocks(total), NN_GPU_THREADS, 0, s>>>(
            x, (__nv_bfloat16 *)y, rows, cols, ld);
    else
        to_low_kernel<<<nn_gpu_blocks(total), NN_GPU_THREADS, 0, s>>>(x, (__half *)y, rows,
                                                                      cols, ld);
    NN_GPU_LAUNCHED(e, "fp32 to fp16/bf16");
}

extern "C" void nn_gpu_from_low(nn_engine *e, nn_precision p, const void *y, float *x, size_t n)
{
    if (n == 0)
        return;
    cudaStream_t s = nn_gpu(e)->stream;
    if (p == NN_PREC_BFLOAT16)
        from_low_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, s>>>((const __nv_bfloat16 *)y, x,
                                                                    n);
    else
        from_low_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, s>>>((const __half *)y, x, n);
    NN_GPU_LAUNCHED(e, "fp16/bf16 to fp32");
}

/* Activations: elementwise maps, and softmax over rows (one block of 128
 * threads per row: max, sum of exponentials, normalize). */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define ROW_THREADS 128

static __global__ void act_fwd_kernel(nn_act act, float alpha, const float *x, float *y,
                                      size_t n)
{
    NN_GPU_FOR(i, n) y[i] = nn_dev_act(act, alpha, x[i]);
}

static __global__ void act_bwd_kernel(nn_act act, float alpha, const float *x, const float *y,
                                      const float *dy, float *dx, size_t n)
{
    NN_GPU_FOR(i, n)
        dx[i] = nn_dev_act_grad(act, alpha, x ? x[i] : 0.0f, y ? y[i] : 0.0f, dy[i]);
}

/* max (is_max) or sum of v over the block, in a fixed tree; all threads get it */
static __device__ float row_reduce(float v, bool is_max)
{
    __shared__ float sh[ROW_THREADS];
    __syncthreads(); /* sh may still be read from the last call */
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = ROW_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            sh[threadIdx.x] = is_max ? fmaxf(sh[threadIdx.x], sh[threadIdx.x + s])
                                     : sh[threadIdx.x] + sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

static __global__ void softmax_kernel(const float *x, float *y, int cols)
{
    const float *xr = x + (size_t)blockIdx.x * cols;
    float *yr = y + (size_t)blockIdx.x * cols;
    float m = -FLT_MAX;
    for (int c = threadIdx.x; c < cols; c += ROW_THREADS)
        m = fmaxf(m, xr[c]);
    m = row_reduce(m, true);
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += ROW_THREADS) {
        float v = expf(xr[c] - m);
        yr[c] = v;
        s += v;
    }
    s = row_reduce(s, false);
    float inv = 1.0f / s;
    for (int c = threadIdx.x; c < cols; c += ROW_THREADS)
        yr[c] *= inv;
}

/* dx = y * (dy - sum(dy * y)) per row */
static __global__ void softmax_bwd_kernel(const float *y, const float *dy, float *dx, int cols)
{
    size_t off = (size_t)blockIdx.x * cols;
    float dot = 0.0f;
    for (int c = threadIdx.x; c < cols; c += ROW_THREADS)
        dot += dy[off + c] * y[off + c];
    dot = row_reduce(dot, false);
    for (int c = threadIdx.x; c < cols; c += ROW_THREADS)
        dx[off + c] = y[off + c] * (dy[off + c] - dot);
}

extern "C" void nn_gpu_act_forward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x,
                                   nn_tensor *y, int rows, int cols)
{
    cudaStream_t st = nn_gpu(e)->stream;
    size_t n = (size_t)rows * cols;
    if (n == 0)
        return;
    if (act == NN_ACT_SOFTMAX) {
        softmax_kernel<<<rows, ROW_THREADS, 0, st>>>(x->data, y->data, cols);
    } else if (act == NN_ACT_LINEAR) {
        if (x->data != y->data)
            nn_gpu_check(e, cudaMemcpyAsync(y->data, x->data, n * sizeof(float),
                                            cudaMemcpyDeviceToDevice, st), "act_forward");
        return;
    } else {
        act_fwd_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, st>>>(act, alpha, x->data, y->data,
                                                                   n);
    }
    NN_GPU_LAUNCHED(e, "act_forward");
}

extern "C" void nn_gpu_act_backward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x,
                                    const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx,
                                    int rows, int cols)
{
    cudaStream_t st = nn_gpu(e)->stream;
    size_t n = (size_t)rows * cols;
    if (n == 0)
        return;
    if (act == NN_ACT_SOFTMAX) {
        softmax_bwd_kernel<<<rows, ROW_THREADS, 0, st>>>(y->data, dy->data, dx->data, cols);
    } else if (act == NN_ACT_LINEAR) {
        if (dx->data != dy->data)
            nn_gpu_check(e, cudaMemcpyAsync(dx->data, dy->data, n * sizeof(float),
                                            cudaMemcpyDeviceToDevice, st), "act_backward");
        return;
    } else {
        act_bwd_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, st>>>(
            act, alpha, x ? x->data : NULL, y ? y->data : NULL, dy->data, dx->data, n);
    }
    NN_GPU_LAUNCHED(e, "act_backward");
}

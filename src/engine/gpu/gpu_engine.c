/* GPU engine: device memory, cuBLAS products, the error and scratch
 * plumbing, and the operations table. The kernels are in the .cu files
 * beside this one, convolution in gpu_conv.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gpu/gpu_internal.h"

#define MIB ((size_t)1 << 20)
#define DEFAULT_CONV_WS_MIB 256

static void report(nn_engine *e, const char *what, const char *msg)
{
    gpu_impl *g = nn_gpu(e);
    if (!g->failed)
        fprintf(stderr, "nnctl: gpu engine: %s: %s\n", what, msg);
    g->failed = true;
}

bool nn_gpu_check(nn_engine *e, cudaError_t rc, const char *what)
{
    if (rc == cudaSuccess)
        return !nn_gpu(e)->failed;
    report(e, what, cudaGetErrorString(rc));
    return false;
}

bool nn_gpu_check_blas(nn_engine *e, cublasStatus_t rc, const char *what)
{
    if (rc == CUBLAS_STATUS_SUCCESS)
        return !nn_gpu(e)->failed;
    char msg[64];
    snprintf(msg, sizeof msg, "cuBLAS status %d", (int)rc);
    report(e, what, msg);
    return false;
}

bool nn_gpu_check_dnn(nn_engine *e, cudnnStatus_t rc, const char *what)
{
    if (rc == CUDNN_STATUS_SUCCESS)
        return !nn_gpu(e)->failed;
    report(e, what, cudnnGetErrorString(rc));
    return false;
}

/* Device memory the engine holds: released, then added, and the peak. */
static void device_held(gpu_impl *g, size_t released, size_t added)
{
    g->dev_bytes -= released <= g->dev_bytes ? released : g->dev_bytes;
    g->dev_bytes += added;
    if (g->dev_bytes > g->dev_peak)
        g->dev_peak = g->dev_bytes;
}

/* What cudaMalloc was asked for a tensor of n floats (gpu_alloc). */
static size_t tensor_bytes(size_t n)
{
    size_t bytes = (n * sizeof(float) + 255) & ~(size_t)255;
    return bytes ? bytes : 256;
}

static size_t gpu_device_peak_bytes(nn_engine *e) { return nn_gpu(e)->dev_peak; }

void *nn_gpu_scratch(nn_engine *e, nn_gpu_scratch_slot slot, size_t bytes)
{
    gpu_impl *g = nn_gpu(e);
    if (g->scratch_cap[slot] >= bytes && g->scratch[slot])
        return g->scratch[slot];
    /* cudaFree waits for the device: kernels still using the old buffer
     * finish first */
    if (g->scratch[slot])
        device_held(g, g->scratch_cap[slot] ? g->scratch_cap[slot] : 256, 0);
    cudaFree(g->scratch[slot]);
    g->scratch[slot] = NULL;
    g->scratch_cap[slot] = 0;
    void *p = NULL;
    if (!nn_gpu_check(e, cudaMalloc(&p, bytes ? bytes : 256), "scratch memory")) {
        cudaFree(p); /* allocated, but the engine had already failed */
        return NULL;
    }
    device_held(g, 0, bytes ? bytes : 256);
    g->scratch[slot] = p;
    g->scratch_cap[slot] = bytes;
    return p;
}

double nn_gpu_fetch_sum(nn_engine *e)
{
    gpu_impl *g = nn_gpu(e);
    if (g->failed ||
        !nn_gpu_check(e, cudaMemcpyAsync(g->host_sum, g->dev_sum, sizeof(double),
                                         cudaMemcpyDeviceToHost, g->stream), "read-back") ||
        !nn_gpu_check(e, cudaStreamSynchronize(g->stream), "read-back"))
        return NAN;
    return *g->host_sum;
}

static nn_status gpu_alloc(nn_engine *e, nn_tensor *t, int ndim, const int *shape,
                           nn_error *err)
{
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_fail(err, NN_ERR_RUNTIME, "tensor with %d dims (at most %d)", ndim,
                       NN_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->size = nn_shape_size(ndim, shape);
    size_t bytes = (t->size * sizeof(float) + 255) & ~(size_t)255;
    void *p = NULL;
    cudaError_t rc = cudaMalloc(&p, bytes ? bytes : 256);
    if (rc != cudaSuccess) {
        cudaGetLastError(); /* an out-of-memory error is not sticky: clear it */
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "GPU out of memory allocating a tensor of %zu floats (%zu MiB; %zu of "
                       "%zu MiB free): %s; try a smaller batch_size or --engine cpu",
                       t->size, bytes / MIB, free_b / MIB, total_b / MIB, cudaGetErrorString(rc));
    }
    t->data = p;
    device_held(nn_gpu(e), 0, tensor_bytes(t->size));
    nn_tensor_touch(t);
    /* zeroed, as the CPU engine's tensors */
    if (!nn_gpu_check(e, cudaMemsetAsync(p, 0, bytes ? bytes : 256, nn_gpu(e)->stream), "alloc")) {
        cudaFree(p);
        device_held(nn_gpu(e), tensor_bytes(t->size), 0);
        t->data = NULL;
        return nn_fail(err, NN_ERR_RUNTIME, "the GPU engine failed (see the message above)");
    }
    return NN_OK;
}

static void gpu_free(nn_engine *e, nn_tensor *t)
{
    if (t && !t->view && t->data) {
        cudaFree(t->data);
        device_held(nn_gpu(e), tensor_bytes(t->size), 0);
    }
    if (t)
        memset(t, 0, sizeof *t);
}

static bool is_pinned(nn_engine *e, const void *p, size_t bytes)
{
    gpu_impl *g = nn_gpu(e);
    for (int i = 0; i < 64; i++)
        if (g->pinned[i] && (const char *)p >= (const char *)g->pinned[i] &&
            (const char *)p + bytes <= (const char *)g->pinned[i] + g->pinned_bytes[i])
            return true;
    return false;
}

static void gpu_upload(nn_engine *e, nn_tensor *dst, const float *src, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    nn_tensor_touch(dst);
    if (n == 0)
        return;
    const size_t bytes = n * sizeof(float);
    if (!nn_gpu_check(e, cudaMemcpyAsync(dst->data, src, bytes, cudaMemcpyHostToDevice, g->stream),
                      "upload"))
        return;
    /* From pageable memory the call returns once the data is staged; from
     * pinned memory the copy is asynchronous, and the caller may refill the
     * buffer as soon as we return. */
    if (is_pinned(e, src, bytes))
        nn_gpu_check(e, cudaStreamSynchronize(g->stream), "upload");
}

static void gpu_download(nn_engine *e, float *dst, const nn_tensor *src, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    if (n == 0)
        return;
    if (!nn_gpu_check(e, cudaMemcpyAsync(dst, src->data, n * sizeof(float),
                                         cudaMemcpyDeviceToHost, g->stream), "download") ||
        !nn_gpu_check(e, cudaStreamSynchronize(g->stream), "download"))
        for (size_t i = 0; i < n; i++) /* a failed engine's values are not numbers */
            dst[i] = NAN;
}

static void gpu_copy(nn_engine *e, nn_tensor *dst, const nn_tensor *src, size_t n)
{
    gpu_impl *g = nn_gpu(e);
    const size_t bytes = n * sizeof(float);
    nn_tensor_touch(dst);
    if (n == 0 || dst->data == src->data)
        return;
    const char *d = (const char *)dst->data, *s = (const char *)src->data;
    if (d < s + bytes && s < d + bytes) { /* overlapping (memmove): through a bounce buffer */
        void *tmp = nn_gpu_scratch(e, NN_GPU_SCRATCH_COPY, bytes);
        if (!tmp ||
            !nn_gpu_check(e, cudaMemcpyAsync(tmp, s, bytes, cudaMemcpyDeviceToDevice, g->stream),
                          "copy"))
            return;
        s = tmp;
    }
    nn_gpu_check(e, cudaMemcpyAsync(dst->data, s, bytes, cudaMemcpyDeviceToDevice, g->stream),
                 "copy");
}

static float *gpu_host_ptr(nn_engine *e, nn_tensor *t)
{
    (void)e;
    (void)t;
    return NULL; /* device memory: callers stage batches and upload */
}

static void *gpu_native_stream(nn_engine *e) { return (void *)nn_gpu(e)->stream; }

/* Page-locked staging buffers upload faster; plain memory if the driver
 * has none to give (or the table of them is full). */
static void *gpu_alloc_host(nn_engine *e, size_t bytes, nn_error *err)
{
    gpu_impl *g = nn_gpu(e);
    for (int i = 0; i < 64; i++)
        if (!g->pinned[i]) {
            void *p = NULL;
            if (cudaMallocHost(&p, bytes ? bytes : 1) == cudaSuccess) {
                g->pinned[i] = p;
                g->pinned_bytes[i] = bytes;
                return p;
            }
            cudaGetLastError();
            break;
        }
    return nn_malloc(bytes ? bytes : 1, err);
}

static void gpu_free_host(nn_engine *e, void *p)
{
    gpu_impl *g = nn_gpu(e);
    if (!p)
        return;
    for (int i = 0; i < 64; i++)
        if (g->pinned[i] == p) {
            cudaFreeHost(p);
            g->pinned[i] = NULL;
            g->pinned_bytes[i] = 0;
            return;
        }
    free(p);
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the same
 * call with the operands swapped and the row strides as leading dims. */
static void gpu_gemm_ex(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                        const nn_tensor *A, int lda, const nn_tensor *B, int ldb, float beta,
                        nn_tensor *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    /* mixed precision: fp16/bf16 operands on the tensor cores */
    if (nn_gpu_low(e) && K > 0 &&
        nn_gpu_gemm_low(e, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    if (K <= 0) { /* C = beta * C: cuBLAS rejects the leading dimension 0 */
        const float zero = 0.0f;
        nn_gpu_check_blas(e, cublasSgeam(nn_gpu(e)->blas, CUBLAS_OP_N, CUBLAS_OP_N, N, M, &beta,
                                         C->data, ldc, &zero, C->data, ldc, C->data, ldc),
                          "cublasSgeam");
        return;
    }
    nn_gpu_check_blas(e, cublasSgemm(nn_gpu(e)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B->data,
                                     ldb, A->data, lda, &beta, C->data, ldc),
                      "cublasSgemm");
}

static void gpu_gemm(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                     const nn_tensor *A, const nn_tensor *B, float beta, nn_tensor *C)
{
    gpu_gemm_ex(e, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

static void gpu_destroy(nn_engine *e)
{
    gpu_impl *g = e->impl;
    if (g) {
        if (g->stream)
            cudaStreamSynchronize(g->stream);
        nn_gpu_comm_free(e);
        nn_gpu_conv_cache_free(e);
        nn_gpu_low_cache_free(e);
        for (int i = 0; i < NN_GPU_SCRATCH_SLOTS; i++)
            cudaFree(g->scratch[i]);
        for (int i = 0; i < 64; i++)
            if (g->pinned[i])
                cudaFreeHost((void *)g->pinned[i]);
        cudaFreeHost(g->host_sum);
        cudaFree(g->dev_sum);
        cudaFree(g->dev_flag);
        if (g->dnn)
            cudnnDestroy(g->dnn);
        if (g->blas)
            cublasDestroy(g->blas);
        if (g->stream)
            cudaStreamDestroy(g->stream);
        free(g);
    }
    free(e);
}

static const nn_engine_ops gpu_ops = {
    .name = "gpu",
    .precision_supported = nn_gpu_precision_supported,
    .describe_precision = nn_gpu_describe_precision,
    .alloc = gpu_alloc,
    .free = gpu_free,
    .upload = gpu_upload,
    .download = gpu_download,
    .copy = gpu_copy,
    .fill = nn_gpu_fill,
    .host_ptr = gpu_host_ptr,
    .native_stream = gpu_native_stream,
    .alloc_host = gpu_alloc_host,
    .free_host = gpu_free_host,
    .device_peak_bytes = gpu_device_peak_bytes,
    .gemm = gpu_gemm,
    .gemm_ex = gpu_gemm_ex,
    .add_bias = nn_gpu_add_bias,
    .bias_grad = nn_gpu_bias_grad,
    .act_forward = nn_gpu_act_forward,
    .act_backward = nn_gpu_act_backward,
    .dropout_forward = nn_gpu_dropout_forward,
    .mul = nn_gpu_mul,
    .mask_rows = nn_gpu_mask_rows,
    .add = nn_gpu_add,
    .bcast_apply = nn_gpu_bcast_apply,
    .bcast_reduce = nn_gpu_bcast_reduce,
    .axpy = nn_gpu_axpy,
    .scale = nn_gpu_scale,
    .loss = nn_gpu_loss,
    .metric = nn_gpu_metric,
    .regularize = nn_gpu_regularize,
    .sum_squares = nn_gpu_sum_squares,
    .clip = nn_gpu_clip,
    .opt_update = nn_gpu_opt_update,
    .conv_workspace = nn_gpu_conv_workspace,
    .conv2d_forward = nn_gpu_conv2d_forward,
    .conv2d_backward_data = nn_gpu_conv2d_backward_data,
    .conv2d_backward_filter = nn_gpu_conv2d_backward_filter,
    .depthwise_forward = nn_gpu_depthwise_forward,
    .depthwise_backward_data = nn_gpu_depthwise_backward_data,
    .depthwise_backward_filter = nn_gpu_depthwise_backward_filter,
    .pool2d_forward = nn_gpu_pool2d_forward,
    .pool2d_backward = nn_gpu_pool2d_backward,
    .batchnorm_forward = nn_gpu_batchnorm_forward,
    .batchnorm_backward = nn_gpu_batchnorm_backward,
    .layernorm_forward = nn_gpu_layernorm_forward,
    .layernorm_backward = nn_gpu_layernorm_backward,
    .extremum = nn_gpu_extremum,
    .route_equal = nn_gpu_route_equal,
    .copy_cols = nn_gpu_copy_cols,
    .upsample2d = nn_gpu_upsample2d,
    .upsample2d_backward = nn_gpu_upsample2d_backward,
    .swap_axes = nn_gpu_swap_axes,
    .lstm_forward = nn_gpu_lstm_forward,
    .lstm_backward = nn_gpu_lstm_backward,
    .gru_gates = nn_gpu_gru_gates,
    .gru_output = nn_gpu_gru_output,
    .gru_backward = nn_gpu_gru_backward,
    .gru_reset_backward = nn_gpu_gru_reset_backward,
    .embedding_forward = nn_gpu_embedding_forward,
    .embedding_backward = nn_gpu_embedding_backward,
    .comm_init = nn_gpu_comm_init,
    .comm_sum_start = nn_gpu_comm_sum_start,
    .comm_wait = nn_gpu_comm_wait,
    .sync = nn_gpu_sync,
    .destroy = gpu_destroy,
};

/* Why there is no device to use, in words, or NULL when there is one. */
static const char *no_device_reason(int *count)
{
    int driver = 0;
    *count = 0;
    cudaError_t rc = cudaGetDeviceCount(count);
    if (rc == cudaSuccess && *count > 0)
        return NULL;
    cudaGetLastError();
    if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0)
        return "no NVIDIA driver: libcuda.so.1 is not installed";
    if (rc == cudaErrorNoDevice || (rc == cudaSuccess && *count == 0))
        return "the NVIDIA driver sees no GPU";
    if (rc == cudaErrorInsufficientDriver)
        return "the NVIDIA driver is older than this build's CUDA runtime";
    return cudaGetErrorString(rc);
}

/* The device to use: NNCTL_DEVICE (set by --device), else 0. */
static nn_status pick_device(int *device, nn_error *err)
{
    const char *s = getenv("NNCTL_DEVICE");
    *device = 0;
    if (!s || !*s)
        return NN_OK;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1024)
        return nn_fail(err, NN_ERR_USAGE,
                       "engine 'gpu': NNCTL_DEVICE (--device): expected a device number >= 0, "
                       "got '%s'", s);
    *device = (int)v;
    return NN_OK;
}

static size_t env_mib(const char *name, size_t def)
{
    const char *s = getenv(name);
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    return (s && !*end && v > 0) ? (size_t)v * MIB : def;
}

static nn_status setup(nn_engine *e, int device, nn_error *err)
{
    gpu_impl *g = e->impl;
    const char *step = "cudaSetDevice";
    cudaError_t rc = cudaSetDevice(device);
    if (rc == cudaSuccess)
        rc = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking), step = "stream";
    if (rc == cudaSuccess)
        rc = cudaMallocHost((void **)&g->host_sum, sizeof(double)), step = "pinned memory";
    if (rc == cudaSuccess)
        rc = cudaMalloc((void **)&g->dev_sum, sizeof(double)), step = "device memory";
    if (rc == cudaSuccess)
        rc = cudaMalloc((void **)&g->dev_flag, sizeof(int)), step = "device memory";
    if (rc != cudaSuccess)
        return nn_fail(err, NN_ERR_RUNTIME, "engine 'gpu': device %d: %s: %s; use --engine cpu",
                       device, step, cudaGetErrorString(rc));
    cublasStatus_t brc = cublasCreate(&g->blas);
    if (brc == CUBLAS_STATUS_SUCCESS)
        brc = cublasSetStream(g->blas, g->stream);
    if (brc == CUBLAS_STATUS_SUCCESS)
        brc = cublasSetMathMode(g->blas, g->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (brc != CUBLAS_STATUS_SUCCESS)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "engine 'gpu': cuBLAS could not start (status %d): is libcublas.so.13 "
                       "the one this build was made with?; use --engine cpu", (int)brc);
    cudnnStatus_t drc = cudnnCreate(&g->dnn);
    if (drc == CUDNN_STATUS_SUCCESS)
        drc = cudnnSetStream(g->dnn, g->stream);
    if (drc != CUDNN_STATUS_SUCCESS)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "engine 'gpu': cuDNN could not start: %s (are cuDNN 9's libraries, e.g. "
                       "libcudnn_cnn.so.9, on the library path?); use --engine cpu",
                       cudnnGetErrorString(drc));
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
        g->cc_major = prop.major;
        g->cc_minor = prop.minor;
    }
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    g->conv_ws_limit = env_mib("NNCTL_GPU_WORKSPACE_MB", DEFAULT_CONV_WS_MIB * MIB);
    if (g->conv_ws_limit > free_b / 4)
        g->conv_ws_limit = free_b / 4;
    return NN_OK;
}

nn_status nn_engine_gpu_create(int threads, nn_engine **out, nn_error *err)
{
    int device, count;
    nn_status st = pick_device(&device, err);
    if (st)
        return st;
    const char *why = no_device_reason(&count);
    if (why)
        return nn_fail(err, NN_ERR_RUNTIME, "engine 'gpu': no CUDA device found (%s); use "
                                            "--engine cpu", why);
    if (device >= count)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "engine 'gpu': device %d asked for, but this machine has %d CUDA "
                       "device%s (0..%d); use --device 0 or --engine cpu",
                       device, count, count == 1 ? "" : "s", count - 1);
    nn_engine *e = nn_calloc(1, sizeof *e, err);
    gpu_impl *g = e ? nn_calloc(1, sizeof *g, err) : NULL;
    if (!g) {
        free(e);
        return NN_ERR_RUNTIME;
    }
    e->impl = g;
    e->ops = &gpu_ops;
    e->threads = threads > 0 ? threads : 1; /* host threads: the GPU engine uses one */
    g->device = device;
    const char *tf32 = getenv("NNCTL_GPU_TF32");
    g->tf32 = tf32 && !strcmp(tf32, "1");
    const char *conv = getenv("NNCTL_GPU_CONV");
    g->conv_direct = conv && !strcmp(conv, "direct");
    if ((st = setup(e, device, err))) {
        gpu_destroy(e);
        return st;
    }
    *out = e;
    return NN_OK;
}

void nn_engine_gpu_describe(char *buf, size_t len)
{
    int rt = 0, drv = 0, blas_maj = 0, blas_min = 0, blas_patch = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    cublasGetProperty(MAJOR_VERSION, &blas_maj);
    cublasGetProperty(MINOR_VERSION, &blas_min);
    cublasGetProperty(PATCH_LEVEL, &blas_patch);
    size_t dnn = cudnnGetVersion();
    int n = snprintf(buf, len, "gpu (CUDA runtime %d.%d, cuBLAS %d.%d.%d, cuDNN %zu.%zu.%zu; ",
                     rt / 1000, rt % 1000 / 10, blas_maj, blas_min, blas_patch, dnn / 10000,
                     dnn % 10000 / 100, dnn % 100);
    if (n < 0 || (size_t)n >= len)
        return;
    int count;
    const char *why = no_device_reason(&count);
    if (why) {
        snprintf(buf + n, len - (size_t)n, "no CUDA device: %s)", why);
        return;
    }
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        snprintf(buf + n, len - (size_t)n, "%d device%s)", count, count == 1 ? "" : "s");
        return;
    }
    snprintf(buf + n, len - (size_t)n, "%d device%s, 0: %s, %zu MiB, sm_%d%d; driver for CUDA %d.%d)",
             count, count == 1 ? "" : "s", p.name, p.totalGlobalMem / MIB, p.major, p.minor,
             drv / 1000, drv % 1000 / 10);
}

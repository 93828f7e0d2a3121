/* CPU engine: OpenBLAS (its OpenMP build) for products, OpenMP loops for the
 * rest, one thread pool shared by both so they never oversubscribe. */
#include <math.h>
#include <omp.h>
#include <xmmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine/cpu/blas_api.h"
#include "engine/cpu/cpu_internal.h"
#include "util/fileio.h"

/* The CPU engine's own state: scratch buffers, one per user, grown as
 * needed (once per shape, never per batch in steady state). */
typedef struct cpu_impl {
    void *scratch[NN_CPU_SCRATCH_SLOTS];
    size_t scratch_cap[NN_CPU_SCRATCH_SLOTS];
    nn_cpu_dnnl *dnnl; /* oneDNN's convolutions, or NULL */
    bool blas_threads; /* OpenBLAS told our thread count (on the first product) */
} cpu_impl;

nn_cpu_dnnl *nn_cpu_dnnl_of(nn_engine *e) { return ((cpu_impl *)e->impl)->dnnl; }

/* oneDNN runs the convolutions when the build has it, unless
 * NNCTL_CONV=im2col asks for the im2col + OpenBLAS path (for comparing the
 * two: benchmarks, tests). */
static bool want_dnnl(void)
{
    const char *v = getenv("NNCTL_CONV");
    return !(v && strcmp(v, "im2col") == 0);
}

void *nn_cpu_scratch(nn_engine *e, nn_cpu_scratch_slot slot, size_t bytes)
{
    cpu_impl *impl = e->impl;
    if (impl->scratch_cap[slot] < bytes) {
        void *grown = realloc(impl->scratch[slot], bytes);
        if (!grown)
            return NULL;
        impl->scratch[slot] = grown;
        impl->scratch_cap[slot] = bytes;
    }
    return impl->scratch[slot];
}

/* 64-byte aligned zeroed memory from calloc, which skips clearing memory
 * fresh from the kernel (large blocks): the pages of a model's weights are
 * then touched once, by the load, not twice. The block calloc gave is
 * kept just before the aligned pointer. */
static float *zalloc64(size_t bytes)
{
    char *raw = calloc(1, bytes + 64 + sizeof(void *));
    if (!raw)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + sizeof(void *) + 63) & ~(uintptr_t)63;
    ((void **)at)[-1] = raw;
    return (float *)at;
}

static void zfree64(float *p)
{
    if (p)
        free(((void **)p)[-1]);
}

static nn_status cpu_alloc(nn_engine *e, nn_tensor *t, int ndim, const int *shape,
                           nn_error *err)
{
    (void)e;
    if (ndim < 0 || ndim > NN_MAX_DIMS)
        return nn_fail(err, NN_ERR_RUNTIME, "tensor with %d dims (at most %d)", ndim,
                       NN_MAX_DIMS);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->size = nn_shape_size(ndim, shape);
    size_t bytes = (t->size * sizeof(float) + 63) & ~(size_t)63;
    t->data = zalloc64(bytes ? bytes : 64);
    if (!t->data)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory allocating a tensor of %zu floats",
                       t->size);
    nn_tensor_touch(t);
    return NN_OK;
}

static void cpu_free(nn_engine *e, nn_tensor *t)
{
    if (t && !t->view)
        nn_cpu_dnnl_forget(((cpu_impl *)e->impl)->dnnl, t->data);
    if (t && !t->view)
        zfree64(t->data);
    if (t)
        memset(t, 0, sizeof *t);
}

static void cpu_upload(nn_engine *e, nn_tensor *dst, const float *src, size_t n)
{
    (void)e;
    nn_tensor_touch(dst);
    if (dst->data != src)
        memcpy(dst->data, src, n * sizeof(float));
}

static void cpu_download(nn_engine *e, float *dst, const nn_tensor *src, size_t n)
{
    (void)e;
    if (dst != src->data)
        memcpy(dst, src->data, n * sizeof(float));
}

static float *cpu_host_ptr(nn_engine *e, nn_tensor *t)
{
    (void)e;
    nn_tensor_touch(t); /* the caller may write through it */
    return t->data;
}

/* The CPU engine uploads nothing (host_ptr): staging, if any, is plain memory. */
static void *cpu_alloc_host(nn_engine *e, size_t bytes, nn_error *err)
{
    (void)e;
    return nn_malloc(bytes ? bytes : 1, err);
}

static void cpu_free_host(nn_engine *e, void *p)
{
    (void)e;
    free(p);
}

static void cpu_copy(nn_engine *e, nn_tensor *dst, const nn_tensor *src, size_t n)
{
    (void)e;
    nn_tensor_touch(dst);
    memmove(dst->data, src->data, n * sizeof(float));
}

static void cpu_fill(nn_engine *e, nn_tensor *t, float value, size_t n)
{
    (void)e;
    nn_tensor_touch(t);
    float *p = t->data;
    if (value == 0.0f) {
        memset(p, 0, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = value;
}

/* C = alpha A B + beta C for a few rows of A, neither transposed: B's rows
 * scaled by A's entries and added (vectorized over N), k outer so that B
 * streams once. One image through Dense or recurrent layers at predict
 * time is such a product: done here, it leaves OpenBLAS unloaded, whose
 * load (14,000 relocations in Debian's build) and set-up cost a fresh
 * process more than the product itself. One thread, a fixed order. */
#define NN_SMALL_GEMM_ROWS 4
/* below this many flops a product runs on one thread (and, with at most
 * NN_SMALL_GEMM_ROWS rows, in small_gemm_nn) */
#define NN_GEMM_ONE_THREAD_FLOPS 2.0e6
NN_KERNEL static void small_gemm_nn(int M, int N, int K, float alpha, const float *restrict a,
                                    int lda, const float *restrict b, int ldb, float beta,
                                    float *restrict c, int ldc)
{
    for (int m = 0; m < M; m++) {
        float *cr = c + (size_t)m * ldc;
        if (beta == 0.0f) /* C may hold anything, NaN included */
            for (int j = 0; j < N; j++)
                cr[j] = 0.0f;
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++)
                cr[j] *= beta;
    }
    for (int k = 0; k < K; k++) {
        const float *br = b + (size_t)k * ldb;
        for (int m = 0; m < M; m++) {
            const float s = alpha * a[(size_t)m * lda + k];
            float *cr = c + (size_t)m * ldc;
            for (int j = 0; j < N; j++)
                cr[j] += s * br[j];
        }
    }
}

/* Our own split of a product across threads: each thread runs OpenBLAS
 * single-threaded (inside a parallel region OpenBLAS stays on the calling
 * thread) on a slice of C's rows (or columns). For the batch-sized products
 * of training this beats OpenBLAS's own threading by ~8% here, and thin
 * products (a 10-unit head) by far more. Tiny products stay on one thread. */
static void cpu_gemm_ex(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                        const nn_tensor *A, int lda, const nn_tensor *B, int ldb, float beta,
                        nn_tensor *C, int ldc)
{
    /* mixed_bfloat16: oneDNN's bf16 kernels (fp32 when it cannot) */
    if (e->precision == NN_PREC_BFLOAT16 &&
        nn_cpu_dnnl_matmul(e, M, N, K, alpha, A, lda, ta, B, ldb, tb, beta, C, ldc))
        return;
    const CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans;
    const CBLAS_TRANSPOSE opb = tb ? CblasTrans : CblasNoTrans;
    const double flops = 2.0 * M * N * K;
    if (!ta && !tb && M <= NN_SMALL_GEMM_ROWS && flops < NN_GEMM_ONE_THREAD_FLOPS) {
        small_gemm_nn(M, N, K, alpha, A->data, lda, B->data, ldb, beta, C->data, ldc);
        return;
    }
    const int threads = e->threads;
    cpu_impl *impl = e->impl;
    if (!impl->blas_threads) { /* the first product: OpenBLAS loads now */
        openblas_set_num_threads(threads);
        impl->blas_threads = true;
    }
    const float *a = A->data, *b = B->data;
    float *c = C->data;
    if (threads <= 1 || flops < NN_GEMM_ONE_THREAD_FLOPS) {
        openblas_set_num_threads(1);
        cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        openblas_set_num_threads(threads);
        return;
    }
    /* A long reduction with a small result (a convolution's filter
     * gradient: K = batch x pixels): split K, each thread into its own
     * partial C, added in thread order. */
    const size_t partial = (size_t)M * N * (size_t)(threads - 1);
    if (K >= 1024 && K >= 8 * (M > N ? M : N) && partial <= ((size_t)4 << 20)) {
        float *scratch = nn_cpu_scratch(e, NN_SCRATCH_GEMM, partial * sizeof(float));
        if (scratch) {
            int team = 1; /* OpenMP may give fewer threads than asked (nesting, limits) */
#pragma omp parallel num_threads(threads)
            {
                const int nt = omp_get_num_threads(), t = omp_get_thread_num();
                const int chunk = (K + nt - 1) / nt;
                int k0 = t * chunk, len = K - k0 < chunk ? K - k0 : chunk;
                float *dst = t == 0 ? c : scratch + (size_t)(t - 1) * M * N;
                if (t == 0)
                    team = nt;
                if (len > 0)
                    cblas_sgemm(CblasRowMajor, opa, opb, M, N, len, alpha,
                                ta ? a + (size_t)k0 * lda : a + k0, lda,
                                tb ? b + k0 : b + (size_t)k0 * ldb, ldb, t == 0 ? beta : 0.0f,
                                dst, t == 0 ? ldc : N);
                else if (t > 0)
                    memset(dst, 0, sizeof(float) * (size_t)M * N);
            }
            /* partials added in thread order: the sum depends on the team only */
#pragma omp parallel for num_threads(threads) schedule(static) if ((size_t)M * N > NN_CPU_PAR_MIN)
            for (int r = 0; r < M; r++)
                for (int t = 1; t < team; t++) {
                    const float *part = scratch + ((size_t)(t - 1) * M + r) * N;
                    float *cr = c + (size_t)r * ldc;
                    for (int j = 0; j < N; j++)
                        cr[j] += part[j];
                }
            return;
        }
    }
    const bool split_m = M >= N && M >= 16 * threads;
    const bool split_n = !split_m && N >= 16 * threads;
    if (!split_m && !split_n) {
        cblas_sgemm(CblasRowMajor, opa, opb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int total = split_m ? M : N;
    const int chunk = (((total + threads - 1) / threads) + 15) & ~15;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        int lo = t * chunk, len = total - lo < chunk ? total - lo : chunk;
        if (len > 0) {
            if (split_m)
                cblas_sgemm(CblasRowMajor, opa, opb, len, N, K, alpha,
                            ta ? a + lo : a + (size_t)lo * lda, lda, b, ldb, beta,
                            c + (size_t)lo * ldc, ldc);
            else
                cblas_sgemm(CblasRowMajor, opa, opb, M, len, K, alpha, a, lda,
                            tb ? b + (size_t)lo * ldb : b + lo, ldb, beta, c + lo, ldc);
        }
    }
}

static void cpu_gemm(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                     const nn_tensor *A, const nn_tensor *B, float beta, nn_tensor *C)
{
    cpu_gemm_ex(e, ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

static void cpu_add_bias(nn_engine *e, nn_tensor *Y, const nn_tensor *b, int rows, int cols)
{
    float *y = Y->data;
    const float *bb = b->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * cols;
        for (int c = 0; c < cols; c++)
            yr[c] += bb[c];
    }
}

static void cpu_bias_grad(nn_engine *e, const nn_tensor *dY, nn_tensor *db, int rows, int cols,
                          float beta)
{
    const float *dy = dY->data;
    float *g = db->data;
    /* Parallel over column blocks; each column's sum runs in row order, so
     * the result does not depend on the thread count. */
    const int block = 64;
    int nblocks = (cols + block - 1) / block;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int bi = 0; bi < nblocks; bi++) {
        int c0 = bi * block, c1 = c0 + block < cols ? c0 + block : cols;
        float acc[64];
        for (int c = c0; c < c1; c++)
            acc[c - c0] = 0.0f;
        for (int r = 0; r < rows; r++) {
            const float *row = dy + (size_t)r * cols;
            for (int c = c0; c < c1; c++)
                acc[c - c0] += row[c];
        }
        for (int c = c0; c < c1; c++)
            g[c] = (beta == 0.0f ? 0.0f : beta * g[c]) + acc[c - c0];
    }
}

/* Inverted dropout (the hash is nn_dropout_hash, engine.h): each row's
 * mask depends on its sample id only, and the column loop vectorizes. */
NN_KERNEL static void dropout_row(uint64_t key, uint32_t row_key, uint32_t threshold, float keep,
                                  size_t cols, const float *restrict x, float *restrict m,
                                  float *restrict y)
{
    for (size_t c = 0; c < cols; c++) {
        uint32_t h = nn_dropout_hash(key, row_key, (uint32_t)c);
        float mask = (h >> 8) >= threshold ? keep : 0.0f;
        m[c] = mask;
        y[c] = x[c] * mask;
    }
}

static void cpu_dropout_forward(nn_engine *e, float rate, uint64_t key, const nn_tensor *ids,
                                const nn_tensor *x, nn_tensor *mask, nn_tensor *y, int rows,
                                size_t cols)
{
    const float keep = 1.0f / (1.0f - rate);
    const uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    const uint32_t *id = ids ? (const uint32_t *)(const void *)ids->data : NULL;
    float *m = mask->data, *yy = y->data;
    const float *xx = x->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        size_t o = (size_t)r * cols;
        dropout_row(key, nn_dropout_row_key(key, id ? id[r] : (uint32_t)r), threshold, keep, cols,
                    xx + o, m + o, yy + o);
    }
}

double nn_cpu_parallel_sum(int threads, size_t n,
                           double (*part)(const void *ctx, size_t lo, size_t hi), const void *ctx)
{
    if (threads <= 1 || n <= NN_CPU_PAR_MIN)
        return part(ctx, 0, n);
    double partial[256];
    if (threads > 256)
        threads = 256;
    size_t chunk = (n + (size_t)threads - 1) / (size_t)threads;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int t = 0; t < threads; t++) {
        size_t lo = (size_t)t * chunk, hi = lo + chunk < n ? lo + chunk : n;
        partial[t] = lo < hi ? part(ctx, lo, hi) : 0.0;
    }
    double s = 0.0;
    for (int t = 0; t < threads; t++)
        s += partial[t];
    return s;
}

static void cpu_destroy(nn_engine *e)
{
    cpu_impl *impl = e->impl;
    for (int i = 0; impl && i < NN_CPU_SCRATCH_SLOTS; i++)
        free(impl->scratch[i]);
    if (impl)
        nn_cpu_dnnl_destroy(impl->dnnl);
    free(impl);
    free(e);
}

/* bf16 runs where oneDNN has bf16 kernels for this CPU; fp16 products
 * are the GPU engine's (oneDNN 2.6 has no fp16 training kernels for CPUs). */
static bool cpu_precision_supported(nn_engine *e, nn_precision p, char *why, size_t len)
{
    if (p == NN_PREC_FLOAT32)
        return true;
    if (p == NN_PREC_FLOAT16) {
        snprintf(why, len, "mixed_float16 needs the GPU engine (the CPU engine's bf16 is "
                           "mixed_bfloat16)");
        return false;
    }
    return nn_cpu_dnnl_bf16(nn_cpu_dnnl_of(e), why, len);
}

static void cpu_describe_precision(nn_engine *e, nn_precision p, char *buf, size_t len)
{
    char dnnl[160];
    nn_cpu_dnnl_describe(nn_cpu_dnnl_of(e), p, dnnl, sizeof dnnl);
    if (p == NN_PREC_BFLOAT16)
        snprintf(buf, len, "bf16 products and convolutions on %s", dnnl);
    else if (dnnl[0])
        snprintf(buf, len, "products on OpenBLAS %s kernels, convolutions on %s",
                 openblas_get_corename(), dnnl);
    else
        snprintf(buf, len, "products and convolutions on OpenBLAS %s kernels",
                 openblas_get_corename());
}

static const nn_engine_ops cpu_ops = {
    .name = "cpu",
    .precision_supported = cpu_precision_supported,
    .describe_precision = cpu_describe_precision,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .host_ptr = cpu_host_ptr,
    .alloc_host = cpu_alloc_host,
    .free_host = cpu_free_host,
    .gemm = cpu_gemm,
    .gemm_ex = cpu_gemm_ex,
    .add_bias = cpu_add_bias,
    .bias_grad = cpu_bias_grad,
    .act_forward = nn_cpu_act_forward,
    .act_backward = nn_cpu_act_backward,
    .dropout_forward = cpu_dropout_forward,
    .mul = nn_cpu_mul,
    .mask_rows = nn_cpu_mask_rows,
    .add = nn_cpu_add,
    .bcast_apply = nn_cpu_bcast_apply,
    .bcast_reduce = nn_cpu_bcast_reduce,
    .axpy = nn_cpu_axpy,
    .scale = nn_cpu_scale,
    .loss = nn_cpu_loss,
    .metric = nn_cpu_metric,
    .regularize = nn_cpu_regularize,
    .sum_squares = nn_cpu_sum_squares,
    .clip = nn_cpu_clip,
    .opt_update = nn_cpu_opt_update,
    .conv_workspace = nn_cpu_conv_workspace,
    .conv2d_forward = nn_cpu_conv2d_forward,
    .conv2d_backward_data = nn_cpu_conv2d_backward_data,
    .conv2d_backward_filter = nn_cpu_conv2d_backward_filter,
    .depthwise_forward = nn_cpu_depthwise_forward,
    .depthwise_backward_data = nn_cpu_depthwise_backward_data,
    .depthwise_backward_filter = nn_cpu_depthwise_backward_filter,
    .pool2d_forward = nn_cpu_pool2d_forward,
    .pool2d_backward = nn_cpu_pool2d_backward,
    .batchnorm_forward = nn_cpu_batchnorm_forward,
    .batchnorm_backward = nn_cpu_batchnorm_backward,
    .layernorm_forward = nn_cpu_layernorm_forward,
    .layernorm_backward = nn_cpu_layernorm_backward,
    .extremum = nn_cpu_extremum,
    .route_equal = nn_cpu_route_equal,
    .copy_cols = nn_cpu_copy_cols,
    .upsample2d = nn_cpu_upsample2d,
    .upsample2d_backward = nn_cpu_upsample2d_backward,
    .swap_axes = nn_cpu_swap_axes,
    .lstm_forward = nn_cpu_lstm_forward,
    .lstm_backward = nn_cpu_lstm_backward,
    .gru_gates = nn_cpu_gru_gates,
    .gru_output = nn_cpu_gru_output,
    .gru_backward = nn_cpu_gru_backward,
    .gru_reset_backward = nn_cpu_gru_reset_backward,
    .embedding_forward = nn_cpu_embedding_forward,
    .embedding_backward = nn_cpu_embedding_backward,
    .destroy = cpu_destroy,
};

nn_status nn_engine_cpu_create(int threads, nn_engine **out, nn_error *err)
{
    nn_engine *e = nn_calloc(1, sizeof *e, err);
    if (!e)
        return NN_ERR_RUNTIME;
    if (threads <= 0)
        threads = omp_get_num_procs();
    cpu_impl *impl = nn_calloc(1, sizeof *impl, err);
    if (!impl) {
        free(e);
        return NN_ERR_RUNTIME;
    }
    e->impl = impl;
    e->ops = &cpu_ops;
    e->threads = threads;
    omp_set_num_threads(threads);
    impl->dnnl = want_dnnl() ? nn_cpu_dnnl_create() : NULL;
    /* Flush denormals to zero, as TensorFlow does: tiny gradients otherwise
     * take microcode assists that cost ~100x. Set in this thread, before
     * libgomp starts its threads (on the first parallel region, from this
     * thread): a new thread inherits its creator's floating-point state, so
     * every worker has it too, and a command that never runs a parallel
     * region (predict on one image) never starts them. */
    _mm_setcsr(_mm_getcsr() | 0x8040);
#ifdef __SANITIZE_ADDRESS__
    /* GCC 12's LeakSanitizer crashes at exit scanning the thread-local
     * storage of libgomp threads first started inside oneDNN (its record of
     * glibc 2.36's dynamic TLS is garbage there); threads started here, in
     * sanitizer builds only, do not trip it */
#pragma omp parallel num_threads(threads)
    _mm_setcsr(_mm_getcsr() | 0x8040);
#endif
    *out = e;
    return NN_OK;
}

/* libgomp reads its spin settings when it loads, before main() runs, and
 * by default its threads spin at barriers for a long time: when other
 * processes want the same cores (a build, a second run) the spinning
 * steals their time slices, and an epoch got 10x slower here. A short spin
 * keeps the idle-machine speed (docs/benchmarks.md). Only commands that
 * train for long call this (nnctl train, sweep): it sets GOMP_SPINCOUNT and
 * starts the program again, once (a millisecond or two now that OpenBLAS,
 * oneDNN and HDF5's dependencies are not loaded at start). A user's own
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT wins. */
void nn_engine_preflight(char **argv)
{
    if (getenv("NNCTL_PREFLIGHT_DONE") || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
        return;
    /* spin briefly (back-to-back parallel regions are microseconds apart),
     * then sleep: on an idle machine as fast as spinning, on a busy one 2-6x
     * faster than libgomp's default (docs/benchmarks.md) */
    setenv("GOMP_SPINCOUNT", "10000", 1);
    /* exec the real path (not /proc/self/exe) so ps and top show "nnctl" */
    char self[4096];
    if (!nn_exe_path(self, sizeof self))
        return;
    setenv("NNCTL_PREFLIGHT_DONE", "1", 1);
    execv(self, argv);
    /* exec failed: go on with the settings we have rather than not at all */
}

/* This engine's line of nnctl --version (engine.c lists every engine). */
void nn_engine_cpu_describe(char *buf, size_t len)
{
    /* openblas_get_config() starts with "OpenBLAS <version> ..." */
    char version[64] = "OpenBLAS";
    sscanf(openblas_get_config(), "%*s %63s", version);
    char dnnl[64], bf16[256], why[256];
    nn_cpu_dnnl_version(dnnl, sizeof dnnl);
    /* what mixed_bfloat16 would run on (a state of its own: no engine here) */
    nn_cpu_dnnl *d = want_dnnl() ? nn_cpu_dnnl_create() : NULL;
    if (nn_cpu_dnnl_bf16(d, why, sizeof why)) {
        char k[160];
        nn_cpu_dnnl_describe(d, NN_PREC_BFLOAT16, k, sizeof k);
        snprintf(bf16, sizeof bf16, "%s%s", k,
                 strstr(k, "no AMX") ? "; can be slower than float32: train.precision = "
                                       "\"auto\" measures"
                                     : "");
    } else {
        snprintf(bf16, sizeof bf16, "float32 instead: %s", why);
    }
    nn_cpu_dnnl_destroy(d);
    int cores = omp_get_num_procs();
    snprintf(buf, len,
             "cpu (OpenBLAS %s with %s kernels%s%s%s, OpenMP, %d core%s; mixed_bfloat16: %s)",
             version, openblas_get_corename(), dnnl[0] ? "; convolutions: " : "", dnnl,
             dnnl[0] && !want_dnnl() ? " off (NNCTL_CONV=im2col)" : "", cores,
             cores == 1 ? "" : "s", bf16);
}

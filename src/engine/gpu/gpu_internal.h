/* Shared by the GPU engine's files (C and CUDA); never included outside
 * src/engine/gpu. Every tensor lives in device memory; all work goes on one
 * stream, so operations run in the order the caller issued them and only a
 * read-back (download, a loss or metric sum) waits for the device. */
#ifndef NN_ENGINE_GPU_INTERNAL_H
#define NN_ENGINE_GPU_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#ifdef __cplusplus
extern "C" { /* engine.h and util/ are C: their functions have C linkage */
#endif

#include "engine/engine.h"

/* Engine-owned device scratch, one buffer per user, grown when a larger
 * shape first needs it (never per batch in steady state). */
typedef enum {
    NN_GPU_SCRATCH_REDUCE = 0, /* per-block partial sums of a reduction */
    NN_GPU_SCRATCH_ROWS,       /* per-row loss/metric values */
    NN_GPU_SCRATCH_COLS,       /* per-chunk column sums (bias, batchnorm) */
    NN_GPU_SCRATCH_CONV,       /* cuDNN's algorithm workspace */
    NN_GPU_SCRATCH_POOL,       /* the max pooling's winner per output */
    NN_GPU_SCRATCH_COPY,       /* an overlapping copy's bounce buffer */
    /* fp16/bf16 copies for mixed precision products and convolutions:
     * the two operands (activations, gradients), and a third for a pass's
     * weights or weight gradient */
    NN_GPU_SCRATCH_LOW_A,
    NN_GPU_SCRATCH_LOW_B,
    NN_GPU_SCRATCH_LOW_C,
    NN_GPU_SCRATCH_SLOTS
} nn_gpu_scratch_slot;

typedef struct nn_gpu_conv_cache nn_gpu_conv_cache;
typedef struct nn_gpu_low_cache nn_gpu_low_cache;

typedef struct gpu_impl {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cudnnHandle_t dnn;
    void *scratch[NN_GPU_SCRATCH_SLOTS];
    size_t scratch_cap[NN_GPU_SCRATCH_SLOTS];
    size_t dev_bytes, dev_peak; /* device memory held by tensors and scratch, and its peak */
    double *host_sum; /* pinned: where a reduction's result lands */
    double *dev_sum;  /* the reduction's result on the device */
    int *dev_flag;    /* one int of device scratch (the hinge losses' label check) */
    bool failed;      /* a CUDA call failed: reported once, losses read NaN */
    bool tf32;        /* NNCTL_GPU_TF32=1: TF32 tensor cores in convolutions */
    bool conv_direct; /* NNCTL_GPU_CONV=direct: our kernels, never cuDNN (tests) */
    size_t conv_ws_limit;
    nn_gpu_conv_cache *conv;
    int cc_major, cc_minor;   /* the device's compute capability */
    nn_gpu_low_cache *low;    /* fp16/bf16 copies of weights (gpu_mixed.c) */
    const void *pinned[64]; /* host buffers from alloc_host, with sizes */
    size_t pinned_bytes[64];
} gpu_impl;

static inline gpu_impl *nn_gpu(nn_engine *e) { return (gpu_impl *)e->impl; }

/* Records a failed CUDA call: the first one is printed (the void operations
 * of engine.h cannot return it) and every later loss or metric reads NaN,
 * so the fit loop stops with its "loss became NaN" error. Returns !failed. */
bool nn_gpu_check(nn_engine *e, cudaError_t rc, const char *what);
bool nn_gpu_check_blas(nn_engine *e, cublasStatus_t rc, const char *what);
bool nn_gpu_check_dnn(nn_engine *e, cudnnStatus_t rc, const char *what);
/* After a kernel launch: the launch's own error, if any. */
#define NN_GPU_LAUNCHED(e, what) nn_gpu_check((e), cudaGetLastError(), (what))

/* NULL (and the error recorded) when the device is out of memory. */
void *nn_gpu_scratch(nn_engine *e, nn_gpu_scratch_slot slot, size_t bytes);

/* The one read-back of a reduction: copies *dev_sum to pinned host memory
 * and waits for the stream. NaN once a CUDA call has failed. */
double nn_gpu_fetch_sum(nn_engine *e);
/* Sum of n doubles in device memory, in a fixed order (deterministic). */
double nn_gpu_sum_doubles(nn_engine *e, const double *v, size_t n);

/* Launch geometry for elementwise kernels over n items (grid-stride loops). */
#define NN_GPU_THREADS 256
static inline unsigned nn_gpu_blocks(size_t n)
{
    size_t b = (n + NN_GPU_THREADS - 1) / NN_GPU_THREADS;
    return (unsigned)(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

/* The operations, by file. */
/* gpu_comm.c: data-parallel sums on the device (NCCL, loaded when asked) */
nn_status nn_gpu_comm_init(nn_engine *e, int rank, int size, nn_bcast_fn bcast, void *ctx,
                           char *desc, size_t desc_len, nn_error *err);
nn_status nn_gpu_comm_sum_start(nn_engine *e, nn_tensor *t, size_t n, nn_error *err);
nn_status nn_gpu_comm_wait(nn_engine *e, nn_error *err);
void nn_gpu_comm_free(nn_engine *e);
void nn_gpu_sync(nn_engine *e);
/* gpu_elementwise.cu */
void nn_gpu_fill(nn_engine *e, nn_tensor *t, float value, size_t n);
void nn_gpu_add_bias(nn_engine *e, nn_tensor *Y, const nn_tensor *b, int rows, int cols);
void nn_gpu_bias_grad(nn_engine *e, const nn_tensor *dY, nn_tensor *db, int rows, int cols,
                      float beta);
void nn_gpu_dropout_forward(nn_engine *e, float rate, uint64_t key, const nn_tensor *ids,
                            const nn_tensor *x, nn_tensor *mask, nn_tensor *y, int rows,
                            size_t cols);
void nn_gpu_mul(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n);
void nn_gpu_add(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n,
                nn_act act);
void nn_gpu_axpy(nn_engine *e, float alpha, const nn_tensor *x, nn_tensor *y, size_t n);
void nn_gpu_scale(nn_engine *e, nn_tensor *x, float alpha, size_t n);
void nn_gpu_clip(nn_engine *e, nn_tensor *x, float c, size_t n);
void nn_gpu_mask_rows(nn_engine *e, const nn_tensor *x, float value, nn_tensor *mask, size_t rows,
                      int cols);
void nn_gpu_extremum(nn_engine *e, bool is_max, const nn_tensor *a, const nn_tensor *b,
                     nn_tensor *out, size_t n);
void nn_gpu_route_equal(nn_engine *e, const nn_tensor *x, const nn_tensor *y,
                        const nn_tensor *dy, nn_tensor *taken, nn_tensor *dx, size_t n);
void nn_gpu_copy_cols(nn_engine *e, const nn_tensor *src, int src_cols, int src_off,
                      nn_tensor *dst, int dst_cols, int dst_off, int rows, int width);
/* Column sums of a (rows x cols): of b and b * (a - shift) when b is given,
 * else of (a - shift) and its square (shift: cols floats, or NULL for 0).
 * The batch statistics' and the bias gradient's reductions. Per-chunk
 * partials in double added in chunk order (deterministic). Returns device
 * memory holding s1 (cols doubles) then s2, or NULL on failure. */
double *nn_gpu_col_sums(nn_engine *e, const float *a, const float *b, const float *shift,
                        int rows, int cols);
/* gpu_bcast.cu */
void nn_gpu_bcast_apply(nn_engine *e, bool mul, const nn_tensor *x, const nn_tensor *g,
                        nn_tensor *y, int outer, int mid, int inner);
void nn_gpu_bcast_reduce(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *dg,
                         int outer, int mid, int inner, float beta);
void nn_gpu_layernorm_forward(nn_engine *e, const nn_tensor *x, int rows, int cols,
                              const nn_tensor *gamma, const nn_tensor *beta, float eps,
                              nn_tensor *y, nn_tensor *mean, nn_tensor *rstd);
void nn_gpu_layernorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *rstd, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta);
/* gpu_act.cu */
void nn_gpu_act_forward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x, nn_tensor *y,
                        int rows, int cols);
void nn_gpu_act_backward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x,
                         const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx, int rows,
                         int cols);
/* gpu_loss.cu */
double nn_gpu_loss(nn_engine *e, nn_loss_kind kind, float param, const nn_tensor *input,
                   const nn_tensor *target, int rows, int cols, nn_tensor *grad, float grad_scale);
double nn_gpu_metric(nn_engine *e, nn_metric_kind kind, int k, const nn_tensor *pred,
                     const nn_tensor *target, int rows, int cols);
/* gpu_opt.cu */
void nn_gpu_opt_update(nn_engine *e, const nn_opt_step *s, nn_tensor *w, const nn_tensor *g,
                       nn_tensor *slots[3], size_t n);
double nn_gpu_regularize(nn_engine *e, const nn_tensor *w, float l1, float l2, nn_tensor *grad,
                         float grad_scale, size_t n);
double nn_gpu_sum_squares(nn_engine *e, const nn_tensor *x, size_t n);
/* gpu_batchnorm.cu */
void nn_gpu_batchnorm_forward(nn_engine *e, bool training, const nn_tensor *x, int rows,
                              int cols, const nn_tensor *gamma, const nn_tensor *beta,
                              nn_tensor *mean, nn_tensor *var, float eps, nn_tensor *y,
                              const nn_sum_hook *sync);
void nn_gpu_batchnorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *var, float eps, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta, const nn_sum_hook *sync);
/* gpu_conv.c (cuDNN) and gpu_conv_kernels.cu (its padding copies) */
size_t nn_gpu_conv_workspace(nn_engine *e, const nn_conv_geom *g);
bool nn_gpu_conv2d_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *w, const nn_tensor *bias, nn_act act, nn_tensor *y,
                           nn_tensor *ws);
void nn_gpu_conv2d_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                 const nn_tensor *w, nn_tensor *dx, nn_tensor *ws);
void nn_gpu_conv2d_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                   const nn_tensor *dy, nn_tensor *dw, nn_tensor *dbias,
                                   float beta, nn_tensor *ws);
void nn_gpu_conv_cache_free(nn_engine *e);
/* dst (n, hp, wp, c) = src (n, h, w, c) placed at (top, left), zeros
 * around (cropped where hp/wp are smaller); crop is its adjoint for
 * gradients: dst (n, h, w, c) = src (n, hp, wp, c) at (top, left). */
void nn_gpu_pad_nhwc(nn_engine *e, const float *src, float *dst, int n, int h, int w, int c,
                     int hp, int wp, int top, int left);
void nn_gpu_crop_nhwc(nn_engine *e, const float *src, float *dst, int n, int h, int w, int c,
                      int hp, int wp, int top, int left);
/* gpu_conv_direct.cu: direct kernels on Keras's kernel layout, for the
 * geometries cuDNN rejects */
void nn_gpu_conv_direct_forward(nn_engine *e, const nn_conv_geom *g, const float *x,
                                const float *w, float *y);
void nn_gpu_conv_direct_backward_data(nn_engine *e, const nn_conv_geom *g, const float *dy,
                                      const float *w, float *dx);
void nn_gpu_conv_direct_backward_filter(nn_engine *e, const nn_conv_geom *g, const float *x,
                                        const float *dy, float *dw, float beta);
/* Mixed precision (gpu_mixed.c, gpu_half.cu). Products and convolutions in
 * fp16/bf16 read their operands converted (round to nearest even) and
 * accumulate in fp32 on the tensor cores; everything else stays fp32. */
static inline bool nn_gpu_low(const nn_engine *e)
{
    return e->precision == NN_PREC_FLOAT16 || e->precision == NN_PREC_BFLOAT16;
}
/* bytes of one fp16/bf16 value */
#define NN_GPU_LOW_BYTES 2
/* y (rows x cols, packed) = x's rows x cols block (row stride ld) in
 * precision p; from_low: x (n floats) = y (n values in precision p). */
void nn_gpu_to_low(nn_engine *e, nn_precision p, const float *x, size_t rows, size_t cols,
                   size_t ld, void *y);
void nn_gpu_from_low(nn_engine *e, nn_precision p, const void *y, float *x, size_t n);
/* The fp16/bf16 copy of t's rows x cols block (row stride ld), packed: a
 * layer's weights from the cache (converted again only when their version
 * changed), anything else converted into scratch `slot`. NULL on failure. */
const void *nn_gpu_low_operand(nn_engine *e, const nn_tensor *t, size_t rows, size_t cols,
                               size_t ld, nn_gpu_scratch_slot slot);
/* A cache buffer of `bytes` for a converted form of weights w, tagged by
 * what form it is; *stale says it must be (re)filled. NULL when w is not a
 * layer's weights (the caller uses scratch) or memory runs out. */
void *nn_gpu_low_weights(nn_engine *e, const nn_tensor *w, unsigned tag, size_t bytes,
                         bool *stale);
/* gemm_ex in e->precision; false when it cannot (the caller runs fp32). */
bool nn_gpu_gemm_low(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                     const nn_tensor *A, int lda, const nn_tensor *B, int ldb, float beta,
                     nn_tensor *C, int ldc);
bool nn_gpu_precision_supported(nn_engine *e, nn_precision p, char *why, size_t len);
void nn_gpu_describe_precision(nn_engine *e, nn_precision p, char *buf, size_t len);
void nn_gpu_low_cache_free(nn_engine *e);
cudaDataType_t nn_gpu_cuda_type(nn_precision p);
cudnnDataType_t nn_gpu_cudnn_type(nn_precision p);
/* gpu_upsample.cu */
void nn_gpu_upsample2d(nn_engine *e, bool bilinear, const nn_tensor *x, nn_tensor *y, int rows,
                       int H, int W, int C, int sh, int sw);
void nn_gpu_upsample2d_backward(nn_engine *e, bool bilinear, const nn_tensor *dy, nn_tensor *dx,
                                int rows, int H, int W, int C, int sh, int sw);
/* gpu_pool.cu */
void nn_gpu_pool2d_forward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                           const nn_tensor *x, nn_tensor *y);
void nn_gpu_pool2d_backward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                            const nn_tensor *x, const nn_tensor *y, const nn_tensor *dy,
                            nn_tensor *dx);
/* gpu_depthwise.cu */
bool nn_gpu_depthwise_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                              const nn_tensor *k, const nn_tensor *bias, nn_act act, nn_tensor *y);
void nn_gpu_depthwise_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                    const nn_tensor *k, nn_tensor *dx);
void nn_gpu_depthwise_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                      const nn_tensor *dy, nn_tensor *dk, float beta);
/* gpu_rnn.cu */
void nn_gpu_swap_axes(nn_engine *e, const nn_tensor *src, nn_tensor *dst, int a, int b, int c,
                      bool rev_a, bool rev_b);
void nn_gpu_lstm_forward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                         const nn_tensor *c_prev, nn_tensor *gates, nn_tensor *c, nn_tensor *tc,
                         nn_tensor *h, int rows);
void nn_gpu_lstm_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                          const nn_tensor *gates, const nn_tensor *c_prev, const nn_tensor *c,
                          const nn_tensor *tc, const nn_tensor *dh, nn_tensor *dc, nn_tensor *dz,
                          int rows);
void nn_gpu_gru_gates(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                      const nn_tensor *zh, const nn_tensor *h_rec, nn_tensor *gates,
                      nn_tensor *rh, int rows);
void nn_gpu_gru_output(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                       const nn_tensor *zh, const nn_tensor *h_prev, nn_tensor *gates,
                       nn_tensor *h, int rows);
void nn_gpu_gru_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                         const nn_tensor *zh, const nn_tensor *h_prev, const nn_tensor *gates,
                         const nn_tensor *dh, nn_tensor *dzx, nn_tensor *dzh, nn_tensor *dh_prev,
                         int rows);
void nn_gpu_gru_reset_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                               const nn_tensor *zh, const nn_tensor *h_rec,
                               const nn_tensor *gates, const nn_tensor *drh, nn_tensor *dzx,
                               nn_tensor *dh_rec, int rows);
void nn_gpu_embedding_forward(nn_engine *e, const nn_tensor *ids, const nn_tensor *table,
                              nn_tensor *out, size_t n, int vocab, int dim);
void nn_gpu_embedding_backward(nn_engine *e, const nn_tensor *ids, const nn_tensor *dout,
                               nn_tensor *dtable, size_t n, int vocab, int dim, float beta);

#ifdef __cplusplus
}
#endif

#endif

/* Shared by the CPU engine's files; never included outside src/engine/cpu. */
#ifndef NN_ENGINE_CPU_INTERNAL_H
#define NN_ENGINE_CPU_INTERNAL_H

#include "engine/engine.h"

#include <omp.h>

/* Engine-owned scratch, one buffer per user, kept between calls so no
 * operation allocates per batch. NULL when memory runs out. */
typedef enum {
    NN_SCRATCH_GEMM = 0,
    NN_SCRATCH_BATCHNORM,
    NN_SCRATCH_DEPTHWISE,
    NN_SCRATCH_BCAST,
    NN_SCRATCH_LAYERNORM,
    NN_CPU_SCRATCH_SLOTS
} nn_cpu_scratch_slot;
void *nn_cpu_scratch(nn_engine *e, nn_cpu_scratch_slot slot, size_t bytes);

/* oneDNN (cpu_dnnl.c and its users), when the build has it: it runs the
 * convolutions in fp32 and bf16 and the bf16 products (mixed_bfloat16).
 * It is loaded when first needed. create gives NULL without oneDNN, and
 * then the calls below return false (the im2col path and OpenBLAS run). */
typedef struct nn_cpu_dnnl nn_cpu_dnnl;
typedef enum { NN_DNNL_FWD = 0, NN_DNNL_BWD_DATA, NN_DNNL_BWD_FILTER } nn_dnnl_op;
nn_cpu_dnnl *nn_cpu_dnnl_create(void);
void nn_cpu_dnnl_destroy(nn_cpu_dnnl *d);
/* Drops the converted copies (kernel layout, bf16) of the tensor at p,
 * which is being freed: a long-lived engine (predict rebuilding a model,
 * the tests) does not keep copies of weights it will never see again. */
void nn_cpu_dnnl_forget(nn_cpu_dnnl *d, const float *p);
/* Convolution weights held in a kernel's layout now (tests). */
int nn_cpu_dnnl_conv_weight_copies(const nn_cpu_dnnl *d);
/* One convolution pass in e->precision (fp32 or bf16 operands, fp32
 * results). FWD: a = x, b = kernel, bias (may be NULL) added, out = y,
 * act: NN_ACT_RELU or NN_ACT_RELU6 applied in the same pass (LINEAR: none;
 * no other). BWD_DATA: a = dy, b = kernel, out =
 * dx. BWD_FILTER: a = x, b = dy, out = the kernel's gradient, bias (may be
 * NULL) = the bias gradient (both overwritten). NHWC tensors, Keras kernel
 * layout. false: not run (the caller does it). */
bool nn_cpu_dnnl_conv(nn_engine *e, nn_dnnl_op op, const nn_conv_geom *g, const nn_tensor *a,
                      const nn_tensor *b, float *bias, float *out, nn_act act);
/* C (M x N, row stride ldc) = alpha op(A) op(B) + beta C with A and B
 * rounded to bf16 and fp32 accumulation (gemm_ex's arguments). false: not
 * run. */
bool nn_cpu_dnnl_matmul(nn_engine *e, int M, int N, int K, float alpha, const nn_tensor *A,
                        int lda, bool ta, const nn_tensor *B, int ldb, bool tb, float beta,
                        nn_tensor *C, int ldc);
/* Passes and products oneDNN ran, and those it left to the fallback (a
 * geometry it could not take, or a failure): for tests. */
void nn_cpu_dnnl_counts(const nn_cpu_dnnl *d, long *ran, long *declined);
/* Of those passes, how many ran Winograd's kernel (tests: oneDNN has one
 * where its instruction set is AVX-512, nn_cpu_dnnl_avx512). */
long nn_cpu_dnnl_winograd_count(const nn_cpu_dnnl *d);
bool nn_cpu_dnnl_avx512(nn_cpu_dnnl *d);
/* bf16 copies of weights made for products, and convolution weights
 * reordered into a kernel's layout: once per update, not per call (tests). */
void nn_cpu_dnnl_weight_counts(const nn_cpu_dnnl *d, long *packs, long *reorders);
/* Can oneDNN run bf16 kernels on this CPU? false with the reason. */
bool nn_cpu_dnnl_bf16(nn_cpu_dnnl *d, char *why, size_t len);
/* The kernels oneDNN runs in precision p: "oneDNN 2.6.3 avx512_core_bf16
 * kernels (AVX512-BF16, no AMX)", "oneDNN 2.6.3 fp32 kernels", or "". */
void nn_cpu_dnnl_describe(nn_cpu_dnnl *d, nn_precision p, char *buf, size_t len);
/* oneDNN's names of the kernels made so far ("brgconv:avx512_core_bf16, ..."). */
void nn_cpu_dnnl_kernels(const nn_cpu_dnnl *d, char *buf, size_t len);
/* "oneDNN 2.6.3", or "" without it. */
const char *nn_cpu_dnnl_version(char *buf, size_t len);
/* The engine's oneDNN state, or NULL (not built in, or off: NNCTL_CONV=im2col). */
nn_cpu_dnnl *nn_cpu_dnnl_of(nn_engine *e);

/* float32 -> bfloat16, round to nearest even (cpu_bf16.c). pack: the rows x
 * cols block of x (row stride ld) into y packed, transposed (cols x rows)
 * when trans. */
void nn_cpu_to_bf16(int threads, const float *x, uint16_t *y, size_t n);
void nn_cpu_pack_bf16(int threads, const float *x, int rows, int cols, int ld, bool trans,
                      uint16_t *y);

/* Work below this many elements stays on one thread: forking costs more. */
#define NN_CPU_PAR_MIN 32768

/* Elementwise kernels are compiled for AVX-512, AVX2 and baseline x86-64;
 * the loader picks the best the CPU has (the binary stays portable). */
#define NN_KERNEL __attribute__((target_clones("default", "avx2", "avx512f")))

/* v clamped to [lo, hi] by comparisons, which vectorize (fminf/fmaxf are
 * library calls without -ffast-math); a NaN stays NaN */
/* The activations convolutions apply in their own pass (oneDNN post-ops,
 * the depthwise kernel's rows) */
static inline bool nn_cpu_pass_act(nn_act act)
{
    return act == NN_ACT_RELU || act == NN_ACT_RELU6 || act == NN_ACT_SWISH;
}

static inline float nn_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Runs BODY on contiguous ranges [LO, HI) of [0, n), one per thread (ranges
 * start on 64-byte boundaries), or on the whole range when n is small. */
#define NN_PAR_RANGE(threads, n, LO, HI, BODY)                                          \
    do {                                                                                \
        size_t n_ = (n);                                                                \
        int t_ = (n_ > NN_CPU_PAR_MIN && (threads) > 1) ? (threads) : 1;                \
        if (t_ == 1) {                                                                  \
            size_t LO = 0, HI = n_;                                                     \
            BODY;                                                                       \
        } else {                                                                        \
            size_t ch_ = (((n_ + (size_t)t_ - 1) / (size_t)t_) + 15) & ~(size_t)15;     \
            _Pragma("omp parallel num_threads(t_)")                                     \
            {                                                                           \
                size_t id_ = (size_t)omp_get_thread_num();                              \
                size_t LO = id_ * ch_ < n_ ? id_ * ch_ : n_;                            \
                size_t HI = LO + ch_ < n_ ? LO + ch_ : n_;                              \
                if (LO < HI) {                                                          \
                    BODY;                                                               \
                }                                                                       \
            }                                                                           \
        }                                                                               \
    } while (0)

/* A target_clones function called from other files: clang links callers to
 * it only when they see the attribute too (make fuzz builds with clang);
 * GCC must not see it there (each caller would get a resolver of its own
 * naming the clones, which are local to the defining file). */
#ifdef __clang__
#define NN_KERNEL_DECL NN_KERNEL
#else
#define NN_KERNEL_DECL
#endif

/* The activations on one contiguous range (vectorized; the recurrent cells
 * call them per gate block). x may be NULL in bwd where act' needs only y. */
NN_KERNEL_DECL void nn_cpu_act_fwd_range(nn_act act, float alpha, const float *restrict x,
                                         float *restrict y, size_t n);
NN_KERNEL_DECL void nn_cpu_act_bwd_range(nn_act act, float alpha, const float *x,
                                         const float *y, const float *dy, float *dx, size_t n);
void nn_cpu_act_forward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x, nn_tensor *y,
                        int rows, int cols);
void nn_cpu_act_backward(nn_engine *e, nn_act act, float alpha, const nn_tensor *x,
                         const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx, int rows,
                         int cols);
double nn_cpu_loss(nn_engine *e, nn_loss_kind kind, float param, const nn_tensor *input,
                   const nn_tensor *target, int rows, int cols, nn_tensor *grad, float grad_scale);
double nn_cpu_metric(nn_engine *e, nn_metric_kind kind, int k, const nn_tensor *pred,
                     const nn_tensor *target, int rows, int cols);
void nn_cpu_opt_update(nn_engine *e, const nn_opt_step *s, nn_tensor *w, const nn_tensor *g,
                       nn_tensor *slots[3], size_t n);
double nn_cpu_regularize(nn_engine *e, const nn_tensor *w, float l1, float l2, nn_tensor *grad,
                         float grad_scale, size_t n);
double nn_cpu_sum_squares(nn_engine *e, const nn_tensor *x, size_t n);
void nn_cpu_batchnorm_forward(nn_engine *e, bool training, const nn_tensor *x, int rows,
                              int cols, const nn_tensor *gamma, const nn_tensor *beta,
                              nn_tensor *mean, nn_tensor *var, float eps, nn_tensor *y,
                              const nn_sum_hook *sync);
void nn_cpu_batchnorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *var, float eps, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta, const nn_sum_hook *sync);
void nn_cpu_bcast_apply(nn_engine *e, bool mul, const nn_tensor *x, const nn_tensor *g,
                        nn_tensor *y, int outer, int mid, int inner);
void nn_cpu_bcast_reduce(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *dg,
                         int outer, int mid, int inner, float beta);
void nn_cpu_layernorm_forward(nn_engine *e, const nn_tensor *x, int rows, int cols,
                              const nn_tensor *gamma, const nn_tensor *beta, float eps,
                              nn_tensor *y, nn_tensor *mean, nn_tensor *rstd);
void nn_cpu_layernorm_backward(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *rstd, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta);
/* cpu_elementwise.c: the ops table's elementwise operations */
void nn_cpu_mul(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n);
void nn_cpu_mask_rows(nn_engine *e, const nn_tensor *x, float value, nn_tensor *mask, size_t rows,
                      int cols);
void nn_cpu_add(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n,
                nn_act act);
void nn_cpu_axpy(nn_engine *e, float alpha, const nn_tensor *x, nn_tensor *y, size_t n);
void nn_cpu_scale(nn_engine *e, nn_tensor *x, float alpha, size_t n);
void nn_cpu_clip(nn_engine *e, nn_tensor *x, float c, size_t n);
void nn_cpu_extremum(nn_engine *e, bool is_max, const nn_tensor *a, const nn_tensor *b,
                     nn_tensor *out, size_t n);
void nn_cpu_route_equal(nn_engine *e, const nn_tensor *x, const nn_tensor *y, const nn_tensor *dy,
                        nn_tensor *taken, nn_tensor *dx, size_t n);
void nn_cpu_copy_cols(nn_engine *e, const nn_tensor *src, int src_cols, int src_off, nn_tensor *dst,
                      int dst_cols, int dst_off, int rows, int width);
bool nn_cpu_depthwise_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                              const nn_tensor *k, const nn_tensor *bias, nn_act act, nn_tensor *y);
void nn_cpu_depthwise_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                    const nn_tensor *k, nn_tensor *dx);
void nn_cpu_depthwise_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                      const nn_tensor *dy, nn_tensor *dk, float beta);
size_t nn_cpu_conv_workspace(nn_engine *e, const nn_conv_geom *g);
bool nn_cpu_conv2d_forward(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *w, const nn_tensor *bias, nn_act act, nn_tensor *y,
                           nn_tensor *ws);
void nn_cpu_conv2d_backward_data(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                 const nn_tensor *w, nn_tensor *dx, nn_tensor *ws);
void nn_cpu_conv2d_backward_filter(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                   const nn_tensor *dy, nn_tensor *dw, nn_tensor *dbias,
                                   float beta, nn_tensor *ws);
void nn_cpu_pool2d_forward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                           const nn_tensor *x, nn_tensor *y);
void nn_cpu_pool2d_backward(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                            const nn_tensor *x, const nn_tensor *y, const nn_tensor *dy,
                            nn_tensor *dx);

void nn_cpu_upsample2d(nn_engine *e, bool bilinear, const nn_tensor *x, nn_tensor *y, int rows,
                       int H, int W, int C, int sh, int sw);
void nn_cpu_upsample2d_backward(nn_engine *e, bool bilinear, const nn_tensor *dy, nn_tensor *dx,
                                int rows, int H, int W, int C, int sh, int sw);
void nn_cpu_swap_axes(nn_engine *e, const nn_tensor *src, nn_tensor *dst, int a, int b, int c,
                      bool rev_a, bool rev_b);
void nn_cpu_lstm_forward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                         const nn_tensor *c_prev, nn_tensor *gates, nn_tensor *c, nn_tensor *tc,
                         nn_tensor *h, int rows);
void nn_cpu_lstm_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                          const nn_tensor *gates, const nn_tensor *c_prev, const nn_tensor *c,
                          const nn_tensor *tc, const nn_tensor *dh, nn_tensor *dc, nn_tensor *dz,
                          int rows);
void nn_cpu_gru_gates(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                      const nn_tensor *zh, const nn_tensor *h_rec, nn_tensor *gates,
                      nn_tensor *rh, int rows);
void nn_cpu_gru_output(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                       const nn_tensor *zh, const nn_tensor *h_prev, nn_tensor *gates,
                       nn_tensor *h, int rows);
void nn_cpu_gru_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                         const nn_tensor *zh, const nn_tensor *h_prev, const nn_tensor *gates,
                         const nn_tensor *dh, nn_tensor *dzx, nn_tensor *dzh, nn_tensor *dh_prev,
                         int rows);
void nn_cpu_gru_reset_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                               const nn_tensor *zh, const nn_tensor *h_rec,
                               const nn_tensor *gates, const nn_tensor *drh, nn_tensor *dzx,
                               nn_tensor *dh_rec, int rows);
void nn_cpu_embedding_forward(nn_engine *e, const nn_tensor *ids, const nn_tensor *table,
                              nn_tensor *out, size_t n, int vocab, int dim);
void nn_cpu_embedding_backward(nn_engine *e, const nn_tensor *ids, const nn_tensor *dout,
                               nn_tensor *dtable, size_t n, int vocab, int dim, float beta);

/* Deterministic parallel sum: fixed chunks per thread, combined in order, so
 * the result depends on the thread count only, never on scheduling. */
double nn_cpu_parallel_sum(int threads, size_t n, double (*part)(const void *ctx, size_t lo,
                                                                size_t hi),
                           const void *ctx);

#endif

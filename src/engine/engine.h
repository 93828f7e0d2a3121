/* The engine interface: the only place that does math on tensors.
 *
 * Layers, losses, metrics and optimizers are written once against this
 * struct of function pointers; the CPU engine (OpenBLAS + OpenMP) implements
 * it, the GPU engine (cuBLAS/cuDNN, built with make GPU=1) the same table.
 * An engine never knows what a "Dense layer" is: it offers products,
 * elementwise maps, reductions and update rules.
 *
 * Tensors live in engine memory (host for CPU, device for GPU). Callers move
 * data only through upload/download, and read back only scalars (losses,
 * metric sums), once per batch at most. */
#ifndef NN_ENGINE_ENGINE_H
#define NN_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"
#include "util/rng.h"

#define NN_MAX_DIMS 6

typedef struct nn_engine nn_engine;

typedef struct nn_tensor {
    float *data;   /* engine memory: never dereferenced outside the engine */
    size_t size;   /* number of floats */
    int ndim;
    int shape[NN_MAX_DIMS];
    bool view;     /* points into another tensor; not freed */
    /* A layer's weights (set by nn_model_alloc): written only by alloc,
     * upload, copy, fill, host_ptr and opt_update, which give the tensor a
     * new version each time, so an engine may keep a converted form (bf16,
     * a kernel's blocked layout) until the version changes: weights are
     * reordered once per update, not once per product. */
    bool weights;
    uint64_t version;
} nn_tensor;

/* The precision products are computed in (Keras's dtype policies): with
 * mixed_bfloat16 / mixed_float16 the convolutions, Dense and recurrent
 * products read their operands rounded to bf16 / fp16 and accumulate in
 * fp32; tensors, weights (the master copy) and every other operation
 * (activations, softmax, losses, batch normalization statistics,
 * reductions, optimizer updates) stay fp32. */
typedef enum { NN_PREC_FLOAT32 = 0, NN_PREC_BFLOAT16, NN_PREC_FLOAT16, NN_PREC_COUNT } nn_precision;

/* A fresh version for a tensor that was (or is about to be) written. */
void nn_tensor_touch(nn_tensor *t);

/* Activations, by id (the registry in model/activations.c maps names). */
typedef enum {
    NN_ACT_LINEAR = 0,
    NN_ACT_RELU,
    NN_ACT_SIGMOID,
    NN_ACT_TANH,
    NN_ACT_SOFTMAX, /* over the last axis */
    NN_ACT_ELU,
    NN_ACT_SELU,
    NN_ACT_SOFTPLUS,
    NN_ACT_SOFTSIGN,
    NN_ACT_HARD_SIGMOID,
    NN_ACT_LEAKY_RELU,
    NN_ACT_SWISH,       /* silu: x sigmoid(x) */
    NN_ACT_GELU,
    NN_ACT_RELU6,       /* min(max(x, 0), 6) */
    NN_ACT_MISH,        /* x tanh(softplus(x)) */
    NN_ACT_EXPONENTIAL, /* exp(x) */
    NN_ACT_HARD_SILU,   /* x relu6(x + 3) / 6 (Keras 3's hard_silu, PyTorch's Hardswish) */
    NN_ACT_COUNT
} nn_act;

/* Losses. Values are per-sample means over the last axis (Keras), summed
 * over the batch by the engine; gradients are of the batch mean. */
typedef enum {
    NN_LOSS_MSE = 0,
    NN_LOSS_MAE,
    NN_LOSS_MAPE,
    NN_LOSS_MSLE,
    NN_LOSS_HINGE,
    NN_LOSS_SQUARED_HINGE,
    NN_LOSS_BINARY_CE,        /* on probabilities (clipped, as Keras) */
    NN_LOSS_BINARY_CE_LOGITS, /* fused sigmoid + BCE: input is pre-activation */
    NN_LOSS_CATEGORICAL_CE,   /* on probabilities (clipped) */
    NN_LOSS_SOFTMAX_CE,       /* fused softmax + CE on logits, one-hot targets */
    NN_LOSS_SPARSE_CE,        /* on probabilities, integer targets */
    NN_LOSS_SPARSE_SOFTMAX_CE,/* fused, integer targets */
    NN_LOSS_CATEGORICAL_HINGE,/* max(max((1-y) p) - sum(y p) + 1, 0), per sample */
    NN_LOSS_KL_DIVERGENCE,    /* sum y log(y / p), both clipped to [eps, 1] */
    NN_LOSS_POISSON,          /* mean p - y log(p + eps) */
    NN_LOSS_LOG_COSH,         /* mean log(cosh(p - y)) */
    NN_LOSS_HUBER,            /* mean 0.5 d^2 (|d| <= delta), delta |d| - 0.5 delta^2 */
    NN_LOSS_COSINE_SIMILARITY,/* -sum of the l2-normalized y and p, per sample */
    NN_LOSS_COUNT
} nn_loss_kind;

/* Metric sums over a batch (the caller divides by the sample count). */
typedef enum {
    NN_METRIC_BINARY_ACCURACY = 0,   /* threshold 0.5 */
    NN_METRIC_CATEGORICAL_ACCURACY,  /* argmax(pred) == argmax(target) */
    NN_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    NN_METRIC_TOP_K,                 /* target one-hot */
    NN_METRIC_SPARSE_TOP_K,
    NN_METRIC_MSE,
    NN_METRIC_MAE,
    NN_METRIC_MAPE,
    NN_METRIC_MSLE,
    NN_METRIC_COUNT
} nn_metric_kind;

typedef enum {
    NN_OPT_SGD = 0,
    NN_OPT_RMSPROP,
    NN_OPT_ADAM,
    NN_OPT_ADAGRAD,
    NN_OPT_ADADELTA,
    NN_OPT_ADAMAX,
    NN_OPT_NADAM,
    NN_OPT_COUNT
} nn_opt_kind;

/* Hyper-parameters of one update step (lr already decayed by the caller). */
typedef struct nn_opt_step {
    nn_opt_kind kind;
    float lr;
    float momentum;     /* SGD */
    bool nesterov;      /* SGD */
    float rho;          /* RMSprop, Adadelta */
    float beta_1, beta_2;
    float epsilon;
    bool amsgrad;
    long long t;        /* 1-based step count (Adam-family bias correction) */
    float initial_accumulator; /* Adagrad */
    double nadam_mu_t, nadam_mu_next, nadam_mu_product; /* Nadam schedule */
    float clipnorm, clipvalue; /* 0 = off; applied by the caller per tensor */
    /* Per-step constants, computed once per step for every tensor and
     * every engine (nn_opt_step_constants): Adam's lr * sqrt(1 - b2^t) /
     * (1 - b1^t); Adamax's lr / (1 - b1^t); Nadam's momentum-schedule
     * corrections c0, c1 and 1 / (1 - b2^t) as c2. */
    float c0, c1, c2;
} nn_opt_step;

/* Fills s->c0..c2 from the rest of s. */
void nn_opt_step_constants(nn_opt_step *s);

/* A 2-D convolution or pooling window over channels-last (NHWC) tensors,
 * Keras semantics: cross-correlation, kernel (kh, kw, in, out), 'same'
 * padding puts the extra row/column at the bottom/right. Conv1D is the
 * h = 1 case. */
typedef struct nn_conv_geom {
    int n, h, w, c;          /* input */
    int kh, kw, f;           /* window and output channels (f = c for pooling) */
    int sh, sw, dh, dw;      /* strides, dilations */
    int pad_top, pad_left;   /* the rest of 'same' padding is bottom/right */
    int oh, ow;              /* output */
} nn_conv_geom;

typedef enum { NN_POOL_MAX = 0, NN_POOL_AVG } nn_pool_kind;

/* A recurrent cell's elementwise part (Keras 2 semantics); the layer does
 * the products with gemm/gemm_ex. Gate blocks of `units` columns, in
 * Keras's order: LSTM i, f, c, o; GRU z, r, h. act is the cell activation
 * (tanh), rec_act the gates' (sigmoid). */
typedef enum { NN_RNN_SIMPLE = 0, NN_RNN_LSTM, NN_RNN_GRU } nn_rnn_kind;
typedef struct nn_rnn_cell {
    nn_rnn_kind kind;
    nn_act act, rec_act;
    float act_alpha, rec_alpha; /* leaky_relu slope, elu alpha */
    int units;
    bool reset_after;   /* GRU: r multiplies (h R + b_rec), not h */
} nn_rnn_cell;

/* Sums n host doubles over the processes of a data-parallel run, in
 * place (SyncBatchNormalization's statistics). */
typedef struct nn_sum_hook {
    void (*sum)(void *ctx, double *v, size_t n);
    void *ctx;
} nn_sum_hook;

/* Broadcasts bytes from rank 0 to every process (the caller's transport),
 * for an engine that bootstraps its own collectives; 0 on success. */
typedef int (*nn_bcast_fn)(void *ctx, void *buf, size_t bytes);

typedef struct nn_engine_ops {
    const char *name;

    /* Can products run in precision p here? false with why set to one
     * line saying what is missing (the CPU's bf16 instructions, a GPU's
     * tensor cores). float32 always can. */
    bool (*precision_supported)(nn_engine *e, nn_precision p, char *why, size_t len);
    /* The kernels that run products in p, for --version and the first
     * training line ("oneDNN 2.6.3 avx512_core_amx: AMX bf16 tiles"). */
    void (*describe_precision)(nn_engine *e, nn_precision p, char *buf, size_t len);

    /* memory */
    nn_status (*alloc)(nn_engine *e, nn_tensor *t, int ndim, const int *shape, nn_error *err);
    void (*free)(nn_engine *e, nn_tensor *t);
    void (*upload)(nn_engine *e, nn_tensor *dst, const float *src, size_t n);
    void (*download)(nn_engine *e, float *dst, const nn_tensor *src, size_t n);
    void (*copy)(nn_engine *e, nn_tensor *dst, const nn_tensor *src, size_t n);
    void (*fill)(nn_engine *e, nn_tensor *t, float value, size_t n);
    /* A host pointer to t's memory when the engine keeps tensors in host
     * memory (then callers fill it in place instead of uploading a copy),
     * else NULL. */
    float *(*host_ptr)(nn_engine *e, nn_tensor *t);
    /* The stream device work is queued on (the GPU engine's cudaStream_t:
     * plugin layers' GPU functions run on it); NULL or absent on the CPU. */
    void *(*native_stream)(nn_engine *e);
    /* Host memory for the staging buffers that batches are uploaded from
     * (when host_ptr is NULL): page-locked where the engine's uploads are
     * faster from it (GPU), plain malloc otherwise. NULL with err set when
     * out of memory; free_host(NULL) does nothing. */
    void *(*alloc_host)(nn_engine *e, size_t bytes, nn_error *err);
    void (*free_host)(nn_engine *e, void *p);
    /* The most device memory the engine has held at once, in bytes: its
     * tensors and scratch buffers (not the CUDA context, cuBLAS's or
     * cuDNN's own). Optional: NULL for engines without device memory. */
    size_t (*device_peak_bytes)(nn_engine *e);

    /* C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op = transpose if ta/tb.
     * A is M x K (K x M when ta), B is K x N (N x K when tb). */
    void (*gemm)(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                 const nn_tensor *A, const nn_tensor *B, float beta, nn_tensor *C);
    /* gemm on sub-matrices: the same product with explicit leading
     * dimensions (row strides in floats) of A, B and C, for column blocks
     * (a GRU's gate blocks) and strided views (nn_tensor_view). */
    void (*gemm_ex)(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                    const nn_tensor *A, int lda, const nn_tensor *B, int ldb, float beta,
                    nn_tensor *C, int ldc);
    /* Y[r, c] += b[c] */
    void (*add_bias)(nn_engine *e, nn_tensor *Y, const nn_tensor *b, int rows, int cols);
    /* db[c] = beta * db[c] + sum_r dY[r, c] */
    void (*bias_grad)(nn_engine *e, const nn_tensor *dY, nn_tensor *db, int rows, int cols,
                      float beta);

    /* y = act(x); softmax over rows of length cols. alpha: leaky_relu slope,
     * elu alpha. y may alias x except for softmax. */
    void (*act_forward)(nn_engine *e, nn_act act, float alpha, const nn_tensor *x, nn_tensor *y,
                        int rows, int cols);
    /* dx = dy * act'(x) (uses x and/or y as each activation needs).
     * dx may alias dy. */
    void (*act_backward)(nn_engine *e, nn_act act, float alpha, const nn_tensor *x,
                         const nn_tensor *y, const nn_tensor *dy, nn_tensor *dx, int rows,
                         int cols);

    /* Inverted dropout over rows x cols: mask = (u >= rate) / (1 - rate),
     * y = x * mask, where u is a hash of (key, the row's sample id, the
     * column): counter-based, so a sample's mask is the same wherever it
     * sits in a batch, whichever process runs it and whatever the thread
     * count. ids: one sample id per row (nn_ids_tensor; NULL: the row
     * index). */
    void (*dropout_forward)(nn_engine *e, float rate, uint64_t key, const nn_tensor *ids,
                            const nn_tensor *x, nn_tensor *mask, nn_tensor *y, int rows,
                            size_t cols);
    /* out = a * b elementwise (out may be a or b) */
    void (*mul)(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n);
    /* mask[r] = 1 where some x[r, 0..cols) differs from value (a NaN
     * does), else 0: Keras's Masking, one value per sample and step. */
    void (*mask_rows)(nn_engine *e, const nn_tensor *x, float value, nn_tensor *mask, size_t rows,
                      int cols);
    /* out = act(a + b), act NN_ACT_LINEAR, NN_ACT_RELU or NN_ACT_RELU6 (a
     * residual connection and the ReLU after it in one pass) */
    void (*add)(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out, size_t n,
                nn_act act);
    /* Broadcasting along the middle axis: x and y are (outer, mid, inner),
     * g is (outer, inner); y = x * g (mul) or x + g (else). y may be x.
     * (Squeeze-excite's (h, w, c) * (1, 1, c) per sample: outer = batch,
     * mid = h * w; a per-channel scale: outer = 1, mid = rows * h * w;
     * a per-sample one: inner = 1.) */
    void (*bcast_apply)(nn_engine *e, bool mul, const nn_tensor *x, const nn_tensor *g,
                        nn_tensor *y, int outer, int mid, int inner);
    /* Its reduction: dg[o, i] = beta * dg[o, i] + sum over m of a[o, m, i]
     * (times b[o, m, i] when b is not NULL). Sums in a fixed order: the
     * result depends on the thread count only. */
    void (*bcast_reduce)(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *dg,
                         int outer, int mid, int inner, float beta);
    /* y = alpha * x + y */
    void (*axpy)(nn_engine *e, float alpha, const nn_tensor *x, nn_tensor *y, size_t n);
    void (*scale)(nn_engine *e, nn_tensor *x, float alpha, size_t n);

    /* Loss over a batch of `rows` samples with `cols` outputs. Returns the
     * SUM over samples of each sample's loss. If grad != NULL, writes
     * d(mean loss over the batch)/d(input) times `grad_scale` into grad.
     * For sparse losses target holds one label per row. `param` is the
     * loss's parameter where it has one (huber's delta), else ignored. */
    double (*loss)(nn_engine *e, nn_loss_kind kind, float param, const nn_tensor *input,
                   const nn_tensor *target, int rows, int cols, nn_tensor *grad,
                   float grad_scale);
    /* Metric sum over the batch (e.g. number of correct predictions). */
    double (*metric)(nn_engine *e, nn_metric_kind kind, int k, const nn_tensor *pred,
                     const nn_tensor *target, int rows, int cols);

    /* Regularization: returns l1 * sum|w| + l2 * sum w^2 over n values;
     * if grad != NULL adds its gradient times grad_scale into grad. */
    double (*regularize)(nn_engine *e, const nn_tensor *w, float l1, float l2, nn_tensor *grad,
                         float grad_scale, size_t n);
    /* Sum of squares (for clipnorm) */
    double (*sum_squares)(nn_engine *e, const nn_tensor *x, size_t n);
    /* x = clamp(x, -c, c) */
    void (*clip)(nn_engine *e, nn_tensor *x, float c, size_t n);

    /* One optimizer step on n parameters. slots: up to 3 state tensors, as
     * many as the kind needs (see nn_opt_slot_count). */
    void (*opt_update)(nn_engine *e, const nn_opt_step *s, nn_tensor *w, const nn_tensor *g,
                       nn_tensor *slots[3], size_t n);

    /* Convolution. Workspace: at least conv_workspace(g) floats, owned by
     * the caller (planned once). y = conv(x, w) + bias (bias NULL: none; one
     * value per output channel, added in the same pass where the engine
     * can); act: the activation the caller applies next, which the engine
     * may apply in the same pass (then it returns true and y holds
     * act(conv + bias); false: y holds conv + bias). dx = conv's input
     * gradient (overwritten); dw = beta * dw + filter gradient and, when
     * dbias is not NULL, dbias = beta * dbias + the bias gradient (dy summed
     * over pixels). */
    size_t (*conv_workspace)(nn_engine *e, const nn_conv_geom *g);
    bool (*conv2d_forward)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                           const nn_tensor *w, const nn_tensor *bias, nn_act act, nn_tensor *y,
                           nn_tensor *ws);
    void (*conv2d_backward_data)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                 const nn_tensor *w, nn_tensor *dx, nn_tensor *ws);
    void (*conv2d_backward_filter)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                   const nn_tensor *dy, nn_tensor *dw, nn_tensor *dbias,
                                   float beta, nn_tensor *ws);

    /* Depthwise convolution: each input channel c has its own depth
     * multiplier m filters, kernel (kh, kw, c, m), output channel c * m + j
     * (g->f = c * m). Forward: y = depthwise(x, k) + bias (NULL: none),
     * and act as conv2d_forward's (true: y holds act(...)). dk = beta * dk
     * + filter gradient. */
    bool (*depthwise_forward)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                              const nn_tensor *k, const nn_tensor *bias, nn_act act,
                              nn_tensor *y);
    void (*depthwise_backward_data)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *dy,
                                    const nn_tensor *k, nn_tensor *dx);
    void (*depthwise_backward_filter)(nn_engine *e, const nn_conv_geom *g, const nn_tensor *x,
                                      const nn_tensor *dy, nn_tensor *dk, float beta);

    /* Pooling over windows (padding cells never win a max and are not
     * counted in an average, as Keras). Backward routes dy to the first
     * maximum of each window, or spreads it evenly; dx is overwritten. */
    void (*pool2d_forward)(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                           const nn_tensor *x, nn_tensor *y);
    void (*pool2d_backward)(nn_engine *e, nn_pool_kind kind, const nn_conv_geom *g,
                            const nn_tensor *x, const nn_tensor *y, const nn_tensor *dy,
                            nn_tensor *dx);

    /* Batch normalization over `rows` samples of `cols` channels.
     * Training: normalizes with the batch's mean and (biased) variance,
     * writes them to mean/var (cols floats each) for the moving averages
     * and the backward pass. Inference uses the given mean/var. gamma/beta
     * may be NULL (scale = 1, center = 0). sync (training only; NULL:
     * this batch alone): the statistics are those of the whole batch over
     * every process, whose per-channel sums sync adds up. */
    void (*batchnorm_forward)(nn_engine *e, bool training, const nn_tensor *x, int rows,
                              int cols, const nn_tensor *gamma, const nn_tensor *beta,
                              nn_tensor *mean, nn_tensor *var, float eps, nn_tensor *y,
                              const nn_sum_hook *sync);
    /* dx from dy (overwritten; may be NULL), and dgamma/dbeta (overwritten;
     * may be NULL), with the training pass's batch mean/var. sync: dx is
     * that of the statistics over every process (the forward pass's
     * sync); dgamma/dbeta stay this process's part (the caller sums
     * gradients over the processes). */
    void (*batchnorm_backward)(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *var, float eps, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta, const nn_sum_hook *sync);

    /* Layer normalization of `rows` rows of `cols` values: y = (x - mean) /
     * sqrt(var + eps) * gamma + beta with each row's mean and (biased)
     * variance; gamma/beta may be NULL (1 and 0). Writes each row's mean
     * and 1 / sqrt(var + eps) (rows floats each) for the backward pass. */
    void (*layernorm_forward)(nn_engine *e, const nn_tensor *x, int rows, int cols,
                              const nn_tensor *gamma, const nn_tensor *beta, float eps,
                              nn_tensor *y, nn_tensor *mean, nn_tensor *rstd);
    /* dx from dy (overwritten; may be NULL), dgamma and dbeta (overwritten;
     * may be NULL) with the forward pass's mean and rstd. */
    void (*layernorm_backward)(nn_engine *e, const nn_tensor *x, const nn_tensor *dy, int rows,
                               int cols, const nn_tensor *gamma, const nn_tensor *mean,
                               const nn_tensor *rstd, nn_tensor *dx, nn_tensor *dgamma,
                               nn_tensor *dbeta);

    /* out = max(a, b) or min(a, b) elementwise (is_max picks). */
    void (*extremum)(nn_engine *e, bool is_max, const nn_tensor *a, const nn_tensor *b,
                     nn_tensor *out, size_t n);
    /* dx = dy where x == y (the input that holds the result) and the mask
     * `taken` is 0 there; then marks those places in taken (1.0). For
     * Maximum/Minimum's gradient: the first input holding the result wins. */
    void (*route_equal)(nn_engine *e, const nn_tensor *x, const nn_tensor *y,
                        const nn_tensor *dy, nn_tensor *taken, nn_tensor *dx, size_t n);
    /* UpSampling2D of rows channels-last (H, W, C) images to (H sh, W sw,
     * C): nearest repeats each value, bilinear samples with half-pixel
     * centres and clamped edges (tf.image.resize's and jax.image.resize's
     * rule: engine/upsample.h). Backward: dx (overwritten) from dy. */
    void (*upsample2d)(nn_engine *e, bool bilinear, const nn_tensor *x, nn_tensor *y, int rows,
                       int H, int W, int C, int sh, int sw);
    void (*upsample2d_backward)(nn_engine *e, bool bilinear, const nn_tensor *dy, nn_tensor *dx,
                                int rows, int H, int W, int C, int sh, int sw);
    /* Column blocks of row-major matrices: dst[r, dst_off + c] = src[r,
     * src_off + c] for c < width (Concatenate and its gradient). */
    void (*copy_cols)(nn_engine *e, const nn_tensor *src, int src_cols, int src_off,
                      nn_tensor *dst, int dst_cols, int dst_off, int rows, int width);

    /* dst (b, a, c) from src (a, b, c): dst[j, i, :] = src[i', j', :] with
     * i' = a-1-i when rev_a (else i), j' = b-1-j when rev_b (else j).
     * Batch-major <-> time-major sequences, optionally reversed in time. */
    void (*swap_axes)(nn_engine *e, const nn_tensor *src, nn_tensor *dst, int a, int b, int c,
                      bool rev_a, bool rev_b);

    /* One LSTM step over `rows` samples: z (rows x 4U) holds the gates'
     * pre-activations; writes gates (rows x 4U: i, f, g, o activated),
     * c = f*c_prev + i*g, tc = act(c), h = o*tc (rows x U each). */
    void (*lstm_forward)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                         const nn_tensor *c_prev, nn_tensor *gates, nn_tensor *c, nn_tensor *tc,
                         nn_tensor *h, int rows);
    /* Its gradient: dh = d(loss)/dh for this step; dc holds d/dc from the
     * next step on entry and d/dc_prev on return; writes dz (rows x 4U). */
    void (*lstm_backward)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                          const nn_tensor *gates, const nn_tensor *c_prev, const nn_tensor *c,
                          const nn_tensor *tc, const nn_tensor *dh, nn_tensor *dc, nn_tensor *dz,
                          int rows);
    /* One GRU step, in two parts around the recurrent products. zx: x W +
     * b_in (rows x 3U); zh: the recurrent products (h R (+ b_rec when
     * reset_after); with reset_after = false its h block is (r*h) R_h).
     * gru_gates: gates[:, :2U] = rec_act(zx + zh) (z, r); rh = r * h_rec
     * when rh != NULL (reset_after = false, for the product (r*h) R_h).
     * gru_output: hh = act(zx_h + (reset_after ? r * zh_h : zh_h)) into
     * gates[:, 2U:], h = z*h_prev + (1-z)*hh. */
    void (*gru_gates)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                      const nn_tensor *zh, const nn_tensor *h_rec, nn_tensor *gates,
                      nn_tensor *rh, int rows);
    void (*gru_output)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                       const nn_tensor *zh, const nn_tensor *h_prev, nn_tensor *gates,
                       nn_tensor *h, int rows);
    /* GRU step gradient from dh: dzx = d/d(zx) (rows x 3U), dh_prev += dh*z;
     * reset_after: also dzh = d/d(zh) (rows x 3U). reset_after = false:
     * writes dzx's z and h blocks only; the layer forms drh = dzx_h R_h^T
     * and calls gru_reset_backward, which writes dzx's r block and adds
     * drh * r into dh_rec. */
    void (*gru_backward)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                         const nn_tensor *zh, const nn_tensor *h_prev, const nn_tensor *gates,
                         const nn_tensor *dh, nn_tensor *dzx, nn_tensor *dzh, nn_tensor *dh_prev,
                         int rows);
    void (*gru_reset_backward)(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                               const nn_tensor *zh, const nn_tensor *h_rec,
                               const nn_tensor *gates, const nn_tensor *drh, nn_tensor *dzx,
                               nn_tensor *dh_rec, int rows);

    /* Embedding lookup: out[i, :] = table[ids[i], :] for n ids (floats
     * holding integers); an id outside [0, vocab) gives a zero row (callers
     * validate ids first). Backward: dtable = beta*dtable + the rows of
     * dout summed per id. */
    void (*embedding_forward)(nn_engine *e, const nn_tensor *ids, const nn_tensor *table,
                              nn_tensor *out, size_t n, int vocab, int dim);
    void (*embedding_backward)(nn_engine *e, const nn_tensor *ids, const nn_tensor *dout,
                               nn_tensor *dtable, size_t n, int vocab, int dim, float beta);

    /* Collectives on engine memory for data-parallel training (optional:
     * NULL where the engine has none, and then gradients are summed in
     * host memory). comm_init sets them up for this process as `rank` of
     * `size`, using bcast to share what the others need; it fails
     * (NN_ERR_RUNTIME) when the library is not there, and says what it
     * uses in desc. comm_sum_start queues an in-place sum of t[0..n) over
     * the processes after the work already queued, overlapping what is
     * queued later; comm_wait waits for every sum started. */
    nn_status (*comm_init)(nn_engine *e, int rank, int size, nn_bcast_fn bcast, void *ctx,
                           char *desc, size_t desc_len, nn_error *err);
    nn_status (*comm_sum_start)(nn_engine *e, nn_tensor *t, size_t n, nn_error *err);
    nn_status (*comm_wait)(nn_engine *e, nn_error *err);
    /* Waits until the work queued so far is done (engines that queue work;
     * NULL: every op is done when it returns). */
    void (*sync)(nn_engine *e);

    void (*destroy)(nn_engine *e);
} nn_engine_ops;

struct nn_engine {
    const nn_engine_ops *ops;
    int threads;
    void *impl;
    /* The precision of the products that follow: the model sets it to each
     * layer's before running the layer (float32 when the engine was made). */
    nn_precision precision;
};

/* Called by the commands that train for long (train, sweep) before
 * anything else: sets libgomp's spin time, which it reads as it loads, by
 * starting the program again once (src/engine/cpu/cpu_engine.c). */
void nn_engine_preflight(char **argv);
/* The engines this binary has, for --version. */
void nn_engine_describe(char *buf, size_t len);

/* Engine creation by name ("cpu"; "gpu" when built with GPU=1). */
nn_status nn_engine_create(const char *name, int threads, nn_engine **out, nn_error *err);
void nn_engine_destroy(nn_engine *e);

/* Keras's policy names: "float32", "mixed_bfloat16", "mixed_float16";
 * parse returns false for any other name. */
const char *nn_precision_policy(nn_precision p);
bool nn_precision_parse(const char *policy, nn_precision *out);

/* Number of state slots each optimizer keeps per parameter tensor. */
int nn_opt_slot_count(nn_opt_kind kind, bool amsgrad);

/* n floats of t from element `offset` on (address arithmetic only, valid
 * for host and device memory; the view owns nothing). */
static inline nn_tensor nn_tensor_view(const nn_tensor *t, size_t offset, size_t n)
{
    nn_tensor v = {.data = t->data + offset, .size = n, .ndim = 1, .view = true,
                   .weights = t->weights, .version = t->version};
    v.shape[0] = (int)n;
    return v;
}

/* A batch's sample ids for dropout_forward: rows 32-bit unsigned values
 * stored in a float tensor's memory (their bits, not float values), made
 * with alloc and filled with upload from a uint32_t array. */
static inline const float *nn_ids_bits(const uint32_t *ids) { return (const float *)(const void *)ids; }

/* The dropout hash (both engines): a row key from (key, sample id), then
 * one value per column. Two rounds of a strong 32-bit finalizer keep
 * neighbouring ids, columns and keys independent; 32-bit multiplies keep
 * the column loop vectorized. Used as (h >> 8) >= rate * 2^24. */
#if defined(__CUDACC__)
#define NN_DROPOUT_HD __host__ __device__
#else
#define NN_DROPOUT_HD
#endif
static inline NN_DROPOUT_HD uint32_t nn_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}
static inline NN_DROPOUT_HD uint32_t nn_dropout_row_key(uint64_t key, uint32_t id)
{
    return nn_mix32(nn_mix32(id ^ (uint32_t)(key >> 32)) + (uint32_t)key);
}
static inline NN_DROPOUT_HD uint32_t nn_dropout_hash(uint64_t key, uint32_t row_key, uint32_t col)
{
    return nn_mix32(nn_mix32(col ^ (uint32_t)key) + row_key);
}

static inline size_t nn_shape_size(int ndim, const int *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    return n;
}

#endif

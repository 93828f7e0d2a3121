/* The GPU engine's mixed precision: mixed_float16 (fp16 tensor cores, Volta
 * and later) and mixed_bfloat16 (bf16 tensor cores, Ampere and later).
 * Products convert both operands to fp16/bf16 and run cublasGemmEx with
 * fp32 accumulation into the fp32 result; convolutions do the same through
 * cuDNN (gpu_conv.c). A layer's weights are converted once per update and
 * kept here (nn_tensor.version says when they changed); activations and
 * gradients on every call, into scratch. TF32 stays off for float32. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gpu/gpu_internal.h"

#define LOW_CACHE 256

typedef struct low_entry {
    const float *src;
    uint64_t version;
    unsigned tag;
    size_t bytes;
    void *buf;
    unsigned long used;
} low_entry;

struct nn_gpu_low_cache {
    low_entry e[LOW_CACHE];
    int n;
    unsigned long clock;
};

cudaDataType_t nn_gpu_cuda_type(nn_precision p)
{
    return p == NN_PREC_BFLOAT16 ? CUDA_R_16BF : CUDA_R_16F;
}

cudnnDataType_t nn_gpu_cudnn_type(nn_precision p)
{
    return p == NN_PREC_BFLOAT16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
}

void nn_gpu_low_cache_free(nn_engine *e)
{
    nn_gpu_low_cache *c = nn_gpu(e)->low;
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        cudaFree(c->e[i].buf);
    free(c);
    nn_gpu(e)->low = NULL;
}

void *nn_gpu_low_weights(nn_engine *e, const nn_tensor *w, unsigned tag, size_t bytes,
                         bool *stale)
{
    gpu_impl *g = nn_gpu(e);
    *stale = true;
    if (!w->weights)
        return NULL;
    if (!g->low && !(g->low = calloc(1, sizeof *g->low)))
        return NULL;
    nn_gpu_low_cache *c = g->low;
    c->clock++;
    low_entry *hit = NULL;
    for (int i = 0; i < c->n && !hit; i++)
        if (c->e[i].src == w->data && c->e[i].tag == tag && c->e[i].bytes == bytes)
            hit = &c->e[i];
    if (hit && hit->version == w->version) {
        hit->used = c->clock;
        *stale = false;
        return hit->buf;
    }
    if (!hit) {
        if (c->n < LOW_CACHE) {
            hit = &c->e[c->n++];
        } else {
            hit = &c->e[0];
            for (int i = 1; i < c->n; i++)
                if (c->e[i].used < hit->used)
                    hit = &c->e[i];
            cudaFree(hit->buf);
            hit->buf = NULL;
        }
        hit->src = w->data;
        hit->tag = tag;
        hit->bytes = bytes;
        if (!nn_gpu_check(e, cudaMalloc(&hit->buf, bytes ? bytes : 256),
                          "fp16/bf16 weights")) {
            hit->src = NULL;
            hit->buf = NULL;
            return NULL;
        }
    }
    hit->version = w->version;
    hit->used = c->clock;
    return hit->buf;
}

const void *nn_gpu_low_operand(nn_engine *e, const nn_tensor *t, size_t rows, size_t cols,
                               size_t ld, nn_gpu_scratch_slot slot)
{
    const size_t bytes = rows * cols * NN_GPU_LOW_BYTES;
    /* the tag: which block of the weights, in which precision */
    unsigned tag = (unsigned)(rows * 2654435761u) ^ (unsigned)(cols * 40503u) ^
                   (unsigned)(ld << 8) ^ (unsigned)e->precision;
    bool stale;
    void *buf = nn_gpu_low_weights(e, t, tag, bytes, &stale);
    if (!buf) {
        stale = true;
        buf = nn_gpu_scratch(e, slot, bytes);
    }
    if (buf && stale)
        nn_gpu_to_low(e, e->precision, t->data, rows, cols, ld, buf);
    return buf;
}

bool nn_gpu_gemm_low(nn_engine *e, bool ta, bool tb, int M, int N, int K, float alpha,
                     const nn_tensor *A, int lda, const nn_tensor *B, int ldb, float beta,
                     nn_tensor *C, int ldc)
{
    gpu_impl *g = nn_gpu(e);
    /* packed copies: A is K x M when ta (else M x K), B N x K when tb */
    const size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    const void *a = nn_gpu_low_operand(e, A, ar, ac, (size_t)lda, NN_GPU_SCRATCH_LOW_A);
    const void *b = a ? nn_gpu_low_operand(e, B, br, bc, (size_t)ldb, NN_GPU_SCRATCH_LOW_B)
                      : NULL;
    if (!b)
        return false;
    const cudaDataType_t t = nn_gpu_cuda_type(e->precision);
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    nn_gpu_check_blas(e, cublasGemmEx(g->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, b, t,
                                      (int)bc, a, t, (int)ac, &beta, C->data, CUDA_R_32F, ldc,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                      "cublasGemmEx (fp16/bf16)");
    return true;
}

bool nn_gpu_precision_supported(nn_engine *e, nn_precision p, char *why, size_t len)
{
    gpu_impl *g = nn_gpu(e);
    const int cc = g->cc_major * 10 + g->cc_minor;
    if (p == NN_PREC_FLOAT32)
        return true;
    if (p == NN_PREC_BFLOAT16 && cc < 80) {
        snprintf(why, len, "this GPU (sm_%d) has no bf16 tensor cores (Ampere, sm_80, and "
                           "later do; mixed_float16 runs on sm_70 and later)", cc);
        return false;
    }
    if (p == NN_PREC_FLOAT16 && cc < 70) {
        snprintf(why, len, "this GPU (sm_%d) has no fp16 tensor cores (Volta, sm_70, and "
                           "later do)", cc);
        return false;
    }
    return true;
}

void nn_gpu_describe_precision(nn_engine *e, nn_precision p, char *buf, size_t len)
{
    gpu_impl *g = nn_gpu(e);
    if (p == NN_PREC_FLOAT32)
        snprintf(buf, len, "fp32 products on cuBLAS, convolutions on cuDNN (TF32 %s)",
                 g->tf32 ? "on: NNCTL_GPU_TF32=1" : "off");
    else
        snprintf(buf, len, "%s products and convolutions on cuBLAS/cuDNN tensor cores (sm_%d%d), "
                           "fp32 accumulation",
                 p == NN_PREC_BFLOAT16 ? "bf16" : "fp16", g->cc_major, g->cc_minor);
}

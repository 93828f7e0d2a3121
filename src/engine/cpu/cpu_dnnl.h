/* The CPU engine's oneDNN state, shared by its convolution (cpu_conv_dnnl.c)
 * and bf16 product (cpu_matmul_dnnl.c) files; cpu_dnnl.c owns it. Never
 * included outside src/engine/cpu. */
#ifndef NN_ENGINE_CPU_DNNL_H
#define NN_ENGINE_CPU_DNNL_H

#include "engine/cpu/cpu_internal.h"

#ifdef NN_HAVE_DNNL

#include "engine/cpu/dnnl_api.h"

/* Convolution passes kept: a model uses about 6 per convolution layer (3
 * passes, 2 batch sizes), twice that when it switches precision; past this
 * the least recently used is dropped. */
#define DNNL_CONV_CACHE 512
/* bf16 products kept (one per shape; a recurrent layer has a handful) */
#define DNNL_MM_CACHE 256
/* bf16 copies of weights for products: a Dense kernel has two (x W and
 * dy W^T), a recurrent layer a few more (its gate blocks) */
#define DNNL_WEIGHT_CACHE 256
#define DNNL_KERNELS 16

/* One convolution pass for one geometry and precision. */
typedef struct dnnl_conv {
    nn_conv_geom g;
    nn_dnnl_op op;
    bool bias;                   /* with the bias (forward) or its gradient */
    nn_act act;                  /* forward: LINEAR, or RELU/RELU6 applied in the same pass */
    nn_precision prec;
    unsigned long used;          /* when last used (eviction) */
    dnnl_primitive_t prim;
    dnnl_primitive_t w_reorder;  /* user weights <-> the primitive's layout; NULL when equal */
    /* the two activation tensors the kernel reads and writes (handles set
     * per call): our NHWC tensors, or with Winograd its blocked copies in
     * the shared scratch, which in_reorder and out_reorder fill from (or
     * write back to) the NHWC tensors, in_user and out_user */
    dnnl_memory_t act_in, act_out;
    bool wino;                   /* Winograd F(4x4, 3x3) */
    size_t blk_bytes[2];         /* its blocked copies' sizes: act_in, act_out */
    dnnl_primitive_t in_reorder, out_reorder;
    dnnl_memory_t in_user, out_user;
    dnnl_memory_t w_user;        /* Keras layout, fp32 (handle set per call) */
    dnnl_memory_t w_prim;        /* filter pass: the gradient in the kernel's layout (owns it) */
    dnnl_memory_desc_t w_md;     /* forward, backward data: the kernel's weights layout */
    dnnl_memory_t b_user;        /* bias or its gradient (handle set per call), or NULL */
} dnnl_conv;

/* Convolution weights in a kernel's layout, kept while they are unchanged
 * (nn_tensor.version). Kept apart from the passes: layers of the same
 * geometry share a pass (ResNet50's repeated blocks), not their weights. */
#define DNNL_CONV_WEIGHTS 1024
typedef struct conv_weights {
    const float *src;
    uint64_t version;            /* 0: not filled yet (versions start at 1) */
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;           /* owns its buffer */
    unsigned long used;
} conv_weights;

/* One bf16 product C (M x N, row stride ldc, fp32) = alpha A B + beta C,
 * A (M x K) and B (K x N) packed bf16. */
typedef struct dnnl_mm {
    int M, N, K, ldc;
    float alpha, beta;
    unsigned long used;
    dnnl_primitive_t prim;       /* NULL: oneDNN declined the shape */
    dnnl_memory_t a, b, c;
} dnnl_mm;

/* A packed bf16 copy of (a block of) weights, kept while they are unchanged. */
typedef struct bf16_weights {
    const float *src;
    uint64_t version;
    int rows, cols, ld;
    bool trans;
    uint16_t *buf;
    size_t cap;
    unsigned long used;
} bf16_weights;

struct nn_cpu_dnnl {
    bool tried, ready;           /* oneDNN loaded, its engine and stream made (first use) */
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    long ran, declined;          /* passes and products oneDNN ran / left to the fallback */
    long wino_ran;               /* passes that ran Winograd's kernel */
    long weight_packs;           /* bf16 copies of weights made (tests: once per update) */
    long weight_reorders;        /* convolution weights put in a kernel's layout */
    unsigned long clock;
    int n_conv, n_mm, n_wt;
    dnnl_conv *conv[DNNL_CONV_CACHE];
    dnnl_mm *mm[DNNL_MM_CACHE];
    bf16_weights wt[DNNL_WEIGHT_CACHE];
    int n_cw;
    conv_weights cw[DNNL_CONV_WEIGHTS];
    uint16_t *act[2];            /* activations converted to bf16: operand 0 and 1 */
    size_t act_cap[2];
    bool wino_off;               /* NNCTL_CONV=direct: no Winograd */
    uint16_t *blk[2];            /* Winograd's blocked fp32 activations (raw bytes): in, out */
    size_t blk_cap[2];
    int n_kernels;               /* oneDNN's names of the kernels made, for reports */
    char kernels[DNNL_KERNELS][64];
};

/* Loads oneDNN and makes its engine and stream, once; false when oneDNN
 * is missing or fails (then nothing here runs). */
bool nn_dnnl_ready(nn_cpu_dnnl *d);
bool nn_dnnl_ok(dnnl_status_t s);
bool nn_dnnl_run(nn_cpu_dnnl *d, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args);
/* Remembers the kernel a primitive descriptor picked (its implementation name). */
void nn_dnnl_note_kernel(nn_cpu_dnnl *d, const_dnnl_primitive_desc_t pd);
/* n bf16 values of activation scratch for operand slot 0 or 1 (grown, never
 * per call once the largest shape ran); NULL when out of memory. */
uint16_t *nn_dnnl_act_buffer(nn_cpu_dnnl *d, int slot, size_t n);
/* bytes of blocked activation scratch for slot 0 (in) or 1 (out), grown
 * the same way; NULL when out of memory. */
void *nn_dnnl_blk_buffer(nn_cpu_dnnl *d, int slot, size_t bytes);
/* t's rows x cols block (row stride ld; transposed when trans) packed as
 * bf16: from the cache when t holds weights that have not changed since,
 * else converted (into slot's activation scratch when t is not weights).
 * NULL when out of memory. */
const uint16_t *nn_dnnl_bf16_operand(nn_engine *e, nn_cpu_dnnl *d, const nn_tensor *t, int rows,
                                     int cols, int ld, bool trans, int slot);
/* The slot for weights src in layout md (found, or made: a new buffer, or
 * the least recently used slot's); NULL when out of memory. The caller
 * fills it when its version is not src's. */
conv_weights *nn_dnnl_conv_weights(nn_cpu_dnnl *d, const float *src, const dnnl_memory_desc_t *md);
void nn_dnnl_conv_free(dnnl_conv *c);
void nn_dnnl_mm_free(dnnl_mm *m);

#endif
#endif

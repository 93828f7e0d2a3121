/* mixed_bfloat16 products through oneDNN's matmul: Debian's OpenBLAS 0.3.21
 * has no bf16 GEMM, and oneDNN runs AMX tiles where the CPU has them
 * (AVX512-BF16 dot products otherwise). Both operands are packed as bf16
 * (transposed where gemm asks, so every product is a plain row-major one
 * the brgemm kernels take); a layer's weights are packed once per update
 * and kept (nn_tensor.version), activations on every call. Accumulation
 * and C are fp32. One primitive per shape, made on first use. */
#include "engine/cpu/cpu_dnnl.h"

#ifdef NN_HAVE_DNNL

#include <stdlib.h>

#define ok nn_dnnl_ok

/* The primitive and its memories; the entry itself stays. */
static void mm_release(dnnl_mm *m)
{
    if (m->prim)
        dnnl_primitive_destroy(m->prim);
    dnnl_memory_t mems[] = {m->a, m->b, m->c};
    for (int i = 0; i < 3; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    m->prim = NULL;
    m->a = m->b = m->c = NULL;
}

void nn_dnnl_mm_free(dnnl_mm *m)
{
    if (!m)
        return;
    mm_release(m);
    free(m);
}

static bool mm_make(nn_cpu_dnnl *d, dnnl_mm *m)
{
    dnnl_dims_t ad = {m->M, m->K}, bd = {m->K, m->N}, cd = {m->M, m->N};
    dnnl_dims_t cs = {m->ldc, 1};
    dnnl_memory_desc_t a, b, c;
    if (!ok(dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab)) ||
        !ok(dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_bf16, dnnl_ab)) ||
        !ok(dnnl_memory_desc_init_by_strides(&c, 2, cd, dnnl_f32, cs)))
        return false;
    dnnl_matmul_desc_t md;
    if (!ok(dnnl_matmul_desc_init(&md, &a, &b, NULL, &c)))
        return false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool made = false;
    if (!ok(dnnl_primitive_attr_create(&attr)))
        return false;
    if (m->alpha != 1.0f && !ok(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &m->alpha)))
        goto done;
    /* C = alpha A B + beta C: the old C comes in through a sum post-op */
    if (m->beta != 0.0f &&
        (!ok(dnnl_post_ops_create(&po)) || !ok(dnnl_post_ops_append_sum(po, m->beta)) ||
         !ok(dnnl_primitive_attr_set_post_ops(attr, po))))
        goto done;
    if (!ok(dnnl_primitive_desc_create(&pd, &md, attr, d->eng, NULL)) ||
        !ok(dnnl_primitive_create(&m->prim, pd)) ||
        !ok(dnnl_memory_create(&m->a, &a, d->eng, DNNL_MEMORY_NONE)) ||
        !ok(dnnl_memory_create(&m->b, &b, d->eng, DNNL_MEMORY_NONE)) ||
        !ok(dnnl_memory_create(&m->c, &c, d->eng, DNNL_MEMORY_NONE)))
        goto done;
    nn_dnnl_note_kernel(d, pd);
    made = true;
done:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return made;
}

static dnnl_mm *mm_get(nn_cpu_dnnl *d, int M, int N, int K, int ldc, float alpha, float beta)
{
    d->clock++;
    for (int i = 0; i < d->n_mm; i++) {
        dnnl_mm *m = d->mm[i];
        if (m->M == M && m->N == N && m->K == K && m->ldc == ldc && m->alpha == alpha &&
            m->beta == beta) {
            m->used = d->clock;
            return m->prim ? m : NULL;
        }
    }
    if (d->n_mm == DNNL_MM_CACHE) {
        int old = 0;
        for (int i = 1; i < d->n_mm; i++)
            if (d->mm[i]->used < d->mm[old]->used)
                old = i;
        nn_dnnl_mm_free(d->mm[old]);
        d->mm[old] = d->mm[--d->n_mm];
    }
    dnnl_mm *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    *m = (dnnl_mm){.M = M, .N = N, .K = K, .ldc = ldc, .alpha = alpha, .beta = beta,
                   .used = d->clock};
    if (!mm_make(d, m))
        mm_release(m); /* kept without a primitive: a shape oneDNN declined */
    d->mm[d->n_mm++] = m;
    return m->prim ? m : NULL;
}

bool nn_cpu_dnnl_matmul(nn_engine *e, int M, int N, int K, float alpha, const nn_tensor *A,
                        int lda, bool ta, const nn_tensor *B, int ldb, bool tb, float beta,
                        nn_tensor *C, int ldc)
{
    nn_cpu_dnnl *d = nn_cpu_dnnl_of(e);
    if (!d || e->precision != NN_PREC_BFLOAT16 || M <= 0 || N <= 0 || K <= 0 ||
        !nn_dnnl_ready(d))
        return false;
    dnnl_mm *m = mm_get(d, M, N, K, ldc, alpha, beta);
    /* A is stored K x M when ta (M x K otherwise), B N x K when tb */
    const uint16_t *a = m ? nn_dnnl_bf16_operand(e, d, A, ta ? K : M, ta ? M : K, lda, ta, 0)
                          : NULL;
    const uint16_t *b = a ? nn_dnnl_bf16_operand(e, d, B, tb ? N : K, tb ? K : N, ldb, tb, 1)
                          : NULL;
    if (!b || !ok(dnnl_memory_set_data_handle(m->a, (void *)a)) ||
        !ok(dnnl_memory_set_data_handle(m->b, (void *)b)) ||
        !ok(dnnl_memory_set_data_handle(m->c, C->data))) {
        d->declined++;
        return false;
    }
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->b}, {DNNL_ARG_DST, m->c}};
    if (!nn_dnnl_run(d, m->prim, 3, args) || !ok(dnnl_stream_wait(d->strm))) {
        d->declined++;
        return false;
    }
    d->ran++;
    return true;
}

#endif

/* The CPU engine's oneDNN state: loading the library on first use, the
 * caches its convolutions and bf16 products share, and what the engine
 * reports about them (the kernels, whether this CPU has bf16). */
#include "engine/cpu/cpu_dnnl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NN_HAVE_DNNL

nn_cpu_dnnl *nn_cpu_dnnl_create(void)
{
    nn_cpu_dnnl *d = calloc(1, sizeof(nn_cpu_dnnl));
    const char *v = getenv("NNCTL_CONV");
    if (d)
        d->wino_off = v && strcmp(v, "direct") == 0;
    return d;
}

bool nn_dnnl_ok(dnnl_status_t s) { return s == dnnl_success; }

int nn_cpu_dnnl_conv_weight_copies(const nn_cpu_dnnl *d) { return d ? d->n_cw : 0; }

void nn_cpu_dnnl_forget(nn_cpu_dnnl *d, const float *p)
{
    if (!d || !p)
        return;
    for (int i = 0; i < d->n_cw;)
        if (d->cw[i].src == p) {
            dnnl_memory_destroy(d->cw[i].mem);
            d->cw[i] = d->cw[--d->n_cw];
        } else {
            i++;
        }
    for (int i = 0; i < d->n_wt; i++)
        if (d->wt[i].src == p)
            d->wt[i].src = NULL, d->wt[i].used = 0; /* first to be reused */
}

bool nn_dnnl_ready(nn_cpu_dnnl *d)
{
    if (!d)
        return false;
    if (d->tried)
        return d->ready;
    d->tried = true;
    if (!nn_dnnl_load())
        return false;
    if (!nn_dnnl_ok(dnnl_engine_create(&d->eng, dnnl_cpu, 0)))
        return false;
    if (!nn_dnnl_ok(dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags))) {
        dnnl_engine_destroy(d->eng);
        return false;
    }
    d->ready = true;
    return true;
}

void nn_cpu_dnnl_destroy(nn_cpu_dnnl *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n_conv; i++)
        nn_dnnl_conv_free(d->conv[i]);
    for (int i = 0; i < d->n_mm; i++)
        nn_dnnl_mm_free(d->mm[i]);
    for (int i = 0; i < d->n_wt; i++)
        free(d->wt[i].buf);
    for (int i = 0; i < d->n_cw; i++)
        dnnl_memory_destroy(d->cw[i].mem);
    free(d->act[0]);
    free(d->act[1]);
    free(d->blk[0]);
    free(d->blk[1]);
    if (d->ready) {
        dnnl_stream_destroy(d->strm);
        dnnl_engine_destroy(d->eng);
    }
    free(d);
}

bool nn_dnnl_run(nn_cpu_dnnl *d, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args)
{
    return nn_dnnl_ok(dnnl_primitive_execute(p, d->strm, n, args));
}

void nn_dnnl_note_kernel(nn_cpu_dnnl *d, const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (!nn_dnnl_ok(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl)) || !impl)
        return;
    for (int i = 0; i < d->n_kernels; i++)
        if (strcmp(d->kernels[i], impl) == 0)
            return;
    if (d->n_kernels < DNNL_KERNELS)
        snprintf(d->kernels[d->n_kernels++], sizeof d->kernels[0], "%s", impl);
}

/* 64-byte aligned, grown to what is asked (contents not kept) */
static uint16_t *grow(uint16_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n && *buf)
        return *buf;
    size_t bytes = ((n ? n : 1) * sizeof(uint16_t) + 63) & ~(size_t)63;
    uint16_t *p = aligned_alloc(64, bytes);
    if (!p)
        return NULL;
    free(*buf);
    *buf = p;
    *cap = bytes / sizeof(uint16_t);
    return p;
}

uint16_t *nn_dnnl_act_buffer(nn_cpu_dnnl *d, int slot, size_t n)
{
    return grow(&d->act[slot], &d->act_cap[slot], n);
}

void *nn_dnnl_blk_buffer(nn_cpu_dnnl *d, int slot, size_t bytes)
{
    size_t n = (bytes + sizeof(uint16_t) - 1) / sizeof(uint16_t);
    return grow(&d->blk[slot], &d->blk_cap[slot], n);
}

const uint16_t *nn_dnnl_bf16_operand(nn_engine *e, nn_cpu_dnnl *d, const nn_tensor *t, int rows,
                                     int cols, int ld, bool trans, int slot)
{
    const size_t n = (size_t)rows * cols;
    if (!t->weights) {
        uint16_t *buf = nn_dnnl_act_buffer(d, slot, n);
        if (buf)
            nn_cpu_pack_bf16(e->threads, t->data, rows, cols, ld, trans, buf);
        return buf;
    }
    d->clock++;
    bf16_weights *w = NULL;
    for (int i = 0; i < d->n_wt; i++) {
        bf16_weights *c = &d->wt[i];
        if (c->src == t->data && c->rows == rows && c->cols == cols && c->ld == ld &&
            c->trans == trans) {
            w = c;
            break;
        }
    }
    if (w && w->version == t->version) {
        w->used = d->clock;
        return w->buf;
    }
    if (!w) {
        if (d->n_wt < DNNL_WEIGHT_CACHE) {
            w = &d->wt[d->n_wt++];
        } else {
            w = &d->wt[0];
            for (int i = 1; i < d->n_wt; i++)
                if (d->wt[i].used < w->used)
                    w = &d->wt[i];
        }
        w->src = t->data;
        w->rows = rows;
        w->cols = cols;
        w->ld = ld;
        w->trans = trans;
    }
    if (!grow(&w->buf, &w->cap, n)) {
        w->src = NULL; /* an empty entry: nothing matches it */
        return NULL;
    }
    nn_cpu_pack_bf16(e->threads, t->data, rows, cols, ld, trans, w->buf);
    w->version = t->version;
    w->used = d->clock;
    d->weight_packs++;
    return w->buf;
}

conv_weights *nn_dnnl_conv_weights(nn_cpu_dnnl *d, const float *src, const dnnl_memory_desc_t *md)
{
    d->clock++;
    conv_weights *k = NULL;
    for (int i = 0; i < d->n_cw; i++)
        if (d->cw[i].src == src && dnnl_memory_desc_equal(&d->cw[i].md, md)) {
            k = &d->cw[i];
            break;
        }
    if (!k) {
        if (d->n_cw < DNNL_CONV_WEIGHTS) {
            k = &d->cw[d->n_cw];
        } else {
            k = &d->cw[0];
            for (int i = 1; i < d->n_cw; i++)
                if (d->cw[i].used < k->used)
                    k = &d->cw[i];
            dnnl_memory_destroy(k->mem);
        }
        k->mem = NULL;
        if (!nn_dnnl_ok(dnnl_memory_create(&k->mem, md, d->eng, DNNL_MEMORY_ALLOCATE))) {
            if (k != &d->cw[d->n_cw]) /* an evicted slot: fill the hole */
                *k = d->cw[--d->n_cw];
            return NULL;
        }
        if (k == &d->cw[d->n_cw])
            d->n_cw++;
        k->src = src;
        k->md = *md;
        k->version = 0;
    }
    k->used = d->clock;
    return k;
}

void nn_cpu_dnnl_counts(const nn_cpu_dnnl *d, long *ran, long *declined)
{
    *ran = d ? d->ran : 0;
    *declined = d ? d->declined : 0;
}

long nn_cpu_dnnl_winograd_count(const nn_cpu_dnnl *d) { return d ? d->wino_ran : 0; }

bool nn_cpu_dnnl_avx512(nn_cpu_dnnl *d)
{
    if (!nn_dnnl_ready(d)) /* NULL too */
        return false;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa(); /* ONEDNN_MAX_CPU_ISA lowers it */
    return isa == dnnl_cpu_isa_avx512_core || isa == dnnl_cpu_isa_avx512_core_vnni ||
           isa == dnnl_cpu_isa_avx512_core_bf16 || isa == dnnl_cpu_isa_avx512_core_amx;
}

void nn_cpu_dnnl_weight_counts(const nn_cpu_dnnl *d, long *packs, long *reorders)
{
    *packs = d ? d->weight_packs : 0;
    *reorders = d ? d->weight_reorders : 0;
}

const char *nn_cpu_dnnl_version(char *buf, size_t len)
{
    if (!nn_dnnl_load()) {
        snprintf(buf, len, "%s", "");
        return buf;
    }
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, len, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

/* oneDNN's best instruction set here (ONEDNN_MAX_CPU_ISA can lower it). */
static const char *isa_name(dnnl_cpu_isa_t isa, const char **what)
{
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx:
        *what = "AMX bf16 tiles";
        return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16:
        *what = "AVX512-BF16, no AMX";
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: *what = "no bf16"; return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: *what = "no bf16"; return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: *what = "no bf16"; return "avx2_vnni";
    case dnnl_cpu_isa_avx2: *what = "no bf16"; return "avx2";
    case dnnl_cpu_isa_avx: *what = "no bf16"; return "avx";
    case dnnl_cpu_isa_sse41: *what = "no bf16"; return "sse41";
    default: *what = "no bf16"; return "baseline";
    }
}

bool nn_cpu_dnnl_bf16(nn_cpu_dnnl *d, char *why, size_t len)
{
    if (!d) {
        snprintf(why, len, "oneDNN is off (NNCTL_CONV=im2col)");
        return false;
    }
    if (!nn_dnnl_ready(d)) {
        snprintf(why, len, "oneDNN (libdnnl.so.2) could not be loaded");
        return false;
    }
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (isa == dnnl_cpu_isa_avx512_core_amx || isa == dnnl_cpu_isa_avx512_core_bf16)
        return true;
    const char *what, *name = isa_name(isa, &what);
    snprintf(why, len, "this CPU has no bf16 instructions (AVX512-BF16 or AMX; oneDNN's best "
                       "here is %s)",
             name);
    return false;
}

void nn_cpu_dnnl_describe(nn_cpu_dnnl *d, nn_precision p, char *buf, size_t len)
{
    char v[64];
    if (!d || !nn_dnnl_ready(d)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    const char *what, *name = isa_name(dnnl_get_effective_cpu_isa(), &what);
    if (p == NN_PREC_BFLOAT16)
        snprintf(buf, len, "%s %s kernels (%s)", nn_cpu_dnnl_version(v, sizeof v), name, what);
    else /* fp32 kernels are AVX-512 (or AVX2) ones on every CPU with bf16 */
        snprintf(buf, len, "%s fp32 kernels", nn_cpu_dnnl_version(v, sizeof v));
}

void nn_cpu_dnnl_kernels(const nn_cpu_dnnl *d, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; d && i < d->n_kernels && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", d->kernels[i]);
}

#else /* without oneDNN: the im2col path does every convolution, products stay fp32 */

nn_cpu_dnnl *nn_cpu_dnnl_create(void) { return NULL; }
void nn_cpu_dnnl_destroy(nn_cpu_dnnl *d) { (void)d; }
void nn_cpu_dnnl_forget(nn_cpu_dnnl *d, const float *p) { (void)d, (void)p; }
int nn_cpu_dnnl_conv_weight_copies(const nn_cpu_dnnl *d)
{
    (void)d;
    return 0;
}
void nn_cpu_dnnl_counts(const nn_cpu_dnnl *d, long *ran, long *declined)
{
    (void)d;
    *ran = *declined = 0;
}
long nn_cpu_dnnl_winograd_count(const nn_cpu_dnnl *d)
{
    (void)d;
    return 0;
}
bool nn_cpu_dnnl_avx512(nn_cpu_dnnl *d)
{
    (void)d;
    return false;
}
void nn_cpu_dnnl_weight_counts(const nn_cpu_dnnl *d, long *packs, long *reorders)
{
    (void)d;
    *packs = *reorders = 0;
}
const char *nn_cpu_dnnl_version(char *buf, size_t len)
{
    (void)len;
    buf[0] = '\0';
    return buf;
}
bool nn_cpu_dnnl_bf16(nn_cpu_dnnl *d, char *why, size_t len)
{
    (void)d;
    snprintf(why, len, "this nnctl was built without oneDNN (libdnnl-dev), which runs the bf16 "
                       "products");
    return false;
}
void nn_cpu_dnnl_describe(nn_cpu_dnnl *d, nn_precision p, char *buf, size_t len)
{
    (void)d, (void)p;
    snprintf(buf, len, "%s", "");
}
void nn_cpu_dnnl_kernels(const nn_cpu_dnnl *d, char *buf, size_t len)
{
    (void)d;
    snprintf(buf, len, "%s", "");
}
bool nn_cpu_dnnl_conv(nn_engine *e, nn_dnnl_op op, const nn_conv_geom *g, const nn_tensor *a,
                      const nn_tensor *b, float *bias, float *out, nn_act act)
{
    (void)e, (void)op, (void)g, (void)a, (void)b, (void)bias, (void)out, (void)act;
    return false;
}
bool nn_cpu_dnnl_matmul(nn_engine *e, int M, int N, int K, float alpha, const nn_tensor *A,
                        int lda, bool ta, const nn_tensor *B, int ldb, bool tb, float beta,
                        nn_tensor *C, int ldc)
{
    (void)e, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)ta, (void)B;
    (void)ldb, (void)tb, (void)beta, (void)C, (void)ldc;
    return false;
}

#endif

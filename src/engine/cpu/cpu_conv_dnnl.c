/* 2-D convolutions through oneDNN (Debian's libdnnl; built when its header
 * is found, NN_HAVE_DNNL). Its AVX-512 kernels read and write our NHWC
 * tensors as they are: only the weights move between Keras's (kh, kw, in,
 * out) layout and the blocked layout the kernels want, a reorder of a few
 * thousand values per call. On this project's 2-core machine the three
 * convolution passes of mnist_cnn and cifar10_cnn ran 2.1-2.5x faster than
 * im2col + OpenBLAS (docs/benchmarks.md).
 *
 * Primitives depend on the geometry (batch size included), so each is made
 * the first time a geometry is seen and kept: a run sees two (the planned
 * batch and the last, partial one) per layer and pass. Nothing is made per
 * batch after that. Any oneDNN failure makes the caller fall back to the
 * im2col path, so results never depend on whether oneDNN is there. */
#include "engine/cpu/cpu_internal.h"

#ifdef NN_HAVE_DNNL

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Passes kept: a model uses about 6 per convolution layer (3 passes, 2
 * batch sizes); past this the least recently used is dropped. */
#define DNNL_CACHE 512


/* One convolution pass for one geometry. */
typedef struct dnnl_conv {
    nn_conv_geom g;
    nn_dnnl_op op;
    bool bias;                   /* with the bias (forward) or its gradient */
    unsigned long used;          /* when last used (eviction) */
    dnnl_primitive_t prim;
    dnnl_primitive_t w_reorder;  /* user weights <-> the primitive's layout; NULL when equal */
    dnnl_memory_t act_in, act_out; /* NHWC user tensors (handles set per call) */
    dnnl_memory_t w_user;        /* Keras layout (handle set per call) */
    dnnl_memory_t w_prim;        /* the primitive's weights when reordered (owns its buffer) */
    dnnl_memory_t b_user;        /* bias or its gradient (handle set per call), or NULL */
} dnnl_conv;

struct nn_cpu_dnnl {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    long ran, declined; /* passes run, and passes left to im2col */
    unsigned long clock;
    int n;
    dnnl_conv *cache[DNNL_CACHE];
};

nn_cpu_dnnl *nn_cpu_dnnl_create(void)
{
    nn_cpu_dnnl *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success) {
        free(d);
        return NULL;
    }
    if (dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(d->eng);
        free(d);
        return NULL;
    }
    return d;
}

/* Destroys what conv_make made (all of it, or what it got to), leaving
 * the key: an entry without a primitive records a geometry oneDNN
 * declined, so the attempt is not repeated every batch. */
static void conv_clear(dnnl_conv *c)
{
    if (c->prim)
        dnnl_primitive_destroy(c->prim);
    if (c->w_reorder)
        dnnl_primitive_destroy(c->w_reorder);
    dnnl_memory_t mems[] = {c->act_in, c->act_out, c->w_user, c->w_prim, c->b_user};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    c->prim = c->w_reorder = NULL;
    c->act_in = c->act_out = c->w_user = c->w_prim = c->b_user = NULL;
}

static void conv_free(dnnl_conv *c)
{
    if (!c)
        return;
    conv_clear(c);
    free(c);
}

void nn_cpu_dnnl_destroy(nn_cpu_dnnl *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++)
        conv_free(d->cache[i]);
    dnnl_stream_destroy(d->strm);
    dnnl_engine_destroy(d->eng);
    free(d);
}

static bool same_geom(const nn_conv_geom *a, const nn_conv_geom *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c && a->kh == b->kh &&
           a->kw == b->kw && a->f == b->f && a->sh == b->sh && a->sw == b->sw && a->dh == b->dh &&
           a->dw == b->dw && a->pad_top == b->pad_top && a->pad_left == b->pad_left &&
           a->oh == b->oh && a->ow == b->ow;
}

static bool ok(dnnl_status_t s) { return s == dnnl_success; }

/* A reorder between two layouts of the same weights. */
static bool make_reorder(nn_cpu_dnnl *d, const dnnl_memory_desc_t *from,
                         const dnnl_memory_desc_t *to, dnnl_primitive_t *out)
{
    dnnl_primitive_desc_t pd;
    if (!ok(dnnl_reorder_primitive_desc_create(&pd, from, d->eng, to, d->eng, NULL)))
        return false;
    bool made = ok(dnnl_primitive_create(out, pd));
    dnnl_primitive_desc_destroy(pd);
    return made;
}

/* Builds the primitive of one pass; false (and nothing kept) when oneDNN
 * cannot. */
static bool conv_make(nn_cpu_dnnl *d, dnnl_conv *c)
{
    const nn_conv_geom *g = &c->g;
    /* oneDNN's logical dims are N, C, H, W and O, I, H, W whatever the layout */
    dnnl_dims_t src_d = {g->n, g->c, g->h, g->w}, dst_d = {g->n, g->f, g->oh, g->ow};
    dnnl_dims_t w_d = {g->f, g->c, g->kh, g->kw};
    dnnl_dims_t strides = {g->sh, g->sw}, dil = {g->dh - 1, g->dw - 1};
    /* 'same' padding's remainder goes bottom/right (Keras) */
    int pad_b = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1 - g->h - g->pad_top;
    int pad_r = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1 - g->w - g->pad_left;
    dnnl_dims_t pad_l = {g->pad_top, g->pad_left}, pad_h = {pad_b > 0 ? pad_b : 0,
                                                            pad_r > 0 ? pad_r : 0};
    dnnl_memory_desc_t src, dst, w_user, w_any, bias;
    dnnl_dims_t b_d = {g->f};
    const dnnl_memory_desc_t *b = c->bias ? &bias : NULL;
    if (!ok(dnnl_memory_desc_init_by_tag(&bias, 1, b_d, dnnl_f32, dnnl_x)) ||
        !ok(dnnl_memory_desc_init_by_tag(&src, 4, src_d, dnnl_f32, dnnl_nhwc)) ||
        !ok(dnnl_memory_desc_init_by_tag(&dst, 4, dst_d, dnnl_f32, dnnl_nhwc)) ||
        !ok(dnnl_memory_desc_init_by_tag(&w_user, 4, w_d, dnnl_f32, dnnl_hwio)) ||
        !ok(dnnl_memory_desc_init_by_tag(&w_any, 4, w_d, dnnl_f32, dnnl_format_tag_any)))
        return false;
    dnnl_convolution_desc_t fd, bd;
    if (!ok(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                        dnnl_convolution_direct, &src, &w_any,
                                                        c->op == NN_DNNL_FWD ? b : NULL, &dst,
                                                        strides, dil, pad_l, pad_h)))
        return false;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    if (!ok(dnnl_primitive_desc_create(&fpd, &fd, NULL, d->eng, NULL)))
        return false;
    bool made = false;
    if (c->op == NN_DNNL_FWD) {
        pd = fpd;
        fpd = NULL;
    } else if (c->op == NN_DNNL_BWD_DATA) {
        if (!ok(dnnl_dilated_convolution_backward_data_desc_init(
                &bd, dnnl_convolution_direct, &src, &w_any, &dst, strides, dil, pad_l, pad_h)) ||
            !ok(dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd)))
            goto done;
    } else {
        if (!ok(dnnl_dilated_convolution_backward_weights_desc_init(
                &bd, dnnl_convolution_direct, &src, &w_any, b, &dst, strides, dil, pad_l,
                pad_h)) ||
            !ok(dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd)))
            goto done;
    }
    const dnnl_memory_desc_t *w_prim = dnnl_primitive_desc_query_md(
        pd, c->op == NN_DNNL_BWD_FILTER ? dnnl_query_diff_weights_md : dnnl_query_weights_md, 0);
    /* the activations must stay in our NHWC layout (no hidden copies) */
    const dnnl_memory_desc_t *a_in = dnnl_primitive_desc_query_md(
        pd, c->op == NN_DNNL_BWD_DATA ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
    dnnl_query_t out_q = c->op == NN_DNNL_FWD        ? dnnl_query_dst_md
                         : c->op == NN_DNNL_BWD_DATA ? dnnl_query_diff_src_md
                                                     : dnnl_query_diff_dst_md;
    const dnnl_memory_desc_t *a_out = dnnl_primitive_desc_query_md(pd, out_q, 0);
    const dnnl_memory_desc_t *want_in = c->op == NN_DNNL_BWD_DATA ? &dst : &src;
    const dnnl_memory_desc_t *want_out = c->op == NN_DNNL_BWD_DATA ? &src : &dst;
    if (!w_prim || !a_in || !a_out || !dnnl_memory_desc_equal(a_in, want_in) ||
        !dnnl_memory_desc_equal(a_out, want_out))
        goto done;
    if (!ok(dnnl_primitive_create(&c->prim, pd)) ||
        !ok(dnnl_memory_create(&c->act_in, want_in, d->eng, DNNL_MEMORY_NONE)) ||
        !ok(dnnl_memory_create(&c->act_out, want_out, d->eng, DNNL_MEMORY_NONE)) ||
        !ok(dnnl_memory_create(&c->w_user, &w_user, d->eng, DNNL_MEMORY_NONE)) ||
        (b && !ok(dnnl_memory_create(&c->b_user, b, d->eng, DNNL_MEMORY_NONE))))
        goto done;
    if (!dnnl_memory_desc_equal(w_prim, &w_user)) {
        if (!ok(dnnl_memory_create(&c->w_prim, w_prim, d->eng, DNNL_MEMORY_ALLOCATE)) ||
            !(c->op == NN_DNNL_BWD_FILTER ? make_reorder(d, w_prim, &w_user, &c->w_reorder)
                                          : make_reorder(d, &w_user, w_prim, &c->w_reorder)))
            goto done;
    }
    made = true;
done:
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return made;
}

/* The pass for (g, op), made on first use; NULL when oneDNN cannot run it
 * (also remembered, so the attempt is not repeated every batch). */
static dnnl_conv *conv_get(nn_cpu_dnnl *d, const nn_conv_geom *g, nn_dnnl_op op, bool bias)
{
    d->clock++;
    for (int i = 0; i < d->n; i++)
        if (d->cache[i]->op == op && d->cache[i]->bias == bias && same_geom(&d->cache[i]->g, g)) {
            d->cache[i]->used = d->clock;
            return d->cache[i]->prim ? d->cache[i] : NULL;
        }
    if (d->n == DNNL_CACHE) {
        int old = 0;
        for (int i = 1; i < d->n; i++)
            if (d->cache[i]->used < d->cache[old]->used)
                old = i;
        conv_free(d->cache[old]);
        d->cache[old] = d->cache[--d->n];
    }
    dnnl_conv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = *g;
    c->op = op;
    c->bias = bias;
    c->used = d->clock;
    bool made = conv_make(d, c);
    if (!made)
        conv_clear(c); /* kept as a declined geometry (prim NULL) */
    d->cache[d->n++] = c;
    return made ? c : NULL;
}

static bool run(nn_cpu_dnnl *d, dnnl_primitive_t p, int n, const dnnl_exec_arg_t *args)
{
    return ok(dnnl_primitive_execute(p, d->strm, n, args));
}

bool nn_cpu_dnnl_conv(nn_cpu_dnnl *d, nn_dnnl_op op, const nn_conv_geom *g, const float *a,
                      const float *b, float *bias, float *out)
{
    if (!d)
        return false;
    dnnl_conv *c = conv_get(d, g, op, bias != NULL);
    if (!c || (bias && !ok(dnnl_memory_set_data_handle(c->b_user, bias)))) {
        d->declined++;
        return false;
    }
    /* act_in and act_out are the pass's two activation tensors, w_user the
     * kernel (or its gradient) in Keras's layout */
    const bool filter = op == NN_DNNL_BWD_FILTER;
    if (!ok(dnnl_memory_set_data_handle(c->act_in, (void *)a)) ||
        !ok(dnnl_memory_set_data_handle(c->act_out, filter ? (void *)b : out)) ||
        !ok(dnnl_memory_set_data_handle(c->w_user, filter ? out : (void *)b)))
        return d->declined++, false;
    dnnl_memory_t wm = c->w_prim ? c->w_prim : c->w_user;
    if (filter) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->act_in},
                                  {DNNL_ARG_DIFF_DST, c->act_out},
                                  {DNNL_ARG_DIFF_WEIGHTS, wm},
                                  {DNNL_ARG_DIFF_BIAS, c->b_user}};
        if (!run(d, c->prim, bias ? 4 : 3, args))
            return d->declined++, false;
        /* computed in the primitive's layout, then into Keras's */
        dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, c->w_prim}, {DNNL_ARG_TO, c->w_user}};
        if (c->w_reorder && !run(d, c->w_reorder, 2, r))
            return d->declined++, false;
    } else {
        dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, c->w_user}, {DNNL_ARG_TO, c->w_prim}};
        if (c->w_reorder && !run(d, c->w_reorder, 2, r))
            return d->declined++, false;
        const bool fwd = op == NN_DNNL_FWD;
        dnnl_exec_arg_t args[] = {{fwd ? DNNL_ARG_SRC : DNNL_ARG_DIFF_DST, c->act_in},
                                  {DNNL_ARG_WEIGHTS, wm},
                                  {fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_SRC, c->act_out},
                                  {DNNL_ARG_BIAS, c->b_user}};
        if (!run(d, c->prim, bias ? 4 : 3, args))
            return d->declined++, false;
    }
    if (!ok(dnnl_stream_wait(d->strm)))
        return d->declined++, false;
    d->ran++;
    return true;
}

void nn_cpu_dnnl_counts(const nn_cpu_dnnl *d, long *ran, long *declined)
{
    *ran = d ? d->ran : 0;
    *declined = d ? d->declined : 0;
}

const char *nn_cpu_dnnl_version(char *buf, size_t len)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, len, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

#else /* without oneDNN: the im2col path does every convolution */

nn_cpu_dnnl *nn_cpu_dnnl_create(void) { return NULL; }
void nn_cpu_dnnl_destroy(nn_cpu_dnnl *d) { (void)d; }
bool nn_cpu_dnnl_conv(nn_cpu_dnnl *d, nn_dnnl_op op, const nn_conv_geom *g, const float *a,
                      const float *b, float *bias, float *out)
{
    (void)d, (void)op, (void)g, (void)a, (void)b, (void)bias, (void)out;
    return false;
}
void nn_cpu_dnnl_counts(const nn_cpu_dnnl *d, long *ran, long *declined)
{
    (void)d;
    *ran = *declined = 0;
}
const char *nn_cpu_dnnl_version(char *buf, size_t len)
{
    (void)len;
    buf[0] = '\0';
    return buf;
}

#endif

/* 2-D convolutions through oneDNN (Debian's libdnnl; built when its header
 * is found, NN_HAVE_DNNL; loaded on first use). Its direct AVX-512 and AMX
 * kernels read and write our NHWC tensors as they are (its Winograd kernel,
 * which 3x3 layers run in fp32, works on blocked copies: see wino_wanted),
 * and the weights move between Keras's (kh, kw, in, out) layout and the
 * blocked layout a kernel wants, once per update (the weights' version says when they changed),
 * not once per call. On this project's 2-core machine the three passes of
 * mnist_cnn and cifar10_cnn ran 2.1-2.5x faster than im2col + OpenBLAS
 * (docs/benchmarks.md).
 *
 * mixed_bfloat16 (e->precision): the activations a pass reads are rounded
 * to bf16 into scratch, the weights reordered to bf16, and the kernels
 * accumulate and write fp32 (the output, the input gradient, the weight
 * and bias gradients stay fp32 tensors).
 *
 * Primitives depend on the geometry (batch size included) and precision,
 * so each is made the first time they are seen and kept: a run sees two
 * geometries (the planned batch and the last, partial one) per layer and
 * pass. Nothing is made per batch after that. Any oneDNN failure makes the
 * caller fall back to the im2col path, so results never depend on whether
 * oneDNN is there. */
#include "engine/cpu/cpu_dnnl.h"

#ifdef NN_HAVE_DNNL

#include <stdlib.h>
#include <string.h>

/* Destroys what conv_make made (all of it, or what it got to), leaving
 * the key: an entry without a primitive records a geometry oneDNN
 * declined, so the attempt is not repeated every batch. */
static void conv_clear(dnnl_conv *c)
{
    if (c->prim)
        dnnl_primitive_destroy(c->prim);
    dnnl_primitive_t prims[] = {c->w_reorder, c->in_reorder, c->out_reorder};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {c->act_in, c->act_out, c->w_user, c->w_prim, c->b_user,
                            c->in_user, c->out_user};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    c->prim = c->w_reorder = c->in_reorder = c->out_reorder = NULL;
    c->act_in = c->act_out = c->w_user = c->w_prim = c->b_user = c->in_user = c->out_user = NULL;
}

void nn_dnnl_conv_free(dnnl_conv *c)
{
    if (!c)
        return;
    conv_clear(c);
    free(c);
}

static bool same_geom(const nn_conv_geom *a, const nn_conv_geom *b)
{
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c && a->kh == b->kh &&
           a->kw == b->kw && a->f == b->f && a->sh == b->sh && a->sw == b->sw && a->dh == b->dh &&
           a->dw == b->dw && a->pad_top == b->pad_top && a->pad_left == b->pad_left &&
           a->oh == b->oh && a->ow == b->ow;
}

#define ok nn_dnnl_ok

/* A reorder between two layouts (and types) of the same weights. */
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

/* The forward pass's attributes: the activation after the bias, in the
 * same pass (ReLU; ReLU6 as a clip to [0, 6]; swish, x sigmoid(x)). */
static bool act_attr(nn_act act, dnnl_primitive_attr_t *attr)
{
    *attr = NULL;
    if (act != NN_ACT_RELU && act != NN_ACT_RELU6 && act != NN_ACT_SWISH)
        return true;
    dnnl_post_ops_t po;
    if (!ok(dnnl_primitive_attr_create(attr)))
        return false;
    if (!ok(dnnl_post_ops_create(&po)))
        return false;
    dnnl_alg_kind_t alg = act == NN_ACT_RELU    ? dnnl_eltwise_relu
                          : act == NN_ACT_RELU6 ? dnnl_eltwise_clip
                                                : dnnl_eltwise_swish;
    float a = act == NN_ACT_SWISH ? 1.0f : 0.0f, b = act == NN_ACT_RELU6 ? 6.0f : 0.0f;
    bool made = ok(dnnl_post_ops_append_eltwise(po, 1.0f, alg, a, b)) &&
                ok(dnnl_primitive_attr_set_post_ops(*attr, po));
    dnnl_post_ops_destroy(po);
    return made;
}

/* Winograd F(4x4, 3x3) does a 3x3 stride-1 convolution with about 2.25x
 * fewer multiplications than the direct kernel; oneDNN's (fp32, AVX-512)
 * ran the three passes 1.2-2.3x faster than its direct kernels on
 * mnist_cnn's, cifar10_cnn's and ResNet50's 3x3 layers at batch 32 (the
 * kernels alone; with the copies into and out of its blocked layout,
 * cifar10_cnn's training epochs took 0.75-0.83x the time without it:
 * docs/benchmarks.md).
 * It transforms the weights on every call, so with few output pixels (a
 * single 14x14 or 7x7 image: 196 or 49) the direct kernel wins, with a
 * single 28x28 one (784) Winograd already did (1.4x): the rule below is
 * fixed, not measured at run time, so that a run and its resumed run
 * compute alike. Its rounding differs from the direct sum's (within
 * 1e-4 relative of double-precision loops: tests/unit/test_conv_gradcheck.c). */
static bool wino_wanted(const nn_cpu_dnnl *d, const dnnl_conv *c)
{
    const nn_conv_geom *g = &c->g;
    return !d->wino_off && c->prec == NN_PREC_FLOAT32 && g->kh == 3 && g->kw == 3 &&
           g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->c % 16 == 0 &&
           g->f % 16 == 0 && (long)g->n * g->oh * g->ow >= 512;
}

/* Winograd's activations: the NHWC tensors (user) and reorders between
 * them and the kernel's blocked layout (blk), into it for what the pass
 * reads, out of it for what it writes. */
static bool wino_side(nn_cpu_dnnl *d, const dnnl_memory_desc_t *user, const dnnl_memory_desc_t *blk,
                      bool reads, dnnl_memory_t *user_mem, dnnl_memory_t *blk_mem,
                      dnnl_primitive_t *reorder, size_t *blk_bytes)
{
    *blk_bytes = dnnl_memory_desc_get_size(blk);
    return ok(dnnl_memory_create(user_mem, user, d->eng, DNNL_MEMORY_NONE)) &&
           ok(dnnl_memory_create(blk_mem, blk, d->eng, DNNL_MEMORY_NONE)) &&
           (reads ? make_reorder(d, user, blk, reorder) : make_reorder(d, blk, user, reorder));
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
    /* what each pass reads is bf16 in mixed precision; what it writes is fp32 */
    const dnnl_data_type_t lo = c->prec == NN_PREC_BFLOAT16 ? dnnl_bf16 : dnnl_f32;
    const bool fwd = c->op == NN_DNNL_FWD, data = c->op == NN_DNNL_BWD_DATA;
    const dnnl_alg_kind_t alg = c->wino ? dnnl_convolution_winograd : dnnl_convolution_direct;
    /* Winograd's kernel picks its activations' layout; the direct one
     * works on ours */
    const dnnl_format_tag_t act_tag = c->wino ? dnnl_format_tag_any : dnnl_nhwc;
    dnnl_memory_desc_t src, dst, w_user, w_any, bias, src_user, dst_user;
    dnnl_dims_t b_d = {g->f};
    const dnnl_memory_desc_t *b = c->bias ? &bias : NULL;
    if (!ok(dnnl_memory_desc_init_by_tag(&bias, 1, b_d, dnnl_f32, dnnl_x)) ||
        !ok(dnnl_memory_desc_init_by_tag(&src, 4, src_d, data ? dnnl_f32 : lo, act_tag)) ||
        !ok(dnnl_memory_desc_init_by_tag(&dst, 4, dst_d, fwd ? dnnl_f32 : lo, act_tag)) ||
        !ok(dnnl_memory_desc_init_by_tag(&src_user, 4, src_d, data ? dnnl_f32 : lo, dnnl_nhwc)) ||
        !ok(dnnl_memory_desc_init_by_tag(&dst_user, 4, dst_d, fwd ? dnnl_f32 : lo, dnnl_nhwc)) ||
        !ok(dnnl_memory_desc_init_by_tag(&w_user, 4, w_d, dnnl_f32, dnnl_hwio)) ||
        !ok(dnnl_memory_desc_init_by_tag(&w_any, 4, w_d, fwd || data ? lo : dnnl_f32,
                                         dnnl_format_tag_any)))
        return false;
    /* the forward description (also the backward passes' hint) reads lo */
    dnnl_memory_desc_t hsrc, hdst, hw;
    if (!ok(dnnl_memory_desc_init_by_tag(&hsrc, 4, src_d, lo, act_tag)) ||
        !ok(dnnl_memory_desc_init_by_tag(&hdst, 4, dst_d, fwd ? dnnl_f32 : lo, act_tag)) ||
        !ok(dnnl_memory_desc_init_by_tag(&hw, 4, w_d, lo, dnnl_format_tag_any)))
        return false;
    dnnl_convolution_desc_t fd, bd;
    if (!ok(dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                        alg, &hsrc, &hw,
                                                        fwd ? b : NULL, &hdst, strides, dil,
                                                        pad_l, pad_h)))
        return false;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    bool made = false;
    if (!act_attr(fwd ? c->act : NN_ACT_LINEAR, &attr) ||
        !ok(dnnl_primitive_desc_create(&fpd, &fd, fwd ? attr : NULL, d->eng, NULL)))
        goto done;
    if (fwd) {
        pd = fpd;
        fpd = NULL;
    } else if (data) {
        if (!ok(dnnl_dilated_convolution_backward_data_desc_init(
                &bd, alg, &src, &w_any, &dst, strides, dil, pad_l, pad_h)) ||
            !ok(dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd)))
            goto done;
    } else {
        if (!ok(dnnl_dilated_convolution_backward_weights_desc_init(
                &bd, alg, &src, &w_any, b, &dst, strides, dil, pad_l,
                pad_h)) ||
            !ok(dnnl_primitive_desc_create(&pd, &bd, NULL, d->eng, fpd)))
            goto done;
    }
    const dnnl_memory_desc_t *w_prim = dnnl_primitive_desc_query_md(
        pd, fwd || data ? dnnl_query_weights_md : dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *a_in =
        dnnl_primitive_desc_query_md(pd, data ? dnnl_query_diff_dst_md : dnnl_query_src_md, 0);
    dnnl_query_t out_q = fwd ? dnnl_query_dst_md : data ? dnnl_query_diff_src_md
                                                        : dnnl_query_diff_dst_md;
    const dnnl_memory_desc_t *a_out = dnnl_primitive_desc_query_md(pd, out_q, 0);
    const dnnl_memory_desc_t *want_in = data ? &dst_user : &src_user;
    const dnnl_memory_desc_t *want_out = data ? &src_user : &dst_user;
    if (!w_prim || !a_in || !a_out)
        goto done;
    if (c->wino) {
        /* a filter pass reads both; the others write their second */
        if (!wino_side(d, want_in, a_in, true, &c->in_user, &c->act_in, &c->in_reorder,
                       &c->blk_bytes[0]) ||
            !wino_side(d, want_out, a_out, !fwd && !data, &c->out_user, &c->act_out,
                       &c->out_reorder, &c->blk_bytes[1]))
            goto done;
    } else if (!dnnl_memory_desc_equal(a_in, want_in) || !dnnl_memory_desc_equal(a_out, want_out) ||
               !ok(dnnl_memory_create(&c->act_in, want_in, d->eng, DNNL_MEMORY_NONE)) ||
               !ok(dnnl_memory_create(&c->act_out, want_out, d->eng, DNNL_MEMORY_NONE))) {
        goto done; /* the activations must stay in our NHWC layout (no hidden copies) */
    }
    if (!ok(dnnl_primitive_create(&c->prim, pd)) ||
        !ok(dnnl_memory_create(&c->w_user, &w_user, d->eng, DNNL_MEMORY_NONE)) ||
        (b && !ok(dnnl_memory_create(&c->b_user, b, d->eng, DNNL_MEMORY_NONE))))
        goto done;
    if (!dnnl_memory_desc_equal(w_prim, &w_user)) {
        /* forward and backward data read the layer's reordered copy
         * (nn_dnnl_conv_weights); a filter pass writes its own buffer */
        c->w_md = *w_prim;
        if ((!fwd && !data && !ok(dnnl_memory_create(&c->w_prim, w_prim, d->eng,
                                                     DNNL_MEMORY_ALLOCATE))) ||
            !(fwd || data ? make_reorder(d, &w_user, w_prim, &c->w_reorder)
                          : make_reorder(d, w_prim, &w_user, &c->w_reorder)))
            goto done;
    }
    nn_dnnl_note_kernel(d, pd);
    made = true;
done:
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return made;
}

/* The pass for its key, made on first use; NULL when oneDNN cannot run it
 * (also remembered, so the attempt is not repeated every batch). */
static dnnl_conv *conv_get(nn_cpu_dnnl *d, const dnnl_conv *key)
{
    d->clock++;
    for (int i = 0; i < d->n_conv; i++) {
        dnnl_conv *c = d->conv[i];
        if (c->op == key->op && c->bias == key->bias && c->act == key->act &&
            c->prec == key->prec && same_geom(&c->g, &key->g)) {
            c->used = d->clock;
            return c->prim ? c : NULL;
        }
    }
    if (d->n_conv == DNNL_CONV_CACHE) {
        int old = 0;
        for (int i = 1; i < d->n_conv; i++)
            if (d->conv[i]->used < d->conv[old]->used)
                old = i;
        nn_dnnl_conv_free(d->conv[old]);
        d->conv[old] = d->conv[--d->n_conv];
    }
    dnnl_conv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->g = key->g;
    c->op = key->op;
    c->bias = key->bias;
    c->act = key->act;
    c->prec = key->prec;
    c->used = d->clock;
    c->wino = wino_wanted(d, c);
    bool made = conv_make(d, c);
    if (!made && c->wino) { /* oneDNN has no Winograd kernel for it here */
        conv_clear(c);
        c->wino = false;
        made = conv_make(d, c);
    }
    if (!made)
        conv_clear(c); /* kept as a declined geometry (prim NULL) */
    d->conv[d->n_conv++] = c;
    return made ? c : NULL;
}

/* The pass's operand t as the kernel reads it: t itself in fp32, else its
 * bf16 copy in scratch slot `slot`. */
static void *operand(nn_engine *e, nn_cpu_dnnl *d, const dnnl_conv *c, const nn_tensor *t,
                     size_t n, int slot)
{
    if (c->prec != NN_PREC_BFLOAT16)
        return t->data;
    uint16_t *buf = nn_dnnl_act_buffer(d, slot, n);
    if (buf)
        nn_cpu_to_bf16(e->threads, t->data, buf, n);
    return buf;
}

/* The weights in the kernel's layout: this layer's copy, reordered when
 * they changed since it was made (or are not a layer's weights, whose
 * changes only the version tracks); NULL on failure. */
static dnnl_memory_t weights_in(nn_cpu_dnnl *d, dnnl_conv *c, const nn_tensor *w)
{
    if (!c->w_reorder)
        return ok(dnnl_memory_set_data_handle(c->w_user, w->data)) ? c->w_user : NULL;
    conv_weights *k = nn_dnnl_conv_weights(d, w->data, &c->w_md);
    if (!k)
        return NULL;
    if (w->weights && k->version == w->version)
        return k->mem;
    dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, c->w_user}, {DNNL_ARG_TO, k->mem}};
    if (!ok(dnnl_memory_set_data_handle(c->w_user, w->data)) || !nn_dnnl_run(d, c->w_reorder, 2, r))
        return NULL;
    k->version = w->version;
    d->weight_reorders++;
    return k->mem;
}

/* Points the pass at its activations: in (what it reads) and other (what
 * it writes, or a filter pass's second input). With Winograd the kernel
 * works on blocked copies in the shared scratch: what it reads is copied
 * there now, what it writes is copied back after it ran. */
static bool activations_in(nn_cpu_dnnl *d, dnnl_conv *c, void *in, void *other, bool filter)
{
    if (!c->wino)
        return ok(dnnl_memory_set_data_handle(c->act_in, in)) &&
               ok(dnnl_memory_set_data_handle(c->act_out, other));
    void *bin = nn_dnnl_blk_buffer(d, 0, c->blk_bytes[0]);
    void *bout = nn_dnnl_blk_buffer(d, 1, c->blk_bytes[1]);
    if (!bin || !bout || !ok(dnnl_memory_set_data_handle(c->act_in, bin)) ||
        !ok(dnnl_memory_set_data_handle(c->act_out, bout)) ||
        !ok(dnnl_memory_set_data_handle(c->in_user, in)) ||
        !ok(dnnl_memory_set_data_handle(c->out_user, other)))
        return false;
    dnnl_exec_arg_t r_in[] = {{DNNL_ARG_FROM, c->in_user}, {DNNL_ARG_TO, c->act_in}};
    dnnl_exec_arg_t r_out[] = {{DNNL_ARG_FROM, c->out_user}, {DNNL_ARG_TO, c->act_out}};
    return nn_dnnl_run(d, c->in_reorder, 2, r_in) &&
           (!filter || nn_dnnl_run(d, c->out_reorder, 2, r_out));
}

bool nn_cpu_dnnl_conv(nn_engine *e, nn_dnnl_op op, const nn_conv_geom *g, const nn_tensor *a,
                      const nn_tensor *b, float *bias, float *out, nn_act act)
{
    nn_cpu_dnnl *d = nn_cpu_dnnl_of(e);
    if (!d || (e->precision != NN_PREC_FLOAT32 && e->precision != NN_PREC_BFLOAT16) ||
        !nn_dnnl_ready(d))
        return false;
    dnnl_conv key = {.g = *g, .op = op, .bias = bias != NULL, .act = op == NN_DNNL_FWD ? act : NN_ACT_LINEAR,
                     .prec = e->precision};
    dnnl_conv *c = conv_get(d, &key);
    if (!c || (bias && !ok(dnnl_memory_set_data_handle(c->b_user, bias)))) {
        d->declined++;
        return false;
    }
    const size_t in_n = (size_t)g->n * g->h * g->w * g->c, out_n = (size_t)g->n * g->oh * g->ow * g->f;
    const bool filter = op == NN_DNNL_BWD_FILTER;
    /* act_in and act_out are the pass's two activation tensors */
    void *in = operand(e, d, c, a, op == NN_DNNL_BWD_DATA ? out_n : in_n, 0);
    void *other = filter ? operand(e, d, c, b, out_n, 1) : out;
    if (!in || !other || !activations_in(d, c, in, other, filter))
        return d->declined++, false;
    if (filter) {
        dnnl_memory_t wm = c->w_prim ? c->w_prim : c->w_user;
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->act_in},
                                  {DNNL_ARG_DIFF_DST, c->act_out},
                                  {DNNL_ARG_DIFF_WEIGHTS, wm},
                                  {DNNL_ARG_DIFF_BIAS, c->b_user}};
        if (!ok(dnnl_memory_set_data_handle(c->w_user, out)) ||
            !nn_dnnl_run(d, c->prim, bias ? 4 : 3, args))
            return d->declined++, false;
        /* computed in the primitive's layout, then into Keras's */
        dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, c->w_prim}, {DNNL_ARG_TO, c->w_user}};
        if (c->w_reorder && !nn_dnnl_run(d, c->w_reorder, 2, r))
            return d->declined++, false;
    } else {
        dnnl_memory_t wm = weights_in(d, c, b);
        if (!wm)
            return d->declined++, false;
        const bool fwd = op == NN_DNNL_FWD;
        dnnl_exec_arg_t args[] = {{fwd ? DNNL_ARG_SRC : DNNL_ARG_DIFF_DST, c->act_in},
                                  {DNNL_ARG_WEIGHTS, wm},
                                  {fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_SRC, c->act_out},
                                  {DNNL_ARG_BIAS, c->b_user}};
        if (!nn_dnnl_run(d, c->prim, bias ? 4 : 3, args))
            return d->declined++, false;
        dnnl_exec_arg_t r[] = {{DNNL_ARG_FROM, c->act_out}, {DNNL_ARG_TO, c->out_user}};
        if (c->wino && !nn_dnnl_run(d, c->out_reorder, 2, r))
            return d->declined++, false;
    }
    if (!ok(dnnl_stream_wait(d->strm)))
        return d->declined++, false;
    d->ran++;
    d->wino_ran += c->wino;
    return true;
}

#endif

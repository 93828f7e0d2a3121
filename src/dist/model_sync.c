/* Model state shared by the processes of a data-parallel run: broadcast
 * from rank 0, checked equal, moving statistics averaged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/data_parallel.h"

/* Calls fn on every tensor of the model's state: weights, and the
 * optimizer's slots when asked. */
typedef nn_status (*tensor_fn)(void *ctx, nn_engine *e, nn_tensor *t, size_t n, nn_error *err);

static nn_status each_tensor(nn_model *m, bool slots, tensor_fn fn, void *ctx, nn_error *err)
{
    nn_status st = NN_OK;
    for (int i = 0; !st && i < m->n_nodes; i++)
        for (int k = 0; !st && k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            st = fn(ctx, m->e, &p->w, p->size, err);
            for (int s = 0; !st && slots && s < 3; s++)
                if (p->slots[s].data)
                    st = fn(ctx, m->e, &p->slots[s], p->size, err);
        }
    return st;
}

/* one host buffer for the largest tensor */
typedef struct scratch {
    nn_dist *d;
    float *buf;
    double *dbl;
    size_t cap;
    uint64_t hash;
} scratch;

static nn_status grow(scratch *s, size_t n, bool dbl, nn_error *err)
{
    if (n <= s->cap && (!dbl || s->dbl))
        return NN_OK;
    size_t cap = n > s->cap ? n : s->cap;
    float *b = realloc(s->buf, cap * sizeof *b);
    if (!b)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    s->buf = b;
    if (dbl || s->dbl) {
        double *d = realloc(s->dbl, cap * sizeof *d);
        if (!d)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        s->dbl = d;
    }
    s->cap = cap;
    return NN_OK;
}

static nn_status bcast_one(void *ctx, nn_engine *e, nn_tensor *t, size_t n, nn_error *err)
{
    scratch *s = ctx;
    nn_status st = grow(s, n, false, err);
    if (st)
        return st;
    if (nn_dist_rank(s->d) == 0)
        e->ops->download(e, s->buf, t, n);
    if ((st = nn_dist_bcast(s->d, s->buf, n * sizeof(float), err)))
        return st;
    if (nn_dist_rank(s->d) != 0)
        e->ops->upload(e, t, s->buf, n);
    return NN_OK;
}

nn_status nn_dist_bcast_model(nn_dist *d, nn_model *m, bool slots, nn_error *err)
{
    if (!d)
        return NN_OK;
    scratch s = {.d = d};
    nn_status st = each_tensor(m, slots, bcast_one, &s, err);
    free(s.buf);
    return st;
}

/* FNV-1a over the tensors' bytes */
static nn_status hash_one(void *ctx, nn_engine *e, nn_tensor *t, size_t n, nn_error *err)
{
    scratch *s = ctx;
    nn_status st = grow(s, n, false, err);
    if (st)
        return st;
    e->ops->download(e, s->buf, t, n);
    const unsigned char *b = (const unsigned char *)s->buf;
    for (size_t i = 0; i < n * sizeof(float); i++)
        s->hash = (s->hash ^ b[i]) * 0x100000001b3ULL;
    return NN_OK;
}

nn_status nn_dist_check_model(nn_dist *d, nn_model *m, nn_error *err)
{
    if (!d)
        return NN_OK;
    scratch s = {.d = d, .hash = 0xcbf29ce484222325ULL};
    nn_status st = each_tensor(m, false, hash_one, &s, err);
    free(s.buf);
    st = nn_dist_agree(d, st, err);
    if (st)
        return st;
    /* every rank's hash, as two exact 32-bit halves */
    int n = nn_dist_size(d), r = nn_dist_rank(d);
    double *h = calloc(2 * (size_t)n, sizeof *h);
    if (!h)
        return nn_dist_agree(d, nn_fail(err, NN_ERR_RUNTIME, "out of memory"), err);
    h[2 * r] = (double)(s.hash >> 32);
    h[2 * r + 1] = (double)(s.hash & 0xffffffffu);
    if ((st = nn_dist_sum(d, h, 2 * (size_t)n, err))) {
        free(h);
        return st;
    }
    char who[1024] = "";
    size_t len = 0;
    int differ = 0;
    for (int i = 1; i < n; i++)
        if (h[2 * i] != h[0] || h[2 * i + 1] != h[1]) {
            if (differ++ < 8 && len < sizeof who)
                len += (size_t)snprintf(who + len, sizeof who - len, "%s%d (%s)", differ > 1 ? ", " : "",
                                        i, nn_dist_host(d, i));
        }
    free(h);
    if (differ)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "the model's parameters differ between ranks: rank%s %s%s hold%s other "
                       "values than rank 0 (%s)",
                       differ > 1 ? "s" : "", who, differ > 8 ? ", ..." : "",
                       differ > 1 ? "" : "s", nn_dist_host(d, 0));
    return NN_OK;
}

static nn_status average_one(void *ctx, nn_engine *e, nn_tensor *t, size_t n, nn_error *err)
{
    scratch *s = ctx;
    nn_status st = grow(s, n, true, err);
    if (st)
        return st;
    e->ops->download(e, s->buf, t, n);
    for (size_t i = 0; i < n; i++)
        s->dbl[i] = s->buf[i];
    if ((st = nn_dist_sum(s->d, s->dbl, n, err)))
        return st;
    /* in double: equal values come back exactly */
    const double ranks = nn_dist_size(s->d);
    for (size_t i = 0; i < n; i++)
        s->buf[i] = (float)(s->dbl[i] / ranks);
    e->ops->upload(e, t, s->buf, n);
    return NN_OK;
}

nn_status nn_dist_average_moving(nn_dist *d, nn_model *m, nn_error *err)
{
    if (!d)
        return NN_OK;
    scratch s = {.d = d};
    nn_status st = NN_OK;
    for (int i = 0; !st && i < m->n_nodes; i++)
        for (int k = 0; !st && k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (p->moving)
                st = average_one(&s, m->e, &p->w, p->size, err);
        }
    free(s.buf);
    free(s.dbl);
    return st;
}

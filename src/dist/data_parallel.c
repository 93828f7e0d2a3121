/* Gradient buckets and the per-batch hooks (data_parallel.h). */
#include "dist/data_parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum {
    SUM_HOST,    /* MPI on the engine's own (host) memory */
    SUM_ENGINE,  /* the engine's collectives (NCCL) on device memory */
    SUM_DEVICE,  /* CUDA-aware MPI on device memory */
    SUM_STAGED   /* device -> page-locked host -> MPI -> device */
} sum_path;

typedef struct bucket {
    size_t off, n;  /* floats of the gradient block */
    int waiting;    /* nodes with gradients here that backward has not finished */
    int req;        /* MPI request while in flight, else -1 */
} bucket;

struct nn_data_parallel {
    nn_dist *d;
    nn_model *m;
    nn_engine *e;
    sum_path path;
    nn_tensor block;      /* every trainable gradient, in backward order */
    size_t total;
    float *host;          /* the block's values in host memory (SUM_HOST: the block itself) */
    bucket *b;
    int n_buckets, next;  /* next bucket to start */
    /* per node (topological index): the buckets its gradients touch */
    int *first, *last;
    int *waiting0;        /* each bucket's count at the start of a batch */
    nn_replicas rep;
    void (*fill)(void *ctx, double *stats);
    void *fill_ctx;
    double *stats;
    size_t n_stats;
    int stats_req;
    nn_status st;
    nn_error err;
    char desc[512];
    double waited; /* seconds spent in finish(): the sums not hidden behind backward */
};

static double clock_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the first error of a batch is kept; later calls are skipped */
static bool ok(nn_data_parallel *dp) { return dp->st == NN_OK; }

static void start_bucket(nn_data_parallel *dp, bucket *b)
{
    nn_engine *e = dp->e;
    nn_tensor v = nn_tensor_view(&dp->block, b->off, b->n);
    switch (dp->path) {
    case SUM_ENGINE:
        dp->st = e->ops->comm_sum_start(e, &v, b->n, &dp->err);
        return;
    case SUM_STAGED:
        /* the download waits for backward to produce these values */
        e->ops->download(e, dp->host + b->off, &v, b->n);
        break;
    case SUM_DEVICE:
        if (e->ops->sync)
            e->ops->sync(e);
        break;
    case SUM_HOST:
        break;
    }
    float *p = dp->path == SUM_DEVICE ? dp->block.data + b->off : dp->host + b->off;
    dp->st = nn_dist_isum_floats(dp->d, p, b->n, &b->req, &dp->err);
}

/* starts the buckets backward has finished, in order (every rank starts
 * them in the same order, as MPI requires), and moves the ones in flight
 * along */
static void advance(nn_data_parallel *dp)
{
    while (ok(dp) && dp->next < dp->n_buckets && dp->b[dp->next].waiting == 0)
        start_bucket(dp, &dp->b[dp->next++]);
    for (int i = 0; ok(dp) && i < dp->next; i++)
        if (dp->b[i].req >= 0) {
            bool done;
            dp->st = nn_dist_test(dp->d, dp->b[i].req, &done, &dp->err);
            if (done)
                dp->b[i].req = -1;
            break; /* the oldest in flight: testing it progresses the rest */
        }
}

static void on_loss(nn_replicas *r)
{
    nn_data_parallel *dp = r->ctx;
    if (dp->fill)
        dp->fill(dp->fill_ctx, dp->stats);
    if (ok(dp) && dp->n_stats)
        dp->st = nn_dist_isum(dp->d, dp->stats, dp->n_stats, &dp->stats_req, &dp->err);
}

static void on_grads(nn_replicas *r, nn_node *n)
{
    nn_data_parallel *dp = r->ctx;
    if (dp->first[n->index] < 0)
        return;
    for (int i = dp->first[n->index]; i <= dp->last[n->index]; i++)
        dp->b[i].waiting--;
    advance(dp);
}

static void finish(nn_data_parallel *dp)
{
    double t0 = clock_s();
    /* every bucket is started by now (backward is over) */
    advance(dp);
    if (ok(dp) && dp->next != dp->n_buckets)
        dp->st = nn_fail(&dp->err, NN_ERR_RUNTIME,
                         "internal error: %d of %d gradient buckets never filled",
                         dp->n_buckets - dp->next, dp->n_buckets);
    if (ok(dp) && dp->path == SUM_ENGINE)
        dp->st = dp->e->ops->comm_wait(dp->e, &dp->err);
    for (int i = 0; ok(dp) && i < dp->n_buckets; i++) {
        bucket *b = &dp->b[i];
        if (b->req >= 0 && (dp->st = nn_dist_wait(dp->d, b->req, &dp->err)))
            break;
        b->req = -1;
        if (dp->path == SUM_STAGED) {
            nn_tensor v = nn_tensor_view(&dp->block, b->off, b->n);
            dp->e->ops->upload(dp->e, &v, dp->host + b->off, b->n);
        }
    }
    if (ok(dp) && dp->stats_req >= 0)
        dp->st = nn_dist_wait(dp->d, dp->stats_req, &dp->err);
    dp->stats_req = -1;
    dp->waited += clock_s() - t0;
}

double nn_dp_waited(const nn_data_parallel *dp) { return dp ? dp->waited : 0.0; }

static void on_backward_done(nn_replicas *r) { finish(r->ctx); }

static void on_sum(void *ctx, double *v, size_t n)
{
    nn_data_parallel *dp = ctx;
    if (ok(dp))
        dp->st = nn_dist_sum(dp->d, v, n, &dp->err);
}

static void begin(nn_data_parallel *dp)
{
    for (int i = 0; i < dp->n_buckets; i++) {
        dp->b[i].waiting = dp->waiting0[i];
        dp->b[i].req = -1;
    }
    dp->next = 0;
    dp->stats_req = -1;
    dp->st = NN_OK;
    dp->err.msg[0] = '\0';
}

nn_replicas *nn_dp_batch(nn_data_parallel *dp, int batch_rows,
                         void (*fill)(void *ctx, double *stats), void *ctx, double *stats,
                         size_t n_stats)
{
    begin(dp);
    dp->rep.batch_rows = batch_rows;
    dp->fill = fill;
    dp->fill_ctx = ctx;
    dp->stats = stats;
    dp->n_stats = n_stats;
    return &dp->rep;
}

nn_status nn_dp_empty_batch(nn_data_parallel *dp, double *stats, size_t n_stats, nn_error *err)
{
    begin(dp);
    dp->e->ops->fill(dp->e, &dp->block, 0.0f, dp->total);
    if (dp->path == SUM_HOST || dp->path == SUM_STAGED)
        memset(dp->host, 0, dp->total * sizeof(float));
    memset(stats, 0, n_stats * sizeof *stats);
    dp->stats = stats;
    dp->n_stats = n_stats;
    dp->fill = NULL;
    on_loss(&dp->rep);
    for (int i = 0; i < dp->n_buckets; i++)
        dp->b[i].waiting = 0;
    finish(dp);
    return nn_dp_status(dp, err);
}

nn_status nn_dp_status(nn_data_parallel *dp, nn_error *err)
{
    if (dp->st)
        *err = dp->err;
    return dp->st;
}

const char *nn_dp_describe(const nn_data_parallel *dp) { return dp->desc; }

/* the block: trainable gradients from the last node to the first */
static nn_status make_block(nn_data_parallel *dp, nn_error *err)
{
    nn_model *m = dp->m;
    nn_engine *e = dp->e;
    size_t total = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++)
            if (m->nodes[i]->params[k].trainable)
                total += m->nodes[i]->params[k].size;
    dp->total = total;
    int shape[1] = {(int)(total ? total : 1)};
    if (total > (size_t)1 << 31)
        return nn_fail(err, NN_ERR_RUNTIME, "more than 2^31 trainable parameters");
    nn_status st = e->ops->alloc(e, &dp->block, 1, shape, err);
    if (st)
        return st;
    size_t off = 0;
    for (int i = m->n_nodes - 1; i >= 0; i--)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!p->trainable)
                continue;
            e->ops->free(e, &p->g);
            p->g = nn_tensor_view(&dp->block, off, p->size);
            p->g.ndim = p->ndim;
            memcpy(p->g.shape, p->shape, sizeof p->shape);
            off += p->size;
        }
    return NN_OK;
}

/* buckets of at most `cap` floats over the block, cut at parameter
 * boundaries where a parameter fits (a larger one gets buckets of its own) */
static nn_status plan_buckets(nn_data_parallel *dp, size_t cap, nn_error *err)
{
    nn_model *m = dp->m;
    int max = 1;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++)
            if (m->nodes[i]->params[k].trainable)
                max += 1 + (int)(m->nodes[i]->params[k].size / cap);
    dp->b = calloc((size_t)max, sizeof *dp->b);
    dp->waiting0 = calloc((size_t)max, sizeof *dp->waiting0);
    dp->first = malloc(sizeof(int) * (size_t)(m->n_nodes ? m->n_nodes : 1));
    dp->last = malloc(sizeof(int) * (size_t)(m->n_nodes ? m->n_nodes : 1));
    if (!dp->b || !dp->waiting0 || !dp->first || !dp->last)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int nb = 0;
    size_t off = 0;
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        nn_node *n = m->nodes[i];
        dp->first[n->index] = dp->last[n->index] = -1;
        for (int k = 0; k < n->n_params; k++) {
            const nn_param *p = &n->params[k];
            if (!p->trainable)
                continue;
            for (size_t done = 0; done < p->size;) {
                bucket *cur = nb ? &dp->b[nb - 1] : NULL;
                size_t left = p->size - done;
                if (!cur || cur->n + (done == 0 && left <= cap ? left : 1) > cap) {
                    cur = &dp->b[nb++];
                    cur->off = off + done;
                    cur->n = 0;
                }
                size_t take = left < cap - cur->n ? left : cap - cur->n;
                cur->n += take;
                done += take;
                if (dp->first[n->index] < 0)
                    dp->first[n->index] = nb - 1;
                if (dp->last[n->index] != nb - 1)
                    dp->waiting0[nb - 1]++;
                dp->last[n->index] = nb - 1;
            }
            off += p->size;
        }
    }
    dp->n_buckets = nb;
    return NN_OK;
}

static int bcast_for_engine(void *ctx, void *buf, size_t bytes)
{
    nn_error err;
    return nn_dist_bcast(ctx, buf, bytes, &err) ? -1 : 0;
}

nn_status nn_dp_create(nn_data_parallel **out, nn_dist *d, nn_model *m, double bucket_mb,
                       nn_error *err)
{
    *out = NULL;
    nn_data_parallel *dp = calloc(1, sizeof *dp);
    if (!dp)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    dp->d = d;
    dp->m = m;
    dp->e = m->e;
    dp->stats_req = -1;
    dp->rep = (nn_replicas){.sum = {.sum = on_sum, .ctx = dp},
                            .loss_ready = on_loss,
                            .grads_ready = on_grads,
                            .grads_wait = on_backward_done,
                            .ctx = dp};
    size_t cap = (size_t)(bucket_mb * 1e6 / sizeof(float));
    cap = cap < 1 ? 1 : cap > (size_t)1 << 30 ? (size_t)1 << 30 : cap;
    nn_status st;
    if ((st = make_block(dp, err)) || (st = plan_buckets(dp, cap, err)))
        goto fail;
    nn_engine *e = dp->e;
    char how[256];
    if ((dp->host = e->ops->host_ptr(e, &dp->block))) {
        dp->path = SUM_HOST;
        snprintf(how, sizeof how, "in host memory by %s", nn_dist_library(d));
    } else {
        nn_error e2 = {0};
        char engine_desc[160] = "";
        if (e->ops->comm_init &&
            e->ops->comm_init(e, nn_dist_rank(d), nn_dist_size(d), bcast_for_engine, d,
                              engine_desc, sizeof engine_desc, &e2) == NN_OK) {
            dp->path = SUM_ENGINE;
            snprintf(how, sizeof how, "on the device by %s", engine_desc);
        } else if (nn_dist_cuda_aware(d)) {
            dp->path = SUM_DEVICE;
            snprintf(how, sizeof how, "on the device by CUDA-aware %s", nn_dist_library(d));
        } else {
            dp->path = SUM_STAGED;
            if (!(dp->host = e->ops->alloc_host(e, (dp->total ? dp->total : 1) * sizeof(float),
                                                err))) {
                st = NN_ERR_RUNTIME;
                goto fail;
            }
            snprintf(how, sizeof how, "through page-locked host buffers by %s%s%s",
                     nn_dist_library(d), e2.msg[0] ? " (" : "", e2.msg[0] ? e2.msg : "");
            if (e2.msg[0])
                strncat(how, ")", sizeof how - strlen(how) - 1);
        }
    }
    snprintf(dp->desc, sizeof dp->desc,
             "gradients (%.2f MB) in %d bucket%s of up to %.3g MB, summed %s", dp->total * 4e-6,
             dp->n_buckets, dp->n_buckets == 1 ? "" : "s", bucket_mb, how);
    *out = dp;
    return NN_OK;
fail:
    nn_dp_free(dp);
    return st;
}

void nn_dp_free(nn_data_parallel *dp)
{
    if (!dp)
        return;
    if (dp->path == SUM_STAGED)
        dp->e->ops->free_host(dp->e, dp->host);
    /* the parameters' g are views into the block: they go with it */
    for (int i = 0; i < dp->m->n_nodes; i++)
        for (int k = 0; k < dp->m->nodes[i]->n_params; k++) {
            nn_param *p = &dp->m->nodes[i]->params[k];
            if (p->trainable && p->g.view)
                memset(&p->g, 0, sizeof p->g);
        }
    dp->e->ops->free(dp->e, &dp->block);
    free(dp->b);
    free(dp->waiting0);
    free(dp->first);
    free(dp->last);
    free(dp);
}

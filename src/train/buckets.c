#include "train/buckets.h"

#include <stdlib.h>
#include <string.h>

#define NN_POS_BITS 24 /* a chunk's positions in a sort key */

/* The model input read by a layer that makes a mask of its own (an
 * Embedding with mask_zero, a Masking layer: its mask buffer), or -1;
 * *maker, that layer. */
static int masked_input(const nn_model *m, const nn_node **maker)
{
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        if (n->mask != &n->mask_buf || n->n_in != 1 || !n->type->mask_span)
            continue;
        for (int k = 0; k < m->n_inputs; k++)
            if (m->inputs[k] == n->in[0]) {
                *maker = n;
                return k;
            }
    }
    return -1;
}

nn_status nn_buckets_init(nn_buckets *bk, const nn_model *m, const nn_dataset *train, int batch,
                          nn_error *err)
{
    memset(bk, 0, sizeof *bk);
    const nn_node *maker = NULL;
    int k = masked_input(m, &maker);
    if (k < 0)
        return nn_fail(err, NN_ERR_USAGE,
                       "data.bucket_by_length: the model has no embedding with mask_zero = true "
                       "and no masking layer on an input, so no padding to leave out of a batch");
    if (batch > 1 << NN_POS_BITS)
        return nn_fail(err, NN_ERR_USAGE,
                       "data.bucket_by_length: batch_size %d is over the %d it sorts at once",
                       batch, 1 << NN_POS_BITS);
    const nn_dataset *part = nn_dataset_input_part(train, k);
    const size_t T = part->sample_size;
    bk->n = train->n;
    bk->batch = batch;
    /* whole batches, each chunk's positions below 2^NN_POS_BITS */
    size_t per = ((size_t)1 << NN_POS_BITS) / (size_t)batch;
    bk->chunk = (size_t)batch * (per < NN_BUCKET_BATCHES ? (per ? per : 1) : NN_BUCKET_BATCHES);
    if (bk->chunk > bk->n)
        bk->chunk = bk->n;
    float *x = malloc(sizeof *x * (T ? T : 1));
    bk->span = malloc(sizeof *bk->span * (bk->n ? bk->n : 1));
    bk->sorted = malloc(sizeof *bk->sorted * (bk->chunk ? bk->chunk : 1));
    bk->scratch = malloc(sizeof *bk->scratch * (bk->chunk ? bk->chunk : 1));
    if (!x || !bk->span || !bk->sorted || !bk->scratch) {
        free(x);
        nn_buckets_free(bk);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory for data.bucket_by_length (%zu samples)",
                       train->n);
    }
    for (size_t i = 0; i < bk->n; i++) {
        uint32_t one = (uint32_t)i;
        nn_dataset_gather_x(part, &one, 1, x);
        size_t lo, hi;
        maker->type->mask_span(maker, x, &lo, &hi);
        bk->span[i] = lo < hi ? (uint64_t)lo << 32 | hi : 0;
    }
    free(x);
    return NN_OK;
}

static int by_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* idx[0..count) sorted by (first, last real step), ties in their order:
 * one 64-bit key each, the steps (20 bits each: exact up to a million
 * steps) above the position in the chunk (NN_POS_BITS). */
static void sort_chunk(nn_buckets *bk, uint32_t *idx, size_t count)
{
    for (size_t j = 0; j < count; j++) {
        uint64_t s = bk->span[idx[j]], lo = s >> 32, hi = s & 0xffffffffu;
        lo = lo < (1u << 20) ? lo : (1u << 20) - 1;
        hi = hi < (1u << 20) ? hi : (1u << 20) - 1;
        bk->sorted[j] = (lo << 20 | hi) << NN_POS_BITS | j;
    }
    qsort(bk->sorted, count, sizeof *bk->sorted, by_key);
    for (size_t j = 0; j < count; j++)
        bk->scratch[j] = idx[bk->sorted[j] & ((1u << NN_POS_BITS) - 1)];
    memcpy(idx, bk->scratch, sizeof *idx * count);
}

void nn_buckets_order(nn_buckets *bk, nn_rng *r, uint32_t *idx)
{
    for (size_t start = 0; start < bk->n; start += bk->chunk) {
        size_t count = bk->n - start < bk->chunk ? bk->n - start : bk->chunk;
        uint32_t *c = idx + start;
        sort_chunk(bk, c, count);
        /* the chunk's whole batches in a shuffled order (a short last
         * batch stays last) */
        size_t nb = count / (size_t)bk->batch;
        if (!r || nb < 2)
            continue;
        uint32_t order[NN_BUCKET_BATCHES];
        for (size_t j = 0; j < nb; j++)
            order[j] = (uint32_t)j;
        nn_rng_shuffle_u32(r, order, nb);
        for (size_t j = 0; j < nb; j++)
            memcpy(bk->scratch + j * (size_t)bk->batch, c + (size_t)order[j] * bk->batch,
                   sizeof *c * (size_t)bk->batch);
        memcpy(c, bk->scratch, sizeof *c * nb * (size_t)bk->batch);
    }
}

void nn_buckets_free(nn_buckets *bk)
{
    free(bk->span);
    free(bk->sorted);
    free(bk->scratch);
    memset(bk, 0, sizeof *bk);
}

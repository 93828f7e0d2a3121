/* data.bucket_by_length: batches of sequences of similar length. A
 * recurrent layer runs only the steps some sample of its batch keeps
 * (nn_rnn_run lo, hi), so a batch costs its own longest sequence, not the
 * data's padded length; bucketing makes batches whose padding lines up.
 * Each epoch's order (shuffled or not) is cut into chunks of 32 batches,
 * each chunk is sorted by the samples' real steps (first and last id that
 * is not 0, the padding a mask_zero Embedding masks), and with shuffling
 * the chunk's batches are shuffled among themselves. The order depends on
 * (seed, epoch) only, as the shuffle does. */
#ifndef NN_TRAIN_BUCKETS_H
#define NN_TRAIN_BUCKETS_H

#include <stdint.h>

#include "data/dataset.h"
#include "model/model.h"
#include "util/error.h"
#include "util/rng.h"

#define NN_BUCKET_BATCHES 32 /* batches per sorted chunk */

typedef struct nn_buckets {
    uint64_t *span;    /* per sample: first real step << 32 | last + 1 */
    uint64_t *sorted;  /* scratch: one chunk's (span, position) keys */
    uint32_t *scratch; /* one chunk's indices, and its batch order */
    size_t n, chunk;
    int batch;
} nn_buckets;

/* Reads the steps of every training sample from the input that feeds an
 * Embedding with mask_zero (a usage error without one). */
nn_status nn_buckets_init(nn_buckets *bk, const nn_model *m, const nn_dataset *train, int batch,
                          nn_error *err);
/* Reorders idx[0..n) (the epoch's order); r NULL: keep the batches'
 * order (data.shuffle = false). */
void nn_buckets_order(nn_buckets *bk, nn_rng *r, uint32_t *idx);
void nn_buckets_free(nn_buckets *bk);

#endif

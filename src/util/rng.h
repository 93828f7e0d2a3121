/* One seeded, splittable RNG for all randomness (initializers, shuffling,
 * dropout, augmentation). Each consumer gets its own stream derived from
 * (seed, stream id), so adding draws in one place never shifts another, and
 * the whole state is four words that a checkpoint can store. */
#ifndef NN_UTIL_RNG_H
#define NN_UTIL_RNG_H

#include <stdint.h>

typedef struct nn_rng {
    uint64_t s[4]; /* xoshiro256** state */
} nn_rng;

/* Well-known stream ids. */
enum {
    NN_STREAM_INIT = 1,
    NN_STREAM_SHUFFLE = 2,
    NN_STREAM_DROPOUT = 3,
    NN_STREAM_AUGMENT = 4,
    NN_STREAM_SUBSET = 5,
    NN_STREAM_SPLIT = 6
};

void nn_rng_seed(nn_rng *r, uint64_t seed, uint64_t stream);
/* A child stream: deterministic function of the parent's state and id;
 * does not advance the parent. */
nn_rng nn_rng_split(const nn_rng *parent, uint64_t id);

uint64_t nn_rng_u64(nn_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double nn_rng_uniform_d(nn_rng *r);
/* Uniform integer in [0, n), unbiased. */
uint64_t nn_rng_below(nn_rng *r, uint64_t n);
/* Standard normal (Box-Muller; uses two uniforms per call, no caching so
 * the state stays four words). */
double nn_rng_normal(nn_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void nn_rng_shuffle_u32(nn_rng *r, uint32_t *idx, uint64_t n);

#endif

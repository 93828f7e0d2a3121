/* UpSampling2D's index arithmetic, one axis at a time, shared by the CPU
 * and GPU engines so both compute the same thing.
 *
 * Nearest (Keras's default): output i reads input i / s (each value
 * repeated s times). Bilinear: half-pixel centres, as tf.image.resize and
 * jax.image.resize (Keras 2 and 3) place them: output i samples input
 * position (i + 0.5) / s - 0.5, between lo = floor of it and lo + 1 with
 * weight frac on the second, both clamped into [0, n), so the edges
 * repeat the border value. The backward pass gathers: input k receives
 * weight(i -> k) of every output i near it, so no two threads write one
 * place and the sums do not depend on thread timing. */
#ifndef NN_ENGINE_UPSAMPLE_H
#define NN_ENGINE_UPSAMPLE_H

#include <math.h>
#include <stdbool.h>

#if defined(__CUDACC__)
#define NN_UP_HD __host__ __device__
#else
#define NN_UP_HD
#endif

/* Output i of an axis of n inputs scaled by s: the two inputs it reads and
 * the weight of the second (nearest: both the same, weight 0). */
static inline NN_UP_HD void nn_up_source(bool bilinear, int i, int s, int n, int *lo, int *hi,
                                         float *frac)
{
    if (!bilinear) {
        *lo = *hi = i / s;
        *frac = 0.0f;
        return;
    }
    float src = ((float)i + 0.5f) / (float)s - 0.5f;
    float f = floorf(src);
    int a = (int)f, b = a + 1;
    *frac = src - f;
    *lo = a < 0 ? 0 : (a > n - 1 ? n - 1 : a);
    *hi = b < 0 ? 0 : (b > n - 1 ? n - 1 : b);
}

/* How much of output i lands on input k (the adjoint of nn_up_source). */
static inline NN_UP_HD float nn_up_weight(bool bilinear, int i, int k, int s, int n)
{
    int lo, hi;
    float frac;
    nn_up_source(bilinear, i, s, n, &lo, &hi, &frac);
    return (lo == k ? 1.0f - frac : 0.0f) + (hi == k ? frac : 0.0f);
}

/* The outputs that can land on input k: [*i0, *i1) (of n * s). */
static inline NN_UP_HD void nn_up_reach(bool bilinear, int k, int s, int n, int *i0, int *i1)
{
    int a = bilinear ? (k - 1) * s : k * s, b = bilinear ? (k + 2) * s : (k + 1) * s;
    *i0 = a < 0 ? 0 : a;
    *i1 = b > n * s ? n * s : b;
}

#endif

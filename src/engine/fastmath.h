/* exp, sigmoid and tanh written so that the compiler vectorizes them
 * (libm's expf/tanhf are scalar calls: in an LSTM's gates they cost more
 * than the products). Shared by both engines (plain C for the CPU, host and
 * device functions under nvcc), so their results agree to rounding.
 * Cody-Waite range reduction and a degree-6 polynomial for exp (within
 * 2 ulp on [-87.3, 88.7]; 0 below); tanh uses the odd minimax
 * polynomial of the Cephes library below |x| = 0.625, where 1 - 2/(e^2x+1)
 * would cancel. Only selects, no branches, so loops over them vectorize. */
#ifndef NN_ENGINE_FASTMATH_H
#define NN_ENGINE_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define NN_MATH_FN __host__ __device__ __forceinline__
#else
#define NN_MATH_FN static inline
#endif

NN_MATH_FN float nn_expf(float x0)
{
    float x = x0 < -87.33654f ? -87.33654f : x0;
    x = x > 88.72283f ? 88.72283f : x;
    /* round to nearest by the 1.5 * 2^23 trick (roundf is a libm call) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;      /* ln 2, high part (exact product) */
    r = r - n * -2.12194440e-4f;         /* and the rest */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* times 2^n: n in [-126, 128] after the clamps; split to stay finite */
    int32_t ni = (int32_t)n;
    int32_t n1 = ni / 2, n2 = ni - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    float y = p * s1 * s2;
    return x0 < -87.33654f ? 0.0f : y; /* below FLT_MIN: flushed to zero */
}

NN_MATH_FN float nn_sigmoidf(float x)
{
    float e = nn_expf(-fabsf(x));
    float q = 1.0f / (1.0f + e);
    return x >= 0.0f ? q : e * q;
}

NN_MATH_FN float nn_tanhf(float x)
{
    float a = fabsf(x);
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float big = 1.0f - 2.0f / (nn_expf(2.0f * a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? small : big;
}

#endif

/* Device versions of the CPU engine's activations (cpu_act.c, cpu_math.h):
 * the same formulas, including the CPU's own exp/sigmoid/tanh polynomials,
 * so both engines agree to rounding (the GPU contracts a*b+c into FMAs). */
#ifndef NN_ENGINE_GPU_MATH_CUH
#define NN_ENGINE_GPU_MATH_CUH

#include <float.h>

#include "engine/gpu/gpu_internal.h"

#define NN_SELU_ALPHA 1.6732632423543772848170429916717f
#define NN_SELU_SCALE 1.0507009873554804934193349852946f

__device__ __forceinline__ float nn_dev_expf(float x0)
{
    float x = x0 < -87.33654f ? -87.33654f : x0;
    x = x > 88.72283f ? 88.72283f : x;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int ni = (int)n;
    int n1 = ni / 2, n2 = ni - n1;
    float s1 = __int_as_float((n1 + 127) << 23), s2 = __int_as_float((n2 + 127) << 23);
    float y = p * s1 * s2;
    return x0 < -87.33654f ? 0.0f : y;
}

__device__ __forceinline__ float nn_dev_sigmoidf(float x)
{
    float e = nn_dev_expf(-fabsf(x));
    float q = 1.0f / (1.0f + e);
    return x >= 0.0f ? q : e * q;
}

__device__ __forceinline__ float nn_dev_tanhf(float x)
{
    float a = fabsf(x);
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float big = 1.0f - 2.0f / (nn_dev_expf(2.0f * a) + 1.0f);
    big = x < 0.0f ? -big : big;
    return a < 0.625f ? small : big;
}

/* y = act(x), elementwise activations (softmax is a row operation). */
__device__ __forceinline__ float nn_dev_act(nn_act act, float alpha, float x)
{
    switch (act) {
    case NN_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case NN_ACT_SIGMOID: return nn_dev_sigmoidf(x);
    case NN_ACT_TANH: return nn_dev_tanhf(x);
    case NN_ACT_ELU: return x > 0.0f ? x : alpha * expm1f(x);
    case NN_ACT_SELU: return NN_SELU_SCALE * (x > 0.0f ? x : NN_SELU_ALPHA * expm1f(x));
    case NN_ACT_SOFTPLUS: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
    case NN_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case NN_ACT_HARD_SIGMOID: return fminf(1.0f, fmaxf(0.0f, 0.2f * x + 0.5f));
    case NN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case NN_ACT_SWISH: return x * nn_dev_sigmoidf(x);
    case NN_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    default: return x;
    }
}

/* dx = dy * act'(x) from x and/or y (x is unused where act' needs only y). */
__device__ __forceinline__ float nn_dev_act_grad(nn_act act, float alpha, float x, float y,
                                                 float dy)
{
    switch (act) {
    case NN_ACT_RELU: return dy * (y > 0.0f ? 1.0f : 0.0f);
    case NN_ACT_SIGMOID: return dy * y * (1.0f - y);
    case NN_ACT_TANH: return dy * (1.0f - y * y);
    case NN_ACT_ELU: return dy * (x > 0.0f ? 1.0f : y + alpha);
    case NN_ACT_SELU: return dy * (x > 0.0f ? NN_SELU_SCALE : y + NN_SELU_SCALE * NN_SELU_ALPHA);
    case NN_ACT_SOFTPLUS: return dy * nn_dev_sigmoidf(x);
    case NN_ACT_SOFTSIGN: {
        float a = 1.0f + fabsf(x);
        return dy / (a * a);
    }
    case NN_ACT_HARD_SIGMOID: return dy * ((x > -2.5f && x < 2.5f) ? 0.2f : 0.0f);
    case NN_ACT_LEAKY_RELU: return dy * (x > 0.0f ? 1.0f : alpha);
    case NN_ACT_SWISH: {
        float s = nn_dev_sigmoidf(x);
        return dy * (s + x * s * (1.0f - s));
    }
    case NN_ACT_GELU: {
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = expf(-0.5f * x * x) * 0.3989422804014327f;
        return dy * (cdf + x * pdf);
    }
    default: return dy;
    }
}

/* The outputs along one axis whose windows cover input coordinate `in`
 * (o * s - pad + k * d == in for some k < kn): a superset [lo, hi]; the
 * caller checks (in + pad - o * s) % d == 0 for dilated windows. */
__device__ __forceinline__ void nn_dev_covering(int in, int pad, int s, int d, int kn, int on,
                                                int *lo, int *hi)
{
    int a = in + pad - (kn - 1) * d, b = in + pad;
    *lo = a <= 0 ? 0 : (a + s - 1) / s;
    *hi = b < 0 ? -1 : min(on - 1, b / s);
}

/* Grid-stride loop over [0, n). */
#define NN_GPU_FOR(i, n)                                                                      \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n);         \
         i += (size_t)blockDim.x * gridDim.x)

#endif

/* Device versions of the CPU engine's activations (cpu_act.c, fastmath.h):
 * the same formulas, including the shared exp/sigmoid/tanh polynomials,
 * so both engines agree to rounding (the GPU contracts a*b+c into FMAs). */
#ifndef NN_ENGINE_GPU_MATH_CUH
#define NN_ENGINE_GPU_MATH_CUH

#include <float.h>

#include "engine/fastmath.h"
#include "engine/gpu/gpu_internal.h"

#define NN_SELU_ALPHA 1.6732632423543772848170429916717f
#define NN_SELU_SCALE 1.0507009873554804934193349852946f

/* the CPU engine's polynomials, compiled for the device */
#define nn_dev_expf nn_expf
#define nn_dev_sigmoidf nn_sigmoidf
#define nn_dev_tanhf nn_tanhf

/* log(1 + e^x) in the form that never overflows (cpu_act.c's softplus) */
__device__ __forceinline__ float nn_dev_softplusf(float x)
{
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
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
    case NN_ACT_SOFTPLUS: return nn_dev_softplusf(x);
    case NN_ACT_SOFTSIGN: return x / (1.0f + fabsf(x));
    case NN_ACT_HARD_SIGMOID: return fminf(1.0f, fmaxf(0.0f, 0.2f * x + 0.5f));
    case NN_ACT_LEAKY_RELU: return x > 0.0f ? x : alpha * x;
    case NN_ACT_SWISH: return x * nn_dev_sigmoidf(x);
    case NN_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case NN_ACT_RELU6: return fminf(fmaxf(x, 0.0f), 6.0f);
    case NN_ACT_MISH: return x * nn_dev_tanhf(nn_dev_softplusf(x));
    case NN_ACT_EXPONENTIAL: return expf(x);
    case NN_ACT_HARD_SILU: return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;
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
    case NN_ACT_RELU6: return dy * ((x > 0.0f && x < 6.0f) ? 1.0f : 0.0f);
    case NN_ACT_MISH: {
        float t = nn_dev_tanhf(nn_dev_softplusf(x));
        return dy * (t + x * nn_dev_sigmoidf(x) * (1.0f - t * t));
    }
    case NN_ACT_EXPONENTIAL: return dy * y;
    case NN_ACT_HARD_SILU:
        return dy * (x <= -3.0f ? 0.0f : (x >= 3.0f ? 1.0f : (2.0f * x + 3.0f) / 6.0f));
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

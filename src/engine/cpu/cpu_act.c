/* Activation functions and their derivatives (Keras 2 definitions). Each
 * activation is its own loop (the switch is outside), so the compiler can
 * vectorize it. */
#include <math.h>

#include "engine/cpu/cpu_internal.h"
#include "engine/fastmath.h"

#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f

/* log(1 + e^x) in the form that never overflows */
static inline float softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }



NN_KERNEL void nn_cpu_act_fwd_range(nn_act act, float alpha, const float *restrict x,
                                    float *restrict y, size_t n)
{
    switch (act) {
    case NN_ACT_RELU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = nn_sigmoidf(x[i]);
        break;
    case NN_ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = nn_tanhf(x[i]);
        break;
    case NN_ACT_ELU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
        break;
    case NN_ACT_SELU:
        for (size_t i = 0; i < n; i++)
            y[i] = SELU_SCALE * (x[i] > 0.0f ? x[i] : SELU_ALPHA * expm1f(x[i]));
        break;
    case NN_ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++) y[i] = softplus(x[i]);
        break;
    case NN_ACT_SOFTSIGN:
        for (size_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + fabsf(x[i]));
        break;
    case NN_ACT_HARD_SIGMOID:
        for (size_t i = 0; i < n; i++) y[i] = nn_clampf(0.2f * x[i] + 0.5f, 0.0f, 1.0f);
        break;
    case NN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
        break;
    case NN_ACT_SWISH:
        for (size_t i = 0; i < n; i++) y[i] = x[i] * nn_sigmoidf(x[i]);
        break;
    case NN_ACT_GELU:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case NN_ACT_RELU6:
        for (size_t i = 0; i < n; i++) y[i] = nn_clampf(x[i], 0.0f, 6.0f);
        break;
    case NN_ACT_MISH:
        for (size_t i = 0; i < n; i++) y[i] = x[i] * nn_tanhf(softplus(x[i]));
        break;
    case NN_ACT_EXPONENTIAL:
        for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
        break;
    case NN_ACT_HARD_SILU:
        for (size_t i = 0; i < n; i++) y[i] = x[i] * nn_clampf(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f;
        break;
    default:
        for (size_t i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

/* x may be NULL for activations whose derivative needs only y. */
NN_KERNEL void nn_cpu_act_bwd_range(nn_act act, float alpha, const float *x, const float *y,
                                    const float *dy, float *dx, size_t n)
{
    switch (act) {
    case NN_ACT_RELU:
        /* both operands loaded unconditionally: a select, not a branch */
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (y[i] > 0.0f ? 1.0f : 0.0f);
        break;
    case NN_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NN_ACT_TANH:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case NN_ACT_ELU:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : y[i] + alpha);
        break;
    case NN_ACT_SELU:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (x[i] > 0.0f ? SELU_SCALE : y[i] + SELU_SCALE * SELU_ALPHA);
        break;
    case NN_ACT_SOFTPLUS:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * nn_sigmoidf(x[i]);
        break;
    case NN_ACT_SOFTSIGN:
        for (size_t i = 0; i < n; i++) {
            float a = 1.0f + fabsf(x[i]);
            dx[i] = dy[i] / (a * a);
        }
        break;
    case NN_ACT_HARD_SIGMOID:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * ((x[i] > -2.5f && x[i] < 2.5f) ? 0.2f : 0.0f);
        break;
    case NN_ACT_LEAKY_RELU:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : alpha);
        break;
    case NN_ACT_SWISH:
        for (size_t i = 0; i < n; i++) {
            float s = nn_sigmoidf(x[i]);
            dx[i] = dy[i] * (s + x[i] * s * (1.0f - s));
        }
        break;
    case NN_ACT_GELU:
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float cdf = 0.5f * (1.0f + erff(v * (float)M_SQRT1_2));
            float pdf = expf(-0.5f * v * v) * 0.3989422804014327f;
            dx[i] = dy[i] * (cdf + v * pdf);
        }
        break;
    case NN_ACT_RELU6: /* 0 at both kinks, as TensorFlow and JAX */
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * ((x[i] > 0.0f && x[i] < 6.0f) ? 1.0f : 0.0f);
        break;
    case NN_ACT_MISH: /* tanh(sp) + x sigmoid(x) (1 - tanh(sp)^2) */
        for (size_t i = 0; i < n; i++) {
            float t = nn_tanhf(softplus(x[i]));
            dx[i] = dy[i] * (t + x[i] * nn_sigmoidf(x[i]) * (1.0f - t * t));
        }
        break;
    case NN_ACT_EXPONENTIAL:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i];
        break;
    case NN_ACT_HARD_SILU: /* (2x + 3) / 6 inside [-3, 3] */
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (x[i] <= -3.0f ? 0.0f : (x[i] >= 3.0f ? 1.0f : (2.0f * x[i] + 3.0f) / 6.0f));
        break;
    default:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i];
        break;
    }
}

static void softmax_rows(const float *x, float *y, int rows, int cols, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        float m = xr[0];
        for (int c = 1; c < cols; c++)
            m = fmaxf(m, xr[c]);
        float s = 0.0f;
        for (int c = 0; c < cols; c++) {
            yr[c] = expf(xr[c] - m);
            s += yr[c];
        }
        float inv = 1.0f / s;
        for (int c = 0; c < cols; c++)
            yr[c] *= inv;
    }
}

void nn_cpu_act_forward(nn_engine *e, nn_act act, float alpha, const nn_tensor *xt,
                        nn_tensor *yt, int rows, int cols)
{
    const float *x = xt->data;
    float *y = yt->data;
    if (act == NN_ACT_SOFTMAX) {
        softmax_rows(x, y, rows, cols, e->threads);
        return;
    }
    if (act == NN_ACT_LINEAR && x == y)
        return;
    NN_PAR_RANGE(e->threads, (size_t)rows * cols, lo, hi,
                 nn_cpu_act_fwd_range(act, alpha, x + lo, y + lo, hi - lo));
}

void nn_cpu_act_backward(nn_engine *e, nn_act act, float alpha, const nn_tensor *xt,
                         const nn_tensor *yt, const nn_tensor *dyt, nn_tensor *dxt, int rows,
                         int cols)
{
    const float *x = xt ? xt->data : NULL, *y = yt ? yt->data : NULL, *dy = dyt->data;
    float *dx = dxt->data;
    if (act == NN_ACT_SOFTMAX) {
        /* dx = y * (dy - sum(dy * y)) per row */
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)rows * cols > NN_CPU_PAR_MIN)
        for (int r = 0; r < rows; r++) {
            const float *yr = y + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
            float *dxr = dx + (size_t)r * cols;
            float dot = 0.0f;
            for (int c = 0; c < cols; c++)
                dot += dyr[c] * yr[c];
            for (int c = 0; c < cols; c++)
                dxr[c] = yr[c] * (dyr[c] - dot);
        }
        return;
    }
    if (act == NN_ACT_LINEAR && dx == dy)
        return;
    NN_PAR_RANGE(e->threads, (size_t)rows * cols, lo, hi,
                 nn_cpu_act_bwd_range(act, alpha, x ? x + lo : NULL, y ? y + lo : NULL, dy + lo, dx + lo,
                               hi - lo));
}

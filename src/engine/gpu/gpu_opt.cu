/* Optimizer update rules and weight penalties: the CPU engine's formulas
 * (cpu_opt.c), with the per-step constants computed on the host the same
 * way, one thread per parameter. */
#include <math.h>

#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"
#include "engine/gpu/gpu_reduce.cuh"

typedef struct opt_args {
    nn_opt_kind kind;
    float lr, momentum, rho, b1, b2, eps;
    bool nesterov, amsgrad;
    float c0, c1, c2;
} opt_args;

static __global__ void update_kernel(opt_args s, float *w, const float *g, float *s0, float *s1,
                                     float *s2, size_t n)
{
    const float lr = s.lr, eps = s.eps, b1 = s.b1, b2 = s.b2, rho = s.rho;
    NN_GPU_FOR(i, n) {
        const float gi = g[i];
        switch (s.kind) {
        case NN_OPT_SGD:
            if (s.momentum == 0.0f) {
                w[i] -= lr * gi;
            } else {
                float v = s.momentum * s0[i] - lr * gi;
                s0[i] = v;
                w[i] += s.nesterov ? s.momentum * v - lr * gi : v;
            }
            break;
        case NN_OPT_RMSPROP: {
            float a = rho * s0[i] + (1.0f - rho) * gi * gi;
            s0[i] = a;
            w[i] -= lr * gi / sqrtf(a + eps); /* Keras: epsilon under the root */
            break;
        }
        case NN_OPT_ADAM: {
            float m = b1 * s0[i] + (1.0f - b1) * gi;
            float v = b2 * s1[i] + (1.0f - b2) * gi * gi;
            s0[i] = m;
            s1[i] = v;
            if (s.amsgrad) {
                float vh = fmaxf(s2[i], v);
                s2[i] = vh;
                v = vh;
            }
            w[i] -= s.c0 * m / (sqrtf(v) + eps);
            break;
        }
        case NN_OPT_ADAGRAD: {
            float a = s0[i] + gi * gi;
            s0[i] = a;
            w[i] -= lr * gi / sqrtf(a + eps); /* Keras: epsilon under the root */
            break;
        }
        case NN_OPT_ADADELTA: {
            float a = rho * s0[i] + (1.0f - rho) * gi * gi;
            float d = sqrtf(s1[i] + eps) / sqrtf(a + eps) * gi;
            s0[i] = a;
            s1[i] = rho * s1[i] + (1.0f - rho) * d * d;
            w[i] -= lr * d;
            break;
        }
        case NN_OPT_ADAMAX: {
            float m = b1 * s0[i] + (1.0f - b1) * gi;
            float u = fmaxf(b2 * s1[i], fabsf(gi));
            s0[i] = m;
            s1[i] = u;
            w[i] -= s.c0 * m / (u + eps);
            break;
        }
        case NN_OPT_NADAM: {
            float m = b1 * s0[i] + (1.0f - b1) * gi;
            float v = b2 * s1[i] + (1.0f - b2) * gi * gi;
            s0[i] = m;
            s1[i] = v;
            float mbar = s.c0 * gi + s.c1 * m;
            w[i] -= lr * mbar / (sqrtf(v * s.c2) + eps);
            break;
        }
        default:
            break;
        }
    }
}

extern "C" void nn_gpu_opt_update(nn_engine *e, const nn_opt_step *s, nn_tensor *w,
                                  const nn_tensor *g, nn_tensor *slots[3], size_t n)
{
    nn_tensor_touch(w); /* new weights: their fp16/bf16 copies are stale */
    opt_args a = {s->kind,    s->lr,   s->momentum, s->rho,     s->beta_1, s->beta_2,
                  s->epsilon, s->nesterov, s->amsgrad, s->c0,   s->c1,     s->c2};
    if (n == 0)
        return;
    update_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream>>>(
        a, w->data, g->data, slots[0] ? slots[0]->data : NULL,
        slots[1] ? slots[1]->data : NULL, slots[2] ? slots[2]->data : NULL, n);
    NN_GPU_LAUNCHED(e, "opt_update");
}

struct penalty {
    const float *w;
    float l1, l2;
    __device__ double operator()(size_t i) const
    {
        double v = w[i];
        return l1 * fabs(v) + l2 * v * v;
    }
};

static __global__ void reg_grad_kernel(const float *w, float *g, float a, float b, size_t n)
{
    NN_GPU_FOR(i, n) {
        float sgn = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
        g[i] += a * sgn + b * w[i];
    }
}

extern "C" double nn_gpu_regularize(nn_engine *e, const nn_tensor *w, float l1, float l2,
                                    nn_tensor *grad, float grad_scale, size_t n)
{
    if (n == 0)
        return 0.0;
    if (grad) {
        reg_grad_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream>>>(
            w->data, grad->data, l1 * grad_scale, 2.0f * l2 * grad_scale, n);
        NN_GPU_LAUNCHED(e, "regularize");
    }
    return nn_gpu_reduce(e, penalty{w->data, l1, l2}, n);
}

struct square {
    const float *x;
    __device__ double operator()(size_t i) const { return (double)x[i] * x[i]; }
};

extern "C" double nn_gpu_sum_squares(nn_engine *e, const nn_tensor *x, size_t n)
{
    if (n == 0)
        return 0.0;
    return nn_gpu_reduce(e, square{x->data}, n);
}

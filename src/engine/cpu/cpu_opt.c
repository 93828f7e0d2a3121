/* Optimizer update rules (Keras 2 / TF formulas) and weight penalties. */
#include <math.h>

#include "engine/cpu/cpu_internal.h"

/* One update rule over a range; the switch is outside the loops so each
 * rule vectorizes. c0..c2 are the step's constants (nn_opt_step). */
NN_KERNEL static void update_range(const nn_opt_step *s, float c0, float c1, float c2,
                                   float *restrict w, const float *restrict g,
                                   float *restrict s0, float *restrict s1, float *restrict s2,
                                   size_t n)
{
    const float lr = s->lr, eps = s->epsilon, b1 = s->beta_1, b2 = s->beta_2, rho = s->rho;
    switch (s->kind) {
    case NN_OPT_SGD: {
        const float mom = s->momentum;
        if (mom == 0.0f) {
            for (size_t i = 0; i < n; i++)
                w[i] -= lr * g[i];
        } else if (s->nesterov) {
            for (size_t i = 0; i < n; i++) {
                float v = mom * s0[i] - lr * g[i];
                s0[i] = v;
                w[i] += mom * v - lr * g[i];
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                float v = mom * s0[i] - lr * g[i];
                s0[i] = v;
                w[i] += v;
            }
        }
        break;
    }
    case NN_OPT_RMSPROP:
        for (size_t i = 0; i < n; i++) {
            float a = rho * s0[i] + (1.0f - rho) * g[i] * g[i];
            s0[i] = a;
            w[i] -= lr * g[i] / sqrtf(a + eps); /* Keras: epsilon under the root */
        }
        break;
    case NN_OPT_ADAM:
        /* c0 = lr * sqrt(1 - b2^t) / (1 - b1^t) */
        if (s->amsgrad) {
            for (size_t i = 0; i < n; i++) {
                float m = b1 * s0[i] + (1.0f - b1) * g[i];
                float v = b2 * s1[i] + (1.0f - b2) * g[i] * g[i];
                float vh = fmaxf(s2[i], v);
                s0[i] = m;
                s1[i] = v;
                s2[i] = vh;
                w[i] -= c0 * m / (sqrtf(vh) + eps);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                float m = b1 * s0[i] + (1.0f - b1) * g[i];
                float v = b2 * s1[i] + (1.0f - b2) * g[i] * g[i];
                s0[i] = m;
                s1[i] = v;
                w[i] -= c0 * m / (sqrtf(v) + eps);
            }
        }
        break;
    case NN_OPT_ADAGRAD:
        for (size_t i = 0; i < n; i++) {
            float a = s0[i] + g[i] * g[i];
            s0[i] = a;
            w[i] -= lr * g[i] / sqrtf(a + eps); /* Keras: epsilon under the root */
        }
        break;
    case NN_OPT_ADADELTA:
        for (size_t i = 0; i < n; i++) {
            float a = rho * s0[i] + (1.0f - rho) * g[i] * g[i];
            float d = sqrtf(s1[i] + eps) / sqrtf(a + eps) * g[i];
            s0[i] = a;
            s1[i] = rho * s1[i] + (1.0f - rho) * d * d;
            w[i] -= lr * d;
        }
        break;
    case NN_OPT_ADAMAX:
        /* c0 = lr / (1 - b1^t) */
        for (size_t i = 0; i < n; i++) {
            float m = b1 * s0[i] + (1.0f - b1) * g[i];
            float u = fmaxf(b2 * s1[i], fabsf(g[i]));
            s0[i] = m;
            s1[i] = u;
            w[i] -= c0 * m / (u + eps);
        }
        break;
    case NN_OPT_NADAM:
        /* c0 = (1 - mu_t) / (1 - prod), c1 = mu_next / (1 - prod * mu_next),
         * c2 = 1 / (1 - b2^t) */
        for (size_t i = 0; i < n; i++) {
            float m = b1 * s0[i] + (1.0f - b1) * g[i];
            float v = b2 * s1[i] + (1.0f - b2) * g[i] * g[i];
            s0[i] = m;
            s1[i] = v;
            float mbar = c0 * g[i] + c1 * m;
            w[i] -= lr * mbar / (sqrtf(v * c2) + eps);
        }
        break;
    default:
        break;
    }
}

void nn_cpu_opt_update(nn_engine *e, const nn_opt_step *s, nn_tensor *wt, const nn_tensor *gt,
                       nn_tensor *slots[3], size_t n)
{
    nn_tensor_touch(wt); /* new weights: converted copies are stale */
    float *w = wt->data;
    const float *g = gt->data;
    float *s0 = slots[0] ? slots[0]->data : NULL;
    float *s1 = slots[1] ? slots[1]->data : NULL;
    float *s2 = slots[2] ? slots[2]->data : NULL;
    const float c0 = s->c0, c1 = s->c1, c2 = s->c2;
    NN_PAR_RANGE(e->threads, n, lo, hi,
                 update_range(s, c0, c1, c2, w + lo, g + lo, s0 ? s0 + lo : NULL,
                              s1 ? s1 + lo : NULL, s2 ? s2 + lo : NULL, hi - lo));
}

typedef struct {
    const float *w;
    float l1, l2;
} reg_ctx;

static double reg_part(const void *ctx, size_t lo, size_t hi)
{
    const reg_ctx *c = ctx;
    double a = 0.0, q = 0.0;
    for (size_t i = lo; i < hi; i++) {
        a += fabsf(c->w[i]);
        q += (double)c->w[i] * c->w[i];
    }
    return c->l1 * a + c->l2 * q;
}

double nn_cpu_regularize(nn_engine *e, const nn_tensor *wt, float l1, float l2,
                         nn_tensor *gradt, float grad_scale, size_t n)
{
    const float *w = wt->data;
    reg_ctx ctx = {w, l1, l2};
    double penalty = nn_cpu_parallel_sum(e->threads, n, reg_part, &ctx);
    if (gradt) {
        float *g = gradt->data;
        const float a = l1 * grad_scale, b = 2.0f * l2 * grad_scale;
#pragma omp parallel for num_threads(e->threads) schedule(static) if (n > NN_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            float sgn = w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f);
            g[i] += a * sgn + b * w[i];
        }
    }
    return penalty;
}

static double sq_part(const void *ctx, size_t lo, size_t hi)
{
    const float *x = ctx;
    double s = 0.0;
    for (size_t i = lo; i < hi; i++)
        s += (double)x[i] * x[i];
    return s;
}

double nn_cpu_sum_squares(nn_engine *e, const nn_tensor *x, size_t n)
{
    return nn_cpu_parallel_sum(e->threads, n, sq_part, x->data);
}

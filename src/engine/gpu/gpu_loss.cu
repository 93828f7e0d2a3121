/* Losses and metrics (the CPU engine's formulas, cpu_loss.c): one warp per
 * sample writes the sample's value (double) and its gradient row; the
 * per-sample values are then added in a fixed order and read back once. */
#include <math.h>

#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define EPS 1e-7f
#define WARPS 4
#define FULL 0xffffffffu

/* Warp reductions ending in lane 0, then broadcast: every lane sees the
 * same bits (butterfly sums would differ in the last place per lane). */
static __device__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(FULL, v, o);
    return __shfl_sync(FULL, v, 0);
}

static __device__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_down_sync(FULL, v, o));
    return __shfl_sync(FULL, v, 0);
}

/* The warp's maximum of (best, at) pairs, ties to the lower index; every
 * lane gets lane 0's result. at == cols means "none". */
static __device__ int warp_argmax_pair(float best, int at, int cols)
{
    for (int o = 16; o > 0; o >>= 1) {
        float ob = __shfl_down_sync(FULL, best, o);
        int oa = __shfl_down_sync(FULL, at, o);
        if (oa < cols && (at == cols || ob > best || (ob == best && oa < at)))
            best = ob, at = oa;
    }
    at = __shfl_sync(FULL, at, 0);
    return at < cols ? at : 0;
}

/* The first index of the row's maximum (argmax_row of cpu_loss.c). */
static __device__ int warp_argmax(const float *x, int cols, int lane)
{
    float best = -INFINITY;
    int at = cols; /* "none" loses every comparison below */
    for (int c = lane; c < cols; c += 32)
        if (at == cols || x[c] > best)
            best = x[c], at = c;
    return warp_argmax_pair(best, at, cols);
}

typedef struct loss_args {
    nn_loss_kind kind;
    float param; /* huber's delta */
    const float *p, *t;
    float *g;
    int rows, cols;
    float inv_rows, inv_n;
    const int *labels01; /* hinge: 1 when every target is 0 or 1 */
    double *rowv;
} loss_args;

static __global__ void labels01_kernel(const float *t, size_t n, int *flag)
{
    NN_GPU_FOR(i, n)
    if (t[i] != 0.0f && t[i] != 1.0f)
        *flag = 0; /* every writer writes the same value */
}

static __global__ void loss_kernel(loss_args a)
{
    const int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= a.rows)
        return; /* whole warps leave together */
    const int cols = a.cols;
    const bool sparse = a.kind == NN_LOSS_SPARSE_CE || a.kind == NN_LOSS_SPARSE_SOFTMAX_CE;
    const float *pr = a.p + (size_t)r * cols;
    const float *tr = sparse ? a.t + r : a.t + (size_t)r * cols;
    float *gr = a.g ? a.g + (size_t)r * cols : NULL;
    const float inv_n = a.inv_n, inv_rows = a.inv_rows;
    double acc = 0.0, row = 0.0;
    switch (a.kind) {
    case NN_LOSS_MSE:
        for (int c = lane; c < cols; c += 32) {
            float d = pr[c] - tr[c];
            acc += (double)d * d;
            if (gr) gr[c] = 2.0f * d * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_MAE:
        for (int c = lane; c < cols; c += 32) {
            float d = pr[c] - tr[c];
            acc += fabsf(d);
            if (gr) gr[c] = (d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f)) * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_MAPE:
        for (int c = lane; c < cols; c += 32) {
            float d = pr[c] - tr[c];
            float den = fmaxf(fabsf(tr[c]), EPS);
            acc += fabsf(d) / den;
            if (gr)
                gr[c] = 100.0f * (d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f)) / den * inv_n;
        }
        row = 100.0 * warp_sum(acc) / cols;
        break;
    case NN_LOSS_MSLE:
        for (int c = lane; c < cols; c += 32) {
            float pc = fmaxf(pr[c], EPS);
            float d = log1pf(pc) - log1pf(fmaxf(tr[c], EPS));
            acc += (double)d * d;
            if (gr) gr[c] = (pr[c] > EPS ? 2.0f * d / (1.0f + pc) : 0.0f) * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_HINGE:
    case NN_LOSS_SQUARED_HINGE: {
        const bool convert = *a.labels01 != 0;
        for (int c = lane; c < cols; c += 32) {
            float y = convert ? 2.0f * tr[c] - 1.0f : tr[c];
            float m = 1.0f - y * pr[c];
            if (m > 0.0f) {
                if (a.kind == NN_LOSS_HINGE) {
                    acc += m;
                    if (gr) gr[c] = -y * inv_n;
                } else {
                    acc += (double)m * m;
                    if (gr) gr[c] = -2.0f * m * y * inv_n;
                }
            } else if (gr) {
                gr[c] = 0.0f;
            }
        }
        row = warp_sum(acc) / cols;
        break;
    }
    case NN_LOSS_BINARY_CE:
        for (int c = lane; c < cols; c += 32) {
            float pc = fminf(fmaxf(pr[c], EPS), 1.0f - EPS);
            acc -= tr[c] * log((double)pc) + (1.0f - tr[c]) * log((double)(1.0f - pc));
            if (gr) {
                bool clipped = pr[c] <= EPS || pr[c] >= 1.0f - EPS;
                gr[c] = clipped ? 0.0f : (pc - tr[c]) / (pc * (1.0f - pc)) * inv_n;
            }
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_BINARY_CE_LOGITS:
        for (int c = lane; c < cols; c += 32) {
            float z = pr[c];
            acc += fmaxf(z, 0.0f) - z * tr[c] + log1pf(expf(-fabsf(z)));
            if (gr) {
                float s = z >= 0 ? 1.0f / (1.0f + expf(-z)) : expf(z) / (1.0f + expf(z));
                gr[c] = (s - tr[c]) * inv_n;
            }
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_CATEGORICAL_CE: {
        double s = 0.0, ys = 0.0;
        for (int c = lane; c < cols; c += 32)
            s += pr[c], ys += tr[c];
        s = warp_sum(s);
        ys = warp_sum(ys);
        for (int c = lane; c < cols; c += 32) {
            double q = pr[c] / s;
            acc -= tr[c] * log(fmin(fmax(q, (double)EPS), 1.0 - (double)EPS));
            if (gr) gr[c] = (float)((-tr[c] / fmax((double)pr[c], (double)EPS) + ys / s) * inv_rows);
        }
        row = warp_sum(acc);
        break;
    }
    case NN_LOSS_SOFTMAX_CE: {
        float m = -INFINITY;
        for (int c = lane; c < cols; c += 32)
            m = fmaxf(m, pr[c]);
        m = warp_max(m);
        double s = 0.0, ys = 0.0;
        for (int c = lane; c < cols; c += 32)
            s += exp((double)pr[c] - m), ys += tr[c];
        const double lse = m + log(warp_sum(s));
        ys = warp_sum(ys);
        for (int c = lane; c < cols; c += 32) {
            acc -= tr[c] * (pr[c] - lse);
            if (gr) gr[c] = (float)((ys * exp(pr[c] - lse) - tr[c]) * inv_rows);
        }
        row = warp_sum(acc);
        break;
    }
    case NN_LOSS_SPARSE_CE: {
        const int label = (int)tr[0];
        const bool ok = tr[0] >= 0.0f && label < cols;
        double s = 0.0;
        for (int c = lane; c < cols; c += 32)
            s += pr[c];
        s = warp_sum(s);
        row = ok ? -log(fmin(fmax(pr[label] / s, (double)EPS), 1.0 - (double)EPS)) : NAN;
        if (gr)
            for (int c = lane; c < cols; c += 32)
                gr[c] = (float)(((c == label ? -1.0 / fmax((double)pr[c], (double)EPS) : 0.0) +
                                 1.0 / s) * inv_rows);
        break;
    }
    case NN_LOSS_SPARSE_SOFTMAX_CE: {
        const int label = (int)tr[0];
        const bool ok = tr[0] >= 0.0f && label < cols;
        float m = -INFINITY;
        for (int c = lane; c < cols; c += 32)
            m = fmaxf(m, pr[c]);
        m = warp_max(m);
        double s = 0.0;
        for (int c = lane; c < cols; c += 32)
            s += exp((double)pr[c] - m);
        const double lse = m + log(warp_sum(s));
        row = ok ? lse - pr[label] : NAN;
        if (gr)
            for (int c = lane; c < cols; c += 32)
                gr[c] = (float)((exp(pr[c] - lse) - (c == label ? 1.0 : 0.0)) * inv_rows);
        break;
    }
    case NN_LOSS_CATEGORICAL_HINGE: {
        float neg = -INFINITY;
        int at = cols;
        for (int c = lane; c < cols; c += 32) {
            acc += (double)tr[c] * pr[c];
            float v = (1.0f - tr[c]) * pr[c];
            if (at == cols || v > neg)
                neg = v, at = c;
        }
        at = warp_argmax_pair(neg, at, cols);
        const double m = (double)((1.0f - tr[at]) * pr[at]) - warp_sum(acc) + 1.0;
        row = m > 0.0 ? m : 0.0;
        if (gr)
            for (int c = lane; c < cols; c += 32)
                gr[c] = m > 0.0 ? (-tr[c] + (c == at ? 1.0f - tr[c] : 0.0f)) * inv_rows : 0.0f;
        break;
    }
    case NN_LOSS_KL_DIVERGENCE:
        for (int c = lane; c < cols; c += 32) {
            float y = fminf(fmaxf(tr[c], EPS), 1.0f), q = fminf(fmaxf(pr[c], EPS), 1.0f);
            acc += (double)y * log((double)y / q);
            if (gr) gr[c] = (pr[c] > EPS && pr[c] < 1.0f) ? -y / q * inv_rows : 0.0f;
        }
        row = warp_sum(acc);
        break;
    case NN_LOSS_POISSON:
        for (int c = lane; c < cols; c += 32) {
            acc += pr[c] - (double)tr[c] * log((double)pr[c] + EPS);
            if (gr) gr[c] = (1.0f - tr[c] / (pr[c] + EPS)) * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_LOG_COSH:
        for (int c = lane; c < cols; c += 32) {
            double d = (double)pr[c] - tr[c];
            acc += d + fmax(-2.0 * d, 0.0) + log1p(exp(-fabs(2.0 * d))) - 0.69314718055994530942;
            if (gr) gr[c] = (float)tanh(d) * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    case NN_LOSS_HUBER: {
        const float delta = a.param;
        for (int c = lane; c < cols; c += 32) {
            float d = pr[c] - tr[c], ad = fabsf(d);
            acc += ad <= delta ? 0.5 * (double)d * d
                               : (double)delta * ad - 0.5 * (double)delta * delta;
            if (gr) gr[c] = (ad <= delta ? d : (d > 0.0f ? delta : -delta)) * inv_n;
        }
        row = warp_sum(acc) / cols;
        break;
    }
    case NN_LOSS_COSINE_SIMILARITY: {
        double pp = 0.0, yy = 0.0, py = 0.0;
        for (int c = lane; c < cols; c += 32) {
            pp += (double)pr[c] * pr[c];
            yy += (double)tr[c] * tr[c];
            py += (double)pr[c] * tr[c];
        }
        pp = warp_sum(pp);
        yy = warp_sum(yy);
        py = warp_sum(py);
        const double np = fmax(sqrt(pp), 1e-7), ny = fmax(sqrt(yy), 1e-7);
        const double cosv = py / (np * ny);
        const bool floored = sqrt(pp) < 1e-7;
        row = -cosv;
        if (gr)
            for (int c = lane; c < cols; c += 32) {
                double v = tr[c] / ny, u = floored ? 0.0 : cosv * pr[c] / np;
                gr[c] = (float)(-(v - u) / np * inv_rows);
            }
        break;
    }
    default:
        break;
    }
    if (lane == 0)
        a.rowv[r] = row;
}

extern "C" double nn_gpu_loss(nn_engine *e, nn_loss_kind kind, float param, const nn_tensor *input,
                              const nn_tensor *target, int rows, int cols, nn_tensor *grad,
                              float grad_scale)
{
    gpu_impl *g = nn_gpu(e);
    if (rows <= 0)
        return 0.0;
    double *rowv = (double *)nn_gpu_scratch(e, NN_GPU_SCRATCH_ROWS, (size_t)rows * sizeof(double));
    if (!rowv)
        return NAN;
    loss_args a;
    a.kind = kind;
    a.param = param;
    a.p = input->data;
    a.t = target->data;
    a.g = grad ? grad->data : NULL;
    a.rows = rows;
    a.cols = cols;
    a.inv_rows = grad_scale / (float)rows;
    a.inv_n = a.inv_rows / (float)cols;
    a.labels01 = g->dev_flag;
    a.rowv = rowv;
    if (kind == NN_LOSS_HINGE || kind == NN_LOSS_SQUARED_HINGE) {
        const int one = 1;
        size_t n = (size_t)rows * cols;
        nn_gpu_check(e, cudaMemcpyAsync(g->dev_flag, &one, sizeof one, cudaMemcpyHostToDevice,
                                        g->stream), "loss");
        labels01_kernel<<<nn_gpu_blocks(n), NN_GPU_THREADS, 0, g->stream>>>(target->data, n,
                                                                           g->dev_flag);
    }
    loss_kernel<<<(rows + WARPS - 1) / WARPS, 32 * WARPS, 0, g->stream>>>(a);
    if (!NN_GPU_LAUNCHED(e, "loss"))
        return NAN;
    return nn_gpu_sum_doubles(e, rowv, (size_t)rows);
}

static __global__ void metric_kernel(nn_metric_kind kind, int k, const float *p, const float *t,
                                     int rows, int cols, double *rowv)
{
    const int r = blockIdx.x * WARPS + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (r >= rows)
        return;
    const bool sparse =
        kind == NN_METRIC_SPARSE_CATEGORICAL_ACCURACY || kind == NN_METRIC_SPARSE_TOP_K;
    const float *pr = p + (size_t)r * cols;
    const float *tr = sparse ? t + r : t + (size_t)r * cols;
    double acc = 0.0, row = 0.0;
    switch (kind) {
    case NN_METRIC_BINARY_ACCURACY:
        for (int c = lane; c < cols; c += 32)
            acc += ((pr[c] > 0.5f ? 1.0f : 0.0f) == tr[c]) ? 1.0 : 0.0;
        row = warp_sum(acc) / cols;
        break;
    case NN_METRIC_CATEGORICAL_ACCURACY:
        row = warp_argmax(pr, cols, lane) == warp_argmax(tr, cols, lane) ? 1.0 : 0.0;
        break;
    case NN_METRIC_SPARSE_CATEGORICAL_ACCURACY:
        row = warp_argmax(pr, cols, lane) == (int)tr[0] ? 1.0 : 0.0;
        break;
    case NN_METRIC_TOP_K:
    case NN_METRIC_SPARSE_TOP_K: {
        int label = kind == NN_METRIC_TOP_K ? warp_argmax(tr, cols, lane) : (int)tr[0];
        if (label < 0 || label >= cols) {
            row = NAN;
            break;
        }
        for (int c = lane; c < cols; c += 32)
            acc += pr[c] > pr[label] ? 1.0 : 0.0;
        row = warp_sum(acc) < k ? 1.0 : 0.0;
        break;
    }
    case NN_METRIC_MSE:
        for (int c = lane; c < cols; c += 32)
            acc += (double)(pr[c] - tr[c]) * (pr[c] - tr[c]);
        row = warp_sum(acc) / cols;
        break;
    case NN_METRIC_MAE:
        for (int c = lane; c < cols; c += 32)
            acc += fabs((double)pr[c] - tr[c]);
        row = warp_sum(acc) / cols;
        break;
    case NN_METRIC_MAPE:
        for (int c = lane; c < cols; c += 32)
            acc += fabs((double)pr[c] - tr[c]) / fmax(fabs((double)tr[c]), (double)EPS);
        row = 100.0 * warp_sum(acc) / cols;
        break;
    case NN_METRIC_MSLE:
        for (int c = lane; c < cols; c += 32) {
            double d = log1p(fmax((double)pr[c], (double)EPS)) -
                       log1p(fmax((double)tr[c], (double)EPS));
            acc += d * d;
        }
        row = warp_sum(acc) / cols;
        break;
    default:
        break;
    }
    if (lane == 0)
        rowv[r] = row;
}

extern "C" double nn_gpu_metric(nn_engine *e, nn_metric_kind kind, int k, const nn_tensor *pred,
                                const nn_tensor *target, int rows, int cols)
{
    if (rows <= 0)
        return 0.0;
    double *rowv = (double *)nn_gpu_scratch(e, NN_GPU_SCRATCH_ROWS, (size_t)rows * sizeof(double));
    if (!rowv)
        return NAN;
    metric_kernel<<<(rows + WARPS - 1) / WARPS, 32 * WARPS, 0, nn_gpu(e)->stream>>>(
        kind, k, pred->data, target->data, rows, cols, rowv);
    if (!NN_GPU_LAUNCHED(e, "metric"))
        return NAN;
    return nn_gpu_sum_doubles(e, rowv, (size_t)rows);
}

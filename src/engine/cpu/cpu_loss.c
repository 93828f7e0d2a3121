/* Losses and metrics (Keras definitions). Per-sample values are means over
 * the last axis; the engine returns their sum over the batch and the
 * gradient of the batch mean. Row loops are sequential in row order so sums
 * are reproducible; these are O(batch x classes), small next to the GEMMs. */
#include <math.h>

#include "engine/cpu/cpu_internal.h"

#define EPS 1e-7f

/* Keras's hinge losses turn {0,1} labels into {-1,1}. */
static bool labels_are_01(const float *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] != 0.0f && t[i] != 1.0f)
            return false;
    return true;
}

static double logsumexp_row(const float *z, int cols)
{
    float m = z[0];
    for (int c = 1; c < cols; c++)
        m = fmaxf(m, z[c]);
    double s = 0.0;
    for (int c = 0; c < cols; c++)
        s += exp((double)z[c] - m);
    return m + log(s);
}

double nn_cpu_loss(nn_engine *e, nn_loss_kind kind, float param, const nn_tensor *input,
                   const nn_tensor *target, int rows, int cols, nn_tensor *gradt,
                   float grad_scale)
{
    (void)e;
    const float *p = input->data, *t = target->data;
    float *g = gradt ? gradt->data : NULL;
    const float inv_rows = grad_scale / (float)rows;
    const float inv_n = inv_rows / (float)cols;
    double total = 0.0;
    bool convert = false;
    if (kind == NN_LOSS_HINGE || kind == NN_LOSS_SQUARED_HINGE)
        convert = labels_are_01(t, (size_t)rows * cols);

    for (int r = 0; r < rows; r++) {
        const float *pr = p + (size_t)r * cols;
        const float *tr = (kind == NN_LOSS_SPARSE_CE || kind == NN_LOSS_SPARSE_SOFTMAX_CE)
                              ? t + r
                              : t + (size_t)r * cols;
        float *gr = g ? g + (size_t)r * cols : NULL;
        double row = 0.0;
        switch (kind) {
        case NN_LOSS_MSE:
            for (int c = 0; c < cols; c++) {
                float d = pr[c] - tr[c];
                row += (double)d * d;
                if (gr) gr[c] = 2.0f * d * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_MAE:
            for (int c = 0; c < cols; c++) {
                float d = pr[c] - tr[c];
                row += fabsf(d);
                if (gr) gr[c] = (d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f)) * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_MAPE:
            for (int c = 0; c < cols; c++) {
                float d = pr[c] - tr[c];
                float den = fmaxf(fabsf(tr[c]), EPS);
                row += fabsf(d) / den;
                if (gr) gr[c] = 100.0f * (d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f)) / den * inv_n;
            }
            row = 100.0 * row / cols;
            break;
        case NN_LOSS_MSLE:
            for (int c = 0; c < cols; c++) {
                float pc = fmaxf(pr[c], EPS);
                float a = log1pf(pc), b = log1pf(fmaxf(tr[c], EPS));
                float d = a - b;
                row += (double)d * d;
                if (gr) gr[c] = (pr[c] > EPS ? 2.0f * d / (1.0f + pc) : 0.0f) * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_HINGE:
        case NN_LOSS_SQUARED_HINGE:
            for (int c = 0; c < cols; c++) {
                float y = convert ? 2.0f * tr[c] - 1.0f : tr[c];
                float m = 1.0f - y * pr[c];
                if (m > 0.0f) {
                    if (kind == NN_LOSS_HINGE) {
                        row += m;
                        if (gr) gr[c] = -y * inv_n;
                    } else {
                        row += (double)m * m;
                        if (gr) gr[c] = -2.0f * m * y * inv_n;
                    }
                } else if (gr) {
                    gr[c] = 0.0f;
                }
            }
            row /= cols;
            break;
        case NN_LOSS_BINARY_CE:
            for (int c = 0; c < cols; c++) {
                float pc = fminf(fmaxf(pr[c], EPS), 1.0f - EPS);
                row -= tr[c] * log(pc) + (1.0f - tr[c]) * log(1.0f - pc);
                if (gr) {
                    bool clipped = pr[c] <= EPS || pr[c] >= 1.0f - EPS;
                    gr[c] = clipped ? 0.0f : (pc - tr[c]) / (pc * (1.0f - pc)) * inv_n;
                }
            }
            row /= cols;
            break;
        case NN_LOSS_BINARY_CE_LOGITS:
            /* max(z,0) - z*y + log(1 + exp(-|z|)) */
            for (int c = 0; c < cols; c++) {
                float z = pr[c];
                row += fmaxf(z, 0.0f) - z * tr[c] + log1pf(expf(-fabsf(z)));
                if (gr) {
                    float s = z >= 0 ? 1.0f / (1.0f + expf(-z)) : expf(z) / (1.0f + expf(z));
                    gr[c] = (s - tr[c]) * inv_n;
                }
            }
            row /= cols;
            break;
        case NN_LOSS_CATEGORICAL_CE: {
            /* Keras: renormalize, clip, -sum y log p */
            double s = 0.0;
            for (int c = 0; c < cols; c++)
                s += pr[c];
            for (int c = 0; c < cols; c++) {
                double q = pr[c] / s;
                double qc = fmin(fmax(q, EPS), 1.0 - EPS);
                row -= tr[c] * log(qc);
            }
            if (gr) {
                /* d/dp_c of -sum_j y_j log(p_j / s), ignoring the clip. */
                double ysum = 0.0;
                for (int c = 0; c < cols; c++)
                    ysum += tr[c];
                for (int c = 0; c < cols; c++)
                    gr[c] = (float)((-tr[c] / fmax(pr[c], EPS) + ysum / s) * inv_rows);
            }
            break;
        }
        case NN_LOSS_SOFTMAX_CE: {
            double lse = logsumexp_row(pr, cols), ysum = 0.0;
            for (int c = 0; c < cols; c++) {
                row -= tr[c] * (pr[c] - lse);
                ysum += tr[c];
            }
            if (gr)
                for (int c = 0; c < cols; c++)
                    gr[c] = (float)((ysum * exp(pr[c] - lse) - tr[c]) * inv_rows);
            break;
        }
        case NN_LOSS_SPARSE_CE: {
            int label = (int)tr[0];
            double s = 0.0;
            for (int c = 0; c < cols; c++)
                s += pr[c];
            double q = fmin(fmax(pr[label] / s, EPS), 1.0 - EPS);
            row = -log(q);
            if (gr)
                for (int c = 0; c < cols; c++)
                    gr[c] = (float)(((c == label ? -1.0 / fmax(pr[c], EPS) : 0.0) + 1.0 / s) *
                                    inv_rows);
            break;
        }
        case NN_LOSS_SPARSE_SOFTMAX_CE: {
            int label = (int)tr[0];
            double lse = logsumexp_row(pr, cols);
            row = lse - pr[label];
            if (gr)
                for (int c = 0; c < cols; c++)
                    gr[c] = (float)((exp(pr[c] - lse) - (c == label ? 1.0 : 0.0)) * inv_rows);
            break;
        }
        case NN_LOSS_CATEGORICAL_HINGE: {
            /* pos = sum y p; neg = max (1 - y) p (its first index gets the
             * gradient, as argmax) */
            double pos = 0.0;
            int at = 0;
            float neg = -INFINITY;
            for (int c = 0; c < cols; c++) {
                pos += (double)tr[c] * pr[c];
                float v = (1.0f - tr[c]) * pr[c];
                if (v > neg)
                    neg = v, at = c;
            }
            double m = neg - pos + 1.0;
            row = m > 0.0 ? m : 0.0;
            if (gr)
                for (int c = 0; c < cols; c++)
                    gr[c] = m > 0.0 ? (-tr[c] + (c == at ? 1.0f - tr[c] : 0.0f)) * inv_rows : 0.0f;
            break;
        }
        case NN_LOSS_KL_DIVERGENCE:
            for (int c = 0; c < cols; c++) {
                float y = fminf(fmaxf(tr[c], EPS), 1.0f), q = fminf(fmaxf(pr[c], EPS), 1.0f);
                row += (double)y * log((double)y / q);
                if (gr) gr[c] = (pr[c] > EPS && pr[c] < 1.0f) ? -y / q * inv_rows : 0.0f;
            }
            break;
        case NN_LOSS_POISSON:
            for (int c = 0; c < cols; c++) {
                row += pr[c] - (double)tr[c] * log((double)pr[c] + EPS);
                if (gr) gr[c] = (1.0f - tr[c] / (pr[c] + EPS)) * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_LOG_COSH:
            /* x + softplus(-2x) - log 2, Keras's form that never overflows */
            for (int c = 0; c < cols; c++) {
                double d = (double)pr[c] - tr[c];
                row += d + fmax(-2.0 * d, 0.0) + log1p(exp(-fabs(2.0 * d))) - M_LN2;
                if (gr) gr[c] = (float)tanh(d) * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_HUBER:
            for (int c = 0; c < cols; c++) {
                float d = pr[c] - tr[c], a = fabsf(d);
                row += a <= param ? 0.5 * (double)d * d : (double)param * a - 0.5 * (double)param * param;
                if (gr) gr[c] = (a <= param ? d : (d > 0.0f ? param : -param)) * inv_n;
            }
            row /= cols;
            break;
        case NN_LOSS_COSINE_SIMILARITY: {
            /* -sum u v with u = p / |p|, v = y / |y|; a norm under 1e-7
             * counts as 1e-7 (Keras 3's normalize) */
            double pp = 0.0, yy = 0.0, py = 0.0;
            for (int c = 0; c < cols; c++) {
                pp += (double)pr[c] * pr[c];
                yy += (double)tr[c] * tr[c];
                py += (double)pr[c] * tr[c];
            }
            double np = fmax(sqrt(pp), 1e-7), ny = fmax(sqrt(yy), 1e-7);
            double cosv = py / (np * ny);
            row = -cosv;
            if (gr) {
                /* d/dp of -(p.y)/(|p||y|): -(y/|y| - cos p/|p|) / |p| while
                 * |p| is above the floor, -(y/|y|)/floor below it */
                bool floored = sqrt(pp) < 1e-7;
                for (int c = 0; c < cols; c++) {
                    double v = tr[c] / ny;
                    double u = floored ? 0.0 : cosv * pr[c] / np;
                    gr[c] = (float)(-(v - u) / np * inv_rows);
                }
            }
            break;
        }
        default:
            break;
        }
        total += row;
    }
    return total;
}

static int argmax_row(const float *x, int cols)
{
    int best = 0;
    for (int c = 1; c < cols; c++)
        if (x[c] > x[best])
            best = c;
    return best;
}

double nn_cpu_metric(nn_engine *e, nn_metric_kind kind, int k, const nn_tensor *predt,
                     const nn_tensor *targett, int rows, int cols)
{
    (void)e;
    const float *p = predt->data, *t = targett->data;
    double total = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *pr = p + (size_t)r * cols;
        const float *tr = (kind == NN_METRIC_SPARSE_CATEGORICAL_ACCURACY ||
                           kind == NN_METRIC_SPARSE_TOP_K)
                              ? t + r
                              : t + (size_t)r * cols;
        double row = 0.0;
        switch (kind) {
        case NN_METRIC_BINARY_ACCURACY:
            for (int c = 0; c < cols; c++)
                row += ((pr[c] > 0.5f ? 1.0f : 0.0f) == tr[c]) ? 1.0 : 0.0;
            row /= cols;
            break;
        case NN_METRIC_CATEGORICAL_ACCURACY:
            row = argmax_row(pr, cols) == argmax_row(tr, cols) ? 1.0 : 0.0;
            break;
        case NN_METRIC_SPARSE_CATEGORICAL_ACCURACY:
            row = argmax_row(pr, cols) == (int)tr[0] ? 1.0 : 0.0;
            break;
        case NN_METRIC_TOP_K:
        case NN_METRIC_SPARSE_TOP_K: {
            int label = kind == NN_METRIC_TOP_K ? argmax_row(tr, cols) : (int)tr[0];
            int above = 0;
            for (int c = 0; c < cols; c++)
                if (pr[c] > pr[label])
                    above++;
            row = above < k ? 1.0 : 0.0;
            break;
        }
        case NN_METRIC_MSE:
            for (int c = 0; c < cols; c++)
                row += (double)(pr[c] - tr[c]) * (pr[c] - tr[c]);
            row /= cols;
            break;
        case NN_METRIC_MAE:
            for (int c = 0; c < cols; c++)
                row += fabs((double)pr[c] - tr[c]);
            row /= cols;
            break;
        case NN_METRIC_MAPE:
            for (int c = 0; c < cols; c++)
                row += fabs((double)pr[c] - tr[c]) / fmax(fabs((double)tr[c]), EPS);
            row = 100.0 * row / cols;
            break;
        case NN_METRIC_MSLE:
            for (int c = 0; c < cols; c++) {
                double d = log1p(fmax(pr[c], EPS)) - log1p(fmax(tr[c], EPS));
                row += d * d;
            }
            row /= cols;
            break;
        default:
            break;
        }
        total += row;
    }
    return total;
}

/* UpSampling2D on channels-last images (engine/upsample.h has the index
 * arithmetic): every inner loop runs over the channels of one pixel. */
#include "engine/cpu/cpu_internal.h"
#include "engine/upsample.h"


void nn_cpu_upsample2d(nn_engine *e, bool bilinear, const nn_tensor *x, nn_tensor *y, int rows,
                       int H, int W, int C, int sh, int sw)
{
    const int OH = H * sh, OW = W * sw;
    const float *xs = x->data;
    float *ys = y->data;
    const long long n = (long long)rows * OH;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)n * OW * C > NN_CPU_PAR_MIN)
    for (long long r = 0; r < n; r++) {
        const int b = (int)(r / OH), oy = (int)(r % OH);
        int y0, y1;
        float fy;
        nn_up_source(bilinear, oy, sh, H, &y0, &y1, &fy);
        const float *r0 = xs + ((size_t)b * H + y0) * W * C;
        const float *r1 = xs + ((size_t)b * H + y1) * W * C;
        float *out = ys + (size_t)r * OW * C;
        for (int ox = 0; ox < OW; ox++) {
            int x0, x1;
            float fx;
            nn_up_source(bilinear, ox, sw, W, &x0, &x1, &fx);
            float *o = out + (size_t)ox * C;
            const float *a = r0 + (size_t)x0 * C, *bb = r0 + (size_t)x1 * C;
            const float *c = r1 + (size_t)x0 * C, *d = r1 + (size_t)x1 * C;
            if (!bilinear) {
                for (int ch = 0; ch < C; ch++)
                    o[ch] = a[ch];
                continue;
            }
            const float w00 = (1.0f - fy) * (1.0f - fx), w01 = (1.0f - fy) * fx;
            const float w10 = fy * (1.0f - fx), w11 = fy * fx;
            for (int ch = 0; ch < C; ch++)
                o[ch] = w00 * a[ch] + w01 * bb[ch] + w10 * c[ch] + w11 * d[ch];
        }
    }
}

void nn_cpu_upsample2d_backward(nn_engine *e, bool bilinear, const nn_tensor *dy, nn_tensor *dx,
                                int rows, int H, int W, int C, int sh, int sw)
{
    const int OW = W * sw;
    const float *g = dy->data;
    float *d = dx->data;
    const long long n = (long long)rows * H;
#pragma omp parallel for num_threads(e->threads) schedule(static) \
    if ((size_t)n * W * C > NN_CPU_PAR_MIN)
    for (long long r = 0; r < n; r++) {
        const int b = (int)(r / H), ky = (int)(r % H);
        int i0, i1;
        nn_up_reach(bilinear, ky, sh, H, &i0, &i1);
        for (int kx = 0; kx < W; kx++) {
            float *o = d + ((size_t)r * W + kx) * C;
            for (int ch = 0; ch < C; ch++)
                o[ch] = 0.0f;
            int j0, j1;
            nn_up_reach(bilinear, kx, sw, W, &j0, &j1);
            for (int oy = i0; oy < i1; oy++) {
                const float wy = nn_up_weight(bilinear, oy, ky, sh, H);
                if (wy == 0.0f)
                    continue;
                const float *grow = g + ((size_t)b * H * sh + oy) * OW * C;
                for (int ox = j0; ox < j1; ox++) {
                    const float w = wy * nn_up_weight(bilinear, ox, kx, sw, W);
                    if (w == 0.0f)
                        continue;
                    const float *gi = grow + (size_t)ox * C;
                    for (int ch = 0; ch < C; ch++)
                        o[ch] += w * gi[ch];
                }
            }
        }
    }
}

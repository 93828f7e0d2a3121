/* UpSampling2D with the CPU engine's arithmetic (engine/upsample.h): one
 * thread per output value forward; backward one thread per input value,
 * gathering the outputs that reach it in the CPU's order (no atomics). */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"
#include "engine/upsample.h"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

static __global__ void up_fwd_kernel(bool bilinear, const float *x, float *y, int rows, int H,
                                     int W, int C, int sh, int sw)
{
    const int OH = H * sh, OW = W * sw;
    const size_t total = (size_t)rows * OH * OW * C;
    NN_GPU_FOR(o, total) {
        int ch = (int)(o % C);
        size_t p = o / C;
        int ox = (int)(p % OW), oy = (int)(p / OW % OH), b = (int)(p / ((size_t)OW * OH));
        int y0, y1, x0, x1;
        float fy, fx;
        nn_up_source(bilinear, oy, sh, H, &y0, &y1, &fy);
        nn_up_source(bilinear, ox, sw, W, &x0, &x1, &fx);
        const float *xi = x + (size_t)b * H * W * C + ch;
        float a = xi[((size_t)y0 * W + x0) * C];
        if (!bilinear) {
            y[o] = a;
            continue;
        }
        float bb = xi[((size_t)y0 * W + x1) * C], c = xi[((size_t)y1 * W + x0) * C];
        float d = xi[((size_t)y1 * W + x1) * C];
        y[o] = (1.0f - fy) * (1.0f - fx) * a + (1.0f - fy) * fx * bb + fy * (1.0f - fx) * c +
               fy * fx * d;
    }
}

static __global__ void up_bwd_kernel(bool bilinear, const float *dy, float *dx, int rows, int H,
                                     int W, int C, int sh, int sw)
{
    const int OW = W * sw;
    const size_t total = (size_t)rows * H * W * C;
    NN_GPU_FOR(o, total) {
        int ch = (int)(o % C);
        size_t p = o / C;
        int kx = (int)(p % W), ky = (int)(p / W % H), b = (int)(p / ((size_t)W * H));
        int i0, i1, j0, j1;
        nn_up_reach(bilinear, ky, sh, H, &i0, &i1);
        nn_up_reach(bilinear, kx, sw, W, &j0, &j1);
        float sum = 0.0f;
        for (int oy = i0; oy < i1; oy++) {
            float wy = nn_up_weight(bilinear, oy, ky, sh, H);
            if (wy == 0.0f)
                continue;
            const float *g = dy + ((size_t)b * H * sh + oy) * OW * C + ch;
            for (int ox = j0; ox < j1; ox++) {
                float w = wy * nn_up_weight(bilinear, ox, kx, sw, W);
                if (w != 0.0f)
                    sum += w * g[(size_t)ox * C];
            }
        }
        dx[o] = sum;
    }
}

extern "C" void nn_gpu_upsample2d(nn_engine *e, bool bilinear, const nn_tensor *x, nn_tensor *y,
                                  int rows, int H, int W, int C, int sh, int sw)
{
    size_t n = (size_t)rows * H * sh * W * sw * C;
    if (n == 0)
        return;
    up_fwd_kernel<<<LAUNCH(n)>>>(bilinear, x->data, y->data, rows, H, W, C, sh, sw);
    NN_GPU_LAUNCHED(e, "upsample2d");
}

extern "C" void nn_gpu_upsample2d_backward(nn_engine *e, bool bilinear, const nn_tensor *dy,
                                           nn_tensor *dx, int rows, int H, int W, int C, int sh,
                                           int sw)
{
    size_t n = (size_t)rows * H * W * C;
    if (n == 0)
        return;
    up_bwd_kernel<<<LAUNCH(n)>>>(bilinear, dy->data, dx->data, rows, H, W, C, sh, sw);
    NN_GPU_LAUNCHED(e, "upsample2d_backward");
}

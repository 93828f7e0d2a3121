/* The padded copies behind asymmetric 'same' padding (gpu_conv.c): cuDNN
 * pads top and bottom by the same amount, Keras puts the odd row at the
 * bottom, so such inputs are padded explicitly and their gradients cropped. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

static __global__ void pad_kernel(const float *src, float *dst, int n, int h, int w, int c, int hp,
                                  int wp, int top, int left)
{
    const size_t total = (size_t)n * hp * wp * c;
    NN_GPU_FOR(q, total) {
        int ch = (int)(q % c);
        size_t p = q / c;
        int px = (int)(p % wp), py = (int)(p / wp % hp), i = (int)(p / ((size_t)wp * hp));
        int sy = py - top, sx = px - left;
        dst[q] = (sy >= 0 && sy < h && sx >= 0 && sx < w)
                     ? src[(((size_t)i * h + sy) * w + sx) * c + ch]
                     : 0.0f;
    }
}

static __global__ void crop_kernel(const float *src, float *dst, int n, int h, int w, int c,
                                   int hp, int wp, int top, int left)
{
    const size_t total = (size_t)n * h * w * c;
    NN_GPU_FOR(q, total) {
        int ch = (int)(q % c);
        size_t p = q / c;
        int x = (int)(p % w), y = (int)(p / w % h), i = (int)(p / ((size_t)w * h));
        int py = y + top, px = x + left;
        dst[q] = (py < hp && px < wp) ? src[(((size_t)i * hp + py) * wp + px) * c + ch] : 0.0f;
    }
}

extern "C" void nn_gpu_pad_nhwc(nn_engine *e, const float *src, float *dst, int n, int h, int w,
                                int c, int hp, int wp, int top, int left)
{
    size_t total = (size_t)n * hp * wp * c;
    if (total == 0)
        return;
    pad_kernel<<<nn_gpu_blocks(total), NN_GPU_THREADS, 0, nn_gpu(e)->stream>>>(
        src, dst, n, h, w, c, hp, wp, top, left);
    NN_GPU_LAUNCHED(e, "conv padding");
}

extern "C" void nn_gpu_crop_nhwc(nn_engine *e, const float *src, float *dst, int n, int h, int w,
                                 int c, int hp, int wp, int top, int left)
{
    size_t total = (size_t)n * h * w * c;
    if (total == 0)
        return;
    crop_kernel<<<nn_gpu_blocks(total), NN_GPU_THREADS, 0, nn_gpu(e)->stream>>>(
        src, dst, n, h, w, c, hp, wp, top, left);
    NN_GPU_LAUNCHED(e, "conv crop");
}

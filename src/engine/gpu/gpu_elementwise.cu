/* Elementwise maps, bias, dropout, column sums and the reduction's last
 * step. Each operation is one kernel on the engine's stream. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"
#include "engine/gpu/gpu_reduce.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

__global__ void nn_reduce_final(const double *part, int n, double *out)
{
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += NN_RED_THREADS)
        acc += part[i];
    double s = nn_block_sum(acc);
    if (threadIdx.x == 0)
        *out = s;
}

struct read_doubles {
    const double *v;
    __device__ double operator()(size_t i) const { return v[i]; }
};

extern "C" double nn_gpu_sum_doubles(nn_engine *e, const double *v, size_t n)
{
    return nn_gpu_reduce(e, read_doubles{v}, n);
}

static __global__ void fill_kernel(float *p, float v, size_t n)
{
    NN_GPU_FOR(i, n) p[i] = v;
}

extern "C" void nn_gpu_fill(nn_engine *e, nn_tensor *t, float value, size_t n)
{
    nn_tensor_touch(t);
    if (n == 0)
        return;
    if (value == 0.0f) {
        nn_gpu_check(e, cudaMemsetAsync(t->data, 0, n * sizeof(float), nn_gpu(e)->stream),
                     "fill");
        return;
    }
    fill_kernel<<<LAUNCH(n)>>>(t->data, value, n);
    NN_GPU_LAUNCHED(e, "fill");
}

static __global__ void add_bias_kernel(float *y, const float *b, size_t n, int cols)
{
    NN_GPU_FOR(i, n) y[i] += b[i % (size_t)cols];
}

extern "C" void nn_gpu_add_bias(nn_engine *e, nn_tensor *Y, const nn_tensor *b, int rows,
                                int cols)
{
    size_t n = (size_t)rows * cols;
    if (n == 0)
        return;
    add_bias_kernel<<<LAUNCH(n)>>>(Y->data, b->data, n, cols);
    NN_GPU_LAUNCHED(e, "add_bias");
}

/* Column sums: a grid of (column tiles of 32) x (row chunks); each thread
 * runs down its column through its chunk, the 8 rows of threads are added
 * in order, and a second kernel adds the chunks in order. */
#define CS_X 32
#define CS_Y 8
#define CS_MAX_CHUNKS 256

static int col_chunk_rows(int rows)
{
    int per = (rows + CS_MAX_CHUNKS - 1) / CS_MAX_CHUNKS;
    return per < 64 ? 64 : per;
}

static __global__ void col_partials(const float *a, const float *b, const float *shift,
                                    int rows, int cols, int chunk_rows, double *part)
{
    __shared__ double p1[CS_Y][CS_X], p2[CS_Y][CS_X];
    int c = blockIdx.x * CS_X + threadIdx.x;
    int r0 = blockIdx.y * chunk_rows, r1 = min(rows, r0 + chunk_rows);
    double s1 = 0.0, s2 = 0.0;
    if (c < cols) {
        float sh = shift ? shift[c] : 0.0f;
        for (int r = r0 + threadIdx.y; r < r1; r += CS_Y) {
            double v = (double)a[(size_t)r * cols + c] - sh;
            if (b) {
                double bv = b[(size_t)r * cols + c];
                s1 += bv;
                s2 += bv * v;
            } else {
                s1 += v;
                s2 += v * v;
            }
        }
    }
    p1[threadIdx.y][threadIdx.x] = s1;
    p2[threadIdx.y][threadIdx.x] = s2;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        for (int k = 1; k < CS_Y; k++) {
            s1 += p1[k][threadIdx.x];
            s2 += p2[k][threadIdx.x];
        }
        size_t at = (size_t)blockIdx.y * 2 * cols;
        part[at + c] = s1;
        part[at + cols + c] = s2;
    }
}

static __global__ void col_final(const double *part, int chunks, int cols, double *out)
{
    NN_GPU_FOR(c, cols) {
        double s1 = 0.0, s2 = 0.0;
        for (int k = 0; k < chunks; k++) {
            s1 += part[(size_t)k * 2 * cols + c];
            s2 += part[(size_t)k * 2 * cols + cols + c];
        }
        out[c] = s1;
        out[cols + c] = s2;
    }
}

extern "C" double *nn_gpu_col_sums(nn_engine *e, const float *a, const float *b,
                                   const float *shift, int rows, int cols)
{
    int per = col_chunk_rows(rows);
    int chunks = rows > 0 ? (rows + per - 1) / per : 1;
    double *buf = (double *)nn_gpu_scratch(
        e, NN_GPU_SCRATCH_COLS, (size_t)2 * cols * (1 + (size_t)chunks) * sizeof(double));
    if (!buf)
        return NULL;
    double *part = buf + (size_t)2 * cols;
    if (rows == 0) {
        nn_gpu_check(e, cudaMemsetAsync(buf, 0, (size_t)2 * cols * sizeof(double),
                                        nn_gpu(e)->stream), "column sums");
        return buf;
    }
    dim3 grid((cols + CS_X - 1) / CS_X, chunks), block(CS_X, CS_Y);
    col_partials<<<grid, block, 0, nn_gpu(e)->stream>>>(a, b, shift, rows, cols, per, part);
    col_final<<<LAUNCH(cols)>>>(part, chunks, cols, buf);
    return NN_GPU_LAUNCHED(e, "column sums") ? buf : NULL;
}

static __global__ void bias_grad_final(const double *s, float *db, int cols, float beta)
{
    NN_GPU_FOR(c, cols) db[c] = (beta == 0.0f ? 0.0f : beta * db[c]) + (float)s[c];
}

extern "C" void nn_gpu_bias_grad(nn_engine *e, const nn_tensor *dY, nn_tensor *db, int rows,
                                 int cols, float beta)
{
    if (cols <= 0)
        return;
    double *s = nn_gpu_col_sums(e, dY->data, NULL, NULL, rows, cols);
    if (!s)
        return;
    bias_grad_final<<<LAUNCH(cols)>>>(s, db->data, cols, beta);
    NN_GPU_LAUNCHED(e, "bias_grad");
}

/* The CPU engine's counter-based dropout, bit for bit (the hash is
 * engine.h's nn_dropout_hash): the same key and sample ids give the same
 * mask on both engines. */
static __global__ void dropout_kernel(uint64_t key, const uint32_t *ids, uint32_t threshold,
                                      float keep, const float *x, float *m, float *y,
                                      size_t cols, size_t n)
{
    NN_GPU_FOR(i, n) {
        size_t r = i / cols;
        uint32_t row_key = nn_dropout_row_key(key, ids ? ids[r] : (uint32_t)r);
        uint32_t h = nn_dropout_hash(key, row_key, (uint32_t)(i - r * cols));
        float mask = (h >> 8) >= threshold ? keep : 0.0f;
        m[i] = mask;
        y[i] = x[i] * mask;
    }
}

extern "C" void nn_gpu_dropout_forward(nn_engine *e, float rate, uint64_t key,
                                       const nn_tensor *ids, const nn_tensor *x,
                                       nn_tensor *mask, nn_tensor *y, int rows, size_t cols)
{
    const float keep = 1.0f / (1.0f - rate);
    const uint32_t threshold = (uint32_t)((double)rate * 16777216.0);
    size_t n = (size_t)rows * cols;
    if (n == 0)
        return;
    dropout_kernel<<<LAUNCH(n)>>>(key, ids ? (const uint32_t *)(const void *)ids->data : NULL,
                                  threshold, keep, x->data, mask->data, y->data, cols, n);
    NN_GPU_LAUNCHED(e, "dropout");
}

static __global__ void mul_kernel(const float *a, const float *b, float *o, size_t n)
{
    NN_GPU_FOR(i, n) o[i] = a[i] * b[i];
}

extern "C" void nn_gpu_mul(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out,
                           size_t n)
{
    if (n == 0)
        return;
    mul_kernel<<<LAUNCH(n)>>>(a->data, b->data, out->data, n);
    NN_GPU_LAUNCHED(e, "mul");
}

static __global__ void add_kernel(const float *a, const float *b, float *o, float lo, float hi,
                                  size_t n)
{
    NN_GPU_FOR(i, n)
    {
        float v = a[i] + b[i]; /* a NaN stays NaN, as on the CPU */
        o[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}

extern "C" void nn_gpu_add(nn_engine *e, const nn_tensor *a, const nn_tensor *b, nn_tensor *out,
                           size_t n, nn_act act)
{
    if (n == 0)
        return;
    float lo = act == NN_ACT_LINEAR ? -INFINITY : 0.0f, hi = act == NN_ACT_RELU6 ? 6.0f : INFINITY;
    add_kernel<<<LAUNCH(n)>>>(a->data, b->data, out->data, lo, hi, n);
    NN_GPU_LAUNCHED(e, "add");
}

static __global__ void axpy_kernel(float alpha, const float *x, float *y, size_t n)
{
    NN_GPU_FOR(i, n) y[i] += alpha * x[i];
}

extern "C" void nn_gpu_axpy(nn_engine *e, float alpha, const nn_tensor *x, nn_tensor *y,
                            size_t n)
{
    if (n == 0)
        return;
    axpy_kernel<<<LAUNCH(n)>>>(alpha, x->data, y->data, n);
    NN_GPU_LAUNCHED(e, "axpy");
}

static __global__ void scale_kernel(float *x, float alpha, size_t n)
{
    NN_GPU_FOR(i, n) x[i] *= alpha;
}

extern "C" void nn_gpu_scale(nn_engine *e, nn_tensor *x, float alpha, size_t n)
{
    if (n == 0)
        return;
    scale_kernel<<<LAUNCH(n)>>>(x->data, alpha, n);
    NN_GPU_LAUNCHED(e, "scale");
}

static __global__ void clip_kernel(float *x, float c, size_t n)
{
    NN_GPU_FOR(i, n) x[i] = fminf(c, fmaxf(-c, x[i]));
}

extern "C" void nn_gpu_clip(nn_engine *e, nn_tensor *x, float c, size_t n)
{
    if (n == 0)
        return;
    clip_kernel<<<LAUNCH(n)>>>(x->data, c, n);
    NN_GPU_LAUNCHED(e, "clip");
}

static __global__ void mask_rows_kernel(const float *x, float value, float *mask, size_t rows,
                                        int cols)
{
    NN_GPU_FOR(r, rows)
    {
        const float *v = x + r * (size_t)cols;
        bool keep = false;
        for (int j = 0; j < cols && !keep; j++)
            keep = v[j] != value;
        mask[r] = keep ? 1.0f : 0.0f;
    }
}

extern "C" void nn_gpu_mask_rows(nn_engine *e, const nn_tensor *x, float value, nn_tensor *mask,
                                 size_t rows, int cols)
{
    if (rows == 0)
        return;
    mask_rows_kernel<<<LAUNCH(rows)>>>(x->data, value, mask->data, rows, cols);
    NN_GPU_LAUNCHED(e, "mask_rows");
}

static __global__ void extremum_kernel(bool is_max, const float *a, const float *b, float *o,
                                       size_t n)
{
    NN_GPU_FOR(i, n) o[i] = is_max ? (a[i] >= b[i] ? a[i] : b[i]) : (a[i] <= b[i] ? a[i] : b[i]);
}

extern "C" void nn_gpu_extremum(nn_engine *e, bool is_max, const nn_tensor *a,
                                const nn_tensor *b, nn_tensor *out, size_t n)
{
    if (n == 0)
        return;
    extremum_kernel<<<LAUNCH(n)>>>(is_max, a->data, b->data, out->data, n);
    NN_GPU_LAUNCHED(e, "extremum");
}

static __global__ void route_kernel(const float *x, const float *y, const float *dy,
                                    float *taken, float *dx, size_t n)
{
    NN_GPU_FOR(i, n) {
        float win = (x[i] == y[i] && taken[i] == 0.0f) ? 1.0f : 0.0f;
        dx[i] = dy[i] * win;
        taken[i] += win;
    }
}

extern "C" void nn_gpu_route_equal(nn_engine *e, const nn_tensor *x, const nn_tensor *y,
                                   const nn_tensor *dy, nn_tensor *taken, nn_tensor *dx,
                                   size_t n)
{
    if (n == 0)
        return;
    route_kernel<<<LAUNCH(n)>>>(x->data, y->data, dy->data, taken->data, dx->data, n);
    NN_GPU_LAUNCHED(e, "route_equal");
}

extern "C" void nn_gpu_copy_cols(nn_engine *e, const nn_tensor *src, int src_cols, int src_off,
                                 nn_tensor *dst, int dst_cols, int dst_off, int rows, int width)
{
    if (rows <= 0 || width <= 0)
        return;
    /* a strided 2-D copy: the copy engine does it without a kernel */
    nn_gpu_check(e,
                 cudaMemcpy2DAsync(dst->data + dst_off, (size_t)dst_cols * sizeof(float),
                                   src->data + src_off, (size_t)src_cols * sizeof(float),
                                   (size_t)width * sizeof(float), (size_t)rows,
                                   cudaMemcpyDeviceToDevice, nn_gpu(e)->stream),
                 "copy_cols");
}

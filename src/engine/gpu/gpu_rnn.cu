/* Recurrent cells' elementwise parts (cpu_rnn.c's formulas), sequence
 * transposes and embedding lookups. One thread per (sample, unit): it
 * reads that unit's gate pre-activations and writes all of its outputs. */
#include "engine/gpu/gpu_internal.h"
#include "engine/gpu/gpu_math.cuh"

#define LAUNCH(n) nn_gpu_blocks(n), NN_GPU_THREADS, 0, nn_gpu(e)->stream

static __global__ void swap_kernel(const float *s, float *d, int a, int b, int c, bool rev_a,
                                   bool rev_b)
{
    const size_t total = (size_t)a * b * c;
    NN_GPU_FOR(q, total) {
        int k = (int)(q % c);
        size_t p = q / c;
        int i = (int)(p % a), j = (int)(p / a); /* dst (b, a, c) */
        int si = rev_a ? a - 1 - i : i, sj = rev_b ? b - 1 - j : j;
        d[q] = s[((size_t)si * b + sj) * c + k];
    }
}

extern "C" void nn_gpu_swap_axes(nn_engine *e, const nn_tensor *src, nn_tensor *dst, int a,
                                 int b, int c, bool rev_a, bool rev_b)
{
    size_t total = (size_t)a * b * c;
    if (total == 0)
        return;
    swap_kernel<<<LAUNCH(total)>>>(src->data, dst->data, a, b, c, rev_a, rev_b);
    NN_GPU_LAUNCHED(e, "swap_axes");
}

static __global__ void lstm_fwd_kernel(nn_rnn_cell cell, const float *Z, const float *CP,
                                       float *G, float *C, float *TC, float *H, int rows)
{
    const int U = cell.units;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const float *z = Z + r * 4 * U;
        float *g = G + r * 4 * U;
        float gi = nn_dev_act(cell.rec_act, cell.rec_alpha, z[j]);
        float gf = nn_dev_act(cell.rec_act, cell.rec_alpha, z[U + j]);
        float gg = nn_dev_act(cell.act, cell.act_alpha, z[2 * U + j]);
        float go = nn_dev_act(cell.rec_act, cell.rec_alpha, z[3 * U + j]);
        g[j] = gi, g[U + j] = gf, g[2 * U + j] = gg, g[3 * U + j] = go;
        float c = gf * CP[q] + gi * gg;
        float tc = nn_dev_act(cell.act, cell.act_alpha, c);
        C[q] = c;
        TC[q] = tc;
        H[q] = go * tc;
    }
}

extern "C" void nn_gpu_lstm_forward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                                    const nn_tensor *c_prev, nn_tensor *gates, nn_tensor *c,
                                    nn_tensor *tc, nn_tensor *h, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    lstm_fwd_kernel<<<LAUNCH(n)>>>(*cell, z->data, c_prev->data, gates->data, c->data, tc->data,
                                   h->data, rows);
    NN_GPU_LAUNCHED(e, "lstm_forward");
}

static __global__ void lstm_bwd_kernel(nn_rnn_cell cell, const float *Z, const float *G,
                                       const float *CP, const float *C, const float *TC,
                                       const float *DH, float *DC, float *DZ, int rows)
{
    const int U = cell.units;
    const nn_act ra = cell.rec_act, aa = cell.act;
    const float rl = cell.rec_alpha, al = cell.act_alpha;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const float *z = Z + r * 4 * U, *g = G + r * 4 * U;
        float *dz = DZ + r * 4 * U;
        const float gi = g[j], gf = g[U + j], gg = g[2 * U + j], go = g[3 * U + j];
        const float dh = DH[q], tc = TC[q];
        /* through h = o * act(c) into c, plus what the next step sent */
        float dcell = nn_dev_act_grad(aa, al, C[q], tc, dh * go) + DC[q];
        dz[3 * U + j] = nn_dev_act_grad(ra, rl, z[3 * U + j], go, dh * tc);
        dz[j] = nn_dev_act_grad(ra, rl, z[j], gi, dcell * gg);
        dz[2 * U + j] = nn_dev_act_grad(aa, al, z[2 * U + j], gg, dcell * gi);
        dz[U + j] = nn_dev_act_grad(ra, rl, z[U + j], gf, dcell * CP[q]);
        DC[q] = dcell * gf;
    }
}

extern "C" void nn_gpu_lstm_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *z,
                                     const nn_tensor *gates, const nn_tensor *c_prev,
                                     const nn_tensor *c, const nn_tensor *tc,
                                     const nn_tensor *dh, nn_tensor *dc, nn_tensor *dz, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    lstm_bwd_kernel<<<LAUNCH(n)>>>(*cell, z->data, gates->data, c_prev->data, c->data, tc->data,
                                   dh->data, dc->data, dz->data, rows);
    NN_GPU_LAUNCHED(e, "lstm_backward");
}

static __global__ void gru_gates_kernel(nn_rnn_cell cell, const float *ZX, const float *ZH,
                                        const float *HR, float *G, float *RH, int rows)
{
    const int U = cell.units;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const float *zx = ZX + r * 3 * U, *zh = ZH + r * 3 * U;
        float *g = G + r * 3 * U;
        g[j] = nn_dev_act(cell.rec_act, cell.rec_alpha, zx[j] + zh[j]);
        float gr = nn_dev_act(cell.rec_act, cell.rec_alpha, zx[U + j] + zh[U + j]);
        g[U + j] = gr;
        if (RH)
            RH[q] = gr * HR[q];
    }
}

extern "C" void nn_gpu_gru_gates(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                                 const nn_tensor *zh, const nn_tensor *h_rec, nn_tensor *gates,
                                 nn_tensor *rh, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    gru_gates_kernel<<<LAUNCH(n)>>>(*cell, zx->data, zh->data, h_rec ? h_rec->data : NULL,
                                    gates->data, rh ? rh->data : NULL, rows);
    NN_GPU_LAUNCHED(e, "gru_gates");
}

static __global__ void gru_output_kernel(nn_rnn_cell cell, const float *ZX, const float *ZH,
                                         const float *HP, float *G, float *H, int rows)
{
    const int U = cell.units;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const float zx = ZX[r * 3 * U + 2 * U + j], zh = ZH[r * 3 * U + 2 * U + j];
        float *g = G + r * 3 * U;
        const float gz = g[j], gr = g[U + j];
        float pre = cell.reset_after ? zx + gr * zh : zx + zh;
        float hh = nn_dev_act(cell.act, cell.act_alpha, pre);
        g[2 * U + j] = hh;
        H[q] = gz * HP[q] + (1.0f - gz) * hh;
    }
}

extern "C" void nn_gpu_gru_output(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                                  const nn_tensor *zh, const nn_tensor *h_prev, nn_tensor *gates,
                                  nn_tensor *h, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    gru_output_kernel<<<LAUNCH(n)>>>(*cell, zx->data, zh->data, h_prev->data, gates->data,
                                     h->data, rows);
    NN_GPU_LAUNCHED(e, "gru_output");
}

static __global__ void gru_bwd_kernel(nn_rnn_cell cell, const float *ZX, const float *ZH,
                                      const float *HP, const float *G, const float *DH,
                                      float *DZX, float *DZH, float *DHP, int rows)
{
    const int U = cell.units;
    const nn_act ra = cell.rec_act, aa = cell.act;
    const float rl = cell.rec_alpha, al = cell.act_alpha;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const float *zx = ZX + r * 3 * U, *zh = ZH + r * 3 * U, *g = G + r * 3 * U;
        float *dzx = DZX + r * 3 * U;
        const float gz = g[j], gr = g[U + j], hh = g[2 * U + j], dh = DH[q];
        /* update gate: h = z*h_prev + (1-z)*hh */
        dzx[j] = nn_dev_act_grad(ra, rl, zx[j] + zh[j], gz, dh * (HP[q] - hh));
        /* candidate */
        const float zxh = zx[2 * U + j], zhh = zh[2 * U + j];
        float pre = cell.reset_after ? zxh + gr * zhh : zxh + zhh;
        float dhh = nn_dev_act_grad(aa, al, pre, hh, dh * (1.0f - gz));
        dzx[2 * U + j] = dhh;
        DHP[q] += dh * gz;
        if (!cell.reset_after)
            continue;
        /* reset gate, applied to the recurrent product */
        dzx[U + j] = nn_dev_act_grad(ra, rl, zx[U + j] + zh[U + j], gr, dhh * zhh);
        float *dzh = DZH + r * 3 * U;
        dzh[j] = dzx[j];
        dzh[U + j] = dzx[U + j];
        dzh[2 * U + j] = dhh * gr;
    }
}

extern "C" void nn_gpu_gru_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zx,
                                    const nn_tensor *zh, const nn_tensor *h_prev,
                                    const nn_tensor *gates, const nn_tensor *dh, nn_tensor *dzx,
                                    nn_tensor *dzh, nn_tensor *dh_prev, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    gru_bwd_kernel<<<LAUNCH(n)>>>(*cell, zx->data, zh->data, h_prev->data, gates->data, dh->data,
                                  dzx->data, dzh ? dzh->data : NULL, dh_prev->data, rows);
    NN_GPU_LAUNCHED(e, "gru_backward");
}

static __global__ void gru_reset_bwd_kernel(nn_rnn_cell cell, const float *ZX, const float *ZH,
                                            const float *HR, const float *G, const float *DRH,
                                            float *DZX, float *DHR, int rows)
{
    const int U = cell.units;
    NN_GPU_FOR(q, (size_t)rows * U) {
        size_t r = q / U;
        int j = (int)(q % U);
        const size_t at = r * 3 * U + U + j;
        const float gr = G[at], drh = DRH[q];
        DZX[at] = nn_dev_act_grad(cell.rec_act, cell.rec_alpha, ZX[at] + ZH[at], gr, drh * HR[q]);
        DHR[q] += drh * gr;
    }
}

extern "C" void nn_gpu_gru_reset_backward(nn_engine *e, const nn_rnn_cell *cell,
                                          const nn_tensor *zx, const nn_tensor *zh,
                                          const nn_tensor *h_rec, const nn_tensor *gates,
                                          const nn_tensor *drh, nn_tensor *dzx,
                                          nn_tensor *dh_rec, int rows)
{
    size_t n = (size_t)rows * cell->units;
    if (n == 0)
        return;
    gru_reset_bwd_kernel<<<LAUNCH(n)>>>(*cell, zx->data, zh->data, h_rec->data, gates->data,
                                        drh->data, dzx->data, dh_rec->data, rows);
    NN_GPU_LAUNCHED(e, "gru_reset_backward");
}

/* An id as a row index, or -1 when it is not an integer in [0, vocab). */
static __device__ __forceinline__ long embedding_row(float id, int vocab)
{
    if (!(id >= 0.0f && id < (float)vocab))
        return -1;
    return (long)id;
}

static __global__ void embed_fwd_kernel(const float *ids, const float *table, float *out,
                                        size_t n, int vocab, int dim)
{
    NN_GPU_FOR(q, n * dim) {
        long row = embedding_row(ids[q / dim], vocab);
        out[q] = row < 0 ? 0.0f : table[(size_t)row * dim + q % dim];
    }
}

extern "C" void nn_gpu_embedding_forward(nn_engine *e, const nn_tensor *ids,
                                         const nn_tensor *table, nn_tensor *out, size_t n,
                                         int vocab, int dim)
{
    if (n == 0 || dim == 0)
        return;
    embed_fwd_kernel<<<LAUNCH(n * dim)>>>(ids->data, table->data, out->data, n, vocab, dim);
    NN_GPU_LAUNCHED(e, "embedding_forward");
}

/* Rows are split into buckets (row % buckets); a warp owns 32 columns of one
 * bucket and walks the ids in order, so each table cell gets its sum in id
 * order (as the CPU engine) with no atomics and no two writers. */
#define EMB_BUCKETS 64

static __global__ void embed_bwd_kernel(const float *ids, const float *dout, float *dt,
                                        size_t n, int vocab, int dim, int buckets)
{
    const int d = blockIdx.x * 32 + threadIdx.x, bucket = blockIdx.y;
    if (d >= dim)
        return;
    for (size_t i = 0; i < n; i++) {
        long row = embedding_row(ids[i], vocab);
        if (row >= 0 && row % buckets == bucket)
            dt[(size_t)row * dim + d] += dout[i * dim + d];
    }
}

static __global__ void scale_kernel(float *x, float alpha, size_t n)
{
    NN_GPU_FOR(i, n) x[i] *= alpha;
}

extern "C" void nn_gpu_embedding_backward(nn_engine *e, const nn_tensor *ids,
                                          const nn_tensor *dout, nn_tensor *dtable, size_t n,
                                          int vocab, int dim, float beta)
{
    cudaStream_t st = nn_gpu(e)->stream;
    const size_t total = (size_t)vocab * dim;
    if (total == 0)
        return;
    if (beta == 0.0f)
        nn_gpu_check(e, cudaMemsetAsync(dtable->data, 0, total * sizeof(float), st),
                     "embedding_backward");
    else if (beta != 1.0f)
        scale_kernel<<<LAUNCH(total)>>>(dtable->data, beta, total);
    if (n > 0) {
        int buckets = vocab < EMB_BUCKETS ? vocab : EMB_BUCKETS;
        dim3 grid((dim + 31) / 32, buckets);
        embed_bwd_kernel<<<grid, 32, 0, st>>>(ids->data, dout->data, dtable->data, n, vocab, dim,
                                              buckets);
    }
    NN_GPU_LAUNCHED(e, "embedding_backward");
}

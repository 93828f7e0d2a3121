/* Recurrent cells' elementwise parts, sequence transposes and embedding
 * lookups. The cells work row by row in column chunks small enough for
 * stack buffers; each gate block goes through the vectorized activation
 * ranges of cpu_act.c, so any Keras activation works in any gate. */
#include <math.h>
#include <string.h>

#include "engine/cpu/cpu_internal.h"

#define CHUNK 64

/* Rows in parallel when the step has enough work to pay for the fork. */
#define ROWS_PAR(threads, rows, width) \
    if ((size_t)(rows) * (size_t)(width) > NN_CPU_PAR_MIN && (threads) > 1)

void nn_cpu_swap_axes(nn_engine *e, const nn_tensor *src, nn_tensor *dst, int a, int b, int c,
                      bool rev_a, bool rev_b)
{
    const float *s = src->data;
    float *d = dst->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, (size_t)a * b, c)
    for (int j = 0; j < b; j++) {
        int sj = rev_b ? b - 1 - j : j;
        for (int i = 0; i < a; i++) {
            int si = rev_a ? a - 1 - i : i;
            memcpy(d + ((size_t)j * a + i) * c, s + ((size_t)si * b + sj) * c,
                   (size_t)c * sizeof(float));
        }
    }
}

void nn_cpu_lstm_forward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zt,
                         const nn_tensor *cpt, nn_tensor *gt, nn_tensor *ct, nn_tensor *tct,
                         nn_tensor *ht, int rows)
{
    const int U = cell->units;
    const float *Z = zt->data, *CP = cpt->data;
    float *G = gt->data, *C = ct->data, *TC = tct->data, *H = ht->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 4 * U)
    for (int r = 0; r < rows; r++) {
        const float *z = Z + (size_t)r * 4 * U, *cp = CP + (size_t)r * U;
        float *g = G + (size_t)r * 4 * U, *c = C + (size_t)r * U, *tc = TC + (size_t)r * U,
              *h = H + (size_t)r * U;
        nn_cpu_act_fwd_range(cell->rec_act, cell->rec_alpha, z, g, (size_t)2 * U); /* i, f */
        nn_cpu_act_fwd_range(cell->act, cell->act_alpha, z + 2 * U, g + 2 * U, (size_t)U);
        nn_cpu_act_fwd_range(cell->rec_act, cell->rec_alpha, z + 3 * U, g + 3 * U, (size_t)U);
        const float *gi = g, *gf = g + U, *gg = g + 2 * U, *go = g + 3 * U;
        for (int j = 0; j < U; j++)
            c[j] = gf[j] * cp[j] + gi[j] * gg[j];
        nn_cpu_act_fwd_range(cell->act, cell->act_alpha, c, tc, (size_t)U);
        for (int j = 0; j < U; j++)
            h[j] = go[j] * tc[j];
    }
}

void nn_cpu_lstm_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zt,
                          const nn_tensor *gt, const nn_tensor *cpt, const nn_tensor *ct,
                          const nn_tensor *tct, const nn_tensor *dht, nn_tensor *dct,
                          nn_tensor *dzt, int rows)
{
    const int U = cell->units;
    const float *Z = zt->data, *G = gt->data, *CP = cpt->data, *C = ct->data, *TC = tct->data,
                *DH = dht->data;
    float *DC = dct->data, *DZ = dzt->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 4 * U)
    for (int r = 0; r < rows; r++) {
        const float *z = Z + (size_t)r * 4 * U, *g = G + (size_t)r * 4 * U;
        const float *cp = CP + (size_t)r * U, *c = C + (size_t)r * U, *tc = TC + (size_t)r * U,
                    *dh = DH + (size_t)r * U;
        float *dc = DC + (size_t)r * U, *dz = DZ + (size_t)r * 4 * U;
        for (int u0 = 0; u0 < U; u0 += CHUNK) {
            const int n = U - u0 < CHUNK ? U - u0 : CHUNK;
            const float *gi = g + u0, *gf = g + U + u0, *gg = g + 2 * U + u0,
                        *go = g + 3 * U + u0;
            float t[CHUNK], dcell[CHUNK];
            /* through h = o * act(c) into c, plus what the next step sent */
            for (int j = 0; j < n; j++)
                t[j] = dh[u0 + j] * go[j];
            nn_cpu_act_bwd_range(cell->act, cell->act_alpha, c + u0, tc + u0, t, dcell, n);
            for (int j = 0; j < n; j++)
                dcell[j] += dc[u0 + j];
            for (int j = 0; j < n; j++)
                t[j] = dh[u0 + j] * tc[u0 + j];
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, z + 3 * U + u0, go, t,
                                 dz + 3 * U + u0, n);
            for (int j = 0; j < n; j++)
                t[j] = dcell[j] * gg[j];
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, z + u0, gi, t, dz + u0, n);
            for (int j = 0; j < n; j++)
                t[j] = dcell[j] * gi[j];
            nn_cpu_act_bwd_range(cell->act, cell->act_alpha, z + 2 * U + u0, gg, t,
                                 dz + 2 * U + u0, n);
            for (int j = 0; j < n; j++)
                t[j] = dcell[j] * cp[u0 + j];
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, z + U + u0, gf, t,
                                 dz + U + u0, n);
            for (int j = 0; j < n; j++)
                dc[u0 + j] = dcell[j] * gf[j];
        }
    }
}

void nn_cpu_gru_gates(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zxt,
                      const nn_tensor *zht, const nn_tensor *hrt, nn_tensor *gt, nn_tensor *rht,
                      int rows)
{
    const int U = cell->units;
    const float *ZX = zxt->data, *ZH = zht->data, *HR = hrt ? hrt->data : NULL;
    float *G = gt->data, *RH = rht ? rht->data : NULL;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 3 * U)
    for (int r = 0; r < rows; r++) {
        const float *zx = ZX + (size_t)r * 3 * U, *zh = ZH + (size_t)r * 3 * U;
        float *g = G + (size_t)r * 3 * U;
        for (int u0 = 0; u0 < 2 * U; u0 += CHUNK) {
            const int n = 2 * U - u0 < CHUNK ? 2 * U - u0 : CHUNK;
            float pre[CHUNK];
            for (int j = 0; j < n; j++)
                pre[j] = zx[u0 + j] + zh[u0 + j];
            nn_cpu_act_fwd_range(cell->rec_act, cell->rec_alpha, pre, g + u0, n);
        }
        if (RH) {
            const float *hr = HR + (size_t)r * U, *gr = g + U;
            float *rh = RH + (size_t)r * U;
            for (int j = 0; j < U; j++)
                rh[j] = gr[j] * hr[j];
        }
    }
}

void nn_cpu_gru_output(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zxt,
                       const nn_tensor *zht, const nn_tensor *hpt, nn_tensor *gt, nn_tensor *ht,
                       int rows)
{
    const int U = cell->units;
    const float *ZX = zxt->data, *ZH = zht->data, *HP = hpt->data;
    float *G = gt->data, *H = ht->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 3 * U)
    for (int r = 0; r < rows; r++) {
        const float *zx = ZX + (size_t)r * 3 * U + 2 * U, *zh = ZH + (size_t)r * 3 * U + 2 * U;
        const float *hp = HP + (size_t)r * U;
        float *g = G + (size_t)r * 3 * U, *h = H + (size_t)r * U;
        const float *gz = g, *gr = g + U;
        float *hh = g + 2 * U;
        for (int u0 = 0; u0 < U; u0 += CHUNK) {
            const int n = U - u0 < CHUNK ? U - u0 : CHUNK;
            float pre[CHUNK];
            if (cell->reset_after)
                for (int j = 0; j < n; j++)
                    pre[j] = zx[u0 + j] + gr[u0 + j] * zh[u0 + j];
            else
                for (int j = 0; j < n; j++)
                    pre[j] = zx[u0 + j] + zh[u0 + j];
            nn_cpu_act_fwd_range(cell->act, cell->act_alpha, pre, hh + u0, n);
        }
        for (int j = 0; j < U; j++)
            h[j] = gz[j] * hp[j] + (1.0f - gz[j]) * hh[j];
    }
}

void nn_cpu_gru_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zxt,
                         const nn_tensor *zht, const nn_tensor *hpt, const nn_tensor *gt,
                         const nn_tensor *dht, nn_tensor *dzxt, nn_tensor *dzht,
                         nn_tensor *dhpt, int rows)
{
    const int U = cell->units;
    const float *ZX = zxt->data, *ZH = zht->data, *HP = hpt->data, *G = gt->data,
                *DH = dht->data;
    float *DZX = dzxt->data, *DZH = dzht ? dzht->data : NULL, *DHP = dhpt->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 3 * U)
    for (int r = 0; r < rows; r++) {
        const float *zx = ZX + (size_t)r * 3 * U, *zh = ZH + (size_t)r * 3 * U;
        const float *hp = HP + (size_t)r * U, *g = G + (size_t)r * 3 * U, *dh = DH + (size_t)r * U;
        float *dzx = DZX + (size_t)r * 3 * U, *dhp = DHP + (size_t)r * U;
        float *dzh = DZH ? DZH + (size_t)r * 3 * U : NULL;
        for (int u0 = 0; u0 < U; u0 += CHUNK) {
            const int n = U - u0 < CHUNK ? U - u0 : CHUNK;
            const float *gz = g + u0, *gr = g + U + u0, *hh = g + 2 * U + u0;
            float pre[CHUNK], t[CHUNK];
            /* update gate: h = z*h_prev + (1-z)*hh */
            for (int j = 0; j < n; j++) {
                pre[j] = zx[u0 + j] + zh[u0 + j];
                t[j] = dh[u0 + j] * (hp[u0 + j] - hh[j]);
            }
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, pre, gz, t, dzx + u0, n);
            /* candidate */
            const float *zxh = zx + 2 * U + u0, *zhh = zh + 2 * U + u0;
            for (int j = 0; j < n; j++) {
                pre[j] = cell->reset_after ? zxh[j] + gr[j] * zhh[j] : zxh[j] + zhh[j];
                t[j] = dh[u0 + j] * (1.0f - gz[j]);
            }
            float *dhh = dzx + 2 * U + u0;
            nn_cpu_act_bwd_range(cell->act, cell->act_alpha, pre, hh, t, dhh, n);
            for (int j = 0; j < n; j++)
                dhp[u0 + j] += dh[u0 + j] * gz[j];
            if (!cell->reset_after)
                continue;
            /* reset gate, applied to the recurrent product */
            for (int j = 0; j < n; j++) {
                pre[j] = zx[U + u0 + j] + zh[U + u0 + j];
                t[j] = dhh[j] * zhh[j];
            }
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, pre, gr, t, dzx + U + u0, n);
            for (int j = 0; j < n; j++) {
                dzh[u0 + j] = dzx[u0 + j];
                dzh[U + u0 + j] = dzx[U + u0 + j];
                dzh[2 * U + u0 + j] = dhh[j] * gr[j];
            }
        }
    }
}

void nn_cpu_gru_reset_backward(nn_engine *e, const nn_rnn_cell *cell, const nn_tensor *zxt,
                               const nn_tensor *zht, const nn_tensor *hrt, const nn_tensor *gt,
                               const nn_tensor *drht, nn_tensor *dzxt, nn_tensor *dhrt, int rows)
{
    const int U = cell->units;
    const float *ZX = zxt->data, *ZH = zht->data, *HR = hrt->data, *G = gt->data,
                *DRH = drht->data;
    float *DZX = dzxt->data, *DHR = dhrt->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, rows, 3 * U)
    for (int r = 0; r < rows; r++) {
        const float *zx = ZX + (size_t)r * 3 * U + U, *zh = ZH + (size_t)r * 3 * U + U;
        const float *hr = HR + (size_t)r * U, *gr = G + (size_t)r * 3 * U + U,
                    *drh = DRH + (size_t)r * U;
        float *dzr = DZX + (size_t)r * 3 * U + U, *dhr = DHR + (size_t)r * U;
        for (int u0 = 0; u0 < U; u0 += CHUNK) {
            const int n = U - u0 < CHUNK ? U - u0 : CHUNK;
            float pre[CHUNK], t[CHUNK];
            for (int j = 0; j < n; j++) {
                pre[j] = zx[u0 + j] + zh[u0 + j];
                t[j] = drh[u0 + j] * hr[u0 + j];
            }
            nn_cpu_act_bwd_range(cell->rec_act, cell->rec_alpha, pre, gr + u0, t, dzr + u0, n);
        }
        for (int j = 0; j < U; j++)
            dhr[j] += drh[j] * gr[j];
    }
}

/* An id as a row index, or -1 when it is not an integer in [0, vocab). */
static inline long embedding_row(float id, int vocab)
{
    if (!(id >= 0.0f && id < (float)vocab))
        return -1;
    return (long)id;
}

void nn_cpu_embedding_forward(nn_engine *e, const nn_tensor *idt, const nn_tensor *tablet,
                              nn_tensor *outt, size_t n, int vocab, int dim)
{
    const float *ids = idt->data, *table = tablet->data;
    float *out = outt->data;
#pragma omp parallel for num_threads(e->threads) schedule(static) ROWS_PAR(e->threads, n, dim)
    for (size_t i = 0; i < n; i++) {
        long row = embedding_row(ids[i], vocab);
        if (row < 0)
            memset(out + i * dim, 0, (size_t)dim * sizeof(float));
        else
            memcpy(out + i * dim, table + (size_t)row * dim, (size_t)dim * sizeof(float));
    }
}

void nn_cpu_embedding_backward(nn_engine *e, const nn_tensor *idt, const nn_tensor *doutt,
                               nn_tensor *dtablet, size_t n, int vocab, int dim, float beta)
{
    (void)e;
    const float *ids = idt->data, *dout = doutt->data;
    float *dt = dtablet->data;
    const size_t total = (size_t)vocab * dim;
    if (beta == 0.0f)
        memset(dt, 0, total * sizeof(float));
    else if (beta != 1.0f)
        for (size_t i = 0; i < total; i++)
            dt[i] *= beta;
    /* in id order on one thread: sums are the same whatever the thread count */
    for (size_t i = 0; i < n; i++) {
        long row = embedding_row(ids[i], vocab);
        if (row < 0)
            continue;
        float *d = dt + (size_t)row * dim;
        const float *g = dout + i * dim;
        for (int j = 0; j < dim; j++)
            d[j] += g[j];
    }
}

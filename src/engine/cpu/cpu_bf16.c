/* float32 -> bfloat16 for the mixed_bfloat16 products: the operands the
 * oneDNN kernels read. Round to nearest even, as VCVTNEPS2BF16 and
 * oneDNN's own reorders do; a NaN stays a (quiet) NaN. Plain integer code
 * that the compiler vectorizes for whatever the CPU has. */
#include <string.h>

#include "engine/cpu/cpu_internal.h"

static inline uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

NN_KERNEL static void to_bf16_range(const float *restrict x, uint16_t *restrict y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = bf16_of(x[i]);
}

void nn_cpu_to_bf16(int threads, const float *x, uint16_t *y, size_t n)
{
    NN_PAR_RANGE(threads, n, lo, hi, to_bf16_range(x + lo, y + lo, hi - lo));
}

/* A tile of the transpose: 32 x 32 keeps both sides in L1. */
#define TILE 32

void nn_cpu_pack_bf16(int threads, const float *x, int rows, int cols, int ld, bool trans,
                      uint16_t *y)
{
    const size_t total = (size_t)rows * cols;
    if (!trans) {
        if (ld == cols) {
            nn_cpu_to_bf16(threads, x, y, total);
            return;
        }
#pragma omp parallel for num_threads(threads) schedule(static) if (total > NN_CPU_PAR_MIN)
        for (int r = 0; r < rows; r++)
            to_bf16_range(x + (size_t)r * ld, y + (size_t)r * cols, (size_t)cols);
        return;
    }
    /* y (cols x rows) = x^T, tile by tile */
    const int tr = (rows + TILE - 1) / TILE, tc = (cols + TILE - 1) / TILE;
#pragma omp parallel for num_threads(threads) schedule(static) if (total > NN_CPU_PAR_MIN)
    for (int t = 0; t < tr * tc; t++) {
        const int r0 = (t / tc) * TILE, c0 = (t % tc) * TILE;
        const int r1 = r0 + TILE < rows ? r0 + TILE : rows;
        const int c1 = c0 + TILE < cols ? c0 + TILE : cols;
        for (int c = c0; c < c1; c++)
            for (int r = r0; r < r1; r++)
                y[(size_t)c * rows + r] = bf16_of(x[(size_t)r * ld + c]);
    }
}

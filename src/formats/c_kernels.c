/* The kernels of an exported C header and the calls that use them. Each
 * kernel computes what the CPU engine computes, in the same order where it
 * matters for rounding (products summed, then the bias added; softmax
 * scaled by 1/sum; batch normalization as x * scale + shift), with libm's
 * expf/tanhf/erff where the engine has its own vectorized forms, so results
 * agree to a few ulp. Kernels take one sample; '$' stands for the prefix.
 * Indices are ints (the export refuses tensors of INT_MAX / 4 values), so
 * the code is clean under -Wconversion too. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "formats/c_internal.h"

#define ACT(a) [NN_CK_ACT + (a)]

const nn_c_kernel nn_c_kernels[NN_CK_COUNT] = {
    ACT(NN_ACT_LINEAR) = {"linear", -1,
                          "static inline float $linear(float x, float a)\n"
                          "{\n"
                          "    (void)a;\n"
                          "    return x;\n"
                          "}\n"},
    ACT(NN_ACT_RELU) = {"relu", -1,
                        "static inline float $relu(float x, float a)\n"
                        "{\n"
                        "    (void)a;\n"
                        "    return x > 0.0f ? x : 0.0f;\n"
                        "}\n"},
    ACT(NN_ACT_SIGMOID) = {"sigmoid", -1,
                           "/* in the form that never overflows */\n"
                           "static inline float $sigmoid(float x, float a)\n"
                           "{\n"
                           "    float e = expf(-fabsf(x)), q = 1.0f / (1.0f + e);\n"
                           "    (void)a;\n"
                           "    return x >= 0.0f ? q : e * q;\n"
                           "}\n"},
    ACT(NN_ACT_TANH) = {"tanh", -1,
                        "static inline float $tanh(float x, float a)\n"
                        "{\n"
                        "    (void)a;\n"
                        "    return tanhf(x);\n"
                        "}\n"},
    ACT(NN_ACT_ELU) = {"elu", -1,
                       "static inline float $elu(float x, float a)\n"
                       "{\n"
                       "    return x > 0.0f ? x : a * expm1f(x);\n"
                       "}\n"},
    ACT(NN_ACT_SELU) = {"selu", -1,
                        "static inline float $selu(float x, float a)\n"
                        "{\n"
                        "    (void)a;\n"
                        "    return 1.0507009873554804934193349852946f *\n"
                        "           (x > 0.0f ? x : 1.6732632423543772848170429916717f * "
                        "expm1f(x));\n"
                        "}\n"},
    ACT(NN_ACT_SOFTPLUS) = {"softplus", -1,
                            "static inline float $softplus(float x, float a)\n"
                            "{\n"
                            "    (void)a;\n"
                            "    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));\n"
                            "}\n"},
    ACT(NN_ACT_SOFTSIGN) = {"softsign", -1,
                            "static inline float $softsign(float x, float a)\n"
                            "{\n"
                            "    (void)a;\n"
                            "    return x / (1.0f + fabsf(x));\n"
                            "}\n"},
    ACT(NN_ACT_HARD_SIGMOID) = {"hard_sigmoid", -1,
                                "static inline float $hard_sigmoid(float x, float a)\n"
                                "{\n"
                                "    (void)a;\n"
                                "    return fminf(1.0f, fmaxf(0.0f, 0.2f * x + 0.5f));\n"
                                "}\n"},
    ACT(NN_ACT_LEAKY_RELU) = {"leaky_relu", -1,
                              "static inline float $leaky_relu(float x, float a)\n"
                              "{\n"
                              "    return x > 0.0f ? x : a * x;\n"
                              "}\n"},
    ACT(NN_ACT_SWISH) = {"swish", NN_CK_ACT + NN_ACT_SIGMOID,
                         "static inline float $swish(float x, float a)\n"
                         "{\n"
                         "    return x * $sigmoid(x, a);\n"
                         "}\n"},
    ACT(NN_ACT_GELU) = {"gelu", -1,
                        "static inline float $gelu(float x, float a)\n"
                        "{\n"
                        "    (void)a;\n"
                        "    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));\n"
                        "}\n"},
    ACT(NN_ACT_RELU6) = {"relu6", -1,
                         "static inline float $relu6(float x, float a)\n"
                         "{\n"
                         "    (void)a;\n"
                         "    return fminf(fmaxf(x, 0.0f), 6.0f);\n"
                         "}\n"},
    ACT(NN_ACT_MISH) = {"mish", NN_CK_ACT + NN_ACT_SOFTPLUS,
                        "static inline float $mish(float x, float a)\n"
                        "{\n"
                        "    return x * tanhf($softplus(x, a));\n"
                        "}\n"},
    ACT(NN_ACT_EXPONENTIAL) = {"exponential", -1,
                               "static inline float $exponential(float x, float a)\n"
                               "{\n"
                               "    (void)a;\n"
                               "    return expf(x);\n"
                               "}\n"},
    ACT(NN_ACT_HARD_SILU) = {"hard_silu", -1,
                             "static inline float $hard_silu(float x, float a)\n"
                             "{\n"
                             "    (void)a;\n"
                             "    return x * fminf(fmaxf(x + 3.0f, 0.0f), 6.0f) / 6.0f;\n"
                             "}\n"},
    [NN_CK_SOFTMAX] = {"softmax", -1,
                       "/* softmax over rows of cols values (y may be x) */\n"
                       "static inline void $softmax(const float *x, float *y, int rows, int cols)\n"
                       "{\n"
                       "    int r, c;\n"
                       "    for (r = 0; r < rows; r++) {\n"
                       "        const float *xr = x + r * cols;\n"
                       "        float *yr = y + r * cols;\n"
                       "        float m = xr[0], s = 0.0f, inv;\n"
                       "        for (c = 1; c < cols; c++)\n"
                       "            m = fmaxf(m, xr[c]);\n"
                       "        for (c = 0; c < cols; c++) {\n"
                       "            yr[c] = expf(xr[c] - m);\n"
                       "            s += yr[c];\n"
                       "        }\n"
                       "        inv = 1.0f / s;\n"
                       "        for (c = 0; c < cols; c++)\n"
                       "            yr[c] *= inv;\n"
                       "    }\n"
                       "}\n"},
    [NN_CK_DENSE] = {"dense", -1,
                     "/* y = x W (+ b) for rows of in values; W is in x out (row-major) */\n"
                     "static inline void $dense(const float *x, float *y, int rows, int in, int out,\n"
                     "                   const float *W, const float *b)\n"
                     "{\n"
                     "    int r, k, j;\n"
                     "    for (r = 0; r < rows; r++) {\n"
                     "        const float *xr = x + r * in;\n"
                     "        float *yr = y + r * out;\n"
                     "        for (j = 0; j < out; j++)\n"
                     "            yr[j] = 0.0f;\n"
                     "        for (k = 0; k < in; k++) {\n"
                     "            const float v = xr[k], *wk = W + k * out;\n"
                     "            for (j = 0; j < out; j++)\n"
                     "                yr[j] += v * wk[j];\n"
                     "        }\n"
                     "        if (b)\n"
                     "            for (j = 0; j < out; j++)\n"
                     "                yr[j] += b[j];\n"
                     "    }\n"
                     "}\n"},
    [NN_CK_CONV] = {"conv", -1,
                    "/* Convolution of an (h, w, c) input with a (kh, kw, c, f) kernel\n"
                    " * (cross-correlation, Keras layout) plus bias b (may be 0): strides\n"
                    " * sh, sw, dilations dh, dw, padding pt, pl before (the rest after). */\n"
                    "static inline void $conv(const float *x, float *y, int h, int w, int c, int kh, "
                    "int kw,\n"
                    "                  int sh, int sw, int dh, int dw, int pt, int pl, int oh, "
                    "int ow,\n"
                    "                  int f, const float *K, const float *b)\n"
                    "{\n"
                    "    int oy, ox, ky, kx, ch, o;\n"
                    "    for (oy = 0; oy < oh; oy++)\n"
                    "        for (ox = 0; ox < ow; ox++) {\n"
                    "            float *out = y + (oy * ow + ox) * f;\n"
                    "            for (o = 0; o < f; o++)\n"
                    "                out[o] = 0.0f;\n"
                    "            for (ky = 0; ky < kh; ky++) {\n"
                    "                int iy = oy * sh - pt + ky * dh;\n"
                    "                if (iy < 0 || iy >= h)\n"
                    "                    continue;\n"
                    "                for (kx = 0; kx < kw; kx++) {\n"
                    "                    int ix = ox * sw - pl + kx * dw;\n"
                    "                    const float *in, *kk;\n"
                    "                    if (ix < 0 || ix >= w)\n"
                    "                        continue;\n"
                    "                    in = x + (iy * w + ix) * c;\n"
                    "                    kk = K + (ky * kw + kx) * c * f;\n"
                    "                    for (ch = 0; ch < c; ch++) {\n"
                    "                        const float v = in[ch], *kr = kk + ch * "
                    "f;\n"
                    "                        for (o = 0; o < f; o++)\n"
                    "                            out[o] += v * kr[o];\n"
                    "                    }\n"
                    "                }\n"
                    "            }\n"
                    "            if (b)\n"
                    "                for (o = 0; o < f; o++)\n"
                    "                    out[o] += b[o];\n"
                    "        }\n"
                    "}\n"},
    [NN_CK_DEPTHWISE] = {"depthwise", -1,
                         "/* Depthwise convolution: input channel ch has m = f / c filters of\n"
                         " * (kh, kw) (kernel (kh, kw, c, m)), output channel ch * m + j. */\n"
                         "static inline void $depthwise(const float *x, float *y, int h, int w, int c, "
                         "int kh,\n"
                         "                       int kw, int sh, int sw, int dh, int dw, int "
                         "pt, int pl,\n"
                         "                       int oh, int ow, int f, const float *K)\n"
                         "{\n"
                         "    const int m = f / c;\n"
                         "    int oy, ox, ky, kx, ch, j;\n"
                         "    for (oy = 0; oy < oh; oy++)\n"
                         "        for (ox = 0; ox < ow; ox++) {\n"
                         "            float *out = y + (oy * ow + ox) * f;\n"
                         "            for (j = 0; j < f; j++)\n"
                         "                out[j] = 0.0f;\n"
                         "            for (ky = 0; ky < kh; ky++) {\n"
                         "                int iy = oy * sh - pt + ky * dh;\n"
                         "                if (iy < 0 || iy >= h)\n"
                         "                    continue;\n"
                         "                for (kx = 0; kx < kw; kx++) {\n"
                         "                    int ix = ox * sw - pl + kx * dw;\n"
                         "                    const float *in, *kk;\n"
                         "                    if (ix < 0 || ix >= w)\n"
                         "                        continue;\n"
                         "                    in = x + (iy * w + ix) * c;\n"
                         "                    kk = K + (ky * kw + kx) * f;\n"
                         "                    for (ch = 0; ch < c; ch++)\n"
                         "                        for (j = 0; j < m; j++)\n"
                         "                            out[ch * m + j] += in[ch] * kk[ch * m + "
                         "j];\n"
                         "                }\n"
                         "            }\n"
                         "        }\n"
                         "}\n"},
    [NN_CK_POOL] = {"pool", -1,
                    "/* Max or average pooling of an (h, w, c) input over (kh, kw) windows;\n"
                    " * padding cells never win a max and do not count in an average. */\n"
                    "static inline void $pool(const float *x, float *y, int h, int w, int c, int kh, "
                    "int kw,\n"
                    "                  int sh, int sw, int pt, int pl, int oh, int ow, int "
                    "is_max)\n"
                    "{\n"
                    "    int oy, ox, ky, kx, ch;\n"
                    "    for (oy = 0; oy < oh; oy++)\n"
                    "        for (ox = 0; ox < ow; ox++) {\n"
                    "            float *out = y + (oy * ow + ox) * c;\n"
                    "            int count = 0;\n"
                    "            for (ch = 0; ch < c; ch++)\n"
                    "                out[ch] = is_max ? -3.40282347e+38f : 0.0f;\n"
                    "            for (ky = 0; ky < kh; ky++) {\n"
                    "                int iy = oy * sh - pt + ky;\n"
                    "                if (iy < 0 || iy >= h)\n"
                    "                    continue;\n"
                    "                for (kx = 0; kx < kw; kx++) {\n"
                    "                    int ix = ox * sw - pl + kx;\n"
                    "                    const float *in;\n"
                    "                    if (ix < 0 || ix >= w)\n"
                    "                        continue;\n"
                    "                    in = x + (iy * w + ix) * c;\n"
                    "                    count++;\n"
                    "                    if (is_max)\n"
                    "                        for (ch = 0; ch < c; ch++)\n"
                    "                            out[ch] = in[ch] > out[ch] ? in[ch] : "
                    "out[ch];\n"
                    "                    else\n"
                    "                        for (ch = 0; ch < c; ch++)\n"
                    "                            out[ch] += in[ch];\n"
                    "                }\n"
                    "            }\n"
                    "            if (!is_max && count > 0)\n"
                    "                for (ch = 0; ch < c; ch++)\n"
                    "                    out[ch] /= (float)count;\n"
                    "        }\n"
                    "}\n"},
    [NN_CK_BIAS] = {"bias", -1,
                    "static inline void $bias(float *y, int rows, int cols, const float *b)\n"
                    "{\n"
                    "    int r, c;\n"
                    "    for (r = 0; r < rows; r++)\n"
                    "        for (c = 0; c < cols; c++)\n"
                    "            y[r * cols + c] += b[c];\n"
                    "}\n"},
    [NN_CK_AFFINE] = {"affine", -1,
                      "/* per channel (the last axis): batch normalization folded into\n"
                      " * scale = gamma / sqrt(moving_variance + epsilon) and\n"
                      " * shift = beta - moving_mean * scale */\n"
                      "static inline void $affine(const float *x, float *y, int rows, int cols,\n"
                      "                    const float *scale, const float *shift)\n"
                      "{\n"
                      "    int r, c;\n"
                      "    for (r = 0; r < rows; r++)\n"
                      "        for (c = 0; c < cols; c++)\n"
                      "            y[r * cols + c] = x[r * cols + c] * scale[c] "
                      "+ shift[c];\n"
                      "}\n"},
    [NN_CK_EWISE] = {"ewise", -1,
                     "/* y = y op x: 0 add, 1 subtract, 2 multiply, 3 maximum, 4 minimum */\n"
                     "static inline void $ewise(float *y, const float *x, int n, int op)\n"
                     "{\n"
                     "    int i;\n"
                     "    switch (op) {\n"
                     "    case 0: for (i = 0; i < n; i++) y[i] += x[i]; break;\n"
                     "    case 1: for (i = 0; i < n; i++) y[i] -= x[i]; break;\n"
                     "    case 2: for (i = 0; i < n; i++) y[i] *= x[i]; break;\n"
                     "    case 3: for (i = 0; i < n; i++) y[i] = y[i] >= x[i] ? y[i] : x[i]; "
                     "break;\n"
                     "    default: for (i = 0; i < n; i++) y[i] = y[i] <= x[i] ? y[i] : x[i]; "
                     "break;\n"
                     "    }\n"
                     "}\n"},
    [NN_CK_CONCAT] = {"concat", -1,
                      "/* one input's block of a concatenation: y[o, off + c] = x[o, c] */\n"
                      "static inline void $concat(const float *x, float *y, int outer, int cols, int "
                      "out_cols,\n"
                      "                    int off)\n"
                      "{\n"
                      "    int o;\n"
                      "    for (o = 0; o < outer; o++)\n"
                      "        memcpy(y + o * out_cols + off, x + o * cols,\n"
                      "               sizeof(float) * (size_t)cols);\n"
                      "}\n"},
    [NN_CK_EMBEDDING] = {"embedding", -1,
                         "/* rows of a (vocab, dim) table by id (ids as floats); an id that is\n"
                         " * not in [0, vocab) gives zeros */\n"
                         "static inline void $embedding(const float *ids, float *y, int n, int vocab, "
                         "int dim,\n"
                         "                       const float *table)\n"
                         "{\n"
                         "    int i;\n"
                         "    for (i = 0; i < n; i++) {\n"
                         "        float *yr = y + i * dim;\n"
                         "        if (ids[i] >= 0.0f && ids[i] < (float)vocab)\n"
                         "            memcpy(yr, table + (int)ids[i] * dim, "
                         "sizeof(float) * (size_t)dim);\n"
                         "        else\n"
                         "            memset(yr, 0, sizeof(float) * (size_t)dim);\n"
                         "    }\n"
                         "}\n"},
    [NN_CK_VECMAT] = {"vecmat", -1,
                      "/* out[j] = sum_k v[k] M[k, j] for j < n; M has ld columns */\n"
                      "static inline void $vecmat(const float *v, int K, const float *M, int ld, int "
                      "n, float *out)\n"
                      "{\n"
                      "    int k, j;\n"
                      "    for (j = 0; j < n; j++)\n"
                      "        out[j] = 0.0f;\n"
                      "    for (k = 0; k < K; k++) {\n"
                      "        const float x = v[k], *m = M + k * ld;\n"
                      "        for (j = 0; j < n; j++)\n"
                      "            out[j] += x * m[j];\n"
                      "    }\n"
                      "}\n"},
    [NN_CK_RNN] = {
        "rnn", NN_CK_VECMAT,
        "/* A recurrent layer over a (T, F) sequence, Keras semantics: kind 0\n"
        " * SimpleRNN, 1 LSTM (gate blocks i, f, c, o), 2 GRU (z, r, h; with\n"
        " * reset_after r multiplies h R + b_rec, else h). W is F x GU, R is U x GU,\n"
        " * b is GU floats (2 x GU for reset_after) or 0. The steps run backwards\n"
        " * with go_backwards; y gets the last state, or with sequences every\n"
        " * step's (in processing order, or in input order with reverse_out).\n"
        " * work: 2U + 2GU floats. */\n"
        "static inline void $rnn(const float *x, float *y, int T, int F, int U, int kind, int "
        "reset_after,\n"
        "                 const float *W, const float *R, const float *b, int backwards,\n"
        "                 int sequences, int reverse_out, float (*act)(float, float), float "
        "aa,\n"
        "                 float (*rec)(float, float), float ra, float *work)\n"
        "{\n"
        "    const int GU = (kind == 1 ? 4 : kind == 2 ? 3 : 1) * U;\n"
        "    float *h = work, *c = work + U, *z = c + U, *zh = z + GU;\n"
        "    int s, j;\n"
        "    for (j = 0; j < U; j++)\n"
        "        h[j] = c[j] = 0.0f;\n"
        "    for (s = 0; s < T; s++) {\n"
        "        /* z = x W + b; the recurrent product is added as a whole */\n"
        "        $vecmat(x + (backwards ? T - 1 - s : s) * F, F, W, GU, GU, z);\n"
        "        if (b)\n"
        "            for (j = 0; j < GU; j++)\n"
        "                z[j] += b[j];\n"
        "        if (kind == 2 && reset_after) {\n"
        "            if (s > 0)\n"
        "                $vecmat(h, U, R, GU, GU, zh);\n"
        "            else\n"
        "                for (j = 0; j < GU; j++)\n"
        "                    zh[j] = 0.0f;\n"
        "            if (b)\n"
        "                for (j = 0; j < GU; j++)\n"
        "                    zh[j] += b[GU + j];\n"
        "            for (j = 0; j < 2 * U; j++)\n"
        "                z[j] = rec(z[j] + zh[j], ra);\n"
        "            for (j = 0; j < U; j++) {\n"
        "                float hh = act(z[2 * U + j] + z[U + j] * zh[2 * U + j], aa);\n"
        "                h[j] = z[j] * h[j] + (1.0f - z[j]) * hh;\n"
        "            }\n"
        "        } else if (kind == 2) {\n"
        "            if (s > 0)\n"
        "                $vecmat(h, U, R, GU, 2 * U, zh);\n"
        "            else\n"
        "                for (j = 0; j < 2 * U; j++)\n"
        "                    zh[j] = 0.0f;\n"
        "            for (j = 0; j < 2 * U; j++)\n"
        "                z[j] = rec(z[j] + zh[j], ra);\n"
        "            for (j = 0; j < U; j++)\n"
        "                c[j] = z[U + j] * h[j]; /* r * h */\n"
        "            if (s > 0)\n"
        "                $vecmat(c, U, R + 2 * U, GU, U, zh + 2 * U);\n"
        "            else\n"
        "                for (j = 0; j < U; j++)\n"
        "                    zh[2 * U + j] = 0.0f;\n"
        "            for (j = 0; j < U; j++) {\n"
        "                float hh = act(z[2 * U + j] + zh[2 * U + j], aa);\n"
        "                h[j] = z[j] * h[j] + (1.0f - z[j]) * hh;\n"
        "            }\n"
        "        } else {\n"
        "            if (s > 0) {\n"
        "                $vecmat(h, U, R, GU, GU, zh);\n"
        "                for (j = 0; j < GU; j++)\n"
        "                    z[j] += zh[j];\n"
        "            }\n"
        "            if (kind == 0)\n"
        "                for (j = 0; j < U; j++)\n"
        "                    h[j] = act(z[j], aa);\n"
        "            else\n"
        "                for (j = 0; j < U; j++) {\n"
        "                    float i = rec(z[j], ra), f = rec(z[U + j], ra);\n"
        "                    float g = act(z[2 * U + j], aa), o = rec(z[3 * U + j], ra);\n"
        "                    c[j] = f * c[j] + i * g;\n"
        "                    h[j] = o * act(c[j], aa);\n"
        "                }\n"
        "        }\n"
        "        if (sequences)\n"
        "            memcpy(y + (reverse_out ? T - 1 - s : s) * U, h, sizeof(float) * (size_t)U);\n"
        "    }\n"
        "    if (!sequences)\n"
        "        memcpy(y, h, sizeof(float) * (size_t)U);\n"
        "}\n"},
};

/* ---- calls ---- */

void nn_c_dense(nn_c_writer *w, const char *x, const char *y, size_t rows, int in, int out,
                const char *W, const char *b)
{
    nn_c_emit(w, NN_CK_DENSE, "$dense(%s, %s, %zu, %d, %d, %s, %s);", x, y, rows, in, out, W,
              b ? b : "0");
}

void nn_c_conv(nn_c_writer *w, const nn_conv_geom *g, const char *x, const char *y,
               const char *K, const char *b)
{
    nn_c_emit(w, NN_CK_CONV,
              "$conv(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s, %s);", x,
              y, g->h, g->w, g->c, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw, g->pad_top,
              g->pad_left, g->oh, g->ow, g->f, K, b ? b : "0");
}

void nn_c_depthwise(nn_c_writer *w, const nn_conv_geom *g, const char *x, const char *y,
                    const char *K)
{
    nn_c_emit(w, NN_CK_DEPTHWISE,
              "$depthwise(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %s);",
              x, y, g->h, g->w, g->c, g->kh, g->kw, g->sh, g->sw, g->dh, g->dw, g->pad_top,
              g->pad_left, g->oh, g->ow, g->f, K);
}

void nn_c_pool(nn_c_writer *w, const nn_conv_geom *g, bool is_max, const char *x,
               const char *y)
{
    nn_c_emit(w, NN_CK_POOL, "$pool(%s, %s, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d);",
              x, y, g->h, g->w, g->c, g->kh, g->kw, g->sh, g->sw, g->pad_top, g->pad_left, g->oh,
              g->ow, is_max ? 1 : 0);
}

void nn_c_bias(nn_c_writer *w, const char *y, size_t rows, int cols, const char *b)
{
    nn_c_emit(w, NN_CK_BIAS, "$bias(%s, %zu, %d, %s);", y, rows, cols, b);
}

void nn_c_activation(nn_c_writer *w, nn_act act, float alpha, const char *x, const char *y,
                     size_t rows, int cols)
{
    size_t n = rows * (size_t)cols;
    if (act == NN_ACT_SOFTMAX) {
        nn_c_emit(w, NN_CK_SOFTMAX, "$softmax(%s, %s, %zu, %d);", x, y, rows, cols);
    } else if (act == NN_ACT_LINEAR || (int)act < 0 || act >= NN_ACT_COUNT) {
        if (strcmp(x, y) != 0)
            nn_c_copy(w, y, x, n);
    } else {
        char a[NN_C_FLOAT_LEN];
        nn_c_float(a, alpha);
        nn_c_emit(w, NN_CK_ACT + (int)act, "for (int i = 0; i < %zu; i++)", n);
        nn_c_emit(w, -1, "    %s[i] = $%s(%s[i], %s);", y, nn_c_kernels[NN_CK_ACT + act].name,
                  x, a);
    }
}

void nn_c_affine(nn_c_writer *w, const char *x, const char *y, size_t rows, int cols,
                 const char *scale, const char *shift)
{
    nn_c_emit(w, NN_CK_AFFINE, "$affine(%s, %s, %zu, %d, %s, %s);", x, y, rows, cols, scale,
              shift);
}

void nn_c_copy(nn_c_writer *w, const char *y, const char *x, size_t count)
{
    nn_c_emit(w, -1, "memcpy(%s, %s, sizeof(float) * %zu);", y, x, count);
}

void nn_c_ewise(nn_c_writer *w, nn_c_op op, const char *y, const char *x, size_t count)
{
    nn_c_emit(w, NN_CK_EWISE, "$ewise(%s, %s, %zu, %d);", y, x, count, (int)op);
}

void nn_c_scale(nn_c_writer *w, const char *y, size_t count, float s)
{
    char v[NN_C_FLOAT_LEN];
    nn_c_float(v, s);
    nn_c_emit(w, -1, "for (int i = 0; i < %zu; i++)", count);
    nn_c_emit(w, -1, "    %s[i] *= %s;", y, v);
}

void nn_c_concat(nn_c_writer *w, const char *x, const char *y, size_t outer, size_t cols,
                 size_t out_cols, size_t off)
{
    nn_c_emit(w, NN_CK_CONCAT, "$concat(%s, %s, %zu, %zu, %zu, %zu);", x, y, outer, cols,
              out_cols, off);
}

void nn_c_embedding(nn_c_writer *w, const char *ids, const char *y, size_t count, int vocab,
                    int dim, const char *table)
{
    nn_c_emit(w, NN_CK_EMBEDDING, "$embedding(%s, %s, %zu, %d, %d, %s);", ids, y, count, vocab,
              dim, table);
}

void nn_c_rnn(nn_c_writer *w, const nn_rnn_cell *cell, const char *x, const char *y, int T,
              int F, const char *W, const char *R, const char *b, bool backwards,
              bool sequences, bool reverse_out)
{
    const int U = cell->units;
    const int GU = (cell->kind == NN_RNN_LSTM ? 4 : cell->kind == NN_RNN_GRU ? 3 : 1) * U;
    /* a simple RNN has no gates: its "recurrent activation" is unused */
    nn_act act = cell->act, rec = cell->kind == NN_RNN_SIMPLE ? cell->act : cell->rec_act;
    float aa = cell->act_alpha, ra = cell->kind == NN_RNN_SIMPLE ? aa : cell->rec_alpha;
    if (act == NN_ACT_SOFTMAX || rec == NN_ACT_SOFTMAX || (int)act < 0 || act >= NN_ACT_COUNT ||
        (int)rec < 0 || rec >= NN_ACT_COUNT)
        act = rec = NN_ACT_LINEAR; /* refused when the spec is read */
    const char *work = nn_c_temp(w, (size_t)2 * U + (size_t)2 * GU);
    char as[NN_C_FLOAT_LEN], rs[NN_C_FLOAT_LEN];
    nn_c_float(as, aa);
    nn_c_float(rs, ra);
    nn_c_emit(w, NN_CK_ACT + (int)act, "$rnn(%s, %s, %d, %d, %d, %d, %d, %s, %s, %s, %d, %d, %d,",
              x, y, T, F, U, (int)cell->kind, cell->reset_after ? 1 : 0, W, R, b ? b : "0",
              backwards ? 1 : 0, sequences ? 1 : 0, reverse_out ? 1 : 0);
    nn_c_emit(w, NN_CK_ACT + (int)rec, "     $%s, %s, $%s, %s, %s);",
              nn_c_kernels[NN_CK_ACT + act].name, as, nn_c_kernels[NN_CK_ACT + rec].name, rs,
              work);
    nn_c_use(w, NN_CK_RNN);
}

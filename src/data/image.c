/* Image files as Keras's load_img reads them: see image.h. The resize is
 * PIL's two-pass resample (Resample.c) in its 8-bit form: per output pixel
 * a window of input pixels weighted by the triangle filter stretched by the
 * scale when shrinking, weights normalized then fixed-point with 22
 * fraction bits, the horizontal pass first into an 8-bit image of the rows
 * the vertical pass needs; so the pixels equal Pillow's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/dataset.h"
#include "data/image.h"

char nn_image_kind(const uint8_t *head, size_t n)
{
    static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && !memcmp(head, png, 8))
        return 'p';
    if (n >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff)
        return 'j';
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcasecmp(s + n - k, suffix);
}

bool nn_image_name(const char *name)
{
    return ends_with(name, ".png") || ends_with(name, ".jpg") || ends_with(name, ".jpeg");
}

nn_status nn_image_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                        bool *dropped_alpha, nn_error *err)
{
    uint8_t head[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    char kind = nn_image_kind(head, n);
    if (!kind)
        kind = ends_with(path, ".jpg") || ends_with(path, ".jpeg") ? 'j' : 'p';
    *dropped_alpha = false;
    if (kind == 'j')
        return nn_jpeg_read(path, pixels, h, w, channels, err);
    return nn_png_read(path, pixels, h, w, channels, dropped_alpha, err);
}

void nn_image_channels(const uint8_t *px, size_t pixels, int have, int want, uint8_t *dst)
{
    if (have == want) {
        memcpy(dst, px, pixels * (size_t)want);
    } else if (have == 1) {
        for (size_t i = 0; i < pixels; i++)
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = px[i];
    } else {
        for (size_t i = 0; i < pixels; i++) {
            unsigned v = px[3 * i] * 19595u + px[3 * i + 1] * 38470u + px[3 * i + 2] * 7471u;
            dst[i] = (uint8_t)((v + 0x8000u) >> 16);
        }
    }
}

uint8_t *nn_image_orient(const uint8_t *src, int h, int w, int c, int o, int *oh, int *ow)
{
    bool swap = o >= 5 && o <= 8;
    int H = swap ? w : h, W = swap ? h : w;
    uint8_t *dst = malloc((size_t)h * (size_t)w * (size_t)c);
    if (!dst)
        return NULL;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int sy, sx;
            switch (o) {
            case 2: sy = y, sx = w - 1 - x; break;          /* mirrored */
            case 3: sy = h - 1 - y, sx = w - 1 - x; break;  /* upside down */
            case 4: sy = h - 1 - y, sx = x; break;          /* flipped */
            case 5: sy = x, sx = y; break;                  /* transposed */
            case 6: sy = h - 1 - x, sx = y; break;          /* turned 90 clockwise */
            case 7: sy = h - 1 - x, sx = w - 1 - y; break;  /* transversed */
            case 8: sy = x, sx = w - 1 - y; break;          /* turned 90 anticlockwise */
            default: sy = y, sx = x; break;
            }
            memcpy(dst + ((size_t)y * W + x) * c, src + ((size_t)sy * w + sx) * c, (size_t)c);
        }
    *oh = H;
    *ow = W;
    return dst;
}

#define PRECISION_BITS (32 - 8 - 2)

/* One axis's windows: for output i, input [lo[i], lo[i] + len[i]) with
 * fixed-point weights k[i * ksize ...]; returns ksize, 0 when out of
 * memory. */
static int coeffs(int in_size, double in0, double in1, int out_size, int **lo, int **len,
                  int32_t **k)
{
    double scale = (in1 - in0) / out_size, fscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * fscale;
    int ksize = (int)ceil(support) * 2 + 1;
    *lo = malloc(sizeof **lo * (size_t)out_size);
    *len = malloc(sizeof **len * (size_t)out_size);
    *k = malloc(sizeof **k * (size_t)out_size * (size_t)ksize);
    double *w = malloc(sizeof *w * (size_t)ksize);
    if (!*lo || !*len || !*k || !w) {
        free(w);
        return 0;
    }
    for (int i = 0; i < out_size; i++) {
        double center = in0 + (i + 0.5) * scale, ss = 1.0 / fscale, sum = 0.0;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            w[x] = t < 1.0 ? 1.0 - t : 0.0;
            sum += w[x];
        }
        for (int x = 0; x < ksize; x++) {
            double v = x < xmax && sum != 0.0 ? w[x] / sum : 0.0;
            (*k)[(size_t)i * ksize + x] =
                (int32_t)(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5));
        }
        (*lo)[i] = xmin;
        (*len)[i] = xmax;
    }
    free(w);
    return ksize;
}

static uint8_t clip8(int32_t v)
{
    v >>= PRECISION_BITS;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

nn_status nn_image_resize(const uint8_t *src, int sh, int sw, int c, const double *box,
                          uint8_t *dst, int dh, int dw, nn_error *err)
{
    double b[4] = {0, 0, sw, sh};
    if (box)
        memcpy(b, box, sizeof b);
    bool horiz = dw != sw || b[0] != 0 || b[2] != dw;
    bool vert = dh != sh || b[1] != 0 || b[3] != dh;
    int *xlo = NULL, *xlen = NULL, *ylo = NULL, *ylen = NULL;
    int32_t *xk = NULL, *yk = NULL;
    uint8_t *tmp = NULL;
    nn_status st = NN_OK;
    int kx = coeffs(sw, b[0], b[2], dw, &xlo, &xlen, &xk);
    int ky = coeffs(sh, b[1], b[3], dh, &ylo, &ylen, &yk);
    if (!kx || !ky) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory resizing an image");
        goto done;
    }
    /* the rows the vertical pass reads */
    int first = ylo[0], last = ylo[dh - 1] + ylen[dh - 1];
    const uint8_t *rows = src;
    int rw = sw;
    if (horiz) {
        int th = vert ? last - first : sh;
        int y0 = vert ? first : 0;
        uint8_t *out = vert ? (tmp = malloc((size_t)th * dw * c)) : dst;
        if (!out) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory resizing an image");
            goto done;
        }
        for (int y = 0; y < th; y++)
            for (int x = 0; x < dw; x++) {
                const int32_t *k = xk + (size_t)x * kx;
                const uint8_t *p = src + ((size_t)(y + y0) * sw + xlo[x]) * c;
                for (int ch = 0; ch < c; ch++) {
                    int32_t s = 1 << (PRECISION_BITS - 1);
                    for (int j = 0; j < xlen[x]; j++)
                        s += p[j * c + ch] * k[j];
                    out[((size_t)y * dw + x) * c + ch] = clip8(s);
                }
            }
        if (!vert)
            goto done;
        rows = tmp;
        rw = dw;
        for (int i = 0; i < dh; i++)
            ylo[i] -= first;
    }
    if (vert) {
        for (int y = 0; y < dh; y++) {
            const int32_t *k = yk + (size_t)y * ky;
            for (int x = 0; x < rw; x++)
                for (int ch = 0; ch < c; ch++) {
                    int32_t s = 1 << (PRECISION_BITS - 1);
                    for (int j = 0; j < ylen[y]; j++)
                        s += rows[((size_t)(ylo[y] + j) * rw + x) * c + ch] * k[j];
                    dst[((size_t)y * rw + x) * c + ch] = clip8(s);
                }
        }
    } else if (!horiz) {
        memcpy(dst, src, (size_t)sh * sw * c);
    }
done:
    free(xlo), free(xlen), free(xk), free(ylo), free(ylen), free(yk), free(tmp);
    return st;
}

nn_status nn_image_fit(const uint8_t *src, int sh, int sw, int c, bool crop, uint8_t *dst,
                       int dh, int dw, nn_error *err)
{
    if (!crop)
        return nn_image_resize(src, sh, sw, c, NULL, dst, dh, dw, err);
    /* keras.utils.load_img(keep_aspect_ratio=True) */
    long ch = (long)sw * dh / dw, cw = (long)sh * dw / dh;
    if (ch > sh)
        ch = sh;
    if (cw > sw)
        cw = sw;
    long y0 = (sh - ch) / 2, x0 = (sw - cw) / 2;
    double box[4] = {(double)x0, (double)y0, (double)(x0 + cw), (double)(y0 + ch)};
    return nn_image_resize(src, sh, sw, c, box, dst, dh, dw, err);
}

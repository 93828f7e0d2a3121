/* Keras-style image augmentation (see augment.h for the exact geometry). */
#include "data/augment.h"

#include <math.h>
#include <string.h>

#include "data/dataset.h"
#include "data/featurewise.h"

static const char *const fill_modes[] = {"nearest", "constant", "reflect", "wrap", NULL};

/* brightness_range = [lo, hi]: factors, 1 keeps the image (Keras's tuple) */
static nn_status brightness_range(nn_spec_node *g, nn_augment_cfg *c, nn_error *err)
{
    double r[2];
    int n;
    nn_status st = nn_spec_float_array(g, "brightness_range", false, 0.0, 1e6, 2, r, &n, err);
    if (st || n == 0)
        return st;
    if (n != 2 || r[0] > r[1])
        return nn_spec_fail(g, "brightness_range", err, NN_ERR_USAGE,
                            "expected [low, high] with low <= high (factors: 1 keeps the "
                            "image, 0.8 darkens by a fifth)");
    c->brightness = true;
    c->brightness_lo = r[0];
    c->brightness_hi = r[1];
    return NN_OK;
}

nn_status nn_augment_from_spec(nn_spec_node *data, nn_augment_cfg *c, nn_error *err)
{
    memset(c, 0, sizeof *c);
    nn_spec_node *g;
    nn_status st = nn_spec_group(data, "augment", false, &g, err);
    if (st || !g)
        return st;
    int fill;
    if ((st = nn_spec_float(g, "rotation_range", false, 0.0, 0.0, 360.0, &c->rotation_range,
                            err)) ||
        (st = nn_spec_float(g, "width_shift_range", false, 0.0, 0.0, 1e6, &c->width_shift_range,
                            err)) ||
        (st = nn_spec_float(g, "height_shift_range", false, 0.0, 0.0, 1e6,
                            &c->height_shift_range, err)) ||
        (st = nn_spec_float(g, "zoom_range", false, 0.0, 0.0, 0.999, &c->zoom_range, err)) ||
        (st = nn_spec_bool(g, "horizontal_flip", false, false, &c->horizontal_flip, err)) ||
        (st = nn_spec_bool(g, "vertical_flip", false, false, &c->vertical_flip, err)) ||
        (st = nn_spec_float(g, "channel_shift_range", false, 0.0, 0.0, 1e6,
                            &c->channel_shift_range, err)) ||
        (st = nn_spec_float(g, "shear_range", false, 0.0, 0.0, 360.0, &c->shear_range, err)) ||
        (st = brightness_range(g, c, err)) ||
        (st = nn_spec_choice(g, "fill_mode", false, fill_modes, NN_FILL_NEAREST, &fill, err)) ||
        (st = nn_spec_float(g, "cval", false, 0.0, -1e30, 1e30, &c->cval, err)) ||
        (st = nn_spec_check_unknown(g, err)))
        return st;
    c->fill_mode = (nn_fill_mode)fill;
    return NN_OK;
}

bool nn_augment_active(const nn_augment_cfg *c)
{
    return c->rotation_range != 0.0 || c->width_shift_range != 0.0 ||
           c->height_shift_range != 0.0 || c->zoom_range != 0.0 || c->shear_range != 0.0 ||
           c->channel_shift_range != 0.0 || c->horizontal_flip || c->vertical_flip ||
           c->brightness;
}

bool nn_augment_image_dims(int ndim, const int *shape, int *h, int *w, int *c)
{
    if (ndim != 2 && ndim != 3)
        return false;
    *h = shape[0];
    *w = shape[1];
    *c = ndim == 3 ? shape[2] : 1;
    return *h > 0 && *w > 0 && *c > 0;
}

nn_rng nn_augment_rng(uint64_t seed, long long epoch, uint32_t sample)
{
    nn_rng base;
    nn_rng_seed(&base, seed, NN_STREAM_AUGMENT);
    nn_rng ep = nn_rng_split(&base, (uint64_t)epoch);
    return nn_rng_split(&ep, (uint64_t)sample);
}

static double uniform(nn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * nn_rng_uniform_d(r);
}

/* Keras: a range < 1 is a fraction of the side, else pixels. */
static double shift_pixels(nn_rng *r, double range, int side)
{
    double v = uniform(r, -range, range);
    return range < 1.0 ? v * side : v;
}

void nn_augment_draw(const nn_augment_cfg *c, nn_rng *r, int h, int w, nn_augment_params *p)
{
    memset(p, 0, sizeof *p);
    p->zx = p->zy = 1.0;
    if (c->rotation_range != 0.0)
        p->theta = uniform(r, -c->rotation_range, c->rotation_range);
    if (c->height_shift_range != 0.0)
        p->tx = shift_pixels(r, c->height_shift_range, h);
    if (c->width_shift_range != 0.0)
        p->ty = shift_pixels(r, c->width_shift_range, w);
    if (c->shear_range != 0.0)
        p->shear = uniform(r, -c->shear_range, c->shear_range);
    if (c->zoom_range != 0.0) {
        p->zx = uniform(r, 1.0 - c->zoom_range, 1.0 + c->zoom_range);
        p->zy = uniform(r, 1.0 - c->zoom_range, 1.0 + c->zoom_range);
    }
    if (c->horizontal_flip)
        p->flip_h = nn_rng_uniform_d(r) < 0.5;
    if (c->vertical_flip)
        p->flip_v = nn_rng_uniform_d(r) < 0.5;
    if (c->channel_shift_range != 0.0)
        p->channel_shift = uniform(r, -c->channel_shift_range, c->channel_shift_range);
    if (c->brightness)
        p->brightness = uniform(r, c->brightness_lo, c->brightness_hi);
}

/* Index i of a side of n extended by the fill mode; -1: outside (constant). */
static int extend(int i, int n, nn_fill_mode mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case NN_FILL_NEAREST:
        return i < 0 ? 0 : n - 1;
    case NN_FILL_REFLECT: {
        int period = 2 * n;
        int k = i % period;
        if (k < 0)
            k += period;
        return k < n ? k : period - 1 - k;
    }
    case NN_FILL_WRAP: {
        int k = i % n;
        return k < 0 ? k + n : k;
    }
    case NN_FILL_CONSTANT:
    default:
        return -1;
    }
}

/* Splits a coordinate into a cell and a weight, snapping values within 1e-6
 * of a whole pixel onto it (so whole-pixel shifts copy values exactly). */
static void cell(double v, int *i0, double *f)
{
    double fl = floor(v), fr = v - fl;
    if (fr < 1e-6) {
        fr = 0.0;
    } else if (fr > 1.0 - 1e-6) {
        fl += 1.0;
        fr = 0.0;
    }
    /* far outside: keep the int conversion defined */
    if (fl < -1e8)
        fl = -1e8;
    else if (fl > 1e8)
        fl = 1e8;
    *i0 = (int)fl;
    *f = fr;
}

/* Keras's apply_brightness_shift(x, factor, scale=False) on values in stored
 * units (v * scale): PIL's uint8 image (values cut to whole numbers, an
 * image outside 0..255 stretched to it first), ImageEnhance.Brightness
 * (the value times the factor in float, cut to a whole number, at most
 * 255), then back. */
static void brightness(double factor, float scale, float *x, size_t n)
{
    float lo = x[0] * scale, hi = lo;
    for (size_t i = 1; i < n; i++) {
        float v = x[i] * scale;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    const bool stretch = lo < 0.0f || hi > 255.0f;
    const float f = (float)factor, range = hi - lo;
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        if (stretch) /* array_to_img(scale=True): (x - min) / max(x - min) * 255 */
            v = range != 0.0f ? (v - lo) / range * 255.0f : 0.0f;
        /* numpy's astype("uint8") on 0..255 cuts to a whole number; a stored
         * whole number a hair under itself after / scale * scale still
         * counts as it */
        float u = (float)(uint8_t)(stretch ? v : v + 1e-3f);
        float e = u * f;
        e = e >= 255.0f ? 255.0f : (float)(uint8_t)e;
        if (stretch)
            e = e / 255.0f * range + lo;
        x[i] = e / scale;
    }
}

void nn_augment_apply(const nn_augment_cfg *c, const nn_augment_params *p, int h, int w, int ch,
                      float scale, const float *src, float *dst)
{
    const size_t row_stride = (size_t)w * (size_t)ch;
    const bool affine = p->theta != 0.0 || p->tx != 0.0 || p->ty != 0.0 || p->zx != 1.0 ||
                        p->zy != 1.0 || p->shear != 0.0;
    const float cval = (float)(c->cval / scale);
    /* input = A (o - ctr) + b + ctr, A = R S Z, b = R t */
    double th = p->theta * (M_PI / 180.0), cs = cos(th), sn = sin(th);
    if (p->theta == 0.0) {
        cs = 1.0;
        sn = 0.0;
    }
    double sh = p->shear * (M_PI / 180.0), scs = cos(sh), ssn = sin(sh);
    if (p->shear == 0.0) {
        scs = 1.0;
        ssn = 0.0;
    }
    /* R S = [[cs, -sn], [sn, cs]] [[scs, 0], [-ssn, 1]], then times Z */
    const double rs00 = cs * scs + sn * ssn, rs01 = -sn, rs10 = sn * scs - cs * ssn, rs11 = cs;
    const double a00 = rs00 * p->zx, a01 = rs01 * p->zy, a10 = rs10 * p->zx, a11 = rs11 * p->zy;
    const double b0 = cs * p->tx - sn * p->ty, b1 = sn * p->tx + cs * p->ty;
    const double c0 = (h - 1) / 2.0, c1 = (w - 1) / 2.0;
    for (int r = 0; r < h; r++) {
        /* flips come last in Keras: output (r, col) is the transformed
         * image at the mirrored position */
        int rr = p->flip_v ? h - 1 - r : r;
        for (int col = 0; col < w; col++) {
            int cc = p->flip_h ? w - 1 - col : col;
            float *o = dst + (size_t)r * row_stride + (size_t)col * (size_t)ch;
            if (!affine) {
                memcpy(o, src + (size_t)rr * row_stride + (size_t)cc * (size_t)ch,
                       (size_t)ch * sizeof *o);
                continue;
            }
            double dr = rr - c0, dc = cc - c1;
            double y = a00 * dr + a01 * dc + b0 + c0;
            double x = a10 * dr + a11 * dc + b1 + c1;
            int y0, x0;
            double fy, fx;
            cell(y, &y0, &fy);
            cell(x, &x0, &fx);
            int ys[2], xs[2];
            if (c->fill_mode == NN_FILL_CONSTANT) {
                /* scipy's "constant": no interpolation beyond the edges */
                if (y0 < 0 || y0 > h - 1 || x0 < 0 || x0 > w - 1 || (y0 == h - 1 && fy > 0) ||
                    (x0 == w - 1 && fx > 0)) {
                    for (int k = 0; k < ch; k++)
                        o[k] = cval;
                    continue;
                }
                ys[0] = y0;
                ys[1] = y0 + 1 < h ? y0 + 1 : y0;
                xs[0] = x0;
                xs[1] = x0 + 1 < w ? x0 + 1 : x0;
            } else {
                ys[0] = extend(y0, h, c->fill_mode);
                ys[1] = extend(y0 + 1, h, c->fill_mode);
                xs[0] = extend(x0, w, c->fill_mode);
                xs[1] = extend(x0 + 1, w, c->fill_mode);
            }
            const float *p00 = src + (size_t)ys[0] * row_stride + (size_t)xs[0] * (size_t)ch;
            if (fy == 0.0 && fx == 0.0) {
                memcpy(o, p00, (size_t)ch * sizeof *o);
                continue;
            }
            const float *p01 = src + (size_t)ys[0] * row_stride + (size_t)xs[1] * (size_t)ch;
            const float *p10 = src + (size_t)ys[1] * row_stride + (size_t)xs[0] * (size_t)ch;
            const float *p11 = src + (size_t)ys[1] * row_stride + (size_t)xs[1] * (size_t)ch;
            const double w00 = (1 - fy) * (1 - fx), w01 = (1 - fy) * fx, w10 = fy * (1 - fx),
                         w11 = fy * fx;
            for (int k = 0; k < ch; k++)
                o[k] = (float)(w00 * p00[k] + w01 * p01[k] + w10 * p10[k] + w11 * p11[k]);
        }
    }
    if (p->channel_shift != 0.0) {
        /* Keras's apply_channel_shift: one intensity for every channel,
         * clipped to the image's own [min, max] */
        size_t n = (size_t)h * row_stride;
        float lo = dst[0], hi = dst[0];
        for (size_t i = 1; i < n; i++) {
            lo = dst[i] < lo ? dst[i] : lo;
            hi = dst[i] > hi ? dst[i] : hi;
        }
        float s = (float)(p->channel_shift / scale);
        for (size_t i = 0; i < n; i++) {
            float v = dst[i] + s;
            dst[i] = v < lo ? lo : v > hi ? hi : v;
        }
    }
    if (p->brightness != 0.0)
        brightness(p->brightness, scale, dst, (size_t)h * row_stride);
}

void nn_augment_sample(const nn_dataset *d, uint32_t i, uint64_t seed, long long epoch,
                       float *scratch, float *out)
{
    int h, w, c;
    if (!nn_augment_active(&d->augment) || !nn_augment_image_dims(d->ndim, d->shape, &h, &w, &c)) {
        nn_dataset_gather_x_raw(d, &i, 1, out);
        return;
    }
    nn_dataset_gather_x_raw(d, &i, 1, scratch);
    nn_rng r = nn_augment_rng(seed, epoch, i);
    nn_augment_params p;
    nn_augment_draw(&d->augment, &r, h, w, &p);
    nn_augment_apply(&d->augment, &p, h, w, c, d->scale, scratch, out);
}

void nn_augment_gather_x(const nn_dataset *d, const uint32_t *idx, size_t count, uint64_t seed,
                         long long epoch, float *scratch, float *x)
{
    if (!nn_augment_active(&d->augment)) {
        nn_dataset_gather_x(d, idx, count, x);
        return;
    }
    for (size_t k = 0; k < count; k++)
        nn_augment_sample(d, idx[k], seed, epoch, scratch, x + k * d->sample_size);
    /* Keras standardizes after the random transform */
    nn_dataset_finish_x(d, x, count);
}

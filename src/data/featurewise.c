/* Featurewise statistics (featurewise.h). */
#include "data/featurewise.h"

#include <math.h>
#include <string.h>

#include "data/augment.h"
#include "data/dataset.h"

static double value(const nn_dataset *d, size_t i)
{
    return (d->u8 ? (double)d->u8[i] : (double)d->f32[i]) / d->scale;
}

nn_status nn_featurewise_fit(nn_featurewise *f, const nn_dataset *d, bool center,
                             bool std_normalization, nn_error *err)
{
    memset(f, 0, sizeof *f);
    int h, w, c;
    if (!nn_augment_image_dims(d->ndim, d->shape, &h, &w, &c))
        return nn_fail(err, NN_ERR_USAGE,
                       "data.featurewise_center / featurewise_std_normalization take images "
                       "(samples of shape (H, W) or (H, W, C)), but the training samples have "
                       "%d dimension%s",
                       d->ndim, d->ndim == 1 ? "" : "s");
    if (c > NN_FEATUREWISE_MAX_CHANNELS)
        return nn_fail(err, NN_ERR_USAGE, "featurewise statistics: at most %d channels, got %d",
                       NN_FEATUREWISE_MAX_CHANNELS, c);
    if (d->n == 0)
        return nn_fail(err, NN_ERR_USAGE, "featurewise statistics: no training samples");
    if (d->n_more_x)
        return nn_fail(err, NN_ERR_USAGE,
                       "featurewise statistics are for a model of one image input");
    double sum[NN_FEATUREWISE_MAX_CHANNELS] = {0}, sq[NN_FEATUREWISE_MAX_CHANNELS] = {0};
    const size_t pixels = (size_t)h * (size_t)w, count = d->n * pixels;
    for (size_t s = 0; s < d->n; s++) {
        size_t base = s * d->sample_size;
        for (size_t p = 0; p < pixels; p++)
            for (int k = 0; k < c; k++)
                sum[k] += value(d, base + p * (size_t)c + (size_t)k);
    }
    double mean[NN_FEATUREWISE_MAX_CHANNELS];
    for (int k = 0; k < c; k++)
        mean[k] = sum[k] / (double)count;
    for (size_t s = 0; s < d->n; s++) {
        size_t base = s * d->sample_size;
        for (size_t p = 0; p < pixels; p++)
            for (int k = 0; k < c; k++) {
                double v = value(d, base + p * (size_t)c + (size_t)k) - mean[k];
                sq[k] += v * v;
            }
    }
    f->center = center;
    f->std_normalization = std_normalization;
    f->channels = c;
    for (int k = 0; k < c; k++) {
        f->mean[k] = (float)mean[k];
        f->std[k] = (float)sqrt(sq[k] / (double)count);
    }
    return NN_OK;
}

void nn_featurewise_apply(const nn_featurewise *f, float *x, size_t rows, size_t sample_size)
{
    if (!f || (!f->center && !f->std_normalization) || f->channels < 1)
        return;
    const size_t c = (size_t)f->channels, n = rows * sample_size;
    float inv[NN_FEATUREWISE_MAX_CHANNELS];
    for (size_t k = 0; k < c; k++)
        inv[k] = 1.0f / (f->std[k] + 1e-6f);
    for (size_t i = 0; i < n; i += c)
        for (size_t k = 0; k < c; k++) {
            float v = x[i + k];
            if (f->center)
                v -= f->mean[k];
            if (f->std_normalization)
                v *= inv[k];
            x[i + k] = v;
        }
}

json_t *nn_featurewise_json(const nn_featurewise *f)
{
    json_t *mean = json_array(), *std = json_array();
    for (int k = 0; k < f->channels; k++) {
        json_array_append_new(mean, json_real(f->mean[k]));
        json_array_append_new(std, json_real(f->std[k]));
    }
    return json_pack("{s:b, s:b, s:o, s:o}", "featurewise_center", f->center,
                     "featurewise_std_normalization", f->std_normalization, "mean", mean, "std",
                     std);
}

nn_status nn_featurewise_from_json(nn_featurewise *f, const json_t *j, nn_error *err)
{
    memset(f, 0, sizeof *f);
    json_t *mean = json_object_get(j, "mean"), *std = json_object_get(j, "std");
    if (!json_is_array(mean) || !json_is_array(std) || json_array_size(mean) != json_array_size(std) ||
        json_array_size(mean) < 1 || json_array_size(mean) > NN_FEATUREWISE_MAX_CHANNELS)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "the model file's featurewise statistics are malformed (mean and std: "
                       "one number per channel)");
    f->channels = (int)json_array_size(mean);
    for (int k = 0; k < f->channels; k++) {
        json_t *m = json_array_get(mean, (size_t)k), *s = json_array_get(std, (size_t)k);
        if (!json_is_number(m) || !json_is_number(s) || json_number_value(s) < 0.0)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "the model file's featurewise statistics are malformed (channel %d)",
                           k);
        f->mean[k] = (float)json_number_value(m);
        f->std[k] = (float)json_number_value(s);
    }
    f->center = json_is_true(json_object_get(j, "featurewise_center"));
    f->std_normalization = json_is_true(json_object_get(j, "featurewise_std_normalization"));
    return NN_OK;
}

/* Keras's ImageDataGenerator featurewise_center and
 * featurewise_std_normalization: the per-channel mean and standard
 * deviation of the training images (after data.scale, as Keras's fit()
 * rescales first), computed once, kept in the model file and applied to
 * every input the model sees afterwards: training batches (after
 * augmentation, as Keras standardizes after the random transform),
 * validation, eval and predict. x -= mean; x /= std + 1e-6 (Keras's). */
#ifndef NN_DATA_FEATUREWISE_H
#define NN_DATA_FEATUREWISE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

#define NN_FEATUREWISE_MAX_CHANNELS 512

typedef struct nn_featurewise {
    bool center, std_normalization; /* what is applied; neither: off */
    int channels;                   /* the images' last axis (1 for H x W) */
    float mean[NN_FEATUREWISE_MAX_CHANNELS];
    float std[NN_FEATUREWISE_MAX_CHANNELS]; /* population standard deviation (numpy's) */
} nn_featurewise;

struct nn_dataset;

/* The statistics of d's samples (images (H, W) or (H, W, C); d->scale
 * applied), in double, two passes. Errors: other shapes, no samples. */
nn_status nn_featurewise_fit(nn_featurewise *f, const struct nn_dataset *d, bool center,
                             bool std_normalization, nn_error *err);
/* Applies f to rows samples of sample_size values each (channels last). */
void nn_featurewise_apply(const nn_featurewise *f, float *x, size_t rows, size_t sample_size);
/* {"featurewise_center": bool, "featurewise_std_normalization": bool,
 * "mean": [..], "std": [..]} and back (the model file's /nnctl
 * preprocess attribute). */
json_t *nn_featurewise_json(const nn_featurewise *f);
nn_status nn_featurewise_from_json(nn_featurewise *f, const json_t *j, nn_error *err);

#endif

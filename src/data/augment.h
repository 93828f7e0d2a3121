/* Image augmentation for training batches, configured like Keras's
 * ImageDataGenerator (rotation, shifts, shear, zoom, flips, channel shift,
 * brightness, fill modes) and applied per sample as the batch is gathered.
 *
 * Geometry follows keras.preprocessing.image.apply_affine_transform: in
 * (row, col) coordinates about the centre c = ((h-1)/2, (w-1)/2), output
 * pixel o samples the input at  R(theta) S(shear) Z(zx, zy) (o - c) +
 * R(theta) t + c with t = (tx, ty) = (row shift, col shift) in pixels (so a
 * positive tx moves the content up), then the channel shift, then the
 * flips, then the brightness. S(s) = [[cos s, 0], [-sin s, 1]]: the columns
 * slide by -sin(s) per row (a horizontal shear), what Keras 3's
 * ImageDataGenerator does with the same angle. (Keras 3 reads its matrix
 * in (col, row) order, so with the same numbers it also turns the other
 * way and swaps the axes of shifts and zooms; as the draws are symmetric,
 * that changes no distribution. tests/oracle/test_augment.py checks every
 * parameter against Keras's apply_transform through that mapping.)
 * Sampling is bilinear (Keras's interpolation_order = 1). Points
 * outside the image are filled by fill_mode, as scipy.ndimage does:
 *   nearest   edge pixel repeated         (aaaa|abcd|dddd)
 *   constant  cval                        (kkkk|abcd|kkkk)
 *   reflect   half-sample mirror          (dcba|abcd|dcba)
 *   wrap      periodic                    (abcd|abcd|abcd), scipy's
 *             "grid-wrap" (scipy's old "wrap" is off by one at the seam)
 * cval and channel_shift_range are in the data's stored units (0..255 for
 * images), as in Keras where the generator's rescale comes after the random
 * transform; they are divided by data.scale here.
 *
 * Brightness is Keras's apply_brightness_shift through PIL, in stored
 * units: values are cut to whole numbers (PIL's uint8 image), multiplied by
 * the factor in float and cut again, 255 at most; an image with values
 * below 0 or above 255 is first stretched to 0..255 and stretched back
 * after (as Keras does). It expects images stored as 0..255, as Keras does.
 *
 * Randomness: dataset sample i in epoch `epoch` draws from
 * nn_augment_rng(seed, epoch, i), a child of the NN_STREAM_AUGMENT stream:
 * runs are reproducible, a resumed run sees the same augmentation, and a
 * sample's transform does not depend on its place in a batch or on the
 * process (rank) that gathers it. */
#ifndef NN_DATA_AUGMENT_H
#define NN_DATA_AUGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/spec.h"
#include "util/error.h"
#include "util/rng.h"

typedef enum {
    NN_FILL_NEAREST = 0,
    NN_FILL_CONSTANT,
    NN_FILL_REFLECT,
    NN_FILL_WRAP
} nn_fill_mode;

typedef struct nn_augment_cfg {
    double rotation_range;      /* degrees: theta ~ U(-r, r) */
    double width_shift_range;   /* < 1: fraction of the width; >= 1: pixels */
    double height_shift_range;  /* same, of the height */
    double zoom_range;          /* zx, zy ~ U(1 - z, 1 + z), drawn apart */
    double channel_shift_range; /* stored units: one shift ~ U(-r, r) for all channels */
    double shear_range;         /* degrees: shear ~ U(-r, r) */
    bool brightness;            /* brightness_range given */
    double brightness_lo, brightness_hi; /* factor ~ U(lo, hi) */
    double cval;                /* stored units, for fill_mode constant */
    bool horizontal_flip, vertical_flip; /* each with probability 0.5 */
    nn_fill_mode fill_mode;
} nn_augment_cfg;

/* One sample's draw. */
typedef struct nn_augment_params {
    double theta;          /* degrees */
    double tx, ty;         /* row and column shift, pixels (Keras's tx, ty) */
    double shear;          /* degrees */
    double zx, zy;         /* row and column zoom (1: none) */
    bool flip_h, flip_v;
    double channel_shift;  /* stored units */
    double brightness;     /* factor; 0: none */
} nn_augment_params;

/* Reads `data.augment` (absent: all off). Keys as in Keras's
 * ImageDataGenerator: rotation_range, width_shift_range, height_shift_range,
 * shear_range, zoom_range, horizontal_flip, vertical_flip,
 * channel_shift_range, brightness_range ([lo, hi]), fill_mode ("nearest" |
 * "constant" | "reflect" | "wrap"), cval. */
nn_status nn_augment_from_spec(nn_spec_node *data, nn_augment_cfg *out, nn_error *err);

/* Does c change anything? All ranges 0 and both flips off: no, and the
 * batch pipeline skips augmentation entirely. */
bool nn_augment_active(const nn_augment_cfg *c);

/* The image dims augmentation works on: shape (H, W) is (H, W, 1);
 * (H, W, C) as is. False for other ranks. */
bool nn_augment_image_dims(int ndim, const int *shape, int *h, int *w, int *c);

/* The stream of dataset sample `sample` in epoch `epoch`. */
nn_rng nn_augment_rng(uint64_t seed, long long epoch, uint32_t sample);

/* Draws one sample's transform (Keras's get_random_transform order: theta,
 * tx, ty, shear, zx, zy, flips, channel shift, brightness; a disabled range
 * draws nothing). */
void nn_augment_draw(const nn_augment_cfg *c, nn_rng *r, int h, int w, nn_augment_params *p);

/* Transforms one HWC float image src (already scaled: stored / scale) into
 * dst (h*w*ch floats, not overlapping src). No allocation. */
void nn_augment_apply(const nn_augment_cfg *c, const nn_augment_params *p, int h, int w, int ch,
                      float scale, const float *src, float *dst);

struct nn_dataset;
/* One sample of d (index i), augmented with d->augment as drawn for it in
 * `epoch`, into out (sample_size floats; scaled, without data.preprocess
 * or featurewise: what augment-preview shows). scratch: sample_size
 * floats, made once by the caller. */
void nn_augment_sample(const struct nn_dataset *d, uint32_t i, uint64_t seed, long long epoch,
                       float *scratch, float *out);
/* nn_dataset_gather_x with augmentation (row k is sample idx[k]): scaled,
 * augmented, then nn_dataset_finish_x (data.preprocess, featurewise). */
void nn_augment_gather_x(const struct nn_dataset *d, const uint32_t *idx, size_t count,
                         uint64_t seed, long long epoch, float *scratch, float *x);

#endif

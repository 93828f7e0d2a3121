/* Keys a Keras user writes where Keras takes them: fit()'s and compile()'s
 * arguments, ImageDataGenerator's. nnctl reads each in one section of the
 * spec; found in another, the error names the section where it belongs. */
#include <stdio.h>
#include <string.h>

#include "spec/spec_internal.h"

#define FIT "where nnctl reads Keras's fit() argument"
#define COMPILE "where nnctl reads Keras's compile() argument"
#define GEN "where nnctl reads Keras's ImageDataGenerator argument"

static const struct {
    const char *key, *home, *hint;
} rows[] = {
    {"validation_split", "data", "data.validation_split, " FIT},
    {"validation_data", "data", "data.validation = { ... }, " FIT " validation_data"},
    {"shuffle", "data", "data.shuffle, " FIT},
    {"bucket_by_length", "data", "data.bucket_by_length"},
    {"epochs", "train", "train.epochs, " FIT},
    {"batch_size", "train", "train.batch_size, " FIT},
    {"callbacks", "train", "train.callbacks, " FIT},
    {"loss", "train", "train.loss, " COMPILE},
    {"loss_weights", "train", "train.loss_weights, " COMPILE},
    {"metrics", "train", "train.metrics, " COMPILE},
    {"optimizer", "train", "train.optimizer, " COMPILE},
    {"rescale", "data",
     "data.rescale, " GEN " (it multiplies, as Keras's; data.scale divides)"},
    {"featurewise_center", "data", "data.featurewise_center, " GEN},
    {"featurewise_std_normalization", "data", "data.featurewise_std_normalization, " GEN},
    {"shear_range", "data.augment", "data.augment.shear_range, " GEN},
    {"brightness_range", "data.augment", "data.augment.brightness_range, " GEN},
    {"rotation_range", "data.augment", "data.augment.rotation_range, " GEN},
    {"width_shift_range", "data.augment", "data.augment.width_shift_range, " GEN},
    {"height_shift_range", "data.augment", "data.augment.height_shift_range, " GEN},
    {"zoom_range", "data.augment", "data.augment.zoom_range, " GEN},
    {"horizontal_flip", "data.augment", "data.augment.horizontal_flip, " GEN},
    {"vertical_flip", "data.augment", "data.augment.vertical_flip, " GEN},
    {"fill_mode", "data.augment", "data.augment.fill_mode, " GEN},
    {"channel_shift_range", "data.augment", "data.augment.channel_shift_range, " GEN},
};

bool nn_spec__misplaced(const char *group_path, const char *key, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(rows[i].key, key) || !strcmp(rows[i].home, group_path))
            continue;
        snprintf(buf, len, "unknown key \"%s\" here: it belongs in %s: %s", key, rows[i].home,
                 rows[i].hint);
        return true;
    }
    return false;
}

/* In-memory datasets and batch assembly. Samples stay in their stored type
 * (uint8 for images: 4x less memory than float32) and are scaled to float32
 * only when a batch is gathered, straight into the buffer the engine uploads. */
#ifndef NN_DATA_DATASET_H
#define NN_DATA_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/augment.h"
#include "util/error.h"
#include "util/rng.h"

#define NN_DATA_MAX_DIMS 4

typedef struct nn_dataset {
    size_t n;                       /* number of samples */
    int ndim;                       /* per-sample dims, e.g. 2 for 28x28 images */
    int shape[NN_DATA_MAX_DIMS];
    size_t sample_size;             /* product of shape */
    const uint8_t *u8;              /* n * sample_size, or NULL */
    const float *f32;               /* n * sample_size, or NULL (exactly one is set) */
    float scale;                    /* value fed to the model = stored / scale */
    int preprocess;                 /* nn_preprocess, after the scale */
    const int32_t *labels;          /* n class labels in [0, n_classes), or NULL */
    const float *targets;           /* n * target_size regression targets, or NULL */
    size_t target_size;
    int n_classes;
    /* Training-time augmentation (all off unless the source is data.train
     * and data.augment is set); copied into views. Applied only by the fit
     * loop's training batches (nn_augment_gather_x), never by evaluation. */
    nn_augment_cfg augment;
    /* Featurewise normalization applied when samples are gathered (after
     * augmentation), or NULL; not owned (the session's). */
    const struct nn_featurewise *featurewise;
    /* Ownership: a dataset made by a loader owns its buffers (owner != NULL);
     * views (split, subset) point into another dataset and own nothing but
     * their own index arrays. */
    void *owner_u8, *owner_f32, *owner_labels, *owner_targets;
    /* Multi-input / multi-output data (format "npy" with x or y groups):
     * this dataset's own samples feed input 0 and its labels/targets are
     * output 0's; more_x[k] (samples only) feeds input k + 1, more_y[k]
     * (labels or targets only, no samples) is output k + 1's. Every part
     * has the same n. Owned by the dataset; a view's parts are views of the
     * parts. x_name/y_name name the model input/output each array is for
     * ("" when the spec gave a single file). */
    struct nn_dataset *more_x, *more_y;
    int n_more_x, n_more_y;
    char x_name[64], y_name[64];
} nn_dataset;

/* Frees what d owns, its parts (and their arrays) included; a view frees
 * only its own parts arrays. */
void nn_dataset_free(nn_dataset *d);

/* A view of the whole of d (its parts views of d's parts), for using d's
 * data under a second name without a second owner: a struct copy would
 * share d's parts arrays and free them twice. Free it with
 * nn_dataset_free (that frees only the view's own parts arrays). */
nn_status nn_dataset_view(const nn_dataset *d, nn_dataset *view, nn_error *err);

/* The dataset whose samples feed model input i (0 = d itself), and the one
 * whose labels/targets are output j's; NULL when there is no such part.
 * When y was a single file (n_more_y == 0) every output j >= 0 gets d: all
 * of a multi-output model's outputs then learn the same targets (Keras's
 * auxiliary-output pattern, y given once for every output). */
const nn_dataset *nn_dataset_input_part(const nn_dataset *d, int i);
const nn_dataset *nn_dataset_output_part(const nn_dataset *d, int j);

/* Puts the parts in the model's order: x arrays by input name, y arrays by
 * output name. A dataset with single (unnamed) x and y is left as it is
 * (a single unnamed y feeds every output, see nn_dataset_output_part).
 * n_inputs = 0 leaves x unchecked, n_outputs = 0 y. Errors (NN_ERR_USAGE,
 * naming `where`, e.g. "spec.cfg:12: data.train", and listing the expected
 * names): a name that is not a model input/output, a name given twice, a
 * model input without an array (a single unnamed x with a model of several
 * inputs too), and (for y) a model output without targets when y is a
 * group. On error d is unchanged. */
nn_status nn_dataset_match_names(nn_dataset *d, const char *const *inputs, int n_inputs,
                                 const char *const *outputs, int n_outputs, const char *where,
                                 nn_error *err);

/* IDX files (MNIST), gzipped or not (detected by magic bytes, not by name).
 * Validates the magic, the element type (uint8 only), dims and the length. */
typedef struct nn_idx {
    int ndim;
    uint32_t dims[4];
    uint8_t *data; /* product of dims bytes; caller frees */
} nn_idx;
nn_status nn_idx_read(const char *path, nn_idx *out, nn_error *err);

/* images: IDX with >= 2 dims; labels: IDX with 1 dim; counts must agree and
 * labels must be < 256. n_classes = max label + 1 (at least 2). */
nn_status nn_dataset_load_idx(const char *images_path, const char *labels_path, nn_dataset *out,
                              nn_error *err);

/* PNG via libpng: 8-bit gray or RGB (RGBA and gray+alpha drop alpha, with
 * *dropped_alpha set); 16-bit, palette (expanded is fine) ... see png.c.
 * pixels is h*w*channels bytes, row-major, channels-last; caller frees. */
nn_status nn_png_read(const char *path, uint8_t **pixels, int *h, int *w, int *channels,
                      bool *dropped_alpha, nn_error *err);
/* Writes an 8-bit gray (channels 1) or RGB (3) PNG atomically. */
nn_status nn_png_write(const char *path, const uint8_t *pixels, int h, int w, int channels,
                       nn_error *err);

/* Class names that go with a dataset's labels (label k is names[k]). */
typedef struct nn_class_names {
    int n;
    char **names;
} nn_class_names;
void nn_class_names_free(nn_class_names *c);
/* One name a line (spaces and CR at a line's end dropped, blank lines
 * skipped), at most max of them. */
nn_status nn_class_names_parse(const char *text, size_t len, int max, nn_class_names *names,
                               nn_error *err);
/* The same from a file; a file without names is an error. */
nn_status nn_class_names_read(const char *path, int max, nn_class_names *names, nn_error *err);
/* ImageNet-1k's class names (datasets/imagenet/classes.txt, built in):
 * predict --labels imagenet. */
#define NN_IMAGENET_CLASSES 1000
nn_status nn_class_names_imagenet(nn_class_names *names, nn_error *err);

/* CIFAR-10 binary batches (src/data/cifar.c). Each record: 1 label byte
 * (0..9), then 1024 R, 1024 G, 1024 B bytes (32x32, row-major planes);
 * loaded as channels-last uint8 samples of shape (32, 32, 3), 10 classes.
 * Errors: a size that is not a multiple of 3073, no records, a label > 9.
 * names (may be NULL): from batches.meta.txt when present (next to the
 * first file, or in the archive), else n = 0. */
#define NN_CIFAR_RECORD 3073
nn_status nn_cifar10_load_files(const char *const *paths, int n_paths, nn_dataset *out,
                                nn_class_names *names, nn_error *err);
/* From the distribution's archive (.tar.gz, or .tar), read with zlib and
 * our own tar parser (ustar/GNU/pax headers, 512-byte blocks): part "train"
 * takes data_batch_1..5.bin, "test" test_batch.bin (members matched by
 * their base name). Errors: not a tar, a bad header checksum, a truncated
 * archive, a missing member. */
nn_status nn_cifar10_load_archive(const char *path, const char *part, nn_dataset *out,
                                  nn_class_names *names, nn_error *err);

/* Keras's preprocess_input modes (src/data/preprocess.c): data.preprocess. */
typedef enum { NN_PRE_NONE = 0, NN_PRE_CAFFE, NN_PRE_TF, NN_PRE_TORCH } nn_preprocess;
extern const char *const nn_preprocess_names[]; /* by mode, NULL-terminated */
/* x: pixels * channels values 0..255, channels last; transformed in place. */
void nn_preprocess_apply(nn_preprocess mode, float *x, size_t pixels, int channels);
/* The mode needs data.scale = 1, and RGB for caffe and torch. */
nn_status nn_preprocess_check(nn_preprocess mode, double scale, int channels, nn_error *err);

/* Keras's image_dataset_from_directory layout (src/data/image_folder.c):
 * root/<class>/<image>.png or .jpg/.jpeg; classes are the sub-folders
 * sorted by name (label k = k-th name), images in each folder sorted by
 * name (other files are ignored). color_mode: 1 grayscale, 3 rgb (gray
 * images are repeated to RGB, RGB reduced to gray by ITU-R 601-2 luma as
 * PIL's convert("L")). RGBA loses its alpha, with one note line on stderr
 * per folder. Every image must have the same height and width. Samples
 * have shape (H, W, color_mode). */
nn_status nn_image_folder_load(const char *root, int color_mode, nn_dataset *out,
                               nn_class_names *names, nn_error *err);
/* The same with every image resized to height x width (0, 0: as stored,
 * all of one size) as Keras's load_img does (src/data/image.h), crop: the
 * centred region of that aspect ratio first (crop_to_aspect_ratio). */
nn_status nn_image_folder_load_sized(const char *root, int color_mode, int height, int width,
                                     bool crop, nn_dataset *out, nn_class_names *names,
                                     nn_error *err);

/* Every PNG and JPEG file under root and its sub-folders (hidden ones
 * skipped), as "root/.../name" paths sorted by path; *paths has *n of
 * them, freed by nn_image_files_free. No image at all is an error. */
nn_status nn_image_files(const char *root, char ***paths, size_t *n, nn_error *err);
void nn_image_files_free(char **paths, size_t n);

/* Sequences for recurrent networks, from text files (gzipped or not; a
 * UTF-8 byte-order mark, CRLF line ends, a last line without '\n' and blank
 * lines are fine). Values are stored as float32 samples (d->f32). Errors name
 * path:line, the field and what was expected; NaN and infinity are refused.
 * Class labels are integers in [0, NN_SEQ_MAX_ID) ("3" or "3.0"); n_classes =
 * max label + 1 (at least 2). */
#define NN_SEQ_MAX_ID (1 << 24)       /* token ids and labels: exact in float32 */
#define NN_SEQ_MAX_VALUES (1 << 24)   /* values in one sample */

/* src/data/csv_seq.c: one row per sample, comma-separated (spaces around
 * fields are fine): the label, then timesteps * features numbers, row-major
 * (timestep 0's features first). Samples have shape (timesteps, features).
 * header: skip the first line. regression: the first field is a float
 * target (d->targets, target_size 1, no labels, n_classes 0) instead of a
 * class label. */
typedef struct nn_csv_seq_opts {
    int timesteps, features;
    bool header;
    bool regression;
} nn_csv_seq_opts;
nn_status nn_csv_seq_load(const char *path, const nn_csv_seq_opts *o, nn_dataset *out,
                          nn_error *err);

/* src/data/tokens.c: integer token sequences, as Keras's imdb data after
 * pad_sequences. A line: the class label, then zero or more token ids
 * (integers in [0, NN_SEQ_MAX_ID)), fields separated by commas and/or
 * whitespace. Every sample becomes maxlen float32 ids (shape (maxlen)):
 * sequences longer than maxlen lose tokens at the start (trunc_post false,
 * Keras's truncating="pre") or at the end; shorter ones are filled with
 * `value` before the tokens (pad_post false, Keras's padding="pre") or after
 * them. */
typedef struct nn_tokens_opts {
    int maxlen;
    bool pad_post, trunc_post;
    int value;
} nn_tokens_opts;
nn_status nn_tokens_load(const char *path, const nn_tokens_opts *o, nn_dataset *out,
                         nn_error *err);

/* The last `fraction` of d (Keras's validation_split: taken before any
 * shuffling) as `val`, the rest as `train`; both are views of d (every part
 * split at the same row). Free both with nn_dataset_free. */
nn_status nn_dataset_split_tail(const nn_dataset *d, double fraction, nn_dataset *train,
                                nn_dataset *val, nn_error *err);

/* A seeded, class-stratified pick of `count` samples (each class gets its
 * share of count in proportion to its frequency, remainders to the largest
 * fractional parts), kept in original order. Data with regression targets
 * and no labels gets a seeded uniform pick, also in order. The result owns
 * copies. The pick is decided by d's own labels (output 0's); every part
 * gets the same rows. */
nn_status nn_dataset_subset_stratified(const nn_dataset *d, size_t count, nn_rng *rng,
                                       nn_dataset *out, nn_error *err);

/* The samples whose label is one of classes[0..n_classes) (owned copies, in
 * their original order), relabelled by position in that list: classes =
 * [5, 7] makes label 5 -> 0 and 7 -> 1 (transfer learning on a subset of
 * classes). Errors: no labels, fewer than 2 classes, a class the data does
 * not have, a class listed twice, no sample left. Only d's own labels
 * (output 0's) decide and are relabelled; every part keeps the same rows,
 * the labels of more_y parts unchanged. */
nn_status nn_dataset_select_classes(const nn_dataset *d, const int *classes, int n_classes,
                                    nn_dataset *out, nn_error *err);

/* Gathers samples idx[0..count) into x (count * sample_size floats, scaled,
 * then nn_dataset_finish_x). */
void nn_dataset_gather_x(const nn_dataset *d, const uint32_t *idx, size_t count, float *x);
/* The same, scaled only (what augmentation transforms). */
void nn_dataset_gather_x_raw(const nn_dataset *d, const uint32_t *idx, size_t count, float *x);
/* What every gathered row gets after the scale and any augmentation, in
 * the order of Keras's standardize(): data.preprocess, then the
 * featurewise statistics. */
void nn_dataset_finish_x(const nn_dataset *d, float *x, size_t count);
/* Targets for the same samples: one_hot_cols > 0 -> count * one_hot_cols
 * floats (one-hot rows as wide as the model's output);
 * sparse -> count floats holding the label; regression -> count*target_size. */
void nn_dataset_gather_y(const nn_dataset *d, const uint32_t *idx, size_t count, int one_hot_cols,
                         float *y);

#endif

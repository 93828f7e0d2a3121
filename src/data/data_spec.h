/* The spec's `data` section: where the data is and how to prepare it. */
#ifndef NN_DATA_DATA_SPEC_H
#define NN_DATA_DATA_SPEC_H

#include <limits.h>

#include "data/dataset.h"
#include "spec/spec.h"

/* data.<train|validation|test>.format and the keys each format takes:
 *   "idx"           images, labels            (IDX files, gzipped or not)
 *   "cifar10"       path [, part] | files     (path: the .tar.gz/.tar of the
 *                   binary distribution or its extracted folder; part "train"
 *                   (data_batch_1..5.bin) or "test" (test_batch.bin), by default
 *                   "train" for data.train, else "test"; files: a list of
 *                   batch files, loaded in that order)
 *   "image_folder"  path [, color_mode]       (root/<class>/<name>.png;
 *                   color_mode "rgb" (default, as Keras) or "grayscale")
 *   "csv"           path, timesteps [, features, header, label]
 *                   (sequences for recurrent networks: one row per sample,
 *                   the label, then timesteps * features comma-separated
 *                   numbers, timestep 0's features first; samples of shape
 *                   (timesteps, features), stored as float32 and divided by
 *                   data.scale like any format. timesteps: an integer >= 1;
 *                   features: an integer >= 1, default 1; header: true skips
 *                   the first line (default false); label: "class" (default:
 *                   an integer class label >= 0; n_classes = max + 1, at
 *                   least 2) or "value" (a float regression target, for
 *                   losses such as "mse": one output unit))
 *   "tokens"        path, maxlen [, padding, truncating, value]
 *                   (integer token sequences, like Keras's imdb data after
 *                   pad_sequences: a line holds the class label, then zero or
 *                   more token ids (integers >= 0, below 2^24), separated by
 *                   commas and/or spaces. Each sample becomes maxlen float32
 *                   ids (shape (maxlen)); padding "pre" (default, as Keras)
 *                   puts the pad values before a short sequence, "post" after
 *                   it; truncating "pre" (default, as Keras) drops a long
 *                   sequence's first tokens, "post" its last ones; value: the
 *                   pad value, an integer, default 0. Token ids are never
 *                   scaled: data.scale is ignored for this format.)
 *   "npy"           x, y                      (NumPy .npy arrays, see npy.h: x
 *                   holds the samples along its first axis, (N, ...) with at
 *                   most 4 more axes; '|u1' stays uint8 like IDX images, the
 *                   other dtypes ('<f4', '<f8', '<i4', '<i8') become float32;
 *                   data.scale divides them as for any format. y: integers
 *                   of shape (N) or (N, 1) are class labels (n_classes = max
 *                   + 1, at least 2); floats of shape (N) or (N, 1) are
 *                   regression targets. Both are required.
 *                   Multi-input / multi-output models (Keras's functional
 *                   API): x and/or y may instead be a group naming the
 *                   model's inputs / outputs, one file each (at most 8):
 *                     x = { image = "img.npy"; meta = "meta.npy"; };
 *                     y = { digit = "digit.npy"; parity = "parity.npy"; };
 *                   Every file must hold the same number of samples; each
 *                   y file is class labels or regression targets as
 *                   above. A single y file with several outputs: every
 *                   output learns those same targets. data.scale divides
 *                   every x array; data.augment applies to the x arrays
 *                   of image shape. classes = [...] keeps the samples
 *                   whose label in y's first entry is listed (those
 *                   labels are relabelled, other y arrays keep theirs);
 *                   data.train_subset stratifies by output 0's labels;
 *                   both keep every array's rows aligned. The group's
 *                   order does not matter: arrays are matched to the
 *                   model's input and output names
 *                   (nn_dataset_match_names).)
 * Text files (csv, tokens) may be gzipped; CRLF line ends and blank lines are
 * fine; a bad row is an error naming file:line and the field. data.augment
 * (images only) is refused with them. data.train_subset picks a seeded
 * uniform subset when the data has regression targets (label = "value")
 * instead of class labels.
 * Any source with class labels also takes classes = [5, 6, 7, 8, 9]: only
 * those classes' samples are kept, relabelled 0, 1, ... in the listed order
 * (a new task from part of a dataset, as in transfer learning). */
typedef enum {
    NN_FORMAT_IDX = 0,
    NN_FORMAT_CIFAR10,
    NN_FORMAT_IMAGE_FOLDER,
    NN_FORMAT_CSV,
    NN_FORMAT_TOKENS,
    NN_FORMAT_NPY
} nn_data_format;

#define NN_DATA_MAX_FILES 8
#define NN_DATA_MAX_CLASSES 256

typedef struct nn_data_source {
    bool present;
    nn_data_format format;
    char images[PATH_MAX]; /* as written; resolved when loaded (npy: x, or x's first entry) */
    char labels[PATH_MAX]; /* (npy: y, or y's first entry) */
    char where[512];        /* "spec.cfg:12: data.train", for messages */
    char dir[PATH_MAX];     /* the spec's folder, where ./ and ../ paths start ("": here) */
    char where_images[512], where_labels[512]; /* idx, npy (x, y); others: path or files */
    char path[PATH_MAX];    /* cifar10 (archive or folder), image_folder (root), csv, tokens */
    char files[NN_DATA_MAX_FILES][1024]; /* cifar10 batch files */
    int n_files;
    bool part_test;         /* cifar10 with path: test_batch.bin instead of data_batch_* */
    int color_mode;         /* image_folder: 1 grayscale, 3 rgb */
    int image_size[2];      /* image_folder: height, width to resize to (0: as stored) */
    bool crop;              /* image_folder: crop_to_aspect_ratio */
    nn_csv_seq_opts csv;    /* csv: timesteps, features, header, label */
    nn_tokens_opts tokens;  /* tokens: maxlen, padding, truncating, value */
    nn_augment_cfg augment; /* data.augment, on data.train only */
    int preprocess;         /* data.preprocess (nn_preprocess), copied into each source */
    int classes[NN_DATA_MAX_CLASSES]; /* classes = [...]: keep these, relabelled 0.. */
    int n_classes;                    /* 0: keep every class */
    /* npy with x = { name = "file.npy"; ... } (y the same): the entries in
     * the spec's order (entry 0 also in images / labels, where_images /
     * where_labels); n_x = 0 when x is a single file (n_y likewise). */
    int n_x, n_y;
    char x_names[NN_DATA_MAX_FILES][64], y_names[NN_DATA_MAX_FILES][64];
    char x_files[NN_DATA_MAX_FILES][1024], y_files[NN_DATA_MAX_FILES][1024];
    char where_x[NN_DATA_MAX_FILES][512], where_y[NN_DATA_MAX_FILES][512]; /* data.train.x.image */
} nn_data_source;

typedef struct nn_data_cfg {
    nn_data_source train, validation, test;
    double scale;             /* inputs are divided by it (data.scale, or 1 / data.rescale) */
    /* Keras's ImageDataGenerator featurewise_center / _std_normalization:
     * per-channel statistics of the training images, applied to every input
     * (session.c computes them; the model file keeps them). */
    bool featurewise_center, featurewise_std_normalization;
    int one_hot;              /* -1: from the loss */
    double validation_split;
    long long train_subset;   /* 0: all */
    bool shuffle;
    bool bucket_by_length;    /* data.bucket_by_length (train/buckets.h) */
    nn_augment_cfg augment;   /* data.augment (also copied into train.augment) */
    int preprocess;           /* data.preprocess: Keras's preprocess_input mode */
} nn_data_cfg;

nn_status nn_spec_data(nn_spec_node *data, nn_data_cfg *out, nn_error *err);

/* Where a data path in the spec is: an absolute path as it is; an explicit
 * relative one (./x.npy, ../data/x.npy) in the spec's folder, spec_dir
 * ("" for the current directory), else the current directory; a bare name
 * (mnist/train-images-idx3-ubyte.gz) on the data search path: each folder
 * of $NNCTL_DATA (':'-separated), the spec's folder, the current
 * directory, the checkout's datasets/ (when nnctl runs from a checkout's
 * build folder: the MNIST that ships), then
 * ${XDG_DATA_HOME:-~/.local/share}/nnctl/datasets (where fetch-data puts
 * files). The first that exists wins; the error names every place tried. */
nn_status nn_data_resolve(const char *path, const char *spec_dir, char *out, size_t len,
                          nn_error *err);

/* The bytes a source will take in memory once loaded (from the IDX
 * and .npy headers, CIFAR-10's sizes), or 0 when that cannot be told before reading
 * the data (image folders, csv, tokens; a failed load reports why). */
size_t nn_data_footprint(const nn_data_source *src);

/* Loads one source and applies the scale (not to "tokens": ids stay as they
 * are). npy with x / y groups: the parts in the spec's order, named
 * (x_name, y_name); put them in the model's order with
 * nn_dataset_match_names. */
nn_status nn_data_load(const nn_data_source *src, double scale, nn_dataset *out, nn_error *err);
/* The same, with the classes' names where the data has them (CIFAR-10's
 * batches.meta.txt, an image folder's sub-folders; kept in the order of
 * classes = [...]); names->n = 0 otherwise. */
nn_status nn_data_load_named(const nn_data_source *src, double scale, nn_dataset *out,
                             nn_class_names *names, nn_error *err);

#endif

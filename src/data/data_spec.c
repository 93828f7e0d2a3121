/* The data group of a spec (nn_spec_data): each part's source, format
 * and keys, checked with file:line errors. Finding files is
 * data_paths.c, loading them data_load.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_spec.h"

static const char *const formats[] = {"idx",    "cifar10", "image_folder", "csv",
                                       "tokens", "npy",     NULL};
static const char *const parts[] = {"train", "test", NULL};
static const char *const color_modes[] = {"grayscale", "rgb", NULL};
static const char *const label_kinds[] = {"class", "value", NULL};
static const char *const pre_post[] = {"pre", "post", NULL};

/* "file:line: data.train.x" (g's key, or g itself for key NULL): the
 * place errors found later, when loading, are prefixed with. */
static void where_at(nn_spec_node *g, const char *key, char *buf, size_t cap)
{
    nn_error loc;
    nn_spec_fail(g, key, &loc, NN_ERR_RUNTIME, "@");
    char *at = strrchr(loc.msg, '@');
    if (at && at - loc.msg >= 2)
        at[-2] = '\0'; /* drop ": @" */
    snprintf(buf, cap, "%s", loc.msg);
}

/* npy's x or y: one file (into single, *n = 0), or a group naming the
 * model's inputs or outputs, one file each (names, files, wheres; the
 * first file also into single; *n entries). */
static nn_status parse_npy_files(nn_spec_node *g, const char *key, char *single, size_t cap,
                                 char (*names)[64], char (*files)[1024], char (*wheres)[512],
                                 int *n, nn_error *err)
{
    nn_status st;
    nn_spec_node *grp = NULL;
    const char *file;
    *n = 0;
    if (!nn_spec_is_group(g, key)) {
        /* absent, or not a group: the string's own errors say what is wrong */
        if ((st = nn_spec_string(g, key, true, NULL, &file, err)))
            return st;
        if (!file[0])
            return nn_spec_fail(g, key, err, NN_ERR_USAGE, "expected an .npy file, got \"\"");
        snprintf(single, cap, "%s", file);
        return NN_OK;
    }
    if ((st = nn_spec_group(g, key, true, &grp, err)))
        return st;
    const char *what = key[0] == 'x' ? "input" : "output";
    int len = nn_spec_length(grp);
    if (len < 1)
        return nn_spec_fail(g, key, err, NN_ERR_USAGE,
                            "expected an .npy file, or a group naming the model's %ss, "
                            "{ <%s name> = \"file.npy\"; ... }; got an empty group",
                            what, what);
    if (len > NN_DATA_MAX_FILES)
        return nn_spec_fail(g, key, err, NN_ERR_USAGE, "%d files; at most %d (one per model %s)",
                            len, NN_DATA_MAX_FILES, what);
    for (int i = 0; i < len; i++) {
        const char *name = nn_spec_member_key(grp, i);
        if (!name)
            return nn_spec_fail(grp, NULL, err, NN_ERR_RUNTIME, "cannot read entry %d", i + 1);
        if ((st = nn_spec_string(grp, name, true, NULL, &file, err)))
            return st;
        if (strlen(name) >= sizeof names[0])
            return nn_spec_fail(grp, name, err, NN_ERR_USAGE,
                                "expected a model %s name of at most %zu characters", what,
                                sizeof names[0] - 1);
        if (!file[0] || strlen(file) >= sizeof files[0])
            return nn_spec_fail(grp, name, err, NN_ERR_USAGE,
                                "expected an .npy file of 1 to %zu characters, got \"%.40s\"",
                                sizeof files[0] - 1, file);
        snprintf(names[i], sizeof names[i], "%s", name);
        snprintf(files[i], sizeof files[i], "%s", file);
        where_at(grp, name, wheres[i], sizeof wheres[i]);
    }
    *n = len;
    snprintf(single, cap, "%s", files[0]);
    return NN_OK;
}

/* Formats "csv" and "tokens": path and the shape of the sequences. */
static nn_status parse_sequence_keys(nn_spec_node *g, nn_data_source *src, nn_error *err)
{
    nn_status st;
    const char *path;
    if ((st = nn_spec_string(g, "path", true, NULL, &path, err)))
        return st;
    if (!path[0])
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "expected a file, got \"\"");
    snprintf(src->path, sizeof src->path, "%s", path);
    long long a, b;
    int c1, c2;
    if (src->format == NN_FORMAT_CSV) {
        bool header;
        if ((st = nn_spec_int(g, "timesteps", true, 0, 1, NN_SEQ_MAX_VALUES, &a, err)) ||
            (st = nn_spec_int(g, "features", false, 1, 1, NN_SEQ_MAX_VALUES, &b, err)) ||
            (st = nn_spec_bool(g, "header", false, false, &header, err)) ||
            (st = nn_spec_choice(g, "label", false, label_kinds, 0, &c1, err)))
            return st;
        if (a * b > NN_SEQ_MAX_VALUES)
            return nn_spec_fail(g, "features", err, NN_ERR_USAGE,
                                "timesteps %lld x features %lld = %lld values a sample; at most "
                                "%d",
                                a, b, a * b, NN_SEQ_MAX_VALUES);
        src->csv = (nn_csv_seq_opts){.timesteps = (int)a, .features = (int)b, .header = header,
                                     .regression = c1 == 1};
        return NN_OK;
    }
    if ((st = nn_spec_int(g, "maxlen", true, 0, 1, NN_SEQ_MAX_VALUES, &a, err)) ||
        (st = nn_spec_choice(g, "padding", false, pre_post, 0, &c1, err)) ||
        (st = nn_spec_choice(g, "truncating", false, pre_post, 0, &c2, err)) ||
        (st = nn_spec_int(g, "value", false, 0, -(NN_SEQ_MAX_ID - 1), NN_SEQ_MAX_ID - 1, &b,
                          err)))
        return st;
    src->tokens = (nn_tokens_opts){
        .maxlen = (int)a, .pad_post = c1 == 1, .trunc_post = c2 == 1, .value = (int)b};
    return NN_OK;
}

/* The keys of one format (see data_spec.h); a key of another format is an
 * unknown key, with a did-you-mean from this format's keys. */
static nn_status parse_format_keys(nn_spec_node *g, const char *key, nn_data_source *src,
                                   const char **k1, const char **k2, nn_error *err)
{
    nn_status st;
    *k2 = NULL;
    if (src->format == NN_FORMAT_NPY) {
        /* x and y: a file each, or a group of files named by the model's
         * inputs / outputs */
        *k1 = "x";
        *k2 = "y";
        if ((st = parse_npy_files(g, "x", src->images, sizeof src->images, src->x_names,
                                  src->x_files, src->where_x, &src->n_x, err)) ||
            (st = parse_npy_files(g, "y", src->labels, sizeof src->labels, src->y_names,
                                  src->y_files, src->where_y, &src->n_y, err)))
            return st;
        return NN_OK;
    }
    if (src->format == NN_FORMAT_IDX) {
        /* two files: samples and labels */
        const char *images, *labels;
        *k1 = "images";
        *k2 = "labels";
        if ((st = nn_spec_string(g, *k1, true, NULL, &images, err)) ||
            (st = nn_spec_string(g, *k2, true, NULL, &labels, err)))
            return st;
        snprintf(src->images, sizeof src->images, "%s", images);
        snprintf(src->labels, sizeof src->labels, "%s", labels);
        return NN_OK;
    }
    if (src->format == NN_FORMAT_CSV || src->format == NN_FORMAT_TOKENS) {
        *k1 = "path";
        return parse_sequence_keys(g, src, err);
    }
    const char *path = NULL;
    if ((st = nn_spec_string(g, "path", src->format == NN_FORMAT_IMAGE_FOLDER, NULL, &path, err)))
        return st;
    if (path && !path[0])
        return nn_spec_fail(g, "path", err, NN_ERR_USAGE, "expected a file or folder, got \"\"");
    if (path)
        snprintf(src->path, sizeof src->path, "%s", path);
    *k1 = "path";
    if (src->format == NN_FORMAT_IMAGE_FOLDER) {
        int cm;
        if ((st = nn_spec_choice(g, "color_mode", false, color_modes, 1, &cm, err)))
            return st;
        src->color_mode = cm == 0 ? 1 : 3;
        long long size[2];
        int n = 0;
        if ((st = nn_spec_int_array(g, "image_size", false, 1, 16384, 2, size, &n, err)))
            return st;
        if (n != 0 && n != 2)
            return nn_spec_fail(g, "image_size", err, NN_ERR_USAGE,
                                "expected [height, width]");
        src->image_size[0] = n ? (int)size[0] : 0;
        src->image_size[1] = n ? (int)size[1] : 0;
        if ((st = nn_spec_bool(g, "crop_to_aspect_ratio", false, false, &src->crop, err)))
            return st;
        if (src->crop && !n)
            return nn_spec_fail(g, "crop_to_aspect_ratio", err, NN_ERR_USAGE,
                                "crops to image_size's aspect ratio: give image_size too");
        return NN_OK;
    }
    /* cifar10: path [, part] or files */
    const char *files[NN_DATA_MAX_FILES + 1];
    int nf = 0;
    bool has_files = nn_spec_has(g, "files");
    if (has_files) {
        if ((st = nn_spec_string_array(g, "files", true, NN_DATA_MAX_FILES, files, &nf, err)))
            return st;
        if (nf < 1)
            return nn_spec_fail(g, "files", err, NN_ERR_USAGE, "expected at least one file");
        for (int i = 0; i < nf; i++) {
            if (!files[i][0] || strlen(files[i]) >= sizeof src->files[0])
                return nn_spec_fail(g, "files", err, NN_ERR_USAGE,
                                    "file %d: expected a path of 1 to %zu characters", i + 1,
                                    sizeof src->files[0] - 1);
            snprintf(src->files[i], sizeof src->files[i], "%s", files[i]);
        }
        src->n_files = nf;
        *k1 = "files";
    }
    if (path && has_files)
        return nn_spec_fail(g, "files", err, NN_ERR_USAGE,
                            "give either path (the archive or folder) or files, not both");
    if (!path && !has_files) {
        /* a misspelt key is the likelier mistake: say so first */
        nn_spec_has(g, "part");
        if ((st = nn_spec_check_unknown(g, err)))
            return st;
        return nn_spec_fail(g, NULL, err, NN_ERR_USAGE,
                            "format \"cifar10\" needs path = \"cifar-10-binary.tar.gz\" (or the "
                            "extracted folder) or files = [\"...bin\", ...]");
    }
    if (has_files && nn_spec_has(g, "part"))
        return nn_spec_fail(g, "part", err, NN_ERR_USAGE,
                            "part picks the batch files out of path; with files, list them");
    int part;
    if ((st = nn_spec_choice(g, "part", false, parts, strcmp(key, "train") ? 1 : 0, &part, err)))
        return st;
    src->part_test = part == 1;
    return NN_OK;
}

static nn_status parse_source(nn_spec_node *data, const char *key, nn_data_source *src,
                              nn_error *err)
{
    nn_spec_node *g;
    nn_status st = nn_spec_group(data, key, false, &g, err);
    if (st || !g)
        return st;
    int fmt;
    const char *k1 = NULL, *k2 = NULL;
    if ((st = nn_spec_choice(g, "format", false, formats, 0, &fmt, err)))
        return st;
    src->format = (nn_data_format)fmt;
    long long classes[NN_DATA_MAX_CLASSES];
    if ((st = parse_format_keys(g, key, src, &k1, &k2, err)) ||
        (st = nn_spec_int_array(g, "classes", false, 0, (1 << 24) - 1, NN_DATA_MAX_CLASSES,
                                classes, &src->n_classes, err)) ||
        (st = nn_spec_check_unknown(g, err)))
        return st;
    if (src->n_classes == 1)
        return nn_spec_fail(g, "classes", err, NN_ERR_USAGE,
                            "select at least 2 classes (a classifier needs a choice)");
    for (int i = 0; i < src->n_classes; i++)
        src->classes[i] = (int)classes[i];
    src->present = true;
    snprintf(src->dir, sizeof src->dir, "%s", nn_spec_node_dir(g));
    /* "file:line: data.train.images" prefixes for errors found when loading */
    struct {
        char *buf;
        const char *key;
    } locs[3] = {{src->where, NULL}, {src->where_images, k1}, {src->where_labels, k2}};
    for (int i = 0; i < 3; i++)
        where_at(g, locs[i].key, locs[i].buf, sizeof src->where);
    /* npy groups: the first entry's own place ("data.train.x.image") */
    if (src->n_x)
        snprintf(src->where_images, sizeof src->where_images, "%s", src->where_x[0]);
    if (src->n_y)
        snprintf(src->where_labels, sizeof src->where_labels, "%s", src->where_y[0]);
    /* Paths resolve when the data is loaded: training must not need the
     * test files, nor eval the training files. */
    return NN_OK;
}

/* data.rescale: Keras's ImageDataGenerator name, a factor the inputs are
 * multiplied by (1/255), where data.scale divides (255): one or the other. */
static nn_status rescale(nn_spec_node *data, nn_data_cfg *c, nn_error *err)
{
    if (!nn_spec_has(data, "rescale"))
        return NN_OK;
    if (nn_spec_has(data, "scale"))
        return nn_spec_fail(data, "rescale", err, NN_ERR_USAGE,
                            "give either data.rescale (multiplies, Keras's name) or data.scale "
                            "(divides), not both");
    double r;
    nn_status st = nn_spec_float(data, "rescale", true, 1.0, 1e-30, 1e30, &r, err);
    if (!st)
        c->scale = 1.0 / r;
    return st;
}

nn_status nn_spec_data(nn_spec_node *data, nn_data_cfg *c, nn_error *err)
{
    memset(c, 0, sizeof *c);
    nn_status st;
    bool one_hot;
    if ((st = parse_source(data, "train", &c->train, err)) ||
        (st = parse_source(data, "validation", &c->validation, err)) ||
        (st = parse_source(data, "test", &c->test, err)) ||
        (st = nn_spec_float(data, "scale", false, 1.0, 1e-30, 1e30, &c->scale, err)) ||
        (st = rescale(data, c, err)) ||
        (st = nn_spec_bool(data, "featurewise_center", false, false, &c->featurewise_center,
                           err)) ||
        (st = nn_spec_bool(data, "featurewise_std_normalization", false, false,
                           &c->featurewise_std_normalization, err)) ||
        (st = nn_spec_float(data, "validation_split", false, 0.0, 0.0, 0.99,
                            &c->validation_split, err)) ||
        (st = nn_spec_int(data, "train_subset", false, 0, 0, 1LL << 40, &c->train_subset, err)) ||
        (st = nn_spec_bool(data, "shuffle", false, true, &c->shuffle, err)) ||
        (st = nn_spec_bool(data, "bucket_by_length", false, false, &c->bucket_by_length, err)) ||
        (st = nn_augment_from_spec(data, &c->augment, err)))
        return st;
    c->train.augment = c->augment;
    int pre;
    if ((st = nn_spec_choice(data, "preprocess", false, nn_preprocess_names, 0, &pre, err)))
        return st;
    c->preprocess = c->train.preprocess = c->validation.preprocess = c->test.preprocess = pre;
    if (pre && c->scale != 1.0)
        return nn_spec_fail(data, "preprocess", err, NN_ERR_USAGE,
                            "works on 0..255 pixel values, as Keras's preprocess_input: "
                            "data.scale must be 1 (it is %g)",
                            c->scale);
    nn_data_format tf = c->train.format;
    if (c->train.present && (tf == NN_FORMAT_CSV || tf == NN_FORMAT_TOKENS) &&
        nn_augment_active(&c->augment))
        return nn_spec_fail(data, "augment", err, NN_ERR_USAGE,
                            "augmentation transforms images, but data.train is format \"%s\" "
                            "(sequences): remove data.augment",
                            formats[tf]);
    c->one_hot = -1;
    if (nn_spec_has(data, "one_hot")) {
        if ((st = nn_spec_bool(data, "one_hot", true, false, &one_hot, err)))
            return st;
        c->one_hot = one_hot;
    }
    if (c->validation.present && c->validation_split > 0.0)
        return nn_spec_fail(data, "validation_split", err, NN_ERR_USAGE,
                            "give either data.validation or data.validation_split, not both");
    return nn_spec_check_unknown(data, err);
}

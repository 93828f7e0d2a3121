#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_spec.h"
#include "data/npy.h"

static const char *const formats[] = {"idx",    "cifar10", "image_folder", "csv",
                                       "tokens", "npy",     NULL};
static const char *const parts[] = {"train", "test", NULL};
static const char *const color_modes[] = {"grayscale", "rgb", NULL};
static const char *const label_kinds[] = {"class", "value", NULL};
static const char *const pre_post[] = {"pre", "post", NULL};

/* The checkout's datasets/ folder (MNIST ships there) when this binary
 * runs from a checkout's build folder (build/nnctl, or the nnctl link
 * beside it): "" otherwise. */
static void checkout_datasets(char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = '\0';
    if (n <= 0)
        return;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) { /* the binary's folder, then its parent */
        char *slash = strrchr(exe, '/');
        if (!slash)
            return;
        *slash = '\0';
        char probe[PATH_MAX + 16];
        struct stat sb;
        snprintf(probe, sizeof probe, "%s/datasets", exe[0] ? exe : "/");
        if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            snprintf(out, len, "%s", probe);
            return;
        }
    }
}

/* Appends "place (why)" to the list of places tried. */
static void tried_add(char *tried, size_t cap, const char *place, const char *why)
{
    size_t o = strlen(tried);
    if (o < cap)
        snprintf(tried + o, cap - o, "%s%s (%s)", o ? ", " : "", place, why);
}

/* dir/path into out when that exists; the try is recorded either way. */
static bool try_at(const char *dir, const char *path, const char *why, char *out, size_t len,
                   char *tried, size_t cap)
{
    char p[PATH_MAX * 2];
    if (dir && dir[0] && strcmp(dir, "."))
        snprintf(p, sizeof p, "%s/%s", dir, path);
    else
        snprintf(p, sizeof p, "%s", path);
    tried_add(tried, cap, p, why);
    if (access(p, F_OK) != 0)
        return false;
    snprintf(out, len, "%s", p);
    return true;
}

nn_status nn_data_resolve(const char *path, const char *spec_dir, char *out, size_t len,
                          nn_error *err)
{
    if (path[0] == '/') {
        snprintf(out, len, "%s", path);
        return NN_OK;
    }
    char tried[4096] = "";
    bool explicit_rel = !strcmp(path, ".") || !strcmp(path, "..") || !strncmp(path, "./", 2) ||
                        !strncmp(path, "../", 3);
    bool spec_here = !spec_dir || !spec_dir[0] || !strcmp(spec_dir, ".");
    if (explicit_rel) {
        /* ./ and ../ start at the spec's folder, as a path written in a
         * file reads; then the current directory */
        if (try_at(spec_dir, path, "the spec's folder", out, len, tried, sizeof tried) ||
            (!spec_here &&
             try_at(NULL, path, "the current directory", out, len, tried, sizeof tried)))
            return NN_OK;
        return nn_fail(err, NN_ERR_RUNTIME, "data file '%s' not found; tried %s", path, tried);
    }
    /* a bare name (mnist/train-images-idx3-ubyte.gz): the data search path */
    const char *env = getenv("NNCTL_DATA");
    if (env && *env) {
        char list[PATH_MAX * 4];
        snprintf(list, sizeof list, "%s", env);
        char *save = NULL;
        for (char *d = strtok_r(list, ":", &save); d; d = strtok_r(NULL, ":", &save))
            if (*d && try_at(d, path, "$NNCTL_DATA", out, len, tried, sizeof tried))
                return NN_OK;
    }
    if (!spec_here && try_at(spec_dir, path, "the spec's folder", out, len, tried, sizeof tried))
        return NN_OK;
    if (try_at(NULL, path, "the current directory", out, len, tried, sizeof tried))
        return NN_OK;
    char dir[PATH_MAX];
    checkout_datasets(dir, sizeof dir);
    if (dir[0] && try_at(dir, path, "the checkout's datasets/", out, len, tried, sizeof tried))
        return NN_OK;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/nnctl/datasets", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.local/share/nnctl/datasets", home);
    else
        dir[0] = '\0';
    if (dir[0] && try_at(dir, path, "scripts/fetch-data's folder", out, len, tried, sizeof tried))
        return NN_OK;
    return nn_fail(err, NN_ERR_RUNTIME,
                   "data file '%s' not found; tried %s (run scripts/fetch-data, or set "
                   "NNCTL_DATA to the folder that holds it)",
                   path, tried);
}

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

/* The file's real content size: its length, or for gzip the size its
 * trailer records (modulo 2^32); 0 when unknown. */
static size_t content_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char magic[2] = {0}, tail[4];
    size_t n = 0;
    if (fread(magic, 1, 2, f) == 2 && fseek(f, 0, SEEK_END) == 0) {
        long len = ftell(f);
        if (magic[0] == 0x1f && magic[1] == 0x8b) {
            if (len >= 4 && fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4)
                n = (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 |
                    (size_t)tail[3] << 24;
        } else if (len > 0) {
            n = (size_t)len;
        }
    }
    fclose(f);
    return n;
}

/* Product of an IDX file's dims from its header; 0 when unreadable or when
 * the header claims more than the file holds (the load reports that). */
static size_t idx_elements(const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return 0;
    unsigned char h[4 + 16];
    size_t total = 0;
    int nd = 0;
    if (gzread(f, h, 4) == 4 && h[0] == 0 && h[1] == 0 && h[3] >= 1 && h[3] <= 4 &&
        gzread(f, h + 4, 4u * h[3]) == (int)(4u * h[3])) {
        nd = h[3];
        total = 1;
        for (int d = 0; d < nd; d++) {
            const unsigned char *p = h + 4 + 4 * d;
            total *= (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        }
    }
    gzclose(f);
    size_t have = content_size(path);
    if (total && have && ((total + 4 + 4 * (size_t)nd) & 0xffffffffu) != (have & 0xffffffffu))
        return 0;
    return total;
}

/* The bytes a CIFAR-10 source will take: records * (3072 + 4). For an
 * archive, from the gzip trailer's uncompressed size (mod 2^32; the official
 * archive is 185 MB): 5/6 of it for train, 1/6 for test. */
static size_t cifar_footprint(const nn_data_source *src)
{
    nn_error ignore;
    char p[PATH_MAX];
    size_t bytes = 0;
    struct stat sb;
    if (src->n_files) {
        for (int i = 0; i < src->n_files; i++)
            if (!nn_data_resolve(src->files[i], src->dir, p, sizeof p, &ignore) && stat(p, &sb) == 0)
                bytes += (size_t)sb.st_size;
    } else if (!nn_data_resolve(src->path, src->dir, p, sizeof p, &ignore) && stat(p, &sb) == 0 &&
               S_ISREG(sb.st_mode)) {
        FILE *f = fopen(p, "rb");
        unsigned char t[4];
        if (f && fseek(f, -4, SEEK_END) == 0 && fread(t, 1, 4, f) == 4) {
            size_t total = (size_t)t[0] | (size_t)t[1] << 8 | (size_t)t[2] << 16 |
                           (size_t)t[3] << 24;
            bytes = src->part_test ? total / 6 : total / 6 * 5;
        }
        if (f)
            fclose(f);
    }
    return bytes / NN_CIFAR_RECORD * (3072 + 4);
}

size_t nn_data_footprint(const nn_data_source *src)
{
    if (!src->present)
        return 0;
    if (src->format == NN_FORMAT_CIFAR10)
        return cifar_footprint(src);
    if (src->format != NN_FORMAT_IDX && src->format != NN_FORMAT_NPY)
        return 0; /* image folders, csv, tokens: not known before reading them */
    char images[PATH_MAX], labels[PATH_MAX];
    nn_error ignore;
    if (src->format == NN_FORMAT_NPY) {
        /* x: uint8 stays, the rest becomes float32; y: 4 bytes a sample */
        size_t bytes = 0;
        int nx = src->n_x ? src->n_x : 1, ny = src->n_y ? src->n_y : 1;
        for (int i = 0; i < nx + ny; i++) {
            bool x = i < nx;
            const char *f = x ? (src->n_x ? src->x_files[i] : src->images)
                              : (src->n_y ? src->y_files[i - nx] : src->labels);
            nn_npy_info info;
            if (nn_data_resolve(f, src->dir, images, sizeof images, &ignore) ||
                nn_npy_stat(images, &info, &ignore))
                return 0;
            bytes += info.count * (x && info.dtype == NN_NPY_U1 ? 1 : 4);
        }
        return bytes;
    }
    if (nn_data_resolve(src->images, src->dir, images, sizeof images, &ignore) ||
        nn_data_resolve(src->labels, src->dir, labels, sizeof labels, &ignore))
        return 0;
    /* images stay uint8; labels become int32 */
    return idx_elements(images) + 4 * idx_elements(labels);
}

/* Format "npy": x and y, each one file or a group (then every array is
 * named for its model input / output). */
static nn_status load_npy(const nn_data_source *src, nn_dataset *out, nn_error *err)
{
    int nx = src->n_x ? src->n_x : 1, ny = src->n_y ? src->n_y : 1;
    char (*paths)[PATH_MAX] = nn_malloc((size_t)(nx + ny) * sizeof *paths, err);
    if (!paths)
        return NN_ERR_RUNTIME;
    const char *ptrs[2 * NN_DATA_MAX_FILES];
    nn_status st = NN_OK;
    for (int i = 0; i < nx + ny && !st; i++) {
        bool x = i < nx;
        int k = x ? i : i - nx;
        const char *f = x ? (src->n_x ? src->x_files[k] : src->images)
                          : (src->n_y ? src->y_files[k] : src->labels);
        const char *where = x ? (src->n_x ? src->where_x[k] : src->where_images)
                              : (src->n_y ? src->where_y[k] : src->where_labels);
        if ((st = nn_data_resolve(f, src->dir, paths[i], sizeof paths[i], err)))
            nn_error_prefix(err, "%s", where);
        ptrs[i] = paths[i];
    }
    if (!st && (st = nn_npy_load_parts(ptrs, nx, ptrs + nx, ny, out, err)))
        nn_error_prefix(err, "%s", src->where);
    free(paths);
    if (st)
        return st;
    for (int k = 0; k < src->n_x; k++) {
        nn_dataset *p = k ? &out->more_x[k - 1] : out;
        snprintf(p->x_name, sizeof p->x_name, "%s", src->x_names[k]);
    }
    for (int k = 0; k < src->n_y; k++) {
        nn_dataset *p = k ? &out->more_y[k - 1] : out;
        snprintf(p->y_name, sizeof p->y_name, "%s", src->y_names[k]);
    }
    return NN_OK;
}

/* CIFAR-10 from the spec: a list of files, an extracted folder or the
 * archive. */
static nn_status load_cifar(const nn_data_source *src, nn_dataset *out, nn_class_names *names,
                            nn_error *err)
{
    char paths[NN_DATA_MAX_FILES][PATH_MAX];
    const char *ptrs[NN_DATA_MAX_FILES];
    if (src->n_files) {
        for (int i = 0; i < src->n_files; i++) {
            if (nn_data_resolve(src->files[i], src->dir, paths[i], sizeof paths[i], err))
                return nn_error_prefix(err, "%s", src->where_images);
            ptrs[i] = paths[i];
        }
        return nn_cifar10_load_files(ptrs, src->n_files, out, names, err);
    }
    char path[PATH_MAX];
    if (nn_data_resolve(src->path, src->dir, path, sizeof path, err))
        return nn_error_prefix(err, "%s", src->where_images);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        /* the extracted folder, or the folder that holds it */
        char dir[PATH_MAX], probe[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(probe, sizeof probe, "%s/cifar-10-batches-bin", path);
        if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode))
            snprintf(dir, sizeof dir, "%s", probe);
        int n = src->part_test ? 1 : 5;
        for (int i = 0; i < n; i++) {
            if (src->part_test)
                snprintf(paths[i], sizeof paths[i], "%.4000s/test_batch.bin", dir);
            else
                snprintf(paths[i], sizeof paths[i], "%.4000s/data_batch_%d.bin", dir, i + 1);
            ptrs[i] = paths[i];
        }
        return nn_cifar10_load_files(ptrs, n, out, names, err);
    }
    return nn_cifar10_load_archive(path, src->part_test ? "test" : "train", out, names, err);
}

static nn_status data_load(const nn_data_source *src, double scale, nn_dataset *out,
                           nn_class_names *names, nn_error *err);

/* classes = [...]: the kept classes' names, in the listed order. */
static void select_names(nn_class_names *names, const int *classes, int n)
{
    if (!names->n)
        return;
    nn_class_names kept = {0};
    kept.names = calloc((size_t)n, sizeof *kept.names);
    for (int k = 0; kept.names && k < n; k++) {
        if (classes[k] >= names->n)
            break;
        kept.names[k] = names->names[classes[k]];
        names->names[classes[k]] = NULL;
        kept.n = k + 1;
    }
    nn_class_names_free(names);
    if (kept.n == n) {
        *names = kept;
    } else {
        nn_class_names_free(&kept);
    }
}

nn_status nn_data_load(const nn_data_source *src, double scale, nn_dataset *out, nn_error *err)
{
    return nn_data_load_named(src, scale, out, NULL, err);
}

nn_status nn_data_load_named(const nn_data_source *src, double scale, nn_dataset *out,
                             nn_class_names *names, nn_error *err)
{
    nn_class_names own = {0};
    nn_status st = data_load(src, scale, out, names ? names : &own, err);
    nn_class_names_free(&own);
    if (st && names)
        nn_class_names_free(names);
    return st;
}

static nn_status data_load(const nn_data_source *src, double scale, nn_dataset *out,
                           nn_class_names *names, nn_error *err)
{
    nn_status st;
    memset(names, 0, sizeof *names);
    if (src->format == NN_FORMAT_CIFAR10) {
        if ((st = load_cifar(src, out, names, err)))
            return nn_error_prefix(err, "%s", src->where);
    } else if (src->format == NN_FORMAT_IMAGE_FOLDER) {
        char root[PATH_MAX];
        if (nn_data_resolve(src->path, src->dir, root, sizeof root, err))
            return nn_error_prefix(err, "%s", src->where_images);
        if ((st = nn_image_folder_load_sized(root, src->color_mode, src->image_size[0],
                                             src->image_size[1], src->crop, out, names, err)))
            return nn_error_prefix(err, "%s", src->where);
    } else if (src->format == NN_FORMAT_CSV || src->format == NN_FORMAT_TOKENS) {
        char path[PATH_MAX];
        if (nn_data_resolve(src->path, src->dir, path, sizeof path, err))
            return nn_error_prefix(err, "%s", src->where_images);
        st = src->format == NN_FORMAT_CSV ? nn_csv_seq_load(path, &src->csv, out, err)
                                          : nn_tokens_load(path, &src->tokens, out, err);
        if (st)
            return nn_error_prefix(err, "%s", src->where);
    } else if (src->format == NN_FORMAT_NPY) {
        if ((st = load_npy(src, out, err)))
            return st;
    } else {
        char images[PATH_MAX], labels[PATH_MAX];
        if (nn_data_resolve(src->images, src->dir, images, sizeof images, err))
            return nn_error_prefix(err, "%s", src->where_images);
        if (nn_data_resolve(src->labels, src->dir, labels, sizeof labels, err))
            return nn_error_prefix(err, "%s", src->where_labels);
        if ((st = nn_dataset_load_idx(images, labels, out, err)))
            return nn_error_prefix(err, "%s", src->where);
    }
    if (src->n_classes) { /* a subset of the classes, relabelled 0.. in the listed order */
        select_names(names, src->classes, src->n_classes);
        nn_dataset all = *out;
        st = nn_dataset_select_classes(&all, src->classes, src->n_classes, out, err);
        nn_dataset_free(&all);
        if (st)
            return nn_error_prefix(err, "%s: classes", src->where);
    }
    /* token ids are indices, never scaled */
    out->scale = src->format == NN_FORMAT_TOKENS ? 1.0f : (float)scale;
    out->augment = src->augment;
    out->preprocess = src->preprocess;
    if (src->preprocess &&
        (st = nn_preprocess_check((nn_preprocess)src->preprocess, scale,
                                  out->ndim ? out->shape[out->ndim - 1] : 1, err)))
        return nn_error_prefix(err, "%s", src->where);
    int h, w, c;
    if (out->n_more_x > 0) {
        /* several inputs: every x array is scaled; augmentation goes to
         * those that hold images (it travels with them when the parts are
         * put in the model's order) */
        bool images = false;
        for (int k = 0; k <= out->n_more_x; k++) {
            nn_dataset *p = k ? &out->more_x[k - 1] : out;
            p->scale = (float)scale;
            bool img = nn_augment_image_dims(p->ndim, p->shape, &h, &w, &c);
            memset(&p->augment, 0, sizeof p->augment);
            if (img)
                p->augment = src->augment;
            images |= img;
        }
        if (nn_augment_active(&src->augment) && !images) {
            nn_fail(err, NN_ERR_USAGE,
                    "%s: data.augment needs image samples of shape (height, width) or "
                    "(height, width, channels); none of the x arrays holds such samples",
                    src->where);
            nn_dataset_free(out);
            return NN_ERR_USAGE;
        }
        return NN_OK;
    }
    if (nn_augment_active(&out->augment) &&
        !nn_augment_image_dims(out->ndim, out->shape, &h, &w, &c)) {
        nn_fail(err, NN_ERR_USAGE,
                "%s: data.augment needs image samples of shape (height, width) or (height, "
                "width, channels); these samples have %d dimension%s",
                src->where, out->ndim, out->ndim == 1 ? "" : "s");
        nn_dataset_free(out);
        return NN_ERR_USAGE;
    }
    return NN_OK;
}

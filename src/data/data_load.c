/* Loading what a data spec names (every format), and its memory
 * footprint before loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/data_spec.h"
#include "data/npy.h"

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

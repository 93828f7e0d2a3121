/* Image folders as Keras's image_dataset_from_directory lays them out:
 * root/<class>/<name>.png or .jpg, classes sorted by name; every image at
 * one size, or each resized to image_size (src/data/image.c). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/image.h"

typedef struct strlist {
    char **s;
    size_t n, cap;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

static nn_status strlist_add(strlist *l, const char *s, nn_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->s, cap * sizeof *p);
        if (!p)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        l->s = p;
        l->cap = cap;
    }
    char *d = nn_strdup(s, err);
    if (!d)
        return NN_ERR_RUNTIME;
    l->s[l->n++] = d;
    return NN_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entries of dir (no hidden ones) that are directories (dirs) or PNG and
 * JPEG files, sorted by name. */
static nn_status list_dir(const char *dir, bool dirs, strlist *out, nn_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open the folder: %s", dir,
                       strerror(errno));
    struct dirent *e;
    nn_status st = NN_OK;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0)
            continue;
        if (dirs ? S_ISDIR(sb.st_mode) : (S_ISREG(sb.st_mode) && nn_image_name(e->d_name)))
            st = strlist_add(out, e->d_name, err);
    }
    closedir(d);
    if (!st && out->n > 1)
        qsort(out->s, out->n, sizeof *out->s, by_name);
    return st;
}

/* root's images (full paths) into out, then its sub-folders' */
static nn_status walk_images(const char *root, int depth, strlist *out, nn_error *err)
{
    if (depth > 32)
        return nn_fail(err, NN_ERR_USAGE, "'%s': folders nested more than 32 deep", root);
    strlist files = {0}, dirs = {0};
    nn_status st = list_dir(root, false, &files, err);
    if (!st)
        st = list_dir(root, true, &dirs, err);
    char path[8192];
    for (size_t i = 0; !st && i < files.n; i++) {
        snprintf(path, sizeof path, "%s/%s", root, files.s[i]);
        st = strlist_add(out, path, err);
    }
    for (size_t i = 0; !st && i < dirs.n; i++) {
        snprintf(path, sizeof path, "%s/%s", root, dirs.s[i]);
        st = walk_images(path, depth + 1, out, err);
    }
    strlist_free(&files);
    strlist_free(&dirs);
    return st;
}

nn_status nn_image_files(const char *root, char ***paths, size_t *n, nn_error *err)
{
    *paths = NULL;
    *n = 0;
    char top[8192];
    snprintf(top, sizeof top, "%s", root);
    for (size_t len = strlen(top); len > 1 && top[len - 1] == '/';)
        top[--len] = '\0'; /* photos/ names its files photos/a.jpg */
    strlist all = {0};
    nn_status st = walk_images(top, 0, &all, err);
    if (!st && !all.n)
        st = nn_fail(err, NN_ERR_USAGE,
                     "'%s': no PNG or JPEG file in the folder or its sub-folders", root);
    if (st) {
        strlist_free(&all);
        return st;
    }
    qsort(all.s, all.n, sizeof *all.s, by_name); /* one path order over all folders */
    *paths = all.s;
    *n = all.n;
    return NN_OK;
}

void nn_image_files_free(char **paths, size_t n)
{
    strlist l = {.s = paths, .n = n};
    strlist_free(&l);
}

nn_status nn_image_folder_load(const char *root, int color_mode, nn_dataset *out,
                               nn_class_names *names, nn_error *err)
{
    return nn_image_folder_load_sized(root, color_mode, 0, 0, false, out, names, err);
}

nn_status nn_image_folder_load_sized(const char *root, int color_mode, int height, int width,
                                     bool crop, nn_dataset *out, nn_class_names *names,
                                     nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (names)
        memset(names, 0, sizeof *names);
    if (color_mode != 1 && color_mode != 3)
        return nn_fail(err, NN_ERR_USAGE, "color_mode %d: expected 1 (grayscale) or 3 (rgb)",
                       color_mode);
    strlist classes = {0};
    strlist *files = NULL;
    nn_status st = list_dir(root, true, &classes, err);
    if (st)
        return st;
    if (classes.n == 0) {
        strlist_free(&classes);
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': no class folders (expected root/<class>/*.png or *.jpg, one "
                       "folder per class)",
                       root);
    }
    if (classes.n > INT32_MAX / 2) {
        strlist_free(&classes);
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': too many class folders", root);
    }
    files = nn_calloc(classes.n, sizeof *files, err);
    size_t total = 0;
    char path[8192];
    for (size_t k = 0; files && !st && k < classes.n; k++) {
        snprintf(path, sizeof path, "%s/%s", root, classes.s[k]);
        st = list_dir(path, false, &files[k], err);
        total += files[k].n;
    }
    if (!files)
        st = NN_ERR_RUNTIME;
    if (!st && total == 0)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': the class folders hold no .png or .jpg images", root);

    uint8_t *x = NULL, *px = NULL;
    int32_t *y = NULL;
    int H = 0, W = 0;
    char first[8192] = "";
    size_t at = 0, sample = 0;
    for (size_t k = 0; !st && k < classes.n; k++) {
        size_t alpha = 0;
        for (size_t j = 0; !st && j < files[k].n; j++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, classes.s[k], files[k].s[j]);
            int h, w, c;
            bool dropped;
            if ((st = nn_image_read(path, &px, &h, &w, &c, &dropped, err)))
                break;
            alpha += dropped;
            if (!x) {
                H = height ? height : h;
                W = width ? width : w;
                snprintf(first, sizeof first, "%s", path);
                sample = (size_t)H * (size_t)W * (size_t)color_mode;
                x = nn_malloc(total * sample, err);
                y = x ? nn_malloc(total * sizeof *y, err) : NULL;
                if (!y) {
                    st = NN_ERR_RUNTIME;
                    break;
                }
            } else if (!height && (h != H || w != W)) {
                st = nn_fail(err, NN_ERR_RUNTIME,
                             "'%s' is %dx%d (width x height) but '%s' is %dx%d: all images of "
                             "an image folder must have one size, or give image_size = "
                             "[height, width] to resize them",
                             path, w, h, first, W, H);
                break;
            }
            if (c != 1 && c != 3) {
                st = nn_fail(err, NN_ERR_RUNTIME, "'%s': %d channels; expected gray or RGB",
                             path, c);
                break;
            }
            uint8_t *dst = x + at * sample;
            if (h != H || w != W) {
                /* converted first (the resize keeps the channels) */
                uint8_t *conv = nn_malloc((size_t)h * w * color_mode, err);
                if (!conv) {
                    st = NN_ERR_RUNTIME;
                    break;
                }
                nn_image_channels(px, (size_t)h * (size_t)w, c, color_mode, conv);
                st = nn_image_fit(conv, h, w, color_mode, crop, dst, H, W, err);
                free(conv);
                if (st)
                    break;
            } else {
                nn_image_channels(px, (size_t)h * (size_t)w, c, color_mode, dst);
            }
            y[at++] = (int32_t)k;
            free(px);
            px = NULL;
        }
        if (!st && alpha)
            fprintf(stderr,
                    "nnctl: note: %s/%s: %zu image%s with an alpha channel; the alpha was "
                    "dropped (RGB kept)\n",
                    root, classes.s[k], alpha, alpha == 1 ? "" : "s");
    }
    free(px);
    if (!st && names) {
        names->names = nn_calloc(classes.n, sizeof *names->names, err);
        if (!names->names) {
            st = NN_ERR_RUNTIME;
        } else {
            for (size_t k = 0; k < classes.n; k++) {
                names->names[k] = classes.s[k];
                classes.s[k] = NULL;
            }
            names->n = (int)classes.n;
        }
    }
    for (size_t k = 0; files && k < classes.n; k++)
        strlist_free(&files[k]);
    free(files);
    size_t n_classes = classes.n;
    strlist_free(&classes);
    if (st) {
        free(x);
        free(y);
        return st;
    }
    out->n = total;
    out->ndim = 3;
    out->shape[0] = H;
    out->shape[1] = W;
    out->shape[2] = color_mode;
    out->sample_size = sample;
    out->u8 = out->owner_u8 = x;
    out->labels = out->owner_labels = y;
    out->scale = 1.0f;
    out->n_classes = (int)n_classes;
    return NN_OK;
}

/* nnctl predict's inputs (see predict_in.h). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/featurewise.h"
#include "cli/predict_in.h"
#include "data/dataset.h"
#include "data/image.h"

static nn_status push(nn_predict_in *in, const uint8_t *sample, nn_error *err)
{
    if (in->n_u8 == in->cap_u8) {
        size_t cap = in->cap_u8 ? in->cap_u8 * 2 : 16;
        uint8_t *d = realloc(in->u8, cap * in->per);
        if (!d)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading inputs");
        in->u8 = d;
        in->cap_u8 = cap;
    }
    memcpy(in->u8 + in->n_u8 * in->per, sample, in->per);
    in->n_u8++;
    return NN_OK;
}

/* The image geometry the model's input implies: (h, w, c). */
static bool input_geometry(const nn_node *in, int *h, int *w, int *c)
{
    if (in->ndim == 3) {
        *h = in->shape[0], *w = in->shape[1], *c = in->shape[2];
        return true;
    }
    if (in->ndim == 2) {
        *h = in->shape[0], *w = in->shape[1], *c = 1;
        return true;
    }
    for (int ch = 1; ch <= 3; ch += 2) {
        int side = (int)lround(sqrt((double)in->size / ch));
        if ((size_t)side * side * ch == in->size) {
            *h = *w = side, *c = ch;
            return true;
        }
    }
    return false;
}

static nn_status read_image_input(const char *path, const nn_node *in,
                                  const nn_predict_in_opts *o, nn_predict_in *out, nn_error *err)
{
    uint8_t *px = NULL, *conv = NULL, *sized = NULL;
    int h, w, c, mh, mw, mc;
    bool alpha = false;
    nn_status st = nn_image_read(path, &px, &h, &w, &c, &alpha, err);
    if (st)
        return st;
    if (!input_geometry(in, &mh, &mw, &mc)) {
        free(px);
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': the model's input (%zu values) is not an image shape", path,
                       in->size);
    }
    if (mc != 1 && mc != 3) { /* images come as gray or RGB */
        free(px);
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': the model takes %d channels per pixel; PNG and JPEG inputs give 1 "
                       "(gray) or 3 (RGB): pass the data as .npy instead",
                       path, mc);
    }
    if (alpha)
        fprintf(stderr, "nnctl: note: '%s': alpha channel dropped\n", path);
    const uint8_t *img = px;
    if (c != mc) {
        if (!(conv = malloc((size_t)h * w * mc))) {
            free(px);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        nn_image_channels(px, (size_t)h * w, c, mc, conv);
        img = conv;
    }
    if (h != mh || w != mw) {
        if (!o->resize && !o->crop) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_USAGE,
                           "'%s' is %dx%d but the model takes %dx%d images (use --resize to "
                           "resize it)",
                           path, w, h, mw, mh);
        }
        if (!(sized = malloc((size_t)mh * mw * mc))) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        if ((st = nn_image_fit(img, h, w, mc, o->crop, sized, mh, mw, err))) {
            free(px), free(conv), free(sized);
            return st;
        }
        img = sized;
    }
    if (o->invert) {
        uint8_t *mut = (uint8_t *)img;
        for (size_t i = 0; i < in->size; i++)
            mut[i] = (uint8_t)(255 - mut[i]);
    }
    st = push(out, img, err);
    free(px);
    free(conv);
    free(sized);
    return st;
}

static nn_status read_idx_input(const char *path, const nn_node *in, bool invert,
                                nn_predict_in *out, nn_error *err)
{
    nn_idx idx;
    nn_status st = nn_idx_read(path, &idx, err);
    if (st)
        return st;
    size_t per = 1;
    for (int d = 1; d < idx.ndim; d++)
        per *= idx.dims[d];
    if (idx.ndim < 2 || per != in->size) {
        free(idx.data);
        return nn_fail(err, NN_ERR_USAGE, "'%s': samples have %zu values but the model takes %zu",
                       path, idx.ndim < 2 ? (size_t)1 : per, in->size);
    }
    for (uint32_t i = 0; !st && i < idx.dims[0]; i++) {
        if (invert)
            for (size_t k = 0; k < per; k++)
                idx.data[i * per + k] = (uint8_t)(255 - idx.data[i * per + k]);
        st = push(out, idx.data + i * per, err);
    }
    free(idx.data);
    return st;
}


/* A .npy input: a batch (N, *input shape) or one sample of the input shape. */
static nn_status read_npy_input(const char *path, const nn_node *in, nn_predict_src *src,
                                nn_error *err)
{
    nn_npy_info info;
    nn_status st = nn_npy_stat(path, &info, err);
    if (st)
        return st;
    bool one = info.ndim == in->ndim, batch = info.ndim == in->ndim + 1;
    for (int d = 0; d < in->ndim; d++) {
        one = one && info.shape[d] == (size_t)in->shape[d];
        batch = batch && info.shape[d + 1] == (size_t)in->shape[d];
    }
    char got[256], want[256], many[256] = "(N";
    size_t dims[NN_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) {
        dims[d] = (size_t)in->shape[d];
        snprintf(many + strlen(many), sizeof many - strlen(many), ", %d", in->shape[d]);
    }
    strcat(many, ")");
    nn_npy_shape_str(info.shape, info.ndim, got, sizeof got);
    nn_npy_shape_str(dims, in->ndim, want, sizeof want);
    if (!one && !batch)
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': shape %s does not fit the model's input %s: expected %s for N "
                       "samples, or %s for one",
                       path, got, want, many, want);
    if (batch && info.shape[0] == 0)
        return nn_fail(err, NN_ERR_USAGE, "'%s': shape %s holds no samples", path, got);
    src->kind = 'n';
    src->whole = one;
    src->n = one ? 1 : info.shape[0];
    return NN_OK;
}

static bool has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && strcasecmp(path + n - k, suffix) == 0;
}

/* PNG, JPEG or .npy by their signatures, or by their names (then that
 * reader says what is wrong with the file); anything else is read as IDX. */
static char input_kind(const char *path)
{
    unsigned char buf[8] = {0};
    if (nn_image_name(path))
        return 'p';
    if (has_suffix(path, ".npy") || has_suffix(path, ".npz"))
        return 'n';
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, 8, f) : 0;
    if (f)
        fclose(f);
    if (nn_image_kind(buf, got))
        return 'p';
    if (got >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        return 'n';
    return 'i';
}


void nn_predict_in_init(nn_predict_in *in, const nn_node *node)
{
    memset(in, 0, sizeof *in);
    in->node = node;
    in->per = node->size;
}

static nn_predict_src *new_src(nn_predict_in *in, const char *path, nn_error *err)
{
    if (in->n_src == in->cap_src) {
        int cap = in->cap_src ? in->cap_src * 2 : 8;
        nn_predict_src *grown = realloc(in->src, sizeof *grown * (size_t)cap);
        if (!grown) {
            nn_fail(err, NN_ERR_RUNTIME, "out of memory reading inputs");
            return NULL;
        }
        in->src = grown;
        in->cap_src = cap;
    }
    nn_predict_src *c = &in->src[in->n_src++];
    *c = (nn_predict_src){.path = path, .kind = 'u', .first = in->n_u8};
    return c;
}

static nn_status add_file(nn_predict_in *in, const char *path, char *own,
                          const nn_predict_in_opts *o, nn_error *err)
{
    nn_predict_src *c = new_src(in, path, err);
    if (!c) {
        free(own);
        return NN_ERR_RUNTIME;
    }
    c->own = own;
    char kind = input_kind(path);
    nn_status st;
    if (kind == 'n') {
        st = read_npy_input(path, in->node, c, err);
    } else {
        st = kind == 'p' ? read_image_input(path, in->node, o, in, err)
                         : read_idx_input(path, in->node, o->invert, in, err);
        c->n = in->n_u8 - c->first;
        c->whole = kind == 'p';
    }
    in->total += c->n;
    return st;
}

static nn_status add_folder(nn_predict_in *in, const char *dir, const nn_predict_in_opts *o,
                            nn_error *err)
{
    char **paths;
    size_t n, i = 0;
    nn_status st = nn_image_files(dir, &paths, &n, err);
    for (; !st && i < n; i++) {
        st = add_file(in, paths[i], paths[i], o, err); /* the source owns it now */
        paths[i] = NULL;
    }
    nn_image_files_free(paths, n);
    return st;
}

nn_status nn_predict_in_add(nn_predict_in *in, const char *path, const nn_predict_in_opts *o,
                            nn_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return add_folder(in, path, o, err);
    return add_file(in, path, NULL, o, err);
}

bool nn_predict_is_h5(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8] = {0};
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, 8, f) : 0;
    if (f)
        fclose(f);
    return got == 8 && memcmp(buf, sig, 8) == 0;
}

/* Input in's dataset of file f: its samples into in->f32. */
static nn_status h5_dataset(nn_predict_in *in, hid_t f, const char *path, nn_error *err)
{
    const nn_node *n = in->node;
    char want[128] = "", many[160];
    for (int d = 0, o = 0; d < n->ndim; d++)
        o += snprintf(want + o, sizeof want - (size_t)o, "%s%d", d ? ", " : "", n->shape[d]);
    snprintf(many, sizeof many, "(N, %s)", want);
    if (H5Lexists(f, n->name, H5P_DEFAULT) <= 0)
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s' has no dataset '%s': it needs one per model input, named after it, "
                       "of shape %s",
                       path, n->name, many);
    hid_t ds = H5Dopen2(f, n->name, H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[H5S_MAX_RANK];
    bool one = rank == n->ndim, batch = rank == n->ndim + 1;
    if (rank >= 0 && rank <= H5S_MAX_RANK)
        H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int d = 0; d < n->ndim && (one || batch); d++) {
        one = one && dims[d] == (hsize_t)n->shape[d];
        batch = batch && dims[d + 1] == (hsize_t)n->shape[d];
    }
    nn_status st = NN_OK;
    size_t rows = one ? 1 : batch ? (size_t)dims[0] : 0;
    if (!one && !batch)
        st = nn_fail(err, NN_ERR_USAGE,
                     "'%s': dataset '%s' does not fit model input '%s': expected shape %s, or "
                     "(%s) for one sample",
                     path, n->name, n->name, many, want);
    float *grown = NULL;
    if (!st && rows) {
        grown = realloc(in->f32, (in->n_f32 + rows) * in->per * sizeof *grown);
        if (!grown)
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory reading '%s'", path);
        else
            in->f32 = grown;
    }
    float *dst = grown ? in->f32 + in->n_f32 * in->per : NULL;
    if (!st && rows && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot read dataset '%s' as numbers", path,
                     n->name);
    for (size_t v = 0; !st && v < rows * in->per; v++)
        if (!isfinite(dst[v]))
            st = nn_fail(err, NN_ERR_USAGE, "'%s': dataset '%s', sample %zu holds %g", path,
                         n->name, v / in->per, (double)dst[v]);
    if (sp >= 0)
        H5Sclose(sp);
    if (ds >= 0)
        H5Dclose(ds);
    if (st)
        return st;
    nn_predict_src *c = new_src(in, path, err);
    if (!c)
        return NN_ERR_USAGE;
    *c = (nn_predict_src){.path = path, .kind = 'f', .whole = one, .first = in->n_f32, .n = rows};
    in->n_f32 += rows;
    in->total += rows;
    return NN_OK;
}

nn_status nn_predict_in_add_h5(nn_predict_in *ins, int n_inputs, const char *path,
                               nn_error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': HDF5 cannot open it", path);
    nn_status st = NN_OK;
    for (int i = 0; !st && i < n_inputs; i++)
        st = h5_dataset(&ins[i], f, path, err);
    H5Fclose(f);
    return st;
}

nn_status nn_predict_in_read(nn_predict_in *in, float *x, size_t k, float scale,
                             nn_row_name *names, nn_error *err)
{
    size_t per = in->per;
    float *first = x;
    size_t rows = k;
    while (k > 0) {
        if (in->at >= in->n_src)
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': fewer samples than the other inputs",
                           in->node->name);
        const nn_predict_src *c = &in->src[in->at];
        size_t take = c->n - in->done < k ? c->n - in->done : k;
        nn_status st = NN_OK;
        if (c->kind == 'n') {
            if (!in->open && !(st = nn_npy_open(c->path, &in->r, err)))
                in->open = true;
            if (!st)
                st = nn_npy_read_f32(&in->r, x, take * per, err);
            for (size_t v = 0; !st && scale != 1.0f && v < take * per; v++)
                x[v] /= scale; /* as the training data were */
        } else if (c->kind == 'f') {
            const float *f = in->f32 + (c->first + in->done) * per;
            for (size_t v = 0; v < take * per; v++)
                x[v] = f[v] / scale;
        } else {
            const uint8_t *u = in->u8 + (c->first + in->done) * per;
            for (size_t v = 0; v < take * per; v++)
                x[v] = u[v] / scale;
        }
        if (st)
            return st;
        for (size_t j = 0; names && j < take; j++)
            names[j] = (nn_row_name){c->path, c->whole ? -1 : (long long)(in->done + j)};
        x += take * per;
        if (names)
            names += take;
        k -= take;
        in->done += take;
        if (in->done == c->n) {
            if (in->open)
                nn_npy_close(&in->r);
            in->open = false;
            in->at++;
            in->done = 0;
        }
    }
    if (in->preprocess) { /* data.preprocess, after the scale as in training */
        int ch = in->node->ndim ? in->node->shape[in->node->ndim - 1] : 1;
        nn_preprocess_apply((nn_preprocess)in->preprocess, first, rows * per / (size_t)ch, ch);
    }
    nn_featurewise_apply(in->featurewise, first, rows, per); /* as in training */
    return NN_OK;
}

void nn_predict_in_free(nn_predict_in *in)
{
    if (in->open)
        nn_npy_close(&in->r);
    for (int i = 0; i < in->n_src; i++)
        free(in->src[i].own);
    free(in->src);
    free(in->u8);
    free(in->f32);
    memset(in, 0, sizeof *in);
}

/* ---- a None (variable) dimension: each .npy file brings its own ---- */

bool nn_predict_in_variable(const nn_node *in)
{
    for (int d = 0; d < in->ndim; d++)
        if (in->shape[d] == 0)
            return true;
    return false;
}

nn_status nn_predict_in_lengths(const nn_node *in, const char *path, int *dims, size_t *rows,
                                nn_error *err)
{
    if (!has_suffix(path, ".npy"))
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': input '%s' has a variable (None) length, which predict takes from "
                       ".npy arrays, shape (N, steps, ...): give one .npy file per length",
                       path, in->name);
    nn_npy_info info;
    nn_status st = nn_npy_stat(path, &info, err);
    if (st)
        return st;
    /* always a batch: one sample of (steps, features) would read as a
     * batch of steps samples */
    bool batch = info.ndim == in->ndim + 1;
    for (int d = 0; d < in->ndim && batch; d++) {
        size_t got = info.shape[d + 1];
        if ((in->shape[d] && got != (size_t)in->shape[d]) || got < 1 || got > (size_t)1 << 30)
            batch = false;
        else
            dims[d] = (int)got;
    }
    if (!batch) {
        char have[256], want[256] = "(N";
        nn_npy_shape_str(info.shape, info.ndim, have, sizeof have);
        for (int d = 0; d < in->ndim; d++) {
            size_t o = strlen(want);
            if (in->shape[d])
                snprintf(want + o, sizeof want - o, ", %d", in->shape[d]);
            else
                snprintf(want + o, sizeof want - o, ", None");
        }
        strcat(want, ")");
        return nn_fail(err, NN_ERR_USAGE, "'%s': shape %s does not fit input '%s' %s (None: any "
                                          "length of at least 1)",
                       path, have, in->name, want);
    }
    *rows = info.shape[0];
    if (*rows == 0)
        return nn_fail(err, NN_ERR_USAGE, "'%s' holds no samples", path);
    return NN_OK;
}

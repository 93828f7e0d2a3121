/* Reading model files (h5file.h): fixed or variable-length strings, any
 * float or integer dataset (converted to float). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/keras/h5_internal.h"
#include "util/fileio.h"

/* ---------- reading ---------- */

typedef struct {
    const char *path;
    nn_error *err;
    const nn_h5_alloc *alloc; /* where float data go; NULL: malloc */
    bool with_optimizer;      /* read /nnctl/optimizer (resuming a run) */
} rctx;

/* Reads a string attribute (fixed or variable length, scalar or 1-element)
 * into a malloc'd string. */
static nn_status read_str_attr(rctx *r, hid_t obj, const char *objname, const char *name,
                               char **out)
{
    *out = NULL;
    hid_t a = -1, ft = -1, mt = -1, s = -1;
    nn_status st = NN_OK;
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' on '%s'", name, objname);
    if ((a = H5Aopen(obj, name, H5P_DEFAULT)) < 0 || (ft = H5Aget_type(a)) < 0 ||
        (s = H5Aget_space(a)) < 0) {
        st = nn_h5__fail(r->err, r->path, what);
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is not a single string", r->path, what);
        goto done;
    }
    H5T_cset_t cset = H5Tget_cset(ft);
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        if ((mt = nn_h5__vlen_str_type(cset)) < 0 || H5Aread(a, mt, &v) < 0) {
            st = nn_h5__fail(r->err, r->path, what);
            goto done;
        }
        *out = nn_strdup(v ? v : "", r->err);
        if (v)
            H5free_memory(v);
        if (!*out)
            st = NN_ERR_RUNTIME;
    } else {
        size_t sz = H5Tget_size(ft);
        char *buf = nn_calloc(sz + 1, 1, r->err);
        if (!buf) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        if ((mt = H5Tcopy(ft)) < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            st = nn_h5__fail(r->err, r->path, what);
            goto done;
        }
        if (H5Tget_strpad(ft) == H5T_STR_SPACEPAD)
            for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
                buf[n - 1] = '\0';
        *out = buf;
    }
done:
    nn_h5__close_id(&s, H5Sclose);
    nn_h5__close_id(&mt, H5Tclose);
    nn_h5__close_id(&ft, H5Tclose);
    nn_h5__close_id(&a, H5Aclose);
    return st;
}

static nn_status read_opt_str_attr(rctx *r, hid_t obj, const char *objname, const char *name,
                                   char **out)
{
    *out = NULL;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return nn_h5__fail(r->err, r->path, "cannot query attributes");
    return ex ? read_str_attr(r, obj, objname, name, out) : NN_OK;
}

typedef struct {
    char **v;
    size_t n, cap;
} strlist;

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static nn_status strlist_push(strlist *l, char *s, nn_error *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading names");
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return NN_OK;
}

/* Appends the strings of one 1-D string attribute (fixed or variable). */
static nn_status read_str_array_attr(rctx *r, hid_t obj, const char *objname, const char *name,
                                     strlist *out)
{
    hid_t a = -1, ft = -1, mt = -1, s = -1;
    nn_status st = NN_OK;
    char what[512];
    snprintf(what, sizeof what, "attribute '%s' on '%s'", name, objname);
    if ((a = H5Aopen(obj, name, H5P_DEFAULT)) < 0 || (ft = H5Aget_type(a)) < 0 ||
        (s = H5Aget_space(a)) < 0) {
        st = nn_h5__fail(r->err, r->path, what);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(s);
    /* An empty list may have any type: h5py stores Keras's `[]` as an empty
     * float64 array. */
    if (np == 0)
        goto done;
    if (H5Tget_class(ft) != H5T_STRING || np < 0) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is not a list of strings", r->path, what);
        goto done;
    }
    size_t n = (size_t)np;
    if (H5Tis_variable_str(ft) > 0) {
        char **v = nn_calloc(n, sizeof *v, r->err);
        if (!v) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        if ((mt = nn_h5__vlen_str_type(H5Tget_cset(ft))) < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            st = nn_h5__fail(r->err, r->path, what);
            goto done;
        }
        for (size_t i = 0; i < n && !st; i++) {
            char *c = nn_strdup(v[i] ? v[i] : "", r->err);
            st = c ? strlist_push(out, c, r->err) : NN_ERR_RUNTIME;
        }
        H5Dvlen_reclaim(mt, s, H5P_DEFAULT, v);
        free(v);
    } else {
        size_t w = H5Tget_size(ft);
        int spacepad = H5Tget_strpad(ft) == H5T_STR_SPACEPAD;
        if (w == 0 || n > SIZE_MAX / w) {
            st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s has a bad size", r->path, what);
            goto done;
        }
        char *buf = nn_malloc(n * w, r->err);
        if (!buf) {
            st = NN_ERR_RUNTIME;
            goto done;
        }
        if ((mt = H5Tcopy(ft)) < 0 || H5Aread(a, mt, buf) < 0) {
            free(buf);
            st = nn_h5__fail(r->err, r->path, what);
            goto done;
        }
        for (size_t i = 0; i < n && !st; i++) {
            const char *p = buf + i * w;
            size_t len = strnlen(p, w);
            if (spacepad)
                while (len > 0 && p[len - 1] == ' ')
                    len--;
            char *c = nn_malloc(len + 1, r->err);
            if (!c) {
                st = NN_ERR_RUNTIME;
                break;
            }
            memcpy(c, p, len);
            c[len] = '\0';
            st = strlist_push(out, c, r->err);
        }
        free(buf);
    }
done:
    nn_h5__close_id(&s, H5Sclose);
    nn_h5__close_id(&mt, H5Tclose);
    nn_h5__close_id(&ft, H5Tclose);
    nn_h5__close_id(&a, H5Aclose);
    return st;
}

/* Keras's load_attributes_from_hdf5_group: `name`, or `name0`, `name1`, ...
 * *found is set to whether any of them exist. */
static nn_status read_name_list(rctx *r, hid_t obj, const char *objname, const char *name,
                                strlist *out, int *found)
{
    *found = 0;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return nn_h5__fail(r->err, r->path, "cannot query attributes");
    if (ex) {
        *found = 1;
        return read_str_array_attr(r, obj, objname, name, out);
    }
    for (size_t c = 0;; c++) {
        char an[256];
        snprintf(an, sizeof an, "%s%zu", name, c);
        ex = H5Aexists(obj, an);
        if (ex < 0)
            return nn_h5__fail(r->err, r->path, "cannot query attributes");
        if (!ex)
            return NN_OK;
        *found = 1;
        nn_status st = read_str_array_attr(r, obj, objname, an, out);
        if (st)
            return st;
    }
}

/* The n floats of ds lie in one run of the file, as the host's float32
 * (contiguous, unfiltered, not external, allocated): *offset, from the
 * file's first byte (H5Dget_offset counts any user block). */
static bool plain_in_file(hid_t ds, hid_t t, size_t n, uint64_t *offset)
{
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    (void)ds, (void)t, (void)n, (void)offset;
    return false;
#else
    if (n == 0 || H5Tequal(t, H5T_IEEE_F32LE) <= 0)
        return false;
    hid_t pl = H5Dget_create_plist(ds);
    if (pl < 0)
        return false;
    bool plain = H5Pget_layout(pl) == H5D_CONTIGUOUS && H5Pget_nfilters(pl) == 0 &&
                 H5Pget_external_count(pl) == 0;
    H5Pclose(pl);
    if (!plain)
        return false;
    haddr_t at = H5Dget_offset(ds);
    if (at == HADDR_UNDEF || H5Dget_storage_size(ds) != (hsize_t)n * sizeof(float))
        return false;
    *offset = (uint64_t)at;
    return true;
#endif
}

/* Reads dataset `name` under grp into a (whose name is already set). */
static nn_status read_array(rctx *r, hid_t grp, const char *where, nn_h5_array *a)
{
    hid_t ds = -1, t = -1, s = -1;
    nn_status st = NN_OK;
    char what[768];
    if (!nn_rel_path_ok(a->name)) {
        return nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s: invalid weight name '%s'", r->path,
                       where, a->name);
    }
    if ((ds = H5Dopen2(grp, a->name, H5P_DEFAULT)) < 0) {
        snprintf(what, sizeof what, "%s: weight '%s' is listed but has no dataset", where,
                 a->name);
        st = nn_h5__fail(r->err, r->path, what);
        goto done;
    }
    snprintf(what, sizeof what, "%s: weight '%s'", where, a->name);
    if ((t = H5Dget_type(ds)) < 0 || (s = H5Dget_space(ds)) < 0) {
        st = nn_h5__fail(r->err, r->path, what);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(t);
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is not a numeric dataset", r->path, what);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(s);
    int nd = sc == H5S_SCALAR ? 0 : H5Sget_simple_extent_ndims(s);
    if (sc == H5S_NULL || nd < 0 || nd > NN_H5_MAX_DIMS) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s has %d dimensions (at most %d)", r->path,
                     what, nd, NN_H5_MAX_DIMS);
        goto done;
    }
    hsize_t dims[NN_H5_MAX_DIMS];
    if (nd > 0 && H5Sget_simple_extent_dims(s, dims, NULL) < 0) {
        st = nn_h5__fail(r->err, r->path, what);
        goto done;
    }
    size_t n = 1;
    for (int d = 0; d < nd; d++) {
        if (dims[d] > H5_MAX_ELEMS || (dims[d] && n > H5_MAX_ELEMS / dims[d])) {
            st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is absurdly large", r->path, what);
            goto done;
        }
        n *= (size_t)dims[d];
        a->dims[d] = (size_t)dims[d];
    }
    if (n > H5_MAX_ELEMS) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is absurdly large (%zu elements)",
                     r->path, what, n);
        goto done;
    }
    a->ndim = nd;
    if (r->alloc && r->alloc->leave_plain_in_file && plain_in_file(ds, t, n, &a->file_offset)) {
        a->in_file = a->in_arena = true;
        goto done;
    }
    a->data = r->alloc ? r->alloc->fn(r->alloc->ctx, n, r->err)
                       : nn_malloc(n * sizeof(float), r->err);
    a->in_arena = r->alloc != NULL;
    if (!a->data) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    if (n > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0) {
        char w2[800];
        snprintf(w2, sizeof w2, "%s: cannot read as float32", what);
        st = nn_h5__fail(r->err, r->path, w2);
    }
done:
    nn_h5__close_id(&s, H5Sclose);
    nn_h5__close_id(&t, H5Tclose);
    nn_h5__close_id(&ds, H5Dclose);
    return st;
}

/* Reads names (moved into arrays: the list is emptied) and their datasets
 * under grp. */
static nn_status read_arrays(rctx *r, hid_t grp, const char *where, strlist *names,
                             nn_h5_array **out, int *nout)
{
    if (names->n > INT32_MAX)
        return nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s: too many weights", r->path, where);
    *out = nn_calloc(names->n, sizeof **out, r->err);
    if (!*out)
        return NN_ERR_RUNTIME;
    *nout = (int)names->n;
    for (size_t i = 0; i < names->n; i++) {
        (*out)[i].name = names->v[i];
        names->v[i] = NULL;
    }
    for (int i = 0; i < *nout; i++) {
        nn_status st = read_array(r, grp, where, &(*out)[i]);
        if (st)
            return st;
    }
    return NN_OK;
}

static nn_status read_layers(rctx *r, hid_t f, nn_h5_model *m)
{
    hid_t mw = -1, g = -1;
    strlist names = {0}, wn = {0};
    nn_status st = NN_OK;
    htri_t ex = m->weights_only ? 1 : H5Lexists(f, "model_weights", H5P_DEFAULT);
    const char *mwpath = m->weights_only ? "/" : "/model_weights";
    if (ex <= 0) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': Keras model file without a model_weights group",
                     r->path);
        goto done;
    }
    if ((mw = H5Gopen2(f, m->weights_only ? "/" : "model_weights", H5P_DEFAULT)) < 0) {
        st = nn_h5__fail(r->err, r->path, "cannot open group '/model_weights'");
        goto done;
    }
    int found;
    if ((st = read_name_list(r, mw, mwpath, "layer_names", &names, &found)))
        goto done;
    if (!found) {
        st = nn_fail(r->err, NN_ERR_RUNTIME,
                     "'%s': group /model_weights has no layer_names attribute", r->path);
        goto done;
    }
    if (names.n > INT32_MAX) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': too many layers", r->path);
        goto done;
    }
    if (!(m->layers = nn_calloc(names.n, sizeof *m->layers, r->err))) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    m->n_layers = (int)names.n;
    for (size_t i = 0; i < names.n; i++) {
        m->layers[i].name = names.v[i];
        names.v[i] = NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        nn_h5_layer *L = &m->layers[i];
        char where[512], gpath[512];
        snprintf(where, sizeof where, "layer '%s'", L->name);
        snprintf(gpath, sizeof gpath, "%s/%s", m->weights_only ? "" : "/model_weights", L->name);
        ex = nn_rel_path_ok(L->name) ? H5Lexists(mw, L->name, H5P_DEFAULT) : 0;
        if (ex <= 0 || (g = H5Gopen2(mw, L->name, H5P_DEFAULT)) < 0) {
            st = nn_fail(r->err, NN_ERR_RUNTIME,
                         "'%s': layer '%s' is listed in layer_names but has no group in "
                         "/model_weights",
                         r->path, L->name);
            goto done;
        }
        if ((st = read_name_list(r, g, gpath, "weight_names", &wn, &found)))
            goto done;
        if ((st = read_arrays(r, g, where, &wn, &L->weights, &L->n_weights)))
            goto done;
        strlist_free(&wn);
        nn_h5__close_id(&g, H5Gclose);
    }
done:
    strlist_free(&names);
    strlist_free(&wn);
    nn_h5__close_id(&g, H5Gclose);
    nn_h5__close_id(&mw, H5Gclose);
    return st;
}

static nn_status read_nnctl(rctx *r, hid_t f, nn_h5_model *m)
{
    htri_t ex = H5Lexists(f, "nnctl", H5P_DEFAULT);
    if (ex <= 0)
        return NN_OK;
    hid_t g = -1, og = -1, a = -1;
    strlist names = {0};
    nn_status st = NN_OK;
    if ((g = H5Gopen2(f, "nnctl", H5P_DEFAULT)) < 0) {
        st = nn_h5__fail(r->err, r->path, "cannot open group '/nnctl'");
        goto done;
    }
    if ((ex = H5Aexists(g, "format_version")) > 0) {
        long long v = 0;
        if ((a = H5Aopen(g, "format_version", H5P_DEFAULT)) < 0 ||
            H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) {
            st = nn_h5__fail(r->err, r->path, "cannot read /nnctl attribute 'format_version'");
            goto done;
        }
        if (v > NNCTL_FORMAT_VERSION || v < 1) {
            st = nn_fail(r->err, NN_ERR_RUNTIME,
                         "'%s': nnctl format_version %lld is not supported (this nnctl reads "
                         "up to %d)",
                         r->path, v, NNCTL_FORMAT_VERSION);
            goto done;
        }
    }
    if ((st = read_opt_str_attr(r, g, "/nnctl", "spec", &m->nnctl_spec)) ||
        (st = read_opt_str_attr(r, g, "/nnctl", "spec_dir", &m->nnctl_spec_dir)) ||
        (st = read_opt_str_attr(r, g, "/nnctl", "class_names", &m->nnctl_class_names)) ||
        (st = read_opt_str_attr(r, g, "/nnctl", "preprocess", &m->nnctl_preprocess)) ||
        (st = read_opt_str_attr(r, g, "/nnctl", "state", &m->nnctl_state)))
        goto done;
    if (!r->with_optimizer || H5Lexists(g, "optimizer", H5P_DEFAULT) <= 0)
        goto done;
    if ((og = H5Gopen2(g, "optimizer", H5P_DEFAULT)) < 0) {
        st = nn_h5__fail(r->err, r->path, "cannot open group '/nnctl/optimizer'");
        goto done;
    }
    int found;
    if ((st = read_name_list(r, og, "/nnctl/optimizer", "names", &names, &found)))
        goto done;
    st = read_arrays(r, og, "optimizer", &names, &m->optimizer, &m->n_optimizer);
done:
    strlist_free(&names);
    nn_h5__close_id(&a, H5Aclose);
    nn_h5__close_id(&og, H5Gclose);
    nn_h5__close_id(&g, H5Gclose);
    return st;
}

/* A zip file (what Keras 3 writes for model.save("x.keras")) by its first
 * local-file signature. */
static bool zip_archive(const char *path)
{
    unsigned char sig[4];
    FILE *f = fopen(path, "rb");
    bool zip = f && fread(sig, 1, 4, f) == 4 && !memcmp(sig, "PK\x03\x04", 4);
    if (f)
        fclose(f);
    return zip;
}

static void forget_arrays(nn_h5_array *a, int n)
{
    for (int i = 0; a && i < n; i++)
        a[i].data = NULL;
}

static void forget_data(nn_h5_model *m)
{
    for (int i = 0; m->layers && i < m->n_layers; i++)
        forget_arrays(m->layers[i].weights, m->layers[i].n_weights);
    forget_arrays(m->optimizer, m->n_optimizer);
}

nn_status nn_h5__read(const char *path, nn_h5_model *m, const nn_h5_alloc *alloc,
                      bool with_optimizer, nn_error *err)
{
    if (!m)
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: no model");
    memset(m, 0, sizeof *m);
    if (!path || !path[0])
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: empty path");
    nn_h5__quiet_hdf5();

    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, strerror(errno));
    struct stat sb;
    int isdir = fstat(fd, &sb) == 0 && S_ISDIR(sb.st_mode);
    close(fd);
    if (isdir)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': is a directory, not a model file", path);

    htri_t is = H5Fis_hdf5(path);
    if (is == 0 && zip_archive(path))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': a zip archive (Keras 3's .keras format?), not an HDF5 file: save the "
                       "model with model.save(\"x.h5\") for nnctl",
                       path);
    if (is == 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': not an HDF5 file", path);
    if (is < 0)
        return nn_h5__fail(err, path, "cannot open as HDF5 (truncated or corrupt?)");

    rctx r = {path, err, alloc, with_optimizer};
    nn_status st = NN_OK;
    hid_t fapl = -1, f = -1;
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        st = nn_h5__fail(err, path, "cannot set up HDF5 property lists");
        goto done;
    }
    if ((f = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0) {
        st = nn_h5__fail(err, path, "cannot open as HDF5 (truncated or corrupt?)");
        goto done;
    }
    htri_t ex = H5Aexists(f, "model_config");
    if (ex < 0) {
        st = nn_h5__fail(err, path, "cannot read root attributes (truncated or corrupt?)");
        goto done;
    }
    if (!ex) {
        /* Keras's save_weights files carry layer_names on the root instead */
        if (H5Aexists(f, "layer_names") <= 0 && H5Aexists(f, "layer_names0") <= 0) {
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "'%s': HDF5 file without a model_config attribute: not a Keras model "
                         "file",
                         path);
            goto done;
        }
        m->weights_only = true;
    }
    if ((!m->weights_only && (st = read_str_attr(&r, f, "/", "model_config", &m->model_config))) ||
        (st = read_opt_str_attr(&r, f, "/", "training_config", &m->training_config)) ||
        (st = read_opt_str_attr(&r, f, "/", "keras_version", &m->keras_version)) ||
        (st = read_opt_str_attr(&r, f, "/", "backend", &m->backend)))
        goto done;
    if ((st = read_layers(&r, f, m)))
        goto done;
    st = read_nnctl(&r, f, m);
done:
    if (f >= 0 && H5Fclose(f) < 0 && !st)
        st = nn_h5__fail(err, path, "error closing HDF5 file");
    nn_h5__close_id(&fapl, H5Pclose);
    if (st && alloc)
        forget_data(m); /* the allocator's, not malloc's */
    if (st)
        nn_h5_model_free(m);
    return st;
}

nn_status nn_h5_load_in_process(const char *path, nn_h5_model *m, nn_error *err)
{
    return nn_h5__read(path, m, NULL, true, err);
}

/* An array's data is its own unless it lies in the model's arena (an
 * importer may replace arena arrays by ones it allocated). */
static void free_arrays(nn_h5_array *a, int n)
{
    if (!a)
        return;
    for (int i = 0; i < n; i++) {
        free(a[i].name);
        if (!a[i].in_arena)
            free(a[i].data);
    }
    free(a);
}

void nn_h5_model_free(nn_h5_model *m)
{
    if (!m)
        return;
    free(m->model_config);
    free(m->training_config);
    free(m->keras_version);
    free(m->backend);
    if (m->layers) {
        for (int i = 0; i < m->n_layers; i++) {
            free(m->layers[i].name);
            free_arrays(m->layers[i].weights, m->layers[i].n_weights);
        }
        free(m->layers);
    }
    free(m->nnctl_spec);
    free(m->nnctl_spec_dir);
    free(m->nnctl_class_names);
    free(m->nnctl_preprocess);
    free(m->nnctl_state);
    free_arrays(m->optimizer, m->n_optimizer);
    if (m->arena)
        nn_h5__arena_release(m->arena, m->arena_len);
    memset(m, 0, sizeof *m);
}

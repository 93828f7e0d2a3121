/* Writing model files (h5file.h): each type as Keras writes it (h5file.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/keras/h5_internal.h"
#include "util/fileio.h"

/* ---------- writing ---------- */

typedef struct {
    const char *path; /* final path, for messages */
    hid_t lcpl;       /* link creation: intermediate groups */
    nn_error *err;
} wctx;

static nn_status write_vlen_attr(wctx *w, hid_t obj, const char *objname,
                                 const char *name, const char *value)
{
    hid_t t = nn_h5__vlen_str_type(H5T_CSET_UTF8), s = -1, a = -1;
    nn_status st = NN_OK;
    if (t < 0 || (s = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot write attribute '%s' on '%s'", name, objname);
        st = nn_h5__fail(w->err, w->path, what);
    }
    nn_h5__close_id(&a, H5Aclose);
    nn_h5__close_id(&s, H5Sclose);
    nn_h5__close_id(&t, H5Tclose);
    return st;
}

static nn_status write_int_attr(wctx *w, hid_t obj, const char *objname,
                                const char *name, int64_t value)
{
    hid_t s = -1, a = -1;
    nn_status st = NN_OK;
    if ((s = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, H5T_NATIVE_INT64, &value) < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot write attribute '%s' on '%s'", name, objname);
        st = nn_h5__fail(w->err, w->path, what);
    }
    nn_h5__close_id(&a, H5Aclose);
    nn_h5__close_id(&s, H5Sclose);
    return st;
}

/* One 1-D fixed-length string attribute holding names[0..n). */
static nn_status write_fixed_strs(wctx *w, hid_t obj, const char *objname,
                                  const char *attr, const char *const *names,
                                  size_t n, size_t width)
{
    hid_t t = -1, s = -1, a = -1;
    nn_status st = NN_OK;
    char *buf = nn_calloc(n ? n : 1, width, w->err);
    if (!buf)
        return NN_ERR_RUNTIME;
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * width, names[i], strlen(names[i]));
    hsize_t dim = n;
    if ((t = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_size(t, width) < 0 ||
        H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 || H5Tset_cset(t, H5T_CSET_ASCII) < 0 ||
        (s = H5Screate_simple(1, &dim, NULL)) < 0 ||
        (a = H5Acreate2(obj, attr, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, buf) < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot write attribute '%s' on '%s'", attr, objname);
        st = nn_h5__fail(w->err, w->path, what);
    }
    nn_h5__close_id(&a, H5Aclose);
    nn_h5__close_id(&s, H5Sclose);
    nn_h5__close_id(&t, H5Tclose);
    free(buf);
    return st;
}

/* Keras's save_attributes_to_hdf5_group: one attribute `attr` if it fits in
 * 64512 bytes, else `attr0`, `attr1`, ... split like np.array_split (the
 * first n % k chunks get one extra element; all share the full width). */
static nn_status write_name_list(wctx *w, hid_t obj, const char *objname,
                                 const char *attr, const char *const *names, size_t n)
{
    size_t width = 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (len > H5_ATTR_LIMIT)
            return nn_fail(w->err, NN_ERR_RUNTIME,
                           "'%s': name of %zu bytes in '%s' attribute '%s' is longer than "
                           "HDF5's %d-byte attribute limit",
                           w->path, len, objname, attr, H5_ATTR_LIMIT);
        if (len > width)
            width = len;
    }
    size_t k = 1;
    while (((n + k - 1) / k) * width > H5_ATTR_LIMIT)
        k++;
    if (k == 1)
        return write_fixed_strs(w, obj, objname, attr, names, n, width);
    size_t start = 0;
    for (size_t c = 0; c < k; c++) {
        size_t cnt = n / k + (c < n % k ? 1 : 0);
        char an[256];
        snprintf(an, sizeof an, "%s%zu", attr, c);
        nn_status st = write_fixed_strs(w, obj, objname, an, names + start, cnt, width);
        if (st)
            return st;
        start += cnt;
    }
    return NN_OK;
}

static nn_status check_array(wctx *w, const char *where, const nn_h5_array *a)
{
    if (!a->name || !nn_rel_path_ok(a->name))
        return nn_fail(w->err, NN_ERR_RUNTIME,
                       "'%s': %s: invalid weight name '%s' (must be a nonempty relative path)",
                       w->path, where, a->name ? a->name : "(null)");
    if (a->ndim < 0 || a->ndim > NN_H5_MAX_DIMS)
        return nn_fail(w->err, NN_ERR_RUNTIME, "'%s': %s: weight '%s' has %d dimensions (0..%d)",
                       w->path, where, a->name, a->ndim, NN_H5_MAX_DIMS);
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        n *= a->dims[d];
    if (n > 0 && !a->data)
        return nn_fail(w->err, NN_ERR_RUNTIME, "'%s': %s: weight '%s' has no data", w->path,
                       where, a->name);
    return NN_OK;
}

static nn_status write_array(wctx *w, hid_t grp, const char *where, const nn_h5_array *a)
{
    nn_status st = check_array(w, where, a);
    if (st)
        return st;
    hsize_t dims[NN_H5_MAX_DIMS];
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        dims[d] = a->dims[d];
        n *= a->dims[d];
    }
    hid_t s = -1, ds = -1;
    s = a->ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(a->ndim, dims, NULL);
    if (s < 0 ||
        (ds = H5Dcreate2(grp, a->name, H5T_IEEE_F32LE, s, w->lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (n > 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0)) {
        char what[768];
        snprintf(what, sizeof what, "%s: cannot write dataset '%s'%s", where, a->name,
                 ds < 0 && s >= 0 ? " (duplicate name?)" : "");
        st = nn_h5__fail(w->err, w->path, what);
    }
    nn_h5__close_id(&ds, H5Dclose);
    nn_h5__close_id(&s, H5Sclose);
    return st;
}

static nn_status write_layer(wctx *w, hid_t mw, const nn_h5_layer *L)
{
    if (!L->name || !nn_rel_path_ok(L->name))
        return nn_fail(w->err, NN_ERR_RUNTIME,
                       "'%s': invalid layer name '%s' (nonempty; '/' only between parts)",
                       w->path, L->name ? L->name : "(null)");
    if (L->n_weights < 0 || (L->n_weights > 0 && !L->weights))
        return nn_fail(w->err, NN_ERR_RUNTIME, "'%s': layer '%s': bad weight list", w->path,
                       L->name);
    char where[512], gpath[512];
    snprintf(where, sizeof where, "layer '%s'", L->name);
    snprintf(gpath, sizeof gpath, "/model_weights/%s", L->name);
    /* a name with '/' (Keras's conv1/conv) is a group inside a group */
    hid_t g = H5Gcreate2(mw, L->name, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        char what[600];
        snprintf(what, sizeof what, "cannot create group for %s (duplicate layer name?)", where);
        return nn_h5__fail(w->err, w->path, what);
    }
    nn_status st = NN_OK;
    const char **names = nn_calloc((size_t)L->n_weights + 1, sizeof *names, w->err);
    if (!names)
        st = NN_ERR_RUNTIME;
    for (int i = 0; !st && i < L->n_weights; i++) {
        st = write_array(w, g, where, &L->weights[i]);
        names[i] = L->weights[i].name;
    }
    if (!st)
        st = write_name_list(w, g, gpath, "weight_names", names, (size_t)L->n_weights);
    free(names);
    H5Gclose(g);
    return st;
}

static nn_status write_nnctl(wctx *w, hid_t f, const nn_h5_model *m)
{
    hid_t g = H5Gcreate2(f, "nnctl", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), og = -1;
    if (g < 0)
        return nn_h5__fail(w->err, w->path, "cannot create group '/nnctl'");
    nn_status st = NN_OK;
    const char **names = NULL;
    if (m->nnctl_spec)
        st = write_vlen_attr(w, g, "/nnctl", "spec", m->nnctl_spec);
    if (!st && m->nnctl_spec_dir)
        st = write_vlen_attr(w, g, "/nnctl", "spec_dir", m->nnctl_spec_dir);
    if (!st && m->nnctl_class_names)
        st = write_vlen_attr(w, g, "/nnctl", "class_names", m->nnctl_class_names);
    if (!st && m->nnctl_preprocess)
        st = write_vlen_attr(w, g, "/nnctl", "preprocess", m->nnctl_preprocess);
    if (!st && m->nnctl_state)
        st = write_vlen_attr(w, g, "/nnctl", "state", m->nnctl_state);
    if (!st)
        st = write_int_attr(w, g, "/nnctl", "format_version", NNCTL_FORMAT_VERSION);
    if (!st && (m->n_optimizer < 0 || (m->n_optimizer > 0 && !m->optimizer)))
        st = nn_fail(w->err, NN_ERR_RUNTIME, "'%s': bad optimizer array list", w->path);
    if (!st && (og = H5Gcreate2(g, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        st = nn_h5__fail(w->err, w->path, "cannot create group '/nnctl/optimizer'");
    if (!st && !(names = nn_calloc((size_t)m->n_optimizer + 1, sizeof *names, w->err)))
        st = NN_ERR_RUNTIME;
    for (int i = 0; !st && i < m->n_optimizer; i++) {
        st = write_array(w, og, "optimizer", &m->optimizer[i]);
        names[i] = m->optimizer[i].name;
    }
    if (!st)
        st = write_name_list(w, og, "/nnctl/optimizer", "names", names, (size_t)m->n_optimizer);
    free(names);
    nn_h5__close_id(&og, H5Gclose);
    H5Gclose(g);
    return st;
}

static nn_status write_model(wctx *w, hid_t f, const nn_h5_model *m)
{
    const char *kv = m->keras_version ? m->keras_version : "2.15.0";
    const char *be = m->backend ? m->backend : "tensorflow";
    nn_status st = NN_OK;
    if (!m->weights_only)
        st = write_vlen_attr(w, f, "/", "model_config", m->model_config);
    if (!st && m->training_config && !m->weights_only)
        st = write_vlen_attr(w, f, "/", "training_config", m->training_config);
    if (!st)
        st = write_vlen_attr(w, f, "/", "keras_version", kv);
    if (!st)
        st = write_vlen_attr(w, f, "/", "backend", be);
    if (st)
        return st;
    if (m->n_layers < 0 || (m->n_layers > 0 && !m->layers))
        return nn_fail(w->err, NN_ERR_RUNTIME, "'%s': bad layer list", w->path);

    /* weights-only files keep the layer groups at the root, as Keras's
     * save_weights does */
    const char *mwpath = m->weights_only ? "/" : "/model_weights";
    hid_t mw = m->weights_only ? H5Gopen2(f, "/", H5P_DEFAULT)
                               : H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT,
                                            H5P_DEFAULT);
    if (mw < 0)
        return nn_h5__fail(w->err, w->path, "cannot create group '/model_weights'");
    const char **names = nn_calloc((size_t)m->n_layers + 1, sizeof *names, w->err);
    if (!names)
        st = NN_ERR_RUNTIME;
    for (int i = 0; !st && i < m->n_layers; i++) {
        st = write_layer(w, mw, &m->layers[i]);
        names[i] = m->layers[i].name;
    }
    if (!st)
        st = write_name_list(w, mw, mwpath, "layer_names", names, (size_t)m->n_layers);
    if (!st && !m->weights_only)
        st = write_vlen_attr(w, mw, mwpath, "backend", be);
    if (!st && !m->weights_only)
        st = write_vlen_attr(w, mw, mwpath, "keras_version", kv);
    free(names);
    H5Gclose(mw);
    if (!st)
        st = write_nnctl(w, f, m);
    return st;
}

static nn_status fsync_path(const char *p, int dir, const char *path, nn_error *err)
{
    int fd = open(p, O_RDONLY | (dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot open '%s' to sync it: %s", path, p,
                       strerror(errno));
    int rc = fsync(fd), e = errno;
    close(fd);
    /* Some filesystems cannot fsync a directory; nothing more to do there. */
    if (rc < 0 && !(dir && (e == EINVAL || e == ENOTSUP || e == EBADF)))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': fsync of '%s' failed: %s", path, p,
                       strerror(e));
    return NN_OK;
}

void nn_h5_library_init(void)
{
    /* HDF5 flushes and closes files still open from an exit handler; after
     * a failed close (disk full) that handler crashed. Our files are all
     * closed explicitly, so the handler has nothing to do. */
    H5dont_atexit();
}

nn_status nn_h5_save(const char *path, const nn_h5_model *m, nn_error *err)
{
    if (!path || !path[0])
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 save: empty path");
    if (!m || (!m->model_config && !m->weights_only))
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot save a model without model_config",
                       path);
    nn_h5__quiet_hdf5();

    size_t tlen = strlen(path) + 32;
    char *tmp = nn_malloc(tlen, err);
    if (!tmp)
        return NN_ERR_RUNTIME;
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    /* Create the temp file ourselves first: clean errno messages for a
     * missing or unwritable directory. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        nn_status st = nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot create temporary file '%s': %s",
                               path, tmp, strerror(errno));
        free(tmp);
        return st;
    }
    close(fd);

    nn_status st = NN_OK;
    wctx w = {path, -1, err};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 ||
        (w.lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
        H5Pset_create_intermediate_group(w.lcpl, 1) < 0)
        st = nn_h5__fail(err, path, "cannot set up HDF5 property lists");
    if (!st && (f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        st = nn_h5__fail(err, path, "cannot create HDF5 file");
    if (!st)
        st = write_model(&w, f, m);
    if (f >= 0) {
        herr_t rc = H5Fclose(f);
        f = -1;
        if (rc < 0 && !st)
            st = nn_h5__fail(err, path, "error closing HDF5 file (disk full?)");
    }
    nn_h5__close_id(&w.lcpl, H5Pclose);
    nn_h5__close_id(&fapl, H5Pclose);

    if (!st)
        st = fsync_path(tmp, 0, path, err);
    if (!st && rename(tmp, path) < 0)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot rename '%s' over it: %s", path, tmp,
                     strerror(errno));
    if (st) {
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);

    /* Make the rename durable: fsync the containing directory. */
    char *dir = nn_strdup(path, err);
    if (!dir)
        return NN_ERR_RUNTIME;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir)
        d = "/";
    else if (slash) {
        *slash = '\0';
        d = dir;
    }
    st = fsync_path(d, 1, path, err);
    free(dir);
    return st;
}

/* Model files in Keras's legacy HDF5 layout; see h5file.h for the layout.
 *
 * Types follow what Keras 2's hdf5_format.py / legacy_h5_format.py produce
 * through h5py:
 *   - scalar string attrs (model_config, training_config, keras_version,
 *     backend, nnctl spec/state): variable-length UTF-8, scalar dataspace
 *     (what h5py writes for a Python str);
 *   - name lists (layer_names, weight_names, nnctl optimizer names): 1-D
 *     fixed-length, NUL-padded ASCII strings (numpy 'S' dtype), split into
 *     name0, name1, ... like np.array_split when larger than 64512 bytes;
 *   - weights: float32 little-endian datasets.
 * Reading accepts fixed or variable-length strings and any float/integer
 * dataset (converted to float). */
#include "io/keras/h5file.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keras's HDF5_OBJECT_HEADER_LIMIT: name lists above this are split. */
#define H5_ATTR_LIMIT 64512
/* Refuse datasets above this many elements (16 GiB of float32). */
#define H5_MAX_ELEMS ((size_t)1 << 32)
#define NNCTL_FORMAT_VERSION 1

/* ---------- small helpers ---------- */

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

static void quiet_hdf5(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* The innermost message on HDF5's error stack (where the error was first
 * detected), e.g. "truncated file: eof = ...". Must be called right after
 * the failing HDF5 call. */
static herr_t first_err_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    char *out = data;
    if (n == 0 && e && e->desc && e->desc[0])
        snprintf(out, 256, "%s", e->desc);
    return 0;
}

static const char *h5_detail(char buf[256])
{
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_err_cb, buf);
    return buf;
}

/* "'path': <what>" plus ": <hdf5 detail>" when HDF5 gave one. */
static nn_status h5_fail(nn_error *err, const char *path, const char *what)
{
    char d[256];
    h5_detail(d);
    /* HDF5's I/O messages carry a timestamp, pointers and byte counts; the
     * part a person needs is the system's own message */
    char *msg = strstr(d, "error message = '");
    if (msg) {
        msg += strlen("error message = '");
        char *end = strchr(msg, '\'');
        if (end)
            *end = '\0';
        memmove(d, msg, strlen(msg) + 1);
    } else {
        char *nl = strchr(d, '\n');
        if (nl)
            *nl = '\0';
    }
    if (d[0])
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s: %s", path, what, d);
    return nn_fail(err, NN_ERR_RUNTIME, "'%s': %s", path, what);
}

static hid_t vlen_str_type(H5T_cset_t cset)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, cset) < 0 ||
        H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* A path inside a group: nonempty, relative, no empty / "." / ".."
 * components (HDF5 would resolve those somewhere else). */
static int valid_rel_path(const char *s)
{
    if (!s || !s[0] || s[0] == '/')
        return 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0)
            return 0;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (!e)
            return 1;
        p = e + 1;
    }
}

/* ---------- writing ---------- */

typedef struct {
    const char *path; /* final path, for messages */
    hid_t lcpl;       /* link creation: intermediate groups */
    nn_error *err;
} wctx;

static nn_status write_vlen_attr(wctx *w, hid_t obj, const char *objname,
                                 const char *name, const char *value)
{
    hid_t t = vlen_str_type(H5T_CSET_UTF8), s = -1, a = -1;
    nn_status st = NN_OK;
    if (t < 0 || (s = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, t, &value) < 0) {
        char what[512];
        snprintf(what, sizeof what, "cannot write attribute '%s' on '%s'", name, objname);
        st = h5_fail(w->err, w->path, what);
    }
    close_id(&a, H5Aclose);
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
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
        st = h5_fail(w->err, w->path, what);
    }
    close_id(&a, H5Aclose);
    close_id(&s, H5Sclose);
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
        st = h5_fail(w->err, w->path, what);
    }
    close_id(&a, H5Aclose);
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
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
    if (!a->name || !valid_rel_path(a->name))
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
        st = h5_fail(w->err, w->path, what);
    }
    close_id(&ds, H5Dclose);
    close_id(&s, H5Sclose);
    return st;
}

static nn_status write_layer(wctx *w, hid_t mw, const nn_h5_layer *L)
{
    if (!L->name || !L->name[0] || strchr(L->name, '/') || !strcmp(L->name, ".") ||
        !strcmp(L->name, ".."))
        return nn_fail(w->err, NN_ERR_RUNTIME,
                       "'%s': invalid layer name '%s' (nonempty, no '/')", w->path,
                       L->name ? L->name : "(null)");
    if (L->n_weights < 0 || (L->n_weights > 0 && !L->weights))
        return nn_fail(w->err, NN_ERR_RUNTIME, "'%s': layer '%s': bad weight list", w->path,
                       L->name);
    char where[512], gpath[512];
    snprintf(where, sizeof where, "layer '%s'", L->name);
    snprintf(gpath, sizeof gpath, "/model_weights/%s", L->name);
    hid_t g = H5Gcreate2(mw, L->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        char what[600];
        snprintf(what, sizeof what, "cannot create group for %s (duplicate layer name?)", where);
        return h5_fail(w->err, w->path, what);
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
        return h5_fail(w->err, w->path, "cannot create group '/nnctl'");
    nn_status st = NN_OK;
    const char **names = NULL;
    if (m->nnctl_spec)
        st = write_vlen_attr(w, g, "/nnctl", "spec", m->nnctl_spec);
    if (!st && m->nnctl_state)
        st = write_vlen_attr(w, g, "/nnctl", "state", m->nnctl_state);
    if (!st)
        st = write_int_attr(w, g, "/nnctl", "format_version", NNCTL_FORMAT_VERSION);
    if (!st && (m->n_optimizer < 0 || (m->n_optimizer > 0 && !m->optimizer)))
        st = nn_fail(w->err, NN_ERR_RUNTIME, "'%s': bad optimizer array list", w->path);
    if (!st && (og = H5Gcreate2(g, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        st = h5_fail(w->err, w->path, "cannot create group '/nnctl/optimizer'");
    if (!st && !(names = nn_calloc((size_t)m->n_optimizer + 1, sizeof *names, w->err)))
        st = NN_ERR_RUNTIME;
    for (int i = 0; !st && i < m->n_optimizer; i++) {
        st = write_array(w, og, "optimizer", &m->optimizer[i]);
        names[i] = m->optimizer[i].name;
    }
    if (!st)
        st = write_name_list(w, og, "/nnctl/optimizer", "names", names, (size_t)m->n_optimizer);
    free(names);
    close_id(&og, H5Gclose);
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
        return h5_fail(w->err, w->path, "cannot create group '/model_weights'");
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
    quiet_hdf5();

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
        st = h5_fail(err, path, "cannot set up HDF5 property lists");
    if (!st && (f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        st = h5_fail(err, path, "cannot create HDF5 file");
    if (!st)
        st = write_model(&w, f, m);
    if (f >= 0) {
        herr_t rc = H5Fclose(f);
        f = -1;
        if (rc < 0 && !st)
            st = h5_fail(err, path, "error closing HDF5 file (disk full?)");
    }
    close_id(&w.lcpl, H5Pclose);
    close_id(&fapl, H5Pclose);

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

/* ---------- reading ---------- */

typedef struct {
    const char *path;
    nn_error *err;
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
        st = h5_fail(r->err, r->path, what);
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(s) != 1) {
        st = nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s is not a single string", r->path, what);
        goto done;
    }
    H5T_cset_t cset = H5Tget_cset(ft);
    if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        if ((mt = vlen_str_type(cset)) < 0 || H5Aread(a, mt, &v) < 0) {
            st = h5_fail(r->err, r->path, what);
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
            st = h5_fail(r->err, r->path, what);
            goto done;
        }
        if (H5Tget_strpad(ft) == H5T_STR_SPACEPAD)
            for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
                buf[n - 1] = '\0';
        *out = buf;
    }
done:
    close_id(&s, H5Sclose);
    close_id(&mt, H5Tclose);
    close_id(&ft, H5Tclose);
    close_id(&a, H5Aclose);
    return st;
}

static nn_status read_opt_str_attr(rctx *r, hid_t obj, const char *objname, const char *name,
                                   char **out)
{
    *out = NULL;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return h5_fail(r->err, r->path, "cannot query attributes");
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
        st = h5_fail(r->err, r->path, what);
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
        if ((mt = vlen_str_type(H5Tget_cset(ft))) < 0 || H5Aread(a, mt, v) < 0) {
            free(v);
            st = h5_fail(r->err, r->path, what);
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
            st = h5_fail(r->err, r->path, what);
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
    close_id(&s, H5Sclose);
    close_id(&mt, H5Tclose);
    close_id(&ft, H5Tclose);
    close_id(&a, H5Aclose);
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
        return h5_fail(r->err, r->path, "cannot query attributes");
    if (ex) {
        *found = 1;
        return read_str_array_attr(r, obj, objname, name, out);
    }
    for (size_t c = 0;; c++) {
        char an[256];
        snprintf(an, sizeof an, "%s%zu", name, c);
        ex = H5Aexists(obj, an);
        if (ex < 0)
            return h5_fail(r->err, r->path, "cannot query attributes");
        if (!ex)
            return NN_OK;
        *found = 1;
        nn_status st = read_str_array_attr(r, obj, objname, an, out);
        if (st)
            return st;
    }
}

/* Reads dataset `name` under grp into a (whose name is already set). */
static nn_status read_array(rctx *r, hid_t grp, const char *where, nn_h5_array *a)
{
    hid_t ds = -1, t = -1, s = -1;
    nn_status st = NN_OK;
    char what[768];
    if (!valid_rel_path(a->name)) {
        return nn_fail(r->err, NN_ERR_RUNTIME, "'%s': %s: invalid weight name '%s'", r->path,
                       where, a->name);
    }
    if ((ds = H5Dopen2(grp, a->name, H5P_DEFAULT)) < 0) {
        snprintf(what, sizeof what, "%s: weight '%s' is listed but has no dataset", where,
                 a->name);
        st = h5_fail(r->err, r->path, what);
        goto done;
    }
    snprintf(what, sizeof what, "%s: weight '%s'", where, a->name);
    if ((t = H5Dget_type(ds)) < 0 || (s = H5Dget_space(ds)) < 0) {
        st = h5_fail(r->err, r->path, what);
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
        st = h5_fail(r->err, r->path, what);
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
    if (!(a->data = nn_malloc(n * sizeof(float), r->err))) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    if (n > 0 && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0) {
        char w2[800];
        snprintf(w2, sizeof w2, "%s: cannot read as float32", what);
        st = h5_fail(r->err, r->path, w2);
    }
done:
    close_id(&s, H5Sclose);
    close_id(&t, H5Tclose);
    close_id(&ds, H5Dclose);
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
        st = h5_fail(r->err, r->path, "cannot open group '/model_weights'");
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
        ex = valid_rel_path(L->name) ? H5Lexists(mw, L->name, H5P_DEFAULT) : 0;
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
        close_id(&g, H5Gclose);
    }
done:
    strlist_free(&names);
    strlist_free(&wn);
    close_id(&g, H5Gclose);
    close_id(&mw, H5Gclose);
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
        st = h5_fail(r->err, r->path, "cannot open group '/nnctl'");
        goto done;
    }
    if ((ex = H5Aexists(g, "format_version")) > 0) {
        long long v = 0;
        if ((a = H5Aopen(g, "format_version", H5P_DEFAULT)) < 0 ||
            H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) {
            st = h5_fail(r->err, r->path, "cannot read /nnctl attribute 'format_version'");
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
        (st = read_opt_str_attr(r, g, "/nnctl", "state", &m->nnctl_state)))
        goto done;
    if (H5Lexists(g, "optimizer", H5P_DEFAULT) <= 0)
        goto done;
    if ((og = H5Gopen2(g, "optimizer", H5P_DEFAULT)) < 0) {
        st = h5_fail(r->err, r->path, "cannot open group '/nnctl/optimizer'");
        goto done;
    }
    int found;
    if ((st = read_name_list(r, og, "/nnctl/optimizer", "names", &names, &found)))
        goto done;
    st = read_arrays(r, og, "optimizer", &names, &m->optimizer, &m->n_optimizer);
done:
    strlist_free(&names);
    close_id(&a, H5Aclose);
    close_id(&og, H5Gclose);
    close_id(&g, H5Gclose);
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

nn_status nn_h5_load(const char *path, nn_h5_model *m, nn_error *err)
{
    if (!m)
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: no model");
    memset(m, 0, sizeof *m);
    if (!path || !path[0])
        return nn_fail(err, NN_ERR_RUNTIME, "HDF5 load: empty path");
    quiet_hdf5();

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
        return h5_fail(err, path, "cannot open as HDF5 (truncated or corrupt?)");

    rctx r = {path, err};
    nn_status st = NN_OK;
    hid_t fapl = -1, f = -1;
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        st = h5_fail(err, path, "cannot set up HDF5 property lists");
        goto done;
    }
    if ((f = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0) {
        st = h5_fail(err, path, "cannot open as HDF5 (truncated or corrupt?)");
        goto done;
    }
    htri_t ex = H5Aexists(f, "model_config");
    if (ex < 0) {
        st = h5_fail(err, path, "cannot read root attributes (truncated or corrupt?)");
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
        st = h5_fail(err, path, "error closing HDF5 file");
    close_id(&fapl, H5Pclose);
    if (st)
        nn_h5_model_free(m);
    return st;
}

static void free_arrays(nn_h5_array *a, int n)
{
    if (!a)
        return;
    for (int i = 0; i < n; i++) {
        free(a[i].name);
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
    free(m->nnctl_state);
    free_arrays(m->optimizer, m->n_optimizer);
    memset(m, 0, sizeof *m);
}

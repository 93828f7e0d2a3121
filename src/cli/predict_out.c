/* nnctl predict's outputs (see predict_out.h). */
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/predict_out.h"
#include "util/fileio.h"

typedef struct h5_out {
    hid_t file, space, dset;
} h5_out;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcasecmp(s + n - k, suffix) == 0;
}

static void print_name(FILE *f, const nn_row_name *r)
{
    if (r->index < 0)
        fputs(r->path, f);
    else
        fprintf(f, "%s[%lld]", r->path, r->index);
}

static json_t *name_json(const nn_row_name *r)
{
    if (r->index < 0)
        return json_string(r->path);
    char buf[PATH_MAX + 32];
    snprintf(buf, sizeof buf, "%s[%lld]", r->path, r->index);
    return json_string(buf);
}

/* The temporary file is fsynced, renamed over path, and the rename made
 * durable, as every file nnctl writes. */
static nn_status commit_tmp(const char *tmp, const char *path, nn_error *err)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(errno));
    nn_fsync_parent_dir(path); /* some filesystems cannot: the rename stands anyway */
    return NN_OK;
}

static nn_status h5_open(nn_predict_out *o, nn_error *err)
{
    h5_out *h = calloc(1, sizeof *h);
    if (!h)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    h->file = h->space = h->dset = H5I_INVALID_HID;
    o->h5 = h;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hsize_t dims[NN_NPY_MAX_DIMS];
    for (int d = 0; d < o->ndim; d++)
        dims[d] = o->shape[d];
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0)
        h->file = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    if (h->file < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': HDF5 cannot create the file",
                       o->path);
    if ((h->space = H5Screate_simple(o->ndim, dims, NULL)) < 0 ||
        (h->dset = H5Dcreate2(h->file, o->name, H5T_IEEE_F32LE, h->space, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT)) < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': HDF5 cannot create dataset '%s'",
                       o->path, o->name);
    return NN_OK;
}

static nn_status h5_rows(nn_predict_out *o, const float *v, int rows, nn_error *err)
{
    h5_out *h = o->h5;
    hsize_t start[NN_NPY_MAX_DIMS] = {0}, count[NN_NPY_MAX_DIMS];
    start[0] = o->done;
    count[0] = (hsize_t)rows;
    for (int d = 1; d < o->ndim; d++)
        count[d] = o->shape[d];
    hid_t mem = H5Screate_simple(o->ndim, count, NULL);
    herr_t rc = -1;
    if (mem >= 0 && H5Sselect_hyperslab(h->space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        rc = H5Dwrite(h->dset, H5T_NATIVE_FLOAT, mem, h->space, H5P_DEFAULT, v);
    if (mem >= 0)
        H5Sclose(mem);
    if (rc < 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': HDF5 write failed (disk full?)",
                       o->path);
    return NN_OK;
}

/* Closes the ids; the status of closing the file (where HDF5 flushes). */
static herr_t h5_close(nn_predict_out *o)
{
    h5_out *h = o->h5;
    herr_t rc = 0;
    if (!h)
        return 0;
    if (h->dset >= 0)
        rc |= H5Dclose(h->dset);
    if (h->space >= 0)
        rc |= H5Sclose(h->space);
    if (h->file >= 0)
        rc |= H5Fclose(h->file);
    free(h);
    o->h5 = NULL;
    return rc;
}

nn_status nn_predict_out_open(nn_predict_out *o, const char *path, bool values, bool json,
                              const nn_predict_reading *read, const char *name, size_t n,
                              int ndim, const int *shape, nn_error *err)
{
    memset(o, 0, sizeof *o);
    o->json = json;
    o->read = *read;
    o->path = path;
    o->name = name;
    if (ndim + 1 > NN_NPY_MAX_DIMS)
        return nn_fail(err, NN_ERR_USAGE, "layer '%s' has %d dimensions; at most %d can be written",
                       name, ndim, NN_NPY_MAX_DIMS - 1);
    o->ndim = ndim + 1;
    o->shape[0] = n;
    o->width = 1;
    for (int d = 0; d < ndim; d++) {
        o->shape[d + 1] = (size_t)shape[d];
        o->width *= (size_t)shape[d];
    }
    if (!path) {
        o->kind = values ? NN_OUT_VALUES : NN_OUT_READING;
        if (json && !(o->arr = json_array()))
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        if (o->kind == NN_OUT_READING &&
            (!(o->cls = nn_malloc(o->width * sizeof *o->cls, err)) ||
             !(o->prob = nn_malloc(o->width * sizeof *o->prob, err))))
            return NN_ERR_RUNTIME;
        return NN_OK;
    }
    if (ends_with(path, ".npy")) {
        o->kind = NN_OUT_NPY;
        return nn_npy_writer_open(&o->npy, path, o->ndim, o->shape, err);
    }
    o->kind = ends_with(path, ".csv") ? NN_OUT_CSV_FILE : NN_OUT_HDF5;
    size_t tlen = strlen(path) + 32;
    if (!(o->tmp = nn_malloc(tlen, err)))
        return NN_ERR_RUNTIME;
    snprintf(o->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    /* created here first: a clean errno message for a bad directory */
    int fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        nn_status st = nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return st;
    }
    if (o->kind == NN_OUT_HDF5) {
        close(fd);
        return h5_open(o, err);
    }
    if (!(o->csv = fdopen(fd, "w"))) {
        close(fd);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(errno));
    }
    return NN_OK;
}

static const char *label_of(const nn_predict_out *o, int c)
{
    return o->read.labels && c >= 0 && c < o->read.n_labels ? o->read.labels[c] : NULL;
}

/* One class of a reading: "7 (0.9715)", "3 cat (0.8123)"; or its JSON. */
static void print_class(const nn_predict_out *o, int c, double p)
{
    const char *label = label_of(o, c);
    printf(" %d%s%s (%.4f)", c, label ? " " : "", label ? label : "", p);
}

static json_t *class_json(const nn_predict_out *o, int c, double p)
{
    json_t *j = json_pack("{s:i, s:f}", "class", c, "probability", p);
    const char *label = label_of(o, c);
    if (j && label)
        json_object_set_new(j, "label", json_string(label));
    return j;
}

/* The classes a row names, likeliest first (equal probabilities: the
 * lower class first): the top k (softmax), the class by threshold (one
 * sigmoid unit), every unit over the threshold (several sigmoid units).
 * cls and prob hold width entries; k is small next to the width, so an
 * insertion into the kept list beats sorting the row. */
static int row_classes(const nn_predict_out *o, const float *p, int *cls, double *prob)
{
    if (o->read.how == NN_READ_BINARY) {
        cls[0] = p[0] > o->read.threshold ? 1 : 0;
        prob[0] = cls[0] ? (double)p[0] : 1.0 - (double)p[0];
        return 1;
    }
    bool multi = o->read.how == NN_READ_MULTI_LABEL;
    size_t k = multi || o->read.top_k > (int)o->width ? o->width : (size_t)o->read.top_k;
    size_t n = 0;
    for (size_t c = 0; c < o->width; c++) {
        if (multi && !(p[c] > o->read.threshold))
            continue;
        size_t at = n;
        while (at > 0 && p[c] > p[cls[at - 1]])
            at--;
        if (at >= k)
            continue;
        size_t last = n < k ? n : k - 1;
        memmove(cls + at + 1, cls + at, (last - at) * sizeof *cls);
        cls[at] = (int)c;
        n = last + 1;
    }
    for (size_t j = 0; j < n; j++)
        prob[j] = p[cls[j]];
    return (int)n;
}

static nn_status reading_row(nn_predict_out *o, const float *p, const nn_row_name *name,
                             nn_error *err)
{
    int *cls = o->cls;
    double *prob = o->prob;
    if (o->read.how == NN_READ_VALUES) { /* (--json: values_row) */
        print_name(stdout, name);
        putchar(':');
        for (size_t i = 0; i < o->width; i++)
            printf(" %.6g", (double)p[i]);
        putchar('\n');
        return NN_OK;
    }
    int n = row_classes(o, p, cls, prob);
    if (!o->json) {
        print_name(stdout, name);
        putchar(':');
        for (int j = 0; j < n; j++)
            print_class(o, cls[j], prob[j]);
        if (n == 0)
            printf(" none over %g", o->read.threshold);
        putchar('\n');
        return NN_OK;
    }
    json_t *row;
    if (o->read.how == NN_READ_MULTI_LABEL) {
        json_t *all = json_array();
        for (int j = 0; j < n; j++)
            json_array_append_new(all, class_json(o, cls[j], prob[j]));
        row = json_pack("{s:o, s:o}", "input", name_json(name), "classes", all);
    } else if (o->read.how == NN_READ_BINARY) {
        row = class_json(o, cls[0], prob[0]);
        if (row)
            json_object_set_new(row, "input", name_json(name));
    } else {
        json_t *top = json_array();
        for (int j = 0; j < n; j++)
            json_array_append_new(top, class_json(o, cls[j], prob[j]));
        row = json_pack("{s:o, s:i, s:o}", "input", name_json(name), "class", cls[0], "top", top);
        const char *label = label_of(o, cls[0]);
        if (row && label)
            json_object_set_new(row, "label", json_string(label));
    }
    if (json_array_append_new(o->arr, row))
        return nn_fail(err, NN_ERR_RUNTIME, "cannot print JSON (a NaN or infinite output?)");
    return NN_OK;
}

static nn_status values_row(nn_predict_out *o, FILE *f, const float *p, const nn_row_name *name,
                            nn_error *err)
{
    if (!o->json || f != stdout) {
        for (size_t i = 0; i < o->width; i++)
            fprintf(f, i ? ",%.9g" : "%.9g", (double)p[i]);
        fputc('\n', f);
        if (ferror(f))
            return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s",
                           o->path ? o->path : "standard output", strerror(errno));
        return NN_OK;
    }
    json_t *vals = json_array();
    for (size_t i = 0; i < o->width; i++)
        json_array_append_new(vals, json_real((double)p[i]));
    bool all = json_array_size(vals) == o->width; /* json_real refuses NaN and infinity */
    if (json_array_append_new(o->arr, json_pack("{s:o, s:o}", "input", name_json(name), "values",
                                                vals)) ||
        !all)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot print JSON (a NaN or infinite value?)");
    return NN_OK;
}

nn_status nn_predict_out_rows(nn_predict_out *o, const float *v, const nn_row_name *names,
                              int rows, nn_error *err)
{
    nn_status st = NN_OK;
    if (o->kind == NN_OUT_NPY)
        st = nn_npy_writer_put(&o->npy, v, (size_t)rows * o->width, err);
    else if (o->kind == NN_OUT_HDF5)
        st = h5_rows(o, v, rows, err);
    for (int r = 0; !st && r < rows; r++) {
        const float *p = v + (size_t)r * o->width;
        if (o->kind == NN_OUT_READING && !(o->read.how == NN_READ_VALUES && o->json))
            st = reading_row(o, p, &names[r], err);
        else if (o->kind == NN_OUT_VALUES || o->kind == NN_OUT_READING)
            st = values_row(o, stdout, p, &names[r], err);
        else if (o->kind == NN_OUT_CSV_FILE)
            st = values_row(o, o->csv, p, &names[r], err);
    }
    o->done += (size_t)rows;
    return st;
}

/* With --json and a file: what was written, for scripts. */
static void print_summary(const nn_predict_out *o)
{
    static const char *const formats[] = {"", "", "npy", "csv", "hdf5"};
    json_t *shape = json_array();
    for (int d = 0; d < o->ndim; d++)
        json_array_append_new(shape, json_integer((json_int_t)o->shape[d]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:o}", "output", o->path, "format", formats[o->kind],
                          "layer", o->name, "shape", shape);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (text)
        puts(text);
    free(text);
    json_decref(j);
}

nn_status nn_predict_out_finish(nn_predict_out *o, nn_error *err)
{
    nn_status st = NN_OK;
    if (o->kind == NN_OUT_NPY) {
        st = nn_npy_writer_commit(&o->npy, err);
    } else if (o->kind == NN_OUT_HDF5) {
        if (h5_close(o) < 0)
            st = nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': HDF5 could not close the file "
                                              "(disk full?)",
                         o->path);
        if (!st)
            st = commit_tmp(o->tmp, o->path, err);
    } else if (o->kind == NN_OUT_CSV_FILE) {
        int rc = fclose(o->csv);
        o->csv = NULL;
        if (rc != 0)
            st = nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", o->path, strerror(errno));
        if (!st)
            st = commit_tmp(o->tmp, o->path, err);
    } else if (o->json) {
        char *text = json_dumps(o->arr, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
        if (!text)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        puts(text);
        free(text);
    }
    if (!st && o->tmp) { /* renamed: nothing left to remove */
        free(o->tmp);
        o->tmp = NULL;
    }
    if (!st && o->path && o->json)
        print_summary(o);
    return st;
}

void nn_predict_out_free(nn_predict_out *o)
{
    nn_npy_writer_abort(&o->npy);
    h5_close(o);
    if (o->csv)
        fclose(o->csv);
    if (o->tmp)
        unlink(o->tmp);
    free(o->tmp);
    json_decref(o->arr);
    free(o->cls);
    free(o->prob);
    memset(o, 0, sizeof *o);
}

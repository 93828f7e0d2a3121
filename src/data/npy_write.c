/* Writing NumPy .npy files (see npy.h): float32, format version 1.0, the
 * header laid out byte for byte as np.save lays it out. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/npy.h"
#include "util/fileio.h"

#define NPY_PREFIX 8            /* "\x93NUMPY" + major + minor */
#define NPY_ALIGN 64            /* numpy pads the header to this */
#define NPY_GROWTH_DIGITS 21    /* numpy's spare room for the first axis */

/* numpy's header for a float32 C-order array: the dict, spare room for the
 * first axis to grow, then spaces and '\n' up to a multiple of 64 bytes. */
static size_t make_header(char *buf, size_t cap, int ndim, const size_t *shape)
{
    char sh[NN_NPY_MAX_DIMS * 24 + 8];
    nn_npy_shape_str(shape, ndim, sh, sizeof sh);
    char dict[sizeof sh + 128];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                     sh);
    if (ndim > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%zu", shape[0]);
        for (int i = digits; i < NPY_GROWTH_DIGITS; i++)
            dict[n++] = ' ';
        dict[n] = '\0';
    }
    size_t hlen = (size_t)n + 1;
    size_t pad = NPY_ALIGN - (NPY_PREFIX + 2 + hlen) % NPY_ALIGN;
    size_t total = NPY_PREFIX + 2 + hlen + pad;
    if (total > cap)
        return 0;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((hlen + pad) & 0xff);
    buf[9] = (char)((hlen + pad) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

nn_status nn_npy_writer_open(nn_npy_writer *w, const char *path, int ndim, const size_t *shape,
                             nn_error *err)
{
    memset(w, 0, sizeof *w);
    if (ndim < 0 || ndim > NN_NPY_MAX_DIMS)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %d dimensions; at most %d", path, ndim,
                       NN_NPY_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(count, shape[i], &count))
            return nn_fail(err, NN_ERR_RUNTIME, "'%s': the array is too large", path);
    char header[1024];
    size_t hn = make_header(header, sizeof header, ndim, shape);
    size_t tlen = strlen(path) + 32;
    if (!hn || !(w->path = nn_strdup(path, err)) || !(w->tmp = nn_malloc(tlen, err))) {
        nn_npy_writer_abort(w);
        return hn ? nn_error_prefix(err, "'%s'", path)
                  : nn_fail(err, NN_ERR_RUNTIME, "'%s': header too long", path);
    }
    snprintf(w->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        else
            free(w->tmp), w->tmp = NULL; /* nothing was created: nothing to remove */
        nn_npy_writer_abort(w);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    w->left = count;
    if (fwrite(header, 1, hn, w->f) != hn) {
        int e = errno;
        nn_npy_writer_abort(w);
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", path, strerror(e));
    }
    return NN_OK;
}

nn_status nn_npy_writer_put(nn_npy_writer *w, const float *v, size_t n, nn_error *err)
{
    if (n > w->left)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': %zu more values than the shape holds",
                       w->path, n - w->left);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    /* '<f4' is the host's own layout: no repacking */
    if (fwrite(v, 4, n, w->f) != n)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path, strerror(errno));
#else /* big-endian host: bytes reordered to little-endian */
    unsigned char buf[4096];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof buf / 4 ? n - done : sizeof buf / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t b;
            memcpy(&b, &v[done + i], 4);
            buf[4 * i] = (unsigned char)b, buf[4 * i + 1] = (unsigned char)(b >> 8);
            buf[4 * i + 2] = (unsigned char)(b >> 16), buf[4 * i + 3] = (unsigned char)(b >> 24);
        }
        if (fwrite(buf, 4, k, w->f) != k)
            return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path,
                           strerror(errno));
        done += k;
    }
#endif
    w->left -= n;
    return NN_OK;
}

nn_status nn_npy_writer_commit(nn_npy_writer *w, nn_error *err)
{
    nn_status st = NN_OK;
    if (w->left)
        st = nn_fail(err, NN_ERR_RUNTIME, "'%s': %zu values missing", w->path, w->left);
    else if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        st = nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path, strerror(errno));
    if (!st) {
        int rc = fclose(w->f);
        w->f = NULL;
        if (rc != 0 || rename(w->tmp, w->path) != 0)
            st = nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path, strerror(errno));
        else
            nn_fsync_parent_dir(w->path);
    }
    if (!st) {
        free(w->tmp); /* renamed: nothing to remove */
        w->tmp = NULL;
    }
    nn_npy_writer_abort(w);
    return st;
}

void nn_npy_writer_abort(nn_npy_writer *w)
{
    if (w->f)
        fclose(w->f);
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    memset(w, 0, sizeof *w);
}

nn_status nn_npy_write_f32(const char *path, const float *data, int ndim, const size_t *shape,
                           nn_error *err)
{
    nn_npy_writer w;
    nn_status st = nn_npy_writer_open(&w, path, ndim, shape, err);
    if (st)
        return st;
    if ((st = nn_npy_writer_put(&w, data, w.left, err))) {
        nn_npy_writer_abort(&w);
        return st;
    }
    return nn_npy_writer_commit(&w, err);
}

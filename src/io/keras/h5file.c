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
#include <string.h>

#include "io/keras/h5_internal.h"

/* ---------- small helpers ---------- */

void nn_h5__close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

void nn_h5__quiet_hdf5(void)
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
nn_status nn_h5__fail(nn_error *err, const char *path, const char *what)
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

hid_t nn_h5__vlen_str_type(H5T_cset_t cset)
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


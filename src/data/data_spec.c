#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/data_spec.h"

static const char *const formats[] = {"idx", NULL};

nn_status nn_data_resolve(const char *path, char *out, size_t len, nn_error *err)
{
    if (path[0] == '/') {
        snprintf(out, len, "%s", path);
        return NN_OK;
    }
    const char *env = getenv("NNCTL_DATA");
    if (env && *env) {
        snprintf(out, len, "%s/%s", env, path);
        if (access(out, F_OK) != 0)
            return nn_fail(err, NN_ERR_RUNTIME,
                           "data file '%s' not found in $NNCTL_DATA (%s); run scripts/fetch-data "
                           "or fix NNCTL_DATA",
                           path, out);
        return NN_OK;
    }
    if (access(path, F_OK) == 0) {
        snprintf(out, len, "%s", path);
        return NN_OK;
    }
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, len, "%s/nnctl/datasets/%s", xdg, path);
    else if (home && *home)
        snprintf(out, len, "%s/.local/share/nnctl/datasets/%s", home, path);
    else
        snprintf(out, len, "%s", path);
    if (access(out, F_OK) != 0)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "data file '%s' not found (looked in the current directory and in %s; set "
                       "NNCTL_DATA to the folder that holds it, or run scripts/fetch-data)",
                       path, out);
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
    const char *images, *labels;
    if ((st = nn_spec_choice(g, "format", false, formats, 0, &fmt, err)) ||
        (st = nn_spec_string(g, "images", true, NULL, &images, err)) ||
        (st = nn_spec_string(g, "labels", true, NULL, &labels, err)) ||
        (st = nn_spec_check_unknown(g, err)))
        return st;
    src->present = true;
    src->format = (nn_data_format)fmt;
    /* "file:line: data.train.images" prefixes for errors found when loading */
    struct {
        char *buf;
        const char *key;
    } locs[3] = {{src->where, NULL}, {src->where_images, "images"}, {src->where_labels, "labels"}};
    for (int i = 0; i < 3; i++) {
        nn_error loc;
        nn_spec_fail(g, locs[i].key, &loc, NN_ERR_RUNTIME, "@");
        char *at = strrchr(loc.msg, '@');
        if (at && at - loc.msg >= 2)
            at[-2] = '\0'; /* drop ": @" */
        snprintf(locs[i].buf, sizeof src->where, "%s", loc.msg);
    }
    /* Paths resolve when the data is loaded: training must not need the
     * test files, nor eval the training files. */
    snprintf(src->images, sizeof src->images, "%s", images);
    snprintf(src->labels, sizeof src->labels, "%s", labels);
    return NN_OK;
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
        (st = nn_spec_float(data, "validation_split", false, 0.0, 0.0, 0.99,
                            &c->validation_split, err)) ||
        (st = nn_spec_int(data, "train_subset", false, 0, 0, 1LL << 40, &c->train_subset, err)) ||
        (st = nn_spec_bool(data, "shuffle", false, true, &c->shuffle, err)))
        return st;
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

/* Product of an IDX file's dims from its header; 0 when unreadable. */
static size_t idx_elements(const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return 0;
    unsigned char h[4 + 16];
    size_t total = 0;
    if (gzread(f, h, 4) == 4 && h[0] == 0 && h[1] == 0 && h[3] >= 1 && h[3] <= 4 &&
        gzread(f, h + 4, 4u * h[3]) == (int)(4u * h[3])) {
        total = 1;
        for (int d = 0; d < h[3]; d++) {
            const unsigned char *p = h + 4 + 4 * d;
            total *= (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        }
    }
    gzclose(f);
    return total;
}

size_t nn_data_footprint(const nn_data_source *src)
{
    if (!src->present)
        return 0;
    char images[PATH_MAX], labels[PATH_MAX];
    nn_error ignore;
    if (nn_data_resolve(src->images, images, sizeof images, &ignore) ||
        nn_data_resolve(src->labels, labels, sizeof labels, &ignore))
        return 0;
    /* images stay uint8; labels become int32 */
    return idx_elements(images) + 4 * idx_elements(labels);
}

nn_status nn_data_load(const nn_data_source *src, double scale, nn_dataset *out, nn_error *err)
{
    char images[PATH_MAX], labels[PATH_MAX];
    if (nn_data_resolve(src->images, images, sizeof images, err))
        return nn_error_prefix(err, "%s", src->where_images);
    if (nn_data_resolve(src->labels, labels, sizeof labels, err))
        return nn_error_prefix(err, "%s", src->where_labels);
    if (nn_dataset_load_idx(images, labels, out, err))
        return nn_error_prefix(err, "%s", src->where);
    out->scale = (float)scale;
    return NN_OK;
}

/* The spec's `data` section: where the data is and how to prepare it. */
#ifndef NN_DATA_DATA_SPEC_H
#define NN_DATA_DATA_SPEC_H

#include <limits.h>

#include "data/dataset.h"
#include "spec/spec.h"

typedef enum { NN_FORMAT_IDX = 0 } nn_data_format;

typedef struct nn_data_source {
    bool present;
    nn_data_format format;
    char images[PATH_MAX]; /* as written; resolved when loaded */
    char labels[PATH_MAX];
    char where[512];        /* "spec.cfg:12: data.train", for messages */
    char where_images[512], where_labels[512];
} nn_data_source;

typedef struct nn_data_cfg {
    nn_data_source train, validation, test;
    double scale;
    int one_hot;              /* -1: from the loss */
    double validation_split;
    long long train_subset;   /* 0: all */
    bool shuffle;
} nn_data_cfg;

nn_status nn_spec_data(nn_spec_node *data, nn_data_cfg *out, nn_error *err);

/* Relative paths resolve against $NNCTL_DATA when set; otherwise against
 * the current directory, then the default data directory
 * (${XDG_DATA_HOME:-~/.local/share}/nnctl/datasets, where fetch-data puts
 * files). */
nn_status nn_data_resolve(const char *path, char *out, size_t len, nn_error *err);

/* The bytes a source will take in memory once loaded (from the IDX
 * headers), or 0 when that cannot be told (the load reports why). */
size_t nn_data_footprint(const nn_data_source *src);

/* Loads one source and applies the scale. */
nn_status nn_data_load(const nn_data_source *src, double scale, nn_dataset *out, nn_error *err);

#endif

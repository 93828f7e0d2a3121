/* Private to src/plugin/: the loaded plugins and the handles the host
 * table hands out. */
#ifndef NN_PLUGIN_INTERNAL_H
#define NN_PLUGIN_INTERNAL_H

#include "model/layer.h"
#include "objectives/losses.h"
#include "objectives/metrics.h"
#include "plugin/loader.h"
#include "train/callbacks/callback.h"

/* One loaded plugin. */
typedef struct nn_plugin_rec {
    char path[4096];
    char name[64], version[64], description[256];
    char module[96]; /* "nnctl.plugins.<name>": model files' module field */
    int abi_major, abi_minor;
    void *handle;
} nn_plugin_rec;

/* The handles of the host table are nnctl's own structures. */
struct nnctl_error {
    nn_error e;
};
struct nnctl_registry {
    nn_plugin_rec *rec;
    bool declared;
    nn_error err; /* what a registration refused */
};
struct nnctl_shapes {
    nn_node *n;
    bool output_set;
};
struct nnctl_train {
    nn_fit_ctx *c;
};

extern const nnctl_host nn_plugin_host;

/* Turn a plugin's descriptor into a registered nnctl row (rows.c). */
nnctl_status nn_plugin_add_layer(nnctl_registry *reg, const nnctl_layer_desc *d);
nnctl_status nn_plugin_add_regularizer(nnctl_registry *reg, const nnctl_regularizer_desc *d);
nnctl_status nn_plugin_add_loss(nnctl_registry *reg, const nnctl_loss_desc *d);
nnctl_status nn_plugin_add_metric(nnctl_registry *reg, const nnctl_metric_desc *d);
nnctl_status nn_plugin_add_callback(nnctl_registry *reg, const nnctl_callback_desc *d);

/* A registration's refusal, kept in reg->err. */
nnctl_status nn_plugin_refuse(nnctl_registry *reg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Checks a descriptor's common fields (size, name). */
nnctl_status nn_plugin_check_desc(nnctl_registry *reg, const char *kind, uint32_t size,
                                  size_t min_size, const char *name);

/* Copies a size-prefixed descriptor into a full, zeroed one of this
 * build's size (fields the plugin's header lacked stay NULL/0). */
void *nn_plugin_copy_desc(const void *d, uint32_t size, size_t full);

/* Every key doc of a plugin type as nnctl's nn_doc_key array. */
const nn_doc_key *nn_plugin_keys(const nnctl_key_doc *keys);

#endif

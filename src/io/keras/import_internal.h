/* Private to the Keras importer (src/io/keras/import*.c): reading values
 * out of Keras layer configs and writing libconfig spec text. */
#ifndef NN_IO_KERAS_IMPORT_INTERNAL_H
#define NN_IO_KERAS_IMPORT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "formats/keras_import.h"
#include "io/keras/import.h"
#include "model/layer.h"
#include "util/error.h"

/* Converts one layer's config: writes "type = ...; <keys>" into t. in_rank
 * holds the per-sample ranks of its n_in inputs; *rank gets its output's.
 * Classes nnctl lacks, and settings it cannot honour, are errors. */
nn_status kx_layer_body(const kx_layer *L, const int *in_rank, int n_in, kx_text *t, int *rank);

/* The model's output layer names in model.outputs order: what a
 * training_config's per-output losses and weights are keyed by (or by
 * key, the output's key when Keras 3's model outputs were a dict; "");
 * keras_major: the file's Keras (3 reads a metrics list per output). */
typedef struct kx_outputs {
    int n, keras_major;
    char name[NN_MAX_IO][NN_NAME_MAX];
    char key[NN_MAX_IO][NN_NAME_MAX];
} kx_outputs;

/* nn_keras_model_text, also giving the outputs (outs may be NULL);
 * base: NULL, or nn_keras_base_text's cut. */
nn_status kx_model_text(const char *json_text, const char *what, const char *keras_version,
                        const nn_keras_base *base, char **text, kx_outputs *outs,
                        nn_error *err);
/* nn_keras_train_text for a model with outputs outs (NULL: one output):
 * a loss, loss_weights or metrics per output map to the outputs' names.
 * keras_version: the file's (or NULL), for what "accuracy" meant to it. */
nn_status kx_train_text(const char *json_text, const char *what, const kx_outputs *outs,
                        const char *keras_version, char **text, nn_error *err);

/* ---- the graph (import_graph.c) ---- */

typedef struct kx_node {
    kx_layer L;
    const char *in[NN_MAX_INPUTS];
    int n_in;
    int rank;       /* per-sample output axes */
    int consumers;
    bool done, is_input;
    /* Keras 3 functional: the layer making the mask passed as mask=...
     * (a NotEqual(ids, 0) beside an Embedding with mask_zero), or NULL;
     * mask_only: such a NotEqual, left out (nnctl's mask_zero makes it) */
    const char *mask_from;
    bool mask_only;
} kx_node;

/* One model input: its name and per-sample shape. */
typedef struct kx_input {
    const char *name;
    long long shape[NN_MAX_DIMS];
    int nd;
} kx_input;

typedef struct kx_model {
    const char *what;
    int keras_major;
    nn_error *err;
    const char *name;
    kx_node *nodes;
    int n;
    /* in model.inputs / model.outputs order (what data and losses follow) */
    kx_input in[NN_MAX_IO];
    int n_in;
    const char *out[NN_MAX_IO], *out_key[NN_MAX_IO]; /* out_key: its dict key or "" */
    int n_out;
    char implicit_input[NN_NAME_MAX + 8]; /* a Sequential's input without InputLayer */
    int *by_name;   /* node indices sorted by name, for find() */
    int *next_in;   /* emit_layers: the next input to visit, per node */
    int *stack;
    /* model.base (import_base.c): NULL, or the cut and what stays trainable;
     * keep marks the cut layer and its ancestors, the layers emitted */
    const nn_keras_base *base;
    bool *keep;
    bool from_reached; /* base->trainable_from's first layer was emitted */
} kx_model;

nn_status kx_model_fail(const kx_model *M, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The major version of a "2.15.0"-like string; 0 when unknown. */
int kx_version_major(const char *v);
/* Keras 3 configs (no version attribute) by their layers' form. */
bool kx_looks_keras3(json_t *layers);
/* Layer i of the config (its name, class, config) into n. */
nn_status kx_read_layer(kx_model *M, json_t *l, size_t i, kx_node *n);
/* Sorts the nodes by name for kx_find. */
nn_status kx_index_names(kx_model *M);
kx_node *kx_find(kx_model *M, const char *name);
/* The graph of a Sequential's layers list, or of a Functional config. */
nn_status kx_read_sequential(kx_model *M, json_t *cfg);
nn_status kx_read_functional(kx_model *M, json_t *cfg, json_t *layers);
nn_status kx_check_masks(kx_model *M, json_t *layers);

/* ---- arithmetic nodes and Lambda (import_ops.c, import_lambda.c) ---- */

/* Is L a Keras 3 operation node (keras.src.ops.*) rather than a layer? */
bool kx_is_operation(const kx_layer *L);
nn_status kx_import_operation(const kx_layer *L, kx_text *t, kx_shapes *s);
/* tf-keras's TFOpLambda (add, subtract, multiply, divide). */
nn_status kx_import_tf_op(const kx_layer *L, kx_text *t, kx_shapes *s);
/* Keras 2's InceptionResNetV2 residual Lambda as custom_scale; any other
 * Lambda refused. */
nn_status kx_import_lambda(const kx_layer *L, kx_text *t, kx_shapes *s);

/* ---- nested models (import_nested.c) ---- */

bool kx_is_model_class(const char *cls);
/* Splices models nested as layers into root's layer list (in place): an
 * outer Sequential that nests one becomes a Functional model. */
nn_status kx_flatten_nested(kx_model *M, json_t *root);

/* ---- model.base (import_base.c) ---- */

/* Marks M->base's output and its ancestors in M->keep, keeps only the
 * inputs they use, and makes that layer the one output. */
nn_status kx_base_cut(kx_model *M);
/* Does the layer named so train, by M->base (called in emit order)? */
bool kx_base_trainable(kx_model *M, const char *name);

#endif

/* Model files in Keras's legacy HDF5 layout (what keras.models.load_model
 * reads), plus nnctl's own group for what a resume needs.
 *
 *   /                         attrs: model_config (JSON), training_config
 *                             (JSON), keras_version, backend
 *   /model_weights            attrs: layer_names, backend, keras_version
 *   /model_weights/<layer>    attrs: weight_names ["<layer>/kernel:0", ...]
 *   /model_weights/<layer>/<layer>/kernel:0   float32 dataset
 *   /nnctl                    attrs: spec (libconfig text), state (JSON),
 *                             format_version
 *   /nnctl/optimizer/<name>   float32 datasets (optimizer slots)
 *
 * Files are written to "<path>.tmp.<pid>", fsynced, then renamed over path,
 * so a crash never leaves a half-written model. */
#ifndef NN_IO_H5FILE_H
#define NN_IO_H5FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define NN_H5_MAX_DIMS 8

typedef struct nn_h5_array {
    char *name;       /* weight name, e.g. "dense/kernel:0" */
    int ndim;
    size_t dims[NN_H5_MAX_DIMS];
    float *data;      /* product(dims) floats */
    bool in_arena;    /* data lies in the model's arena (not freed on its own) */
    /* The sandbox's child only: data not read (NULL), the floats lie as
     * they are in the file at file_offset, for the parent to read. */
    bool in_file;
    uint64_t file_offset;
} nn_h5_array;

typedef struct nn_h5_layer {
    char *name;
    int n_weights;
    nn_h5_array *weights;
} nn_h5_layer;

typedef struct nn_h5_model {
    char *model_config;     /* JSON text, required */
    char *training_config;  /* JSON text or NULL */
    char *keras_version;    /* e.g. "2.15.0" */
    char *backend;          /* e.g. "tensorflow" */
    int n_layers;           /* in model order: layer_names order */
    nn_h5_layer *layers;
    /* Keras's save_weights layout: no model_config; layer_names, backend and
     * keras_version on the root, one group per layer at the root. */
    bool weights_only;
    /* nnctl extras; all optional (NULL/0) when reading a file Keras wrote.
     * (A new string field must also go in h5_message.c's str_fields.) */
    char *nnctl_spec;
    char *nnctl_spec_dir;     /* the spec's folder (absolute): where its ./ paths start */
    char *nnctl_class_names;  /* JSON {"<output>": ["name", ...]}: the data's class names */
    char *nnctl_preprocess;   /* JSON: featurewise statistics (data/featurewise.h) */
    char *nnctl_state;
    int n_optimizer;
    nn_h5_array *optimizer;
    /* Set when the weights' data point into one mapping (the sandboxed
     * reader's arena, a memfd mapping) rather than one malloc each. */
    void *arena;
    size_t arena_len;
} nn_h5_model;

/* Call once before any other HDF5 use (main does). */
void nn_h5_library_init(void);

/* Writes atomically (temp file, fsync, rename). */
nn_status nn_h5_save(const char *path, const nn_h5_model *m, nn_error *err);
/* Reads everything above. Errors name the file and what is missing or wrong
 * ("not an HDF5 file", "HDF5 file without model_config: not a Keras model",
 * "truncated", ...). Accepts Keras 2 ("layer/kernel:0") and Keras 3 legacy
 * ("kernel") weight names, and layer_names split into layer_names0, 1, ...
 *
 * Model files come from anywhere, and libhdf5 crashes, hangs or allocates
 * without bound on some corrupt ones (tests/fuzz/known-upstream/model), so
 * nn_h5_load parses in a child process (h5_sandbox.c): seccomp lets it read
 * files and nothing else (no network, no exec, no writes but to its pipe),
 * under memory and CPU limits; what comes back is plain arrays (in a shared
 * arena) and strings, checked before use. A crash, a limit or a hang there
 * is one clear error.
 *
 * nn_h5_load leaves the optimizer's state out (optimizer, n_optimizer:
 * none): a model, its weights and strings are what predict, eval, export,
 * init_from and a base need, and a checkpoint's slots would double what is
 * read. nn_h5_load_checkpoint reads them too (resuming a run). */
nn_status nn_h5_load(const char *path, nn_h5_model *m, nn_error *err);
nn_status nn_h5_load_checkpoint(const char *path, nn_h5_model *m, nn_error *err);
/* The same parse in this process, unconfined, the optimizer's state
 * included: for fuzzing harnesses (which need the parser's coverage in
 * their own process) and for measuring what the sandbox costs. */
nn_status nn_h5_load_in_process(const char *path, nn_h5_model *m, nn_error *err);
/* Fuzzing harnesses turn the sandbox off for every nn_h5_load (on by
 * default). */
void nn_h5_sandbox_enable(bool on);
void nn_h5_model_free(nn_h5_model *m);

#endif

/* Reading models that Keras wrote: the model_config JSON (Sequential and
 * Functional/Model forms of Keras 1.x, 2.x/tf.keras and Keras 3's legacy
 * .h5 output, or model.to_json() text) becomes an nnctl spec (a libconfig
 * `model` group, plus a `train` group from training_config), so the model is
 * built by the normal nn_model_from_spec path and its weights load by layer
 * name. Anything without an nnctl equivalent (a layer class, channels_first,
 * stateful = true, shared layers, ...) is an error naming the layer and the
 * class or setting. */
#ifndef NN_IO_KERAS_IMPORT_H
#define NN_IO_KERAS_IMPORT_H

#include "io/keras/h5file.h"
#include "spec/spec.h"

/* model_config JSON text to libconfig text holding one `model` group.
 * `what` names the source in errors ("'x.h5': model_config");
 * keras_version is the file's attribute ("2.15.0", "3.3.3") or NULL. */
nn_status nn_keras_model_text(const char *json_text, const char *what,
                              const char *keras_version, char **text, nn_error *err);

/* model.base: which part of a file's network a new model starts from,
 * and which of its layers train. */
typedef struct nn_keras_base {
    const char *output;         /* the layer to cut at; NULL: the model's one output */
    bool trainable;             /* every layer (Keras's base.trainable) ... */
    const char *trainable_from; /* ... or NULL; else frozen up to the first layer
                                 * whose name starts with this, trainable from it on */
    const char *const *trainable_layers; /* ... or, when n > 0, the layers */
    int n_trainable_layers;              /* matching one of these globs */
} nn_keras_base;

/* nn_keras_model_text for model.base: only the layer b->output and the
 * layers it depends on (and the inputs they need), with each layer's
 * `trainable` set by b; the file's own frozen flags are replaced, as
 * Keras's base.trainable does. An unknown output or trainable_from is an
 * error with "did you mean". */
nn_status nn_keras_base_text(const char *json_text, const char *what,
                             const char *keras_version, const nn_keras_base *b, char **text,
                             nn_error *err);

/* training_config JSON text to libconfig text holding one `train` group
 * (loss, metrics, optimizer). Fails, saying why, when the loss has no
 * nnctl equivalent. */
nn_status nn_keras_train_text(const char *json_text, const char *what, char **text,
                              nn_error *err);

/* The spec a Keras file's model comes from: its `model` group converted
 * from f's model_config, a `train` group from its training_config, and a
 * `train_standin` group (loss mse, sgd) for when nnctl cannot use that
 * train group. Without a usable training_config `train` is the stand-in
 * too, and *train_note says why (for eval to report); else it is "". */
nn_status nn_keras_file_spec(const nn_h5_model *f, const char *path, nn_spec **out,
                             char *train_note, size_t note_len, nn_error *err);

/* model = { from_json = "arch.json"; }: the Keras JSON file (relative to
 * spec_dir unless absolute) converted; *out holds the `model` group. */
nn_status nn_keras_json_file_spec(nn_spec_node *model, const char *spec_dir, nn_spec **out,
                                  nn_error *err);

/* Keras 1 layouts in f rewritten to the Keras 2 ones nnctl reads, using the
 * model_config: the 12 (LSTM) or 9 (GRU) per-gate arrays concatenated into
 * kernel, recurrent_kernel and bias; Conv1D kernels (k, 1, in, out)
 * squeezed. Conv kernels from a Theano-backend file are refused. */
nn_status nn_keras_fix_weights(nn_h5_model *f, const char *path, nn_error *err);

/* A model_config that names plugin types (nnctl wrote them with module
 * "nnctl.plugins.<plugin>") whose plugin is not loaded: an error naming
 * the layer, the type and the plugin, and saying to load it with --plugin. */
nn_status nn_keras_check_plugins(const char *model_config, const char *path, nn_error *err);

#endif

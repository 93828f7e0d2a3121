/* A model file's architecture as Keras's model.to_json() gives it, for
 * nnctl export --format json|yaml. */
#ifndef NN_IO_KERAS_TO_JSON_H
#define NN_IO_KERAS_TO_JSON_H

#include <jansson.h>

#include "io/keras/h5file.h"

/* The file's model_config, keys ordered as to_json() writes them
 * (class_name, config, keras_version, backend: the version and backend
 * from the file's attributes when the config lacks them), with every
 * serialized Keras object (the model, its layers, initializers,
 * regularizers) annotated with "module" and "registered_name" as
 * tf.keras >= 2.13 and Keras 3 serialize them: Keras 3's model_from_json
 * finds classes by their module. Nothing else differs from the stored
 * model_config. path names the file in errors. */
nn_status nn_keras_to_json(const nn_h5_model *f, const char *path, json_t **out, nn_error *err);

#endif

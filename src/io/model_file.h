/* Model files: a model graph (plus optimizer state, training state and the
 * spec it was trained with) to and from Keras-layout HDF5. */
#ifndef NN_IO_MODEL_FILE_H
#define NN_IO_MODEL_FILE_H

#include "io/h5file.h"
#include "model/model.h"
#include "train/train_spec.h"

typedef struct nn_model_file_opts {
    const char *spec_text;           /* stored under /nnctl, may be NULL */
    const char *state_json;          /* training state, may be NULL */
    const nn_train_cfg *train;       /* for training_config and optimizer state; may be NULL */
    bool weights_only;
    /* A host copy of every parameter (model order), stored as
     * "best/<layer>/<param>" (EarlyStopping's restore_best_weights snapshot,
     * which an exact resume needs). May be NULL. */
    const float *best_weights;
} nn_model_file_opts;

/* Saves atomically. */
nn_status nn_model_save(const nn_model *m, const char *path, const nn_model_file_opts *o,
                        nn_error *err);

/* Copies the weights stored in f into m (allocated on its engine), by layer
 * and weight name; every parameter of m must be found with its shape.
 * With opt != NULL also restores optimizer slots when present. */
nn_status nn_model_load_weights(nn_model *m, const nn_h5_model *f, const char *path,
                                nn_error *err);
nn_status nn_model_load_optimizer(nn_model *m, const nn_h5_model *f, const nn_optimizer *opt,
                                  const char *path, nn_error *err);

/* Reads the "best/..." snapshot into host (total parameter count floats);
 * *found = false when the file has none. */
nn_status nn_model_load_best(const nn_model *m, const nn_h5_model *f, float *host, bool *found,
                             const char *path, nn_error *err);

#endif

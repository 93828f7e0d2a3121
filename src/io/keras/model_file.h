/* Model files: a model graph (plus optimizer state, training state and the
 * spec it was trained with) to and from Keras-layout HDF5. */
#ifndef NN_IO_MODEL_FILE_H
#define NN_IO_MODEL_FILE_H

#include "io/keras/h5file.h"
#include "model/model.h"

/* Which optimizer's slots a file holds: their number and names follow the
 * kind (Keras's names: m and v for Adam, ...). */
typedef struct nn_opt_slots {
    nn_opt_kind kind;
    bool amsgrad;
    const char *name; /* for messages: "adam" */
} nn_opt_slots;

typedef struct nn_model_file_opts {
    const char *spec_text;           /* stored under /nnctl, may be NULL */
    const char *spec_dir;            /* the spec's folder, absolute; may be NULL */
    const char *class_names;         /* JSON {"<output>": [names]}; may be NULL */
    const char *preprocess;          /* JSON featurewise statistics; may be NULL */
    const char *state_json;          /* training state, may be NULL */
    const char *training_config;     /* Keras's compile() arguments as JSON, may be NULL */
    const nn_opt_slots *opt;         /* whose slots to store; NULL: none */
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
 * and weight name (or, where the names differ, by position when a layer
 * holds exactly as many weights as the model's layer has parameters, as
 * Keras orders them); every parameter of m must be found with its shape. */
nn_status nn_model_load_weights(nn_model *m, const nn_h5_model *f, const char *path,
                                nn_error *err);
/* train.init_from: node `node` of m takes the file's weights when the file
 * has a layer of its name holding every parameter (by name, or by position
 * as Keras orders them) with the same shapes; otherwise it keeps what it
 * has. */
typedef enum {
    NN_INIT_NO_PARAMS, /* nothing to load */
    NN_INIT_LOADED,
    NN_INIT_ABSENT,    /* no such layer, or not all of its weights */
    NN_INIT_SHAPE      /* weights of other shapes (a new head) */
} nn_init_result;
nn_init_result nn_model_load_matching(nn_model *m, const nn_h5_model *f, int node);

nn_status nn_model_load_optimizer(nn_model *m, const nn_h5_model *f, const nn_opt_slots *opt,
                                  const char *path, nn_error *err);

/* Reads the "best/..." snapshot into host (total parameter count floats);
 * *found = false when the file has none. */
nn_status nn_model_load_best(const nn_model *m, const nn_h5_model *f, float *host, bool *found,
                             const char *path, nn_error *err);

#endif

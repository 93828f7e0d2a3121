/* Everything one command works on, built from a spec: the model on its
 * engine, the training settings, the data and how the loss meets it. */
#ifndef NN_TRAIN_SESSION_H
#define NN_TRAIN_SESSION_H

#include "data/data_spec.h"
#include "data/featurewise.h"
#include "io/keras/h5file.h"
#include "train/fit.h"

typedef struct nn_session {
    nn_spec *spec;
    nn_model *model;
    nn_engine *engine;
    nn_train_cfg train;
    nn_data_cfg data;
    nn_objective obj;
    nn_dataset train_full, train_set, val_set, test_set;
    bool have_objective;
    nn_spec_node *train_node, *data_node; /* for locating errors */
    /* Where the model came from when not the spec's layers: a Keras file's
     * converted model_config, or model.from_json's file. */
    nn_spec *model_spec;
    char keras_file[1024]; /* the Keras file the model came from, or "" */
    char train_note[1024]; /* why the train section is a stand-in, or "" */
    bool from_model_file;  /* weights came from a model file (no init_from) */
    /* The names of output 0's classes: the training data's (CIFAR-10's
     * batches.meta.txt, an image folder's sub-folders), or the model
     * file's; n = 0 when unknown. */
    nn_class_names class_names;
    bool init_done;        /* train.init_from applied */
    /* data.featurewise_*: the training images' statistics (computed when
     * training, read from the model file otherwise); have_featurewise once
     * known. Every dataset the session loads points at it. */
    nn_featurewise featurewise;
    bool have_featurewise;
} nn_session;

/* model.base's file, held from building the model to loading its weights */
typedef struct nn_base_file {
    nn_h5_model f;
    bool open;
    char path[4200];
} nn_base_file;

/* A spec's model group to a model: the group's own layers, model.from_json's
 * Keras JSON file, or model.base's network (a model file's, cut at
 * base.output, with base.trainable, trainable_from or trainable_layers
 * deciding which of its layers train) followed by the group's layers. *aux
 * holds the converted group (free it after the model); bf (NULL when no
 * weights are wanted: summary) keeps the base's file for
 * nn_base_load_weights. */
nn_status nn_model_from_group(nn_spec_node *model, nn_spec **aux, nn_model **out,
                              nn_base_file *bf, nn_error *err);
/* Every layer the model took from model.base gets the file's weights. */
nn_status nn_base_load_weights(nn_model *m, nn_base_file *bf, nn_error *err);
void nn_base_file_close(nn_base_file *bf);
/* A file a spec names: as written (absolute, or relative to the current
 * folder) when it is there, else in the spec's folder dir. */
void nn_spec_relative_path(const char *dir, const char *p, char *out, size_t len);
/* model.base.application's value: a network's name, found as NAME.cfg in
 * the folders of topologies (src/session/applications.c), or a spec
 * file's path; at is the base group (errors name its line). */
nn_status nn_application_path(nn_spec_node *at, const char *name, char *out, size_t len,
                              nn_error *err);

/* Reads every section of spec (which the session takes over), builds the
 * model and allocates it on the engine. model.from_json = "file.json"
 * builds the model from a Keras JSON architecture (relative to the spec's
 * folder). */
nn_status nn_session_build(nn_session *s, nn_spec *spec, nn_error *err);

/* Loads the data a command needs and resolves the objective. Training
 * starts from train.init_from's weights when the spec names a file
 * (applied once, here; notes on stderr say which layers loaded). */
nn_status nn_session_load_train(nn_session *s, nn_error *err);
/* which: "test", "train" or "validation". */
nn_status nn_session_load_eval(nn_session *s, const char *which, const nn_dataset **out,
                               nn_error *err);

/* Loads a model file: its stored spec (or `spec_path` instead), `overrides`
 * applied, the model built and its weights loaded. A file without nnctl's
 * spec (Keras wrote it) gives its own model, from model_config, and its
 * train section from training_config; data and train sections (and a
 * model section, which then wins) come from spec_path when given. */
nn_status nn_session_from_model_file(nn_session *s, const char *path, const char *spec_path,
                                     const char *const *overrides, int n_overrides,
                                     nn_error *err);

/* What training divides the model's inputs by: data.scale, or 1 when the
 * training data are token ids (never scaled). predict feeds the model the
 * way it learned: every input format, PNG, IDX and .npy alike. */
double nn_session_input_scale(const nn_session *s);

/* The class names as the model file stores them, JSON {"<output>":
 * [names]}; NULL when there are none (caller frees). */
char *nn_session_class_names_json(const nn_session *s);
/* The featurewise statistics as the model file stores them, or NULL when
 * the spec asks for none (caller frees). */
char *nn_session_preprocess_json(const nn_session *s);
/* The preprocessing after data.scale that every input gets (featurewise
 * normalization), or NULL: for inputs predict reads itself. */
const nn_featurewise *nn_session_featurewise(const nn_session *s);

void nn_session_free(nn_session *s);

#endif

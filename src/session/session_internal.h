/* Private to src/session/: what session.c (building the model and its
 * settings, init_from, model files) and session_data.c (the data, checked
 * against the model) share. */
#ifndef NN_SESSION_SESSION_INTERNAL_H
#define NN_SESSION_SESSION_INTERNAL_H

#include <stdbool.h>

#include "session/session.h"

/* Refuses, before loading anything, a run that cannot fit in memory
 * (with_train: the training data and per-batch tensors too). */
nn_status nn_session__check_memory(const nn_session *s, bool with_train, nn_error *err);
/* train.init_from: the layers a model file has by name start from its weights. */
nn_status nn_session__init_from(nn_session *s, nn_error *err);
/* A model file's class names for output 0 (json_text may be NULL). */
void nn_session__names_from_file(nn_session *s, const char *json_text);
/* A spec's input of a None (0) length: the model built again at the length
 * of the training data d (session_length.c). */
nn_status nn_session__fit_length(nn_session *s, const nn_dataset *d, nn_error *err);

#endif

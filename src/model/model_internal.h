/* Private to src/model/: what model.c and plan.c share. */
#ifndef NN_MODEL_MODEL_INTERNAL_H
#define NN_MODEL_MODEL_INTERNAL_H

#include "model/model.h"

/* Frees every per-batch tensor (outputs, gradients, the shared buffers,
 * the layers' planned state); the model is unplanned after it. */
void nn_model__release_batch(nn_model *m);

#endif

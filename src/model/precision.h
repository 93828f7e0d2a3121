/* Which precision each layer's products run in: Keras's dtype policies
 * (train.precision for the model, a layer's own dtype key, --precision),
 * checked against what the engine can run here. */
#ifndef NN_MODEL_PRECISION_H
#define NN_MODEL_PRECISION_H

#include <stdio.h>

#include "model/model.h"

/* Gives every layer its precision: its own dtype policy when it has one
 * (unless force), else policy. A precision the engine cannot run here
 * becomes float32, and `note` (may be NULL) gets one line saying why, once
 * per precision. Returns the precision the model's products mostly run in
 * now (the policy, or float32 after a fallback). */
nn_precision nn_precision_apply(nn_model *m, nn_engine *e, nn_precision policy, bool force,
                                FILE *note);

/* Does any layer run products in p? */
bool nn_model_uses_precision(const nn_model *m, nn_precision p);

/* "mixed_bfloat16 (bf16 products and convolutions: oneDNN 2.6.3
 * avx512_core_bf16 kernels (AVX512-BF16, no AMX))": the policy most layers
 * have and the kernels that run it, for the first training line. */
void nn_precision_describe(const nn_model *m, nn_engine *e, char *buf, size_t len);

#endif

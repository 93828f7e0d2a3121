/* Export to C: a model as one self-contained C99 header for embedded use:
 * its weights as static const arrays and a one-sample inference function
 * that computes exactly nnctl's inference pass, needing only <math.h> and
 * <string.h> (no malloc, no state: the caller passes the scratch memory).
 * Each layer writes its own part (its row's export_c, formats/c_code.h). */
#ifndef NN_IO_C_EXPORT_H
#define NN_IO_C_EXPORT_H

#include "model/model.h"

/* Writes the header to path (atomically). The model's weights are read
 * from its engine. */
nn_status nn_export_c(const nn_model *m, const char *path, nn_error *err);

#endif

/* Private to src/data/dataset.c and subset.c. */
#ifndef NN_DATA_DATASET_INTERNAL_H
#define NN_DATA_DATASET_INTERNAL_H

#include "data/dataset.h"

/* Applied to every part of a dataset, the same way (the same rows). */
typedef nn_status (*part_op)(const nn_dataset *part, nn_dataset *out, const void *arg,
                             nn_error *err);

/* out (a struct copy of d, with its own buffers set) gets its own parts
 * arrays, part k made by op from d's part k: never d's arrays, which two
 * owners would free twice. On failure out's parts may be partly made; the
 * caller frees out whole. */
nn_status nn_dataset__map_parts(const nn_dataset *d, nn_dataset *out, part_op op,
                                const void *arg, nn_error *err);

#endif

/* What changed between the spec a checkpoint was written with and the spec
 * of the run resuming from it, and whether the saved state can take it. */
#ifndef NN_EXPERIMENTS_RESUME_SPEC_H
#define NN_EXPERIMENTS_RESUME_SPEC_H

#include <stdbool.h>

#include "util/error.h"

/* One changed key; from/to are its values as nnctl compare shows them
 * ("0.001", "adam", "[784]"), or "(unset)". */
typedef struct nn_spec_change {
    char *key, *from, *to;
} nn_spec_change;

typedef struct nn_spec_changes {
    nn_spec_change *v;
    int n;
} nn_spec_changes;

/* Compares two specs (libconfig text), key by key. Allowed changes are
 * listed in out (in document order). A change the saved state cannot take
 * is an error (NN_ERR_USAGE) naming the key, its two values and why:
 *   - the architecture: any model.* key except ones that leave the weights'
 *     shapes alone (dropout rate, noise stddev, batch-normalization
 *     momentum and epsilon, regularizers, initializers, the model's name);
 *   - the training data's shape: data.train.*, data.train_subset,
 *     data.validation_split, data.one_hot;
 *   - the optimizer's type and its slots (train.optimizer.type, amsgrad);
 *   - train.seed (batch order and dropout), train.metrics (history
 *     columns, saved sums), an early-stopping or checkpoint monitor/mode
 *     (the saved best value);
 *   - part-way through an epoch (mid_epoch): train.batch_size, train.loss,
 *     data.shuffle (the rest of the epoch would not match its start).
 * `train.optimizer = "adam"` and `optimizer = { type = "adam"; }` are the
 * same; so are lr and learning_rate, and train.callbacks as a list of
 * typed groups or keyed by type. where: the checkpoint's name, for
 * messages. */
nn_status nn_resume_spec_changes(const char *stored, const char *current, const char *where,
                                 bool mid_epoch, nn_spec_changes *out, nn_error *err);
void nn_spec_changes_free(nn_spec_changes *c);

#endif

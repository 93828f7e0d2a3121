/* Engine selection and helpers shared by every engine. */
#include "engine/engine.h"

#include <string.h>

nn_status nn_engine_cpu_create(int threads, nn_engine **out, nn_error *err);

nn_status nn_engine_create(const char *name, int threads, nn_engine **out, nn_error *err)
{
    if (strcmp(name, "cpu") == 0)
        return nn_engine_cpu_create(threads, out, err);
    if (strcmp(name, "gpu") == 0)
        return nn_fail(err, NN_ERR_USAGE,
                       "engine 'gpu': this nnctl has no GPU engine built in; use --engine cpu");
    return nn_fail(err, NN_ERR_USAGE, "unknown engine '%s' (expected cpu or gpu)", name);
}

void nn_engine_destroy(nn_engine *e)
{
    if (e)
        e->ops->destroy(e);
}

int nn_opt_slot_count(nn_opt_kind kind, bool amsgrad)
{
    switch (kind) {
    case NN_OPT_SGD: return 1;
    case NN_OPT_RMSPROP: return 1;
    case NN_OPT_ADAM: return amsgrad ? 3 : 2;
    case NN_OPT_ADAGRAD: return 1;
    case NN_OPT_ADADELTA: return 2;
    case NN_OPT_ADAMAX: return 2;
    case NN_OPT_NADAM: return 2;
    default: return 0;
    }
}


/* Engine selection and helpers shared by every engine. */
#include "engine/engine.h"

#include <stdio.h>
#include <string.h>

nn_status nn_engine_cpu_create(int threads, nn_engine **out, nn_error *err);
void nn_engine_cpu_describe(char *buf, size_t len);
#ifdef NN_HAVE_GPU /* make GPU=1: src/engine/gpu/ */
nn_status nn_engine_gpu_create(int threads, nn_engine **out, nn_error *err);
void nn_engine_gpu_describe(char *buf, size_t len);
#endif

nn_status nn_engine_create(const char *name, int threads, nn_engine **out, nn_error *err)
{
    if (strcmp(name, "cpu") == 0)
        return nn_engine_cpu_create(threads, out, err);
    if (strcmp(name, "gpu") == 0) {
#ifdef NN_HAVE_GPU
        return nn_engine_gpu_create(threads, out, err);
#else
        return nn_fail(err, NN_ERR_RUNTIME,
                       "engine 'gpu': this nnctl was built without the GPU engine (build it "
                       "with make GPU=1 where CUDA is installed); use --engine cpu");
#endif
    }
    return nn_fail(err, NN_ERR_USAGE, "unknown engine '%s' (expected cpu or gpu)", name);
}

void nn_engine_describe(char *buf, size_t len)
{
    nn_engine_cpu_describe(buf, len);
    size_t n = strlen(buf);
    if (n + 2 >= len)
        return;
#ifdef NN_HAVE_GPU
    snprintf(buf + n, len - n, "; ");
    nn_engine_gpu_describe(buf + n + 2, len - n - 2);
#else
    snprintf(buf + n, len - n, "; no gpu engine in this build (make GPU=1)");
#endif
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

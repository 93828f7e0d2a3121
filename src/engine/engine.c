/* Engine selection and helpers shared by every engine. */
#include "engine/engine.h"

#include <math.h>
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

void nn_tensor_touch(nn_tensor *t)
{
    /* one counter for every tensor of every engine: a tensor allocated where
     * a freed one was never inherits its version */
    static uint64_t counter;
    t->version = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
}

static const char *const policies[NN_PREC_COUNT] = {"float32", "mixed_bfloat16",
                                                    "mixed_float16"};

const char *nn_precision_policy(nn_precision p)
{
    return p >= 0 && p < NN_PREC_COUNT ? policies[p] : "float32";
}

bool nn_precision_parse(const char *policy, nn_precision *out)
{
    for (int i = 0; i < NN_PREC_COUNT; i++)
        if (strcmp(policy, policies[i]) == 0) {
            *out = (nn_precision)i;
            return true;
        }
    return false;
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

void nn_opt_step_constants(nn_opt_step *s)
{
    const double t = (double)s->t, b1 = s->beta_1, b2 = s->beta_2;
    s->c0 = s->c1 = s->c2 = 0.0f;
    switch (s->kind) {
    case NN_OPT_ADAM:
        s->c0 = (float)(s->lr * sqrt(1.0 - pow(b2, t)) / (1.0 - pow(b1, t)));
        break;
    case NN_OPT_ADAMAX:
        s->c0 = (float)(s->lr / (1.0 - pow(b1, t)));
        break;
    case NN_OPT_NADAM: {
        /* Keras's Nadam: momentum schedule mu_t; the product of the mu's so
         * far (including mu_t) is s->nadam_mu_product. */
        const double prod = s->nadam_mu_product, prod_next = prod * s->nadam_mu_next;
        s->c0 = (float)((1.0 - s->nadam_mu_t) / (1.0 - prod));
        s->c1 = (float)(s->nadam_mu_next / (1.0 - prod_next));
        s->c2 = (float)(1.0 / (1.0 - pow(b2, t)));
        break;
    }
    default:
        break;
    }
}

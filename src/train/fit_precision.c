/* train.precision = "auto": which of float32 and mixed_bfloat16 trains
 * faster here, measured on the first batch before training starts. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/precision.h"
#include "train/batch.h"
#include "train/fit_internal.h"

/* Training steps timed per precision, after one untimed step (oneDNN
 * makes its kernels on first use); the fastest counts. A few hundred
 * milliseconds on the worked examples. */
#define PICK_STEPS 3

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

nn_status nn_fit_pick_precision(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                                const nn_dataset *train, nn_precision *picked, double secs[2],
                                nn_error *err)
{
    static const nn_precision cand[2] = {NN_PREC_FLOAT32, NN_PREC_BFLOAT16};
    secs[0] = secs[1] = 0.0;
    *picked = NN_PREC_FLOAT32;
    char why[256];
    if (!m->e->ops->precision_supported(m->e, NN_PREC_BFLOAT16, why, sizeof why) ||
        train->n == 0) {
        nn_precision_apply(m, m->e, NN_PREC_FLOAT32, false, NULL);
        return NN_OK;
    }
    const int batch =
        (int)(t->batch_size < (long long)train->n ? t->batch_size : (long long)train->n);
    batcher b;
    memset(&b, 0, sizeof b);
    float *saved = NULL;
    nn_status st = nn_model_plan(m, batch, err);
    if (!st)
        st = nn_fit__batcher_init(&b, m, o, (size_t)batch, batch, err);
    if (!st && !(saved = nn_malloc(nn_fit__total_weights(m) * sizeof(float), err)))
        st = NN_ERR_RUNTIME;
    if (st)
        goto done;
    /* the steps leave gradients and batch statistics behind: the weights
     * (moving averages included) go back as they were */
    nn_fit__copy_weights(m, saved, true);
    for (int i = 0; i < batch; i++)
        b.idx[i] = (uint32_t)i;
    nn_fit__load_batch(&b, m, o, train, b.idx, batch, NULL);
    nn_rng drop;
    nn_rng_seed(&drop, (uint64_t)t->seed, NN_STREAM_DROPOUT);
    for (int c = 0; c < 2; c++) {
        nn_precision_apply(m, m->e, cand[c], false, NULL);
        double best = 1e30;
        for (int k = 0; k <= PICK_STEPS; k++) {
            nn_pass pass = {.e = m->e, .rows = batch, .training = true, .rng = &drop};
            double t0 = seconds();
            nn_batch_gradients(m, o, b.ytp, &pass, NULL);
            double dt = seconds() - t0;
            if (k > 0 && dt < best)
                best = dt;
        }
        secs[c] = best;
    }
    nn_fit__copy_weights(m, saved, false);
    *picked = secs[1] < secs[0] ? NN_PREC_BFLOAT16 : NN_PREC_FLOAT32;
    nn_precision_apply(m, m->e, *picked, false, NULL);
done:
    free(saved);
    nn_fit__batcher_free(&b, m->e);
    return st;
}

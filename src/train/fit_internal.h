/* Private to the fit loop's files (fit.c, evaluate.c, fit_state.c): the
 * batch staging buffers, checkpoint saves and the loop's side of what
 * callbacks see. */
#ifndef NN_TRAIN_FIT_INTERNAL_H
#define NN_TRAIN_FIT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "train/callbacks/callback.h"
#include "train/fit.h"

typedef struct batcher {
    int n_in, n_out;
    float *x[NN_MAX_IO], *y[NN_MAX_IO]; /* host staging, for engines off the host */
    float *aug; /* one sample, the source of an augmented row */
    uint32_t *idx;
    nn_tensor ids;                      /* the batch's sample indices, for dropout */
    nn_tensor yt[NN_MAX_IO];            /* each output's targets */
    nn_tensor *ytp[NN_MAX_IO];          /* &yt[k], as nn_batch_* take them */
    float *pred[NN_MAX_IO]; /* host copies of the outputs, for plugin metrics off the host */
} batcher;

/* Where a training batch stands: augmentation and dropout are drawn per
 * (seed, epoch, sample index), so a resumed run sees the same, and so
 * does a run split over processes. */
typedef struct batch_pos {
    uint64_t seed;
    long long epoch;
} batch_pos;

/* The fit loop's side of what callbacks see (callback.h). */
struct nn_fit_loop {
    nn_fit_state *s;
    nn_train_cfg *t;
    const nn_fit_opts *opts;
    bool keep_best;         /* some callback keeps a best-weights snapshot */
    int n_saves;            /* saves asked for at this epoch's end */
    struct {
        char path[4096];
        bool weights_only;
    } saves[NN_MAX_CALLBACKS];
};

/* ---- evaluate.c ---- */

/* The staging buffers for batches of up to batch rows of a dataset of n
 * samples; nn_fit__batcher_free also frees what a failed init made. */
nn_status nn_fit__batcher_init(batcher *b, nn_model *m, const nn_objective *o, size_t n,
                               int batch, nn_error *err);
void nn_fit__batcher_free(batcher *b, nn_engine *e);
/* Gathers rows samples idx[] of d into the model's inputs and b's targets
 * (pos: a training batch, augmented and with dropout ids). */
void nn_fit__load_batch(batcher *b, nn_model *m, const nn_objective *o, const nn_dataset *d,
                        const uint32_t *idx, int rows, const batch_pos *pos);
/* Adds the batch just run to the metrics' sums and plugin metrics' state. */
void nn_fit__add_metrics(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                         const batcher *b, int rows, double *sums,
                         double (*mstate)[NN_METRIC_STATE_MAX]);
/* Logs prefix"loss" and each output's loss (several outputs). */
void nn_fit__set_losses(nn_logs *l, const nn_train_cfg *t, const char *prefix, double loss,
                        const double *head_sums, size_t n);
/* A metric's value from its sum over n samples (or a plugin's state). */
double nn_fit__metric_value(const nn_metric *mt, double sum, size_t n, const double *state);
/* Inference over d in batches through b (evaluate.c says more). */
nn_status nn_fit__evaluate_batches(nn_model *m, const nn_train_cfg *t, const nn_objective *o,
                                   const nn_dataset *d, int batch, batcher *b, nn_dist *dist,
                                   nn_eval_result *r, bool stop_on_signal, float *host,
                                   nn_error *err);

/* ---- fit_state.c ---- */

/* Every parameter's values (moving statistics included) to or from host
 * memory of nn_fit__total_weights(m) floats. */
size_t nn_fit__total_weights(const nn_model *m);
void nn_fit__copy_weights(nn_model *m, float *host, bool to_host);
/* Saves the model with the training state (a checkpoint) to path. */
nn_status nn_fit__save_model(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                             const nn_fit_opts *opts, const char *path, bool weights_only,
                             nn_error *err);
/* last.h5, the resumable checkpoint; the first one written tells
 * opts->first_checkpoint. */
nn_status nn_fit__save_last(nn_model *m, const nn_train_cfg *t, const nn_fit_state *s,
                            const nn_fit_opts *opts, const char *path, bool *first_done,
                            nn_error *err);

#endif

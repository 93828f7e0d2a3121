/* Training callbacks as registry rows: one row (nn_callback_type) per type,
 * built in (early_stopping, checkpoint, history, tensorboard, exec) or
 * registered by a plugin, and one instance (nn_callback) per entry of
 * train.callbacks. The fit loop calls every instance's hooks in the order
 * the spec lists them, with one context (nn_fit_ctx) through which a
 * callback reads the model and the logs, sets the learning rate, stops
 * training or asks for the model to be saved. */
#ifndef NN_TRAIN_CALLBACKS_CALLBACK_H
#define NN_TRAIN_CALLBACKS_CALLBACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "model/model.h"
#include "spec/spec.h"
#include "train/logs.h"
#include "util/doc.h"

#define NN_MAX_CALLBACKS 16
/* Room for a row's settings inside its instance (a checkpoint's path
 * template is the largest built-in). */
#define NN_CALLBACK_CFG_MAX 4608

typedef struct nn_train_cfg nn_train_cfg;
typedef struct nn_callback nn_callback;
typedef struct nn_fit_ctx nn_fit_ctx;
typedef struct nn_fit_loop nn_fit_loop;

typedef struct nn_callback_type {
    const char *name;        /* spec type, e.g. "early_stopping" */
    const char *keras_class; /* the Keras callback it follows, or NULL */
    const char *doc;         /* one sentence for the man page */
    const nn_doc_key *keys;  /* its settings, ending with {NULL} */
    size_t cfg_size;         /* bytes of cb->cfg it uses (<= NN_CALLBACK_CFG_MAX) */
    /* Reads the settings group g into cb->cfg, checking them against the
     * training settings t (monitors name logged values); the caller checks
     * unknown keys afterwards. */
    nn_status (*parse)(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t, nn_error *err);
    /* The logged value the callback needs ("" or NULL: none). */
    const char *(*monitor)(const nn_callback *cb);
    /* Hooks, each optional. train_begin makes cb->state; train_end (also
     * after an error or an interruption: c->failed) releases it. */
    nn_status (*train_begin)(nn_callback *cb, nn_fit_ctx *c, nn_error *err);
    nn_status (*epoch_begin)(nn_callback *cb, nn_fit_ctx *c, nn_error *err);
    nn_status (*batch_begin)(nn_callback *cb, nn_fit_ctx *c, nn_error *err);
    /* running: this epoch's running means so far (Keras's batch logs). */
    nn_status (*batch_end)(nn_callback *cb, nn_fit_ctx *c, const nn_logs *running,
                           nn_error *err);
    /* Whether batch_end wants this batch (optional: every batch); the
     * running logs are made only for batches some callback wants. */
    bool (*wants_batch)(const nn_callback *cb, const nn_fit_ctx *c);
    nn_status (*epoch_end)(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs, nn_error *err);
    nn_status (*train_end)(nn_callback *cb, nn_fit_ctx *c, nn_error *err);
    /* What an exact resume needs (stored in every checkpoint under the
     * instance's key), and reading it back after train_begin. */
    json_t *(*save_state)(const nn_callback *cb);
    void (*load_state)(nn_callback *cb, const json_t *state);
    const void *plugin; /* the plugin's row (plugin types), else NULL */
    /* Data-parallel training (mpirun): true for callbacks that only write
     * files or run commands (history, TensorBoard, exec): they run on rank
     * 0 alone. The others run on every rank with the same logs, and take
     * the same decisions (a stop any rank asks for ends every rank's
     * training; rank 0's learning rate is every rank's). */
    bool root_only;
} nn_callback_type;

struct nn_callback {
    const nn_callback_type *type;
    char key[48];        /* names its state: the type, or "<type>_<n>" for the n-th more */
    nn_spec_node *spec;  /* its settings group (NULL: defaults) */
    void *state;         /* from train_begin to train_end */
    _Alignas(16) unsigned char cfg[NN_CALLBACK_CFG_MAX];
};

/* What callbacks see of the fit loop. */
struct nn_fit_ctx {
    nn_model *model;
    nn_train_cfg *train;     /* the settings (nn_fit_set_lr changes the learning rate) */
    const char *run_dir;
    FILE *out;               /* progress and messages */
    bool tty, quiet;
    long long epochs, steps; /* planned epochs, batches per epoch */
    long long epoch, step;   /* the current epoch and batch, from 0 */
    size_t samples;          /* training samples */
    double epoch_seconds;    /* at epoch_end: how long the epoch took */
    bool resumed;            /* continuing a checkpoint */
    bool stop_training;      /* set by a callback: training ends after this epoch */
    bool failed;             /* train_end after an error or an interruption */
    bool root;               /* rank 0 of a data-parallel run, or the only process */
    nn_fit_loop *loop;       /* the fit loop's own */
};

/* ---- services of the fit loop (fit.c) ---- */

/* Keeps a host copy of every weight from now on (restore_best_weights):
 * nn_fit_snapshot_best copies the current weights into it, and
 * nn_fit_restore_best copies it back (false when nothing was taken). The
 * copy is part of every checkpoint, so a resumed run keeps it. */
nn_status nn_fit_keep_best(nn_fit_ctx *c, nn_error *err);
void nn_fit_snapshot_best(nn_fit_ctx *c);
bool nn_fit_restore_best(nn_fit_ctx *c);
/* Saves the model (with everything a resume needs) to path once every
 * callback has seen this epoch's end. */
nn_status nn_fit_request_save(nn_fit_ctx *c, const char *path, bool weights_only,
                              nn_error *err);
/* The optimizer's learning rate, and a new one from now on (as Keras's
 * optimizer.learning_rate: train.optimizer.decay still applies on top). */
double nn_fit_get_lr(const nn_fit_ctx *c);
void nn_fit_set_lr(nn_fit_ctx *c, double lr);

/* ---- the registry ---- */

const nn_callback_type *nn_callback_type_find(const char *name);
/* Every type's name, built-in first, NULL-terminated (for "did you mean"). */
const char *const *nn_callback_type_names(void);
/* The i-th type (NULL past the end). */
const nn_callback_type *nn_callback_type_at(int i);
/* Adds a plugin's type; an error when the name is taken. The row must
 * live as long as the program. */
nn_status nn_callback_type_register(const nn_callback_type *t, nn_error *err);

/* Reads train.callbacks into t->callbacks: a group keyed by type
 * (callbacks = { early_stopping = {...}; history = {...}; }) or a list of
 * groups with a type each (callbacks = ( { type = "exec"; ... }, ... ));
 * history.csv is written unless the spec turns it off. */
nn_status nn_spec_callbacks(nn_spec_node *train, nn_train_cfg *t, nn_error *err);

/* The instance of type name in t (the first), or NULL. */
const nn_callback *nn_train_callback(const nn_train_cfg *t, const char *name);

/* Checks that a monitor names a logged value (loss, a metric, an output's
 * loss, or their val_ forms; Keras 2's "val_acc" names "val_accuracy"),
 * else an error listing them, with "did you mean". canon (len bytes; may
 * be NULL) gets the name as logged. */
nn_status nn_callback_check_monitor(nn_spec_node *g, const char *key, const char *monitor,
                                    const nn_train_cfg *t, char *canon, size_t len,
                                    nn_error *err);

#endif

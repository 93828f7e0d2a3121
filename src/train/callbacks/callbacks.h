/* Training callbacks: progress display, history CSV, early stopping,
 * checkpoints, TensorBoard. Each keeps its own small state, which a checkpoint stores. */
#ifndef NN_TRAIN_CALLBACKS_H
#define NN_TRAIN_CALLBACKS_H

#include <stdio.h>

#include "train/callbacks/callback.h"
#include "train/callbacks/tfevents.h"
#include "train/logs.h"
#include "train/train_spec.h"

typedef enum { NN_MODE_AUTO = 0, NN_MODE_MIN, NN_MODE_MAX } nn_monitor_mode;

typedef struct nn_early_stopping_cfg {
    bool enabled;
    char monitor[64];
    double min_delta;
    long long patience, start_from_epoch;
    nn_monitor_mode mode;
    bool has_baseline;
    double baseline;
    bool restore_best_weights;
} nn_early_stopping_cfg;

typedef struct nn_checkpoint_cfg {
    bool enabled;
    char path[PATH_MAX]; /* template, relative to the run directory */
    char monitor[64];
    nn_monitor_mode mode;
    bool save_best_only, save_weights_only, verbose;
} nn_checkpoint_cfg;

typedef struct nn_history_cfg {
    bool enabled;
    char path[PATH_MAX];
    char separator;
    bool append;
} nn_history_cfg;

/* Keras's TensorBoard callback: event files under log_dir/train and
 * log_dir/validation. */
typedef struct nn_tensorboard_cfg {
    bool enabled;
    char log_dir[PATH_MAX];   /* relative to the run directory unless absolute */
    long long histogram_freq; /* weight histograms every N epochs; 0: none */
    long long update_freq;    /* batch scalars every N batches; 0: "epoch" (none) */
} nn_tensorboard_cfg;

/* Does `name` mean "bigger is better" (mode auto, Keras 2's rule)? */
bool nn_monitor_maximize(nn_monitor_mode mode, const char *name);

/* The built-in rows. */
extern const nn_callback_type nn_callback_early_stopping, nn_callback_checkpoint,
    nn_callback_history, nn_callback_tensorboard, nn_callback_exec,
    nn_callback_reduce_lr_on_plateau, nn_callback_lr_scheduler;

/* ---- progress ---- */
typedef struct nn_progress {
    FILE *out;
    bool tty, quiet;
    struct nn_engine *engine; /* for its device memory (GPU), or NULL */
    long long epochs, steps;
    double t_epoch, t_last_draw;
} nn_progress;

void nn_progress_epoch_begin(nn_progress *p, long long epoch);
/* step is 1-based; logs hold the running means so far. */
void nn_progress_step(nn_progress *p, long long step, const nn_logs *running);
void nn_progress_epoch_end(nn_progress *p, const nn_logs *logs, double seconds);

/* ---- history CSV ---- */
typedef struct nn_history {
    const nn_history_cfg *cfg;
    char path[4096];
    char *text;     /* whole CSV so far; rewritten atomically each epoch */
    size_t len, cap;
    bool header_done;
} nn_history;

nn_status nn_history_open(nn_history *h, const nn_history_cfg *cfg, const char *run_dir,
                          nn_error *err);
/* For a resumed run: keeps the existing file's header and its first
 * `epochs` rows (the epochs already done), drops the rest. */
nn_status nn_history_resume(nn_history *h, long long epochs, nn_error *err);
/* epoch is 0-based (Keras's CSVLogger). time is the epoch's seconds. */
nn_status nn_history_append(nn_history *h, long long epoch, const nn_logs *logs, double time,
                            nn_error *err);
void nn_history_close(nn_history *h);

/* ---- early stopping (Keras semantics; see early_stop.c) ---- */
typedef struct nn_early_stopping {
    const nn_early_stopping_cfg *cfg;
    bool maximize;
    double best;
    long long wait, best_epoch, stopped_epoch;
    bool have_best;
} nn_early_stopping;

void nn_early_stopping_begin(nn_early_stopping *s, const nn_early_stopping_cfg *cfg);
/* Returns true when training should stop; *improved tells whether this
 * epoch is the new best (to snapshot weights). */
bool nn_early_stopping_epoch_end(nn_early_stopping *s, long long epoch, const nn_logs *logs,
                                 bool *improved);

/* ---- checkpoints ---- */
typedef struct nn_checkpoint {
    const nn_checkpoint_cfg *cfg;
    bool maximize;
    double best;
    bool have_best;
} nn_checkpoint;

void nn_checkpoint_begin(nn_checkpoint *c, const nn_checkpoint_cfg *cfg);
/* Decides whether to save this epoch; fills path (run_dir/template). */
nn_status nn_checkpoint_epoch_end(nn_checkpoint *c, long long epoch, const nn_logs *logs,
                                  const char *run_dir, bool *save, char *path, size_t len,
                                  char *message, size_t mlen, nn_error *err);
/* Python-style {epoch:02d} / {val_loss:.4f} formatting. */
nn_status nn_format_template(const char *tmpl, long long epoch, const nn_logs *logs, char *out,
                             size_t len, nn_error *err);

/* ---- TensorBoard (Keras semantics; see tensorboard.c) ---- */
struct nn_model;

typedef struct nn_tensorboard {
    const nn_tensorboard_cfg *cfg;
    char dir[PATH_MAX];
    long long steps;      /* batches per epoch */
    nn_tfevents train, val; /* val is opened at the first validation value */
    float *host;          /* weights downloaded for histograms */
} nn_tensorboard;

/* Opens log_dir/train (a new event file; a resumed run adds one more, as
 * TensorFlow does). steps = batches per epoch. Does nothing when the
 * callback is off. */
nn_status nn_tensorboard_begin(nn_tensorboard *tb, const nn_tensorboard_cfg *cfg,
                               const char *run_dir, const struct nn_model *m, long long steps,
                               nn_error *err);
/* Global batch number (from 1, as Keras's step counter) of batch `step`
 * (0-based) of `epoch`, when update_freq asks for batch scalars there;
 * 0 otherwise. */
long long nn_tensorboard_batch_step(const nn_tensorboard *tb, long long epoch, long long step);
/* batch_<name> scalars of the running logs at that global step. */
nn_status nn_tensorboard_batch_end(nn_tensorboard *tb, long long global_step,
                                   const nn_logs *running, nn_error *err);
/* epoch_<name> scalars (train: loss, metrics, learning_rate; validation:
 * the val_ values without their prefix), step = epoch (from 0), then weight
 * histograms when histogram_freq says so; flushes both files. */
nn_status nn_tensorboard_epoch_end(nn_tensorboard *tb, long long epoch, const nn_logs *logs,
                                   const struct nn_model *m, nn_error *err);
void nn_tensorboard_close(nn_tensorboard *tb);

#endif

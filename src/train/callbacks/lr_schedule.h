/* The learning-rate schedules of the learning_rate_scheduler callback
 * (lr_scheduler.c): Keras's ExponentialDecay (step: staircase),
 * CosineDecay with warm-up and PiecewiseConstantDecay. */
#ifndef NN_TRAIN_CALLBACKS_LR_SCHEDULE_H
#define NN_TRAIN_CALLBACKS_LR_SCHEDULE_H

#include <stdbool.h>

#include "spec/spec.h"

typedef enum {
    NN_SCHEDULE_STEP = 0,
    NN_SCHEDULE_EXPONENTIAL,
    NN_SCHEDULE_COSINE,
    NN_SCHEDULE_PIECEWISE
} nn_schedule_kind;

#define NN_SCHEDULE_MAX_PIECES 32

typedef struct nn_lr_schedule_cfg {
    nn_schedule_kind kind;
    bool per_batch;                 /* t counts optimizer steps, else epochs */
    bool has_initial;
    double initial;                 /* initial_learning_rate (else the optimizer's) */
    double decay_steps, decay_rate; /* step, exponential, cosine */
    bool staircase;
    double alpha, warmup_steps, warmup_target; /* cosine */
    bool has_warmup_target;
    int n_boundaries;               /* piecewise */
    double boundaries[NN_SCHEDULE_MAX_PIECES], values[NN_SCHEDULE_MAX_PIECES + 1];
    bool verbose;
} nn_lr_schedule_cfg;

/* Reads a learning_rate_scheduler group. */
nn_status nn_lr_schedule_parse(nn_lr_schedule_cfg *s, nn_spec_node *g, nn_error *err);
/* The rate at step t (epoch or optimizer step, from 0). */
double nn_lr_schedule_at(const nn_lr_schedule_cfg *s, double initial, double t);

#endif

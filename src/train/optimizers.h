/* The optimizer registry: Keras's optimizers with Keras 2's defaults and
 * meanings (lr decay: lr / (1 + decay * iterations)). */
#ifndef NN_TRAIN_OPTIMIZERS_H
#define NN_TRAIN_OPTIMIZERS_H

#include "model/model.h"
#include "spec/spec.h"

typedef struct nn_optimizer {
    nn_opt_kind kind;
    const char *name;          /* spec name */
    const char *keras_class;
    double lr, momentum, rho, beta_1, beta_2, epsilon, decay, initial_accumulator;
    double clipnorm, clipvalue; /* 0 = off */
    bool nesterov, amsgrad;
    /* state (checkpointed) */
    long long iterations;
    double nadam_m_schedule;   /* product of Nadam's momentum schedule */
} nn_optimizer;

/* Reads train.optimizer: a name ("adam") or a group { type = "adam"; lr = ...; }. */
nn_status nn_spec_optimizer(nn_spec_node *train, nn_optimizer *out, nn_error *err);
int nn_optimizer_slots(const nn_optimizer *o);
/* The i-th optimizer's spec name and Keras class (NULL past the end). */
const char *nn_optimizer_name_at(int i, const char **keras_class);
/* Sets initial slot values (Adagrad's accumulator starts at 0.1). */
void nn_optimizer_init_slots(const nn_optimizer *o, nn_model *m);
/* The learning rate the next step uses. */
double nn_optimizer_current_lr(const nn_optimizer *o);
/* Clips gradients (clipnorm per tensor, clipvalue) and updates every
 * trainable parameter of m; advances iterations. */
void nn_optimizer_step(nn_optimizer *o, nn_model *m);
/* Keras's optimizer config JSON (for training_config). */
json_t *nn_optimizer_keras_json(const nn_optimizer *o);

#endif

#include <math.h>
#include <string.h>

#include "train/optimizers.h"

typedef struct {
    const char *name, *keras_class;
    nn_opt_kind kind;
    double lr, rho, beta_1, beta_2;
} opt_row;

static const opt_row rows[] = {
    {"sgd", "SGD", NN_OPT_SGD, 0.01, 0, 0, 0},
    {"rmsprop", "RMSprop", NN_OPT_RMSPROP, 0.001, 0.9, 0, 0},
    {"adam", "Adam", NN_OPT_ADAM, 0.001, 0, 0.9, 0.999},
    {"adagrad", "Adagrad", NN_OPT_ADAGRAD, 0.001, 0, 0, 0},
    {"adadelta", "Adadelta", NN_OPT_ADADELTA, 0.001, 0.95, 0, 0},
    {"adamax", "Adamax", NN_OPT_ADAMAX, 0.001, 0, 0.9, 0.999},
    {"nadam", "Nadam", NN_OPT_NADAM, 0.001, 0, 0.9, 0.999},
};
#define N_ROWS ((int)(sizeof rows / sizeof rows[0]))

const char *nn_optimizer_name_at(int i, const char **keras_class)
{
    if (i < 0 || i >= N_ROWS)
        return NULL;
    if (keras_class)
        *keras_class = rows[i].keras_class;
    return rows[i].name;
}

nn_status nn_spec_optimizer(nn_spec_node *train, nn_optimizer *o, nn_error *err)
{
    const char *names[N_ROWS + 1];
    for (int i = 0; i < N_ROWS; i++)
        names[i] = rows[i].name;
    names[N_ROWS] = NULL;
    memset(o, 0, sizeof *o);
    nn_spec_node *g = NULL;
    int idx;
    nn_status st;
    nn_error probe;
    if (!nn_spec_has(train, "optimizer") && (st = nn_spec_misspelt(train, "optimizer", err)))
        return st;
    if (!nn_spec_has(train, "optimizer"))
        return nn_spec_fail(train, "optimizer", err, NN_ERR_USAGE,
                            "missing required key (e.g. optimizer = { type = \"adam\"; lr = "
                            "0.001; };)");
    if (nn_spec_group(train, "optimizer", true, &g, &probe) != NN_OK) {
        g = NULL;
        if ((st = nn_spec_choice(train, "optimizer", true, names, -1, &idx, err)))
            return st;
    } else if ((st = nn_spec_choice(g, "type", true, names, -1, &idx, err))) {
        return st;
    }
    const opt_row *r = &rows[idx];
    o->kind = r->kind;
    o->name = r->name;
    o->keras_class = r->keras_class;
    o->lr = r->lr;
    o->rho = r->rho;
    o->beta_1 = r->beta_1;
    o->beta_2 = r->beta_2;
    o->epsilon = 1e-7;
    o->initial_accumulator = 0.1;
    o->nadam_m_schedule = 1.0;
    if (!g)
        return NN_OK;
    if ((st = nn_spec_float(g, "lr", false, o->lr, 0.0, 1e6, &o->lr, err)) ||
        (st = nn_spec_float(g, "decay", false, 0.0, 0.0, 1e6, &o->decay, err)) ||
        (st = nn_spec_float(g, "epsilon", false, o->epsilon, 0.0, 1.0, &o->epsilon, err)) ||
        (st = nn_spec_float(g, "clipnorm", false, 0.0, 0.0, 1e30, &o->clipnorm, err)) ||
        (st = nn_spec_float(g, "clipvalue", false, 0.0, 0.0, 1e30, &o->clipvalue, err)))
        return st;
    if (nn_spec_has(g, "learning_rate")) {
        if (nn_spec_has(g, "lr"))
            return nn_spec_fail(g, "learning_rate", err, NN_ERR_USAGE,
                                "give either lr or learning_rate, not both");
        if ((st = nn_spec_float(g, "learning_rate", false, o->lr, 0.0, 1e6, &o->lr, err)))
            return st;
    }
    switch (o->kind) {
    case NN_OPT_SGD:
        if ((st = nn_spec_float(g, "momentum", false, 0.0, 0.0, 1.0, &o->momentum, err)) ||
            (st = nn_spec_bool(g, "nesterov", false, false, &o->nesterov, err)))
            return st;
        break;
    case NN_OPT_RMSPROP:
    case NN_OPT_ADADELTA:
        if ((st = nn_spec_float(g, "rho", false, o->rho, 0.0, 1.0, &o->rho, err)))
            return st;
        break;
    case NN_OPT_ADAGRAD:
        if ((st = nn_spec_float(g, "initial_accumulator_value", false, 0.1, 0.0, 1e6,
                                &o->initial_accumulator, err)))
            return st;
        break;
    case NN_OPT_ADAM:
        if ((st = nn_spec_bool(g, "amsgrad", false, false, &o->amsgrad, err)))
            return st;
        /* fall through */
    case NN_OPT_ADAMAX:
    case NN_OPT_NADAM:
        if ((st = nn_spec_float(g, "beta_1", false, o->beta_1, 0.0, 1.0, &o->beta_1, err)) ||
            (st = nn_spec_float(g, "beta_2", false, o->beta_2, 0.0, 1.0, &o->beta_2, err)))
            return st;
        if (o->beta_1 >= 1.0 || o->beta_2 >= 1.0)
            return nn_spec_fail(g, o->beta_1 >= 1.0 ? "beta_1" : "beta_2", err, NN_ERR_USAGE,
                                "expected a number below 1");
        break;
    default:
        break;
    }
    return nn_spec_check_unknown(g, err);
}

int nn_optimizer_slots(const nn_optimizer *o) { return nn_opt_slot_count(o->kind, o->amsgrad); }

void nn_optimizer_init_slots(const nn_optimizer *o, nn_model *m)
{
    nn_engine *e = m->e;
    int slots = nn_optimizer_slots(o);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!p->trainable)
                continue;
            for (int s = 0; s < slots; s++)
                e->ops->fill(e, &p->slots[s],
                             (o->kind == NN_OPT_ADAGRAD && s == 0) ? (float)o->initial_accumulator
                                                                   : 0.0f,
                             p->size);
        }
}

double nn_optimizer_current_lr(const nn_optimizer *o)
{
    return o->lr / (1.0 + o->decay * (double)o->iterations);
}

void nn_optimizer_step(nn_optimizer *o, nn_model *m)
{
    nn_engine *e = m->e;
    nn_opt_step s = {
        .kind = o->kind,
        .lr = (float)nn_optimizer_current_lr(o),
        .momentum = (float)o->momentum,
        .nesterov = o->nesterov,
        .rho = (float)o->rho,
        .beta_1 = (float)o->beta_1,
        .beta_2 = (float)o->beta_2,
        .epsilon = (float)o->epsilon,
        .amsgrad = o->amsgrad,
        .t = o->iterations + 1,
    };
    if (o->kind == NN_OPT_NADAM) {
        /* Keras's (tf.keras >= 2.11 and Keras 3) momentum schedule:
         * mu_t = beta_1 (1 - 0.5 * 0.96^t); Keras 2's legacy Nadam had
         * 0.96^(0.004 t) */
        double t = (double)s.t;
        s.nadam_mu_t = o->beta_1 * (1.0 - 0.5 * pow(0.96, t));
        s.nadam_mu_next = o->beta_1 * (1.0 - 0.5 * pow(0.96, t + 1.0));
        o->nadam_m_schedule *= s.nadam_mu_t;
        s.nadam_mu_product = o->nadam_m_schedule;
    }
    nn_opt_step_constants(&s);
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!p->trainable)
                continue;
            if (o->clipnorm > 0.0) {
                double norm = sqrt(e->ops->sum_squares(e, &p->g, p->size));
                if (norm > o->clipnorm)
                    e->ops->scale(e, &p->g, (float)(o->clipnorm / norm), p->size);
            }
            if (o->clipvalue > 0.0)
                e->ops->clip(e, &p->g, (float)o->clipvalue, p->size);
            nn_tensor *slots[3] = {&p->slots[0], &p->slots[1], &p->slots[2]};
            e->ops->opt_update(e, &s, &p->w, &p->g, slots, p->size);
        }
    o->iterations++;
}

json_t *nn_optimizer_keras_json(const nn_optimizer *o)
{
    json_t *cfg = json_object();
    json_object_set_new(cfg, "name", json_string(o->keras_class));
    json_object_set_new(cfg, "learning_rate", json_real(o->lr));
    if (o->decay != 0.0) /* Keras 3 warns about the key even when 0 */
        json_object_set_new(cfg, "decay", json_real(o->decay));
    switch (o->kind) {
    case NN_OPT_SGD:
        json_object_set_new(cfg, "momentum", json_real(o->momentum));
        json_object_set_new(cfg, "nesterov", json_boolean(o->nesterov));
        break;
    case NN_OPT_RMSPROP:
        json_object_set_new(cfg, "rho", json_real(o->rho));
        json_object_set_new(cfg, "momentum", json_real(0.0));
        json_object_set_new(cfg, "epsilon", json_real(o->epsilon));
        json_object_set_new(cfg, "centered", json_false());
        break;
    case NN_OPT_ADAGRAD:
        json_object_set_new(cfg, "initial_accumulator_value", json_real(o->initial_accumulator));
        json_object_set_new(cfg, "epsilon", json_real(o->epsilon));
        break;
    case NN_OPT_ADADELTA:
        json_object_set_new(cfg, "rho", json_real(o->rho));
        json_object_set_new(cfg, "epsilon", json_real(o->epsilon));
        break;
    default:
        json_object_set_new(cfg, "beta_1", json_real(o->beta_1));
        json_object_set_new(cfg, "beta_2", json_real(o->beta_2));
        json_object_set_new(cfg, "epsilon", json_real(o->epsilon));
        if (o->kind == NN_OPT_ADAM)
            json_object_set_new(cfg, "amsgrad", json_boolean(o->amsgrad));
        break;
    }
    return json_pack("{s:s, s:o}", "class_name", o->keras_class, "config", cfg);
}

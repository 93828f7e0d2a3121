#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train_spec.h"

void nn_head_loss_name(const nn_train_cfg *t, int head, char *buf, size_t len)
{
    if (t->n_outputs > 1)
        snprintf(buf, len, "%s_loss", t->output_names[head]);
    else
        snprintf(buf, len, "loss");
}

int nn_logged_names(const nn_train_cfg *c, bool with_val, char (*names)[NN_LOGGED_NAME],
                    int max)
{
    int n = 0, k = 0;
    char own[NN_MAX_METRICS + NN_MAX_IO + 1][NN_LOGGED_NAME];
    snprintf(own[k++], sizeof own[0], "loss");
    for (int i = 0; c->n_outputs > 1 && i < c->n_outputs; i++)
        nn_head_loss_name(c, i, own[k++], sizeof own[0]);
    for (int i = 0; i < c->n_metrics; i++)
        snprintf(own[k++], sizeof own[0], "%s", c->metrics[i].name);
    for (int i = 0; i < k && n < max; i++)
        snprintf(names[n++], sizeof names[0], "%s", own[i]);
    for (int i = 0; with_val && i < k && n < max; i++)
        snprintf(names[n++], sizeof names[0], "val_%.*s", (int)sizeof names[0] - 5, own[i]);
    return n;
}

/* train.loss: one name for every output, or { output = "loss"; ... }
 * naming each output; train.loss_weights = { output = w; ... }. */
static nn_status parse_losses(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    nn_status st;
    c->n_outputs = m->n_outputs;
    for (int k = 0; k < m->n_outputs; k++) {
        snprintf(c->output_names[k], sizeof c->output_names[k], "%s", m->outputs[k]->name);
        c->loss_weights[k] = 1.0;
    }
    /* a group is one loss with its parameter when it has a "type" (and no
     * output is called that), else one loss per output */
    nn_spec_node *g = NULL;
    if (nn_spec_is_group(t, "loss")) {
        if ((st = nn_spec_group(t, "loss", true, &g, err)))
            return st;
        bool named_type = false;
        for (int k = 0; k < m->n_outputs; k++)
            named_type |= strcmp(c->output_names[k], "type") == 0;
        if (!named_type && nn_spec_has(g, "type"))
            g = NULL;
    }
    if (g) {
        for (int k = 0; k < m->n_outputs; k++)
            if ((st = nn_spec_loss_key(g, c->output_names[k], &c->losses[k], &c->loss_params[k],
                                       &c->loss_inst[k], err)))
                return st;
        if ((st = nn_spec_check_unknown(g, err)))
            return st;
        c->loss_by_output = true;
    } else {
        if ((st = nn_spec_loss_key(t, "loss", &c->losses[0], &c->loss_params[0],
                                   &c->loss_inst[0], err)))
            return st;
        for (int k = 1; k < m->n_outputs; k++) {
            c->losses[k] = c->losses[0];
            c->loss_params[k] = c->loss_params[0];
            c->loss_inst[k] = c->loss_inst[0];
        }
    }
    c->loss = c->losses[0];
    nn_spec_node *w;
    if ((st = nn_spec_group(t, "loss_weights", false, &w, err)) || !w)
        return st;
    for (int k = 0; k < m->n_outputs; k++)
        if ((st = nn_spec_float(w, c->output_names[k], false, 1.0, 0.0, 1e30, &c->loss_weights[k],
                                err)))
            return st;
    if ((st = nn_spec_check_unknown(w, err)))
        return st;
    c->weights_given = true;
    return NN_OK;
}

/* train.metrics: a list every output takes (Keras's list form), or a
 * group of one list per output by name (Keras's dict form; an output left
 * out gets none). With several outputs each is logged as
 * "<output>_<metric>". */
static nn_status parse_metrics(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    c->n_metrics = 0;
    nn_spec_node *node = t;
    nn_status st;
    bool by_output = nn_spec_is_group(t, "metrics");
    if (by_output && (st = nn_spec_group(t, "metrics", true, &node, err)))
        return st;
    for (int k = 0; k < m->n_outputs; k++) {
        const nn_node *out = m->outputs[k];
        int units = out->ndim ? out->shape[out->ndim - 1] : 1, n;
        nn_metric *dst = c->metrics + c->n_metrics;
        if (c->n_metrics + NN_MAX_METRICS_PER_OUTPUT > NN_MAX_METRICS)
            return nn_spec_fail(t, "metrics", err, NN_ERR_USAGE,
                                "at most %d metrics over all outputs", NN_MAX_METRICS);
        const char *key = by_output ? c->output_names[k] : "metrics";
        if ((st = nn_spec_metrics(node, key, c->losses[k], units, dst, &n, err)))
            return st;
        for (int i = 0; i < n; i++) {
            dst[i].head = k;
            if (m->n_outputs > 1)
                snprintf(dst[i].name, sizeof dst[i].name, "%s_%s", out->name, dst[i].base);
        }
        c->n_metrics += n;
    }
    /* a key that names no output: did-you-mean from the outputs' names */
    return by_output ? nn_spec_check_unknown(node, err) : NN_OK;
}

/* train.distributed = { bucket_mb = 25; } */
static nn_status parse_distributed(nn_spec_node *t, nn_train_cfg *c, nn_error *err)
{
    nn_spec_node *g;
    nn_status st = nn_spec_group(t, "distributed", false, &g, err);
    c->distributed.bucket_mb = 25.0;
    if (st || !g)
        return st;
    if ((st = nn_spec_float(g, "bucket_mb", false, 25.0, 0.001, 4096.0, &c->distributed.bucket_mb,
                            err)))
        return st;
    return nn_spec_check_unknown(g, err);
}

static nn_status parse_loss_scale(nn_spec_node *t, nn_train_cfg *c, nn_error *err)
{
    nn_loss_scale_cfg *l = &c->loss_scale;
    nn_spec_node *g;
    nn_status st = nn_spec_group(t, "loss_scale", false, &g, err);
    if (st)
        return st;
    l->enabled = c->precision == NN_PREC_FLOAT16;
    l->initial_scale = 32768.0;
    l->growth_steps = 2000;
    if (!g)
        return NN_OK;
    if ((st = nn_spec_bool(g, "enabled", false, true, &l->enabled, err)) ||
        (st = nn_spec_float(g, "initial_scale", false, 32768.0, 1e-30, 1e38, &l->initial_scale,
                            err)) ||
        (st = nn_spec_int(g, "dynamic_growth_steps", false, 2000, 1, 1LL << 40, &l->growth_steps,
                          err)))
        return st;
    return nn_spec_check_unknown(g, err);
}

nn_status nn_spec_train(nn_spec_node *t, const nn_model *m, nn_train_cfg *c, nn_error *err)
{
    static const char *const engines[] = {"cpu", "gpu", NULL};
    memset(c, 0, sizeof *c);
    nn_status st;
    int engine;
    if ((st = parse_losses(t, m, c, err)) || (st = nn_spec_optimizer(t, &c->optimizer, err)) ||
        (st = parse_metrics(t, m, c, err)) ||
        (st = nn_spec_int(t, "epochs", false, 1, 1, 1LL << 30, &c->epochs, err)) ||
        (st = nn_spec_int(t, "batch_size", false, 32, 1, 1 << 20, &c->batch_size, err)) ||
        (st = nn_spec_int(t, "seed", false, 1, 0, (long long)(~0ULL >> 1), &c->seed, err)) ||
        (st = nn_spec_int(t, "threads", false, 0, 0, 1024, &c->threads, err)) ||
        (st = nn_spec_choice(t, "engine", false, engines, 0, &engine, err)))
        return st;
    snprintf(c->engine, sizeof c->engine, "%s", engines[engine]);
    static const char *const precisions[] = {"float32", "mixed_bfloat16", "mixed_float16",
                                             "auto", NULL};
    int precision;
    if ((st = nn_spec_choice(t, "precision", false, precisions, 0, &precision, err)))
        return st;
    c->precision_auto = precision == 3;
    c->precision = c->precision_auto ? NN_PREC_FLOAT32 : (nn_precision)precision;
    if ((st = parse_loss_scale(t, c, err)))
        return st;
    const char *init_from;
    if ((st = nn_spec_string(t, "init_from", false, "", &init_from, err)))
        return st;
    if (strlen(init_from) >= sizeof c->init_from)
        return nn_spec_fail(t, "init_from", err, NN_ERR_USAGE, "path too long");
    snprintf(c->init_from, sizeof c->init_from, "%s", init_from);
    if ((st = nn_spec_callbacks(t, c, err)) || (st = parse_distributed(t, c, err)))
        return st;
    return nn_spec_check_unknown(t, err);
}

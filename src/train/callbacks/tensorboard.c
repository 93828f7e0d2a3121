/* Keras's TensorBoard callback (tf-keras 2.x):
 *   log_dir/train:      epoch_loss, epoch_<metric>, epoch_learning_rate at
 *                       step = epoch (from 0); batch_loss, batch_<metric>
 *                       (the epoch's running means, as Keras's batch logs)
 *                       at step = global batch count (from 1) when it is a
 *                       multiple of update_freq; weight histograms
 *                       "<layer>/<param>_0/histogram" every histogram_freq
 *                       epochs (epoch % histogram_freq == 0).
 *   log_dir/validation: val_loss as epoch_loss, val_<metric> as
 *                       epoch_<metric>, step = epoch.
 * Each directory gets a new event file per run; a resumed run adds one, as
 * TensorFlow does. Files are flushed (fflush + fsync) after every epoch. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "train/callbacks/callbacks.h"

nn_status nn_tensorboard_begin(nn_tensorboard *tb, const nn_tensorboard_cfg *cfg,
                               const char *run_dir, const nn_model *m, long long steps,
                               nn_error *err)
{
    memset(tb, 0, sizeof *tb);
    tb->cfg = cfg;
    tb->steps = steps;
    if (!cfg->enabled)
        return NN_OK;
    int n = cfg->log_dir[0] == '/'
                ? snprintf(tb->dir, sizeof tb->dir, "%s", cfg->log_dir)
                : snprintf(tb->dir, sizeof tb->dir, "%s/%s", run_dir, cfg->log_dir);
    if (n < 0 || (size_t)n >= sizeof tb->dir)
        return nn_fail(err, NN_ERR_RUNTIME, "tensorboard log_dir too long: '%s'", cfg->log_dir);
    if (cfg->histogram_freq > 0) {
        size_t largest = 1;
        for (int i = 0; i < m->n_nodes; i++)
            for (int k = 0; k < m->nodes[i]->n_params; k++)
                if (m->nodes[i]->params[k].size > largest)
                    largest = m->nodes[i]->params[k].size;
        if (!(tb->host = nn_malloc(largest * sizeof(float), err)))
            return NN_ERR_RUNTIME;
    }
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/train", tb->dir);
    return nn_tfevents_open(&tb->train, dir, err);
}

long long nn_tensorboard_batch_step(const nn_tensorboard *tb, long long epoch, long long step)
{
    if (!tb->cfg || !tb->cfg->enabled || tb->cfg->update_freq <= 0)
        return 0;
    long long global = epoch * tb->steps + step + 1;
    return global % tb->cfg->update_freq == 0 ? global : 0;
}

nn_status nn_tensorboard_batch_end(nn_tensorboard *tb, long long global_step,
                                   const nn_logs *running, nn_error *err)
{
    if (!tb->train.f)
        return NN_OK;
    char tag[96];
    for (int i = 0; i < running->n; i++) {
        snprintf(tag, sizeof tag, "batch_%s", running->names[i]);
        nn_status st = nn_tfevents_scalar(&tb->train, global_step, tag, running->values[i], err);
        if (st)
            return st;
    }
    return NN_OK;
}

static nn_status log_weights(nn_tensorboard *tb, long long epoch, const nn_model *m,
                             nn_error *err)
{
    char tag[2 * NN_NAME_MAX + 64];
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *node = m->nodes[i];
        for (int k = 0; k < node->n_params; k++) {
            const nn_param *p = &node->params[k];
            m->e->ops->download(m->e, tb->host, &p->w, p->size);
            /* tf-keras: weight.name "dense/kernel:0" with ':' -> '_', plus
             * "/histogram" */
            snprintf(tag, sizeof tag, "%s/%s_0/histogram", node->name, p->name);
            nn_status st = nn_tfevents_histogram(&tb->train, epoch, tag, tb->host, p->size, err);
            if (st)
                return st;
        }
    }
    return NN_OK;
}

nn_status nn_tensorboard_epoch_end(nn_tensorboard *tb, long long epoch, const nn_logs *logs,
                                   const nn_model *m, nn_error *err)
{
    if (!tb->train.f)
        return NN_OK;
    nn_status st = NN_OK;
    char tag[96];
    double lr = 0.0;
    bool have_lr = false;
    for (int i = 0; !st && i < logs->n; i++) {
        const char *name = logs->names[i];
        if (strcmp(name, "lr") == 0) {
            lr = logs->values[i];
            have_lr = true;
            continue;
        }
        if (strncmp(name, "val_", 4) == 0)
            continue;
        snprintf(tag, sizeof tag, "epoch_%s", name);
        st = nn_tfevents_scalar(&tb->train, epoch, tag, logs->values[i], err);
    }
    /* Keras adds the optimizer's learning rate after the logged values. */
    if (!st && have_lr)
        st = nn_tfevents_scalar(&tb->train, epoch, "epoch_learning_rate", lr, err);
    for (int i = 0; !st && i < logs->n; i++) {
        const char *name = logs->names[i];
        if (strncmp(name, "val_", 4) != 0)
            continue;
        if (!tb->val.f) {
            char dir[PATH_MAX + 16];
            snprintf(dir, sizeof dir, "%s/validation", tb->dir);
            if ((st = nn_tfevents_open(&tb->val, dir, err)))
                break;
        }
        snprintf(tag, sizeof tag, "epoch_%s", name + 4);
        st = nn_tfevents_scalar(&tb->val, epoch, tag, logs->values[i], err);
    }
    if (!st && tb->cfg->histogram_freq > 0 && epoch % tb->cfg->histogram_freq == 0)
        st = log_weights(tb, epoch, m, err);
    if (!st)
        st = nn_tfevents_flush(&tb->train, err);
    if (!st)
        st = nn_tfevents_flush(&tb->val, err);
    return st;
}

void nn_tensorboard_close(nn_tensorboard *tb)
{
    nn_tfevents_close(&tb->train);
    nn_tfevents_close(&tb->val);
    free(tb->host);
    memset(tb, 0, sizeof *tb);
}

/* ---- the registry row ---- */

/* update_freq: "epoch", "batch" (= 1) or a number of batches, as Keras. */
static nn_status parse_update_freq(nn_spec_node *g, long long *out, nn_error *err)
{
    static const char *const words[] = {"epoch", "batch", NULL};
    const char *s;
    nn_error scratch;
    if (nn_spec_string(g, "update_freq", false, "epoch", &s, &scratch) == NN_OK) {
        /* digits as a string: what --set gives a key that held "batch" */
        if (s[0] && strspn(s, "0123456789") == strlen(s)) {
            *out = strlen(s) <= 12 ? strtoll(s, NULL, 10) : 0;
            if (*out >= 1)
                return NN_OK;
            return nn_spec_fail(g, "update_freq", err, NN_ERR_USAGE,
                                "expected \"epoch\", \"batch\" or a number of batches (an "
                                "integer >= 1), got %s",
                                s);
        }
        int which;
        nn_status st = nn_spec_choice(g, "update_freq", false, words, 0, &which, err);
        *out = which; /* epoch: 0, batch: 1 */
        return st;
    }
    if (nn_spec_int(g, "update_freq", true, 0, LLONG_MIN, LLONG_MAX, out, &scratch) == NN_OK)
        return nn_spec_int(g, "update_freq", true, 0, 1, 1LL << 40, out, err);
    return nn_spec_fail(g, "update_freq", err, NN_ERR_USAGE,
                        "expected \"epoch\", \"batch\" or a number of batches (an integer >= 1)");
}

static nn_status tb_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                          nn_error *err)
{
    (void)t;
    nn_tensorboard_cfg *k = (nn_tensorboard_cfg *)cb->cfg;
    const char *dir;
    nn_status st;
    if ((st = nn_spec_bool(g, "enabled", false, true, &k->enabled, err)) ||
        (st = nn_spec_string(g, "log_dir", false, "tb", &dir, err)) ||
        (st = nn_spec_int(g, "histogram_freq", false, 0, 0, 1LL << 40, &k->histogram_freq,
                          err)) ||
        (st = parse_update_freq(g, &k->update_freq, err)))
        return st;
    if (!dir[0])
        return nn_spec_fail(g, "log_dir", err, NN_ERR_USAGE, "expected a directory, got \"\"");
    if (strlen(dir) >= sizeof k->log_dir)
        return nn_spec_fail(g, "log_dir", err, NN_ERR_USAGE, "path too long");
    snprintf(k->log_dir, sizeof k->log_dir, "%s", dir);
    return NN_OK;
}

static nn_status tb_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    nn_tensorboard *tb = calloc(1, sizeof *tb);
    if (!tb)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    cb->state = tb;
    return nn_tensorboard_begin(tb, (const nn_tensorboard_cfg *)cb->cfg, c->run_dir, c->model,
                                c->steps, err);
}

static bool tb_wants_batch(const nn_callback *cb, const nn_fit_ctx *c)
{
    return nn_tensorboard_batch_step(cb->state, c->epoch, c->step) != 0;
}

static nn_status tb_batch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *running,
                              nn_error *err)
{
    long long global = nn_tensorboard_batch_step(cb->state, c->epoch, c->step);
    return global ? nn_tensorboard_batch_end(cb->state, global, running, err) : NN_OK;
}

static nn_status tb_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                              nn_error *err)
{
    return nn_tensorboard_epoch_end(cb->state, c->epoch, logs, c->model, err);
}

static nn_status tb_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    (void)c, (void)err;
    if (cb->state)
        nn_tensorboard_close(cb->state);
    free(cb->state);
    cb->state = NULL;
    return NN_OK;
}

static const nn_doc_key tb_keys[] = {
    {"log_dir", "string", "\"tb\"", "relative to the run directory"},
    {"update_freq", "string or int", "\"epoch\"",
     "\"epoch\", \"batch\" or every N batches: batch scalars"},
    {"histogram_freq", "int", "0", "weight histograms every N epochs (0: none)"},
    {"enabled", "bool", "true", "false turns the callback off"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_tensorboard = {
    .root_only = true,
    .name = "tensorboard",
    .keras_class = "TensorBoard",
    .doc = "writes TensorBoard event files (scalars, weight histograms)",
    .keys = tb_keys,
    .cfg_size = sizeof(nn_tensorboard_cfg),
    .parse = tb_parse,
    .train_begin = tb_train_begin,
    .wants_batch = tb_wants_batch,
    .batch_end = tb_batch_end,
    .epoch_end = tb_epoch_end,
    .train_end = tb_train_end,
};

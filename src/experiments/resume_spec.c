/* Spec changes on --resume (see resume_spec.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/resume_spec.h"
#include "experiments/runs.h"

static bool has_prefix(const char *key, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(key, prefix, n) == 0 && (key[n] == '\0' || key[n] == '.');
}

/* The last component of a key path ("rate" of "model.layers.[1].rate"). */
static const char *leaf(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* Why the saved state cannot take a change of key, or NULL when it can. */
static const char *why_fixed(const char *key, bool mid_epoch)
{
    if (has_prefix(key, "model")) {
        static const char *const free_leaves[] = {"rate", "stddev", "momentum", "epsilon"};
        if (!strcmp(key, "model.name") || strstr(key, "_regularizer") ||
            strstr(key, "_initializer"))
            return NULL;
        for (size_t i = 0; i < sizeof free_leaves / sizeof free_leaves[0]; i++)
            if (!strcmp(leaf(key), free_leaves[i]))
                return NULL;
        return "the architecture cannot change on resume: the saved weights and optimizer "
               "state are the old model's (start a new run, with train.init_from to begin "
               "from its weights)";
    }
    if (has_prefix(key, "data.train") || !strcmp(key, "data.train_subset") ||
        !strcmp(key, "data.validation_split") || !strcmp(key, "data.one_hot"))
        return "the training data's shape cannot change on resume: the saved position and "
               "batch order are in the old training set";
    if (!strcmp(key, "train.optimizer.type") || !strcmp(key, "train.optimizer.amsgrad"))
        return "the optimizer's type cannot change on resume: its saved state (moment "
               "estimates, iterations) belongs to the old one";
    if (!strcmp(key, "train.seed"))
        return "an exact resume needs the same seed (it fixes the batch order and dropout)";
    if (has_prefix(key, "train.metrics"))
        return "the metrics cannot change on resume: history.csv's columns and the saved "
               "partial sums are the old metrics'";
    char type[64];
    const char *rest;
    if (nn_flat_callback_key(key, type, sizeof type, &rest) &&
        (!strcmp(type, "early_stopping") || !strcmp(type, "checkpoint")) &&
        (!strcmp(rest, "monitor") || !strcmp(rest, "mode")))
        return "the saved best value is the old monitor's: it cannot change on resume";
    if (mid_epoch && (!strcmp(key, "train.batch_size") || has_prefix(key, "train.loss") ||
                      !strcmp(key, "data.shuffle")))
        return "the checkpoint is part-way through an epoch, whose rest must match its start: "
               "resume with the old value, or from a checkpoint written at an epoch's end";
    return NULL;
}

/* One setting, one key: optimizer = "adam" is optimizer.type,
 * learning_rate is lr, and a list of typed callbacks is the keyed form. */
static nn_status normalize(nn_flat *f, nn_error *err)
{
    nn_status st = nn_flat_callbacks_by_type(f, err);
    if (st)
        return st;
    for (int i = 0; i < f->n; i++) {
        nn_kv *kv = &f->kv[i];
        const char *to = NULL;
        if (!strcmp(kv->key, "train.optimizer") && !kv->numeric)
            to = "train.optimizer.type";
        else if (!strcmp(kv->key, "train.optimizer.learning_rate"))
            to = "train.optimizer.lr";
        if (!to)
            continue;
        char *k = nn_strdup(to, err);
        if (!k)
            return NN_ERR_RUNTIME;
        free(kv->key);
        kv->key = k;
    }
    return NN_OK;
}

void nn_spec_changes_free(nn_spec_changes *c)
{
    for (int i = 0; i < c->n; i++) {
        free(c->v[i].key);
        free(c->v[i].from);
        free(c->v[i].to);
    }
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

nn_status nn_resume_spec_changes(const char *stored, const char *current, const char *where,
                                 bool mid_epoch, nn_spec_changes *out, nn_error *err)
{
    out->v = NULL;
    out->n = 0;
    nn_flat old = {0}, now = {0};
    const char **keys = NULL;
    int n = 0;
    char name[4200];
    snprintf(name, sizeof name, "%s (the spec it was trained with)", where);
    nn_status st = nn_spec_flatten(stored, name, &old, err);
    if (!st)
        st = nn_spec_flatten(current, "this run's spec", &now, err);
    if (!st && !(st = normalize(&old, err)) && !(st = normalize(&now, err))) {
        const nn_flat *both[2] = {&old, &now};
        st = nn_flat_diff(both, 2, &keys, &n, err);
    }
    if (!st && n && !(out->v = nn_calloc((size_t)n, sizeof *out->v, err)))
        st = NN_ERR_RUNTIME;
    const char *fixed = NULL, *fixed_why = NULL, *fixed_from = NULL, *fixed_to = NULL;
    int n_fixed = 0;
    for (int i = 0; !st && i < n; i++) {
        const nn_kv *a = nn_flat_get(&old, keys[i]), *b = nn_flat_get(&now, keys[i]);
        const char *from = a ? a->value : "(unset)", *to = b ? b->value : "(unset)";
        const char *why = why_fixed(keys[i], mid_epoch);
        if (why) {
            if (!n_fixed++) {
                fixed = keys[i];
                fixed_why = why;
                fixed_from = from;
                fixed_to = to;
            }
            continue;
        }
        nn_spec_change *c = &out->v[out->n];
        if (!(c->key = nn_strdup(keys[i], err)) || !(c->from = nn_strdup(from, err)) ||
            !(c->to = nn_strdup(to, err))) {
            out->n++;
            st = NN_ERR_RUNTIME;
            break;
        }
        out->n++;
    }
    if (!st && fixed)
        st = nn_fail(err, NN_ERR_USAGE, "--resume %s: %s changed (%s -> %s): %s%s", where, fixed,
                     fixed_from, fixed_to, fixed_why,
                     n_fixed > 1 ? " (and more such keys changed)" : "");
    free(keys);
    nn_flat_free(&old);
    nn_flat_free(&now);
    if (st)
        nn_spec_changes_free(out);
    return st;
}

/* A session's data: loaded as the spec says, checked against the model's
 * inputs and outputs (shapes, token ids, targets), the loss resolved for
 * it, class names and featurewise statistics kept for the model file. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/registry.h"
#include "session/session_internal.h"

/* Embedding layers read the input as token ids: every value must be an
 * integer id the table has (Keras fails the same way on the CPU; a GPU
 * would silently read zeros). */
static nn_status check_token_ids(const nn_session *s, const nn_node *input, const nn_dataset *d,
                                 const nn_data_source *src, nn_error *err)
{
    for (int i = 0; i < s->model->n_nodes; i++) {
        const nn_node *n = s->model->nodes[i];
        int vocab = nn_embedding_input_dim(n);
        if (!vocab || n->in[0] != input)
            continue;
        size_t total = d->n * d->sample_size;
        for (size_t k = 0; k < total; k++) {
            double v = (d->f32 ? (double)d->f32[k] : (double)d->u8[k]) / d->scale;
            if (v >= 0.0 && v < vocab && v == floor(v))
                continue;
            return nn_fail(err, NN_ERR_USAGE,
                           "%s: sample %zu, position %zu holds %g, but layer '%s' (embedding) "
                           "takes integer token ids in [0, %d): raise its input_dim, or map the "
                           "ids (0 is the padding id)",
                           src->where, k / d->sample_size, k % d->sample_size, v, n->name, vocab);
        }
    }
    return NN_OK;
}

/* The data's samples must fill the model's input; the error points at the
 * data key (file:line) and names the file. */
static nn_status check_one_input(const nn_session *s, const nn_node *in, const nn_dataset *d,
                                 const nn_data_source *src, nn_error *err)
{
    if (d->sample_size == in->size)
        return check_token_ids(s, in, d, src, err);
    char shape[64], dims[64] = "";
    nn_shape_string(in, shape, sizeof shape);
    size_t o = 0;
    for (int i = 0; i < d->ndim && o < sizeof dims; i++)
        o += (size_t)snprintf(dims + o, sizeof dims - o, "%s%d", i ? "x" : "", d->shape[i]);
    return nn_fail(err, NN_ERR_USAGE,
                   "%s: '%s' has samples of %s = %zu values but model.input.shape %s takes %zu "
                   "(change model.input.shape, or add a reshape layer)",
                   src->where_images[0] ? src->where_images : src->where,
                   src->images[0] ? src->images : src->path[0] ? src->path : src->files[0], dims,
                   d->sample_size, shape, in->size);
}

/* Float targets (regression, or rows of class probabilities) give one
 * value per output unit; the error names the y file and its spec line. */
static nn_status check_targets(const nn_node *out, const nn_dataset *part,
                               const nn_data_source *src, nn_error *err)
{
    if (!part || !part->targets || part->target_size == out->size)
        return NN_OK;
    const char *where = src->where_labels[0] ? src->where_labels : src->where;
    const char *file = src->labels[0] ? src->labels : src->path;
    for (int j = 0; j < src->n_y; j++)
        if (strcmp(src->y_names[j], part->y_name) == 0) {
            where = src->where_y[j];
            file = src->y_files[j];
        }
    char shape[64];
    nn_shape_string(out, shape, sizeof shape);
    return nn_fail(err, NN_ERR_USAGE,
                   "%s: '%s' has %zu target value%s per sample but output layer '%s' gives %zu "
                   "(shape %s): give one target per output unit, or change the layer's units%s",
                   where, file, part->target_size, part->target_size == 1 ? "" : "s", out->name,
                   out->size, shape,
                   part->target_size == 1 ? "; class labels are integers (npy), or csv's "
                                            "label = \"class\""
                                          : "");
}

/* Every model input has its array (by name for several: npy x groups)
 * that fills it. */
static nn_status check_input(const nn_session *s, nn_dataset *d, const nn_data_source *src,
                             nn_error *err)
{
    const nn_model *m = s->model;
    const char *ins[NN_MAX_IO], *outs[NN_MAX_IO];
    for (int i = 0; i < m->n_inputs; i++)
        ins[i] = m->inputs[i]->name;
    for (int k = 0; k < m->n_outputs; k++)
        outs[k] = m->outputs[k]->name;
    nn_status st = nn_dataset_match_names(d, ins, m->n_inputs, outs, m->n_outputs, src->where, err);
    if (st)
        return st;
    for (int i = 0; i < m->n_inputs; i++) {
        const nn_dataset *part = nn_dataset_input_part(d, i);
        if (!part)
            return nn_fail(err, NN_ERR_USAGE,
                           "%s: model input '%s' has no data: give format = \"npy\" with x = { "
                           "%s = \"file.npy\"; ... } (one array per input)",
                           src->where, m->inputs[i]->name, m->inputs[i]->name);
        if ((st = check_one_input(s, m->inputs[i], part, src, err)))
            return st;
    }
    for (int k = 0; k < m->n_outputs; k++)
        if ((st = check_targets(m->outputs[k], nn_dataset_output_part(d, k), src, err)))
            return st;
    return NN_OK;
}

/* The classes of each output's targets, the most over the given sets. */
static void head_classes(const nn_model *m, const nn_dataset *a, const nn_dataset *b, int *out)
{
    for (int k = 0; k < m->n_outputs; k++) {
        const nn_dataset *pa = nn_dataset_output_part(a, k);
        const nn_dataset *pb = b && b->n ? nn_dataset_output_part(b, k) : NULL;
        out[k] = pa ? pa->n_classes : 0;
        if (pb && pb->n_classes > out[k])
            out[k] = pb->n_classes;
    }
}

static nn_status resolve_objective(nn_session *s, const int *classes, const nn_data_source *src,
                                   nn_error *err)
{
    if (s->have_objective)
        return NN_OK;
    nn_status st = nn_objective_resolve(&s->train, s->model, s->data.one_hot, classes, &s->obj,
                                        err);
    s->have_objective = st == NN_OK;
    const nn_head *h = &s->obj.h[s->obj.blame_head];
    int n_classes = classes[s->obj.blame_head];
    if (st && s->obj.blame == NN_BLAME_OUTPUT && n_classes > h->cols && src &&
        src->where_labels[0] && s->model->n_outputs == 1) {
        /* more classes than units: usually a label out of range */
        return nn_fail(err, NN_ERR_USAGE,
                       "%s: '%s' has labels up to %d (%d classes) but output layer '%s' has %d "
                       "units: check the labels, or the layer's units",
                       src->where_labels, src->labels[0] ? src->labels : src->path, n_classes - 1,
                       n_classes, h->node->name, h->cols);
    }
    if (st) {
        /* point at what the user would change */
        nn_error inner = *err;
        nn_spec_node *where = s->train_node;
        const char *key = s->obj.blame == NN_BLAME_METRICS ? "metrics" : "loss";
        if (s->obj.blame == NN_BLAME_ONE_HOT && s->data_node) {
            where = s->data_node;
            key = "one_hot";
        } else if (s->obj.blame == NN_BLAME_OUTPUT && h->node && h->node->spec) {
            where = h->node->spec;
            key = NULL;
        }
        if (where)
            return nn_spec_fail(where, key, err, st, "%s", inner.msg);
    }
    return st;
}

/* The data's class names, when the session has none yet and they name
 * output 0's units (one unit: two classes). */
static void keep_names(nn_session *s, nn_class_names *names)
{
    const nn_node *out = s->model->outputs[0];
    int want = out->size == 1 ? 2 : (int)out->size;
    if (!s->class_names.n && names->n == want && s->model->n_outputs == 1) {
        s->class_names = *names;
        memset(names, 0, sizeof *names);
    }
    nn_class_names_free(names);
}

char *nn_session_class_names_json(const nn_session *s)
{
    if (!s->class_names.n)
        return NULL;
    json_t *list = json_array();
    for (int i = 0; i < s->class_names.n; i++)
        json_array_append_new(list, json_string(s->class_names.names[i]));
    json_t *o = json_pack("{s:o}", s->model->outputs[0]->name, list);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text;
}

/* The model file's class names for output 0 (ignored when malformed: they
 * only label what predict and eval print). */
void nn_session__names_from_file(nn_session *s, const char *json_text)
{
    json_t *o = json_text ? json_loads(json_text, 0, NULL) : NULL;
    json_t *list = json_object_get(o, s->model->outputs[0]->name);
    nn_class_names names = {0};
    size_t n = json_array_size(list);
    names.names = n ? calloc(n, sizeof *names.names) : NULL;
    for (size_t i = 0; names.names && i < n; i++) {
        const char *v = json_string_value(json_array_get(list, i));
        if (!v || !(names.names[i] = strdup(v)))
            break;
        names.n = (int)i + 1;
    }
    if ((size_t)names.n != n)
        nn_class_names_free(&names);
    keep_names(s, &names);
    json_decref(o);
}

static bool wants_featurewise(const nn_session *s)
{
    return s->data.featurewise_center || s->data.featurewise_std_normalization;
}

/* The statistics of the training set (once), then every loaded set uses them. */
static nn_status featurewise_attach(nn_session *s, nn_dataset *d, bool fit, nn_error *err)
{
    if (!wants_featurewise(s) || !d->n)
        return NN_OK;
    if (!s->have_featurewise) {
        if (!fit)
            return nn_fail(err, NN_ERR_USAGE,
                           "the spec asks for data.featurewise_center / "
                           "featurewise_std_normalization, but the statistics come from the "
                           "training images and this model file has none (train the model "
                           "with these settings)");
        nn_status st = nn_featurewise_fit(&s->featurewise, d, s->data.featurewise_center,
                                          s->data.featurewise_std_normalization, err);
        if (st)
            return nn_error_prefix(err, "data.train");
        s->have_featurewise = true;
    }
    d->featurewise = &s->featurewise;
    return NN_OK;
}

const nn_featurewise *nn_session_featurewise(const nn_session *s)
{
    return s->have_featurewise && wants_featurewise(s) ? &s->featurewise : NULL;
}

char *nn_session_preprocess_json(const nn_session *s)
{
    const nn_featurewise *f = nn_session_featurewise(s);
    if (!f)
        return NULL;
    json_t *j = nn_featurewise_json(f);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    return text;
}

nn_status nn_session_load_train(nn_session *s, nn_error *err)
{
    nn_data_cfg *d = &s->data;
    if (!s->train_full.n) {
        nn_status mst = nn_session__check_memory(s, true, err);
        if (mst)
            return mst;
    }
    /* a variable-length model takes its weights once it has its length */
    const bool later = nn_model_input_variable(s->model->input);
    if (!later && !s->from_model_file && !s->init_done && s->train.init_from[0]) {
        s->init_done = true;
        nn_status ist = nn_session__init_from(s, err);
        if (ist)
            return ist;
    }
    if (!d->train.present)
        return nn_fail(err, NN_ERR_USAGE, "%s: data.train is missing: training needs data",
                       nn_spec_filename(s->spec));
    nn_class_names names = {0};
    nn_status st = nn_data_load_named(&d->train, d->scale, &s->train_full, &names, err);
    keep_names(s, &names);
    if (st || (st = nn_session__fit_length(s, &s->train_full, err)) ||
        (st = check_input(s, &s->train_full, &d->train, err)))
        return st;
    if (later && !s->from_model_file && !s->init_done && s->train.init_from[0]) {
        s->init_done = true;
        if ((st = nn_session__init_from(s, err)))
            return st;
    }
    const nn_dataset *pool = &s->train_full;
    nn_dataset subset = {0};
    if (d->train_subset > 0) {
        if ((size_t)d->train_subset > pool->n)
            return nn_fail(err, NN_ERR_USAGE,
                           "data.train_subset = %lld but data.train has only %zu samples",
                           d->train_subset, pool->n);
        nn_rng r;
        nn_rng_seed(&r, (uint64_t)s->train.seed, NN_STREAM_SUBSET);
        if ((st = nn_dataset_subset_stratified(pool, (size_t)d->train_subset, &r, &subset, err)))
            return st;
        /* the subset owns its copies; keep it as the pool */
        nn_dataset_free(&s->train_full);
        s->train_full = subset;
    }
    if (d->validation_split > 0.0) {
        if ((st = nn_dataset_split_tail(&s->train_full, d->validation_split, &s->train_set,
                                        &s->val_set, err)))
            return nn_error_prefix(err, "data.validation_split");
    } else {
        if ((st = nn_dataset_view(&s->train_full, &s->train_set, err)))
            return st;
        if (d->validation.present) {
            if ((st = nn_data_load(&d->validation, d->scale, &s->val_set, err)) ||
                (st = check_input(s, &s->val_set, &d->validation, err)))
                return st;
        }
    }
    if ((st = featurewise_attach(s, &s->train_set, true, err)) ||
        (st = featurewise_attach(s, &s->val_set, false, err)))
        return st;
    int classes[NN_MAX_IO];
    head_classes(s->model, &s->train_full, &s->val_set, classes);
    return resolve_objective(s, classes, &d->train, err);
}

nn_status nn_session_load_eval(nn_session *s, const char *which, const nn_dataset **out,
                               nn_error *err)
{
    nn_data_cfg *d = &s->data;
    nn_status st;
    if (s->keras_file[0] && !s->data_node)
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s' was written by Keras and names no data: give a spec with a data "
                       "section using --spec FILE (the model and its weights come from the "
                       "file)%s%s",
                       s->keras_file, s->train_note[0] ? "; it needs a train section too: " : "",
                       s->train_note);
    if (s->train_note[0])
        return nn_fail(err, NN_ERR_USAGE,
                       "eval needs the loss the model was compiled with, but %s: add a train "
                       "section (loss, metrics) to the spec, or --set train.loss=...",
                       s->train_note);
    if (strcmp(which, "test") == 0) {
        if (!d->test.present)
            return nn_fail(err, NN_ERR_USAGE,
                           "the spec has no data.test (give one with --set data.test.images=... "
                           "--set data.test.labels=..., or --data train)");
        nn_class_names names = {0};
        st = nn_data_load_named(&d->test, d->scale, &s->test_set, &names, err);
        keep_names(s, &names);
        if (st || (st = nn_session__fit_length(s, &s->test_set, err)) ||
            (st = check_input(s, &s->test_set, &d->test, err)) ||
            (st = featurewise_attach(s, &s->test_set, false, err)))
            return st;
        *out = &s->test_set;
    } else if (strcmp(which, "train") == 0 || strcmp(which, "validation") == 0) {
        if ((st = nn_session_load_train(s, err)))
            return st;
        *out = which[0] == 't' ? &s->train_set : &s->val_set;
        if ((*out)->n == 0)
            return nn_fail(err, NN_ERR_USAGE,
                           "there is no validation data (data.validation or validation_split)");
    } else {
        return nn_fail(err, NN_ERR_USAGE, "--data %s: expected test, train or validation", which);
    }
    int classes[NN_MAX_IO];
    head_classes(s->model, *out, NULL, classes);
    return resolve_objective(s, classes, strcmp(which, "test") == 0 ? &d->test : &d->train, err);
}

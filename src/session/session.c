/* Building a session: the model from the spec (or a model file) on its
 * engine, the training settings, the memory check and train.init_from.
 * The data side is session_data.c. */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/keras/import.h"
#include "io/keras/model_file.h"
#include "plugin/loader.h"
#include "session/session_internal.h"
#include "model/precision.h"
#include "layers/registry.h"

static size_t available_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb)
        return kb * 1024;
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : 0;
}

/* Refuses, before loading anything, a run that cannot fit in memory: the
 * data (as stored), parameters with their gradients and optimizer slots, and
 * per-batch tensors. */
nn_status nn_session__check_memory(const nn_session *s, bool with_train, nn_error *err)
{
    const nn_model *m = s->model;
    size_t params = 0, acts = 0;
    int slots = nn_optimizer_slots(&s->train.optimizer);
    long long batch = s->train.batch_size;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        acts += n->size;
        for (int k = 0; k < n->n_params; k++)
            params += n->params[k].size * (size_t)(n->params[k].trainable ? 2 + slots : 1);
    }
    /* training: out, dout and up to two more tensors per node
     * (pre-activation, masks); forward only: the shared output buffers */
    double model_b = 4.0 * (double)params;
    double act_b = s->from_model_file
                       ? 4.0 * (double)nn_model_inference_floats(m, (int)batch)
                       : 4.0 * 4.0 * (double)acts * (double)batch;
    double data_b = (double)nn_data_footprint(&s->data.test);
    if (with_train)
        data_b += (double)nn_data_footprint(&s->data.train) +
                  (double)nn_data_footprint(&s->data.validation);
    double need = model_b + act_b + data_b + 64.0 * (1 << 20);
    double have = (double)available_memory();
    if (have > 0 && need > have) {
        const double gb = 1024.0 * 1024.0 * 1024.0;
        return nn_fail(err, NN_ERR_RUNTIME,
                       "this run needs about %.1f GB of memory (data %.1f GB, parameters and "
                       "optimizer state %.1f GB, batch tensors %.1f GB) but %.1f GB is "
                       "available: lower train.batch_size, the model's size or "
                       "data.train_subset",
                       need / gb, data_b / gb, model_b / gb, act_b / gb, have / gb);
    }
    return NN_OK;
}

/* The model group: the spec's (its layers, model.from_json's file or
 * model.base's network and its layers: nn_model_from_group), or aux's (a
 * Keras file's converted model_config; the spec's own model group, when a
 * stored one names a from_json file or a base, is then only a record). */
static nn_status build_model(nn_session *s, nn_spec_node *root, nn_spec *aux, nn_base_file *bf,
                             nn_error *err)
{
    nn_spec_node *model;
    nn_status st;
    if (!aux) {
        if ((st = nn_spec_group(root, "model", true, &model, err)))
            return st;
        return nn_model_from_group(model, &s->model_spec, &s->model, bf, err);
    }
    if (nn_spec_has(root, "model")) {
        if ((st = nn_spec_group(root, "model", true, &model, err)))
            return st;
        nn_spec_has(model, "from_json");
        nn_spec_has(model, "base");
    }
    if ((st = nn_spec_group(nn_spec_root(aux), "model", true, &model, err)))
        return st;
    return nn_model_from_spec(model, &s->model, err);
}

/* The train group: the spec's; without one, a Keras file's (converted
 * training_config, or its stand-in when that cannot be used). */
static nn_status build_train(nn_session *s, nn_spec_node *root, bool from_aux, nn_error *err)
{
    const nn_model *m = s->model;
    nn_spec_node *train;
    nn_status st;
    if (!from_aux || nn_spec_has(root, "train")) {
        if ((st = nn_spec_group(root, "train", true, &train, err)))
            return st;
        s->train_node = train;
        return nn_spec_train(train, m, &s->train, err);
    }
    nn_spec_node *aux = nn_spec_root(s->model_spec);
    if ((st = nn_spec_group(aux, "train", true, &train, err)))
        return st;
    s->train_node = train;
    st = nn_spec_train(train, m, &s->train, err);
    if (!st)
        return st;
    /* a training_config nnctl cannot use (a metric the model's output
     * does not allow): predict and summary do without it */
    snprintf(s->train_note, sizeof s->train_note, "%s", err->msg);
    nn_error first = *err;
    if (nn_spec_group(aux, "train_standin", true, &train, err) ||
        nn_spec_train(train, m, &s->train, err)) {
        *err = first; /* the stand-in failed too: a bad --set train.* */
        return st;
    }
    s->train_node = train;
    return NN_OK;
}

static nn_status session_build_with(nn_session *s, nn_spec *spec, nn_spec *aux,
                                    nn_base_file *bf, nn_error *err)
{
    s->spec = spec;
    s->model_spec = aux;
    nn_spec_node *root = nn_spec_root(spec), *data;
    nn_status st;
    /* plugins = [...] (a model file's were loaded as far as they could be) */
    if (!s->from_model_file && (st = nn_spec_plugins(spec, false, err)))
        return st;
    if ((st = build_model(s, root, aux, bf, err)) ||
        (st = build_train(s, root, aux != NULL, err)) ||
        (st = nn_spec_group(root, "data", false, &data, err)))
        return st;
    s->data_node = data;
    if (data && (st = nn_spec_data(data, &s->data, err)))
        return st;
    if (!data) {
        s->data.scale = 1.0; /* predict's inputs as they are */
        s->data.one_hot = -1;
    }
    if ((st = nn_spec_check_unknown(root, err)))
        return st;
    if ((st = nn_session__check_memory(s, false, err)))
        return st;
    if ((st = nn_engine_create(s->train.engine, (int)s->train.threads, &s->engine, err)))
        return st;
    /* a model file's session only runs forward, on the file's weights */
    if (s->from_model_file) {
        st = nn_model_alloc_inference(s->model, s->engine, err);
    } else {
        nn_rng init;
        nn_rng_seed(&init, (uint64_t)s->train.seed, NN_STREAM_INIT);
        if (!(st = nn_model_alloc(s->model, s->engine, nn_optimizer_slots(&s->train.optimizer),
                                  err)) &&
            !(st = nn_model_init_params(s->model, &init, err)))
            nn_optimizer_init_slots(&s->train.optimizer, s->model);
        if (!st && bf->open)
            st = nn_base_load_weights(s->model, bf, err);
    }
    if (st)
        return st;
    /* "auto" starts in float32: nnctl train measures and picks */
    nn_precision_apply(s->model, s->engine, s->train.precision, false, stderr);
    return NN_OK;
}

/* aux: see build_model (NULL for a spec's own model). */
static nn_status session_build(nn_session *s, nn_spec *spec, nn_spec *aux, nn_error *err)
{
    nn_base_file bf = {0};
    nn_status st = session_build_with(s, spec, aux, &bf, err);
    nn_base_file_close(&bf);
    return st;
}

nn_status nn_session_build(nn_session *s, nn_spec *spec, nn_error *err)
{
    memset(s, 0, sizeof *s);
    return session_build(s, spec, NULL, err);
}

/* Appends ", name" (the first without the comma) while it fits. */
static void list_add(char *buf, size_t len, const char *name, const char *why)
{
    size_t o = strlen(buf);
    if (o + strlen(name) + 48 >= len) {
        if (o + 5 < len && strcmp(buf + o - 3, "...") != 0)
            snprintf(buf + o, len - o, ", ...");
        return;
    }
    snprintf(buf + o, len - o, "%s%s%s%s%s", o ? ", " : "", name, why ? " (" : "",
             why ? why : "", why ? ")" : "");
}

/* train.init_from: every layer the file has by name, with the same weight
 * shapes, starts from the file's weights; the others keep their draws.
 * One note line says which layers loaded, one which did not. */
nn_status nn_session__init_from(nn_session *s, nn_error *err)
{
    char path[PATH_MAX + 64];
    nn_spec_relative_path(nn_spec_dir(s->spec), s->train.init_from, path, sizeof path);
    nn_h5_model f;
    nn_status st = nn_h5_load(path, &f, err);
    if (!st && !f.nnctl_spec)
        st = nn_keras_fix_weights(&f, path, err);
    if (st) {
        nn_h5_model_free(&f);
        return nn_error_prefix(err, "train.init_from");
    }
    char loaded[2048] = "", fresh[2048] = "";
    int n_loaded = 0, n_fresh = 0;
    for (int i = 0; i < s->model->n_nodes; i++) {
        const char *name = s->model->nodes[i]->name;
        switch (nn_model_load_matching(s->model, &f, i)) {
        case NN_INIT_LOADED:
            list_add(loaded, sizeof loaded, name, NULL);
            n_loaded++;
            break;
        case NN_INIT_SHAPE:
            list_add(fresh, sizeof fresh, name, "other weight shapes in the file");
            n_fresh++;
            break;
        case NN_INIT_ABSENT:
            list_add(fresh, sizeof fresh, name, "not in the file");
            n_fresh++;
            break;
        case NN_INIT_NO_PARAMS:
            break;
        }
    }
    char names[2048] = "";
    for (int i = 0; i < f.n_layers; i++)
        list_add(names, sizeof names, f.layers[i].name, NULL);
    nn_h5_model_free(&f);
    if (!n_loaded)
        return nn_fail(err, NN_ERR_USAGE,
                       "train.init_from '%s': no layer of the model matches one of the file by "
                       "name and weight shapes (the file has: %s)",
                       path, names[0] ? names : "no layers");
    if (!nn_is_quiet()) {
        fprintf(stderr, "nnctl: note: train.init_from '%s': loaded %d layer%s: %s\n", path,
                n_loaded, n_loaded == 1 ? "" : "s", loaded);
        fprintf(stderr, "nnctl: note: train.init_from '%s': freshly initialized %d layer%s%s%s\n",
                path, n_fresh, n_fresh == 1 ? "" : "s", n_fresh ? ": " : "", fresh);
    }
    return NN_OK;
}

/* "key.path=value" names the train group (or, model: the model group)? */
static bool override_in(const char *assignment, const char *group)
{
    size_t n = strlen(group);
    return strncmp(assignment, group, n) == 0 &&
           (assignment[n] == '.' || assignment[n] == '=' || assignment[n] == ' ');
}

nn_status nn_session_from_model_file(nn_session *s, const char *path, const char *spec_path,
                                     const char *const *overrides, int n_overrides,
                                     nn_error *err)
{
    memset(s, 0, sizeof *s);
    s->from_model_file = true;
    nn_h5_model f;
    nn_status st = nn_h5_load(path, &f, err);
    if (st)
        return st;
    nn_spec *spec = NULL, *aux = NULL;
    if (spec_path) {
        st = nn_spec_load_file(&spec, spec_path, err);
    } else if (f.nnctl_spec) {
        char name[4200];
        snprintf(name, sizeof name, "%s (stored spec)", path);
        st = nn_spec_load_string(&spec, f.nnctl_spec, name, err);
        /* its ./ data paths start at the folder of the spec it came from */
        if (!st && f.nnctl_spec_dir)
            st = nn_spec_set_dir(spec, f.nnctl_spec_dir, err);
    } else {
        st = nn_spec_load_string(&spec, "", "command line", err);
    }
    /* a stored spec names the plugins the model was trained with, where
     * they were then: loaded when they are still there (--plugin covers
     * the rest; a type still missing is reported by its name below) */
    if (!st) {
        nn_error quiet;
        nn_spec_plugins(spec, true, &quiet);
    }
    /* The model: the spec's, unless it has none (a Keras file, or --spec
     * with data and train only) or a stored one names a from_json file:
     * then the file's own model_config. */
    bool own_model = false;
    if (!st) {
        nn_spec_node *root = nn_spec_root(spec), *model = NULL;
        nn_error probe;
        if (nn_spec_has(root, "model") &&
            nn_spec_group(root, "model", true, &model, &probe) == NN_OK)
            own_model = !(nn_spec_has(model, "from_json") || nn_spec_has(model, "base")) ||
                        spec_path;
        if (!own_model && !f.model_config)
            st = nn_fail(err, NN_ERR_USAGE,
                         "'%s' holds only weights (Keras's save_weights layout), no "
                         "architecture: give a spec with its model using --spec FILE",
                         path);
        else if (!own_model)
            st = nn_keras_file_spec(&f, path, &aux, s->train_note, sizeof s->train_note, err);
        if (!st && !own_model && !f.nnctl_spec)
            snprintf(s->keras_file, sizeof s->keras_file, "%s", path);
    }
    /* --set model.* goes where the model comes from; train.* to the Keras
     * file's train groups when the spec has none */
    for (int i = 0; !st && i < n_overrides; i++) {
        nn_spec *to = spec;
        if (aux && override_in(overrides[i], "model"))
            to = aux;
        if (aux && override_in(overrides[i], "train") &&
            !nn_spec_has(nn_spec_root(spec), "train")) {
            char standin[4200];
            snprintf(standin, sizeof standin, "train_standin%s", overrides[i] + 5);
            if ((st = nn_spec_override(aux, overrides[i], err)) ||
                (st = nn_spec_override(aux, standin, err)))
                break;
            if (override_in(overrides[i], "train.loss"))
                s->train_note[0] = '\0'; /* the loss is the user's now */
            continue;
        }
        st = nn_spec_override(to, overrides[i], err);
    }
    if (!st && !f.nnctl_spec)
        st = nn_keras_fix_weights(&f, path, err);
    if (!st && nn_spec_has(nn_spec_root(spec), "train"))
        s->train_note[0] = '\0'; /* the spec gives the loss */
    /* plugin types whose plugin is not loaded: named, before the build */
    if (!st && f.model_config)
        st = nn_keras_check_plugins(f.model_config, path, err);
    if (st) {
        nn_spec_free(spec);
        nn_spec_free(aux);
        nn_h5_model_free(&f);
        return st;
    }
    if ((st = session_build(s, spec, aux, err)) ||
        (st = nn_model_load_weights(s->model, &f, path, err))) {
        nn_h5_model_free(&f);
        return st;
    }
    nn_session__names_from_file(s, f.nnctl_class_names);
    if (f.nnctl_preprocess) {
        json_t *j = json_loads(f.nnctl_preprocess, 0, NULL);
        st = nn_featurewise_from_json(&s->featurewise, j, err);
        json_decref(j);
        if (st) {
            nn_h5_model_free(&f);
            return nn_error_prefix(err, "%s", path);
        }
        s->have_featurewise = true;
    }
    nn_h5_model_free(&f);
    return NN_OK;
}

double nn_session_input_scale(const nn_session *s)
{
    const nn_data_cfg *d = &s->data;
    const nn_data_source *src = d->train.present ? &d->train : &d->test;
    return src->present && src->format == NN_FORMAT_TOKENS ? 1.0 : d->scale;
}

void nn_session_free(nn_session *s)
{
    nn_objective_release(&s->obj);
    nn_dataset_free(&s->train_set);
    nn_dataset_free(&s->val_set);
    nn_dataset_free(&s->test_set);
    nn_dataset_free(&s->train_full);
    nn_model_free(s->model);
    nn_engine_destroy(s->engine);
    nn_spec_free(s->spec);
    nn_spec_free(s->model_spec);
    nn_class_names_free(&s->class_names);
    memset(s, 0, sizeof *s);
}

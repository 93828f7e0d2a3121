/* A spec's model group to a model: its own layers, a Keras JSON file's
 * (model.from_json), or model.base's network followed by its layers (a
 * pre-built network and a new head: transfer learning). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/keras/import.h"
#include "io/keras/model_config.h"
#include "io/keras/model_file.h"
#include "session/session.h"

void nn_spec_relative_path(const char *dir, const char *p, char *out, size_t len)
{
    snprintf(out, len, "%s", p);
    if (p[0] == '/' || access(p, F_OK) == 0 || !dir || !dir[0] || strcmp(dir, ".") == 0)
        return;
    char alt[PATH_MAX + 64];
    snprintf(alt, sizeof alt, "%s/%s", dir, p);
    if (access(alt, F_OK) == 0)
        snprintf(out, len, "%s", alt);
}

#define MAX_GLOBS 64

/* model.base's keys into b (pointers into the spec) and the file's path */
static nn_status read_base(nn_spec_node *model, nn_spec_node **group, nn_keras_base *b,
                           const char **globs, char *path, size_t len, const char **application,
                           nn_error *err)
{
    nn_spec_node *g = NULL;
    const char *file;
    nn_status st;
    *application = NULL;
    static const char *const replaced[] = {"input", "inputs", "from_json"};
    for (size_t k = 0; k < sizeof replaced / sizeof *replaced; k++)
        if (nn_spec_has(model, replaced[k]))
            return nn_spec_fail(model, replaced[k], err, NN_ERR_USAGE,
                                "model.base gives the model's input%s: give one or the other",
                                k == 2 ? " and first layers" : "");
    memset(b, 0, sizeof *b);
    if ((st = nn_spec_group(model, "base", true, &g, err)) ||
        (st = nn_spec_string(g, "application", false, NULL, application, err)) ||
        (st = nn_spec_string(g, "file", !*application, "", &file, err)) ||
        (st = nn_spec_string(g, "output", false, NULL, &b->output, err)) ||
        (st = nn_spec_bool(g, "trainable", false, true, &b->trainable, err)) ||
        (st = nn_spec_string(g, "trainable_from", false, NULL, &b->trainable_from, err)) ||
        (st = nn_spec_string_array(g, "trainable_layers", false, MAX_GLOBS, globs,
                                   &b->n_trainable_layers, err)) ||
        (st = nn_spec_check_unknown(g, err)))
        return st;
    *group = g;
    int ways = nn_spec_has(g, "trainable") + (b->trainable_from != NULL) +
               (b->n_trainable_layers > 0);
    if (ways > 1)
        return nn_spec_fail(g, NULL, err, NN_ERR_USAGE,
                            "give one of trainable (every layer), trainable_from (the layers "
                            "from one on) and trainable_layers (names or patterns)");
    if (nn_spec_has(g, "trainable_layers") && !b->n_trainable_layers)
        return nn_spec_fail(g, "trainable_layers", err, NN_ERR_USAGE,
                            "expected at least one layer name or pattern (for none: "
                            "trainable = false)");
    if (!file[0] && !*application)
        return nn_spec_fail(g, "file", err, NN_ERR_USAGE, "expected a model file's name");
    b->trainable_layers = globs;
    path[0] = '\0';
    if (file[0])
        nn_spec_relative_path(nn_spec_node_dir(model), file, path, len);
    return NN_OK;
}

/* base.application: the network the topology spec builds, as Keras JSON
 * (what the cut below reads, as from a Keras file's model_config). */
static nn_status application_config(nn_spec_node *g, const char *application, char **text,
                                    char *cfg, size_t len, nn_error *err)
{
    nn_spec *app = NULL;
    nn_spec_node *group;
    nn_model *m = NULL;
    json_t *j = NULL;
    nn_status st = nn_application_path(g, application, cfg, len, err);
    if (!st && !(st = nn_spec_load_file(&app, cfg, err)) &&
        !(st = nn_spec_group(nn_spec_root(app), "model", true, &group, err)) &&
        !(st = nn_model_from_spec(group, &m, err)) && !(st = nn_model_keras_json(m, &j, err))) {
        if (!(*text = json_dumps(j, JSON_COMPACT)))
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    json_decref(j);
    nn_model_free(m);
    nn_spec_free(app);
    return st;
}

/* The base's network (spec text, freed here) and the model's own layers
 * after it, as one model; source names where the network came from. */
static nn_status base_from_text(nn_spec_node *model, nn_spec **aux, char *text, const char *source,
                                nn_model **out, nn_error *err)
{
    char what[PATH_MAX + 200];
    snprintf(what, sizeof what, "%s (model.base's network, converted)", source);
    nn_spec_node *base;
    nn_status st = nn_spec_load_string(aux, text, what, err);
    free(text);
    if (st || (st = nn_spec_group(nn_spec_root(*aux), "model", true, &base, err)))
        return st;
    return nn_model_from_base_spec(base, model, out, err);
}

/* model.base: the file read into bf, its network (cut, trainable flags
 * set) converted into *aux, and the model built from both groups */
static nn_status build_with_base(nn_spec_node *model, nn_spec **aux, nn_model **out,
                                 nn_base_file *bf, nn_error *err)
{
    nn_keras_base b;
    const char *globs[MAX_GLOBS];
    nn_spec_node *g = NULL;
    nn_error inner;
    const char *application;
    nn_status st = read_base(model, &g, &b, globs, bf->path, sizeof bf->path, &application, err);
    if (st)
        return st;
    if (bf->path[0]) {
        if (nn_h5_load(bf->path, &bf->f, &inner))
            return nn_spec_fail(g, "file", err, NN_ERR_USAGE, "%s", inner.msg);
        bf->open = true;
    }
    char what[PATH_MAX + 200], *text = NULL;
    if (application) {
        char cfg[PATH_MAX], *config = NULL;
        if ((st = application_config(g, application, &config, cfg, sizeof cfg, err)))
            return st;
        snprintf(what, sizeof what, "'%s'", cfg);
        st = nn_keras_base_text(config, what, NN_KERAS_VERSION, &b, &text, &inner);
        free(config);
        if (st)
            return nn_spec_fail(g, NULL, err, NN_ERR_USAGE, "%s", inner.msg);
        return base_from_text(model, aux, text, cfg, out, err);
    }
    if (!bf->f.model_config)
        return nn_spec_fail(g, "file", err, NN_ERR_USAGE,
                            "'%s' holds only weights (Keras's save_weights layout), no "
                            "network: name the network with base.application (a Keras "
                            "Applications one, or a spec file of its layers)",
                            bf->path);
    if (nn_keras_check_plugins(bf->f.model_config, bf->path, &inner))
        return nn_spec_fail(g, "file", err, NN_ERR_USAGE, "%s", inner.msg);
    snprintf(what, sizeof what, "'%s': model_config", bf->path);
    if (nn_keras_base_text(bf->f.model_config, what, bf->f.keras_version, &b, &text, &inner))
        return nn_spec_fail(g, NULL, err, NN_ERR_USAGE, "%s", inner.msg);
    return base_from_text(model, aux, text, bf->path, out, err);
}

nn_status nn_model_from_group(nn_spec_node *model, nn_spec **aux, nn_model **out,
                              nn_base_file *bf, nn_error *err)
{
    *aux = NULL;
    nn_status st;
    if (nn_spec_has(model, "base")) {
        nn_base_file local = {0};
        st = build_with_base(model, aux, out, bf ? bf : &local, err);
        nn_base_file_close(&local);
        return st;
    }
    if (nn_spec_has(model, "from_json")) {
        nn_spec_node *json;
        if ((st = nn_keras_json_file_spec(model, nn_spec_node_dir(model), aux, err)) ||
            (st = nn_spec_group(nn_spec_root(*aux), "model", true, &json, err)))
            return st;
        model = json;
    }
    return nn_model_from_spec(model, out, err);
}

nn_status nn_base_load_weights(nn_model *m, nn_base_file *bf, nn_error *err)
{
    nn_status st;
    if (!bf->f.nnctl_spec && (st = nn_keras_fix_weights(&bf->f, bf->path, err)))
        return nn_error_prefix(err, "model.base");
    int trainable = 0, with_params = 0;
    for (int i = 0; i < m->n_base; i++) {
        const nn_node *n = m->nodes[i];
        nn_init_result r = nn_model_load_matching(m, &bf->f, i);
        if (r == NN_INIT_NO_PARAMS)
            continue;
        if (r != NN_INIT_LOADED)
            return nn_fail(err, NN_ERR_USAGE,
                           "model.base '%s': no weights %sfor layer '%s' in the file (are "
                           "they another network's?)",
                           bf->path, r == NN_INIT_SHAPE ? "of the shapes the network needs " : "",
                           n->name);
        with_params++;
        trainable += n->trainable;
    }
    if (!nn_is_quiet())
        fprintf(stderr,
                "nnctl: note: model.base '%s': %d layer%s up to '%s', the weights of %d "
                "loaded; %d of them train\n",
                bf->path, m->n_base - m->n_inputs, m->n_base - m->n_inputs == 1 ? "" : "s",
                m->n_base ? m->nodes[m->n_base - 1]->name : "", with_params, trainable);
    return NN_OK;
}

void nn_base_file_close(nn_base_file *bf)
{
    if (bf->open)
        nn_h5_model_free(&bf->f);
    bf->open = false;
}

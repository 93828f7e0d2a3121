/* Keras model_config JSON to an nnctl `model` spec group: the graph
 * (import_graph.c) emitted as the inputs, the outputs and the layers in a
 * topological order; each layer's keys come from import_layers.c. */
#include <string.h>

#include "io/keras/import.h"
#include "io/keras/import_internal.h"
#include "layers/registry.h"
#include "util/fileio.h"

/* A layer's mixed dtype policy, as Keras 3 ({"class_name": "DTypePolicy",
 * "config": {"name": ...}}), Keras 2 ("Policy") or a plain name writes it;
 * NULL for float32 and anything else nnctl runs as float32. */
static const char *mixed_policy(json_t *cfg)
{
    json_t *dt = json_object_get(cfg, "dtype");
    if (json_is_object(dt))
        dt = json_object_get(json_object_get(dt, "config"), "name");
    const char *name = json_is_string(dt) ? json_string_value(dt) : "";
    return !strcmp(name, "mixed_bfloat16") || !strcmp(name, "mixed_float16") ? name : NULL;
}

/* Writes one layer group (its inputs are written already). */
static nn_status emit_one(kx_model *M, kx_node *n, kx_text *t, bool first)
{
    int ranks[NN_MAX_INPUTS];
    for (int k = 0; k < n->n_in; k++) {
        kx_node *src = kx_find(M, n->in[k]);
        ranks[k] = src ? src->rank : M->in[0].nd; /* else a Sequential's implicit input */
        if (src)
            src->consumers++;
    }
    kx_text body = {0};
    nn_status st = kx_layer_body(&n->L, ranks, n->n_in, &body, &n->rank);
    if (st) {
        free(body.s);
        return st;
    }
    kx_printf(t, "%s    { name = ", first ? "" : ",\n");
    kx_string(t, n->L.name);
    kx_printf(t, "; inputs = [");
    for (int k = 0; k < n->n_in; k++) {
        kx_printf(t, "%s", k ? ", " : "");
        kx_string(t, n->in[k]);
    }
    const char *policy = mixed_policy(n->L.cfg);
    bool frozen = M->base ? !kx_base_trainable(M, n->L.name)
                          : json_is_false(json_object_get(n->L.cfg, "trainable"));
    kx_printf(t, "];%s%s%s%s %s }", frozen ? " trainable = false;" : "",
              policy ? " dtype = \"" : "", policy ? policy : "", policy ? "\";" : "",
              body.s ? body.s : "");
    if (body.oom)
        t->oom = true;
    free(body.s);
    n->done = true;
    return NN_OK;
}

/* Emits the layers in file order, each after its inputs (a depth-first walk
 * over the inputs: files list layers in a topological order, and any other
 * order still works); unknown inputs and cycles are errors. */
static nn_status emit_layers(kx_model *M, kx_text *t)
{
    bool first = true;
    for (int i = 0; i < M->n; i++) {
        if (M->nodes[i].done || M->nodes[i].is_input || M->nodes[i].mask_only ||
            (M->keep && !M->keep[i]))
            continue;
        int sp = 0;
        M->stack[sp++] = i;
        M->next_in[i] = 0;
        M->nodes[i].rank = -1; /* in progress */
        while (sp) {
            kx_node *n = &M->nodes[M->stack[sp - 1]];
            if (M->next_in[n - M->nodes] < n->n_in) {
                const char *name = n->in[M->next_in[n - M->nodes]++];
                kx_node *src = kx_find(M, name);
                if (!src && (!M->implicit_input[0] || strcmp(name, M->implicit_input)))
                    return kx_fail(&n->L, "takes input from '%s', which is not a layer of the "
                                          "model",
                                   name);
                if (!src || src->done || src->is_input)
                    continue;
                if (src->rank == -1)
                    return kx_model_fail(M, "the layers' inbound nodes form a cycle (through '%s')",
                                      src->L.name);
                src->rank = -1;
                M->next_in[src - M->nodes] = 0;
                M->stack[sp++] = (int)(src - M->nodes);
                continue;
            }
            nn_status st = emit_one(M, n, t, first);
            if (st)
                return st;
            first = false;
            sp--;
        }
    }
    /* nnctl's outputs are the layers nothing consumes */
    for (int i = 0; i < M->n; i++) {
        kx_node *n = &M->nodes[i];
        if ((M->keep && !M->keep[i]) || n->mask_only)
            continue;
        int k = 0;
        while (k < M->n_out && strcmp(M->out[k], n->L.name))
            k++;
        if (!n->is_input && !n->consumers && k == M->n_out)
            return kx_fail(&n->L, "leads to no output of the model (output_layers): nnctl "
                                  "cannot hold a layer whose result goes nowhere");
        if (k < M->n_out && n->consumers)
            return kx_model_fail(M, "the output layer '%s' also feeds other layers: an nnctl "
                                 "output must be a layer nothing consumes",
                              n->L.name);
    }
    return NN_OK;
}

static nn_status convert(kx_model *M, json_t *root, kx_text *t)
{
    json_t *cn = json_object_get(root, "class_name"), *cfg = json_object_get(root, "config");
    if (!json_is_string(cn) || (!json_is_object(cfg) && !json_is_array(cfg)))
        return kx_model_fail(M, "not a Keras model: no class_name and config");
    const char *cls = json_string_value(cn);
    bool seq = !strcmp(cls, "Sequential");
    if (!seq && strcmp(cls, "Functional") && strcmp(cls, "Model"))
        return kx_model_fail(M, "model class %s is not supported (Sequential, Functional and Model "
                             "are)",
                          cls);
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return kx_model_fail(M, "the model has no layers");
    nn_status st = kx_flatten_nested(M, root);
    if (st)
        return st;
    cn = json_object_get(root, "class_name");
    cfg = json_object_get(root, "config");
    cls = json_string_value(cn);
    seq = !strcmp(cls, "Sequential");
    layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    if (json_array_size(layers) > 100000)
        return kx_model_fail(M, "too many layers");
    if (!M->keras_major)
        M->keras_major = kx_looks_keras3(layers) ? 3 : 2;
    json_t *nm = json_is_object(cfg) ? json_object_get(cfg, "name") : NULL;
    M->name = json_is_string(nm) ? json_string_value(nm) : seq ? "sequential" : "model";
    M->n = (int)json_array_size(layers);
    M->nodes = calloc((size_t)M->n, sizeof *M->nodes);
    if (!M->nodes)
        return nn_fail(M->err, NN_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < M->n; i++)
        if ((st = kx_read_layer(M, json_array_get(layers, (size_t)i), (size_t)i, &M->nodes[i])))
            return st;
    if ((st = kx_index_names(M)))
        return st;
    if ((st = seq ? kx_read_sequential(M, cfg) : kx_read_functional(M, cfg, layers)))
        return st;
    kx_layer in = {.what = M->what, .name = M->in[0].name, .cls = "InputLayer", .err = M->err};
    if ((st = kx_check_name(&in, M->in[0].name)))
        return st;
    if (M->n == M->n_in && M->nodes[0].is_input)
        return kx_model_fail(M, "the model has no layers besides its input%s",
                          M->n_in > 1 ? "s" : "");
    if (M->base && (st = kx_base_cut(M)))
        return st;
    kx_printf(t, "model: {\n  name = ");
    kx_string(t, M->name);
    /* one input keeps the `input = {...}` form */
    kx_printf(t, M->n_in > 1 ? ";\n  inputs = (" : ";\n  input =");
    for (int k = 0; k < M->n_in; k++) {
        kx_printf(t, "%s { name = ", k ? "," : "");
        kx_string(t, M->in[k].name);
        kx_printf(t, "; shape = [");
        for (int i = 0; i < M->in[k].nd; i++)
            kx_printf(t, "%s%lld", i ? ", " : "", M->in[k].shape[i]);
        kx_printf(t, "]; }");
    }
    kx_printf(t, M->n_in > 1 ? " );\n" : ";\n");
    if (M->n_out > 1) {
        kx_printf(t, "  outputs = [");
        for (int k = 0; k < M->n_out; k++) {
            kx_printf(t, "%s", k ? ", " : "");
            kx_string(t, M->out[k]);
        }
        kx_printf(t, "];\n");
    }
    kx_printf(t, "  layers = (\n");
    if ((st = emit_layers(M, t)))
        return st;
    kx_printf(t, "\n  );\n};\n");
    return NN_OK;
}

nn_status kx_model_text(const char *json_text, const char *what, const char *keras_version,
                        const nn_keras_base *base, char **text, kx_outputs *outs,
                        nn_error *err)
{
    *text = NULL;
    json_error_t je;
    json_t *root = json_loads(json_text, 0, &je);
    if (!root)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: not valid JSON (line %d: %s)", what, je.line,
                       je.text);
    kx_model M = {.what = what,
                  .err = err,
                  .keras_major = kx_version_major(keras_version),
                  .base = base};
    if (!M.keras_major && json_is_object(root))
        M.keras_major = kx_version_major(json_string_value(json_object_get(root, "keras_version")));
    kx_text t = {0};
    nn_status st = json_is_object(root) ? convert(&M, root, &t)
                                        : kx_model_fail(&M, "not a Keras model: not a JSON object");
    if (!st && t.oom)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory converting %s", what);
    if (!st && outs) {
        outs->n = M.n_out;
        outs->keras_major = M.keras_major;
        for (int k = 0; k < M.n_out; k++) {
            snprintf(outs->name[k], sizeof outs->name[k], "%s", M.out[k]);
            snprintf(outs->key[k], sizeof outs->key[k], "%s", M.out_key[k]);
        }
    }
    free(M.nodes);
    free(M.by_name);
    free(M.keep);
    json_decref(root);
    if (st) {
        free(t.s);
        return st;
    }
    *text = t.s;
    return NN_OK;
}

nn_status nn_keras_model_text(const char *json_text, const char *what,
                              const char *keras_version, char **text, nn_error *err)
{
    return kx_model_text(json_text, what, keras_version, NULL, text, NULL, err);
}

nn_status nn_keras_base_text(const char *json_text, const char *what,
                             const char *keras_version, const nn_keras_base *b, char **text,
                             nn_error *err)
{
    return kx_model_text(json_text, what, keras_version, b, text, NULL, err);
}

/* ---- spec documents ----------------------------------------------------- */

nn_status nn_keras_file_spec(const nn_h5_model *f, const char *path, nn_spec **out,
                             char *train_note, size_t note_len, nn_error *err)
{
    *out = NULL;
    train_note[0] = '\0';
    char what[4200];
    snprintf(what, sizeof what, "'%s': model_config", path);
    char *model = NULL, *train = NULL;
    kx_outputs outs;
    nn_status st = kx_model_text(f->model_config, what, f->keras_version, NULL, &model, &outs,
                                 err);
    if (st)
        return st;
    nn_error terr;
    snprintf(what, sizeof what, "'%s': training_config", path);
    if (!f->training_config)
        snprintf(train_note, note_len,
                 "'%s' has no training_config (Keras saved it without compile())", path);
    else if (kx_train_text(f->training_config, what, &outs, f->keras_version, &train, &terr))
        snprintf(train_note, note_len, "%s", terr.msg);
    /* train_standin: what predict and summary use when nnctl cannot use
     * the training_config (eval then says why) */
    static const char standin[] = "{ loss = \"mse\"; optimizer = \"sgd\"; };\n";
    kx_text t = {0};
    kx_printf(&t, "%s\ntrain_standin: %s", model, standin);
    if (train)
        kx_printf(&t, "%s", train);
    else
        kx_printf(&t, "train: %s", standin);
    free(model);
    free(train);
    if (t.oom) {
        free(t.s);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory converting '%s'", path);
    }
    char display[4200];
    snprintf(display, sizeof display, "%s (Keras model_config, converted)", path);
    st = nn_spec_load_string(out, t.s, display, err);
    free(t.s);
    return st;
}

nn_status nn_keras_json_file_spec(nn_spec_node *model, const char *spec_dir, nn_spec **out,
                                  nn_error *err)
{
    *out = NULL;
    const char *rel;
    nn_status st = nn_spec_string(model, "from_json", true, NULL, &rel, err);
    if (st)
        return st;
    if (nn_spec_has(model, "layers") || nn_spec_has(model, "input"))
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE,
                            "from_json replaces input and layers: give one or the other");
    if ((st = nn_spec_check_unknown(model, err)))
        return st;
    if (!rel[0])
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "expected a file name");
    char path[8192];
    if (rel[0] == '/' || !spec_dir || !spec_dir[0] || !strcmp(spec_dir, "."))
        snprintf(path, sizeof path, "%s", rel);
    else
        snprintf(path, sizeof path, "%s/%s", spec_dir, rel);
    char *json = NULL, *text = NULL;
    size_t len;
    nn_error inner;
    if (nn_read_file(path, &json, &len, &inner))
        return nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s", inner.msg);
    char what[8300];
    snprintf(what, sizeof what, "'%s'", path);
    if (strlen(json) != len)
        st = nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s is not a text file", what);
    else if (nn_keras_model_text(json, what, NULL, &text, &inner))
        st = nn_spec_fail(model, "from_json", err, NN_ERR_USAGE, "%s", inner.msg);
    free(json);
    if (st)
        return st;
    snprintf(what, sizeof what, "%s (Keras JSON, converted)", path);
    st = nn_spec_load_string(out, text, what, err);
    free(text);
    return st;
}

/* Every custom object nnctl wrote for a plugin type (module
 * "nnctl.plugins.<plugin>") must have its row. */
static nn_status check_plugin_object(json_t *v, const char *path, const char *layer,
                                     nn_error *err)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            nn_status st = check_plugin_object(e, path, layer, err);
            if (st)
                return st;
        }
        return NN_OK;
    }
    if (!json_is_object(v))
        return NN_OK;
    json_t *cls = json_object_get(v, "class_name"), *mod = json_object_get(v, "module");
    json_t *cfg = json_object_get(v, "config");
    json_t *nm = json_is_object(cfg) ? json_object_get(cfg, "name") : NULL;
    if (json_is_string(nm) && json_is_string(cls))
        layer = json_string_value(nm);
    if (json_is_string(cls) && json_is_string(mod) &&
        !strncmp(json_string_value(mod), "nnctl.plugins.", 14)) {
        const char *c = json_string_value(cls), *plugin = json_string_value(mod) + 14;
        if (!nn_layer_type_for_keras(c) && !nn_reg_type_for_keras(c))
            return nn_fail(err, NN_ERR_USAGE,
                           "'%s': layer '%s' uses %s, a type of the plugin '%s' that is not "
                           "loaded: load it with --plugin FILE (the %s.so it was trained with)",
                           path, layer ? layer : "?", c, plugin, plugin);
    }
    const char *key;
    json_t *e;
    json_object_foreach(v, key, e) {
        nn_status st = check_plugin_object(e, path, layer, err);
        if (st)
            return st;
    }
    return NN_OK;
}

nn_status nn_keras_check_plugins(const char *model_config, const char *path, nn_error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(model_config, 0, &jerr);
    if (!root)
        return NN_OK; /* the importer reports unreadable configs */
    nn_status st = check_plugin_object(root, path, NULL, err);
    json_decref(root);
    return st;
}

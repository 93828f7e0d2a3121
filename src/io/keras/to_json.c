/* to_json()'s object from a stored model_config (see keras_to_json.h). */
#include <string.h>

#include "io/keras/model_config.h"
#include "io/keras/to_json.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The Keras module of the object held under `key` (NULL: not an object
 * slot, but still searched below). */
static const char *module_of(const char *key)
{
    if (!strcmp(key, "layers") || !strcmp(key, "layer"))
        return "keras.layers";
    if (ends_with(key, "_initializer"))
        return "keras.initializers";
    if (ends_with(key, "_regularizer"))
        return "keras.regularizers";
    if (ends_with(key, "_constraint"))
        return "keras.constraints";
    return NULL;
}

static json_t *annotate(json_t *v, const char *module);

/* A copy of v with serialized objects in it annotated; a serialized object
 * ({"class_name", "config"}) gets "module" first and "registered_name"
 * last, as Keras writes them, unless it has them already. */
static json_t *annotate_object(json_t *v, const char *module)
{
    bool keras_obj = module && json_object_get(v, "class_name") && json_object_get(v, "config");
    json_t *out = json_object();
    if (keras_obj && !json_object_get(v, "module"))
        json_object_set_new(out, "module", json_string(module));
    const char *key;
    json_t *e;
    json_object_foreach(v, key, e) {
        const char *m = module_of(key);
        json_object_set_new(out, key, annotate(e, m));
    }
    if (keras_obj && !json_object_get(v, "registered_name"))
        json_object_set_new(out, "registered_name", json_null());
    return out;
}

static json_t *annotate(json_t *v, const char *module)
{
    if (json_is_object(v))
        return annotate_object(v, module);
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(out, annotate(e, module));
        return out;
    }
    return json_incref(v);
}

nn_status nn_keras_to_json(const nn_h5_model *f, const char *path, json_t **out, nn_error *err)
{
    if (!f->model_config)
        return nn_fail(err, NN_ERR_RUNTIME,
                       "'%s': holds weights only (Keras's save_weights layout): no model_config "
                       "to export",
                       path);
    json_error_t je;
    json_t *cfg = json_loads(f->model_config, 0, &je);
    const char *cls = json_string_value(json_object_get(cfg, "class_name"));
    if (!json_is_object(cfg) || !cls || !json_is_object(json_object_get(cfg, "config"))) {
        nn_status st = nn_fail(err, NN_ERR_RUNTIME, "'%s': model_config is not a Keras model's "
                                                    "JSON%s%s",
                               path, cfg ? "" : ": ", cfg ? "" : je.text);
        json_decref(cfg);
        return st;
    }
    /* the module Keras 3 gives the model classes */
    const char *module = !strcmp(cls, "Functional") ? "keras.src.models.functional" : "keras";
    json_t *ordered = json_object();
    json_object_set(ordered, "class_name", json_object_get(cfg, "class_name"));
    json_object_set(ordered, "config", json_object_get(cfg, "config"));
    json_t *ver = json_object_get(cfg, "keras_version"), *be = json_object_get(cfg, "backend");
    json_object_set_new(ordered, "keras_version",
                        ver ? json_incref(ver)
                            : json_string(f->keras_version ? f->keras_version : NN_KERAS_VERSION));
    json_object_set_new(ordered, "backend",
                        be ? json_incref(be) : json_string(f->backend ? f->backend : "tensorflow"));
    json_object_update_missing(ordered, cfg);
    *out = annotate(ordered, module);
    json_decref(ordered);
    json_decref(cfg);
    if (!*out)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    return NN_OK;
}

/* A spec group as JSON: how a plugin type's settings are written into
 * model files (its Keras config), and read back as the same group. */
#include <string.h>

#include "spec/spec_internal.h"

static json_t *value_json(const config_setting_t *st)
{
    switch (config_setting_type(st)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return json_integer(config_setting_get_int64(st));
    case CONFIG_TYPE_FLOAT:
        return json_real(config_setting_get_float(st));
    case CONFIG_TYPE_BOOL:
        return json_boolean(config_setting_get_bool(st));
    case CONFIG_TYPE_STRING:
        return json_string(config_setting_get_string(st));
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST: {
        json_t *a = json_array();
        for (int i = 0; i < config_setting_length(st); i++)
            json_array_append_new(a, value_json(config_setting_get_elem(st, (unsigned)i)));
        return a;
    }
    case CONFIG_TYPE_GROUP: {
        json_t *o = json_object();
        for (int i = 0; i < config_setting_length(st); i++) {
            config_setting_t *m = config_setting_get_elem(st, (unsigned)i);
            json_object_set_new(o, config_setting_name(m), value_json(m));
        }
        return o;
    }
    default:
        return json_null();
    }
}

json_t *nn_spec_group_json(nn_spec_node *g, const char *const *skip)
{
    json_t *o = json_object();
    if (!o || !g || config_setting_type(g->s) != CONFIG_TYPE_GROUP)
        return o;
    for (int i = 0; i < config_setting_length(g->s); i++) {
        config_setting_t *m = config_setting_get_elem(g->s, (unsigned)i);
        const char *name = config_setting_name(m);
        bool skipped = false;
        for (int k = 0; skip && skip[k]; k++)
            skipped |= !strcmp(skip[k], name);
        if (!skipped)
            json_object_set_new(o, name, value_json(m));
    }
    return o;
}

/* The regularizer rows: Keras's L1, L2 and L1L2, and plugins'. */
#include <string.h>

#include "model/layer.h"

static const nn_doc_key l1_keys[] = {
    {"l1", "float", "0.01", "factor of the sum of |w|"},
    {NULL, NULL, NULL, NULL},
};
static const nn_doc_key l2_keys[] = {
    {"l2", "float", "0.01", "factor of the sum of w^2"},
    {NULL, NULL, NULL, NULL},
};
static const nn_doc_key l1_l2_keys[] = {
    {"l1", "float", "0 (0.01 named alone)", "factor of the sum of |w|"},
    {"l2", "float", "0 (0.01 named alone)", "factor of the sum of w^2"},
    {NULL, NULL, NULL, NULL},
};

static const nn_reg_type builtin[] = {
    {.name = "l1", .keras_class = "L1", .keras_module = "keras.regularizers",
     .doc = "l1 * sum(|w|) (Keras's L1)", .keys = l1_keys},
    {.name = "l2", .keras_class = "L2", .keras_module = "keras.regularizers",
     .doc = "l2 * sum(w^2) (Keras's L2)", .keys = l2_keys},
    {.name = "l1_l2", .keras_class = "L1L2", .keras_module = "keras.regularizers",
     .doc = "both (Keras's L1L2)", .keys = l1_l2_keys},
};
#define N_BUILTIN ((int)(sizeof builtin / sizeof builtin[0]))
#define MAX_PLUGIN 64

static const nn_reg_type *plugin_types[MAX_PLUGIN];
static int n_plugin;

const nn_reg_type *nn_reg_type_at(int i)
{
    if (i < 0)
        return NULL;
    if (i < N_BUILTIN)
        return &builtin[i];
    return i - N_BUILTIN < n_plugin ? plugin_types[i - N_BUILTIN] : NULL;
}

const nn_reg_type *nn_reg_type_find(const char *name)
{
    const nn_reg_type *t;
    for (int i = 0; (t = nn_reg_type_at(i)); i++)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

const nn_reg_type *nn_reg_type_for_keras(const char *keras_class)
{
    const nn_reg_type *t;
    for (int i = 0; (t = nn_reg_type_at(i)); i++)
        if (t->keras_class && !strcmp(t->keras_class, keras_class))
            return t;
    return NULL;
}

nn_status nn_reg_type_register(const nn_reg_type *t, nn_error *err)
{
    if (nn_reg_type_find(t->name))
        return nn_fail(err, NN_ERR_USAGE, "regularizer type \"%s\" is already registered",
                       t->name);
    if (n_plugin == MAX_PLUGIN)
        return nn_fail(err, NN_ERR_USAGE, "more than %d plugin regularizer types", MAX_PLUGIN);
    plugin_types[n_plugin++] = t;
    return NN_OK;
}

/* Weight and activity regularizers: l1, l2, l1_l2 (Keras's L1L2). */
#include <string.h>

#include "layers/common.h"

static const char *const reg_types[] = {"l1", "l2", "l1_l2", NULL};

nn_status nn_spec_regularizer(nn_spec_node *s, const char *key, nn_regularizer *out,
                              nn_error *err)
{
    out->l1 = out->l2 = 0.0f;
    if (!nn_spec_has(s, key))
        return NN_OK;
    nn_spec_node *g = NULL;
    const char *str = NULL;
    /* A bare name takes Keras's default factor 0.01. */
    nn_error probe;
    if (nn_spec_string(s, key, true, NULL, &str, &probe) == NN_OK) {
        int kind;
        nn_status st = nn_spec_choice(s, key, true, reg_types, -1, &kind, err);
        if (st)
            return st;
        if (kind == 0 || kind == 2)
            out->l1 = 0.01f;
        if (kind == 1 || kind == 2)
            out->l2 = 0.01f;
        return NN_OK;
    }
    nn_status st = nn_spec_group(s, key, true, &g, err);
    if (st)
        return nn_spec_fail(s, key, err, NN_ERR_USAGE,
                            "expected \"l1\", \"l2\", \"l1_l2\" or a group { l1 = ...; l2 = ...; }");
    int kind = 2;
    if ((st = nn_spec_choice(g, "type", false, reg_types, 2, &kind, err)))
        return st;
    /* type "l1" takes only l1 (Keras's L1), "l2" only l2: the other
     * factor would be silently dropped */
    const char *other = kind == 0 ? "l2" : kind == 1 ? "l1" : NULL;
    if (other && nn_spec_has(g, other))
        return nn_spec_fail(g, other, err, NN_ERR_USAGE,
                            "type \"%s\" takes only %s; for both factors use type = \"l1_l2\" "
                            "(Keras's L1L2), or drop %s",
                            reg_types[kind], reg_types[kind], other);
    double l1 = 0.0, l2 = 0.0;
    if ((st = nn_spec_float(g, "l1", false, kind == 0 && !nn_spec_has(g, "l2") ? 0.01 : 0.0, 0.0,
                            1e6, &l1, err)))
        return st;
    if ((st = nn_spec_float(g, "l2", false, kind == 1 && !nn_spec_has(g, "l1") ? 0.01 : 0.0, 0.0,
                            1e6, &l2, err)))
        return st;
    if ((st = nn_spec_check_unknown(g, err)))
        return st;
    out->l1 = (float)l1;
    out->l2 = (float)l2;
    return NN_OK;
}

json_t *nn_regularizer_keras_json(const nn_regularizer *r)
{
    if (r->l1 == 0.0f && r->l2 == 0.0f)
        return json_null();
    return json_pack("{s:s, s:{s:f, s:f}}", "class_name", "L1L2", "config", "l1", (double)r->l1,
                     "l2", (double)r->l2);
}

/* Weight and activity regularizers: l1, l2, l1_l2 (Keras's L1L2) through
 * the engine, and plugins' regularizers (model/regularizers.c) on host
 * floats. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers/common.h"

static const char *const reg_types[] = {"l1", "l2", "l1_l2", NULL};

/* Every type's name, for "did you mean" and the expected list. */
static int type_names(const char **names, int max)
{
    const nn_reg_type *t;
    int n = 0;
    for (int i = 0; (t = nn_reg_type_at(i)) && n < max - 1; i++)
        names[n++] = t->name;
    names[n] = NULL;
    return n;
}

/* A plugin's regularizer: its instance from g (NULL: named alone). */
static nn_status plugin_reg(const nn_reg_type *t, nn_spec_node *g, nn_regularizer *out,
                            nn_error *err)
{
    void *inst = NULL;
    nn_status st = t->create(t, g, &inst, err);
    if (!st && g)
        st = nn_spec_check_unknown(g, err);
    if (st)
        return st;
    out->type = t;
    out->inst = inst;
    out->spec = g;
    return NN_OK;
}

nn_status nn_spec_regularizer(nn_spec_node *s, const char *key, nn_regularizer *out,
                              nn_error *err)
{
    memset(out, 0, sizeof *out);
    if (!nn_spec_has(s, key))
        return NN_OK;
    nn_spec_node *g = NULL;
    const char *str = NULL;
    const char *names[128];
    int n_names = type_names(names, 128);
    /* A bare name takes Keras's default factor 0.01. */
    nn_error probe;
    if (nn_spec_string(s, key, true, NULL, &str, &probe) == NN_OK) {
        const nn_reg_type *t = nn_reg_type_find(str);
        if (t && t->create)
            return plugin_reg(t, NULL, out, err);
        int kind;
        nn_status st = nn_spec_choice(s, key, true, names, -1, &kind, err);
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
    if ((st = nn_spec_choice(g, "type", false, names, 2, &kind, err)))
        return st;
    (void)n_names;
    const nn_reg_type *t = nn_reg_type_at(kind);
    if (t->create)
        return plugin_reg(t, g, out, err);
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
    if (r->type) {
        /* a custom object, as Keras serializes one: its settings as config */
        const char *skip[] = {"type", NULL};
        json_t *cfg = r->spec ? nn_spec_group_json(r->spec, skip) : json_object();
        return json_pack("{s:s, s:s, s:o, s:s}", "module", r->type->keras_module, "class_name",
                         r->type->keras_class, "config", cfg ? cfg : json_object(),
                         "registered_name", r->type->keras_class);
    }
    if (r->l1 == 0.0f && r->l2 == 0.0f)
        return json_null();
    return json_pack("{s:s, s:{s:f, s:f}}", "class_name", "L1L2", "config", "l1", (double)r->l1,
                     "l2", (double)r->l2);
}

/* Host copies for engines whose memory is not the host's: grown once to
 * the largest tensor, then reused (no allocation per batch). */
static float *stage_w, *stage_g;
static size_t stage_n;

double nn_regularizer_apply(const nn_regularizer *r, nn_engine *e, const nn_tensor *w, int ndim,
                            const int *dims, nn_tensor *grad, float scale, size_t n)
{
    if (!r->type)
        return e->ops->regularize(e, w, r->l1, r->l2, grad, scale, n);
    float *hw = e->ops->host_ptr(e, (nn_tensor *)w), *hg = grad ? e->ops->host_ptr(e, grad) : NULL;
    if ((!hw || (grad && !hg)) && n > stage_n) {
        float *a = realloc(stage_w, n * sizeof *a), *b = a ? realloc(stage_g, n * sizeof *b) : NULL;
        if (a)
            stage_w = a;
        if (b)
            stage_g = b;
        if (!a || !b) {
            nn_error_defer(NN_ERR_RUNTIME, "out of memory for regularizer %s", r->type->name);
            return NAN;
        }
        stage_n = n;
    }
    if (!hw) {
        e->ops->download(e, stage_w, w, n);
        hw = stage_w;
    }
    bool copy_g = grad && !hg;
    if (copy_g) {
        e->ops->download(e, stage_g, grad, n);
        hg = stage_g;
    }
    double penalty = 0.0;
    nn_error err = {0};
    if (r->type->host_apply(r->type, r->inst, hw, ndim, dims, &penalty, grad ? hg : NULL, scale,
                            &err)) {
        nn_error_defer(err.code ? err.code : NN_ERR_RUNTIME, "regularizer %s: %s",
                       r->type->name, err.msg);
        return NAN;
    }
    if (copy_g)
        e->ops->upload(e, grad, stage_g, n);
    return penalty;
}

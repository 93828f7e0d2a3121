/* What layer rows read Keras layer configs with, and the spec text they
 * write (formats/keras_import.h). */
#include <string.h>

#include "engine/engine.h"
#include "formats/keras_import.h"
#include "model/activations.h"
#include "model/layer.h"

/* ---- text --------------------------------------------------------------- */

void kx_printf(kx_text *t, const char *fmt, ...)
{
    if (t->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0)
        return;
    if (t->n + (size_t)need + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->n + (size_t)need + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    t->n += (size_t)need;
}

void kx_string(kx_text *t, const char *s)
{
    kx_printf(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            kx_printf(t, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            kx_printf(t, "\\x%02x", (unsigned char)*s);
        else
            kx_printf(t, "%c", *s);
    }
    kx_printf(t, "\"");
}

void kx_float_text(kx_text *t, double v)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* libconfig reads "1" as an integer: keep floats floats */
    kx_printf(t, "%s%s", buf, strpbrk(buf, ".eEn") ? "" : ".0");
}

/* ---- errors and values -------------------------------------------------- */

nn_status kx_fail(const kx_layer *L, const char *fmt, ...)
{
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->name)
        return nn_fail(L->err, NN_ERR_RUNTIME, "%s: layer '%s' (%s): %s", L->what, L->name,
                       L->cls ? L->cls : "?", msg);
    return nn_fail(L->err, NN_ERR_RUNTIME, "%s: %s", L->what, msg);
}

json_t *kx_get(const kx_layer *L, const char *key, const char *k1)
{
    json_t *v = json_object_get(L->cfg, key);
    if ((!v || json_is_null(v)) && k1)
        v = json_object_get(L->cfg, k1);
    return v && !json_is_null(v) ? v : NULL;
}

bool kx_as_int(const json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = (long long)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(long long)d && d > -1e15 && d < 1e15) {
            *out = (long long)d;
            return true;
        }
    }
    return false;
}

nn_status kx_check_name(const kx_layer *L, const char *name)
{
    if (!nn_layer_name_ok(name))
        return kx_fail(L, "name \"%s\" is not usable: nnctl takes " NN_LAYER_NAME_RULE, name);
    return NN_OK;
}

/* ---- scalar keys -------------------------------------------------------- */

nn_status kx_want_int(const kx_layer *L, const char *key, const char *k1, bool required,
                          long long def, long long min, long long *out)
{
    json_t *v = kx_get(L, key, k1);
    *out = def;
    if (!v) {
        if (required)
            return kx_fail(L, "missing key \"%s\"", key);
        *out = def;
        return NN_OK;
    }
    if (!kx_as_int(v, out) || *out < min || *out > (1LL << 30))
        return kx_fail(L, "\"%s\" must be an integer >= %lld", key, min);
    return NN_OK;
}

nn_status kx_want_bool(const kx_layer *L, const char *key, const char *k1, bool def,
                           bool *out)
{
    json_t *v = kx_get(L, key, k1);
    *out = def;
    if (!v)
        return NN_OK;
    if (!json_is_boolean(v))
        return kx_fail(L, "\"%s\" must be true or false", key);
    *out = json_is_true(v);
    return NN_OK;
}

nn_status kx_want_float(const kx_layer *L, const char *key, const char *k1, double def,
                            double *out)
{
    json_t *v = kx_get(L, key, k1);
    *out = def;
    if (!v)
        return NN_OK;
    if (!json_is_number(v))
        return kx_fail(L, "\"%s\" must be a number", key);
    *out = json_number_value(v);
    return NN_OK;
}

/* A setting nnctl cannot honour: absent, null, false, 0 or `ok` is fine. */
nn_status kx_refuse(const kx_layer *L, const char *key, const char *ok, const char *why)
{
    json_t *v = json_object_get(L->cfg, key);
    if (!v || json_is_null(v) || json_is_false(v))
        return NN_OK;
    if (json_is_number(v) && json_number_value(v) == 0.0)
        return NN_OK;
    if (ok && json_is_string(v) && strcmp(json_string_value(v), ok) == 0)
        return NN_OK;
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    nn_status st = kx_fail(L, "%s = %s is not supported%s%s", key, s ? s : "?", why ? ": " : "",
                           why ? why : "");
    free(s);
    return st;
}

/* channels-last only: Keras 2/3 data_format, Keras 1 dim_ordering. */
nn_status kx_channels_last(const kx_layer *L)
{
    nn_status st = kx_refuse(L, "data_format", "channels_last", "nnctl is channels-last");
    return st ? st : kx_refuse(L, "dim_ordering", "tf", "nnctl is channels-last (\"tf\")");
}

void kx_key_int(kx_text *t, const char *key, long long v) { kx_printf(t, " %s = %lld;", key, v); }
void kx_key_bool(kx_text *t, const char *key, bool v)
{
    kx_printf(t, " %s = %s;", key, v ? "true" : "false");
}
void kx_key_float(kx_text *t, const char *key, double v)
{
    kx_printf(t, " %s = ", key);
    kx_float_text(t, v);
    kx_printf(t, ";");
}
void kx_key_str(kx_text *t, const char *key, const char *v)
{
    kx_printf(t, " %s = ", key);
    kx_string(t, v);
    kx_printf(t, ";");
}

nn_status kx_key_numbers(const kx_layer *L, kx_text *t, const char *key, json_t *v)
{
    if (json_is_number(v)) {
        kx_key_float(t, key, json_number_value(v));
        return NN_OK;
    }
    if (!json_is_array(v) || !json_array_size(v))
        return kx_fail(L, "\"%s\" must be a number or a list of numbers", key);
    kx_printf(t, " %s = [", key);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_number(e))
            return kx_fail(L, "\"%s\" must be a number or a list of numbers", key);
        kx_printf(t, "%s", i ? ", " : "");
        kx_float_text(t, json_number_value(e));
    }
    kx_printf(t, "];");
    return NN_OK;
}

/* ---- activations -------------------------------------------------------- */

nn_status kx_activation_name(const kx_layer *L, const char *key, json_t *v,
                                 const char **out)
{
    *out = "linear";
    if (!v || json_is_null(v))
        return NN_OK;
    /* Keras 3 may wrap a built-in as {"class_name": "function", "config": "relu"} */
    if (json_is_object(v) && json_is_string(json_object_get(v, "config")))
        v = json_object_get(v, "config");
    if (!json_is_string(v))
        return kx_fail(L, "%s: only built-in activations by name are supported", key);
    const char *s = json_string_value(v);
    const nn_activation_info *a = nn_activation_find(s);
    if (a) {
        if (a->id == NN_ACT_HARD_SIGMOID && L->keras_major >= 3)
            return kx_fail(L, "%s \"hard_sigmoid\" of Keras 3 (relu6(x + 3) / 6) differs "
                              "from nnctl's (Keras 2's clip(0.2x + 0.5, 0, 1))",
                           key);
        *out = nn_activation_name(a->id); /* the canonical name of an alias */
        return NN_OK;
    }
    const char *names[NN_ACT_COUNT * 2];
    int n = nn_activation_names(names, NN_ACT_COUNT * 2);
    char list[512] = "";
    size_t at = 0;
    for (int i = 0; i < n && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", names[i]);
    return kx_fail(L, "%s \"%s\" is not supported (nnctl has %s)", key, s, list);
}

nn_status kx_write_activation(const kx_layer *L, kx_text *t, const char *key,
                                  const char *k1)
{
    const char *name;
    nn_status st = kx_activation_name(L, key, kx_get(L, key, k1), &name);
    if (!st)
        kx_key_str(t, key, name);
    return st;
}

/* ---- initializers (only a fresh model's draws depend on them) ------------ */

static const kx_name_map init_names[] = {
    {"GlorotUniform", "glorot_uniform"}, {"GlorotNormal", "glorot_normal"},
    {"HeUniform", "he_uniform"},         {"HeNormal", "he_normal"},
    {"LecunUniform", "lecun_uniform"},   {"LecunNormal", "lecun_normal"},
    {"Orthogonal", "orthogonal"},        {"Zeros", "zeros"},
    {"Ones", "ones"},                    {"RandomNormal", "random_normal"},
    {"RandomUniform", "random_uniform"}, {"TruncatedNormal", "truncated_normal"},
    {"Constant", "constant"},            {"glorot_uniform", "glorot_uniform"},
    {"glorot_normal", "glorot_normal"},  {"he_uniform", "he_uniform"},
    {"he_normal", "he_normal"},          {"lecun_uniform", "lecun_uniform"},
    {"lecun_normal", "lecun_normal"},    {"orthogonal", "orthogonal"},
    {"zeros", "zeros"},                  {"zero", "zeros"},
    {"ones", "ones"},                    {"one", "ones"},
    {"uniform", "random_uniform"},       {"normal", "random_normal"},
    {"random_uniform", "random_uniform"}, {"random_normal", "random_normal"},
    {"truncated_normal", "truncated_normal"},
};

/* VarianceScaling as the named schemes Keras builds from it. */
static const char *variance_scaling(json_t *c)
{
    json_t *sv = json_object_get(c, "scale"), *mv = json_object_get(c, "mode"),
           *dv = json_object_get(c, "distribution");
    if (!json_is_number(sv) || !json_is_string(mv) || !json_is_string(dv))
        return NULL;
    double scale = json_number_value(sv);
    const char *mode = json_string_value(mv), *dist = json_string_value(dv);
    bool uniform = strcmp(dist, "uniform") == 0;
    bool normal = strcmp(dist, "truncated_normal") == 0 || strcmp(dist, "normal") == 0;
    if (!uniform && !normal)
        return NULL;
    if (scale == 1.0 && strcmp(mode, "fan_avg") == 0)
        return uniform ? "glorot_uniform" : "glorot_normal";
    if (scale == 2.0 && strcmp(mode, "fan_in") == 0)
        return uniform ? "he_uniform" : "he_normal";
    if (scale == 1.0 && strcmp(mode, "fan_in") == 0)
        return uniform ? "lecun_uniform" : "lecun_normal";
    return NULL;
}

/* Writes `key = ...;` for an initializer nnctl has; leaves the layer's
 * default for any other (loaded weights replace the draws anyway). */
void kx_write_init(const kx_layer *L, kx_text *t, const char *key, const char *k1)
{
    json_t *v = kx_get(L, key, k1), *c = NULL;
    const char *cls = NULL, *name = NULL;
    if (json_is_string(v))
        cls = json_string_value(v);
    else if (json_is_object(v) && json_is_string(json_object_get(v, "class_name"))) {
        cls = json_string_value(json_object_get(v, "class_name"));
        c = json_object_get(v, "config");
    }
    if (!cls)
        return;
    if (strcmp(cls, "VarianceScaling") == 0)
        name = variance_scaling(c);
    for (size_t i = 0; !name && i < sizeof init_names / sizeof init_names[0]; i++)
        if (strcmp(cls, init_names[i].keras) == 0)
            name = init_names[i].nnctl;
    if (!name)
        return;
    const char *a = NULL, *b = NULL;
    if (!strcmp(name, "random_normal") || !strcmp(name, "truncated_normal"))
        a = "mean", b = "stddev";
    else if (!strcmp(name, "random_uniform"))
        a = "minval", b = "maxval";
    else if (!strcmp(name, "constant"))
        a = "value";
    else if (!strcmp(name, "orthogonal"))
        a = "gain";
    json_t *av = a && json_is_object(c) ? json_object_get(c, a) : NULL;
    json_t *bv = b && json_is_object(c) ? json_object_get(c, b) : NULL;
    if (!json_is_number(av) && !json_is_number(bv)) {
        kx_key_str(t, key, name);
        return;
    }
    kx_printf(t, " %s = { type = ", key);
    kx_string(t, name);
    kx_printf(t, ";");
    if (json_is_number(av))
        kx_key_float(t, a, json_number_value(av));
    if (json_is_number(bv))
        kx_key_float(t, b, json_number_value(bv));
    kx_printf(t, " };");
}

/* ---- regularizers (part of the reported loss) ---------------------------- */

/* " key = value;" for a JSON number, boolean, string or array of them;
 * an error for anything else. */
static nn_status write_value(const kx_layer *L, kx_text *t, const char *key, json_t *v)
{
    if (json_is_boolean(v)) {
        kx_key_bool(t, key, json_is_true(v));
    } else if (json_is_integer(v)) {
        kx_key_int(t, key, json_integer_value(v));
    } else if (json_is_real(v)) {
        kx_key_float(t, key, json_real_value(v));
    } else if (json_is_string(v)) {
        kx_key_str(t, key, json_string_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *e;
        kx_printf(t, " %s = [", key);
        json_array_foreach(v, i, e) {
            if (i)
                kx_printf(t, ", ");
            if (json_is_integer(e))
                kx_printf(t, "%lld", (long long)json_integer_value(e));
            else if (json_is_real(e))
                kx_float_text(t, json_real_value(e));
            else if (json_is_string(e))
                kx_string(t, json_string_value(e));
            else if (json_is_boolean(e))
                kx_printf(t, "%s", json_is_true(e) ? "true" : "false");
            else
                return kx_fail(L, "config key \"%s\": only numbers, strings and booleans can "
                                  "go in a plugin type's list",
                               key);
        }
        kx_printf(t, "];");
    } else {
        return kx_fail(L, "config key \"%s\" holds an object: a plugin type's settings are "
                          "numbers, strings, booleans and lists of them",
                       key);
    }
    return NN_OK;
}

static nn_status write_plugin_reg(const kx_layer *L, kx_text *t, const char *key,
                                  const nn_reg_type *r, json_t *cfg)
{
    kx_printf(t, " %s = { type = ", key);
    kx_string(t, r->name);
    kx_printf(t, ";");
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (json_is_null(v) || !strcmp(k, "name"))
            continue;
        nn_status st = write_value(L, t, k, v);
        if (st)
            return st;
    }
    kx_printf(t, " };");
    return NN_OK;
}

nn_status kx_write_reg(const kx_layer *L, kx_text *t, const char *key, const char *k1)
{
    json_t *v = kx_get(L, key, k1);
    if (!v)
        return NN_OK;
    double l1 = 0.0, l2 = 0.0;
    const char *cls = NULL;
    json_t *c = v;
    if (json_is_string(v)) {
        cls = json_string_value(v);
        if (!strcmp(cls, "l1") || !strcmp(cls, "l1_l2"))
            l1 = 0.01;
        if (!strcmp(cls, "l2") || !strcmp(cls, "l1_l2"))
            l2 = 0.01;
        if (l1 == 0.0 && l2 == 0.0)
            return kx_fail(L, "%s \"%s\" is not supported (L1, L2, L1L2 are)", key, cls);
    } else if (json_is_object(v)) {
        /* Keras 2/3: {"class_name": "L2", "config": {"l2": 0.01}};
         * Keras 1: {"name": "WeightRegularizer", "l1": 0.0, "l2": 0.01} */
        json_t *cn = json_object_get(v, "class_name");
        if (json_is_string(cn)) {
            cls = json_string_value(cn);
            c = json_object_get(v, "config");
        } else if (json_is_string(json_object_get(v, "name"))) {
            cls = json_string_value(json_object_get(v, "name"));
        }
        /* a plugin's regularizer (a Keras custom object of the class the
         * plugin names): its config keys are its settings */
        const nn_reg_type *plug = cls ? nn_reg_type_for_keras(kx_class_name(cls)) : NULL;
        if (plug && plug->create && json_is_object(c))
            return write_plugin_reg(L, t, key, plug, c);
        if (!cls || !json_is_object(c) ||
            (strcasecmp(cls, "L1") && strcasecmp(cls, "L2") && strcasecmp(cls, "L1L2") &&
             strcmp(cls, "WeightRegularizer") && strcmp(cls, "ActivityRegularizer") &&
             strcmp(cls, "L1L2Regularizer")))
            return kx_fail(L, "%s %s is not supported (L1, L2, L1L2 are%s)", key,
                           cls ? cls : "(no class_name)",
                           cls && !plug ? "; a custom regularizer needs the plugin that "
                                          "implements it: load it with --plugin"
                                        : "");
        json_t *a = json_object_get(c, "l1"), *b = json_object_get(c, "l2");
        if ((a && !json_is_number(a)) || (b && !json_is_number(b)))
            return kx_fail(L, "%s: l1 and l2 must be numbers", key);
        l1 = a ? json_number_value(a) : 0.0;
        l2 = b ? json_number_value(b) : 0.0;
    } else {
        return kx_fail(L, "%s: expected a regularizer object", key);
    }
    if (l1 < 0.0 || l2 < 0.0 || l1 > 1e6 || l2 > 1e6)
        return kx_fail(L, "%s: l1 and l2 must lie in [0, 1e6]", key);
    if (l1 == 0.0 && l2 == 0.0)
        return NN_OK;
    kx_printf(t, " %s = {", key);
    kx_key_float(t, "l1", l1);
    kx_key_float(t, "l2", l2);
    kx_printf(t, " };");
    return NN_OK;
}

/* ---- windows (kernel_size, strides, pool_size, dilation_rate) ----------- */

/* An int or a list of `rank` ints; absent: def (0: required). */
nn_status kx_want_window(const kx_layer *L, const char *key, const char *k1, int rank,
                             long long def, long long *out)
{
    json_t *v = kx_get(L, key, k1);
    for (int i = 0; i < rank; i++)
        out[i] = def;
    if (!v)
        return def ? NN_OK : kx_fail(L, "missing key \"%s\"", key);
    if (kx_as_int(v, &out[0])) {
        for (int i = 1; i < rank; i++)
            out[i] = out[0];
    } else if (json_is_array(v) && json_array_size(v) == (size_t)rank) {
        for (int i = 0; i < rank; i++)
            if (!kx_as_int(json_array_get(v, (size_t)i), &out[i]))
                return kx_fail(L, "\"%s\" must hold integers", key);
    } else {
        return kx_fail(L, "\"%s\" must be an integer or a list of %d integers", key, rank);
    }
    for (int i = 0; i < rank; i++)
        if (out[i] < 1 || out[i] > 65536)
            return kx_fail(L, "\"%s\" values must lie in [1, 65536]", key);
    return NN_OK;
}

void kx_key_window(kx_text *t, const char *key, int rank, const long long *v)
{
    if (rank == 1) {
        kx_key_int(t, key, v[0]);
        return;
    }
    kx_printf(t, " %s = [%lld, %lld];", key, v[0], v[1]);
}

nn_status kx_write_padding(const kx_layer *L, kx_text *t)
{
    json_t *v = kx_get(L, "padding", "border_mode");
    const char *p = json_is_string(v) ? json_string_value(v) : v ? NULL : "valid";
    if (!p || (strcmp(p, "valid") && strcmp(p, "same")))
        return kx_fail(L, "padding %s is not supported (valid and same are)",
                       p ? p : "of that form");
    kx_key_str(t, "padding", p);
    return NN_OK;
}

/* ---- inputs ------------------------------------------------------------ */



nn_status kx_one_input(const kx_layer *L, const kx_shapes *s, int want_rank)
{
    if (s->n_in != 1)
        return kx_fail(L, "takes one input, got %d", s->n_in);
    if (want_rank && s->in_rank[0] != want_rank)
        return kx_fail(L, "expects %d axes per sample (besides the batch), got %d", want_rank,
                       s->in_rank[0]);
    return NN_OK;
}

nn_status kx_generic_layer(const kx_layer *L, const char *type, kx_text *t, kx_shapes *s)
{
    static const char *const skip[] = {"name", "trainable", "dtype", "batch_input_shape",
                                       "batch_shape", "input_shape", "input_dim", "autocast",
                                       NULL};
    if (s->n_in < 1)
        return kx_fail(L, "takes at least one input");
    s->rank = s->in_rank[0];
    kx_printf(t, "type = ");
    kx_string(t, type);
    kx_printf(t, ";");
    const char *key;
    json_t *v;
    json_object_foreach(L->cfg, key, v) {
        bool skipped = false;
        for (int i = 0; skip[i]; i++)
            skipped |= !strcmp(key, skip[i]);
        if (skipped || json_is_null(v))
            continue;
        if (!strcmp(key, "type") || !strcmp(key, "inputs"))
            return kx_fail(L, "config key \"%s\" would clash with nnctl's own", key);
        nn_status st = write_value(L, t, key, v);
        if (st)
            return st;
    }
    return NN_OK;
}

/* The wrapped layer of Bidirectional/TimeDistributed as a kx_layer. */
nn_status kx_wrapped(const kx_layer *L, const char *key, kx_layer *in)
{
    json_t *w = json_object_get(L->cfg, key);
    json_t *cn = json_object_get(w, "class_name"), *cfg = json_object_get(w, "config");
    if (!json_is_string(cn) || !json_is_object(cfg))
        return kx_fail(L, "\"%s\" must be a layer object with class_name and config", key);
    *in = *L;
    in->cls = json_string_value(cn);
    in->cfg = cfg;
    json_t *nm = json_object_get(cfg, "name");
    in->name = json_is_string(nm) ? json_string_value(nm) : in->cls;
    return NN_OK;
}

const char *kx_class_name(const char *cls)
{
    const char *gt = strrchr(cls, '>');
    return gt && gt[1] ? gt + 1 : cls;
}

/* One Keras layer config to the keys of an nnctl spec layer group. Keras 1
 * names (output_dim, nb_filter, border_mode, W_regularizer, ...) are read
 * where Keras 2 renamed them. Keys that only matter when training under
 * Keras (constraints, seeds, unroll, implementation) are ignored; keys that
 * change the computation and that nnctl lacks are errors. */
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "io/keras/import_internal.h"

/* ---- scalar keys -------------------------------------------------------- */

static nn_status want_int(const kx_layer *L, const char *key, const char *k1, bool required,
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

static nn_status want_bool(const kx_layer *L, const char *key, const char *k1, bool def,
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

static nn_status want_float(const kx_layer *L, const char *key, const char *k1, double def,
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
static nn_status refuse(const kx_layer *L, const char *key, const char *ok, const char *why)
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
static nn_status channels_last(const kx_layer *L)
{
    nn_status st = refuse(L, "data_format", "channels_last", "nnctl is channels-last");
    return st ? st : refuse(L, "dim_ordering", "tf", "nnctl is channels-last (\"tf\")");
}

static void key_int(kx_text *t, const char *key, long long v) { kx_printf(t, " %s = %lld;", key, v); }
static void key_bool(kx_text *t, const char *key, bool v)
{
    kx_printf(t, " %s = %s;", key, v ? "true" : "false");
}
static void key_float(kx_text *t, const char *key, double v)
{
    kx_printf(t, " %s = ", key);
    kx_float_text(t, v);
    kx_printf(t, ";");
}
static void key_str(kx_text *t, const char *key, const char *v)
{
    kx_printf(t, " %s = ", key);
    kx_string(t, v);
    kx_printf(t, ";");
}

/* ---- activations -------------------------------------------------------- */

static nn_status activation_name(const kx_layer *L, const char *key, json_t *v,
                                 const char **out)
{
    static const char *const names[] = {"linear", "relu", "sigmoid", "tanh", "softmax", "elu",
                                        "selu", "softplus", "softsign", "hard_sigmoid",
                                        "leaky_relu", "swish", "gelu", NULL};
    *out = "linear";
    if (!v || json_is_null(v))
        return NN_OK;
    /* Keras 3 may wrap a built-in as {"class_name": "function", "config": "relu"} */
    if (json_is_object(v) && json_is_string(json_object_get(v, "config")))
        v = json_object_get(v, "config");
    if (!json_is_string(v))
        return kx_fail(L, "%s: only built-in activations by name are supported", key);
    const char *s = json_string_value(v);
    if (strcmp(s, "silu") == 0)
        s = "swish";
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            if (strcmp(s, "hard_sigmoid") == 0 && L->keras_major >= 3)
                return kx_fail(L, "%s \"hard_sigmoid\" of Keras 3 (relu6(x + 3) / 6) differs "
                                  "from nnctl's (Keras 2's clip(0.2x + 0.5, 0, 1))",
                               key);
            *out = names[i];
            return NN_OK;
        }
    return kx_fail(L, "%s \"%s\" is not supported (nnctl has linear, relu, sigmoid, tanh, "
                      "softmax, elu, selu, softplus, softsign, hard_sigmoid, leaky_relu, "
                      "swish/silu, gelu)",
                   key, s);
}

static nn_status write_activation(const kx_layer *L, kx_text *t, const char *key,
                                  const char *k1)
{
    const char *name;
    nn_status st = activation_name(L, key, kx_get(L, key, k1), &name);
    if (!st)
        key_str(t, key, name);
    return st;
}

/* ---- initializers (only a fresh model's draws depend on them) ------------ */

typedef struct {
    const char *keras, *nnctl;
} name_map;

static const name_map init_names[] = {
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
static void write_init(const kx_layer *L, kx_text *t, const char *key, const char *k1)
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
        key_str(t, key, name);
        return;
    }
    kx_printf(t, " %s = { type = ", key);
    kx_string(t, name);
    kx_printf(t, ";");
    if (json_is_number(av))
        key_float(t, a, json_number_value(av));
    if (json_is_number(bv))
        key_float(t, b, json_number_value(bv));
    kx_printf(t, " };");
}

/* ---- regularizers (part of the reported loss) ---------------------------- */

static nn_status write_reg(const kx_layer *L, kx_text *t, const char *key, const char *k1)
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
        if (!cls || !json_is_object(c) ||
            (strcasecmp(cls, "L1") && strcasecmp(cls, "L2") && strcasecmp(cls, "L1L2") &&
             strcmp(cls, "WeightRegularizer") && strcmp(cls, "ActivityRegularizer") &&
             strcmp(cls, "L1L2Regularizer")))
            return kx_fail(L, "%s %s is not supported (L1, L2, L1L2 are)", key,
                           cls ? cls : "(no class_name)");
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
    key_float(t, "l1", l1);
    key_float(t, "l2", l2);
    kx_printf(t, " };");
    return NN_OK;
}

/* ---- windows (kernel_size, strides, pool_size, dilation_rate) ----------- */

/* An int or a list of `rank` ints; absent: def (0: required). */
static nn_status want_window(const kx_layer *L, const char *key, const char *k1, int rank,
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

static void key_window(kx_text *t, const char *key, int rank, const long long *v)
{
    if (rank == 1) {
        key_int(t, key, v[0]);
        return;
    }
    kx_printf(t, " %s = [%lld, %lld];", key, v[0], v[1]);
}

static nn_status write_padding(const kx_layer *L, kx_text *t)
{
    json_t *v = kx_get(L, "padding", "border_mode");
    const char *p = json_is_string(v) ? json_string_value(v) : v ? NULL : "valid";
    if (!p || (strcmp(p, "valid") && strcmp(p, "same")))
        return kx_fail(L, "padding %s is not supported (valid and same are)",
                       p ? p : "of that form");
    key_str(t, "padding", p);
    return NN_OK;
}

/* ---- layer classes ------------------------------------------------------ */

typedef struct {
    const int *in_rank;
    int n_in;
    int rank; /* output */
} kx_shapes;

static nn_status one_input(const kx_layer *L, const kx_shapes *s, int want_rank)
{
    if (s->n_in != 1)
        return kx_fail(L, "takes one input, got %d", s->n_in);
    if (want_rank && s->in_rank[0] != want_rank)
        return kx_fail(L, "expects %d axes per sample (besides the batch), got %d", want_rank,
                       s->in_rank[0]);
    return NN_OK;
}

/* Keys shared by Dense (also inside TimeDistributed). */
static nn_status dense_keys(const kx_layer *L, kx_text *t)
{
    long long units;
    bool bias;
    nn_status st;
    if ((st = want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = refuse(L, "lora_rank", NULL, "LoRA layers have extra weights")) ||
        (st = refuse(L, "quantization_config", NULL, NULL)))
        return st;
    key_int(t, "units", units);
    if ((st = write_activation(L, t, "activation", NULL)))
        return st;
    key_bool(t, "use_bias", bias);
    write_init(L, t, "kernel_initializer", "init");
    write_init(L, t, "bias_initializer", NULL);
    if ((st = write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    return NN_OK;
}

static nn_status conv_dense(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st)
        return st;
    kx_printf(t, "type = \"dense\";");
    s->rank = s->in_rank[0];
    return dense_keys(L, t);
}

static nn_status conv_activation(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    if (!kx_get(L, "activation", NULL))
        return kx_fail(L, "missing key \"activation\"");
    return write_activation(L, t, "activation", NULL);
}

/* The activation layers: LeakyReLU, ReLU, ELU, Softmax. */
static nn_status conv_act_layer(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    double alpha;
    if (!strcmp(L->cls, "LeakyReLU")) {
        /* Keras 3 calls alpha negative_slope; both default to 0.3 */
        if ((st = want_float(L, "negative_slope", "alpha", 0.3, &alpha)))
            return st;
        key_str(t, "activation", "leaky_relu");
        key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "ELU")) {
        if ((st = want_float(L, "alpha", NULL, 1.0, &alpha)))
            return st;
        key_str(t, "activation", "elu");
        key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "Softmax")) {
        json_t *axis = kx_get(L, "axis", NULL);
        long long a = -1;
        if (axis && (!kx_as_int(axis, &a) || (a != -1 && a != s->rank)))
            return kx_fail(L, "softmax over an axis other than the last is not supported");
        key_str(t, "activation", "softmax");
    } else { /* ReLU */
        double slope, threshold;
        if ((st = refuse(L, "max_value", NULL, "a capped ReLU")) ||
            (st = want_float(L, "negative_slope", NULL, 0.0, &slope)) ||
            (st = want_float(L, "threshold", NULL, 0.0, &threshold)))
            return st;
        if (threshold != 0.0)
            return kx_fail(L, "threshold = %g is not supported", threshold);
        key_str(t, "activation", slope != 0.0 ? "leaky_relu" : "relu");
        if (slope != 0.0)
            key_float(t, "alpha", slope);
    }
    return NN_OK;
}

static nn_status conv_dropout(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    double rate;
    if (st || (st = want_float(L, "rate", "p", 0.0, &rate)) ||
        (st = refuse(L, "noise_shape", NULL, "nnctl drops units independently")))
        return st;
    if (rate < 0.0 || rate >= 1.0)
        return kx_fail(L, "rate %g is outside [0, 1)", rate);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"dropout\";");
    key_float(t, "rate", rate);
    return NN_OK;
}

static nn_status conv_flatten(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st || (st = channels_last(L)))
        return st;
    s->rank = 1;
    kx_printf(t, "type = \"flatten\";");
    return NN_OK;
}

static nn_status conv_reshape(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st)
        return st;
    json_t *v = kx_get(L, "target_shape", "dims");
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n < 1 || n > NN_MAX_DIMS - 1)
        return kx_fail(L, "\"target_shape\" must be a list of 1 to %d integers",
                       NN_MAX_DIMS - 1);
    kx_printf(t, "type = \"reshape\"; target_shape = [");
    for (size_t i = 0; i < n; i++) {
        long long d;
        if (!kx_as_int(json_array_get(v, i), &d) || d == 0 || d < -1 || d > (1LL << 30))
            return kx_fail(L, "\"target_shape\" must hold positive integers (or -1)");
        kx_printf(t, "%s%lld", i ? ", " : "", d);
    }
    kx_printf(t, "];");
    s->rank = (int)n;
    return NN_OK;
}

/* Conv1D, Conv2D (Keras 1: Convolution1D/2D, AtrousConvolution1D/2D). */
static nn_status conv_conv(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const int rank = strstr(L->cls, "1D") ? 1 : 2;
    nn_status st = one_input(L, s, rank + 1);
    if (st || (st = channels_last(L)))
        return st;
    if (kx_get(L, "groups", NULL)) {
        long long g;
        if (!kx_as_int(kx_get(L, "groups", NULL), &g) || g != 1)
            return kx_fail(L, "groups other than 1 are not supported");
    }
    long long filters, k[2], str[2], dil[2];
    bool bias;
    if ((st = want_int(L, "filters", "nb_filter", true, 0, 1, &filters)))
        return st;
    if (rank == 2 && !kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = want_window(L, "kernel_size", rank == 1 ? "filter_length" : NULL, rank, 0,
                                 k))) {
        return st;
    }
    if ((st = want_window(L, "strides", rank == 1 ? "subsample_length" : "subsample", rank, 1,
                          str)) ||
        (st = want_window(L, "dilation_rate", "atrous_rate", rank, 1, dil)) ||
        (st = want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", rank == 1 ? "conv1d" : "conv2d");
    key_int(t, "filters", filters);
    key_window(t, "kernel_size", rank, k);
    key_window(t, "strides", rank, str);
    key_window(t, "dilation_rate", rank, dil);
    if ((st = write_padding(L, t)) || (st = write_activation(L, t, "activation", NULL)))
        return st;
    key_bool(t, "use_bias", bias);
    write_init(L, t, "kernel_initializer", "init");
    write_init(L, t, "bias_initializer", NULL);
    if ((st = write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    s->rank = rank + 1;
    return NN_OK;
}

/* DepthwiseConv2D and SeparableConv2D. */
static nn_status conv_depthwise(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const bool sep = strstr(L->cls, "Separable") != NULL;
    nn_status st = one_input(L, s, 3);
    if (st || (st = channels_last(L)))
        return st;
    long long filters = 0, k[2], str[2], dil[2], mult;
    bool bias;
    if (sep && (st = want_int(L, "filters", "nb_filter", true, 0, 1, &filters)))
        return st;
    if (!kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = want_window(L, "kernel_size", NULL, 2, 0, k))) {
        return st;
    }
    if ((st = want_window(L, "strides", "subsample", 2, 1, str)) ||
        (st = want_window(L, "dilation_rate", NULL, 2, 1, dil)) ||
        (st = want_int(L, "depth_multiplier", NULL, false, 1, 1, &mult)) ||
        (st = want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", sep ? "separable_conv2d" : "depthwise_conv2d");
    if (sep)
        key_int(t, "filters", filters);
    key_window(t, "kernel_size", 2, k);
    key_window(t, "strides", 2, str);
    key_window(t, "dilation_rate", 2, dil);
    key_int(t, "depth_multiplier", mult);
    if ((st = write_padding(L, t)) || (st = write_activation(L, t, "activation", NULL)))
        return st;
    key_bool(t, "use_bias", bias);
    write_init(L, t, "depthwise_initializer", sep ? "depthwise_initializer" : "init");
    write_init(L, t, "bias_initializer", NULL);
    if (sep)
        write_init(L, t, "pointwise_initializer", NULL);
    if ((st = write_reg(L, t, "depthwise_regularizer", NULL)) ||
        (st = write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = write_reg(L, t, "activity_regularizer", NULL)) ||
        (sep && (st = write_reg(L, t, "pointwise_regularizer", NULL))))
        return st;
    s->rank = 3;
    return NN_OK;
}

/* MaxPooling1D/2D, AveragePooling1D/2D and the global forms. */
static nn_status conv_pool(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const int rank = strstr(L->cls, "1D") ? 1 : 2;
    const bool global = strncmp(L->cls, "Global", 6) == 0;
    const bool avg = strstr(L->cls, "Average") != NULL;
    nn_status st = one_input(L, s, rank + 1);
    if (st || (st = channels_last(L)))
        return st;
    kx_printf(t, "type = \"%s%s_pooling%dd\";", global ? "global_" : "", avg ? "average" : "max",
              rank);
    if (global) {
        s->rank = 1;
        return refuse(L, "keepdims", NULL, NULL);
    }
    long long k[2], str[2];
    if ((st = want_window(L, "pool_size", rank == 1 ? "pool_length" : NULL, rank, 2, k)) ||
        (st = want_window(L, "strides", rank == 1 ? "stride" : NULL, rank, k[0], str)))
        return st;
    if (!kx_get(L, "strides", rank == 1 ? "stride" : NULL))
        for (int i = 0; i < rank; i++)
            str[i] = k[i]; /* Keras: strides default to the pool size */
    key_window(t, "pool_size", rank, k);
    key_window(t, "strides", rank, str);
    s->rank = rank + 1;
    return write_padding(L, t);
}

static nn_status conv_batchnorm(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st || (st = refuse(L, "renorm", NULL, NULL)) ||
        (st = refuse(L, "virtual_batch_size", NULL, NULL)) ||
        (st = refuse(L, "adjustment", NULL, NULL)) || (st = refuse(L, "mode", NULL, NULL)))
        return st;
    json_t *axis = kx_get(L, "axis", NULL);
    if (json_is_array(axis) && json_array_size(axis) == 1)
        axis = json_array_get(axis, 0);
    long long a = -1;
    if (axis && !kx_as_int(axis, &a))
        return kx_fail(L, "axis must be an integer (or a list of one)");
    /* Keras counts the batch axis: the channels axis is -1 or the rank */
    if (a != -1 && a != s->in_rank[0])
        return kx_fail(L, "axis %lld is not the channels (last) axis: nnctl normalizes over "
                          "the last axis only",
                       a);
    double momentum, epsilon;
    bool center, scale;
    if ((st = want_float(L, "momentum", NULL, 0.99, &momentum)) ||
        (st = want_float(L, "epsilon", NULL, 1e-3, &epsilon)) ||
        (st = want_bool(L, "center", NULL, true, &center)) ||
        (st = want_bool(L, "scale", NULL, true, &scale)))
        return st;
    if (momentum < 0.0 || momentum > 1.0 || epsilon < 0.0 || epsilon > 1.0)
        return kx_fail(L, "momentum and epsilon must lie in [0, 1]");
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"batch_normalization\";");
    key_float(t, "momentum", momentum);
    key_float(t, "epsilon", epsilon);
    key_bool(t, "center", center);
    key_bool(t, "scale", scale);
    write_init(L, t, "beta_initializer", "beta_init");
    write_init(L, t, "gamma_initializer", "gamma_init");
    write_init(L, t, "moving_mean_initializer", NULL);
    write_init(L, t, "moving_variance_initializer", NULL);
    if ((st = write_reg(L, t, "beta_regularizer", NULL)) ||
        (st = write_reg(L, t, "gamma_regularizer", NULL)))
        return st;
    return NN_OK;
}

/* Add, Subtract, ..., Concatenate; Keras 1's Merge by its mode. */
static nn_status conv_merge(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const name_map ops[] = {{"Add", "add"},         {"Subtract", "subtract"},
                                   {"Multiply", "multiply"}, {"Average", "average"},
                                   {"Maximum", "maximum"}, {"Minimum", "minimum"},
                                   {"Concatenate", "concatenate"}};
    static const name_map modes[] = {{"sum", "add"},     {"mul", "multiply"}, {"ave", "average"},
                                     {"max", "maximum"}, {"concat", "concatenate"}};
    const char *type = NULL, *axis_key = "axis";
    if (!strcmp(L->cls, "Merge")) {
        json_t *m = kx_get(L, "mode", NULL);
        const char *mode = json_is_string(m) ? json_string_value(m) : "sum";
        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (!strcmp(mode, modes[i].keras))
                type = modes[i].nnctl;
        if (!type)
            return kx_fail(L, "Merge mode %s is not supported (sum, mul, ave, max, concat are)",
                           json_is_string(m) ? mode : "(not a name)");
        axis_key = "concat_axis";
    } else {
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (!strcmp(L->cls, ops[i].keras))
                type = ops[i].nnctl;
    }
    if (s->n_in < 2)
        return kx_fail(L, "merges at least 2 inputs, got %d", s->n_in);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"%s\";", type);
    if (!strcmp(type, "concatenate")) {
        long long axis;
        nn_status st = want_int(L, axis_key, NULL, false, -1, -8, &axis);
        if (st)
            return st;
        if (axis > 8)
            return kx_fail(L, "axis %lld is out of range", axis);
        key_int(t, "axis", axis);
    }
    return NN_OK;
}

/* The keys of SimpleRNN, LSTM, GRU (inner: inside Bidirectional, which
 * takes no activity_regularizer). */
static nn_status rnn_keys(const kx_layer *L, kx_text *t, bool inner)
{
    const bool lstm = !strcmp(L->cls, "LSTM"), gru = !strcmp(L->cls, "GRU");
    nn_status st;
    if ((st = refuse(L, "stateful", NULL, "state carried across batches")) ||
        (st = refuse(L, "return_state", NULL, "nnctl layers have one output")) ||
        (st = refuse(L, "time_major", NULL, NULL)))
        return st;
    long long units;
    bool bias, seq, back;
    double drop, rdrop;
    if ((st = want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = want_bool(L, "return_sequences", NULL, false, &seq)) ||
        (st = want_bool(L, "go_backwards", NULL, false, &back)) ||
        (st = want_float(L, "dropout", "dropout_W", 0.0, &drop)) ||
        (st = want_float(L, "recurrent_dropout", "dropout_U", 0.0, &rdrop)))
        return st;
    if (drop < 0.0 || drop >= 1.0 || rdrop < 0.0 || rdrop >= 1.0)
        return kx_fail(L, "dropout rates must lie in [0, 1)");
    kx_printf(t, "type = \"%s\";", lstm ? "lstm" : gru ? "gru" : "simple_rnn");
    key_int(t, "units", units);
    if ((st = write_activation(L, t, "activation", NULL)))
        return st;
    if ((lstm || gru) && (st = write_activation(L, t, "recurrent_activation",
                                                "inner_activation")))
        return st;
    key_bool(t, "use_bias", bias);
    key_bool(t, "return_sequences", seq);
    key_bool(t, "go_backwards", back);
    key_float(t, "dropout", drop);
    key_float(t, "recurrent_dropout", rdrop);
    if (lstm) {
        bool ufb;
        json_t *fb = kx_get(L, "forget_bias_init", NULL); /* Keras 1 */
        if (fb && !kx_get(L, "unit_forget_bias", NULL))
            ufb = json_is_string(fb) && !strcmp(json_string_value(fb), "one");
        else if ((st = want_bool(L, "unit_forget_bias", NULL, true, &ufb)))
            return st;
        key_bool(t, "unit_forget_bias", ufb);
    }
    if (gru) {
        bool ra; /* absent before Keras 2.3: the original GRU */
        if ((st = want_bool(L, "reset_after", NULL, false, &ra)))
            return st;
        key_bool(t, "reset_after", ra);
    }
    write_init(L, t, "kernel_initializer", "init");
    write_init(L, t, "recurrent_initializer", "inner_init");
    write_init(L, t, "bias_initializer", NULL);
    if ((st = write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = write_reg(L, t, "recurrent_regularizer", "U_regularizer")) ||
        (st = write_reg(L, t, "bias_regularizer", "b_regularizer")))
        return st;
    if (inner)
        return kx_get(L, "activity_regularizer", NULL)
                   ? kx_fail(L, "an activity_regularizer inside Bidirectional is not supported")
                   : NN_OK;
    return write_reg(L, t, "activity_regularizer", NULL);
}

static int rnn_out_rank(const kx_layer *L)
{
    return json_is_true(kx_get(L, "return_sequences", NULL)) ? 2 : 1;
}

static nn_status conv_rnn(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 2);
    if (st)
        return st;
    s->rank = rnn_out_rank(L);
    return rnn_keys(L, t, false);
}

/* The wrapped layer of Bidirectional/TimeDistributed as a kx_layer. */
static nn_status wrapped(const kx_layer *L, const char *key, kx_layer *in)
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

static nn_status conv_bidirectional(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 2);
    if (st)
        return st;
    kx_layer in;
    if ((st = wrapped(L, "layer", &in)))
        return st;
    if (strcmp(in.cls, "SimpleRNN") && strcmp(in.cls, "LSTM") && strcmp(in.cls, "GRU"))
        return kx_fail(L, "wraps a %s: nnctl's Bidirectional wraps SimpleRNN, LSTM or GRU",
                       in.cls);
    json_t *mm = json_object_get(L->cfg, "merge_mode");
    const char *mode = json_is_string(mm) ? json_string_value(mm) : mm ? NULL : "concat";
    if (!mode || (strcmp(mode, "concat") && strcmp(mode, "sum") && strcmp(mode, "mul") &&
                  strcmp(mode, "ave")))
        return kx_fail(L, "merge_mode %s is not supported (concat, sum, mul, ave are)",
                       mode ? mode : "None (two outputs)");
    /* Keras 3 names the inner layer forward_<name> */
    const char *inner = in.name;
    if (!strncmp(inner, "forward_", 8) && inner[8])
        inner += 8;
    if ((st = kx_check_name(L, inner)))
        return st;
    kx_text body = {0};
    if ((st = rnn_keys(&in, &body, true))) {
        free(body.s);
        return st;
    }
    /* a backward_layer must be the mirror image of the forward one */
    if (json_object_get(L->cfg, "backward_layer") &&
        !json_is_null(json_object_get(L->cfg, "backward_layer"))) {
        kx_layer back;
        kx_text bt = {0};
        if (!(st = wrapped(L, "backward_layer", &back))) {
            json_t *copy = json_deep_copy(back.cfg);
            json_t *gb = json_object_get(back.cfg, "go_backwards");
            json_object_set_new(copy, "go_backwards", json_boolean(!json_is_true(gb)));
            back.cfg = copy;
            if (strcmp(back.cls, in.cls))
                st = kx_fail(L, "backward_layer is a %s but layer is a %s", back.cls, in.cls);
            else if (!(st = rnn_keys(&back, &bt, true)) && !bt.oom && !body.oom &&
                     strcmp(bt.s, body.s))
                st = kx_fail(L, "backward_layer differs from layer beyond go_backwards: nnctl "
                                "runs one configuration both ways");
            json_decref(copy);
            free(bt.s);
        }
        if (st) {
            free(body.s);
            return st;
        }
    }
    s->rank = rnn_out_rank(&in);
    kx_printf(t, "type = \"bidirectional\";");
    key_str(t, "merge_mode", mode);
    kx_printf(t, " layer = { name = ");
    kx_string(t, inner);
    kx_printf(t, "; %s };", body.s ? body.s : "");
    if (body.oom)
        t->oom = true;
    free(body.s);
    return NN_OK;
}

static nn_status conv_time_distributed(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    if (st)
        return st;
    if (s->in_rank[0] < 2)
        return kx_fail(L, "expects a (timesteps, features) input");
    kx_layer in;
    if ((st = wrapped(L, "layer", &in)))
        return st;
    if (strcmp(in.cls, "Dense"))
        return kx_fail(L, "wraps a %s: nnctl's TimeDistributed wraps Dense only", in.cls);
    if ((st = kx_check_name(L, in.name)))
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"time_distributed\"; layer = { type = \"dense\"; name = ");
    kx_string(t, in.name);
    kx_printf(t, ";");
    if ((st = dense_keys(&in, t)))
        return st;
    kx_printf(t, " };");
    return NN_OK;
}

static nn_status conv_embedding(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = one_input(L, s, 0);
    long long in_dim, out_dim;
    if (st || (st = refuse(L, "mask_zero", NULL, "nnctl has no masking")) ||
        (st = refuse(L, "dropout", NULL, NULL)) || (st = refuse(L, "lora_rank", NULL, NULL)) ||
        (st = want_int(L, "input_dim", NULL, true, 0, 1, &in_dim)) ||
        (st = want_int(L, "output_dim", NULL, true, 0, 1, &out_dim)))
        return st;
    s->rank = s->in_rank[0] + 1;
    kx_printf(t, "type = \"embedding\";");
    key_int(t, "input_dim", in_dim);
    key_int(t, "output_dim", out_dim);
    write_init(L, t, "embeddings_initializer", "init");
    if ((st = write_reg(L, t, "embeddings_regularizer", "W_regularizer")) ||
        (st = write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    return NN_OK;
}

typedef nn_status (*conv_fn)(const kx_layer *L, kx_text *t, kx_shapes *s);

static const struct {
    const char *cls;
    conv_fn fn;
} classes[] = {
    {"Dense", conv_dense},
    {"Activation", conv_activation},
    {"LeakyReLU", conv_act_layer},
    {"ReLU", conv_act_layer},
    {"ELU", conv_act_layer},
    {"Softmax", conv_act_layer},
    {"Dropout", conv_dropout},
    {"Flatten", conv_flatten},
    {"Reshape", conv_reshape},
    {"Conv1D", conv_conv},
    {"Conv2D", conv_conv},
    {"Convolution1D", conv_conv},
    {"Convolution2D", conv_conv},
    {"AtrousConvolution1D", conv_conv},
    {"AtrousConvolution2D", conv_conv},
    {"DepthwiseConv2D", conv_depthwise},
    {"SeparableConv2D", conv_depthwise},
    {"SeparableConvolution2D", conv_depthwise},
    {"MaxPooling1D", conv_pool},
    {"MaxPooling2D", conv_pool},
    {"AveragePooling1D", conv_pool},
    {"AveragePooling2D", conv_pool},
    {"MaxPool1D", conv_pool},
    {"MaxPool2D", conv_pool},
    {"AvgPool1D", conv_pool},
    {"AvgPool2D", conv_pool},
    {"GlobalMaxPooling1D", conv_pool},
    {"GlobalMaxPooling2D", conv_pool},
    {"GlobalAveragePooling1D", conv_pool},
    {"GlobalAveragePooling2D", conv_pool},
    {"GlobalMaxPool1D", conv_pool},
    {"GlobalMaxPool2D", conv_pool},
    {"GlobalAvgPool1D", conv_pool},
    {"GlobalAvgPool2D", conv_pool},
    {"BatchNormalization", conv_batchnorm},
    {"Add", conv_merge},
    {"Subtract", conv_merge},
    {"Multiply", conv_merge},
    {"Average", conv_merge},
    {"Maximum", conv_merge},
    {"Minimum", conv_merge},
    {"Concatenate", conv_merge},
    {"Merge", conv_merge},
    {"SimpleRNN", conv_rnn},
    {"LSTM", conv_rnn},
    {"GRU", conv_rnn},
    {"Bidirectional", conv_bidirectional},
    {"TimeDistributed", conv_time_distributed},
    {"Embedding", conv_embedding},
};

nn_status kx_layer_body(const kx_layer *L, const int *in_rank, int n_in, kx_text *t, int *rank)
{
    kx_shapes s = {in_rank, n_in, 0};
    /* quantized dtype policies change the weights' meaning */
    json_t *dt = json_object_get(L->cfg, "dtype");
    json_t *dcls = json_is_object(dt) ? json_object_get(dt, "class_name") : NULL;
    if (json_is_string(dcls) && strstr(json_string_value(dcls), "Quantized"))
        return kx_fail(L, "quantized layers (%s) are not supported", json_string_value(dcls));
    /* the pooling aliases (MaxPool2D, ...) map to the canonical names */
    kx_layer named = *L;
    static const name_map aliases[] = {
        {"MaxPool1D", "MaxPooling1D"},           {"MaxPool2D", "MaxPooling2D"},
        {"AvgPool1D", "AveragePooling1D"},       {"AvgPool2D", "AveragePooling2D"},
        {"GlobalMaxPool1D", "GlobalMaxPooling1D"}, {"GlobalMaxPool2D", "GlobalMaxPooling2D"},
        {"GlobalAvgPool1D", "GlobalAveragePooling1D"},
        {"GlobalAvgPool2D", "GlobalAveragePooling2D"},
    };
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(L->cls, aliases[i].keras))
            named.cls = aliases[i].nnctl;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (!strcmp(L->cls, classes[i].cls)) {
            nn_status st = classes[i].fn(&named, t, &s);
            *rank = s.rank;
            return st;
        }
    if (!strcmp(L->cls, "Sequential") || !strcmp(L->cls, "Functional") ||
        !strcmp(L->cls, "Model"))
        return kx_fail(L, "a model nested as a layer is not supported (flatten it into one "
                          "model)");
    return kx_fail(L, "layer class %s is not supported. nnctl reads: InputLayer, Dense, "
                      "Activation, LeakyReLU, ReLU, ELU, Softmax, Dropout, Flatten, Reshape, "
                      "Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling1D/2D, "
                      "AveragePooling1D/2D, GlobalMaxPooling1D/2D, GlobalAveragePooling1D/2D, "
                      "BatchNormalization, Add, Subtract, Multiply, Average, Maximum, Minimum, "
                      "Concatenate, SimpleRNN, LSTM, GRU, Bidirectional, "
                      "TimeDistributed(Dense), Embedding",
                   L->cls);
}

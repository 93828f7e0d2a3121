/* One Keras layer config to the keys of an nnctl spec layer group. Keras 1
 * names (output_dim, nb_filter, border_mode, W_regularizer, ...) are read
 * where Keras 2 renamed them. Keys that only matter when training under
 * Keras (constraints, seeds, unroll, implementation) are ignored; keys that
 * change the computation and that nnctl lacks are errors. */
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "io/keras/import_internal.h"

/* Keys shared by Dense (also inside TimeDistributed). */
static nn_status dense_keys(const kx_layer *L, kx_text *t)
{
    long long units;
    bool bias;
    nn_status st;
    if ((st = kx_want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = kx_refuse(L, "lora_rank", NULL, "LoRA layers have extra weights")) ||
        (st = kx_refuse(L, "quantization_config", NULL, NULL)))
        return st;
    kx_key_int(t, "units", units);
    if ((st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    return NN_OK;
}

static nn_status conv_dense(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    kx_printf(t, "type = \"dense\";");
    s->rank = s->in_rank[0];
    return dense_keys(L, t);
}

static nn_status conv_activation(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    if (!kx_get(L, "activation", NULL))
        return kx_fail(L, "missing key \"activation\"");
    return kx_write_activation(L, t, "activation", NULL);
}

/* Layer rows that read their own Keras configs (layers/<type>.c). */
nn_status nn_keras_import_relu(const kx_layer *L, kx_text *t, kx_shapes *s);
nn_status nn_keras_import_zero_padding2d(const kx_layer *L, kx_text *t, kx_shapes *s);
nn_status nn_keras_import_custom_scale(const kx_layer *L, kx_text *t, kx_shapes *s);
nn_status nn_keras_import_cropping2d(const kx_layer *L, kx_text *t, kx_shapes *s);

/* The activation layers: LeakyReLU, ReLU, ELU, Softmax. */
static nn_status conv_act_layer(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    /* a ReLU with a cap is a layer of its own (layers/relu.c) */
    if (!strcmp(L->cls, "ReLU") && kx_get(L, "max_value", NULL))
        return nn_keras_import_relu(L, t, s);
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"activation\";");
    double alpha;
    if (!strcmp(L->cls, "LeakyReLU")) {
        /* Keras 3 calls alpha negative_slope; both default to 0.3 */
        if ((st = kx_want_float(L, "negative_slope", "alpha", 0.3, &alpha)))
            return st;
        kx_key_str(t, "activation", "leaky_relu");
        kx_key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "ELU")) {
        if ((st = kx_want_float(L, "alpha", NULL, 1.0, &alpha)))
            return st;
        kx_key_str(t, "activation", "elu");
        kx_key_float(t, "alpha", alpha);
    } else if (!strcmp(L->cls, "Softmax")) {
        json_t *axis = kx_get(L, "axis", NULL);
        long long a = -1;
        if (axis && (!kx_as_int(axis, &a) || (a != -1 && a != s->rank)))
            return kx_fail(L, "softmax over an axis other than the last is not supported");
        kx_key_str(t, "activation", "softmax");
    } else { /* ReLU */
        double slope, threshold;
        if ((st = kx_want_float(L, "negative_slope", NULL, 0.0, &slope)) ||
            (st = kx_want_float(L, "threshold", NULL, 0.0, &threshold)))
            return st;
        if (threshold != 0.0)
            return kx_fail(L, "threshold = %g is not supported", threshold);
        kx_key_str(t, "activation", slope != 0.0 ? "leaky_relu" : "relu");
        if (slope != 0.0)
            kx_key_float(t, "alpha", slope);
    }
    return NN_OK;
}

static nn_status conv_dropout(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    double rate;
    if (st || (st = kx_want_float(L, "rate", "p", 0.0, &rate)) ||
        (st = kx_refuse(L, "noise_shape", NULL, "nnctl drops units independently")))
        return st;
    if (rate < 0.0 || rate >= 1.0)
        return kx_fail(L, "rate %g is outside [0, 1)", rate);
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"dropout\";");
    kx_key_float(t, "rate", rate);
    return NN_OK;
}

static nn_status conv_flatten(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_channels_last(L)))
        return st;
    s->rank = 1;
    kx_printf(t, "type = \"flatten\";");
    return NN_OK;
}

static nn_status conv_reshape(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
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
    nn_status st = kx_one_input(L, s, rank + 1);
    if (st || (st = kx_channels_last(L)))
        return st;
    if (kx_get(L, "groups", NULL)) {
        long long g;
        if (!kx_as_int(kx_get(L, "groups", NULL), &g) || g != 1)
            return kx_fail(L, "groups other than 1 are not supported");
    }
    long long filters, k[2], str[2], dil[2];
    bool bias;
    if ((st = kx_want_int(L, "filters", "nb_filter", true, 0, 1, &filters)))
        return st;
    if (rank == 2 && !kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = kx_want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = kx_want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = kx_want_window(L, "kernel_size", rank == 1 ? "filter_length" : NULL, rank, 0,
                                 k))) {
        return st;
    }
    if ((st = kx_want_window(L, "strides", rank == 1 ? "subsample_length" : "subsample", rank, 1,
                          str)) ||
        (st = kx_want_window(L, "dilation_rate", "atrous_rate", rank, 1, dil)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", rank == 1 ? "conv1d" : "conv2d");
    kx_key_int(t, "filters", filters);
    kx_key_window(t, "kernel_size", rank, k);
    kx_key_window(t, "strides", rank, str);
    kx_key_window(t, "dilation_rate", rank, dil);
    if ((st = kx_write_padding(L, t)) || (st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    s->rank = rank + 1;
    return NN_OK;
}

/* DepthwiseConv2D and SeparableConv2D. */
static nn_status conv_depthwise(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    const bool sep = strstr(L->cls, "Separable") != NULL;
    nn_status st = kx_one_input(L, s, 3);
    if (st || (st = kx_channels_last(L)))
        return st;
    long long filters = 0, k[2], str[2], dil[2], mult;
    bool bias;
    if (sep && (st = kx_want_int(L, "filters", "nb_filter", true, 0, 1, &filters)))
        return st;
    if (!kx_get(L, "kernel_size", NULL) && kx_get(L, "nb_row", NULL)) {
        if ((st = kx_want_int(L, "nb_row", NULL, true, 0, 1, &k[0])) ||
            (st = kx_want_int(L, "nb_col", NULL, true, 0, 1, &k[1])))
            return st;
    } else if ((st = kx_want_window(L, "kernel_size", NULL, 2, 0, k))) {
        return st;
    }
    if ((st = kx_want_window(L, "strides", "subsample", 2, 1, str)) ||
        (st = kx_want_window(L, "dilation_rate", NULL, 2, 1, dil)) ||
        (st = kx_want_int(L, "depth_multiplier", NULL, false, 1, 1, &mult)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)))
        return st;
    kx_printf(t, "type = \"%s\";", sep ? "separable_conv2d" : "depthwise_conv2d");
    if (sep)
        kx_key_int(t, "filters", filters);
    kx_key_window(t, "kernel_size", 2, k);
    kx_key_window(t, "strides", 2, str);
    kx_key_window(t, "dilation_rate", 2, dil);
    kx_key_int(t, "depth_multiplier", mult);
    if ((st = kx_write_padding(L, t)) || (st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_write_init(L, t, "depthwise_initializer", sep ? "depthwise_initializer" : "init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if (sep)
        kx_write_init(L, t, "pointwise_initializer", NULL);
    if ((st = kx_write_reg(L, t, "depthwise_regularizer", NULL)) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)) ||
        (sep && (st = kx_write_reg(L, t, "pointwise_regularizer", NULL))))
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
    nn_status st = kx_one_input(L, s, rank + 1);
    if (st || (st = kx_channels_last(L)))
        return st;
    kx_printf(t, "type = \"%s%s_pooling%dd\";", global ? "global_" : "", avg ? "average" : "max",
              rank);
    if (global) {
        bool keep;
        if ((st = kx_want_bool(L, "keepdims", NULL, false, &keep)))
            return st;
        s->rank = keep ? rank + 1 : 1;
        if (keep)
            kx_key_bool(t, "keepdims", true);
        return NN_OK;
    }
    long long k[2], str[2];
    if ((st = kx_want_window(L, "pool_size", rank == 1 ? "pool_length" : NULL, rank, 2, k)) ||
        (st = kx_want_window(L, "strides", rank == 1 ? "stride" : NULL, rank, k[0], str)))
        return st;
    if (!kx_get(L, "strides", rank == 1 ? "stride" : NULL))
        for (int i = 0; i < rank; i++)
            str[i] = k[i]; /* Keras: strides default to the pool size */
    kx_key_window(t, "pool_size", rank, k);
    kx_key_window(t, "strides", rank, str);
    s->rank = rank + 1;
    return kx_write_padding(L, t);
}

static nn_status conv_batchnorm(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st || (st = kx_refuse(L, "renorm", NULL, NULL)) ||
        (st = kx_refuse(L, "virtual_batch_size", NULL, NULL)) ||
        (st = kx_refuse(L, "adjustment", NULL, NULL)) || (st = kx_refuse(L, "mode", NULL, NULL)))
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
    bool center, scale, sync;
    /* synchronized=True (Keras 3, tf.keras 2.12+) or tf.keras's
     * experimental SyncBatchNormalization class */
    if ((st = kx_want_float(L, "momentum", NULL, 0.99, &momentum)) ||
        (st = kx_want_float(L, "epsilon", NULL, 1e-3, &epsilon)) ||
        (st = kx_want_bool(L, "center", NULL, true, &center)) ||
        (st = kx_want_bool(L, "scale", NULL, true, &scale)) ||
        (st = kx_want_bool(L, "synchronized", NULL, !strcmp(L->cls, "SyncBatchNormalization"),
                           &sync)))
        return st;
    if (momentum < 0.0 || momentum > 1.0 || epsilon < 0.0 || epsilon > 1.0)
        return kx_fail(L, "momentum and epsilon must lie in [0, 1]");
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"batch_normalization\";");
    kx_key_float(t, "momentum", momentum);
    kx_key_float(t, "epsilon", epsilon);
    kx_key_bool(t, "center", center);
    kx_key_bool(t, "scale", scale);
    if (sync)
        kx_key_bool(t, "sync", true);
    kx_write_init(L, t, "beta_initializer", "beta_init");
    kx_write_init(L, t, "gamma_initializer", "gamma_init");
    kx_write_init(L, t, "moving_mean_initializer", NULL);
    kx_write_init(L, t, "moving_variance_initializer", NULL);
    if ((st = kx_write_reg(L, t, "beta_regularizer", NULL)) ||
        (st = kx_write_reg(L, t, "gamma_regularizer", NULL)))
        return st;
    return NN_OK;
}

/* Add, Subtract, ..., Concatenate; Keras 1's Merge by its mode. */
static nn_status conv_merge(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    static const kx_name_map ops[] = {{"Add", "add"},         {"Subtract", "subtract"},
                                   {"Multiply", "multiply"}, {"Average", "average"},
                                   {"Maximum", "maximum"}, {"Minimum", "minimum"},
                                   {"Concatenate", "concatenate"}};
    static const kx_name_map modes[] = {{"sum", "add"},     {"mul", "multiply"}, {"ave", "average"},
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
        nn_status st = kx_want_int(L, axis_key, NULL, false, -1, -8, &axis);
        if (st)
            return st;
        if (axis > 8)
            return kx_fail(L, "axis %lld is out of range", axis);
        kx_key_int(t, "axis", axis);
    }
    return NN_OK;
}

/* The keys of SimpleRNN, LSTM, GRU (inner: inside Bidirectional, which
 * takes no activity_regularizer). */
static nn_status rnn_keys(const kx_layer *L, kx_text *t, bool inner)
{
    const bool lstm = !strcmp(L->cls, "LSTM"), gru = !strcmp(L->cls, "GRU");
    nn_status st;
    if ((st = kx_refuse(L, "stateful", NULL, "state carried across batches")) ||
        (st = kx_refuse(L, "return_state", NULL, "nnctl layers have one output")) ||
        (st = kx_refuse(L, "time_major", NULL, NULL)))
        return st;
    long long units;
    bool bias, seq, back;
    double drop, rdrop;
    if ((st = kx_want_int(L, "units", "output_dim", true, 0, 1, &units)) ||
        (st = kx_want_bool(L, "use_bias", "bias", true, &bias)) ||
        (st = kx_want_bool(L, "return_sequences", NULL, false, &seq)) ||
        (st = kx_want_bool(L, "go_backwards", NULL, false, &back)) ||
        (st = kx_want_float(L, "dropout", "dropout_W", 0.0, &drop)) ||
        (st = kx_want_float(L, "recurrent_dropout", "dropout_U", 0.0, &rdrop)))
        return st;
    if (drop < 0.0 || drop >= 1.0 || rdrop < 0.0 || rdrop >= 1.0)
        return kx_fail(L, "dropout rates must lie in [0, 1)");
    kx_printf(t, "type = \"%s\";", lstm ? "lstm" : gru ? "gru" : "simple_rnn");
    kx_key_int(t, "units", units);
    if ((st = kx_write_activation(L, t, "activation", NULL)))
        return st;
    if ((lstm || gru) && (st = kx_write_activation(L, t, "recurrent_activation",
                                                "inner_activation")))
        return st;
    kx_key_bool(t, "use_bias", bias);
    kx_key_bool(t, "return_sequences", seq);
    kx_key_bool(t, "go_backwards", back);
    kx_key_float(t, "dropout", drop);
    kx_key_float(t, "recurrent_dropout", rdrop);
    if (lstm) {
        bool ufb;
        json_t *fb = kx_get(L, "forget_bias_init", NULL); /* Keras 1 */
        if (fb && !kx_get(L, "unit_forget_bias", NULL))
            ufb = json_is_string(fb) && !strcmp(json_string_value(fb), "one");
        else if ((st = kx_want_bool(L, "unit_forget_bias", NULL, true, &ufb)))
            return st;
        kx_key_bool(t, "unit_forget_bias", ufb);
    }
    if (gru) {
        bool ra; /* absent before Keras 2.3: the original GRU */
        if ((st = kx_want_bool(L, "reset_after", NULL, false, &ra)))
            return st;
        kx_key_bool(t, "reset_after", ra);
    }
    kx_write_init(L, t, "kernel_initializer", "init");
    kx_write_init(L, t, "recurrent_initializer", "inner_init");
    kx_write_init(L, t, "bias_initializer", NULL);
    if ((st = kx_write_reg(L, t, "kernel_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "recurrent_regularizer", "U_regularizer")) ||
        (st = kx_write_reg(L, t, "bias_regularizer", "b_regularizer")))
        return st;
    if (inner)
        return kx_get(L, "activity_regularizer", NULL)
                   ? kx_fail(L, "an activity_regularizer inside Bidirectional is not supported")
                   : NN_OK;
    return kx_write_reg(L, t, "activity_regularizer", NULL);
}

static int rnn_out_rank(const kx_layer *L)
{
    return json_is_true(kx_get(L, "return_sequences", NULL)) ? 2 : 1;
}

static nn_status conv_rnn(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 2);
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
    nn_status st = kx_one_input(L, s, 2);
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
    kx_key_str(t, "merge_mode", mode);
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
    nn_status st = kx_one_input(L, s, 0);
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
    nn_status st = kx_one_input(L, s, 0);
    long long in_dim, out_dim;
    if (st || (st = kx_refuse(L, "mask_zero", NULL, "nnctl has no masking")) ||
        (st = kx_refuse(L, "dropout", NULL, NULL)) || (st = kx_refuse(L, "lora_rank", NULL, NULL)) ||
        (st = kx_want_int(L, "input_dim", NULL, true, 0, 1, &in_dim)) ||
        (st = kx_want_int(L, "output_dim", NULL, true, 0, 1, &out_dim)))
        return st;
    s->rank = s->in_rank[0] + 1;
    kx_printf(t, "type = \"embedding\";");
    kx_key_int(t, "input_dim", in_dim);
    kx_key_int(t, "output_dim", out_dim);
    kx_write_init(L, t, "embeddings_initializer", "init");
    if ((st = kx_write_reg(L, t, "embeddings_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
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
    {"SyncBatchNormalization", conv_batchnorm},
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
    {"ZeroPadding2D", nn_keras_import_zero_padding2d},
    {"CustomScaleLayer", nn_keras_import_custom_scale},
    {"Cropping2D", nn_keras_import_cropping2d},
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
    static const kx_name_map aliases[] = {
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
                      "TimeDistributed(Dense), Embedding, ZeroPadding2D, "
                      "CustomScaleLayer, Cropping2D",
                   L->cls);
}

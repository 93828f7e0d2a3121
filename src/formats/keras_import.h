/* The vocabulary of Keras config import, for layer rows (their
 * keras_import hook, model/layer.h): a layer's Keras config read key by key
 * (with Keras 1's older names where Keras 2 renamed them), written as the
 * keys of an nnctl spec layer group. Keys that only matter when training
 * under Keras (constraints, seeds) are ignored; keys that change the
 * computation and that nnctl lacks are errors naming the layer. */
#ifndef NN_FORMATS_KERAS_IMPORT_H
#define NN_FORMATS_KERAS_IMPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* A growing text buffer; the first allocation failure sticks (oom). */
typedef struct kx_text {
    char *s;
    size_t n, cap;
    bool oom;
} kx_text;

void kx_printf(kx_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A libconfig string literal ("..." with \" and \\ escaped). */
void kx_string(kx_text *t, const char *s);
/* A float literal: the shortest text that reads back as v. */
void kx_float_text(kx_text *t, double v);

/* The layer being converted: what errors name. */
typedef struct kx_layer {
    const char *what; /* "'x.h5': model_config" */
    const char *name; /* Keras layer name */
    const char *cls;  /* Keras class_name */
    const char *row_class; /* the class of the row reading it (cls, unless cls is an alias) */
    json_t *cfg;      /* its config object */
    json_t *obj;      /* the whole layer object (module, registered_name), or NULL */
    int keras_major;  /* 1, 2 or 3; 0 when unknown */
    nn_error *err;
} kx_layer;

/* "<what>: layer 'name' (Class): <message>", NN_ERR_RUNTIME. */
nn_status kx_fail(const kx_layer *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of key, or of Keras 1's older name k1 (may be NULL) when key
 * is absent; NULL when neither is there. JSON null counts as absent. */
json_t *kx_get(const kx_layer *L, const char *key, const char *k1);
/* An integer (an integral float too). */
bool kx_as_int(const json_t *v, long long *out);

/* Layer names nnctl accepts: 1..63 characters, no '/'. */
nn_status kx_check_name(const kx_layer *L, const char *name);

/* A Keras name and the nnctl name it maps to. */
typedef struct {
    const char *keras, *nnctl;
} kx_name_map;

/* The per-sample ranks of a layer's inputs, and its output's (set by the
 * hook). */
typedef struct kx_shapes {
    const int *in_rank;
    int n_in;
    int rank; /* output */
} kx_shapes;

/* Reads an integer key (or its Keras 1 name k1) >= min; absent: def, or an
 * error when required. */
nn_status kx_want_int(const kx_layer *L, const char *key, const char *k1, bool required,
                      long long def, long long min, long long *out);
/* Reads a boolean key; absent: def. */
nn_status kx_want_bool(const kx_layer *L, const char *key, const char *k1, bool def, bool *out);
/* Reads a number key; absent: def. */
nn_status kx_want_float(const kx_layer *L, const char *key, const char *k1, double def,
                        double *out);
/* A setting nnctl cannot honour: absent, null, false, 0 or `ok` is fine;
 * anything else is an error saying why. */
nn_status kx_refuse(const kx_layer *L, const char *key, const char *ok, const char *why);
/* channels-last only: Keras 2/3 data_format, Keras 1 dim_ordering. */
nn_status kx_channels_last(const kx_layer *L);
/* " key = value;" in spec syntax. */
void kx_key_int(kx_text *t, const char *key, long long v);
void kx_key_bool(kx_text *t, const char *key, bool v);
void kx_key_float(kx_text *t, const char *key, double v);
void kx_key_str(kx_text *t, const char *key, const char *v);
/* " key = v;" or " key = [a, b, ...];" from a Keras number or list of
 * numbers; anything else is an error naming key. */
nn_status kx_key_numbers(const kx_layer *L, kx_text *t, const char *key, json_t *v);
/* The nnctl name of a Keras activation value (a name, or Keras 3's
 * {"class_name": "function", "config": name}); null or absent: linear. */
nn_status kx_activation_name(const kx_layer *L, const char *key, json_t *v, const char **out);
/* key = the activation named by key (or k1). */
nn_status kx_write_activation(const kx_layer *L, kx_text *t, const char *key, const char *k1);
/* key = an initializer nnctl has; leaves the layer's default for any
 * other (loaded weights replace the draws anyway). */
void kx_write_init(const kx_layer *L, kx_text *t, const char *key, const char *k1);
/* key = { l1 = ...; l2 = ...; } from a Keras regularizer (L1, L2, L1L2,
 * Keras 1's WeightRegularizer); other classes are errors. */
nn_status kx_write_reg(const kx_layer *L, kx_text *t, const char *key, const char *k1);
/* An int or a list of `rank` ints; absent: def (0: required). */
nn_status kx_want_window(const kx_layer *L, const char *key, const char *k1, int rank,
                         long long def, long long *out);
/* " key = v;" (rank 1) or " key = [a, b];". */
void kx_key_window(kx_text *t, const char *key, int rank, const long long *v);
/* padding = "valid" or "same" (Keras 1: border_mode); others are errors. */
nn_status kx_write_padding(const kx_layer *L, kx_text *t);
/* One input of want_rank axes per sample (0: any). */
nn_status kx_one_input(const kx_layer *L, const kx_shapes *s, int want_rank);

/* A layer whose row has no keras_import (a plugin's): "type = <type>;" and
 * every config key whose value is a number, a boolean, a string or an
 * array of them, as spec keys of the same name (Keras's bookkeeping keys
 * name, trainable, dtype, batch_input_shape, ... are left out); the output
 * keeps the input's rank. */
nn_status kx_generic_layer(const kx_layer *L, const char *type, kx_text *t, kx_shapes *s);
/* A class name without Keras 3's registration package: "pkg>Class" is
 * "Class". */
const char *kx_class_name(const char *cls);

/* The layer a wrapper (Bidirectional, TimeDistributed) holds under key,
 * as a kx_layer of its own. */
nn_status kx_wrapped(const kx_layer *L, const char *key, kx_layer *in);

#endif

/* Settings many layers share: activations, initializers, regularizers.
 * Each is a table looked up by name (one registry per kind of thing), with
 * the spec reader and the Keras JSON writer next to it. */
#ifndef NN_LAYERS_COMMON_H
#define NN_LAYERS_COMMON_H

#include <jansson.h>

#include "model/activations.h"
#include "model/layer.h"

/* ---- activations: model/activations.h ---- */

/* ---- initializers (layers/initializers.c) ---- */
/* key absent: def_name. A string ("he_normal") or a group
 * { type = "random_normal"; mean = 0.0; stddev = 0.05; }. */
nn_status nn_spec_initializer(nn_spec_node *s, const char *key, const char *def_name,
                              nn_initializer *out, nn_error *err);
/* Fills w[0..n) for a parameter with the given fans; cols is its shape's
 * last dimension (orthogonal, as Keras, works on the matrix
 * (n / cols) x cols: a conv kernel (kh, kw, in, out) is (kh kw in) x out). */
void nn_initializer_fill(const nn_initializer *init, int fan_in, int fan_out, int cols,
                         nn_rng *rng, float *w, size_t n);
json_t *nn_initializer_keras_json(const nn_initializer *init);
nn_initializer nn_initializer_named(const char *name); /* must exist */
/* The i-th initializer's name and Keras class (NULL past the end). */
const char *nn_initializer_name_at(int i, const char **keras_class);
/* The initializer of that name with its default settings; false when none. */
bool nn_initializer_find(const char *name, nn_initializer *out);

/* ---- regularizers (layers/regularizers.c) ---- */
/* "l1" | "l2" | "l1_l2" (Keras defaults 0.01), or { l1 = ...; l2 = ...; }
 * optionally with type. Absent: none. */
nn_status nn_spec_regularizer(nn_spec_node *s, const char *key, nn_regularizer *out,
                              nn_error *err);
json_t *nn_regularizer_keras_json(const nn_regularizer *r); /* json null for none */
/* The penalty of w (n values of shape dims) and, when grad is not NULL,
 * grad += scale * its gradient: through the engine for l1/l2, on host
 * floats for a plugin's (an error there is deferred: NAN returned). */
double nn_regularizer_apply(const nn_regularizer *r, nn_engine *e, const nn_tensor *w, int ndim,
                            const int *dims, nn_tensor *grad, float scale, size_t n);

/* A layer's "dtype" as Keras writes its dtype policy. */
json_t *nn_keras_dtype_policy(nn_precision p);
/* Adds "name", "trainable", "dtype" to a Keras layer config. */
void nn_keras_config_common(const nn_node *n, json_t *config);
/* Adds activation, use_bias, initializers, regularizers and constraints, as
 * Keras's Dense and Conv layers write them. */
void nn_keras_config_kernel(const nn_node *n, json_t *config, bool use_bias,
                            const nn_initializer *kernel_init, const nn_initializer *bias_init,
                            const nn_regularizer *kernel_reg, const nn_regularizer *bias_reg);

/* Keras import: Dense's keys (also inside TimeDistributed). */
nn_status nn_dense_keras_keys(const kx_layer *L, kx_text *t);
/* ONNX export: Dense, also TimeDistributed(Dense) (x W + b broadcasts). */
nn_status onnx_map_dense(onnx_layer *L, nn_error *err);

/* For layers that end in an activation: points n->preact/dpreact at the
 * pre-activation tensors, allocating z/dz unless the activation is linear
 * (then they are the output and its gradient). */
nn_status nn_preact_plan(nn_node *n, nn_engine *e, nn_tensor *z, nn_tensor *dz, nn_error *err);
/* infer for a layer of one input whose output has the input's shape. */
nn_status nn_infer_same_shape(nn_node *n, nn_error *err);

/* ---- gamma and beta (layers/common.c) ---- */
/* The per-channel scale (gamma) and shift (beta) that BatchNormalization
 * and LayerNormalization learn, each optional (Keras's scale and center). */
typedef struct nn_gamma_beta {
    bool center, scale;
    nn_initializer beta_init, gamma_init;
    nn_regularizer beta_reg, gamma_reg;
    int gamma, beta; /* parameter indices, -1 when absent */
} nn_gamma_beta;

/* fold_affine for a kernel whose values belong to output channel (index
 * mod ch) (Keras's convolution layouts): kernel *= scale, and the bias
 * param (-1: none; then n->folded_bias is made) = bias * scale + shift. */
nn_status nn_fold_affine_kernel(nn_node *n, nn_engine *e, nn_param *kernel, int bias, int ch,
                                const float *scale, const float *shift, nn_error *err);
/* nn_preact_plan, except that a layer no gradient passes through (a
 * forward-only model) computes its ReLU, ReLU6 or swish in place: preact
 * is out, no tensor of its own (a convolution's engine applies it in its
 * pass). */
nn_status nn_act_plan_in_place(nn_node *n, nn_engine *e, nn_tensor *z, nn_tensor *dz,
                               nn_error *err);
/* takes_act for a layer whose forward applies n->act (convolutions): ReLU,
 * ReLU6 and swish, which engines can apply in a convolution's pass. */
bool nn_takes_conv_act(const nn_node *n, nn_act act);
/* The bias a layer adds: its own (param index bias; -1: none), else the
 * one inference fusion gave it, else NULL. */
const nn_tensor *nn_layer_bias(const nn_node *n, int bias);

/* Adds gamma, then beta, those asked for, as parameters of ch values. */
void nn_gamma_beta_add(nn_node *n, nn_gamma_beta *gb, int ch);
/* Parameter idx's weights, NULL when it is absent (idx -1). */
const nn_tensor *nn_param_w(const nn_node *n, int idx);
/* Parameter idx's gradient where it learns (train), else NULL. */
nn_tensor *nn_param_g(nn_node *n, int idx, bool train);

/* ---- per-channel constants (layers/channel_values.c) ---- */
/* Values of a layer that apply along the last axis: one for every channel,
 * or one for all (Rescaling's scale, Normalization's mean). */
typedef struct nn_channel_values {
    float *v; /* count values (malloc'd) */
    int count;
} nn_channel_values;

/* key = a number or a list of numbers; absent: def (one value) unless
 * required. */
nn_status nn_spec_channel_values(nn_spec_node *s, const char *key, bool required, double def,
                                 nn_channel_values *out, nn_error *err);
/* count is 1 or n's last axis: else an error naming the layer and key. */
nn_status nn_channel_values_check(const nn_node *n, const nn_channel_values *c, const char *key,
                                  nn_error *err);
/* A number (one value) or a list, as Keras configs write them. */
json_t *nn_channel_values_json(const nn_channel_values *c);
/* The values for each of `channels` channels (a single value repeated)
 * into out. */
void nn_channel_values_expand(const nn_channel_values *c, int channels, float *out);
/* Engine tensor of the values (count floats), uploaded. */
nn_status nn_channel_values_upload(const nn_channel_values *c, nn_engine *e, nn_tensor *t,
                                   nn_error *err);

/* Broadcasting a per-channel tensor g (1 or `channels` values) over a
 * batch: y = x * g or x + g, for rows * size values whose last axis has
 * `channels` entries. */
void nn_channel_apply(nn_engine *e, bool mul, const nn_tensor *x, const nn_tensor *g,
                      int g_count, nn_tensor *y, size_t total, int channels);

/* One input of (height, width, channels) samples: the check ZeroPadding2D,
 * Cropping2D and UpSampling2D make before shaping their output. */
nn_status nn_node_one_image(const nn_node *n, nn_error *err);
/* The first step and one past the last of x (steps rows of `features`)
 * that has a value other than `value` (lo >= hi: none): which steps a
 * mask made from the input keeps (a registry row's mask_span). */
void nn_steps_span(const float *x, size_t steps, size_t features, float value, size_t *lo,
                   size_t *hi);

#endif

/* Amounts on the four sides of a (height, width, channels) sample, the one
 * setting of ZeroPadding2D (added) and Cropping2D (removed). Both read and
 * write it the same way; only the sign of its effect on the shape differs.
 *
 * Spec: key = n | [h, w] (each on both sides) | [top, bottom, left, right].
 * Keras: key = n, (h, w) or ((top, bottom), (left, right)). */
#ifndef NN_LAYERS_SIDES_H
#define NN_LAYERS_SIDES_H

#include "formats/keras_import.h"
#include "layers/common.h"

typedef struct nn_sides {
    int top, bottom, left, right;
} nn_sides;

/* Allocates node n's cfg (an nn_sides) and reads `key` into it; def on all
 * four sides when the key is absent. */
nn_status nn_sides_parse(nn_node *n, nn_spec_node *s, const char *key, int def, nn_error *err);

/* One (height, width, channels) input; the output is the input grown
 * (sign 1) or shrunk (sign -1) by the sides, channels unchanged. */
nn_status nn_sides_infer(nn_node *n, int sign, nn_error *err);

/* key = ((top, bottom), (left, right)) and data_format, as Keras writes them. */
void nn_sides_keras_config(const nn_node *n, const char *key, json_t *cfg);

/* Keras's key (def on all sides when absent) as the spec line of layer
 * `type`. */
nn_status nn_sides_keras_import(const kx_layer *L, kx_text *t, kx_shapes *s, const char *key,
                                const char *type, long long def);

#endif

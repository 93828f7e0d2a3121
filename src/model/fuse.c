/* Inference fusion: a model that only runs forward folds each
 * BatchNormalization into the convolution before it (W' = W * s, b' = b *
 * s + t per output channel, s = gamma / sqrt(var + eps), t = beta - mean *
 * s) and lets a convolution apply the ReLU or ReLU6 after it in its own
 * pass, as onnxruntime and TensorFlow's graph optimizers do: the folded
 * layers' passes over memory (about a third of MobileNetV2's time) go.
 * A ZeroPadding2D before a convolution becomes that convolution's padding
 * (MobileNetV2 and EfficientNet pad before each strided depthwise layer):
 * its fill and copy go too.
 *
 * Only where nothing else can tell: the chain from the convolution to the
 * absorbed layer must be private (each layer in it read by the next one
 * only; none an output, an input or kept for predict --layer), since every
 * layer in it then holds the absorbed layer's result. The weights change
 * in place, so a fused model is never written (nn_model_save refuses);
 * nn_model_copy_fusion gives a model built like it the same fusion. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_internal.h"

static bool observed(const nn_model *m, const nn_node *n)
{
    return n->keep_out || nn_model_is_output(m, n) || nn_model_is_input(m, n);
}

/* The layer whose work reaches x through x's input: x->in[0] itself, or
 * the layer that absorbed it (and those before it). NULL when the chain
 * from that layer to x is not private to x. */
static nn_node *private_source(const nn_model *m, const nn_node *x)
{
    if (x->n_in != 1)
        return NULL;
    nn_node *z = x->in[0];
    for (;;) {
        if (z->n_consumers != 1 || observed(m, z))
            return NULL;
        if (!z->fused_away)
            return z;
        z = z->in[0];
    }
}

static nn_status fold_batchnorm(nn_model *m, nn_node *z, nn_node *x, nn_error *err)
{
    int ch = x->shape[x->ndim - 1];
    float *scale = nn_malloc(sizeof(float) * (size_t)ch * 2, err);
    if (!scale)
        return NN_ERR_RUNTIME;
    nn_status st = x->type->inference_affine(x, m->e, scale, scale + ch, err);
    if (!st)
        st = z->type->fold_affine(z, m->e, scale, scale + ch, err);
    free(scale);
    if (!st)
        x->fused_away = true;
    return st;
}

/* z, read only by the convolution x, only pads: x reads through it. */
static void fold_padding(const nn_model *m, nn_node *x)
{
    int pad[4];
    nn_node *z = x->n_in == 1 ? x->in[0] : NULL;
    if (z && x->type->takes_input_pad && !z->fused_away && z->type->as_padding &&
        z->type->as_padding(z, pad) && z->n_consumers == 1 && !observed(m, z) &&
        z->precision == x->precision)
        z->fused_away = true;
}

nn_status nn_model_fuse_inference(nn_model *m, nn_error *err)
{
    if (!m->inference || m->fused)
        return NN_OK;
    m->fused = true;
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *x = m->nodes[i];
        fold_padding(m, x);
        nn_node *z = private_source(m, x);
        if (!z || z->act != NN_ACT_LINEAR || z->precision != x->precision)
            continue;
        nn_act act;
        float alpha;
        if (x->type->inference_affine && z->type->fold_affine && z->ndim == x->ndim &&
            z->shape[z->ndim - 1] == x->shape[x->ndim - 1]) {
            nn_status st = fold_batchnorm(m, z, x, err);
            if (st)
                return st;
        } else if (x->type->as_activation && z->type->takes_act &&
                   x->type->as_activation(x, &act, &alpha) && z->type->takes_act(z, act)) {
            z->act = act;
            z->act_alpha = alpha;
            x->fused_away = true;
        }
    }
    return NN_OK;
}

nn_status nn_model_copy_fusion(const nn_model *from, nn_model *to, nn_error *err)
{
    if (!from->fused)
        return NN_OK;
    to->fused = true;
    for (int i = 0; i < to->n_nodes && i < from->n_nodes; i++) {
        const nn_node *a = from->nodes[i];
        nn_node *b = to->nodes[i];
        b->fused_away = a->fused_away;
        b->act = a->act;
        b->act_alpha = a->act_alpha;
        if (a->folded_bias.data && !b->folded_bias.data) {
            nn_status st = to->e->ops->alloc(to->e, &b->folded_bias, a->folded_bias.ndim,
                                             a->folded_bias.shape, err);
            if (st)
                return st;
            to->e->ops->copy(to->e, &b->folded_bias, &a->folded_bias, a->folded_bias.size);
        }
    }
    return NN_OK;
}

nn_status nn_model_check_unfused(const nn_model *m, nn_error *err)
{
    if (m->fused) /* its weights hold folded BatchNormalizations */
        return nn_fail(err, NN_ERR_RUNTIME,
                       "internal: a model fused for inference cannot be written");
    return NN_OK;
}

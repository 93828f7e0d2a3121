#include "layers/common.h"

void nn_keras_config_kernel(const nn_node *n, json_t *cfg, bool use_bias,
                            const nn_initializer *kernel_init, const nn_initializer *bias_init,
                            const nn_regularizer *kernel_reg, const nn_regularizer *bias_reg)
{
    json_object_set_new(cfg, "activation", json_string(nn_activation_name(n->act)));
    json_object_set_new(cfg, "use_bias", json_boolean(use_bias));
    json_object_set_new(cfg, "kernel_initializer", nn_initializer_keras_json(kernel_init));
    json_object_set_new(cfg, "bias_initializer", nn_initializer_keras_json(bias_init));
    json_object_set_new(cfg, "kernel_regularizer", nn_regularizer_keras_json(kernel_reg));
    json_object_set_new(cfg, "bias_regularizer", nn_regularizer_keras_json(bias_reg));
    json_object_set_new(cfg, "activity_regularizer", nn_regularizer_keras_json(&n->activity_reg));
    json_object_set_new(cfg, "kernel_constraint", json_null());
    json_object_set_new(cfg, "bias_constraint", json_null());
}

nn_status nn_preact_plan(nn_node *n, nn_engine *e, nn_tensor *z, nn_tensor *dz, nn_error *err)
{
    if (n->act == NN_ACT_LINEAR) {
        n->preact = &n->out;
        n->dpreact = &n->dout;
        return NN_OK;
    }
    n->preact = z;
    n->dpreact = dz;
    nn_status st = e->ops->alloc(e, z, n->out.ndim, n->out.shape, err);
    if (!st && n->needs_grad)
        st = e->ops->alloc(e, dz, n->out.ndim, n->out.shape, err);
    return st;
}

json_t *nn_keras_dtype_policy(nn_precision p)
{
    /* The policy's name: Keras 3 reads it as DTypePolicy("mixed_bfloat16")
     * and tf-keras as Policy("mixed_bfloat16"). Keras 3 itself writes a
     * {"class_name": "DTypePolicy", ...} object, which tf-keras cannot
     * read; nnctl reads either form (io/keras_import.c). */
    return json_string(nn_precision_policy(p));
}

void nn_keras_config_common(const nn_node *n, json_t *config)
{
    json_object_set_new(config, "name", json_string(n->name));
    json_object_set_new(config, "trainable", json_boolean(n->trainable));
    json_object_set_new(config, "dtype", nn_keras_dtype_policy(n->policy));
}

nn_status nn_infer_same_shape(nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    n->ndim = n->in[0]->ndim;
    for (int i = 0; i < n->ndim; i++)
        n->shape[i] = n->in[0]->shape[i];
    return NN_OK;
}

void nn_gamma_beta_add(nn_node *n, nn_gamma_beta *gb, int ch)
{
    gb->gamma = gb->beta = -1;
    if (gb->scale) {
        gb->gamma = n->n_params;
        nn_node_add_param(n, "gamma", 1, &ch, ch, ch, gb->gamma_init, gb->gamma_reg);
    }
    if (gb->center) {
        gb->beta = n->n_params;
        nn_node_add_param(n, "beta", 1, &ch, ch, ch, gb->beta_init, gb->beta_reg);
    }
}

const nn_tensor *nn_param_w(const nn_node *n, int idx)
{
    return idx >= 0 ? &n->params[idx].w : NULL;
}

nn_tensor *nn_param_g(nn_node *n, int idx, bool train)
{
    return train && idx >= 0 ? &n->params[idx].g : NULL;
}

nn_status nn_fold_affine_kernel(nn_node *n, nn_engine *e, nn_param *kernel, int bias, int ch,
                                const float *scale, const float *shift, nn_error *err)
{
    size_t size = kernel->size > (size_t)ch ? kernel->size : (size_t)ch;
    float *h = nn_malloc(sizeof(float) * size, err);
    if (!h)
        return NN_ERR_RUNTIME;
    e->ops->download(e, h, &kernel->w, kernel->size);
    for (size_t r = 0; r + (size_t)ch <= kernel->size; r += (size_t)ch)
        for (int c = 0; c < ch; c++)
            h[r + (size_t)c] *= scale[c];
    e->ops->upload(e, &kernel->w, h, kernel->size);
    nn_status st = NN_OK;
    nn_tensor *b = bias >= 0 ? &n->params[bias].w : n->folded_bias.data ? &n->folded_bias : NULL;
    if (b) { /* (a second fold: its own bias, or the one the first made) */
        e->ops->download(e, h, b, (size_t)ch);
        for (int c = 0; c < ch; c++)
            h[c] = h[c] * scale[c] + shift[c];
        e->ops->upload(e, b, h, (size_t)ch);
    } else if (!(st = e->ops->alloc(e, &n->folded_bias, 1, &ch, err))) {
        e->ops->upload(e, &n->folded_bias, shift, (size_t)ch);
    }
    free(h);
    return st;
}

const nn_tensor *nn_layer_bias(const nn_node *n, int bias)
{
    if (bias >= 0)
        return &n->params[bias].w;
    return n->folded_bias.data ? &n->folded_bias : NULL;
}

nn_status nn_act_plan_in_place(nn_node *n, nn_engine *e, nn_tensor *z, nn_tensor *dz,
                               nn_error *err)
{
    if (!n->needs_grad && nn_takes_conv_act(n, n->act)) {
        n->preact = &n->out;
        n->dpreact = &n->dout;
        return NN_OK;
    }
    return nn_preact_plan(n, e, z, dz, err);
}

bool nn_takes_conv_act(const nn_node *n, nn_act act)
{
    (void)n;
    return act == NN_ACT_RELU || act == NN_ACT_RELU6 || act == NN_ACT_SWISH;
}

nn_status nn_node_one_image(const nn_node *n, nn_error *err)
{
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    if (n->in[0]->ndim != 3)
        return nn_node_fail(n, err, "expects (height, width, channels) samples, got %d axes",
                            n->in[0]->ndim);
    return NN_OK;
}

void nn_steps_span(const float *x, size_t steps, size_t features, float value, size_t *lo,
                   size_t *hi)
{
    *lo = steps;
    *hi = 0;
    for (size_t t = 0; t < steps; t++)
        for (size_t j = 0; j < features; j++)
            if (x[t * features + j] != value) {
                *lo = t < *lo ? t : *lo;
                *hi = t + 1;
                break;
            }
}

/* Embedding: integer token ids (held as floats) to rows of a trainable
 * (input_dim, output_dim) table; output shape = input shape + (output_dim).
 * Ids are checked against input_dim when the data is loaded (an id the
 * table lacks is an error, as Keras on the CPU); no gradient flows to the
 * ids. With mask_zero (Keras's), id 0 is padding: the layer's output
 * carries a mask (1 where the id is not 0) that recurrent layers and
 * GlobalAveragePooling1D honour. */
#include <stdlib.h>

#include "formats/c_code.h"
#include "layers/common.h"
#include "layers/registry.h"
#include "formats/keras_import.h"
#include "formats/onnx_layer.h"

typedef struct {
    int input_dim, output_dim;
    nn_initializer init;
    nn_regularizer reg;
    bool mask_zero;
} embedding_cfg;

static nn_status embedding_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    embedding_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    n->cfg = c;
    long long in_dim, out_dim;
    nn_status st;
    if ((st = nn_spec_int(s, "input_dim", true, 0, 1, 1 << 24, &in_dim, err)) ||
        (st = nn_spec_int(s, "output_dim", true, 0, 1, 1 << 20, &out_dim, err)) ||
        (st = nn_spec_initializer(s, "embeddings_initializer", "random_uniform", &c->init, err)) ||
        (st = nn_spec_regularizer(s, "embeddings_regularizer", &c->reg, err)) ||
        (st = nn_spec_regularizer(s, "activity_regularizer", &n->activity_reg, err)) ||
        (st = nn_spec_bool(s, "mask_zero", false, false, &c->mask_zero, err)))
        return st;
    c->input_dim = (int)in_dim;
    c->output_dim = (int)out_dim;
    return NN_OK;
}

static nn_status embedding_infer(nn_node *n, nn_error *err)
{
    embedding_cfg *c = n->cfg;
    if (n->n_in != 1)
        return nn_node_fail(n, err, "takes one input, got %d", n->n_in);
    const nn_node *in = n->in[0];
    if (in->ndim + 1 > NN_MAX_DIMS - 1)
        return nn_node_fail(n, err, "input has too many axes (%d)", in->ndim);
    n->ndim = in->ndim + 1;
    for (int i = 0; i < in->ndim; i++)
        n->shape[i] = in->shape[i];
    n->shape[in->ndim] = c->output_dim;
    int shape[2] = {c->input_dim, c->output_dim};
    nn_node_add_param(n, "embeddings", 2, shape, c->input_dim, c->output_dim, c->init, c->reg);
    if (c->mask_zero) {
        if (in->ndim != 1)
            return nn_node_fail(n, err,
                                "mask_zero needs one id per step, a (steps,) input; got %d axes",
                                in->ndim);
        n->mask = &n->mask_buf;
        n->mask_steps = in->shape[0];
    }
    return NN_OK;
}

/* The mask's buffer: planned with the batch, so a pass allocates nothing. */
static nn_status embedding_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    const embedding_cfg *c = n->cfg;
    if (!c->mask_zero)
        return NN_OK;
    int shape[2] = {batch, n->mask_steps};
    return e->ops->alloc(e, &n->mask_buf, 2, shape, err);
}

static void embedding_release(nn_node *n, nn_engine *e)
{
    e->ops->free(e, &n->mask_buf);
}

static void embedding_forward(nn_node *n, const nn_pass *p)
{
    const embedding_cfg *c = n->cfg;
    size_t ids = (size_t)p->rows * n->in[0]->size;
    p->e->ops->embedding_forward(p->e, &n->in[0]->out, &n->params[0].w, &n->out, ids,
                                 c->input_dim, c->output_dim);
    if (c->mask_zero) { /* ids are whole numbers >= 0: min(id, 1) is 1 but for id 0 */
        p->e->ops->copy(p->e, &n->mask_buf, &n->in[0]->out, ids);
        p->e->ops->clip(p->e, &n->mask_buf, 1.0f, ids);
    }
}

/* The steps of one sample's ids that carry a mask of 1 (bucket_by_length). */
static void embedding_mask_span(const nn_node *n, const float *ids, size_t *lo, size_t *hi)
{
    nn_steps_span(ids, (size_t)n->mask_steps, 1, 0.0f, lo, hi);
}

static void embedding_backward(nn_node *n, const nn_pass *p)
{
    const embedding_cfg *c = n->cfg;
    size_t ids = (size_t)p->rows * n->in[0]->size;
    if (n->params[0].trainable)
        p->e->ops->embedding_backward(p->e, &n->in[0]->out, &n->dout, &n->params[0].g, ids,
                                      c->input_dim, c->output_dim, 0.0f);
    nn_tensor *dx = nn_grad_target(n, 0);
    if (dx) { /* ids are not differentiable: a zero gradient */
        p->e->ops->fill(p->e, dx, 0.0f, ids);
        nn_grad_commit(n, 0, dx, p);
    }
}

static nn_status embedding_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    (void)err;
    const embedding_cfg *c = n->cfg;
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "input_dim", json_integer(c->input_dim));
    json_object_set_new(cfg, "output_dim", json_integer(c->output_dim));
    json_object_set_new(cfg, "embeddings_initializer", nn_initializer_keras_json(&c->init));
    json_object_set_new(cfg, "embeddings_regularizer", nn_regularizer_keras_json(&c->reg));
    json_object_set_new(cfg, "activity_regularizer", nn_regularizer_keras_json(&n->activity_reg));
    json_object_set_new(cfg, "embeddings_constraint", json_null());
    json_object_set_new(cfg, "mask_zero", json_boolean(c->mask_zero));
    if (n->in[0]->ndim == 1)
        json_object_set_new(cfg, "input_length",
                            n->in[0]->shape[0] && !(n->in[0]->var_axes & 1)
                                ? json_integer(n->in[0]->shape[0])
                                : json_null());
    return NN_OK;
}

static nn_status embedding_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    const embedding_cfg *c = n->cfg;
    nn_c_embedding(w, nn_c_in(w, n, 0), nn_c_out(w, n), n->in[0]->size, c->input_dim,
                   c->output_dim, nn_c_param(w, n, 0));
    return nn_c_status(w, err);
}

extern const nn_layer_type nn_layer_embedding;

int nn_embedding_input_dim(const nn_node *n)
{
    return n->type == &nn_layer_embedding ? ((const embedding_cfg *)n->cfg)->input_dim : 0;
}

/* ---- Keras import ---- */


static nn_status conv_embedding(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    long long in_dim, out_dim;
    bool mask_zero;
    if (st || (st = kx_want_bool(L, "mask_zero", NULL, false, &mask_zero)) ||
        (st = kx_refuse(L, "dropout", NULL, NULL)) || (st = kx_refuse(L, "lora_rank", NULL, NULL)) ||
        (st = kx_want_int(L, "input_dim", NULL, true, 0, 1, &in_dim)) ||
        (st = kx_want_int(L, "output_dim", NULL, true, 0, 1, &out_dim)))
        return st;
    s->rank = s->in_rank[0] + 1;
    kx_printf(t, "type = \"embedding\";");
    kx_key_int(t, "input_dim", in_dim);
    kx_key_int(t, "output_dim", out_dim);
    if (mask_zero)
        kx_key_bool(t, "mask_zero", true);
    kx_write_init(L, t, "embeddings_initializer", "init");
    if ((st = kx_write_reg(L, t, "embeddings_regularizer", "W_regularizer")) ||
        (st = kx_write_reg(L, t, "activity_regularizer", NULL)))
        return st;
    return NN_OK;
}

/* ---- ONNX export ---- */

/* Token ids arrive as floats (as nnctl holds them): Cast, then Gather rows. */
static nn_status onnx_map_embedding(onnx_layer *L, nn_error *err)
{
    const nn_param *p = NULL;
    const float *table = onnx_param(L, "embeddings", &p);
    if (!table)
        return onnx_layer_fail(L, err, "no embeddings");
    onnx_graph *g = L->g;
    const char *ids = onnx_fresh(g, "Cast");
    onnx_node nd;
    onnx_node_begin(&nd, g, "Cast");
    onnx_node_input(&nd, L->in[0]);
    onnx_node_output(&nd, ids);
    onnx_attr_int(&nd, "to", ONNX_INT64);
    onnx_node_end(&nd);
    int64_t dims[2] = {p->shape[0], p->shape[1]};
    L->out = onnx_op2(g, "Gather", onnx_const_float(g, "embeddings", 2, dims, table), ids);
    return NN_OK;
}

static const nn_doc_key embedding_keys[] = {
    {"input_dim", "int", "required", "vocabulary size"},
    {"output_dim", "int", "required", "row width"},
    {"embeddings_initializer", "initializer", "random_uniform", "see Initializers"},
    {"embeddings_regularizer", "regularizer", "none", "see Regularizers"},
    {"activity_regularizer", "regularizer", "none", "on the output"},
    {"mask_zero", "bool", "false",
     "id 0 is padding: recurrent layers keep their state over it and "
     "global_average_pooling1d leaves it out (Keras's masking)"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_embedding = {
    .name = "embedding",
    .keras_class = "Embedding",
    .doc = "token ids (as numbers) to rows of a trainable table",
    .keys = embedding_keys,
    .keras_import = conv_embedding,
    .export_onnx = onnx_map_embedding,
    .parse = embedding_parse,
    .infer = embedding_infer,
    .plan = embedding_plan,
    .release = embedding_release,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .keras_config = embedding_keras_config,
    .export_c = embedding_export_c,
    .mask_span = embedding_mask_span,
};

/* A model whose input has a None (0) length trains and evaluates at the
 * length of its data: every sample of a token file is padded to
 * data.maxlen, a .npy batch has one length. The model is built again at
 * that length: for training before anything reads its weights
 * (train.init_from, a checkpoint), with the same initial draws a spec
 * giving the length would make; a model file's (eval) takes the weights it
 * had (a layer's weights never depend on the length). Samples padded
 * with id 0 behind an Embedding with mask_zero train exactly as Keras's
 * per-batch padding would: masked steps change nothing. */
#include <stdio.h>

#include "data/dataset.h"
#include "model/precision.h"
#include "session/session_internal.h"
#include "train/optimizers.h"

/* The weights of a model file's model into m, built like it. */
static nn_status copy_weights(const nn_model *from, nn_model *m, nn_engine *e, nn_error *err)
{
    if (from->n_nodes != m->n_nodes)
        return nn_fail(err, NN_ERR_RUNTIME, "the model built at the data's length has %d layers, "
                                            "the file's %d",
                       m->n_nodes, from->n_nodes);
    for (int i = 0; i < m->n_nodes; i++) {
        if (from->nodes[i]->n_params != m->nodes[i]->n_params)
            return nn_fail(err, NN_ERR_RUNTIME, "layer '%s': other weights at the data's length",
                           m->nodes[i]->name);
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            const nn_param *p = &from->nodes[i]->params[k];
            nn_param *q = &m->nodes[i]->params[k];
            if (p->size != q->size)
                return nn_fail(err, NN_ERR_RUNTIME,
                               "layer '%s': weight %s changed size with the input's length",
                               m->nodes[i]->name, q->name);
            e->ops->copy(e, &q->w, &p->w, p->size);
        }
    }
    /* folded weights mean something only with their fusion */
    return nn_model_copy_fusion(from, m, err);
}

nn_status nn_session__fit_length(nn_session *s, const nn_dataset *data, nn_error *err)
{
    const nn_node *in = s->model->input;
    const nn_dataset *d = nn_dataset_input_part(data, 0);
    if (!d || !nn_model_input_variable(in) || in->var_axes)
        return NN_OK; /* fixed, or at its length already */
    int fill[NN_MAX_DIMS];
    if (d->ndim != in->ndim)
        return NN_OK; /* the data check says what does not fit */
    for (int i = 0; i < in->ndim; i++) {
        if (in->shape[i] && in->shape[i] != d->shape[i])
            return NN_OK;
        fill[i] = d->shape[i];
    }
    nn_spec_node *group;
    /* where the model came from: a Keras file's converted config, else the
     * spec's own group (model.base and from_json are two groups: refused) */
    nn_spec_node *own = NULL;
    nn_error probe;
    bool two = nn_spec_has(nn_spec_root(s->spec), "model") &&
               nn_spec_group(nn_spec_root(s->spec), "model", true, &own, &probe) == NN_OK &&
               (nn_spec_has(own, "base") || nn_spec_has(own, "from_json"));
    nn_spec *from = s->model_spec ? s->model_spec : s->spec;
    nn_status st = nn_spec_group(nn_spec_root(from), "model", true, &group, err);
    if (st)
        return st;
    if (s->model->n_inputs > 1 || (two && !s->from_model_file) ||
        nn_spec_has(group, "base") || nn_spec_has(group, "from_json"))
        return nn_spec_fail(group, NULL, err, NN_ERR_USAGE,
                            "input '%s' has a variable (None) length, which training takes from "
                            "the data for a model of one input declared in the spec only: give "
                            "the length in its shape",
                            in->name);
    nn_model *m;
    if ((st = nn_model_from_spec_at(group, fill, &m, err)))
        return st;
    if (s->from_model_file) {
        st = nn_model_alloc_inference(m, s->engine, err);
        if (!st)
            st = copy_weights(s->model, m, s->engine, err);
    } else {
        nn_rng init;
        nn_rng_seed(&init, (uint64_t)s->train.seed, NN_STREAM_INIT);
        if (!(st = nn_model_alloc(m, s->engine, nn_optimizer_slots(&s->train.optimizer), err)) &&
            !(st = nn_model_init_params(m, &init, err)))
            nn_optimizer_init_slots(&s->train.optimizer, m);
    }
    if (st) {
        nn_model_free(m);
        return st;
    }
    nn_model_free(s->model);
    s->model = m;
    nn_precision_apply(m, s->engine, s->train.precision, false, NULL);
    return NN_OK;
}

/* A spec whose input has a None (0) length trains at the length of its
 * data: every sample of a token file is padded to data.maxlen, a .npy
 * batch has one length. The model is built again at that length, before
 * anything reads its weights (train.init_from, a checkpoint), with the
 * same initial draws a spec giving the length would make. Samples padded
 * with id 0 behind an Embedding with mask_zero train exactly as Keras's
 * per-batch padding would: masked steps change nothing. */
#include <stdio.h>

#include "model/precision.h"
#include "session/session_internal.h"
#include "train/optimizers.h"

nn_status nn_session__fit_length(nn_session *s, const nn_dataset *d, nn_error *err)
{
    const nn_node *in = s->model->input;
    if (!nn_model_input_variable(in) || in->var_axes || s->from_model_file)
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
    nn_status st = nn_spec_group(nn_spec_root(s->spec), "model", true, &group, err);
    if (st)
        return st;
    if (s->model->n_inputs > 1 || nn_spec_has(group, "base") || nn_spec_has(group, "from_json"))
        return nn_spec_fail(group, NULL, err, NN_ERR_USAGE,
                            "input '%s' has a variable (None) length, which training takes from "
                            "the data for a model of one input declared in the spec only: give "
                            "the length in its shape",
                            in->name);
    nn_model *m;
    if ((st = nn_model_from_spec_at(group, fill, &m, err)))
        return st;
    nn_rng init;
    nn_rng_seed(&init, (uint64_t)s->train.seed, NN_STREAM_INIT);
    if ((st = nn_model_alloc(m, s->engine, nn_optimizer_slots(&s->train.optimizer), err)) ||
        (st = nn_model_init_params(m, &init, err))) {
        nn_model_free(m);
        return st;
    }
    nn_optimizer_init_slots(&s->train.optimizer, m);
    nn_model_free(s->model);
    s->model = m;
    nn_precision_apply(m, s->engine, s->train.precision, false, NULL);
    return NN_OK;
}

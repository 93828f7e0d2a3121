#include "train/batch.h"

/* The outputs' losses as means over batch_rows rows (the whole batch over
 * every process; this process has `rows` of them): the engine's gradient
 * of its own rows' mean is scaled by rows / batch_rows. */
static double data_loss(nn_model *m, const nn_objective *o, nn_tensor *const *yt, int rows,
                        int batch_rows, bool grad, double *head_loss)
{
    nn_engine *e = m->e;
    double total = 0.0;
    const double share = (double)rows / (double)batch_rows;
    for (int k = 0; k < o->n; k++) {
        const nn_head *h = &o->h[k];
        nn_node *out = h->node;
        /* the gradient of w * mean loss: the engine scales it by w / rows */
        float w = (float)(h->weight * share);
        double sum;
        if (h->fused) {
            sum = e->ops->loss(e, h->kind, h->param, out->preact, yt[k], rows, h->cols,
                               grad ? out->dpreact : NULL, w);
            out->loss_wrote_preact = grad;
        } else {
            sum = e->ops->loss(e, h->kind, h->param, &out->out, yt[k], rows, h->cols,
                               grad ? &out->dout : NULL, w);
            out->loss_wrote_preact = false;
        }
        if (head_loss)
            head_loss[k] = sum / batch_rows;
        total += h->weight * (sum / batch_rows);
    }
    return total;
}

double nn_batch_data_loss(nn_model *m, const nn_objective *o, nn_tensor *const *yt, int rows,
                          bool grad, double *head_loss)
{
    return data_loss(m, o, yt, rows, rows, grad, head_loss);
}

double nn_model_weight_penalty(nn_model *m, bool grad)
{
    double total = 0.0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (p->reg.l1 == 0.0f && p->reg.l2 == 0.0f)
                continue;
            total += m->e->ops->regularize(m->e, &p->w, p->reg.l1, p->reg.l2,
                                           grad && p->trainable ? &p->g : NULL, 1.0f, p->size);
        }
    return total;
}

double nn_batch_gradients(nn_model *m, const nn_objective *o, nn_tensor *const *yt,
                          const nn_pass *p, nn_batch_loss *parts)
{
    nn_batch_loss l, *out = parts ? parts : &l;
    nn_model_forward(m, p);
    out->data = data_loss(m, o, yt, p->rows, nn_pass_batch_rows(p), true, out->head);
    out->activity = m->activity_penalty;
    out->weights = 0.0;
    if (p->rep && p->rep->loss_ready)
        p->rep->loss_ready(p->rep);
    nn_model_backward(m, p);
    /* the penalties' gradients go on the summed data gradients: every
     * process adds the same (the weights are equal everywhere) */
    if (p->rep && p->rep->grads_wait)
        p->rep->grads_wait(p->rep);
    out->weights = nn_model_weight_penalty(m, true);
    return out->data + out->activity + out->weights;
}

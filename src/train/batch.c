#include <math.h>
#include <stdlib.h>

#include "layers/common.h"
#include "train/batch.h"

/* A plugin's loss on host floats: the sum over this process's rows (its
 * mean times rows), and (grad) the gradient of scale * its mean into the
 * output's gradient. */
static double host_loss(nn_engine *e, nn_head *h, nn_tensor *yt, int rows, bool grad,
                        float scale)
{
    nn_node *out = h->node;
    size_t n = (size_t)rows * (size_t)h->cols;
    float *pred = e->ops->host_ptr(e, &out->out), *tru = e->ops->host_ptr(e, yt);
    float *g = grad ? e->ops->host_ptr(e, &out->dout) : NULL;
    if ((!pred || !tru || (grad && !g)) && n > h->stage_n) {
        /* the first batch only: the batch size does not grow */
        float *a = realloc(h->stage_pred, n * sizeof *a);
        if (a)
            h->stage_pred = a;
        float *b = a ? realloc(h->stage_true, n * sizeof *b) : NULL;
        if (b)
            h->stage_true = b;
        float *c = b ? realloc(h->stage_grad, n * sizeof *c) : NULL;
        if (c)
            h->stage_grad = c;
        if (!c) {
            nn_error_defer(NN_ERR_RUNTIME, "out of memory for loss %s", h->loss->name);
            return NAN;
        }
        h->stage_n = n;
    }
    if (!pred)
        e->ops->download(e, pred = h->stage_pred, &out->out, n);
    if (!tru)
        e->ops->download(e, tru = h->stage_true, yt, n);
    bool upload = grad && !g;
    if (upload)
        g = h->stage_grad;
    double loss = 0.0;
    nn_error err = {0};
    if (h->loss->host_loss(h->loss, h->inst, pred, tru, rows, h->cols, &loss, g, &err)) {
        nn_error_defer(err.code ? err.code : NN_ERR_RUNTIME, "loss %s: %s", h->loss->name,
                       err.msg);
        return NAN;
    }
    if (grad) {
        for (size_t i = 0; i < n; i++)
            g[i] *= scale;
        if (upload)
            e->ops->upload(e, &out->dout, g, n);
        out->loss_wrote_preact = false;
    }
    return loss * rows;
}

/* The outputs' losses as means over batch_rows rows (the whole batch over
 * every process; this process has `rows` of them): the engine's gradient
 * of its own rows' mean is scaled by rows / batch_rows. */
static double data_loss(nn_model *m, const nn_objective *o, nn_tensor *const *yt, int rows,
                        int batch_rows, bool grad, float scale, double *head_loss)
{
    nn_engine *e = m->e;
    double total = 0.0;
    const double share = (double)rows / (double)batch_rows;
    for (int k = 0; k < o->n; k++) {
        const nn_head *h = &o->h[k];
        nn_node *out = h->node;
        /* the gradient of w * mean loss: the engine scales it by w / rows
         * (and by the loss scale) */
        float w = (float)(h->weight * share) * scale;
        double sum;
        if (h->loss && h->loss->host_loss) {
            sum = host_loss(e, (nn_head *)h, yt[k], rows, grad, w);
        } else if (h->fused) {
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
    return data_loss(m, o, yt, rows, rows, grad, 1.0f, head_loss);
}

double nn_model_weight_penalty(nn_model *m, bool grad)
{
    double total = 0.0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (!nn_regularizer_active(&p->reg))
                continue;
            total += nn_regularizer_apply(&p->reg, m->e, &p->w, p->ndim, p->shape,
                                          grad && p->trainable ? &p->g : NULL, 1.0f, p->size);
        }
    return total;
}

bool nn_batch_unscale(nn_model *m, float scale)
{
    nn_engine *e = m->e;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            if (p->trainable && !isfinite(e->ops->sum_squares(e, &p->g, p->size)))
                return false;
        }
    /* 1/scale as factors that stay normal floats (a denormal factor is
     * zero to a CPU that flushes denormals, as the engine's do) */
    float factors[4];
    int nf = 0;
    double rest = 1.0 / scale;
    while (rest < 0x1p-100 && nf < 3) {
        factors[nf++] = 0x1p-100f;
        rest *= 0x1p100;
    }
    factors[nf++] = (float)rest;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++) {
            nn_param *p = &m->nodes[i]->params[k];
            for (int f = 0; p->trainable && f < nf; f++)
                e->ops->scale(e, &p->g, factors[f], p->size);
        }
    return true;
}

double nn_batch_gradients_finite(nn_model *m, const nn_objective *o, nn_tensor *const *yt,
                                 const nn_pass *p, nn_batch_loss *parts, bool *finite)
{
    const float scale = p->loss_scale > 0.0f ? p->loss_scale : 1.0f;
    nn_batch_loss l, *out = parts ? parts : &l;
    nn_model_forward(m, p);
    out->data = data_loss(m, o, yt, p->rows, nn_pass_batch_rows(p), true, scale, out->head);
    out->activity = m->activity_penalty;
    out->weights = 0.0;
    if (p->rep && p->rep->loss_ready)
        p->rep->loss_ready(p->rep);
    nn_model_backward(m, p);
    /* the penalties' gradients go on the summed data gradients: every
     * process adds the same (the weights are equal everywhere) */
    if (p->rep && p->rep->grads_wait)
        p->rep->grads_wait(p->rep);
    /* back to the loss's own scale before the weight penalties, whose
     * gradients never went through a low-precision product; every process
     * sees the same summed gradients, so all skip an overflowed step */
    *finite = scale == 1.0f || nn_batch_unscale(m, scale);
    out->weights = nn_model_weight_penalty(m, *finite);
    return out->data + out->activity + out->weights;
}

double nn_batch_gradients(nn_model *m, const nn_objective *o, nn_tensor *const *yt,
                          const nn_pass *p, nn_batch_loss *parts)
{
    bool finite;
    return nn_batch_gradients_finite(m, o, yt, p, parts, &finite);
}

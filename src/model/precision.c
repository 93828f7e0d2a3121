#include "model/precision.h"

#include <string.h>

nn_precision nn_precision_apply(nn_model *m, nn_engine *e, nn_precision policy, bool force,
                                FILE *note)
{
    bool said[NN_PREC_COUNT] = {false}, ok[NN_PREC_COUNT] = {false}, asked[NN_PREC_COUNT] = {false};
    char why[NN_PREC_COUNT][256];
    for (int p = 0; p < NN_PREC_COUNT; p++)
        why[p][0] = '\0';
    ok[NN_PREC_FLOAT32] = asked[NN_PREC_FLOAT32] = true;
    for (int i = 0; i < m->n_nodes; i++) {
        nn_node *n = m->nodes[i];
        nn_precision want = n->has_dtype && !force ? n->dtype : policy;
        if (!asked[want]) {
            asked[want] = true;
            ok[want] = e->ops->precision_supported(e, want, why[want], sizeof why[want]);
        }
        if (!ok[want] && !said[want] && note) {
            fprintf(note, "nnctl: note: %s asked, but %s: running float32\n",
                    nn_precision_policy(want), why[want]);
            said[want] = true;
        }
        n->precision = ok[want] ? want : NN_PREC_FLOAT32;
        n->policy = want;
    }
    if (!asked[policy])
        ok[policy] = e->ops->precision_supported(e, policy, why[policy], sizeof why[policy]);
    return ok[policy] ? policy : NN_PREC_FLOAT32;
}

bool nn_model_uses_precision(const nn_model *m, nn_precision p)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i]->precision == p)
            return true;
    return false;
}

void nn_precision_describe(const nn_model *m, nn_engine *e, char *buf, size_t len)
{
    /* the policy of most layers that have weights (the ones with products) */
    int count[NN_PREC_COUNT] = {0};
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i]->n_params)
            count[m->nodes[i]->precision]++;
    nn_precision main = NN_PREC_FLOAT32;
    for (int p = 0; p < NN_PREC_COUNT; p++)
        if (count[p] > count[main])
            main = (nn_precision)p;
    char kernels[256];
    e->ops->describe_precision(e, main, kernels, sizeof kernels);
    int others = 0;
    for (int p = 0; p < NN_PREC_COUNT; p++)
        others += p != (int)main ? count[p] : 0;
    snprintf(buf, len, "%s: %s%s", nn_precision_policy(main), kernels,
             others ? "; some layers have their own dtype" : "");
}

/* Nonzero weights: the complexity measure of the Keras tutorial's L1
 * regularization chapter ("the number of nonzero weights"), per layer and
 * in total (model.h). */
#include <math.h>
#include <stdlib.h>

#include "model/model.h"

nn_status nn_model_nonzero(const nn_model *m, double threshold, size_t *per_node,
                           size_t *nonzero, size_t *params, nn_error *err)
{
    size_t biggest = 0;
    for (int i = 0; i < m->n_nodes; i++)
        for (int k = 0; k < m->nodes[i]->n_params; k++)
            if (m->nodes[i]->params[k].size > biggest)
                biggest = m->nodes[i]->params[k].size;
    float *host = biggest ? malloc(biggest * sizeof *host) : NULL;
    if (biggest && !host)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory counting weights");
    *nonzero = *params = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        size_t count = 0;
        for (int k = 0; k < n->n_params; k++) {
            const nn_param *p = &n->params[k];
            m->e->ops->download(m->e, host, &p->w, p->size);
            for (size_t j = 0; j < p->size; j++)
                count += fabsf(host[j]) > threshold;
            *params += p->size;
        }
        if (per_node)
            per_node[i] = count;
        *nonzero += count;
    }
    free(host);
    return NN_OK;
}

/* Keras's model_config JSON for a model graph: "Sequential" for a chain
 * (tf.keras 2 layout, with an InputLayer first), "Functional" otherwise. */
#include <string.h>

#include "io/keras/model_config.h"

static bool is_chain(const nn_model *m)
{
    if (m->n_inputs != 1 || m->n_outputs != 1)
        return false;
    for (int i = 1; i < m->n_nodes; i++)
        if (m->nodes[i]->n_in != 1 || m->nodes[i]->in[0] != m->nodes[i - 1])
            return false;
    return true;
}

static nn_status layer_json(const nn_node *n, json_t **out, nn_error *err)
{
    json_t *cfg = json_object();
    nn_status st = n->type->keras_config(n, cfg, err);
    if (st) {
        json_decref(cfg);
        return st;
    }
    if (n->type->keras_module) {
        /* a custom object (a plugin's type), as Keras serializes one */
        *out = json_pack("{s:s, s:s, s:o, s:s}", "module", n->type->keras_module, "class_name",
                         n->type->keras_class, "config", cfg, "registered_name",
                         n->type->keras_class);
        return NN_OK;
    }
    *out = json_pack("{s:s, s:o}", "class_name", n->type->keras_class, "config", cfg);
    return NN_OK;
}

nn_status nn_model_keras_json(const nn_model *m, json_t **out, nn_error *err)
{
    json_t *layers = json_array();
    bool chain = is_chain(m);
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        json_t *lj;
        nn_status st = layer_json(n, &lj, err);
        if (st) {
            json_decref(layers);
            return st;
        }
        if (!chain) {
            /* functional: name and inbound_nodes [[[src, 0, 0, {}], ...]] */
            json_object_set_new(lj, "name", json_string(n->name));
            json_t *inbound = json_array();
            if (n->n_in) {
                json_t *node = json_array();
                for (int k = 0; k < n->n_in; k++)
                    json_array_append_new(node,
                                          json_pack("[s, i, i, {}]", n->in[k]->name, 0, 0));
                json_array_append_new(inbound, node);
            }
            json_object_set_new(lj, "inbound_nodes", inbound);
        }
        json_array_append_new(layers, lj);
    }
    json_t *config;
    if (chain) {
        config = json_pack("{s:s, s:o}", "name", m->name, "layers", layers);
        *out = json_pack("{s:s, s:o, s:s, s:s}", "class_name", "Sequential", "config", config,
                         "keras_version", NN_KERAS_VERSION, "backend", "tensorflow");
    } else {
        /* [[name, 0, 0], ...] in the model's input and output order */
        json_t *ins = json_array(), *outs = json_array();
        for (int k = 0; k < m->n_inputs; k++)
            json_array_append_new(ins, json_pack("[s,i,i]", m->inputs[k]->name, 0, 0));
        for (int k = 0; k < m->n_outputs; k++)
            json_array_append_new(outs, json_pack("[s,i,i]", m->outputs[k]->name, 0, 0));
        config = json_pack("{s:s, s:o, s:o, s:o}", "name", m->name, "layers", layers,
                           "input_layers", ins, "output_layers", outs);
        *out = json_pack("{s:s, s:o, s:s, s:s}", "class_name", "Functional", "config", config,
                         "keras_version", NN_KERAS_VERSION, "backend", "tensorflow");
    }
    if (!*out)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot build the model's Keras JSON");
    return NN_OK;
}

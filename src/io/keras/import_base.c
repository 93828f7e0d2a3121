/* model.base: a file's network cut at one layer (what Keras users do with
 * Model(base.input, base.get_layer(name).output)), with the layers that
 * keep training chosen the way Keras's base.trainable and per-layer
 * trainable flags choose them. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "io/keras/import_internal.h"
#include "spec/spec.h"

/* "no layer 'x'; did you mean 'y'?" over the model's layer names */
static nn_status no_such_layer(kx_model *M, const char *key, const char *name, bool prefix)
{
    const char **cands = malloc(sizeof *cands * (size_t)M->n);
    const char *guess = NULL;
    if (cands) {
        int nc = 0;
        for (int i = 0; i < M->n; i++)
            if (!M->nodes[i].is_input)
                cands[nc++] = M->nodes[i].L.name;
        guess = nn_did_you_mean(name, cands, nc);
    }
    nn_status st = kx_model_fail(M, "base.%s: no layer %s '%s'%s%s%s", key,
                                 prefix ? "whose name starts with" : "named", name,
                                 guess ? "; did you mean '" : "", guess ? guess : "",
                                 guess ? "'?" : "");
    free(cands);
    return st;
}

nn_status kx_base_cut(kx_model *M)
{
    const nn_keras_base *b = M->base;
    const char *out = b->output;
    if (!out) {
        if (M->n_out != 1)
            return kx_model_fail(M, "the model has %d outputs: say which layer the new model "
                                    "starts from with base.output",
                                 M->n_out);
        out = M->out[0];
    }
    kx_node *cut = kx_find(M, out);
    if (!cut)
        return no_such_layer(M, "output", out, false);
    if (cut->is_input)
        return kx_model_fail(M, "base.output: '%s' is the model's input, not a layer", out);
    M->keep = calloc((size_t)M->n, sizeof *M->keep);
    int *stack = malloc(sizeof *stack * (size_t)M->n);
    if (!M->keep || !stack) {
        free(stack);
        return nn_fail(M->err, NN_ERR_RUNTIME, "out of memory");
    }
    int sp = 0;
    M->keep[cut - M->nodes] = true;
    stack[sp++] = (int)(cut - M->nodes);
    while (sp) {
        kx_node *n = &M->nodes[stack[--sp]];
        for (int k = 0; k < n->n_in; k++) {
            kx_node *src = kx_find(M, n->in[k]);
            if (src && !M->keep[src - M->nodes]) {
                M->keep[src - M->nodes] = true;
                stack[sp++] = (int)(src - M->nodes);
            }
        }
    }
    free(stack);
    /* the inputs the kept layers use (a Sequential's implicit one always) */
    int n_in = 0;
    for (int k = 0; k < M->n_in; k++) {
        kx_node *in = kx_find(M, M->in[k].name);
        if (!in || M->keep[in - M->nodes])
            M->in[n_in++] = M->in[k];
    }
    M->n_in = n_in;
    M->n_out = 1;
    M->out[0] = cut->L.name;
    M->out_key[0] = "";
    if (b->trainable_from) {
        size_t len = strlen(b->trainable_from);
        bool found = false;
        for (int i = 0; i < M->n && !found; i++)
            found = M->keep[i] && !M->nodes[i].is_input &&
                    !strncmp(M->nodes[i].L.name, b->trainable_from, len);
        if (!found)
            return no_such_layer(M, "trainable_from", b->trainable_from, true);
    }
    for (int g = 0; g < b->n_trainable_layers; g++) {
        bool found = false;
        for (int i = 0; i < M->n && !found; i++)
            found = M->keep[i] && !M->nodes[i].is_input &&
                    !fnmatch(b->trainable_layers[g], M->nodes[i].L.name, 0);
        if (!found)
            return no_such_layer(M, "trainable_layers", b->trainable_layers[g], false);
    }
    return NN_OK;
}

bool kx_base_trainable(kx_model *M, const char *name)
{
    const nn_keras_base *b = M->base;
    if (b->n_trainable_layers) {
        for (int g = 0; g < b->n_trainable_layers; g++)
            if (!fnmatch(b->trainable_layers[g], name, 0))
                return true;
        return false;
    }
    if (b->trainable_from) {
        if (!strncmp(name, b->trainable_from, strlen(b->trainable_from)))
            M->from_reached = true;
        return M->from_reached;
    }
    return b->trainable;
}

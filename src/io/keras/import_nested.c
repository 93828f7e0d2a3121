/* Models nested as layers: Keras 3's ConvNeXt builds its stem and
 * downsampling blocks as Sequential models inside the Functional one, and
 * a transfer-learning model is often Sequential([base_model, head...]).
 * nnctl's graph has no nesting, so the nested model's layers are spliced
 * into the outer list in its place: its input layers replaced by the
 * tensors it was called on, and every reference to it (Keras 2 calls a
 * nested model's own build node 0, its call in the outer model node 1)
 * turned into a reference to its output layer. A nested model's weights
 * are stored under its own group; nn_keras_fix_weights gives each inner
 * layer its own. */
#include <string.h>

#include "io/keras/import_internal.h"

bool kx_is_model_class(const char *cls)
{
    return !strcmp(cls, "Sequential") || !strcmp(cls, "Functional") || !strcmp(cls, "Model");
}

static const char *layer_name(json_t *l)
{
    json_t *nm = json_object_get(l, "name");
    if (!json_is_string(nm))
        nm = json_object_get(json_object_get(l, "config"), "name");
    return json_is_string(nm) ? json_string_value(nm) : NULL;
}

static bool is_nested(json_t *l)
{
    json_t *cn = json_object_get(l, "class_name");
    return json_is_string(cn) && kx_is_model_class(json_string_value(cn));
}

/* A Keras 2 inbound node list calling the named layers' outputs. */
static json_t *inbound_of(const char *const *names, int n)
{
    json_t *call = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(call, json_pack("[s i i {}]", names[i], 0, 0));
    return json_pack("[o]", call);
}

/* The layers a call names, in order: Keras 3 keras_history entries or
 * Keras 2 [name, node, tensor, kwargs] entries of its first node. */
static int call_inputs(json_t *l, const char **names, int cap)
{
    json_t *call = json_array_get(json_object_get(l, "inbound_nodes"), 0);
    int n = 0;
    if (json_is_object(call)) {
        /* walk args for __keras_tensor__ objects */
        json_t *stack[64];
        int sp = 0;
        stack[sp++] = json_object_get(call, "args");
        while (sp && n < cap) {
            json_t *v = stack[--sp];
            if (json_is_array(v)) {
                for (size_t i = json_array_size(v); i-- > 0 && sp < 64;)
                    stack[sp++] = json_array_get(v, i);
            } else if (json_is_object(v)) {
                json_t *h = json_object_get(json_object_get(v, "config"), "keras_history");
                if (json_is_string(json_array_get(h, 0)))
                    names[n++] = json_string_value(json_array_get(h, 0));
            }
        }
        return n;
    }
    size_t i;
    json_t *e;
    json_array_foreach(call, i, e) {
        if (n < cap && json_is_string(json_array_get(e, 0)))
            names[n++] = json_string_value(json_array_get(e, 0));
    }
    return n;
}

/* Rewrites references in v (inbound nodes, output_layers): an array
 * [name, node, tensor, ...] whose name was renamed (in map: old -> new)
 * names the new layer, call 0. */
static void rename_refs(json_t *v, json_t *map, int depth)
{
    if (depth > 64)
        return;
    if (json_is_array(v)) {
        json_t *first = json_array_get(v, 0);
        json_t *to = json_is_string(first) ? json_object_get(map, json_string_value(first)) : NULL;
        if (to && json_array_size(v) >= 3 && json_is_integer(json_array_get(v, 1))) {
            json_array_set(v, 0, to);
            json_array_set_new(v, 1, json_integer(0));
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) rename_refs(e, map, depth + 1);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) rename_refs(e, map, depth + 1);
    }
}

static nn_status splice(kx_model *M, json_t *layers, json_t *out, json_t *map, bool freeze,
                        int depth);

/* The layers of nested model l (called on the outer layers `ins`)
 * appended to out; map gets l's name -> its output layer's. */
static nn_status splice_model(kx_model *M, json_t *l, const char *const *ins, int n_ins,
                              json_t *out, json_t *map, bool freeze, int depth)
{
    const char *name = layer_name(l);
    json_t *cfg = json_object_get(l, "config");
    json_t *inner = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    bool seq = !strcmp(json_string_value(json_object_get(l, "class_name")), "Sequential");
    if (!name || !json_is_array(inner) || !json_array_size(inner))
        return kx_model_fail(M, "a nested model (%s) has no layers", name ? name : "unnamed");
    if (json_is_false(json_object_get(cfg, "trainable")))
        freeze = true;
    json_t *local = json_object(); /* inner input layer -> the outer input */
    json_t *flat = json_array();
    nn_status st = NN_OK;
    if (seq) {
        const char *prev = n_ins ? ins[0] : NULL;
        if (n_ins > 1)
            st = kx_model_fail(M, "the nested Sequential '%s' is called on %d tensors", name,
                               n_ins);
        size_t i;
        json_t *e;
        json_array_foreach(inner, i, e) {
            if (st)
                break;
            json_t *cn = json_object_get(e, "class_name");
            if (json_is_string(cn) && !strcmp(json_string_value(cn), "InputLayer")) {
                if (!prev) /* first in the whole model: it is the model's input */
                    json_array_append_new(flat, json_deep_copy(e)), prev = layer_name(e);
                continue;
            }
            json_t *c = json_deep_copy(e);
            if (prev)
                json_object_set_new(c, "inbound_nodes", inbound_of(&prev, 1));
            json_t *one = json_pack("[o]", c);
            st = splice(M, one, flat, map, freeze, depth + 1);
            json_decref(one);
            const char *last = layer_name(json_array_get(flat, json_array_size(flat) - 1));
            json_t *to = last ? json_object_get(map, last) : NULL;
            prev = to ? json_string_value(to) : last;
        }
        if (!st && prev)
            json_object_set_new(map, name, json_string(prev));
    } else {
        json_t *ins_cfg = json_object_get(cfg, "input_layers");
        json_t *outs_cfg = json_object_get(cfg, "output_layers");
        /* [[name, 0, 0], ...] or [name, 0, 0] for one */
        if (json_is_string(json_array_get(ins_cfg, 0)))
            ins_cfg = json_pack("[O]", ins_cfg);
        else
            json_incref(ins_cfg);
        if (json_is_string(json_array_get(outs_cfg, 0)))
            outs_cfg = json_pack("[O]", outs_cfg);
        else
            json_incref(outs_cfg);
        if (json_array_size(outs_cfg) != 1)
            st = kx_model_fail(M, "the nested model '%s' has %zu outputs: nnctl splices nested "
                                  "models with one output",
                               name, json_array_size(outs_cfg));
        else if (n_ins && (int)json_array_size(ins_cfg) != n_ins)
            st = kx_model_fail(M, "the nested model '%s' has %zu inputs but is called on %d",
                               name, json_array_size(ins_cfg), n_ins);
        for (int k = 0; !st && n_ins && k < n_ins; k++) {
            const char *in = json_string_value(json_array_get(json_array_get(ins_cfg, (size_t)k), 0));
            if (in)
                json_object_set_new(local, in, json_string(ins[k]));
        }
        json_t *kept = json_array(); /* its layers without the replaced inputs */
        size_t i;
        json_t *e;
        json_array_foreach(inner, i, e) {
            const char *ln = layer_name(e);
            if (n_ins && ln && json_object_get(local, ln))
                continue;
            json_t *c = json_deep_copy(e);
            rename_refs(json_object_get(c, "inbound_nodes"), local, 0);
            json_array_append_new(kept, c);
        }
        if (!st)
            st = splice(M, kept, flat, map, freeze, depth + 1);
        json_decref(kept);
        const char *o = json_string_value(json_array_get(json_array_get(outs_cfg, 0), 0));
        if (!st && o) {
            json_t *to = json_object_get(map, o);
            json_object_set_new(map, name, json_string(to ? json_string_value(to) : o));
        }
        json_decref(ins_cfg);
        json_decref(outs_cfg);
    }
    if (!st)
        json_array_extend(out, flat);
    json_decref(flat);
    json_decref(local);
    return st;
}

/* Appends layers to out, nested models spliced (freeze: inside a model
 * that is not trainable, so every layer is frozen). */
static nn_status splice(kx_model *M, json_t *layers, json_t *out, json_t *map, bool freeze,
                        int depth)
{
    if (depth > 16)
        return kx_model_fail(M, "models are nested more than 16 deep");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        if (!is_nested(l)) {
            json_t *c = json_deep_copy(l);
            rename_refs(json_object_get(c, "inbound_nodes"), map, 0);
            json_t *cfg = json_object_get(c, "config");
            if (freeze && json_is_object(cfg))
                json_object_set_new(cfg, "trainable", json_false());
            json_array_append_new(out, c);
            continue;
        }
        const char *ins[NN_MAX_INPUTS];
        json_t *ref = json_deep_copy(l);
        rename_refs(json_object_get(ref, "inbound_nodes"), map, 0);
        int n = call_inputs(ref, ins, NN_MAX_INPUTS);
        nn_status st = splice_model(M, ref, ins, n, out, map, freeze, depth);
        json_decref(ref);
        if (st)
            return st;
    }
    return NN_OK;
}

nn_status kx_flatten_nested(kx_model *M, json_t *root)
{
    json_t *cfg = json_object_get(root, "config");
    json_t *layers = json_is_array(cfg) ? cfg : json_object_get(cfg, "layers");
    bool any = false;
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) any |= is_nested(l);
    if (!any)
        return NN_OK;
    bool seq = !strcmp(json_string_value(json_object_get(root, "class_name")), "Sequential");
    json_t *src = layers;
    if (seq) {
        /* chain the Sequential's layers through inbound nodes first, so
         * that the nested model's layers can branch */
        src = json_array();
        const char *prev = NULL;
        json_array_foreach(layers, i, l) {
            json_t *c = json_deep_copy(l);
            json_t *cn = json_object_get(c, "class_name");
            bool input = json_is_string(cn) && !strcmp(json_string_value(cn), "InputLayer");
            if (prev && !input)
                json_object_set_new(c, "inbound_nodes", inbound_of(&prev, 1));
            json_array_append_new(src, c);
            if (!prev && !input && !is_nested(c)) {
                json_decref(src);
                return kx_model_fail(M, "a Sequential model that nests a model must start with "
                                        "an InputLayer or the nested model");
            }
            prev = layer_name(c);
        }
    }
    json_t *out = json_array(), *map = json_object();
    nn_status st = splice(M, src, out, map, false, 0);
    if (!st && seq) {
        /* the outer model becomes a Functional one over the spliced layers */
        json_t *first = json_array_get(out, 0);
        json_t *last = json_array_get(out, json_array_size(out) - 1);
        json_t *fcn = json_object_get(first, "class_name");
        if (!json_is_string(fcn) || strcmp(json_string_value(fcn), "InputLayer"))
            st = kx_model_fail(M, "the nested model declares no input layer");
        else {
            json_t *f = json_pack("{s:O, s:[[s i i]], s:[[s i i]]}", "layers", out,
                                  "input_layers", layer_name(first), 0, 0, "output_layers",
                                  layer_name(last), 0, 0);
            json_t *nm = json_is_object(cfg) ? json_object_get(cfg, "name") : NULL;
            if (nm)
                json_object_set(f, "name", nm);
            json_object_set_new(root, "class_name", json_string("Functional"));
            json_object_set_new(root, "config", f);
        }
    } else if (!st) {
        json_object_set(cfg, "layers", out);
        rename_refs(json_object_get(cfg, "output_layers"), map, 0);
    }
    if (src != layers)
        json_decref(src);
    json_decref(out);
    json_decref(map);
    return st;
}

/* TimeDistributed(Dense): the wrapped Dense applied to every timestep of a
 * (timesteps, features) input. Dense already works on the last axis of any
 * input (batch x timesteps rows in one product), so the wrapper is the
 * Dense layer itself with Keras's wrapper config around it. */
#include <string.h>

#include "layers/wrapper.h"
#include "formats/keras_import.h"

extern const nn_layer_type nn_layer_dense;

static nn_status td_parse(nn_node *n, nn_spec_node *s, nn_error *err)
{
    static const char *const types[] = {"dense", NULL};
    nn_spec_node *inner;
    int k;
    nn_status st;
    if ((st = nn_wrapper_inner(n, s, types, &inner, &k, err)) ||
        (st = nn_layer_dense.parse(n, inner, err)))
        return st;
    return nn_spec_check_unknown(inner, err);
}

static nn_status td_infer(nn_node *n, nn_error *err)
{
    if (n->n_in == 1 && n->in[0]->ndim < 2)
        return nn_node_fail(n, err,
                            "expects a (timesteps, features) input, got one with %d axis "
                            "(use a dense layer directly)",
                            n->in[0]->ndim);
    return nn_layer_dense.infer(n, err);
}

static nn_status td_keras_config(const nn_node *n, json_t *cfg, nn_error *err)
{
    json_t *inner = json_object();
    nn_status st = nn_layer_dense.keras_config(n, inner, err);
    if (st) {
        json_decref(inner);
        return st;
    }
    json_object_set_new(inner, "name", json_string(n->inner_name));
    nn_keras_config_common(n, cfg);
    json_object_set_new(cfg, "layer", nn_wrapper_inner_json("Dense", inner));
    return NN_OK;
}

/* The rest is Dense's (a static table cannot copy another table's
 * pointers, hence these one-line forwards). */
static nn_status td_plan(nn_node *n, nn_engine *e, int batch, nn_error *err)
{
    return nn_layer_dense.plan(n, e, batch, err);
}
static void td_forward(nn_node *n, const nn_pass *p) { nn_layer_dense.forward(n, p); }
static void td_backward(nn_node *n, const nn_pass *p) { nn_layer_dense.backward(n, p); }
static void td_release(nn_node *n, nn_engine *e) { nn_layer_dense.release(n, e); }
static nn_status td_export_c(const nn_node *n, nn_c_writer *w, nn_error *err)
{
    return nn_layer_dense.export_c(n, w, err);
}

/* ---- Keras import ---- */


static nn_status conv_time_distributed(const kx_layer *L, kx_text *t, kx_shapes *s)
{
    nn_status st = kx_one_input(L, s, 0);
    if (st)
        return st;
    if (s->in_rank[0] < 2)
        return kx_fail(L, "expects a (timesteps, features) input");
    kx_layer in;
    if ((st = kx_wrapped(L, "layer", &in)))
        return st;
    if (strcmp(in.cls, "Dense"))
        return kx_fail(L, "wraps a %s: nnctl's TimeDistributed wraps Dense only", in.cls);
    if ((st = kx_check_name(L, in.name)))
        return st;
    s->rank = s->in_rank[0];
    kx_printf(t, "type = \"time_distributed\"; layer = { type = \"dense\"; name = ");
    kx_string(t, in.name);
    kx_printf(t, ";");
    if ((st = nn_dense_keras_keys(&in, t)))
        return st;
    kx_printf(t, " };");
    return NN_OK;
}

static const nn_doc_key time_distributed_keys[] = {
    {"layer", "group", "required", "a dense layer (type, name and its keys)"},
    {NULL, NULL, NULL, NULL},
};

const nn_layer_type nn_layer_time_distributed = {
    .passes_mask = true, /* Keras: supports_masking */
    .name = "time_distributed",
    .keras_class = "TimeDistributed",
    .doc = "a dense layer applied to every step of a sequence",
    .keys = time_distributed_keys,
    .keras_import = conv_time_distributed,
    .export_onnx = onnx_map_dense,
    .parse = td_parse,
    .infer = td_infer,
    .plan = td_plan,
    .forward = td_forward,
    .backward = td_backward,
    .keras_config = td_keras_config,
    .release = td_release,
    .export_c = td_export_c,
};

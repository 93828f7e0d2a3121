/* nnctl summary SPEC|MODEL */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/keras/import.h"
#include "session/session.h"

static const char help[] =
    "usage: nnctl summary SPEC|MODEL [options]\n"
    "\n"
    "Prints a Keras-style table of the model's layers, output shapes and\n"
    "parameter counts, from a spec (.cfg) or a saved model (.h5, nnctl's or\n"
    "one Keras wrote).\n"
    "\n"
    "options:\n"
    "  -s, --set KEY=VALUE   override a spec key (repeatable)\n"
    "      --spec FILE       with a model file: use this spec instead of the stored one\n"
    "      --weights         (a model file) per layer: the weights with |w| > the\n"
    "                        threshold and their share of the layer's parameters,\n"
    "                        then the totals (the complexity an L1 penalty lowers)\n"
    "      --threshold T     for --weights: count |w| > T (default 0: nonzero)\n"
    "      --json            for --weights: one JSON object: threshold, params,\n"
    "                        nonzero, share and layers [{name, type, params,\n"
    "                        nonzero, share}]\n";

/* A model file by its HDF5 signature or its name (then the loader says
 * what is wrong with it); anything else is read as a spec. */
static bool is_hdf5(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8];
    size_t len = strlen(path);
    if ((len > 3 && strcasecmp(path + len - 3, ".h5") == 0) ||
        (len > 5 && strcasecmp(path + len - 5, ".hdf5") == 0) ||
        (len > 6 && strcasecmp(path + len - 6, ".keras") == 0))
        return true;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fread(buf, 1, 8, f) == 8 && memcmp(buf, sig, 8) == 0;
    fclose(f);
    return ok;
}

/* --weights: the nonzero table, or its JSON. */
static nn_status weights_summary(const nn_model *m, double threshold, bool json, nn_error *err)
{
    size_t *per = calloc((size_t)m->n_nodes, sizeof *per), nonzero, params;
    if (!per)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    nn_status st = nn_model_nonzero(m, threshold, per, &nonzero, &params, err);
    if (!st && !json)
        nn_model_weights_summary(m, per, threshold, stdout);
    if (!st && json) {
        json_t *layers = json_array();
        for (int i = 0; i < m->n_nodes; i++) {
            const nn_node *n = m->nodes[i];
            size_t p = 0;
            for (int k = 0; k < n->n_params; k++)
                p += n->params[k].size;
            if (!p)
                continue;
            json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:I, s:f}", "name", n->name,
                                                    "type", n->type->keras_class, "params",
                                                    (json_int_t)p, "nonzero", (json_int_t)per[i],
                                                    "share", (double)per[i] / (double)p));
        }
        json_t *j = json_pack("{s:f, s:I, s:I, s:f, s:o}", "threshold", threshold, "params",
                              (json_int_t)params, "nonzero", (json_int_t)nonzero, "share",
                              params ? (double)nonzero / (double)params : 0.0, "layers", layers);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
        if (text)
            puts(text);
        else
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        free(text);
        json_decref(j);
    }
    free(per);
    return st;
}

int nn_cmd_summary(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "summary", "set spec weights threshold json", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos != 1) {
        fprintf(stderr, "nnctl summary: expected one spec or model file, got %d arguments\n%s",
                a.n_pos, help);
        return 2;
    }
    nn_status st;
    int rc = 0;
    double threshold = 0.0;
    if ((a.threshold || a.json) && !a.weights) {
        fprintf(stderr, "nnctl summary: --%s goes with --weights\n", a.threshold ? "threshold" : "json");
        return 2;
    }
    if (a.threshold) {
        char *end;
        threshold = strtod(a.threshold, &end);
        if (*end || end == a.threshold || !(threshold >= 0.0) || !isfinite(threshold)) {
            fprintf(stderr, "nnctl summary: --threshold: expected a number >= 0, got '%s'\n",
                    a.threshold);
            return 2;
        }
    }
    if (is_hdf5(a.pos[0])) {
        nn_session s;
        st = nn_session_from_model_file(&s, a.pos[0], a.spec, a.sets, a.n_sets, &err);
        if (!st && a.weights)
            st = weights_summary(s.model, threshold, a.json, &err);
        else if (!st)
            nn_model_summary(s.model, stdout);
        if (st)
            rc = nn_cli_report(&err);
        nn_session_free(&s);
        return rc;
    }
    if (a.weights) {
        fprintf(stderr, "nnctl summary: --weights counts a trained model's weights: give a "
                        "model file (.h5), not the spec '%s'\n", a.pos[0]);
        return 2;
    }
    /* A spec: only the model section is needed to describe the model (from
     * a Keras JSON file with model.from_json, a model file's network with
     * model.base). */
    nn_spec *spec = NULL, *json = NULL;
    nn_model *m = NULL;
    nn_spec_node *model;
    st = nn_spec_load_file(&spec, a.pos[0], &err);
    for (int i = 0; !st && i < a.n_sets; i++)
        st = nn_spec_override(spec, a.sets[i], &err);
    if (!st)
        st = nn_spec_group(nn_spec_root(spec), "model", true, &model, &err);
    if (!st)
        st = nn_model_from_group(model, &json, &m, NULL, &err);
    if (!st)
        nn_model_summary(m, stdout);
    else
        rc = nn_cli_report(&err);
    nn_model_free(m);
    nn_spec_free(json);
    nn_spec_free(spec);
    return rc;
}

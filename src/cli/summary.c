/* nnctl summary SPEC|MODEL */
#include <stdio.h>
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
    "      --spec FILE       with a model file: use this spec instead of the stored one\n";

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

int nn_cmd_summary(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "summary", "set spec", &a, &err))
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
    if (is_hdf5(a.pos[0])) {
        nn_session s;
        st = nn_session_from_model_file(&s, a.pos[0], a.spec, a.sets, a.n_sets, &err);
        if (!st)
            nn_model_summary(s.model, stdout);
        else
            rc = nn_cli_report(&err);
        nn_session_free(&s);
        return rc;
    }
    /* A spec: only the model section is needed to describe the model (from
     * a Keras JSON file with model.from_json). */
    nn_spec *spec = NULL, *json = NULL;
    nn_model *m = NULL;
    nn_spec_node *model;
    st = nn_spec_load_file(&spec, a.pos[0], &err);
    for (int i = 0; !st && i < a.n_sets; i++)
        st = nn_spec_override(spec, a.sets[i], &err);
    if (!st)
        st = nn_spec_group(nn_spec_root(spec), "model", true, &model, &err);
    if (!st && nn_spec_has(model, "from_json") &&
        !(st = nn_keras_json_file_spec(model, nn_spec_dir(spec), &json, &err)))
        st = nn_spec_group(nn_spec_root(json), "model", true, &model, &err);
    if (!st)
        st = nn_model_from_spec(model, &m, &err);
    if (!st)
        nn_model_summary(m, stdout);
    else
        rc = nn_cli_report(&err);
    nn_model_free(m);
    nn_spec_free(json);
    nn_spec_free(spec);
    return rc;
}

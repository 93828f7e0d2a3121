/* nnctl export MODEL --format json|yaml|cfg|onnx|c [-o FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "io/c/export.h"
#include "io/keras/config_text.h"
#include "io/keras/h5file.h"
#include "io/keras/import.h"
#include "io/keras/to_json.h"
#include "io/onnx/export.h"
#include "spec/spec.h"
#include "session/session.h"
#include "util/fileio.h"

static const char help[] =
    "usage: nnctl export MODEL --format json|yaml|cfg|onnx|c [-o FILE] [options]\n"
    "\n"
    "Writes a saved model (.h5) in another format:\n"
    "  json  the architecture as Keras's model.to_json() gives it (class_name,\n"
    "        config, keras_version, backend), pretty-printed;\n"
    "        keras.models.model_from_json reads it\n"
    "  yaml  the same content as YAML\n"
    "  cfg   the network as an nnctl spec's model group (libconfig), to edit\n"
    "        and train: a Keras file's layers converted, or the spec an\n"
    "        nnctl file stores (its data and train groups too); weights are\n"
    "        not in it (train.init_from or model.base loads them by name)\n"
    "  onnx  an ONNX model (opset 13) with the weights: the same channels-last\n"
    "        input as the model, batch axis \"N\", the output nnctl predict gives\n"
    "  c     a self-contained C header: the weights and an inference function\n"
    "\n"
    "options:\n"
    "  -f, --format FORMAT   json, yaml, cfg, onnx or c (required)\n"
    "  -o, --output FILE     where to write (atomically); default: standard output\n"
    "                        for json, yaml and cfg, MODEL with .onnx or .h for onnx\n"
    "                        and c\n"
    "      --spec FILE       onnx, c: build the model from this spec instead of the\n"
    "                        one stored in MODEL\n";

enum { FMT_JSON, FMT_YAML, FMT_CFG, FMT_ONNX, FMT_C };
static const char *const formats[] = {"json", "yaml", "cfg", "onnx", "c"};
#define NFORMATS ((int)(sizeof formats / sizeof *formats))

/* --format is this command's own flag: taken out of argv before the shared
 * parser sees the rest. */
static nn_status take_format(int argc, char **argv, char **rest, int *n_rest, const char **fmt,
                             nn_error *err)
{
    bool only_pos = false;
    *n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_pos && (!strcmp(arg, "--format") || !strcmp(arg, "-f"))) {
            if (i + 1 >= argc)
                return nn_fail(err, NN_ERR_USAGE, "nnctl export: %s needs a value (%s)", arg,
                               "json, yaml, cfg, onnx or c");
            *fmt = argv[++i];
            continue;
        }
        if (!only_pos && !strncmp(arg, "--format=", 9)) {
            *fmt = arg + 9;
            continue;
        }
        if (!strcmp(arg, "--"))
            only_pos = true;
        /* the shared parser does not know --format, so it cannot suggest it */
        static const char *const own[] = {"--format"};
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)strcspn(arg, "="), arg);
        if (!only_pos && !strncmp(arg, "--", 2) && strcmp(key, "--output") &&
            strcmp(key, "--spec") && strcmp(key, "--help") && nn_did_you_mean(key, own, 1))
            return nn_fail(err, NN_ERR_USAGE,
                           "nnctl export: unknown option '%s'; did you mean '--format'? (see "
                           "nnctl export --help)",
                           key);
        rest[(*n_rest)++] = argv[i];
    }
    return NN_OK;
}

static nn_status parse_format(const char *name, int *fmt, nn_error *err)
{
    for (int k = 0; k < NFORMATS; k++)
        if (!strcmp(name, formats[k])) {
            *fmt = k;
            return NN_OK;
        }
    const char *guess = nn_did_you_mean(name, formats, NFORMATS);
    return nn_fail(err, NN_ERR_USAGE,
                   "nnctl export: unknown --format '%s'%s%s%s (formats: json, yaml, cfg, onnx, c)",
                   name, guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "");
}

/* --format cfg: an nnctl file's stored spec as it is; a Keras file's
 * model_config converted to a model group (what from_json and model.base
 * build from), under a comment naming the file. */
static nn_status cfg_text(const nn_h5_model *f, const char *model, char **text, nn_error *err)
{
    if (f->nnctl_spec) {
        *text = strdup(f->nnctl_spec);
        return *text ? NN_OK : nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    if (!f->model_config)
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s' holds only weights (Keras's save_weights layout), no network to "
                       "write",
                       model);
    nn_status st = nn_keras_check_plugins(f->model_config, model, err);
    char what[4200], *body = NULL;
    snprintf(what, sizeof what, "'%s': model_config", model);
    if (st || (st = nn_keras_model_text(f->model_config, what, f->keras_version, &body, err)))
        return st;
    size_t len = strlen(model) + strlen(body) + 200;
    if ((*text = malloc(len)))
        snprintf(*text, len,
                 "# The network of '%s' (Keras %s), written by nnctl export --format cfg.\n"
                 "# Its weights load by layer name: train.init_from or model.base.\n%s",
                 model, f->keras_version ? f->keras_version : "version unknown", body);
    free(body);
    return *text ? NN_OK : nn_fail(err, NN_ERR_RUNTIME, "out of memory");
}

static nn_status export_text(const char *model, int fmt, const char *output, nn_error *err)
{
    nn_h5_model f;
    nn_status st = nn_h5_load(model, &f, err);
    if (st)
        return st;
    json_t *o = NULL;
    char *text = NULL;
    if (fmt == FMT_CFG)
        st = cfg_text(&f, model, &text, err);
    else if (!(st = nn_keras_to_json(&f, model, &o, err))) {
        text = fmt == FMT_JSON ? nn_json_text(o) : nn_yaml_text(o);
        if (!text)
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    if (!st) {
        if (!output || !strcmp(output, "-")) {
            if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
                st = nn_fail(err, NN_ERR_RUNTIME, "cannot write to standard output");
        } else {
            st = nn_write_file_atomic(output, text, strlen(text), err);
        }
    }
    free(text);
    json_decref(o);
    nn_h5_model_free(&f);
    return st;
}

/* MODEL with its .h5/.hdf5 suffix replaced by ext. */
static void default_output(const char *model, const char *ext, char *buf, size_t len)
{
    size_t n = strlen(model);
    const char *dot = strrchr(model, '.'), *slash = strrchr(model, '/');
    if (dot && (!slash || dot > slash) && (!strcmp(dot, ".h5") || !strcmp(dot, ".hdf5")))
        n = (size_t)(dot - model);
    snprintf(buf, len, "%.*s%s", (int)n, model, ext);
}

static nn_status export_model(const nn_args *a, int fmt, nn_error *err)
{
    char path[4200];
    const char *out = a->output;
    if (out && !strcmp(out, "-"))
        return nn_fail(err, NN_ERR_USAGE, "nnctl export: --format %s writes a file: give -o FILE",
                       formats[fmt]);
    if (!out) {
        default_output(a->pos[0], fmt == FMT_ONNX ? ".onnx" : ".h", path, sizeof path);
        out = path;
    }
    nn_session s;
    nn_status st = nn_session_from_model_file(&s, a->pos[0], a->spec, NULL, 0, err);
    if (!st)
        st = fmt == FMT_ONNX ? nn_export_onnx(s.model, out, err) : nn_export_c(s.model, out, err);
    if (!st)
        fprintf(stderr, "nnctl export: wrote %s\n", out);
    nn_session_free(&s);
    return st;
}

int nn_cmd_export(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    const char *fmt_name = NULL;
    int n_rest = 0, fmt = -1, rc = 0;
    if (!rest) {
        fputs("nnctl: error: out of memory\n", stderr);
        return 1;
    }
    nn_status st = take_format(argc, argv, rest, &n_rest, &fmt_name, &err);
    if (!st)
        st = nn_args_parse(n_rest, rest, "export", "output spec", &a, &err);
    if (!st && a.help) {
        free(rest);
        return nn_cli_help(help);
    }
    if (!st && a.n_pos != 1) {
        free(rest);
        fprintf(stderr, "nnctl export: expected one model file, got %d arguments\n%s", a.n_pos,
                help);
        return 2;
    }
    if (!st && !fmt_name)
        st = nn_fail(&err, NN_ERR_USAGE,
                     "nnctl export: --format is required (json, yaml, cfg, onnx or c; see nnctl export "
                     "--help)");
    if (!st)
        st = parse_format(fmt_name, &fmt, &err);
    if (!st)
        st = fmt == FMT_JSON || fmt == FMT_YAML || fmt == FMT_CFG ? export_text(a.pos[0], fmt, a.output, &err)
                                                : export_model(&a, fmt, &err);
    if (st)
        rc = nn_cli_report(&err);
    free(rest);
    return rc;
}

/* The subcommand table: what main dispatches to, what --help lists and
 * what the man page must describe (tests/integration/man.sh checks). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const nn_command commands[] = {
    {"train", "SPEC", "train the model a spec describes; writes runs/<name>/", nn_cmd_train},
    {"eval", "MODEL", "evaluate a saved model on its test data (alias: evaluate)", nn_cmd_eval},
    {"predict", "MODEL IN..", "classify PNG, IDX, CSV or .npy inputs with a saved model",
     nn_cmd_predict},
    {"summary", "SPEC|MODEL", "print the model's layers, output shapes and parameters",
     nn_cmd_summary},
    {"compare", "RUN_DIR...", "a table of runs: differing spec keys, metrics, timing",
     nn_cmd_compare},
    {"plot", "RUN_DIR... -o PNG", "training/validation curves of runs (gnuplot)", nn_cmd_plot},
    {"sweep", "SWEEP [-j N]", "hyper-parameter search: grid, random or bayes trials",
     nn_cmd_sweep},
    {"augment-preview", "SPEC -o PNG", "a grid of augmented training samples",
     nn_cmd_augment_preview},
    {"export", "MODEL --format F", "the model as Keras JSON, YAML, ONNX or C (json|yaml|onnx|c)",
     nn_cmd_export},
    {"plugins", "[FILE...]", "what loaded plugins register: types, keys, versions",
     nn_cmd_plugins},
    {NULL, NULL, NULL, NULL},
};

const nn_command *nn_command_at(int i)
{
    return i >= 0 && i < (int)(sizeof commands / sizeof commands[0]) - 1 ? &commands[i] : NULL;
}

const nn_command *nn_command_find(const char *name)
{
    for (int i = 0; commands[i].name; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

int nn_cli_report(const nn_error *err)
{
    if (!nn_is_quiet())
        fprintf(stderr, "nnctl: error: %s\n", err->msg);
    return err->code == NN_OK ? 1 : (int)err->code;
}

int nn_cli_help(const char *text)
{
    fputs(text, stdout);
    return 0;
}

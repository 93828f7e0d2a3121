/* nnctl plugins [FILE...]: what plugins register. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "plugin/loader.h"

static const char help[] =
    "usage: nnctl plugins [FILE...] [--plugin FILE]...\n"
    "\n"
    "Loads each plugin (a shared library built against nnctl's plugin.h) and\n"
    "lists what it registers: layers, regularizers, losses, metrics and\n"
    "callbacks, each with its settings (spec keys, types, defaults). Errors\n"
    "(another ABI, no entry point, a type already taken) name the file.\n"
    "\n"
    "Build one:  cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) my.c -o my.so\n"
    "Use it:     nnctl train spec.cfg --plugin ./my.so, or plugins = [\"my.so\"];\n"
    "            in the spec.\n";

int nn_cmd_plugins(int argc, char **argv)
{
    nn_error err = {0};
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return nn_cli_help(help);
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "nnctl plugins: unknown option %s\n%s", argv[i], help);
            return 2;
        }
        if (nn_plugin_load(argv[i], &err))
            return nn_cli_report(&err);
    }
    printf("plugin ABI %d.%d\n", NNCTL_PLUGIN_ABI_MAJOR, NNCTL_PLUGIN_ABI_MINOR);
    if (!nn_plugin_count())
        printf("no plugins loaded (nnctl plugins FILE...)\n");
    nn_plugins_describe(stdout);
    return fflush(stdout) ? 1 : 0;
}

/* One function per subcommand; each returns the process exit code
 * (0 success, 1 runtime failure, 2 usage or spec error). */
#ifndef NN_CLI_COMMANDS_H
#define NN_CLI_COMMANDS_H

#include "util/error.h"

int nn_cmd_train(int argc, char **argv);
int nn_cmd_eval(int argc, char **argv);
int nn_cmd_predict(int argc, char **argv);
int nn_cmd_summary(int argc, char **argv);
int nn_cmd_compare(int argc, char **argv);
int nn_cmd_plot(int argc, char **argv);
int nn_cmd_sweep(int argc, char **argv);
int nn_cmd_augment_preview(int argc, char **argv);
int nn_cmd_export(int argc, char **argv);
int nn_cmd_plugins(int argc, char **argv);

/* One subcommand: its name, arguments, one line of help, its function. */
typedef struct nn_command {
    const char *name, *args, *help;
    int (*run)(int argc, char **argv);
} nn_command;

/* The i-th command (NULL past the end), and one by name. */
const nn_command *nn_command_at(int i);
const nn_command *nn_command_find(const char *name);

/* Prints "nnctl: error: ..." and returns the exit code for err. */
int nn_cli_report(const nn_error *err);
/* Prints a help text to stdout and returns 0. */
int nn_cli_help(const char *text);

#endif

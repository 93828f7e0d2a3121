/* nnctl: a command-line neural-network trainer. This file only dispatches
 * to the subcommands in src/cli/. */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "cli/commands.h"
#include "dist/dist.h"
#include "plugin/loader.h"
#include "io/keras/h5file.h"
#include "engine/engine.h"
#include "spec/spec.h"

static void usage(FILE *out)
{
    fputs("usage: nnctl <command> [options] [--plugin FILE]...\n\ncommands:\n", out);
    const nn_command *c;
    for (int i = 0; (c = nn_command_at(i)); i++) {
        char head[64];
        snprintf(head, sizeof head, "%s %s", c->name, c->args);
        fprintf(out, "  %-30s %s\n", head, c->help);
    }
    fputs("\nnnctl <command> --help describes each command; nnctl --version prints the version.\n"
          "--plugin FILE (any command, repeatable) loads a plugin: see nnctl plugins.\n"
          "Exit codes: 0 success, 1 runtime failure, 2 usage or spec error.\n",
          out);
}

/* The command word: the first argument that is not an option or the file
 * of a --plugin (which may come before it). */
static const char *command_word(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--plugin")) {
            i++;
            continue;
        }
        if (argv[i][0] != '-')
            return argv[i];
    }
    return "";
}

int main(int argc, char **argv)
{
    /* train and sweep start again once, with libgomp's spin time set
     * (before anything, with every argument as given) */
    const char *word = command_word(argc, argv);
    if (!strcmp(word, "train") || !strcmp(word, "sweep"))
        nn_engine_preflight(argv);
    /* progress lines reach a log file (or a pipe) as they are printed */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a file-size limit makes writes fail with EFBIG (reported) instead of
     * killing the process mid-write */
    signal(SIGXFSZ, SIG_IGN);
    nn_h5_library_init();
    /* --plugin FILE works with every command: loaded first, then taken out */
    nn_error err = {0};
    if (nn_cli_take_plugins(&argc, argv, &err))
        return nn_cli_report(&err);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* Started by mpirun (mpiexec, srun) as one of several processes (read
     * from the launcher's environment: nothing is loaded to find out):
     * train, eval and sweep run on every rank and rank 0 speaks for the
     * job; any other command runs once, on rank 0. */
    /* a sweep's trial that a rank started: it goes when that rank goes
     * (a rank that died must not leave its trial writing beside the one
     * that runs it again) */
    const char *parent = getenv("NNCTL_PARENT_PID");
    if (parent && *parent) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if ((long)getppid() != strtol(parent, NULL, 10))
            return 1;
    }
    nn_launch launch = nn_launch_detect();
    if (nn_launch_parallel(&launch) && launch.rank > 0) {
        if (strcmp(cmd, "train") && strcmp(cmd, "eval") && strcmp(cmd, "evaluate") &&
            strcmp(cmd, "sweep"))
            return 0;
        nn_set_quiet(1);
        if (!freopen("/dev/null", "w", stdout))
            return 1;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        unsigned maj, min, rel;
        H5get_libversion(&maj, &min, &rel);
        char engines[512];
        nn_engine_describe(engines, sizeof engines);
        char mpi[512];
        nn_dist_describe_plugins(mpi, sizeof mpi);
        printf("nnctl %s\nengines: %s\nmpi: %s\nmodel files: Keras HDF5 "
               "(HDF5 %u.%u.%u)\nplugin ABI: %d.%d\n",
               NNCTL_VERSION, engines, mpi, maj, min, rel, NNCTL_PLUGIN_ABI_MAJOR,
               NNCTL_PLUGIN_ABI_MINOR);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "evaluate"))
        cmd = "eval";
    const nn_command *c = nn_command_find(cmd);
    if (c) {
        int rc = c->run(argc - 2, argv + 2);
        nn_plugins_release();
        return rc;
    }
    const char *names[32];
    int n = 0;
    char list[512] = "";
    for (; (c = nn_command_at(n)) && n < 32; n++) {
        names[n] = c->name;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", n ? ", " : "",
                 c->name);
    }
    const char *guess = nn_did_you_mean(cmd, names, n);
    fprintf(stderr, "nnctl: error: unknown command '%s'%s%s%s (commands: %s; see nnctl --help)\n",
            cmd, guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "", list);
    return 2;
}

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
#include "io/keras/h5file.h"
#include "engine/engine.h"
#include "spec/spec.h"

static const char usage[] =
    "usage: nnctl <command> [options]\n"
    "\n"
    "commands:\n"
    "  train SPEC          train the model a spec describes; writes runs/<name>/\n"
    "  eval MODEL          evaluate a saved model on its test data (alias: evaluate)\n"
    "  predict MODEL IN..  classify PNG or IDX inputs with a saved model\n"
    "  summary SPEC|MODEL  print the model's layers, output shapes and parameters\n"
    "  compare RUN_DIR...  a table of runs: differing spec keys, metrics, timing\n"
    "  plot RUN_DIR... -o PNG  training/validation curves of runs (gnuplot)\n"
    "  sweep SWEEP [-j N]  hyper-parameter search: grid, random or bayes trials\n"
    "  augment-preview SPEC -o PNG  a grid of augmented training samples\n"
    "  export MODEL --format json|yaml|onnx|c  the model as Keras JSON, YAML, ONNX or C\n"
    "\n"
    "nnctl <command> --help describes each command; nnctl --version prints the version.\n"
    "Exit codes: 0 success, 1 runtime failure, 2 usage or spec error.\n";

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

int main(int argc, char **argv)
{
    nn_engine_preflight(argv);
    /* progress lines reach a log file (or a pipe) as they are printed */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a file-size limit makes writes fail with EFBIG (reported) instead of
     * killing the process mid-write */
    signal(SIGXFSZ, SIG_IGN);
    nn_h5_library_init();
    if (argc < 2) {
        fputs(usage, stderr);
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
               "(HDF5 %u.%u.%u)\n",
               NNCTL_VERSION, engines, mpi, maj, min, rel);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(cmd, "train"))
        return nn_cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval") || !strcmp(cmd, "evaluate"))
        return nn_cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "predict"))
        return nn_cmd_predict(argc - 2, argv + 2);
    if (!strcmp(cmd, "summary"))
        return nn_cmd_summary(argc - 2, argv + 2);
    if (!strcmp(cmd, "compare"))
        return nn_cmd_compare(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot"))
        return nn_cmd_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "sweep"))
        return nn_cmd_sweep(argc - 2, argv + 2);
    if (!strcmp(cmd, "augment-preview"))
        return nn_cmd_augment_preview(argc - 2, argv + 2);
    if (!strcmp(cmd, "export"))
        return nn_cmd_export(argc - 2, argv + 2);
    const char *commands[] = {"train",   "eval",    "evaluate", "predict", "summary",
                              "compare", "plot",    "sweep",    "export"};
    const char *guess = nn_did_you_mean(cmd, commands, 9);
    fprintf(stderr, "nnctl: error: unknown command '%s'%s%s%s (commands: train, eval, predict, "
                    "summary, compare, plot, sweep, export; see nnctl --help)\n",
            cmd, guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "");
    return 2;
}

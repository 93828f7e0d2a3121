/* nnctl compare RUN_DIR... */
#include <stdio.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "experiments/runs.h"
#include "objectives/metrics.h"

static const char help[] =
    "usage: nnctl compare RUN_DIR... [--csv|--markdown] [--sort KEY]\n"
    "\n"
    "Prints one row per run directory (written by nnctl train): the spec keys\n"
    "whose values differ between the runs, the epochs run, the best and final\n"
    "validation metric (val_accuracy when logged, else val_loss), the test\n"
    "result when evaluated, seconds per epoch, the parameter count and the\n"
    "final model's weights with |w| > 1e-3 (nonzero>1e-3: an L1 penalty lowers it).\n"
    "A directory that is not a run stands for its subdirectories that are;\n"
    "anything else (a stray file, a folder without runs) is skipped with one\n"
    "line on stderr.\n"
    "\n"
    "options:\n"
    "      --sort KEY   sort by a column (e.g. final_val_loss, params,\n"
    "                   train.optimizer.lr) or a history metric (val_accuracy:\n"
    "                   its best epoch), best first; default: by run name\n"
    "      --csv        CSV (RFC 4180, full precision) instead of aligned text\n"
    "      --markdown   a Markdown table\n";

int nn_cmd_compare(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "compare", "csv markdown sort", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos < 1) {
        fprintf(stderr, "nnctl compare: expected at least one run directory\n%s", help);
        return 2;
    }
    if (a.csv && a.markdown) {
        fprintf(stderr, "nnctl compare: --csv and --markdown exclude each other\n");
        return 2;
    }
    nn_run *runs;
    int n;
    if (nn_runs_load(a.pos, a.n_pos, stderr, &runs, &n, &err))
        return nn_cli_report(&err);
    nn_table_format fmt = a.csv ? NN_TABLE_CSV : a.markdown ? NN_TABLE_MARKDOWN : NN_TABLE_TEXT;
    bool maximize = a.sort && nn_runs_key_maximize(a.sort);
    nn_status st = nn_runs_table(runs, n, a.sort, maximize, fmt, stdout, &err);
    /* Keras 2's spelling: --sort val_acc is val_accuracy (nothing is
     * printed before a sort key is found) */
    char alias[160];
    nn_error first = err;
    if (st == NN_ERR_USAGE && a.sort && nn_metric_keras2_alias(a.sort, alias, sizeof alias) &&
        (st = nn_runs_table(runs, n, alias, maximize, fmt, stdout, &err)) == NN_ERR_USAGE)
        err = first;
    nn_runs_free(runs, n);
    if (!st && fflush(stdout))
        st = nn_fail(&err, NN_ERR_RUNTIME, "writing standard output failed");
    return st ? nn_cli_report(&err) : 0;
}

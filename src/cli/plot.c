/* nnctl plot RUN_DIR... -o curves.png: training curves through gnuplot.
 *
 * nnctl writes one data file per run and a gnuplot script into a private
 * temporary directory, runs gnuplot on the script (posix_spawn, no shell),
 * checks its exit status and the PNG it wrote there, and then installs the
 * PNG at the requested path atomically (temporary file + rename). User text
 * (run names, paths) reaches the script only inside gnuplot single-quoted
 * strings, escaped. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "experiments/runs.h"
#include "objectives/metrics.h"
#include "util/fileio.h"

extern char **environ;

static const char help[] =
    "usage: nnctl plot RUN_DIR... -o FILE.png [--metric NAME] [--width W] [--height H]\n"
    "\n"
    "Draws the training curves of runs (written by nnctl train) as a PNG: two\n"
    "panels, loss and a metric, over the epochs; one colour per run, solid for\n"
    "training and dashed for validation. A directory that is not a run stands\n"
    "for its subdirectories that are; anything else (a stray file, a folder\n"
    "without runs) is skipped with one line on stderr. Needs gnuplot (Debian:\n"
    "gnuplot-nox).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   the PNG to write (required)\n"
    "      --metric NAME   the second panel's metric (default: accuracy when logged)\n"
    "      --width W       image width in pixels (default 1200)\n"
    "      --height H      image height in pixels (default 500)\n";

#define MAX_PIXELS 16384

static const char *const colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define N_COLOURS ((int)(sizeof colours / sizeof colours[0]))

/* s as a gnuplot single-quoted string: '' for a quote, control characters
 * replaced by '?'. */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'')
            fputs("''", f);
        else
            fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
    fputc('\'', f);
}

/* The gnuplot executable on PATH, or false. */
static bool find_gnuplot(char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(out, size, "%.*s/gnuplot", (int)len, len ? path : ".");
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return true;
        path += len;
        if (*path == ':')
            path++;
    }
    return false;
}

static bool has_col(const nn_run *run, const char *col)
{
    return nn_history_col(&run->history, col) >= 0;
}

/* The metric for the second panel: the one asked for, else accuracy when
 * logged, else the first logged column that is not loss/lr/time/epoch;
 * *metric = NULL when there is none. */
static nn_status pick_metric(const nn_run *runs, int n, const char *asked, const char **metric,
                             nn_error *err)
{
    *metric = NULL;
    if (asked) {
        const char *m = strncmp(asked, "val_", 4) ? asked : asked + 4;
        /* Keras 2's spelling: acc is accuracy */
        static char alias[160];
        bool keras2 = nn_metric_keras2_alias(m, alias, sizeof alias);
        for (int pass = 0; pass < (keras2 ? 2 : 1); pass++, m = alias) {
            char val[256];
            snprintf(val, sizeof val, "val_%s", m);
            for (int r = 0; r < n; r++)
                if (has_col(&runs[r], m) || has_col(&runs[r], val)) {
                    *metric = m;
                    return NN_OK;
                }
        }
        char cols[1024] = "";
        const nn_history *h = &runs[0].history;
        for (int c = 0; c < h->n_cols; c++)
            if (strcmp(h->cols[c], "epoch") && strncmp(h->cols[c], "val_", 4))
                snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s%s",
                         *cols ? ", " : "", h->cols[c]);
        return nn_fail(err, NN_ERR_USAGE,
                       "--metric %s: no run logged it (history.csv of %s has: %s)", asked,
                       runs[0].name, cols);
    }
    for (int r = 0; r < n; r++)
        if (has_col(&runs[r], "accuracy")) {
            *metric = "accuracy";
            return NN_OK;
        }
    for (int r = 0; r < n; r++) {
        const nn_history *h = &runs[r].history;
        for (int c = 0; c < h->n_cols; c++) {
            const char *name = h->cols[c];
            if (strncmp(name, "val_", 4) && strcmp(name, "epoch") && strcmp(name, "loss") &&
                strcmp(name, "lr") && strcmp(name, "time")) {
                *metric = name;
                return NN_OK;
            }
        }
    }
    return NN_OK;
}

/* run<i>.dat: epoch (from 1), loss, val_loss, metric, val_metric; '?' missing */
static nn_status write_data(const char *path, const nn_run *run, const char *metric,
                            nn_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    const nn_history *h = &run->history;
    char val[256];
    snprintf(val, sizeof val, "val_%s", metric ? metric : "");
    int cols[4] = {nn_history_col(h, "loss"), nn_history_col(h, "val_loss"),
                   metric ? nn_history_col(h, metric) : -1,
                   metric ? nn_history_col(h, val) : -1};
    int ep = nn_history_col(h, "epoch");
    fputs("# epoch loss val_loss metric val_metric\n", f);
    for (int r = 0; r < h->n_rows; r++) {
        double e = ep >= 0 ? nn_history_at(h, r, ep) : NAN;
        fprintf(f, "%.17g", isnan(e) ? r + 1 : e + 1);
        for (int k = 0; k < 4; k++) {
            double v = cols[k] >= 0 ? nn_history_at(h, r, cols[k]) : NAN;
            if (isfinite(v))
                fprintf(f, " %.17g", v);
            else
                fputs(" ?", f);
        }
        fputc('\n', f);
    }
    if (fclose(f))
        return nn_fail(err, NN_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    return NN_OK;
}

static bool column_has_data(const nn_run *run, const char *col)
{
    int c = nn_history_col(&run->history, col);
    for (int r = 0; c >= 0 && r < run->history.n_rows; r++)
        if (isfinite(nn_history_at(&run->history, r, c)))
            return true;
    return false;
}

/* One panel: data columns ycol (training) and ycol+1 (validation). */
static void plot_panel(FILE *f, const nn_run *runs, int n, const char *dir, const char *title,
                       const char *train_col, const char *val_col, int ycol)
{
    fputs("set title ", f);
    gp_quote(f, title);
    fputs("\nset ylabel ", f);
    gp_quote(f, train_col);
    fputs("\nplot ", f);
    bool first = true;
    for (int r = 0; r < n; r++) {
        char data[4096];
        snprintf(data, sizeof data, "%s/run%d.dat", dir, r);
        const char *colour = colours[r % N_COLOURS];
        for (int v = 0; v < 2; v++) {
            if (!column_has_data(&runs[r], v ? val_col : train_col))
                continue;
            if (!first)
                fputs(", \\\n     ", f);
            first = false;
            gp_quote(f, data);
            fprintf(f, " using 1:%d with linespoints lw 2 pt 7 ps 0.4 lc rgb '%s' dt %d ",
                    ycol + v, colour, v ? 2 : 1);
            if (v)
                fputs("notitle", f);
            else {
                fputs("title ", f);
                gp_quote(f, runs[r].name);
            }
        }
    }
    fputc('\n', f);
}

static nn_status write_script(const char *path, const char *dir, const nn_run *runs, int n,
                              const char *metric, long long w, long long h, nn_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return nn_fail(err, NN_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    char png[4096];
    snprintf(png, sizeof png, "%s/plot.png", dir);
    fprintf(f,
            "# written by nnctl plot\n"
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
            "  set terminal pngcairo size %lld,%lld noenhanced font ',10'\n"
            "} else {\n"
            "  set terminal png size %lld,%lld noenhanced\n"
            "}\n"
            "set output ",
            w, h, w, h);
    gp_quote(f, png);
    bool two = false;
    char val[256];
    snprintf(val, sizeof val, "val_%s", metric ? metric : "");
    int max_epochs = 0;
    for (int r = 0; r < n; r++) {
        if (metric)
            two |= column_has_data(&runs[r], metric) || column_has_data(&runs[r], val);
        if (runs[r].history.n_rows > max_epochs)
            max_epochs = runs[r].history.n_rows;
    }
    fprintf(f,
            "\nset datafile missing '?'\n"
            "set grid\n"
            "set key outside top center horizontal\n"
            "set xlabel 'epoch'\n"
            "set format x '%%g'\n"
            "%s"
            "set multiplot layout 1,%d title 'solid: training, dashed: validation'\n",
            max_epochs <= 20 ? "set xtics 1\n" : "", two ? 2 : 1);
    plot_panel(f, runs, n, dir, "loss", "loss", "val_loss", 2);
    if (two)
        plot_panel(f, runs, n, dir, metric, metric, val, 4);
    fputs("unset multiplot\nset output\n", f);
    if (fclose(f))
        return nn_fail(err, NN_ERR_RUNTIME, "%s: %s", path, strerror(errno));
    return NN_OK;
}

/* Runs `gnuplot script`, stdout to /dev/null and stderr to errpath. */
static nn_status run_gnuplot(const char *gnuplot, const char *script, const char *errpath,
                             nn_error *err)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa))
        return nn_fail(err, NN_ERR_RUNTIME, "posix_spawn_file_actions_init failed");
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {(char *)"gnuplot", (char *)script, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, gnuplot, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot run %s: %s", gnuplot, strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return nn_fail(err, NN_ERR_RUNTIME, "waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return NN_OK;
    char msg[600] = "";
    FILE *e = fopen(errpath, "r");
    if (e) {
        size_t len = fread(msg, 1, sizeof msg - 1, e);
        msg[len] = '\0';
        fclose(e);
        while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
            msg[--len] = '\0';
    }
    if (WIFEXITED(status))
        return nn_fail(err, NN_ERR_RUNTIME, "gnuplot failed (exit status %d)%s%s",
                       WEXITSTATUS(status), *msg ? ": " : "", msg);
    return nn_fail(err, NN_ERR_RUNTIME, "gnuplot was killed by signal %d", WTERMSIG(status));
}

static nn_status plot(const nn_args *a, const nn_run *runs, int n, nn_error *err)
{
    for (int r = 0; r < n; r++)
        if (runs[r].history.n_rows == 0 || !has_col(&runs[r], "loss"))
            return nn_fail(err, NN_ERR_USAGE, "%s: no history.csv with a loss column to plot",
                           runs[r].path);
    const char *metric;
    nn_status st = pick_metric(runs, n, a->metric, &metric, err);
    if (st)
        return st;
    char gnuplot[4096];
    if (!find_gnuplot(gnuplot, sizeof gnuplot))
        return nn_fail(err, NN_ERR_RUNTIME,
                       "gnuplot not found on PATH: nnctl plot draws with gnuplot; install "
                       "gnuplot-nox (scripts/install-deps)");
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/nnctl-plot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return nn_fail(err, NN_ERR_RUNTIME, "creating a temporary directory %s: %s", dir,
                       strerror(errno));
    char script[4200], errpath[4200], png[4200], path[4200];
    snprintf(script, sizeof script, "%s/plot.gp", dir);
    snprintf(errpath, sizeof errpath, "%s/gnuplot.err", dir);
    snprintf(png, sizeof png, "%s/plot.png", dir);
    for (int r = 0; r < n && !st; r++) {
        snprintf(path, sizeof path, "%s/run%d.dat", dir, r);
        st = write_data(path, &runs[r], metric, err);
    }
    long long w = a->width ? a->width : 1200, h = a->height ? a->height : 500;
    if (!st)
        st = write_script(script, dir, runs, n, metric, w, h, err);
    if (!st)
        st = run_gnuplot(gnuplot, script, errpath, err);
    char *data = NULL;
    size_t len = 0;
    if (!st && (st = nn_read_file(png, &data, &len, err)))
        nn_error_prefix(err, "gnuplot wrote no PNG");
    if (!st && (len < 8 || memcmp(data, "\x89PNG\r\n\x1a\n", 8)))
        st = nn_fail(err, NN_ERR_RUNTIME, "gnuplot's output %s is not a PNG", png);
    if (!st)
        st = nn_write_file_atomic(a->output, data, len, err);
    free(data);
    /* clean up the temporary directory (only the names written above) */
    for (int r = 0; r < n; r++) {
        snprintf(path, sizeof path, "%s/run%d.dat", dir, r);
        unlink(path);
    }
    unlink(script);
    unlink(errpath);
    unlink(png);
    rmdir(dir);
    return st;
}

int nn_cmd_plot(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "plot", "output metric width height", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos < 1) {
        fprintf(stderr, "nnctl plot: expected at least one run directory\n%s", help);
        return 2;
    }
    if (!a.output) {
        fprintf(stderr, "nnctl plot: -o/--output FILE.png is required\n%s", help);
        return 2;
    }
    if (a.width > MAX_PIXELS || a.height > MAX_PIXELS || (a.width && a.width < 16) ||
        (a.height && a.height < 16)) {
        fprintf(stderr, "nnctl plot: --width and --height must be between 16 and %d pixels\n",
                MAX_PIXELS);
        return 2;
    }
    nn_run *runs;
    int n;
    if (nn_runs_load(a.pos, a.n_pos, stderr, &runs, &n, &err))
        return nn_cli_report(&err);
    nn_status st = plot(&a, runs, n, &err);
    nn_runs_free(runs, n);
    if (st)
        return nn_cli_report(&err);
    printf("wrote %s\n", a.output);
    return 0;
}

#define _GNU_SOURCE
/* nnctl sweep SWEEP: checks the search space against the base spec, runs
 * the trials (sweep/scheduler.h), then prints the comparison table and
 * writes the best trial's spec. */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "experiments/rundir.h"
#include "experiments/runs.h"
#include "session/session.h"
#include "spec/spec.h"
#include "sweep/scheduler.h"
#include "sweep/ranks.h"
#include "sweep/sweep.h"
#include "util/fileio.h"

static const char help[] =
    "usage: nnctl sweep SWEEP [-j N] [--run-dir DIR] [options]\n"
    "\n"
    "Runs a hyper-parameter sweep: a base spec plus a search space over any\n"
    "spec keys. Each trial is `nnctl train BASE --set ...` in its own process\n"
    "and its own run directory DIR/trial-NNNN (nnctl compare works on it).\n"
    "At the end prints the comparison table sorted by the objective and copies\n"
    "the best trial's spec.cfg to DIR/best.cfg.\n"
    "\n"
    "SWEEP is a libconfig file:\n"
    "  base = \"configs/mnist_mlp.cfg\";   # relative to the sweep file\n"
    "  strategy = \"grid\";                # grid | random | bayes\n"
    "  objective = \"val_accuracy\";       # a history.csv column (best epoch) or test_<metric>\n"
    "  trials = 20;                      # random and bayes\n"
    "  set = [ \"train.epochs=5\" ];       # fixed overrides\n"
    "  space = ( { key = \"train.optimizer.lr\"; min = 1e-4; max = 0.1; log = true; },\n"
    "            { key = \"train.batch_size\"; values = [64, 128]; } );\n"
    "  seed = 1;\n"
    "See the README (\"Hyper-parameter sweeps\") for every key, including\n"
    "command = \"...\" to run your own trainer per trial.\n"
    "\n"
    "options:\n"
    "  -j, --jobs N          trials at once (default 1); each gets cores/N threads\n"
    "  -o, --run-dir DIR     where to write (default runs/sweep-<sweep file name>)\n"
    "  -t, --threads N       cores to share between the trials (default and 0: all)\n"
    "  -s, --set KEY=VALUE   one more fixed override for every trial\n"
    "  -q, --quiet           no per-trial lines\n"
    "\n"
    "Rerunning the same command resumes: trials with a run.json are kept, the\n"
    "others run again (DIR/sweep.json keeps the proposed trials). Ctrl-C stops\n"
    "the running trials and exits 130. DIR and each running trial's directory\n"
    "are locked: a second sweep into DIR exits 1 naming the holder.\n";

/* Before any trial runs: does the base spec accept the overrides and every
 * value of every parameter (each choice, each end of a range)? A typo is
 * then one error naming the value, not one failed trial per combination.
 * Builds the model (one thread, no data) as nnctl train would. */
static nn_status check_space(const nn_sweep *sw, nn_error *err)
{
    int d = sw->space.n;
    nn_trial probe = {0};
    probe.text = calloc((size_t)d, sizeof *probe.text);
    probe.unit = calloc((size_t)d, sizeof *probe.unit);
    nn_status st = probe.text && probe.unit ? NN_OK : nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    double u;
    for (int i = 0; !st && i < d; i++)
        nn_space_value(&sw->space, i, 0.0, probe.text[i], NN_PARAM_TEXT, &u);
    for (int i = 0; !st && i < d; i++) {
        const nn_sweep_param *p = &sw->space.p[i];
        int n = p->kind == NN_PARAM_CHOICE ? p->n_values : 2;
        char keep[NN_PARAM_TEXT];
        memcpy(keep, probe.text[i], sizeof keep);
        for (int j = 0; !st && j < n; j++) {
            if (p->kind == NN_PARAM_CHOICE)
                memcpy(probe.text[i], p->values[j], sizeof probe.text[i]);
            else
                nn_space_value(&sw->space, i, (double)j, probe.text[i], NN_PARAM_TEXT, &u);
            nn_spec *s;
            if ((st = nn_sweep_trial_spec(sw, &probe, &s, err)))
                break;
            if (!sw->command && nn_spec_has(nn_spec_root(s), "train") &&
                (st = nn_spec_override(s, "train.threads=1", err))) {
                nn_spec_free(s);
                break;
            }
            if (sw->command) {
                nn_spec_free(s);
                continue;
            }
            nn_session ses = {0};
            st = nn_session_build(&ses, s, err); /* takes s over */
            nn_session_free(&ses);
        }
        if (st)
            nn_error_prefix(err, "%s: with %s=%s", sw->path, p->key, probe.text[i]);
        memcpy(probe.text[i], keep, sizeof keep);
    }
    free(probe.text);
    free(probe.unit);
    return st;
}

/* The objective must be something every trial logs: a history.csv column
 * (val_ forms only with validation data) or test_<name> from eval.json
 * (only with data.test); checked on the first trial's spec before any
 * trial runs. Keras 2's "val_acc" becomes "val_accuracy". A custom command
 * reports what it likes. */
static nn_status check_objective(nn_sweep *sw, nn_error *err)
{
    if (sw->command)
        return NN_OK;
    int d = sw->space.n;
    nn_trial probe = {0};
    probe.text = calloc((size_t)d + 1, sizeof *probe.text);
    if (!probe.text)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    double u;
    for (int i = 0; i < d; i++)
        nn_space_value(&sw->space, i, 0.0, probe.text[i], NN_PARAM_TEXT, &u);
    nn_spec *s;
    nn_session ses = {0};
    nn_status st = nn_sweep_trial_spec(sw, &probe, &s, err);
    free(probe.text);
    if (st || (st = nn_session_build(&ses, s, err))) { /* takes s over */
        nn_session_free(&ses);
        return st;
    }
    const nn_data_cfg *data = &ses.data;
    bool val = data->validation.present || data->validation_split > 0.0;
    bool test = data->test.present, is_test = !strncmp(sw->objective, "test_", 5);
    const char *name = is_test ? sw->objective + 5 : sw->objective;
    char names[NN_MAX_LOGGED][NN_LOGGED_NAME], alias[160];
    int n = nn_logged_names(&ses.train, true, names, NN_MAX_LOGGED);
    nn_session_free(&ses);
    bool keras2 = nn_metric_keras2_alias(name, alias, sizeof alias);
    int found = -1;
    for (int i = 0; i < n && found < 0; i++)
        if (!strcmp(names[i], name) || (keras2 && !strcmp(names[i], alias)))
            found = i;
    bool val_name = found >= 0 && !strncmp(names[found], "val_", 4);
    bool column = !is_test && (!strcmp(name, "epoch") || !strcmp(name, "lr") ||
                               !strcmp(name, "time"));
    if (column || (found >= 0 && (is_test ? test && !val_name : val || !val_name))) {
        if (found >= 0)
            snprintf(sw->objective, sizeof sw->objective, "%s%s", is_test ? "test_" : "",
                     names[found]);
        return NN_OK;
    }
    char list[1024] = "";
    size_t o = 0;
    for (int i = 0; i < n && o < sizeof list; i++)
        if (val || strncmp(names[i], "val_", 4))
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "", names[i]);
    for (int i = 0; test && i < n && o < sizeof list; i++)
        if (strncmp(names[i], "val_", 4))
            o += (size_t)snprintf(list + o, sizeof list - o, ", test_%s", names[i]);
    const char *why = found < 0 ? "is not a value the trials log"
                      : is_test ? "needs data.test in the base spec, which has none"
                                : "is logged only with validation data (data.validation or "
                                  "data.validation_split), which the trials have none of";
    return nn_fail(err, NN_ERR_USAGE, "%s: objective \"%s\" %s; they log %s", sw->path,
                   sw->objective, why, list);
}

/* A table row for a failed trial: its effective spec and nothing else. */
static nn_status failed_row(const nn_sweep *sw, const nn_trial *t, const char *run_dir,
                            nn_run *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    char name[64], dir[4200];
    snprintf(name, sizeof name, "trial-%04d FAILED (exit %d)", t->index, t->exit_code);
    nn_sweep_trial_dir(run_dir, t, dir, sizeof dir);
    r->params = r->trainable_params = -1;
    r->epochs = -1;
    r->seconds = NAN;
    r->test_samples = -1;
    if (!(r->name = nn_strdup(name, err)) || !(r->path = nn_strdup(dir, err)))
        return NN_ERR_RUNTIME;
    nn_status st = nn_sweep_trial_spec_text(sw, t, &r->spec_text, err);
    if (!st)
        st = nn_spec_flatten(r->spec_text, name, &r->spec, err);
    if (!st)
        st = nn_flat_layers_by_name(&r->spec, err);
    return st;
}

static nn_status report(const nn_sweep *sw, const nn_trials *ts, const char *run_dir,
                        nn_error *err)
{
    nn_run *runs = calloc((size_t)ts->n + 1, sizeof *runs);
    if (!runs)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int n = 0, best = -1, n_failed = 0;
    nn_status st = NN_OK;
    for (int i = 0; i < ts->n && !st; i++) {
        const nn_trial *t = &ts->t[i];
        char dir[4200];
        nn_sweep_trial_dir(run_dir, t, dir, sizeof dir);
        if (t->status == NN_TRIAL_DONE) {
            if (best < 0 || (sw->maximize ? t->objective > ts->t[best].objective
                                          : t->objective < ts->t[best].objective))
                best = i;
            if (nn_run_dir_is_run(dir))
                st = nn_run_load(dir, &runs[n++], err);
        } else if (t->status == NN_TRIAL_FAILED) {
            n_failed++;
            /* a row when the spec can be rebuilt; the failure was reported */
            nn_error e2 = {0};
            if (failed_row(sw, t, run_dir, &runs[n], &e2) == NN_OK)
                n++;
            else
                nn_run_free(&runs[n]);
        }
    }
    if (st)
        goto done;
    /* the table, sorted by the objective when the table knows it as a
     * column (a history column or test_<metric>); by trial otherwise */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    nn_error terr = {0};
    bool sorted = nn_runs_table(runs, n, sw->objective, sw->maximize, NN_TABLE_TEXT, mem, &terr) ==
                  NN_OK;
    fclose(mem);
    if (!sorted) {
        free(text);
        text = NULL;
        mem = open_memstream(&text, &len);
        if (!mem) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            goto done;
        }
        st = nn_runs_table(runs, n, NULL, false, NN_TABLE_TEXT, mem, err);
        fclose(mem);
    }
    if (!st) {
        putchar('\n');
        fputs(text, stdout);
    }
    free(text);
    if (st)
        goto done;
    if (!sorted) {
        /* the ranking the table could not show */
        printf("\nby %s (%s first):\n", sw->objective, sw->maximize ? "highest" : "lowest");
        int *order = calloc((size_t)ts->n, sizeof *order), m = 0;
        if (order) {
            for (int i = 0; i < ts->n; i++)
                if (ts->t[i].status == NN_TRIAL_DONE)
                    order[m++] = i;
            for (int a = 1; a < m; a++)
                for (int b = a; b > 0; b--) {
                    double x = ts->t[order[b]].objective, y = ts->t[order[b - 1]].objective;
                    if (!(sw->maximize ? x > y : x < y))
                        break;
                    int tmp = order[b];
                    order[b] = order[b - 1];
                    order[b - 1] = tmp;
                }
            for (int a = 0; a < m; a++) {
                const nn_trial *t = &ts->t[order[a]];
                printf("  trial-%04d  %.6g ", t->index, t->objective);
                nn_sweep_print_params(stdout, sw, t);
                putchar('\n');
            }
            free(order);
        }
    }
    if (n_failed)
        printf("\n%d of %d trial%s failed (their logs: %s/trial-NNNN/train.log)\n", n_failed,
               ts->n, ts->n == 1 ? "" : "s", run_dir);
    if (best >= 0) {
        const nn_trial *t = &ts->t[best];
        char src[4400], dst[4400], *spec = NULL;
        size_t sl;
        snprintf(src, sizeof src, "%s/trial-%04d/spec.cfg", run_dir, t->index);
        snprintf(dst, sizeof dst, "%s/best.cfg", run_dir);
        if ((st = nn_read_file(src, &spec, &sl, err)) ||
            (st = nn_write_file_atomic(dst, spec, sl, err))) {
            free(spec);
            goto done;
        }
        free(spec);
        printf("\nbest: trial-%04d, %s = %.6g:", t->index, sw->objective, t->objective);
        nn_sweep_print_params(stdout, sw, t);
        printf("\nits spec.cfg is copied to %s (to train it: nnctl train %s)\n", dst, dst);
    }
done:
    nn_runs_free(runs, n);
    return st;
}

static int count_status(const nn_trials *ts, nn_trial_status s)
{
    int c = 0;
    for (int i = 0; i < ts->n; i++)
        c += ts->t[i].status == s;
    return c;
}

int nn_cmd_sweep(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "sweep", "set run-dir jobs threads quiet", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos != 1) {
        fprintf(stderr, "nnctl sweep: expected one sweep file, got %d arguments\n%s", a.n_pos,
                help);
        return 2;
    }
    /* under mpirun: rank 0 schedules, the other ranks run the trials */
    nn_dist *d = NULL;
    nn_status st = nn_dist_join(&d, &err);
    if (st)
        return nn_cli_report(&err);
    const bool root = nn_dist_is_root(d);
    nn_sweep sw;
    nn_trials ts = {0};
    nn_run_lock lock = {.held = false, .fd = -1};
    int rc = 0;
    if ((st = nn_dist_agree(d, nn_sweep_load(&sw, a.pos[0], &err), &err))) {
        nn_dist_leave(d);
        return nn_cli_report(&err);
    }
    for (int i = 0; i < a.n_sets; i++) {
        if (sw.n_sets == NN_SWEEP_MAX_SETS || !strchr(a.sets[i], '=')) {
            st = nn_fail(&err, NN_ERR_USAGE, "nnctl sweep: --set %s: expected KEY=VALUE",
                         a.sets[i]);
            goto out;
        }
        snprintf(sw.sets[sw.n_sets++], sizeof sw.sets[0], "%s", a.sets[i]);
    }
    if ((st = nn_dist_agree(d, root ? check_space(&sw, &err) : NN_OK, &err)) ||
        (st = nn_dist_agree(d, root ? check_objective(&sw, &err) : NN_OK, &err)))
        goto out;
    char run_dir[4096];
    if (a.run_dir) {
        snprintf(run_dir, sizeof run_dir, "%s", a.run_dir);
    } else {
        const char *b = strrchr(sw.path, '/');
        b = b ? b + 1 : sw.path;
        char name[256];
        snprintf(name, sizeof name, "%s", b);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        snprintf(run_dir, sizeof run_dir, "runs/sweep-%s", name);
    }
    char abs_dir[4096] = "";
    int resumed = 0;
    if (root) {
        bool found;
        /* one sweep per directory: a second one (or a train into it) is
         * refused; rank 0 holds the lock for the job */
        if (!(st = nn_run_lock_take(run_dir, "sweep", &lock, &err))) {
            if (!realpath(run_dir, abs_dir))
                snprintf(abs_dir, sizeof abs_dir, "%s", run_dir);
            if (!(st = nn_sweep_restore(&sw, &ts, run_dir, &found, &err)) && !found)
                st = nn_sweep_initial(&sw, &ts, &err);
        }
        /* what already finished (a resumed sweep) */
        if (!st) {
            resumed = nn_sweep_mark_finished(&sw, &ts, run_dir);
            st = nn_sweep_save(&sw, &ts, run_dir, &err);
        }
    }
    /* the trials run in rank 0's run directory (a shared file system) */
    if ((st = nn_dist_agree(d, st, &err)) ||
        (st = nn_dist_bcast(d, abs_dir, sizeof abs_dir, &err)))
        goto out;

    int total = (int)sw.trials, n_jobs = a.jobs > 0 ? (int)a.jobs : 1;
    if (n_jobs > total)
        n_jobs = total;
    /* the cores this process may use (a rank's share of its host) */
    cpu_set_t mask;
    long avail = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask)
                                                                : sysconf(_SC_NPROCESSORS_ONLN);
    long cores = a.threads > 0 ? (long)a.threads : avail;
    int threads = cores / n_jobs > 1 ? (int)(cores / n_jobs) : 1;
    int ranks = nn_dist_size(d);
    static const char *const strategies[] = {"grid", "random", "bayes"};
    if (!a.quiet && root) {
        if (ranks > 1)
            printf("sweep: %d trial%s (%s, %s %s) on %d ranks, %d at a time each -> %s\n",
                   total, total == 1 ? "" : "s", strategies[sw.strategy],
                   sw.maximize ? "maximize" : "minimize", sw.objective, ranks - 1, n_jobs,
                   run_dir);
        else
            printf("sweep: %d trial%s (%s, %s %s), %d at a time, %d thread%s each -> %s\n",
                   total, total == 1 ? "" : "s", strategies[sw.strategy],
                   sw.maximize ? "maximize" : "minimize", sw.objective, n_jobs, threads,
                   threads == 1 ? "" : "s", run_dir);
        if (resumed)
            printf("resuming: %d trial%s already finished\n", resumed, resumed == 1 ? "" : "s");
        fflush(stdout);
    }
    nn_sweep_sched sched = {.run_dir = run_dir, .abs_dir = abs_dir, .jobs = n_jobs,
                            .threads = threads, .finished = resumed, .quiet = a.quiet};
    int stop_sig = 0;
    if (ranks == 1)
        st = nn_sweep_run(&sw, &ts, &sched, &stop_sig, &err);
    else if (root)
        st = nn_sweep_run_ranks(d, &sw, &ts, &sched, &stop_sig, &err);
    else
        st = nn_sweep_serve(d, &sw, abs_dir, n_jobs, threads, &err);
    /* the other ranks are done; rank 0 reports */
    if (st || !root)
        goto out;
    if (stop_sig) {
        fprintf(stderr,
                "nnctl: sweep interrupted: %d of %d trial%s finished; rerun the same command to "
                "resume\n",
                count_status(&ts, NN_TRIAL_DONE), total, total == 1 ? "" : "s");
        rc = 128 + stop_sig;
        goto out;
    }
    int n_done = count_status(&ts, NN_TRIAL_DONE);
    if (n_done == 0) {
        st = nn_fail(&err, NN_ERR_RUNTIME, "sweep: all %d trials failed (logs: %s/trial-NNNN/"
                                           "train.log)",
                     ts.n, run_dir);
        goto out;
    }
    st = report(&sw, &ts, run_dir, &err);
    if (!st && fflush(stdout))
        st = nn_fail(&err, NN_ERR_RUNTIME, "writing standard output failed");
out:
    if (st)
        rc = nn_cli_report(&err);
    nn_run_lock_release(&lock);
    nn_trials_free(&ts);
    nn_sweep_free(&sw);
    nn_dist_leave(d);
    return rc;
}

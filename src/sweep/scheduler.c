/* nnctl sweep SWEEP: runs the trials of a hyper-parameter sweep as separate
 * processes (nnctl train, or the sweep file's own command), N at a time,
 * then prints the comparison table and writes the best trial's spec. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "experiments/runs.h"
#include "spec/spec.h"
#include "sweep/sweep.h"
#include "session/session.h"
#include "util/fileio.h"

extern char **environ;

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
    "  -t, --threads N       cores to share between the trials (default: all)\n"
    "  -s, --set KEY=VALUE   one more fixed override for every trial\n"
    "  -q, --quiet           no per-trial lines\n"
    "\n"
    "Rerunning the same command resumes: trials with a run.json are kept, the\n"
    "others run again (DIR/sweep.json keeps the proposed trials). Ctrl-C stops\n"
    "the running trials and exits 130.\n";

static volatile sig_atomic_t stop_sig, n_signals;

static void on_signal(int sig)
{
    n_signals++;
    if (!stop_sig)
        stop_sig = sig;
}

typedef struct job {
    pid_t pid;
    int trial; /* index into trials */
    struct timespec start;
} job;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static void trial_dir(const char *dir, const nn_trial *t, char *buf, size_t n)
{
    snprintf(buf, n, "%s/trial-%04d", dir, t->index);
}

static bool file_exists(const char *dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

/* The effective spec of a trial: base (or an empty document) + set + the
 * trial's parameters. */
static nn_status effective_spec_doc(const nn_sweep *sw, const nn_trial *t, nn_spec **out,
                                    nn_error *err)
{
    nn_spec *s = NULL;
    nn_status st = sw->base[0] ? nn_spec_load_file(&s, sw->base, err)
                               : nn_spec_load_string(&s, "", sw->path, err);
    char a[NN_PARAM_TEXT * 2];
    for (int i = 0; !st && i < sw->n_sets; i++)
        st = nn_spec_override(s, sw->sets[i], err);
    for (int i = 0; !st && i < sw->space.n; i++) {
        nn_trial_assignment(sw, t, i, a, sizeof a);
        st = nn_spec_override(s, a, err);
    }
    if (st) {
        nn_spec_free(s);
        s = NULL;
    }
    *out = s;
    return st;
}

/* The same as libconfig text. */
static nn_status effective_spec(const nn_sweep *sw, const nn_trial *t, char **text, nn_error *err)
{
    nn_spec *s;
    nn_status st = effective_spec_doc(sw, t, &s, err);
    if (!st)
        st = nn_spec_to_text(s, text, err);
    nn_spec_free(s);
    return st;
}

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
            if ((st = effective_spec_doc(sw, &probe, &s, err)))
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

/* NNCTL_PARAM_<key>: dots and brackets become one '_' each run. */
static void env_name(const char *key, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "NNCTL_PARAM_");
    bool under = true;
    for (const char *p = key; *p && o + 1 < n; p++) {
        bool sep = *p == '.' || *p == '[' || *p == ']' || *p == '-' || *p == ' ';
        if (sep) {
            if (!under)
                buf[o++] = '_';
            under = true;
        } else {
            buf[o++] = *p;
            under = false;
        }
    }
    while (o > 12 && buf[o - 1] == '_')
        o--;
    buf[o] = '\0';
}

typedef struct spawn_ctx {
    const nn_sweep *sw;
    const char *run_dir; /* absolute */
    int threads;
} spawn_ctx;

static nn_status spawn_trial(const spawn_ctx *c, const nn_trial *t, pid_t *pid, nn_error *err)
{
    const nn_sweep *sw = c->sw;
    char dir[4200], log[4400];
    trial_dir(c->run_dir, t, dir, sizeof dir);
    nn_status st = nn_mkdirs(dir, err);
    if (st)
        return st;
    snprintf(log, sizeof log, "%s/train.log", dir);
    /* a previous, unfinished attempt must not look finished */
    char stale[4400];
    snprintf(stale, sizeof stale, "%s/run.json", dir);
    unlink(stale);

    int n = sw->space.n;
    char **argv = calloc((size_t)(2 * (n + sw->n_sets) + 16), sizeof *argv);
    char (*sets)[NN_PARAM_TEXT * 2] = calloc((size_t)n + 1, sizeof *sets);
    char **envp = NULL;
    char(*envs)[NN_PARAM_TEXT * 2] = calloc((size_t)n + 8, sizeof *envs);
    if (!argv || !sets || !envs) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    char threads[32];
    snprintf(threads, sizeof threads, "%d", c->threads);
    int k = 0;
    const char *path;
    if (sw->command) {
        /* the user's own trainer: parameters in the environment */
        char *text = NULL;
        if (!file_exists(dir, "spec.cfg")) {
            char p[4400];
            snprintf(p, sizeof p, "%s/spec.cfg", dir);
            if ((st = effective_spec(sw, t, &text, err)) ||
                (st = nn_write_file_atomic(p, text, strlen(text), err))) {
                free(text);
                goto done;
            }
            free(text);
        }
        size_t n_env = 0;
        while (environ[n_env])
            n_env++;
        envp = calloc(n_env + (size_t)n + 8, sizeof *envp);
        if (!envp) {
            st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
            goto done;
        }
        int e = 0, m = 0;
        for (int i = 0; i < n; i++) {
            char name[NN_PARAM_TEXT + 16];
            env_name(sw->space.p[i].key, name, sizeof name);
            snprintf(envs[m], sizeof envs[m], "%s=%s", name, t->text[i]);
            envp[e++] = envs[m++];
        }
        snprintf(envs[m], sizeof envs[m], "NNCTL_RUN_DIR=%s", dir);
        envp[e++] = envs[m++];
        snprintf(envs[m], sizeof envs[m], "NNCTL_TRIAL=%d", t->index);
        envp[e++] = envs[m++];
        snprintf(envs[m], sizeof envs[m], "NNCTL_THREADS=%d", c->threads);
        envp[e++] = envs[m++];
        snprintf(envs[m], sizeof envs[m], "NNCTL_SWEEP_DIR=%s", sw->dir);
        envp[e++] = envs[m++];
        for (size_t i = 0; i < n_env; i++)
            if (strncmp(environ[i], "NNCTL_PARAM_", 12) && strncmp(environ[i], "NNCTL_RUN_DIR=", 14))
                envp[e++] = environ[i];
        path = "/bin/sh";
        argv[k++] = "sh";
        argv[k++] = "-c";
        argv[k++] = sw->command;
    } else {
        path = "/proc/self/exe";
        argv[k++] = "nnctl";
        argv[k++] = "train";
        argv[k++] = (char *)sw->base;
        for (int i = 0; i < sw->n_sets; i++) {
            argv[k++] = "--set";
            argv[k++] = (char *)sw->sets[i];
        }
        for (int i = 0; i < n; i++) {
            nn_trial_assignment(sw, t, i, sets[i], sizeof sets[i]);
            argv[k++] = "--set";
            argv[k++] = sets[i];
        }
        argv[k++] = "--run-dir";
        argv[k++] = dir;
        argv[k++] = "--quiet";
        argv[k++] = "--threads";
        argv[k++] = threads;
        /* a trial an interrupted sweep left unfinished continues from its
         * checkpoint (exact resume) instead of starting over */
        char last[4200];
        snprintf(last, sizeof last, "%s/last.h5", dir);
        if (access(last, F_OK) == 0)
            argv[k++] = "--resume";
    }
    argv[k] = NULL;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* its own process group: a terminal's Ctrl-C reaches only the sweep,
     * which then stops each trial once (a second SIGINT would kill a
     * trial before it saves); default signal handling, nothing blocked */
    sigset_t def, none;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn(pid, path, &fa, &at, argv, envp ? envp : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc)
        st = nn_fail(err, NN_ERR_RUNTIME, "cannot start trial %d (%s): %s", t->index, path,
                     strerror(rc));
done:
    free(argv);
    free(sets);
    free(envs);
    free(envp);
    return st;
}

/* The last line of a trial's log that says "error", else its last line. */
static void log_reason(const char *dir, char *buf, size_t n)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/train.log", dir);
    buf[0] = '\0';
    FILE *f = fopen(p, "r");
    if (!f)
        return;
    char line[1024], last[1024] = "";
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line)
            continue;
        if (strstr(line, "error") || !*buf)
            snprintf(buf, n, "%s", line);
        snprintf(last, sizeof last, "%s", line);
    }
    fclose(f);
    if (!strstr(buf, "error"))
        snprintf(buf, n, "%s", last);
}

static void print_params(FILE *out, const nn_sweep *sw, const nn_trial *t)
{
    for (int i = 0; i < sw->space.n; i++)
        fprintf(out, " %s=%s", sw->space.p[i].key, t->text[i]);
}

/* Called when a trial's process ended with wait status ws. */
static void finish_trial(const nn_sweep *sw, const char *run_dir, nn_trial *t, int ws,
                         double seconds, int done, int total, bool quiet)
{
    char dir[4200];
    trial_dir(run_dir, t, dir, sizeof dir);
    t->running = false;
    nn_error err = {0};
    char reason[1100] = "";
    int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (code == 0) {
        double v;
        if (nn_sweep_read_objective(sw, dir, &v, &err) == NN_OK) {
            if (!file_exists(dir, "run.json")) {
                /* a custom command that wrote only history.csv */
                char p[4400], text[128];
                snprintf(p, sizeof p, "%s/run.json", dir);
                snprintf(text, sizeof text, "{\"objective\": %.17g}\n", v);
                if (nn_write_file_atomic(p, text, strlen(text), &err)) {
                    code = 1;
                    snprintf(reason, sizeof reason, "%s", err.msg);
                }
            }
            if (!code) {
                t->status = NN_TRIAL_DONE;
                t->objective = v;
                if (!quiet) {
                    printf("[%d/%d] trial-%04d %s = %.6g (%.1fs)", done, total, t->index,
                           sw->objective, v, seconds);
                    print_params(stdout, sw, t);
                    putchar('\n');
                    fflush(stdout);
                }
                return;
            }
        } else {
            code = 1;
            snprintf(reason, sizeof reason, "%s", err.msg);
        }
    } else {
        log_reason(dir, reason, sizeof reason);
    }
    t->status = NN_TRIAL_FAILED;
    t->exit_code = code;
    printf("[%d/%d] trial-%04d FAILED (exit %d, %.1fs):", done, total, t->index, code, seconds);
    print_params(stdout, sw, t);
    printf("\n    %s (log: %s/train.log)\n", *reason ? reason : "no output", dir);
    fflush(stdout);
}

/* A table row for a failed trial: its effective spec and nothing else. */
static nn_status failed_row(const nn_sweep *sw, const nn_trial *t, const char *run_dir,
                            nn_run *r, nn_error *err)
{
    memset(r, 0, sizeof *r);
    char name[64], dir[4200];
    snprintf(name, sizeof name, "trial-%04d FAILED (exit %d)", t->index, t->exit_code);
    trial_dir(run_dir, t, dir, sizeof dir);
    r->params = r->trainable_params = -1;
    r->epochs = -1;
    r->seconds = NAN;
    r->test_samples = -1;
    if (!(r->name = nn_strdup(name, err)) || !(r->path = nn_strdup(dir, err)))
        return NN_ERR_RUNTIME;
    nn_status st = effective_spec(sw, t, &r->spec_text, err);
    if (!st)
        st = nn_spec_flatten(r->spec_text, name, &r->spec, err);
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
        trial_dir(run_dir, t, dir, sizeof dir);
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
                print_params(stdout, sw, t);
                putchar('\n');
            }
            free(order);
        }
    }
    if (n_failed)
        printf("\n%d of %d trials failed (their logs: %s/trial-NNNN/train.log)\n", n_failed,
               ts->n, run_dir);
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
        print_params(stdout, sw, t);
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
    nn_sweep sw;
    nn_trials ts = {0};
    job *jobs = NULL;
    int rc = 0;
    nn_status st = nn_sweep_load(&sw, a.pos[0], &err);
    if (st)
        return nn_cli_report(&err);
    for (int i = 0; i < a.n_sets; i++) {
        if (sw.n_sets == NN_SWEEP_MAX_SETS || !strchr(a.sets[i], '=')) {
            st = nn_fail(&err, NN_ERR_USAGE, "nnctl sweep: --set %s: expected KEY=VALUE",
                         a.sets[i]);
            goto out;
        }
        snprintf(sw.sets[sw.n_sets++], sizeof sw.sets[0], "%s", a.sets[i]);
    }
    if ((st = check_space(&sw, &err)))
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
    if ((st = nn_mkdirs(run_dir, &err)))
        goto out;
    char abs_dir[4096];
    if (!realpath(run_dir, abs_dir))
        snprintf(abs_dir, sizeof abs_dir, "%s", run_dir);
    bool found;
    if ((st = nn_sweep_restore(&sw, &ts, run_dir, &found, &err)))
        goto out;
    if (!found && (st = nn_sweep_initial(&sw, &ts, &err)))
        goto out;
    /* what already finished (a resumed sweep) */
    int resumed = 0;
    for (int i = 0; i < ts.n; i++) {
        nn_trial *t = &ts.t[i];
        char dir[4200];
        trial_dir(run_dir, t, dir, sizeof dir);
        t->status = NN_TRIAL_PENDING;
        double v;
        nn_error e2 = {0};
        if (file_exists(dir, "run.json") && nn_sweep_read_objective(&sw, dir, &v, &e2) == NN_OK) {
            t->status = NN_TRIAL_DONE;
            t->objective = v;
            resumed++;
        }
    }
    if ((st = nn_sweep_save(&sw, &ts, run_dir, &err)))
        goto out;

    int total = (int)sw.trials, n_jobs = a.jobs > 0 ? (int)a.jobs : 1;
    if (n_jobs > total)
        n_jobs = total;
    long cores = a.threads > 0 ? (long)a.threads : sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores / n_jobs > 1 ? (int)(cores / n_jobs) : 1;
    static const char *const strategies[] = {"grid", "random", "bayes"};
    if (!a.quiet) {
        printf("sweep: %d trials (%s, %s %s), %d at a time, %d thread%s each -> %s\n", total,
               strategies[sw.strategy], sw.maximize ? "maximize" : "minimize", sw.objective,
               n_jobs, threads, threads == 1 ? "" : "s", run_dir);
        if (resumed)
            printf("resuming: %d trial%s already finished\n", resumed, resumed == 1 ? "" : "s");
        fflush(stdout);
    }
    jobs = calloc((size_t)n_jobs, sizeof *jobs);
    if (!jobs) {
        st = nn_fail(&err, NN_ERR_RUNTIME, "out of memory");
        goto out;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    stop_sig = 0;
    n_signals = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    spawn_ctx ctx = {.sw = &sw, .run_dir = abs_dir, .threads = threads};
    int running = 0, cursor = 0, finished = resumed;
    while (!st) {
        /* start trials while there are free slots */
        while (!stop_sig && running < n_jobs) {
            while (cursor < ts.n && ts.t[cursor].status == NN_TRIAL_DONE)
                cursor++;
            if (cursor >= ts.n) {
                if (sw.strategy != NN_SWEEP_BAYES || ts.n >= total)
                    break;
                if ((st = nn_sweep_propose(&sw, &ts, &err)) ||
                    (st = nn_sweep_save(&sw, &ts, run_dir, &err)))
                    break;
            }
            nn_trial *t = &ts.t[cursor];
            int slot = 0;
            while (jobs[slot].pid)
                slot++;
            if ((st = spawn_trial(&ctx, t, &jobs[slot].pid, &err)))
                break;
            t->running = true;
            t->status = NN_TRIAL_PENDING;
            jobs[slot].trial = cursor;
            clock_gettime(CLOCK_MONOTONIC, &jobs[slot].start);
            running++;
            cursor++;
        }
        if (running == 0 || stop_sig)
            break;
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            st = nn_fail(&err, NN_ERR_RUNTIME, "waiting for trials: %s", strerror(errno));
            break;
        }
        for (int s = 0; s < n_jobs; s++)
            if (jobs[s].pid == pid) {
                nn_trial *t = &ts.t[jobs[s].trial];
                finished++;
                finish_trial(&sw, abs_dir, t, ws, since(&jobs[s].start), finished, total,
                             a.quiet);
                jobs[s].pid = 0;
                running--;
                nn_error e2 = {0};
                if (nn_sweep_save(&sw, &ts, run_dir, &e2))
                    fprintf(stderr, "nnctl: warning: %s\n", e2.msg);
            }
    }
    if (stop_sig || st) {
        /* stop the running trials (each saves its last.h5 and exits) and
         * wait for them; a second Ctrl-C kills them */
        for (int s = 0; s < n_jobs; s++)
            if (jobs[s].pid)
                kill(jobs[s].pid, SIGINT);
        bool killed = false;
        while (running > 0) {
            if (n_signals >= 2 && !killed) {
                for (int s = 0; s < n_jobs; s++)
                    if (jobs[s].pid)
                        kill(jobs[s].pid, SIGKILL);
                killed = true;
            }
            int ws;
            pid_t pid = waitpid(-1, &ws, 0);
            if (pid < 0 && errno == EINTR)
                continue;
            if (pid < 0)
                break;
            for (int s = 0; s < n_jobs; s++)
                if (jobs[s].pid == pid) {
                    ts.t[jobs[s].trial].running = false;
                    jobs[s].pid = 0;
                    running--;
                }
        }
        nn_error e2 = {0};
        nn_sweep_save(&sw, &ts, run_dir, &e2);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (st)
        goto out;
    if (stop_sig) {
        fprintf(stderr,
                "nnctl: sweep interrupted: %d of %d trials finished; rerun the same command to "
                "resume\n",
                count_status(&ts, NN_TRIAL_DONE), total);
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
    free(jobs);
    nn_trials_free(&ts);
    nn_sweep_free(&sw);
    return rc;
}

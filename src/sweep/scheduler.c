/* Running a sweep's trials as processes, N at a time (scheduler.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "experiments/rundir.h"
#include "sweep/scheduler.h"
#include "util/fileio.h"

extern char **environ;

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
    nn_run_lock lock; /* the trial directory's, shared with the trial */
} job;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

void nn_sweep_trial_dir(const char *dir, const nn_trial *t, char *buf, size_t n)
{
    snprintf(buf, n, "%s/trial-%04d", dir, t->index);
}

static bool file_exists(const char *dir, const char *name)
{
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

nn_status nn_sweep_trial_spec(const nn_sweep *sw, const nn_trial *t, nn_spec **out,
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

nn_status nn_sweep_trial_spec_text(const nn_sweep *sw, const nn_trial *t, char **text,
                                   nn_error *err)
{
    nn_spec *s;
    nn_status st = nn_sweep_trial_spec(sw, t, &s, err);
    if (!st)
        st = nn_spec_to_text(s, text, err);
    nn_spec_free(s);
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

nn_status nn_sweep_spawn(const nn_sweep *sw, const char *abs_dir, int threads,
                         const char *const *env, const nn_trial *t, pid_t *pid, nn_run_lock *lock,
                         nn_error *err)
{
    char dir[4200], log[4400], what[4400];
    nn_sweep_trial_dir(abs_dir, t, dir, sizeof dir);
    snprintf(what, sizeof what, "sweep (trial-%04d of %s)", t->index, abs_dir);
    nn_status st = nn_run_lock_take(dir, what, lock, err);
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
    char(*envs)[NN_PARAM_TEXT * 2] = calloc((size_t)n + 8 + NN_SWEEP_MAX_ENV, sizeof *envs);
    if (!argv || !sets || !envs) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    char threads_text[32];
    snprintf(threads_text, sizeof threads_text, "%d", threads);
    int k = 0, e = 0, m = 0;
    const char *path;
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    envp = calloc(n_env + (size_t)n + 8 + NN_SWEEP_MAX_ENV, sizeof *envp);
    if (!envp) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if (lock->held) {
        snprintf(envs[m], sizeof envs[m], "%s=%d", NN_RUN_LOCK_FD_ENV, lock->fd);
        envp[e++] = envs[m++];
    }
    for (int i = 0; env && env[i] && i < NN_SWEEP_MAX_ENV; i++) {
        snprintf(envs[m], sizeof envs[m], "%s", env[i]);
        envp[e++] = envs[m++];
    }
    if (sw->command) {
        /* the user's own trainer: parameters in the environment */
        char *text = NULL;
        if (!file_exists(dir, "spec.cfg")) {
            char p[4400];
            snprintf(p, sizeof p, "%s/spec.cfg", dir);
            if ((st = nn_sweep_trial_spec_text(sw, t, &text, err)) ||
                (st = nn_write_file_atomic(p, text, strlen(text), err))) {
                free(text);
                goto done;
            }
            free(text);
        }
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
        snprintf(envs[m], sizeof envs[m], "NNCTL_THREADS=%d", threads);
        envp[e++] = envs[m++];
        snprintf(envs[m], sizeof envs[m], "NNCTL_SWEEP_DIR=%s", sw->dir);
        envp[e++] = envs[m++];
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
        argv[k++] = threads_text;
        /* a trial an interrupted sweep left unfinished continues from its
         * checkpoint (exact resume) instead of starting over */
        char last[4200];
        snprintf(last, sizeof last, "%s/last.h5", dir);
        if (access(last, F_OK) == 0)
            argv[k++] = "--resume";
        else
            argv[k++] = "--overwrite"; /* what a failed attempt left */
    }
    argv[k] = NULL;
    size_t lock_env = strlen(NN_RUN_LOCK_FD_ENV);
    for (size_t i = 0; i < n_env; i++)
        if ((!sw->command || (strncmp(environ[i], "NNCTL_PARAM_", 12) &&
                              strncmp(environ[i], "NNCTL_RUN_DIR=", 14))) &&
            !(strncmp(environ[i], NN_RUN_LOCK_FD_ENV, lock_env) == 0 &&
              environ[i][lock_env] == '='))
            envp[e++] = environ[i];

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* the lock's descriptor stays open in the trial (dup2 onto itself
     * clears close-on-exec) */
    if (lock->held)
        posix_spawn_file_actions_adddup2(&fa, lock->fd, lock->fd);
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
    int rc = posix_spawn(pid, path, &fa, &at, argv, envp);
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
    if (st)
        nn_run_lock_release(lock);
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

void nn_sweep_print_params(FILE *out, const nn_sweep *sw, const nn_trial *t)
{
    for (int i = 0; i < sw->space.n; i++)
        fprintf(out, " %s=%s", sw->space.p[i].key, t->text[i]);
}

void nn_sweep_finish_trial(const nn_sweep *sw, const char *run_dir, nn_trial *t, int ws,
                           double seconds, int done, int total, bool quiet)
{
    char dir[4200];
    nn_sweep_trial_dir(run_dir, t, dir, sizeof dir);
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
                    nn_sweep_print_params(stdout, sw, t);
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
    nn_sweep_print_params(stdout, sw, t);
    printf("\n    %s (log: %s/train.log)\n", *reason ? reason : "no output", dir);
    fflush(stdout);
}

int nn_sweep_mark_finished(const nn_sweep *sw, nn_trials *ts, const char *run_dir)
{
    int done = 0;
    for (int i = 0; i < ts->n; i++) {
        nn_trial *t = &ts->t[i];
        char dir[4200];
        nn_sweep_trial_dir(run_dir, t, dir, sizeof dir);
        t->status = NN_TRIAL_PENDING;
        double v;
        nn_error e2 = {0};
        if (file_exists(dir, "run.json") && nn_sweep_read_objective(sw, dir, &v, &e2) == NN_OK) {
            t->status = NN_TRIAL_DONE;
            t->objective = v;
            done++;
        }
    }
    return done;
}

nn_status nn_sweep_run(const nn_sweep *sw, nn_trials *ts, const nn_sweep_sched *o,
                       int *stop_signal, nn_error *err)
{
    const int total = (int)sw->trials, n_jobs = o->jobs;
    const char *run_dir = o->run_dir;
    *stop_signal = 0;
    job *jobs = calloc((size_t)n_jobs, sizeof *jobs);
    if (!jobs)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    for (int s = 0; s < n_jobs; s++)
        jobs[s].lock = (nn_run_lock){.held = false, .fd = -1};
    nn_status st = NN_OK;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    stop_sig = 0;
    n_signals = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    int running = 0, cursor = 0, finished = o->finished;
    while (!st) {
        /* start trials while there are free slots */
        while (!stop_sig && running < n_jobs) {
            while (cursor < ts->n && ts->t[cursor].status == NN_TRIAL_DONE)
                cursor++;
            if (cursor >= ts->n) {
                if (sw->strategy != NN_SWEEP_BAYES || ts->n >= total)
                    break;
                if ((st = nn_sweep_propose(sw, ts, err)) ||
                    (st = nn_sweep_save(sw, ts, run_dir, err)))
                    break;
            }
            nn_trial *t = &ts->t[cursor];
            int slot = 0;
            while (jobs[slot].pid)
                slot++;
            if ((st = nn_sweep_spawn(sw, o->abs_dir, o->threads, NULL, t, &jobs[slot].pid,
                                     &jobs[slot].lock, err)))
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
            st = nn_fail(err, NN_ERR_RUNTIME, "waiting for trials: %s", strerror(errno));
            break;
        }
        for (int s = 0; s < n_jobs; s++)
            if (jobs[s].pid == pid) {
                nn_trial *t = &ts->t[jobs[s].trial];
                finished++;
                nn_sweep_finish_trial(sw, o->abs_dir, t, ws, since(&jobs[s].start), finished, total,
                             o->quiet);
                nn_run_lock_release(&jobs[s].lock);
                jobs[s].pid = 0;
                running--;
                nn_error e2 = {0};
                if (nn_sweep_save(sw, ts, run_dir, &e2))
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
                    ts->t[jobs[s].trial].running = false;
                    nn_run_lock_release(&jobs[s].lock);
                    jobs[s].pid = 0;
                    running--;
                }
        }
        nn_error e2 = {0};
        nn_sweep_save(sw, ts, run_dir, &e2);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    for (int s = 0; s < n_jobs; s++)
        nn_run_lock_release(&jobs[s].lock);
    free(jobs);
    *stop_signal = stop_sig;
    return st;
}

/* A sweep over the ranks of an MPI job (ranks.h). */
#include "sweep/ranks.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TAG_RUN = 11, TAG_DONE, TAG_BEAT, TAG_STOP, TAG_QUIT };

typedef struct done_msg {
    int32_t index; /* the trial's 1-based index */
    int32_t status; /* wait status */
    double seconds;
} done_msg;

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
    if (!stop_sig)
        stop_sig = sig;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double rank_timeout(void)
{
    const char *v = getenv("NNCTL_RANK_TIMEOUT");
    double s = v ? strtod(v, NULL) : 0.0;
    return s > 0.0 ? s : 10.0;
}

static void install(struct sigaction *old_int, struct sigaction *old_term)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_sig = 0;
    sigaction(SIGINT, &sa, old_int);
    sigaction(SIGTERM, &sa, old_term);
}

/* ---- rank 0 ---- */

typedef struct slot {
    int trial; /* index into ts, -1 when free */
    double start;
} slot;

typedef struct worker {
    bool alive, stopping;
    double last; /* when it was last heard from */
} worker;

static nn_status send_run(nn_dist *d, const nn_sweep *sw, const nn_trial *t, int to,
                          nn_error *err)
{
    size_t bytes = 2 * sizeof(int32_t) + (size_t)sw->space.n * NN_PARAM_TEXT;
    char *buf = calloc(1, bytes);
    if (!buf)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    int32_t head[2] = {t->index, sw->space.n};
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, t->text, (size_t)sw->space.n * NN_PARAM_TEXT);
    nn_status st = nn_dist_send(d, buf, bytes, to, TAG_RUN, err);
    free(buf);
    return st;
}

static int find_trial(const nn_trials *ts, int index)
{
    for (int i = 0; i < ts->n; i++)
        if (ts->t[i].index == index)
            return i;
    return -1;
}

/* the next pending trial nobody runs; bayes proposes one when none is left */
static nn_status next_trial(const nn_sweep *sw, nn_trials *ts, const char *run_dir, int *out,
                            nn_error *err)
{
    *out = -1;
    for (int i = 0; i < ts->n; i++)
        if (ts->t[i].status == NN_TRIAL_PENDING && !ts->t[i].running) {
            *out = i;
            return NN_OK;
        }
    if (sw->strategy != NN_SWEEP_BAYES || ts->n >= (int)sw->trials)
        return NN_OK;
    nn_status st = nn_sweep_propose(sw, ts, err);
    if (!st)
        st = nn_sweep_save(sw, ts, run_dir, err);
    if (!st)
        *out = ts->n - 1;
    return st;
}

nn_status nn_sweep_run_ranks(nn_dist *d, const nn_sweep *sw, nn_trials *ts,
                             const nn_sweep_sched *o, int *stop_signal, nn_error *err)
{
    const int ranks = nn_dist_size(d), jobs = o->jobs, total = (int)sw->trials;
    const double timeout = rank_timeout();
    *stop_signal = 0;
    slot *slots = calloc((size_t)ranks * (size_t)jobs, sizeof *slots);
    worker *w = calloc((size_t)ranks, sizeof *w);
    if (!slots || !w) {
        free(slots);
        free(w);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int i = 0; i < ranks * jobs; i++)
        slots[i].trial = -1;
    for (int r = 1; r < ranks; r++)
        w[r] = (worker){.alive = true, .last = now()};
    struct sigaction old_int, old_term;
    install(&old_int, &old_term);
    nn_status st = NN_OK;
    int finished = o->finished, running = 0, alive = ranks - 1;
    bool stopping = false;
    while (!st) {
        if (stop_sig && !stopping) {
            /* every rank stops its trials (each saves its last.h5) */
            stopping = true;
            int32_t sig = stop_sig;
            for (int r = 1; r < ranks && !st; r++)
                if (w[r].alive)
                    st = nn_dist_send(d, &sig, sizeof sig, r, TAG_STOP, err);
        }
        /* hand out trials to free slots */
        for (int r = 1; r < ranks && !stopping && !st; r++)
            for (int j = 0; j < jobs && w[r].alive && !st; j++) {
                slot *s = &slots[r * jobs + j];
                if (s->trial >= 0)
                    continue;
                int i;
                if ((st = next_trial(sw, ts, o->run_dir, &i, err)) || i < 0)
                    break;
                if ((st = send_run(d, sw, &ts->t[i], r, err)))
                    break;
                ts->t[i].running = true;
                s->trial = i;
                s->start = now();
                running++;
            }
        if (st || running == 0)
            break;
        /* what the ranks say */
        bool heard = false, waiting;
        int src, tag;
        size_t bytes;
        while (!st && !(st = nn_dist_probe(d, -1, -1, &waiting, &src, &tag, &bytes, err)) &&
               waiting) {
            heard = true;
            char msg[64];
            if (bytes > sizeof msg) {
                st = nn_fail(err, NN_ERR_RUNTIME, "sweep: a %zu-byte message from rank %d",
                             bytes, src);
                break;
            }
            if ((st = nn_dist_recv(d, msg, bytes, src, tag, err)))
                break;
            w[src].last = now();
            if (tag != TAG_DONE || !w[src].alive)
                continue;
            done_msg m;
            memcpy(&m, msg, sizeof m);
            int i = find_trial(ts, m.index);
            for (int j = 0; j < jobs && i >= 0; j++) {
                slot *s = &slots[src * jobs + j];
                if (s->trial != i)
                    continue;
                s->trial = -1;
                running--;
                ts->t[i].running = false;
                if (stopping && (!WIFEXITED(m.status) || WEXITSTATUS(m.status))) {
                    /* stopped by us: pending, to resume */
                    ts->t[i].status = NN_TRIAL_PENDING;
                } else {
                    finished++;
                    nn_sweep_finish_trial(sw, o->abs_dir, &ts->t[i], m.status, m.seconds,
                                          finished, total, o->quiet);
                }
                nn_error e2 = {0};
                if (nn_sweep_save(sw, ts, o->run_dir, &e2))
                    fprintf(stderr, "nnctl: warning: %s\n", e2.msg);
                break;
            }
        }
        /* ranks that went silent: their trials run again elsewhere */
        double t = now();
        for (int r = 1; r < ranks && !st; r++) {
            if (!w[r].alive || t - w[r].last < timeout)
                continue;
            w[r].alive = false;
            alive--;
            for (int j = 0; j < jobs; j++) {
                slot *s = &slots[r * jobs + j];
                if (s->trial < 0)
                    continue;
                nn_trial *tr = &ts->t[s->trial];
                tr->running = false;
                tr->status = NN_TRIAL_PENDING;
                printf("rank %d (%s) stopped answering (%.0f s): trial-%04d will run again%s\n",
                       r, nn_dist_host(d, r), timeout, tr->index,
                       alive ? " on another rank" : "");
                fflush(stdout);
                s->trial = -1;
                running--;
            }
        }
        if (!st && alive == 0)
            st = nn_fail(err, NN_ERR_RUNTIME,
                         "sweep: every rank that runs trials has stopped answering");
        if (!heard)
            usleep(20000);
    }
    /* the sweep is over for every rank still there (told whether one
     * died: then nobody waits for it in MPI's finalization) */
    int32_t lost = alive < ranks - 1;
    for (int r = 1; r < ranks; r++)
        if (w[r].alive) {
            nn_error e2 = {0};
            nn_dist_send(d, &lost, sizeof lost, r, TAG_QUIT, &e2);
        }
    if (lost)
        nn_dist_lost(d);
    nn_error e2 = {0};
    nn_sweep_save(sw, ts, o->run_dir, &e2);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    *stop_signal = stop_sig;
    free(slots);
    free(w);
    return st;
}

/* ---- the other ranks ---- */

typedef struct job {
    pid_t pid;
    nn_trial t;
    double start;
    nn_run_lock lock; /* the trial's directory, while it runs */
} job;

nn_status nn_sweep_serve(nn_dist *d, const nn_sweep *sw, const char *abs_dir, int jobs,
                         int threads, nn_error *err)
{
    const int n_params = sw->space.n;
    job *js = calloc((size_t)jobs, sizeof *js);
    char *buf = calloc(1, 2 * sizeof(int32_t) + (size_t)n_params * NN_PARAM_TEXT + 1);
    if (!js || !buf) {
        free(js);
        free(buf);
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    }
    for (int j = 0; j < jobs; j++) {
        js[j].t.text = calloc((size_t)(n_params ? n_params : 1), NN_PARAM_TEXT);
        js[j].lock = (nn_run_lock){.held = false, .fd = -1};
    }
    /* the trials must not take this process for an MPI rank, and go when
     * it goes */
    char parent[64];
    snprintf(parent, sizeof parent, "NNCTL_PARENT_PID=%ld", (long)getpid());
    const char *env[] = {"NNCTL_MPI=none", parent, NULL};
    struct sigaction old_int, old_term;
    install(&old_int, &old_term);
    nn_status st = NN_OK;
    int running = 0;
    bool quit = false, stopped = false;
    double beat = 0.0;
    const int me = nn_dist_rank(d);
    while (!st && !quit) {
        if (stop_sig && !stopped) {
            stopped = true;
            for (int j = 0; j < jobs; j++)
                if (js[j].pid)
                    kill(js[j].pid, SIGINT);
        }
        if (now() - beat >= 1.0) {
            int32_t r = me;
            st = nn_dist_send(d, &r, sizeof r, 0, TAG_BEAT, err);
            beat = now();
        }
        bool waiting;
        int src, tag;
        size_t bytes;
        while (!st && !(st = nn_dist_probe(d, 0, -1, &waiting, &src, &tag, &bytes, err)) &&
               waiting) {
            size_t cap = 2 * sizeof(int32_t) + (size_t)n_params * NN_PARAM_TEXT;
            if (bytes > cap) {
                st = nn_fail(err, NN_ERR_RUNTIME, "sweep: a %zu-byte message from rank 0", bytes);
                break;
            }
            if ((st = nn_dist_recv(d, buf, bytes, 0, tag, err)))
                break;
            if (tag == TAG_QUIT) {
                int32_t lost;
                memcpy(&lost, buf, sizeof lost);
                if (lost)
                    nn_dist_lost(d);
                quit = true;
                break;
            }
            if (tag == TAG_STOP) {
                if (!stop_sig)
                    stop_sig = SIGINT;
                continue;
            }
            if (tag != TAG_RUN)
                continue;
            int j = 0;
            while (j < jobs && js[j].pid)
                j++;
            int32_t head[2];
            memcpy(head, buf, sizeof head);
            done_msg m = {.index = head[0], .status = 1 << 8, .seconds = 0.0};
            if (j == jobs || head[1] != n_params || stopped) {
                /* not runnable here: it goes back as failed to start */
                st = nn_dist_send(d, &m, sizeof m, 0, TAG_DONE, err);
                continue;
            }
            js[j].t.index = head[0];
            js[j].t.status = NN_TRIAL_PENDING;
            memcpy(js[j].t.text, buf + sizeof head, (size_t)n_params * NN_PARAM_TEXT);
            nn_error e2 = {0};
            if (nn_sweep_spawn(sw, abs_dir, threads, env, &js[j].t, &js[j].pid, &js[j].lock,
                               &e2)) {
                fprintf(stderr, "nnctl: rank %d: %s\n", me, e2.msg);
                js[j].pid = 0;
                st = nn_dist_send(d, &m, sizeof m, 0, TAG_DONE, err);
                continue;
            }
            js[j].start = now();
            running++;
        }
        /* trials that ended */
        int ws;
        pid_t pid;
        while (!st && running > 0 && (pid = waitpid(-1, &ws, WNOHANG)) > 0)
            for (int j = 0; j < jobs; j++)
                if (js[j].pid == pid) {
                    done_msg m = {.index = js[j].t.index, .status = ws,
                                  .seconds = now() - js[j].start};
                    js[j].pid = 0;
                    nn_run_lock_release(&js[j].lock);
                    running--;
                    st = nn_dist_send(d, &m, sizeof m, 0, TAG_DONE, err);
                }
        if (!quit)
            usleep(20000);
    }
    /* a failed rank 0 link: the trials go with us */
    for (int j = 0; j < jobs; j++)
        if (js[j].pid) {
            kill(js[j].pid, SIGINT);
            waitpid(js[j].pid, NULL, 0);
            nn_run_lock_release(&js[j].lock);
        }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    for (int j = 0; j < jobs; j++)
        free(js[j].t.text);
    free(js);
    free(buf);
    return st;
}

/* The exec callback: a shell command at chosen points of training, for
 * users who would rather not compile a plugin:
 *   { type = "exec"; on = "epoch_end"; command = "notify-send \"$NNCTL_VAL_LOSS\""; }
 * The command runs through /bin/sh with the logs as environment variables
 * (NNCTL_LOSS, NNCTL_VAL_ACCURACY, ...: the logged name in upper case),
 * NNCTL_EVENT, NNCTL_EPOCH and NNCTL_EPOCHS (from 1, as the progress line
 * counts), NNCTL_BATCH (batch events) and NNCTL_RUN_DIR, and the same as
 * one JSON line on its standard input. Training waits for it. A non-zero
 * exit is a warning, or stops training after this epoch when
 * stop_on_failure = true. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/callbacks/callbacks.h"

extern char **environ;

enum { ON_TRAIN_BEGIN = 1, ON_EPOCH_BEGIN = 2, ON_BATCH_END = 4, ON_EPOCH_END = 8,
       ON_TRAIN_END = 16 };
static const char *const events[] = {"train_begin", "epoch_begin", "batch_end", "epoch_end",
                                     "train_end", NULL};

typedef struct exec_cfg {
    char command[4096];
    int on;          /* ON_* bits */
    bool stop_on_failure;
} exec_cfg;

static nn_status exec_parse(nn_callback *cb, nn_spec_node *g, const nn_train_cfg *t,
                            nn_error *err)
{
    (void)t;
    exec_cfg *x = (exec_cfg *)cb->cfg;
    const char *command;
    nn_status st;
    if (!g)
        return nn_fail(err, NN_ERR_USAGE, "exec callback without settings");
    if ((st = nn_spec_string(g, "command", true, "", &command, err)) ||
        (st = nn_spec_bool(g, "stop_on_failure", false, false, &x->stop_on_failure, err)))
        return st;
    if (!command[0] || strlen(command) >= sizeof x->command)
        return nn_spec_fail(g, "command", err, NN_ERR_USAGE,
                            "expected a shell command of 1 to %zu characters",
                            sizeof x->command - 1);
    snprintf(x->command, sizeof x->command, "%s", command);
    x->on = 0;
    if (nn_spec_has(g, "on") && !nn_spec_is_group(g, "on")) {
        nn_spec_node *list = NULL;
        nn_error scratch;
        if (nn_spec_list(g, "on", true, &list, &scratch) == NN_OK) {
            const char *names[8];
            int n;
            if ((st = nn_spec_string_array(g, "on", true, 8, names, &n, err)))
                return st;
            for (int i = 0; i < n; i++) {
                int k = 0;
                while (events[k] && strcmp(events[k], names[i]))
                    k++;
                if (!events[k])
                    return nn_spec_fail(g, "on", err, NN_ERR_USAGE,
                                        "unknown event \"%s\" (train_begin, epoch_begin, "
                                        "batch_end, epoch_end, train_end)",
                                        names[i]);
                x->on |= 1 << k;
            }
            if (n == 0)
                return nn_spec_fail(g, "on", err, NN_ERR_USAGE, "expected at least one event");
            return NN_OK;
        }
    }
    int which;
    if ((st = nn_spec_choice(g, "on", false, events, 3, &which, err)))
        return st;
    x->on = 1 << which;
    return NN_OK;
}

/* NNCTL_<NAME>: letters and digits upper-cased, anything else '_'. */
static void env_name(const char *name, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "NNCTL_");
    for (const char *p = name; *p && o + 1 < n; p++)
        buf[o++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    buf[o] = '\0';
}

static void json_number_text(char *buf, size_t n, double v)
{
    if (v != v || v - v != 0.0) /* NaN or infinite: JSON has no such numbers */
        snprintf(buf, n, "null");
    else
        snprintf(buf, n, "%.17g", v);
}

/* Runs the command for one event; *failed gets whether it exited non-zero. */
static nn_status run(const exec_cfg *x, const nn_fit_ctx *c, const char *event,
                     const nn_logs *logs, bool with_batch, nn_error *err)
{
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    int n_logs = logs ? logs->n : 0;
    size_t n_vars = (size_t)n_logs + 8;
    char **envp = calloc(n_env + n_vars + 1, sizeof *envp);
    char(*vars)[256] = calloc(n_vars, sizeof *vars);
    char *json = NULL;
    size_t json_len = 0;
    FILE *j = open_memstream(&json, &json_len);
    nn_status st = NN_OK;
    int fds[2] = {-1, -1};
    if (!envp || !vars || !j) {
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    int e = 0, v = 0;
    for (size_t i = 0; i < n_env; i++) /* ours replace inherited NNCTL_ values of the same name */
        if (strncmp(environ[i], "NNCTL_", 6) || !strncmp(environ[i], "NNCTL_DATA=", 11))
            envp[e++] = environ[i];
    snprintf(vars[v], sizeof vars[v], "NNCTL_EVENT=%s", event);
    envp[e++] = vars[v++];
    snprintf(vars[v], sizeof vars[v], "NNCTL_EPOCH=%lld", c->epoch + 1);
    envp[e++] = vars[v++];
    snprintf(vars[v], sizeof vars[v], "NNCTL_EPOCHS=%lld", c->epochs);
    envp[e++] = vars[v++];
    if (with_batch) {
        snprintf(vars[v], sizeof vars[v], "NNCTL_BATCH=%lld", c->step + 1);
        envp[e++] = vars[v++];
    }
    snprintf(vars[v], sizeof vars[v], "NNCTL_RUN_DIR=%s", c->run_dir);
    envp[e++] = vars[v++];
    fprintf(j, "{\"event\": \"%s\", \"epoch\": %lld, \"epochs\": %lld", event, c->epoch + 1,
            c->epochs);
    if (with_batch)
        fprintf(j, ", \"batch\": %lld", c->step + 1);
    fprintf(j, ", \"logs\": {");
    for (int i = 0; i < n_logs; i++) {
        char name[200], num[40];
        env_name(logs->names[i], name, sizeof name);
        json_number_text(num, sizeof num, logs->values[i]);
        snprintf(vars[v], sizeof vars[v], "%s=%.17g", name, logs->values[i]);
        envp[e++] = vars[v++];
        /* log names are identifiers (layer names and metric names) */
        fprintf(j, "%s\"%s\": %s", i ? ", " : "", logs->names[i], num);
    }
    fprintf(j, "}}\n");
    if (fclose(j)) {
        j = NULL;
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    j = NULL;
    if (pipe(fds)) {
        st = nn_fail(err, NN_ERR_RUNTIME, "exec callback: pipe: %s", strerror(errno));
        goto done;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    char *argv[] = {"sh", "-c", (char *)x->command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    fds[0] = -1;
    if (rc) {
        st = nn_fail(err, NN_ERR_RUNTIME, "exec callback: cannot start /bin/sh: %s",
                     strerror(rc));
        goto done;
    }
    /* the line fits the pipe's buffer: writing never waits on a command
     * that does not read it, and one that exits first is no error */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old);
    ssize_t wr = write(fds[1], json, json_len);
    (void)wr;
    close(fds[1]);
    fds[1] = -1;
    sigaction(SIGPIPE, &old, NULL);
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR) {
            st = nn_fail(err, NN_ERR_RUNTIME, "exec callback: waiting: %s", strerror(errno));
            goto done;
        }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        nn_fit_ctx *mc = (nn_fit_ctx *)c;
        if (x->stop_on_failure) {
            fprintf(stderr, "nnctl: exec callback (%s) exited with %d: stopping training\n",
                    event, code);
            mc->stop_training = true;
        } else {
            fprintf(stderr, "nnctl: warning: exec callback (%s) exited with %d\n", event, code);
        }
    }
done:
    if (j)
        fclose(j);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    free(json);
    free(envp);
    free(vars);
    return st;
}

static nn_status exec_train_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const exec_cfg *x = (const exec_cfg *)cb->cfg;
    return x->on & ON_TRAIN_BEGIN ? run(x, c, "train_begin", NULL, false, err) : NN_OK;
}

static nn_status exec_epoch_begin(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const exec_cfg *x = (const exec_cfg *)cb->cfg;
    return x->on & ON_EPOCH_BEGIN ? run(x, c, "epoch_begin", NULL, false, err) : NN_OK;
}

static bool exec_wants_batch(const nn_callback *cb, const nn_fit_ctx *c)
{
    (void)c;
    return ((const exec_cfg *)cb->cfg)->on & ON_BATCH_END;
}

static nn_status exec_batch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *running,
                                nn_error *err)
{
    const exec_cfg *x = (const exec_cfg *)cb->cfg;
    return x->on & ON_BATCH_END ? run(x, c, "batch_end", running, true, err) : NN_OK;
}

static nn_status exec_epoch_end(nn_callback *cb, nn_fit_ctx *c, const nn_logs *logs,
                                nn_error *err)
{
    const exec_cfg *x = (const exec_cfg *)cb->cfg;
    return x->on & ON_EPOCH_END ? run(x, c, "epoch_end", logs, false, err) : NN_OK;
}

static nn_status exec_train_end(nn_callback *cb, nn_fit_ctx *c, nn_error *err)
{
    const exec_cfg *x = (const exec_cfg *)cb->cfg;
    return x->on & ON_TRAIN_END && !c->failed ? run(x, c, "train_end", NULL, false, err)
                                              : NN_OK;
}

static const nn_doc_key exec_keys[] = {
    {"command", "string", "(required)", "run through /bin/sh, logs in NNCTL_* variables and as "
                                        "one JSON line on standard input"},
    {"on", "string or list", "\"epoch_end\"",
     "train_begin, epoch_begin, batch_end, epoch_end, train_end"},
    {"stop_on_failure", "bool", "false", "a non-zero exit stops training after this epoch"},
    {NULL, NULL, NULL, NULL},
};

const nn_callback_type nn_callback_exec = {
    .root_only = true,
    .name = "exec",
    .doc = "runs a shell command with the logs (no plugin to compile)",
    .keys = exec_keys,
    .cfg_size = sizeof(exec_cfg),
    .parse = exec_parse,
    .train_begin = exec_train_begin,
    .epoch_begin = exec_epoch_begin,
    .wants_batch = exec_wants_batch,
    .batch_end = exec_batch_end,
    .epoch_end = exec_epoch_end,
    .train_end = exec_train_end,
};

/* Unit tests for src/experiments/rundir.c (run-directory locks between
 * processes, default numbering, a run's files) and resume_spec.c (what a
 * resume may change). The lock tests fork: the other process is a real
 * one, and its pid is the one the refusal must name. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tmpfiles.h"

#include "experiments/resume_spec.h"
#include "experiments/rundir.h"

static void touch(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *path) { assert_true(mkdir(path, 0755) == 0 || errno == EEXIST); }

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* In a child process: nn_run_lock_take(dir); exit 0 when taken, 1 when
 * refused with a message that names `holder` (pid text), 2 otherwise. */
static int child_try_lock(const char *dir, const char *holder)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nn_run_lock l;
        nn_error err = {0};
        nn_status st = nn_run_lock_take(dir, "test", &l, &err);
        if (!st)
            _exit(l.held ? 0 : 2);
        _exit(holder && strstr(err.msg, holder) && strstr(err.msg, "is in use") ? 1 : 2);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    return WEXITSTATUS(ws);
}

static void test_lock_excludes_other_processes(void **state)
{
    (void)state;
    const char *dir = tpath("locked");
    nn_run_lock l;
    nn_error err = {0};
    assert_int_equal(nn_run_lock_take(dir, "train", &l, &err), NN_OK);
    assert_true(l.held);
    /* the refusal names this process and this host */
    char me[400], host[256] = "";
    gethostname(host, sizeof host - 1);
    snprintf(me, sizeof me, "pid %ld on host %s, since ", (long)getpid(), host);
    assert_int_equal(child_try_lock(dir, me), 1);
    /* util-linux's flock(1) sees the same lock: it is a real flock */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "flock -n '%s/%s' true 2>/dev/null", dir, NN_RUN_LOCK_FILE);
    if (system("command -v flock >/dev/null 2>&1") == 0)
        assert_int_not_equal(system(cmd), 0);
    nn_run_lock_release(&l);
    assert_false(l.held);
    assert_int_equal(child_try_lock(dir, NULL), 0);
}

static void test_lock_freed_when_holder_is_killed(void **state)
{
    (void)state;
    const char *dir = tpath("killed");
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        nn_run_lock l;
        nn_error err = {0};
        if (nn_run_lock_take(dir, "train", &l, &err) || !l.held)
            _exit(2);
        if (write(ready[1], "x", 1) != 1)
            _exit(2);
        for (;;)
            pause();
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    char who[64];
    snprintf(who, sizeof who, "pid %ld on host", (long)pid);
    assert_int_equal(child_try_lock(dir, who), 1);
    kill(pid, SIGKILL);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_int_equal(child_try_lock(dir, NULL), 0);
    close(ready[0]);
    close(ready[1]);
}

/* A parent that holds the lock passes it down (nnctl sweep to its
 * trials); anyone else is still refused. */
static void test_lock_shared_with_child_through_env(void **state)
{
    (void)state;
    const char *dir = tpath("shared");
    nn_run_lock l;
    nn_error err = {0};
    assert_int_equal(nn_run_lock_take(dir, "sweep", &l, &err), NN_OK);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", l.fd);
    setenv(NN_RUN_LOCK_FD_ENV, fd, 1);
    assert_int_equal(child_try_lock(dir, NULL), 0);
    /* the descriptor must be this lock file's: another directory's is no pass */
    const char *other = tpath("shared-other");
    nn_run_lock l2;
    assert_int_equal(nn_run_lock_take(other, "sweep", &l2, &err), NN_OK);
    snprintf(fd, sizeof fd, "%d", l2.fd);
    setenv(NN_RUN_LOCK_FD_ENV, fd, 1);
    char me[64];
    snprintf(me, sizeof me, "pid %ld", (long)getpid());
    assert_int_equal(child_try_lock(dir, me), 1);
    unsetenv(NN_RUN_LOCK_FD_ENV);
    assert_int_equal(child_try_lock(dir, me), 1);
    nn_run_lock_release(&l);
    nn_run_lock_release(&l2);
}

static void test_default_numbering(void **state)
{
    (void)state;
    make_dir(tpath("runs"));
    char base[512];
    snprintf(base, sizeof base, "%s", tpath("runs/m"));
    char dir[1024], want[1024];
    nn_run_lock l;
    nn_error err = {0};
    assert_int_equal(nn_run_dir_claim_new(base, dir, sizeof dir, "train", &l, &err), NN_OK);
    assert_string_equal(dir, base);
    assert_true(l.held);
    /* no run in it yet: a second claim (another process) passes it by
     * because it is locked */
    nn_run_lock l2;
    assert_int_equal(nn_run_dir_claim_new(base, dir, sizeof dir, "train", &l2, &err), NN_OK);
    snprintf(want, sizeof want, "%s-2", base);
    assert_string_equal(dir, want);
    nn_run_lock_release(&l2);
    /* the first one finishes: it holds a run now */
    snprintf(want, sizeof want, "%s/history.csv", base);
    touch(want, "epoch,loss\n0,1.0\n");
    nn_run_lock_release(&l);
    /* m-2 holds no run and is free: it is the next */
    assert_int_equal(nn_run_dir_claim_new(base, dir, sizeof dir, "train", &l, &err), NN_OK);
    snprintf(want, sizeof want, "%s-2", base);
    assert_string_equal(dir, want);
    snprintf(want, sizeof want, "%s-2/run.json", base);
    touch(want, "{}\n");
    nn_run_lock_release(&l);
    /* one more than the highest number, even past a gap; a file by the
     * next name is passed by */
    snprintf(want, sizeof want, "%s-7", base);
    make_dir(want);
    snprintf(want, sizeof want, "%s-7/model.h5", base);
    touch(want, "x");
    snprintf(want, sizeof want, "%s-8", base);
    touch(want, "not a directory");
    assert_int_equal(nn_run_dir_claim_new(base, dir, sizeof dir, "train", &l, &err), NN_OK);
    snprintf(want, sizeof want, "%s-9", base);
    assert_string_equal(dir, want);
    nn_run_lock_release(&l);
    /* another series sharing the prefix is not counted */
    const char *other = tpath("runs/m-x");
    make_dir(other);
    char other_base[1024];
    snprintf(other_base, sizeof other_base, "%s", tpath("runs/mm"));
    assert_int_equal(nn_run_dir_claim_new(other_base, dir, sizeof dir, "train", &l, &err), NN_OK);
    assert_string_equal(dir, other_base);
    nn_run_lock_release(&l);
}

static void test_latest_with_file(void **state)
{
    (void)state;
    make_dir(tpath("lat"));
    make_dir(tpath("lat/r"));
    make_dir(tpath("lat/r-2"));
    make_dir(tpath("lat/r-3"));
    make_dir(tpath("lat/r-4"));
    touch(tpath("lat/r/last.h5"), "x");
    touch(tpath("lat/r-3/last.h5"), "x");
    char dir[1024];
    nn_error err = {0};
    assert_int_equal(nn_run_dir_latest(tpath("lat/r"), "last.h5", dir, sizeof dir, &err), NN_OK);
    assert_string_equal(dir, tpath("lat/r-3"));
    assert_int_equal(nn_run_dir_latest(tpath("lat/q"), "last.h5", dir, sizeof dir, &err),
                     NN_ERR_USAGE);
    assert_msg_contains(err, "no run to resume");
}

static void test_holds_run(void **state)
{
    (void)state;
    char d[512];
    snprintf(d, sizeof d, "%s", tpath("holds"));
    make_dir(d);
    assert_false(nn_run_dir_holds_run(d));
    touch(tpath("holds/notes.txt"), "mine\n");
    touch(tpath("holds/train.log"), "a sweep's log\n");
    assert_false(nn_run_dir_holds_run(d));
    /* spec.cfg alone: a run that died before doing anything */
    touch(tpath("holds/spec.cfg"),
          "train = { callbacks = { history = { path = \"h.csv\"; }; tensorboard = { log_dir = "
          "\"logs\"; }; }; };\n");
    assert_false(nn_run_dir_holds_run(d));
    /* the history where this run's spec put it */
    touch(tpath("holds/h.csv"), "epoch,loss\n");
    assert_true(nn_run_dir_holds_run(d));
    remove(tpath("holds/h.csv"));
    make_dir(tpath("holds/logs"));
    make_dir(tpath("holds/logs/train"));
    touch(tpath("holds/logs/train/events.out.tfevents.1.host.2.v2"), "x");
    assert_true(nn_run_dir_holds_run(d));
    remove(tpath("holds/logs/train/events.out.tfevents.1.host.2.v2"));
    touch(tpath("holds/ckpt-03.h5"), "x");
    assert_true(nn_run_dir_holds_run(d));
    remove(tpath("holds/ckpt-03.h5"));
    /* callbacks as a list of typed groups: a second checkpoint callback's
     * files count too */
    touch(tpath("holds/spec.cfg"),
          "train = { callbacks = ( { type = \"checkpoint\"; path = \"a-{epoch}.h5\"; },\n"
          "  { type = \"checkpoint\"; path = \"b-{epoch}.h5\"; },\n"
          "  { type = \"history\"; path = \"log.csv\"; } ); };\n");
    touch(tpath("holds/b-7.h5"), "x");
    assert_true(nn_run_dir_holds_run(d));
    remove(tpath("holds/b-7.h5"));
    touch(tpath("holds/log.csv"), "epoch,loss\n");
    assert_true(nn_run_dir_holds_run(d));
    remove(tpath("holds/log.csv"));
    assert_false(nn_run_dir_holds_run(d));
    /* a model file of the user's own is not a run */
    touch(tpath("holds/pretrained.h5"), "x");
    assert_false(nn_run_dir_holds_run(d));
}

/* --overwrite: listed files go unless a new run wrote over their name;
 * others' files stay. */
static void test_files_remove_only_old_run(void **state)
{
    (void)state;
    char d[512];
    snprintf(d, sizeof d, "%s", tpath("ow"));
    make_dir(d);
    touch(tpath("ow/spec.cfg"),
          "train = { callbacks = { checkpoint = { path = \"ck/e{epoch:02d}-{val_loss:.2f}.h5\"; "
          "}; }; };\n");
    touch(tpath("ow/history.csv"), "old\n");
    touch(tpath("ow/model.h5"), "old");
    touch(tpath("ow/last.h5"), "old");
    touch(tpath("ow/run.json"), "{}");
    touch(tpath("ow/eval.json"), "{}");
    touch(tpath("ow/init.h5"), "weights the new run starts from");
    touch(tpath("ow/notes.txt"), "mine");
    make_dir(tpath("ow/ck"));
    touch(tpath("ow/ck/e01-0.50.h5"), "old");
    touch(tpath("ow/ck/e02-0.40.h5"), "old");
    touch(tpath("ow/ck/readme"), "mine");
    make_dir(tpath("ow/tb"));
    make_dir(tpath("ow/tb/train"));
    touch(tpath("ow/tb/train/events.out.tfevents.1.h.1.v2"), "old");
    nn_run_files f;
    nn_error err = {0};
    assert_int_equal(nn_run_files_list(d, &f, &err), NN_OK);
    nn_run_files_keep(&f, tpath("ow/init.h5"));
    /* the new run writes history.csv, last.h5 and spec.cfg (rename over
     * the name: a new file) and its own event file */
    touch(tpath("ow/new.tmp"), "new");
    rename(tpath("ow/new.tmp"), tpath("ow/history.csv"));
    touch(tpath("ow/new.tmp"), "new");
    rename(tpath("ow/new.tmp"), tpath("ow/last.h5"));
    touch(tpath("ow/new.tmp"), "new spec");
    rename(tpath("ow/new.tmp"), tpath("ow/spec.cfg"));
    touch(tpath("ow/tb/train/events.out.tfevents.2.h.2.v2"), "new");
    assert_int_equal(nn_run_files_remove(&f), 6);
    nn_run_files_free(&f);
    assert_true(exists(tpath("ow/history.csv")));
    assert_true(exists(tpath("ow/last.h5")));
    assert_true(exists(tpath("ow/spec.cfg")));
    assert_true(exists(tpath("ow/tb/train/events.out.tfevents.2.h.2.v2")));
    assert_false(exists(tpath("ow/tb/train/events.out.tfevents.1.h.1.v2")));
    assert_false(exists(tpath("ow/model.h5")));
    assert_false(exists(tpath("ow/run.json")));
    assert_false(exists(tpath("ow/eval.json")));
    assert_false(exists(tpath("ow/ck/e01-0.50.h5")));
    assert_false(exists(tpath("ow/ck/e02-0.40.h5")));
    assert_true(exists(tpath("ow/ck/readme")));
    assert_true(exists(tpath("ow/init.h5")));
    assert_true(exists(tpath("ow/notes.txt")));
}

/* ---- resume_spec ---------------------------------------------------------- */

/* A small spec: the first layer's width, the dropout rate, the
 * optimizer, the batch size, and more keys for data and train. */
#define SPEC(UNITS, RATE, OPT, BATCH, DATA, TRAIN)                                               \
    "model = { input = { shape = [784]; }; layers = ( { type = \"dense\"; units = " UNITS       \
    "; }, { type = \"dropout\"; rate = " RATE "; }, { type = \"dense\"; units = 10; } ); };\n" \
    "data = { train = { images = \"a.gz\"; }; " DATA " };\n"                                    \
    "train = { optimizer = " OPT "; batch_size = " BATCH "; epochs = 2; " TRAIN " };\n"
#define ADAM "{ type = \"adam\"; lr = 0.001; }"

static void test_resume_changes_listed(void **state)
{
    (void)state;
    const char *a = SPEC("128", "0.2", ADAM, "32", "", "seed = 1;");
    const char *b = SPEC("128", "0.5", "{ type = \"adam\"; lr = 0.1; }", "64", "", "seed = 1;");
    nn_spec_changes c;
    nn_error err = {0};
    assert_int_equal(nn_resume_spec_changes(a, b, "last.h5", false, &c, &err), NN_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.v[0].key, "model.layers.[1].rate");
    assert_string_equal(c.v[0].from, "0.2");
    assert_string_equal(c.v[0].to, "0.5");
    assert_string_equal(c.v[1].key, "train.optimizer.lr");
    assert_string_equal(c.v[1].from, "0.001");
    assert_string_equal(c.v[1].to, "0.1");
    assert_string_equal(c.v[2].key, "train.batch_size");
    nn_spec_changes_free(&c);
    /* the same spec: nothing */
    assert_int_equal(nn_resume_spec_changes(a, a, "last.h5", true, &c, &err), NN_OK);
    assert_int_equal(c.n, 0);
    /* "adam" and { type = "adam"; } are one optimizer; learning_rate is lr */
    const char *s1 = SPEC("128", "0.2", "\"adam\"", "32", "", "");
    const char *s2 = SPEC("128", "0.2", "{ type = \"adam\"; learning_rate = 0.01; }", "32", "", "");
    assert_int_equal(nn_resume_spec_changes(s1, s2, "last.h5", false, &c, &err), NN_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].key, "train.optimizer.lr");
    assert_string_equal(c.v[0].from, "(unset)");
    assert_string_equal(c.v[0].to, "0.01");
    nn_spec_changes_free(&c);
}

static void expect_refused(const char *a, const char *b, bool mid_epoch, const char *key)
{
    nn_spec_changes c;
    nn_error err = {0};
    assert_int_equal(nn_resume_spec_changes(a, b, "ck.h5", mid_epoch, &c, &err), NN_ERR_USAGE);
    assert_msg_contains(err, key);
    assert_msg_contains(err, "ck.h5");
    assert_int_equal(c.n, 0);
}

static void test_resume_changes_refused(void **state)
{
    (void)state;
    const char *base = SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;", "seed = 1;");
    expect_refused(base, SPEC("64", "0.2", ADAM, "32", "train_subset = 1000;", "seed = 1;"), false,
                   "model.layers.[0].units changed (128 -> 64)");
    expect_refused(base,
                   SPEC("128", "0.2", "{ type = \"sgd\"; lr = 0.001; }", "32",
                        "train_subset = 1000;", "seed = 1;"),
                   false, "train.optimizer.type changed (adam -> sgd)");
    expect_refused(base, SPEC("128", "0.2", "\"rmsprop\"", "32", "train_subset = 1000;", "seed = 1;"),
                   false, "train.optimizer.type");
    expect_refused(base,
                   SPEC("128", "0.2", "{ type = \"adam\"; lr = 0.001; amsgrad = true; }", "32",
                        "train_subset = 1000;", "seed = 1;"),
                   false, "train.optimizer.amsgrad");
    /* part-way through an epoch the batch size is fixed; at its end not */
    const char *b64 = SPEC("128", "0.2", ADAM, "64", "train_subset = 1000;", "seed = 1;");
    expect_refused(base, b64, true, "train.batch_size changed (32 -> 64)");
    nn_spec_changes c;
    nn_error err = {0};
    assert_int_equal(nn_resume_spec_changes(base, b64, "ck.h5", false, &c, &err), NN_OK);
    assert_int_equal(c.n, 1);
    nn_spec_changes_free(&c);
    /* a monitor, in the keyed form or as a list of typed callbacks */
    const char *es = SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;",
                          "seed = 1; callbacks = { early_stopping = { monitor = \"val_loss\"; "
                          "patience = 2; }; };");
    const char *es_list = SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;",
                               "seed = 1; callbacks = ( { type = \"history\"; }, { type = "
                               "\"early_stopping\"; monitor = \"val_loss\"; patience = 3; } );");
    assert_int_equal(nn_resume_spec_changes(es, es_list, "ck.h5", false, &c, &err), NN_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0].key, "train.callbacks.early_stopping.patience");
    nn_spec_changes_free(&c);
    expect_refused(es,
                   SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;",
                        "seed = 1; callbacks = ( { type = \"early_stopping\"; monitor = "
                        "\"val_accuracy\"; patience = 2; } );"),
                   false, "train.callbacks.early_stopping.monitor changed (val_loss -> val_accuracy)");
    /* the training data's shape, the seed, the metrics */
    expect_refused(base, SPEC("128", "0.2", ADAM, "32", "train_subset = 500;", "seed = 1;"), false,
                   "data.train_subset changed (1000 -> 500)");
    expect_refused(base, SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;", "seed = 2;"), false,
                   "train.seed");
    expect_refused(base,
                   SPEC("128", "0.2", ADAM, "32", "train_subset = 1000;",
                        "seed = 1; metrics = [\"accuracy\"];"),
                   false, "train.metrics changed ((unset) -> [");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lock_excludes_other_processes),
        cmocka_unit_test(test_lock_freed_when_holder_is_killed),
        cmocka_unit_test(test_lock_shared_with_child_through_env),
        cmocka_unit_test(test_default_numbering),
        cmocka_unit_test(test_latest_with_file),
        cmocka_unit_test(test_holds_run),
        cmocka_unit_test(test_files_remove_only_old_run),
        cmocka_unit_test(test_resume_changes_listed),
        cmocka_unit_test(test_resume_changes_refused),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

/* nnctl train SPEC */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eval_report.h"
#include "dist/dist.h"
#include "experiments/resume_spec.h"
#include "experiments/rundir.h"
#include "util/json.h"
#include "model/precision.h"
#include "session/session.h"
#include "train/interrupt.h"
#include "util/fileio.h"
#include "util/memory.h"

static const char help[] =
    "usage: nnctl train SPEC [options]\n"
    "\n"
    "Trains the model that SPEC (a libconfig file: model, data, train) describes.\n"
    "Writes RUN_DIR/history.csv, checkpoints and RUN_DIR/model.h5; evaluates on\n"
    "data.test when the spec has one (RUN_DIR/eval.json).\n"
    "\n"
    "options:\n"
    "  -s, --set KEY=VALUE   override a spec key (repeatable), e.g.\n"
    "                        --set train.optimizer.lr=0.01 --set model.layers.[1].rate=0.3\n"
    "  -o, --run-dir DIR     where to write (default: runs/<model name>, then\n"
    "                        runs/<model name>-2, -3, ...: a new directory per run)\n"
    "      --overwrite       replace the run DIR holds (its files go once the new\n"
    "                        run's first checkpoint is written); without it a\n"
    "                        DIR that holds a run is refused\n"
    "  -t, --threads N       threads (default and 0: all cores; same as --set\n"
    "                        train.threads=N)\n"
    "      --engine cpu|gpu  compute engine (same as --set train.engine=...)\n"
    "      --precision P     float32, mixed_bfloat16, mixed_float16 (GPU) or auto\n"
    "                        (same as --set train.precision=P; auto times both on\n"
    "                        the first batch and keeps the faster)\n"
    "      --device N        the GPU for --engine gpu (default 0)\n"
    "      --resume [FILE]   continue an interrupted run from FILE (default\n"
    "                        RUN_DIR/last.h5, written after every epoch and on Ctrl-C;\n"
    "                        RUN_DIR: --run-dir, FILE's folder, or the newest\n"
    "                        runs/<model name>[-N] with a last.h5); prints the spec\n"
    "                        keys that changed, refuses ones the state cannot take\n"
    "  -q, --quiet           no progress output\n"
    "      --json            print a JSON summary on stdout (progress goes to stderr)\n"
    "\n"
    "A run directory is locked while a process writes into it: a second train,\n"
    "resume or sweep into it exits 1 naming the holder's pid and host.\n"
    "Ctrl-C (or SIGTERM) stops after the current batch and saves RUN_DIR/last.h5\n"
    "(exit 130, or 143); a second Ctrl-C stops at once. A resumed run gives the\n"
    "same weights and history as one never interrupted (same seed and threads).\n"
    "Data paths: ./x.npy and ../x.npy start at the spec's folder; a bare name\n"
    "(mnist/...) is looked up in each folder of $NNCTL_DATA, the spec's folder,\n"
    "the current directory, the checkout's datasets/, then\n"
    "~/.local/share/nnctl/datasets (man nnctl, ENVIRONMENT).\n"
    "\n"
    "Under mpirun (mpiexec, srun --mpi=pmix) with several processes, each takes\n"
    "its share of every batch of train.batch_size samples and the gradients are\n"
    "summed (data-parallel training); rank 0 alone prints and writes RUN_DIR.\n"
    "--resume works with another process count. See docs/distributed.md.\n";

static json_t *logs_json(const nn_logs *l)
{
    json_t *o = json_object();
    for (int i = 0; i < l->n; i++)
        json_object_set_new(o, l->names[i], nn_json_number(l->values[i]));
    return o;
}

/* --overwrite of a directory holding a run: its files (listed before the
 * new run starts) and the new spec.cfg wait for the first checkpoint. */
typedef struct overwrite_ctx {
    nn_run_files old;
    const char *run_dir, *spec_text;
    FILE *out;
    bool quiet, done;
} overwrite_ctx;

static nn_status write_spec(const char *run_dir, const char *spec_text, nn_error *err)
{
    /* the effective spec (file plus overrides), for people and for
     * nnctl compare */
    char path[4200];
    snprintf(path, sizeof path, "%s/spec.cfg", run_dir);
    return nn_write_file_atomic(path, spec_text, strlen(spec_text), err);
}

static nn_status replace_old_run(void *ctx, nn_error *err)
{
    overwrite_ctx *o = ctx;
    if (o->done)
        return NN_OK;
    o->done = true;
    nn_status st = write_spec(o->run_dir, o->spec_text, err);
    if (st)
        return st;
    int n = nn_run_files_remove(&o->old);
    if (!o->quiet)
        fprintf(o->out, "Removed the old run's %d file%s from %s: the new run's first "
                        "checkpoint is written\n",
                n, n == 1 ? "" : "s", o->run_dir);
    return NN_OK;
}

/* The directory this run writes into, locked: --run-dir; with --resume,
 * FILE's folder or the newest runs/<model>[-N] that has a last.h5; else a
 * new runs/<model>[-N]. */
static nn_status claim_run_dir(const nn_args *a, const char *model_name, char *run_dir,
                               size_t len, nn_run_lock *lock, nn_error *err)
{
    char base[4096];
    snprintf(base, sizeof base, "runs/%s", model_name);
    if (!a->run_dir && !a->resume)
        return nn_run_dir_claim_new(base, run_dir, len, "train", lock, err);
    nn_status st = NN_OK;
    if (a->run_dir) {
        snprintf(run_dir, len, "%s", a->run_dir);
    } else if (a->resume_file) {
        const char *slash = strrchr(a->resume_file, '/');
        if (slash)
            snprintf(run_dir, len, "%.*s", slash == a->resume_file ? 1 : (int)(slash - a->resume_file),
                     a->resume_file);
        else
            snprintf(run_dir, len, ".");
    } else {
        st = nn_run_dir_latest(base, "last.h5", run_dir, len, err);
    }
    return st ? st : nn_run_lock_take(run_dir, a->resume ? "train --resume" : "train", lock, err);
}

/* --resume: the keys that changed against the checkpoint's spec (in
 * *c), or an error naming a key the saved state cannot take. */
static nn_status check_resume_spec(const nn_h5_model *f, const char *path, const char *spec_text,
                                   nn_spec_changes *c, nn_error *err)
{
    long long epoch, step;
    nn_status st = nn_fit_checkpoint_position(f, path, &epoch, &step, err);
    if (st || !f->nnctl_spec)
        return st;
    return nn_resume_spec_changes(f->nnctl_spec, spec_text, path, step > 0, c, err);
}

/* "resuming with KEY OLD -> NEW" per change (on stderr as notes when
 * --quiet: a change is never silent), and the same as JSON. */
static json_t *report_changes(const nn_spec_changes *c, FILE *out, bool quiet)
{
    json_t *o = json_object();
    for (int i = 0; i < c->n; i++) {
        if (quiet)
            fprintf(stderr, "nnctl: note: resuming with %s %s -> %s\n", c->v[i].key,
                    c->v[i].from, c->v[i].to);
        else
            fprintf(out, "resuming with %s %s -> %s\n", c->v[i].key, c->v[i].from, c->v[i].to);
        json_object_set_new(o, c->v[i].key,
                            json_pack("{s:s, s:s}", "from", c->v[i].from, "to", c->v[i].to));
    }
    return o;
}

/* train.precision = "auto": measure, say what was picked, and record the
 * pick as the run's train.precision (spec.cfg, the model file), so eval,
 * predict and a resumed run use it without measuring again. */
static nn_status settle_precision(nn_session *s, nn_precision p, char **spec_text,
                                  nn_error *err)
{
    nn_status st;
    nn_precision_apply(s->model, s->engine, p, false, NULL);
    s->train.precision = p;
    s->train.precision_auto = false;
    char set[80];
    snprintf(set, sizeof set, "train.precision=%s", nn_precision_policy(p));
    char *text = NULL;
    if ((st = nn_spec_override(s->spec, set, err)) || (st = nn_spec_to_text(s->spec, &text, err)))
        return st;
    free(*spec_text);
    *spec_text = text;
    return NN_OK;
}

static nn_status pick_precision(nn_session *s, FILE *out, char **spec_text, nn_error *err)
{
    nn_precision p;
    double secs[2];
    nn_status st = nn_fit_pick_precision(s->model, &s->train, &s->obj, &s->train_set, &p, secs,
                                         err);
    if (st)
        return st;
    if (out && secs[0] > 0.0)
        fprintf(out, "precision auto: a training step takes %.1f ms in float32, %.1f ms in "
                     "mixed_bfloat16: %s\n",
                secs[0] * 1e3, secs[1] * 1e3, nn_precision_policy(p));
    else if (out) {
        char why[256];
        s->engine->ops->precision_supported(s->engine, NN_PREC_BFLOAT16, why, sizeof why);
        fprintf(out, "precision auto: %s: float32\n", why);
    }
    return settle_precision(s, p, spec_text, err);
}

/* --resume with precision "auto": the pick the run made (its checkpoint's
 * spec), not a new measurement, so the run goes on as it started. */
static nn_status resumed_precision(nn_session *s, const nn_h5_model *ckpt, char **spec_text,
                                   nn_error *err)
{
    nn_precision p = NN_PREC_FLOAT32;
    nn_spec *stored = NULL;
    nn_error ignore;
    nn_spec_node *train;
    const char *name;
    if (ckpt->nnctl_spec &&
        nn_spec_load_string(&stored, ckpt->nnctl_spec, "checkpoint", &ignore) == NN_OK &&
        nn_spec_group(nn_spec_root(stored), "train", false, &train, &ignore) == NN_OK && train &&
        nn_spec_string(train, "precision", false, "float32", &name, &ignore) == NN_OK &&
        !nn_precision_parse(name, &p))
        p = NN_PREC_FLOAT32;
    nn_spec_free(stored);
    return settle_precision(s, p, spec_text, err);
}

/* Every process of a run computes in the same precision: rank 0 measures
 * (or took the pick from the checkpoint) and tells the others. st: how the
 * session's data loaded here (every rank takes part whatever it is). */
static nn_status settle_auto(nn_session *s, nn_dist *d, bool root, nn_status st, FILE *out,
                             char **spec_text, nn_error *err)
{
    if (!st && root && s->train.precision_auto)
        st = pick_precision(s, out, spec_text, err);
    if ((st = nn_dist_agree(d, st, err)))
        return st;
    char pick[32];
    snprintf(pick, sizeof pick, "%s", nn_precision_policy(s->train.precision));
    if ((st = nn_dist_bcast(d, pick, sizeof pick, err)))
        return st;
    nn_precision p;
    if (!root && nn_precision_parse(pick, &p))
        st = settle_precision(s, p, spec_text, err);
    return st;
}

int nn_cmd_train(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "train",
                      "set run-dir threads engine precision quiet json resume overwrite", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos != 1) {
        fprintf(stderr, "nnctl train: expected one spec file, got %d arguments\n%s", a.n_pos, help);
        return 2;
    }
    if (a.resume && a.overwrite) {
        fprintf(stderr, "nnctl train: --resume continues the run a directory holds and "
                        "--overwrite replaces it: give one\n");
        return 2;
    }
    nn_spec *spec = NULL;
    nn_session s = {0};
    char *spec_text = NULL, *class_names = NULL, *preprocess = NULL;
    json_t *summary = NULL, *changed = NULL;
    nn_run_lock lock = {.held = false, .fd = -1};
    overwrite_ctx ow = {0};
    nn_spec_changes changes = {0};
    nn_h5_model ckpt;
    bool have_ckpt = false, handling = false;
    int rc = 0;
    const char *extra[3];
    char bufs[2][64], prec_set[80];
    int n_extra = nn_args_overrides(&a, extra, bufs);
    if (a.precision) {
        nn_precision p;
        bool is_auto;
        if (nn_args_precision(&a, true, &p, &is_auto, &err))
            return nn_cli_report(&err);
        snprintf(prec_set, sizeof prec_set, "train.precision=%s", a.precision);
        extra[n_extra++] = prec_set;
    }
    /* several processes under mpirun: each builds the session and reads
     * the data itself and trains its share; rank 0 alone owns the run
     * directory */
    nn_dist *d = NULL;
    nn_status st = nn_dist_join(&d, &err);
    if (st)
        return nn_cli_report(&err);
    const bool root = nn_dist_is_root(d);
    st = nn_spec_load_file(&spec, a.pos[0], &err);
    for (int i = 0; !st && i < a.n_sets; i++)
        st = nn_spec_override(spec, a.sets[i], &err);
    /* --threads/--engine are train.* overrides; without a train section
     * they would create one and hide the real error (a missing section) */
    for (int i = 0; !st && i < n_extra && nn_spec_has(nn_spec_root(spec), "train"); i++)
        st = nn_spec_override(spec, extra[i], &err);
    if (!st)
        st = nn_spec_to_text(spec, &spec_text, &err);
    if (!st)
        st = nn_session_build(&s, spec, &err);
    else
        nn_spec_free(spec);
    const bool auto_asked = !st && s.train.precision_auto;
    /* The run directory, locked before anything is read or written: a
     * second process is refused at once and the directory never mixes two
     * runs. */
    char run_dir[4096] = "", resume_path[4200];
    if ((st = nn_dist_agree(d, st, &err)))
        goto done;
    if (root)
        st = claim_run_dir(&a, s.model->name, run_dir, sizeof run_dir, &lock, &err);
    if ((st = nn_dist_agree(d, st, &err)) || (st = nn_dist_bcast(d, run_dir, sizeof run_dir, &err)))
        goto done;
    if (a.resume_file)
        snprintf(resume_path, sizeof resume_path, "%s", a.resume_file);
    else
        snprintf(resume_path, sizeof resume_path, "%s/last.h5", run_dir);
    FILE *out = a.json ? stderr : stdout;
    const bool quiet = a.quiet || !root;
    if (root && !a.resume && nn_run_dir_holds_run(run_dir)) {
        if (!a.overwrite) {
            st = nn_fail(&err, NN_ERR_RUNTIME,
                         "'%s' already holds a run, and nnctl train never replaces one "
                         "silently: choose another --run-dir (or none: runs/<model name>-N), "
                         "continue it with --resume, or replace it with --overwrite",
                         run_dir);
            goto done;
        }
        if ((st = nn_run_files_list(run_dir, &ow.old, &err)))
            goto done;
        if (s.train.init_from[0])
            nn_run_files_keep(&ow.old, s.train.init_from); /* read, never removed */
        ow.run_dir = run_dir;
        ow.spec_text = spec_text;
        ow.out = out;
        ow.quiet = a.quiet;
    }
    /* files a killed run was writing when it died */
    if (root)
        nn_remove_stale_temps(run_dir);
    if (root && a.resume) {
        if ((st = nn_h5_load_checkpoint(resume_path, &ckpt, &err)))
            goto agree;
        have_ckpt = true;
        if (s.train.precision_auto && (st = resumed_precision(&s, &ckpt, &spec_text, &err)))
            goto agree;
        if ((st = check_resume_spec(&ckpt, resume_path, spec_text, &changes, &err)))
            goto agree;
    }
    st = nn_session_load_train(&s, &err);
    /* precision "auto": measured on the first batch (by rank 0 under
     * mpirun, which tells the others), recorded as the run's
     * train.precision; a resumed run kept its pick (above) */
    if (auto_asked)
        st = settle_auto(&s, d, root, st, quiet ? NULL : out, &spec_text, &err);
    if (ow.run_dir)
        ow.spec_text = spec_text;
    /* spec.cfg names the run in the directory: an overwritten run keeps its
     * own until the new run's first checkpoint */
    if (!st && root && !ow.run_dir)
        st = write_spec(run_dir, spec_text, &err);
agree:
    /* every rank read the data itself: the first that failed speaks */
    if ((st = nn_dist_agree(d, st, &err)))
        goto done;
    if (!quiet) {
        fprintf(out, "Train on %zu sample%s", s.train_set.n, s.train_set.n == 1 ? "" : "s");
        if (s.val_set.n)
            fprintf(out, ", validate on %zu sample%s", s.val_set.n, s.val_set.n == 1 ? "" : "s");
        char prec[512];
        nn_precision_describe(s.model, s.engine, prec, sizeof prec);
        if (d)
            fprintf(out, " (%s engine, %d ranks x %d thread%s; %s) -> %s\n", s.engine->ops->name,
                    nn_dist_size(d), s.engine->threads, s.engine->threads == 1 ? "" : "s", prec,
                    run_dir);
        else
            fprintf(out, " (%s engine, %d thread%s; %s) -> %s\n", s.engine->ops->name,
                    s.engine->threads, s.engine->threads == 1 ? "" : "s", prec, run_dir);
    }
    if (!s.val_set.n && root) {
        for (int i = 0; i < s.train.n_callbacks; i++) {
            const nn_callback *cb = &s.train.callbacks[i];
            const char *mon = cb->type->monitor ? cb->type->monitor(cb) : NULL;
            if (mon && !strncmp(mon, "val_", 4))
                fprintf(stderr,
                        "nnctl: warning: train.callbacks.%s monitors %s but there is no "
                        "validation data (set data.validation_split or data.validation): it will "
                        "never act\n",
                        cb->type->name, mon);
        }
    }
    nn_fit_state resume = {0};
    if (a.resume) {
        /* rank 0 reads the checkpoint and hands it to the others (their
         * file systems need not hold the run directory) */
        if (root) {
            st = nn_fit_load_resume(&ckpt, resume_path, s.model, &s.train, &resume, &err);
            nn_h5_model_free(&ckpt);
            have_ckpt = false;
        }
        if ((st = nn_dist_agree(d, st, &err)) ||
            (st = nn_fit_share_resume(d, s.model, &s.train, &resume, &err)))
            goto done;
        bool finished = resume.epoch >= s.train.epochs || resume.stopped;
        if (!quiet && finished)
            fprintf(out, "Resuming from %s: training finished after epoch %lld; %s\n",
                    resume_path, resume.epoch,
                    s.data.test.present ? "the test evaluation is what is left"
                                        : "writing the final model");
        else if (!quiet)
            fprintf(out, "Resuming from %s at epoch %lld, batch %lld\n", resume_path,
                    resume.epoch + 1, resume.step + 1);
        if (root)
            changed = report_changes(&changes, out, a.quiet);
    }
    /* the spec's folder, where its ./ data paths start, and the data's
     * class names go into the model file with the spec */
    char spec_dir[PATH_MAX];
    const char *sd = nn_spec_dir(s.spec);
    if (!realpath(sd[0] ? sd : ".", spec_dir))
        spec_dir[0] = '\0';
    class_names = nn_session_class_names_json(&s);
    preprocess = nn_session_preprocess_json(&s);
    nn_fit_opts fo = {.run_dir = run_dir,
                      .spec_text = spec_text,
                      .spec_dir = spec_dir[0] ? spec_dir : NULL,
                      .class_names = class_names,
                      .preprocess = preprocess,
                      .out = out,
                      .tty = isatty(fileno(out)),
                      .quiet = a.quiet,
                      .shuffle = s.data.shuffle,
                      .bucket_by_length = s.data.bucket_by_length,
                      .resume = a.resume ? &resume : NULL,
                      .first_checkpoint = ow.run_dir ? replace_old_run : NULL,
                      .ctx = &ow,
                      .dist = d};
    nn_fit_result res;
    /* Ctrl-C handling from training through the final test evaluation: a
     * signal between the two is that evaluation's to stop */
    nn_interrupt_install();
    handling = true;
    st = nn_fit(s.model, &s.train, &s.obj, &s.train_set, s.val_set.n ? &s.val_set : NULL, &fo,
                &res, &err);
    nn_fit_state_free(&resume);
    if (st && res.interrupted) {
        if (root)
            fprintf(stderr, "nnctl: %s\n", err.msg);
        rc = 128 + res.interrupted;
        st = NN_OK;
        goto done_quiet;
    }
    if (st)
        goto done;
    if (root && ow.run_dir)
        st = replace_old_run(&ow, &err);
    if ((st = nn_dist_agree(d, st, &err)))
        goto done;
    if (!quiet)
        fprintf(out, "Saved %s (%lld epoch%s, %.1fs)\n", res.model_path, res.epochs_run,
                res.epochs_run == 1 ? "" : "s", res.seconds);
    if (!quiet && d)
        fprintf(out, "Waiting for the gradient sums after backward: %.1fs of %.1fs (rank 0)\n",
                res.comm_wait, res.seconds);
    summary = json_object();
    size_t trainable, frozen;
    nn_model_count_params(s.model, &trainable, &frozen);
    json_object_set_new(summary, "params", json_integer((json_int_t)(trainable + frozen)));
    json_object_set_new(summary, "trainable_params", json_integer((json_int_t)trainable));
    /* the final model's nonzero weights (summary --weights), and those over
     * 1e-3, which an L1 penalty lowers (it makes weights small, not 0) */
    size_t nz0, nz3, total;
    if ((st = nn_model_nonzero(s.model, 0.0, NULL, &nz0, &total, &err)) ||
        (st = nn_model_nonzero(s.model, 1e-3, NULL, &nz3, &total, &err)))
        goto done;
    json_object_set_new(summary, "nonzero_weights", json_integer((json_int_t)nz0));
    json_object_set_new(summary, "nonzero_weights_1e-3", json_integer((json_int_t)nz3));
    json_object_set_new(summary, "run_dir", json_string(run_dir));
    json_object_set_new(summary, "model", json_string(res.model_path));
    json_object_set_new(summary, "epochs", json_integer(res.epochs_run));
    json_object_set_new(summary, "seconds", nn_json_number(res.seconds));
    json_object_set_new(summary, "final", logs_json(&res.last));
    if (a.resume)
        json_object_set_new(summary, "resumed",
                            json_pack("{s:s, s:o}", "from", resume_path, "changed",
                                      changed ? json_incref(changed) : json_object()));
    if (s.data.test.present) {
        const nn_dataset *test;
        nn_eval_result r;
        /* Ctrl-C here stops after the current batch: model.h5 is complete,
         * and --resume does this evaluation alone. (Several processes
         * finish it: they could not agree on a batch to stop at.) The
         * test set is shared out over the ranks too. */
        nn_interrupt_install();
        st = nn_session_load_eval(&s, "test", &test, &err);
        if (!(st = nn_dist_agree(d, st, &err)) && (d || !nn_interrupt_pending()))
            st = nn_evaluate(s.model, &s.train, &s.obj, test, (int)s.train.batch_size, d, &r,
                             &err);
        int sig = d ? 0 : nn_interrupt_pending();
        nn_interrupt_uninstall();
        if (sig) {
            fprintf(stderr,
                    "nnctl: interrupted during the test evaluation; %s is complete: run the "
                    "same command with --resume to evaluate it (no training is left)\n",
                    res.model_path);
            rc = 128 + sig;
            st = NN_OK;
            goto done_quiet;
        }
        if (st)
            goto done;
        if (!quiet) {
            nn_eval_print(out, "Test", &s.train, &r);
            nn_eval_print_classes(out, &r, &s.class_names);
        }
        json_t *ej = nn_eval_json(&s.train, &r, "test");
        nn_eval_json_classes(ej, &r, &s.class_names);
        char *text = json_dumps(ej, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        char path[4200];
        snprintf(path, sizeof path, "%s/eval.json", run_dir);
        if (root)
            st = text ? nn_write_file_atomic(path, text, strlen(text), &err) : NN_ERR_RUNTIME;
        free(text);
        json_object_set_new(summary, "test", ej);
        if ((st = nn_dist_agree(d, st, &err)))
            goto done;
    }
    {
        /* run.json: what this run did, for scripts and nnctl compare; the
         * memory peaks as of the end (the test evaluation included) */
        json_object_set_new(summary, "peak_rss_bytes",
                            json_integer((json_int_t)nn_peak_rss_bytes()));
        if (s.engine->ops->device_peak_bytes)
            json_object_set_new(
                summary, "device_peak_bytes",
                json_integer((json_int_t)s.engine->ops->device_peak_bytes(s.engine)));
        if (d) {
            json_object_set_new(summary, "ranks", json_integer(nn_dist_size(d)));
            json_object_set_new(summary, "comm_wait_seconds", nn_json_number(res.comm_wait));
        }
        char *text = json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        char path[4200];
        snprintf(path, sizeof path, "%s/run.json", run_dir);
        if (root) {
            st = text ? nn_write_file_atomic(path, text, strlen(text), &err) : NN_ERR_RUNTIME;
            if (!st && a.json)
                puts(text);
        }
        free(text);
        if ((st = nn_dist_agree(d, st, &err)))
            goto done;
    }
done:
    if (st)
        rc = nn_cli_report(&err);
done_quiet:
    if (handling)
        nn_interrupt_uninstall();
    if (have_ckpt)
        nn_h5_model_free(&ckpt);
    nn_run_files_free(&ow.old);
    nn_spec_changes_free(&changes);
    nn_run_lock_release(&lock);
    json_decref(changed);
    json_decref(summary);
    free(spec_text);
    free(class_names);
    free(preprocess);
    nn_session_free(&s);
    nn_dist_leave(d);
    return rc;
}

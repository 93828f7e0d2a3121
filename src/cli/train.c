/* nnctl train SPEC */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eval_report.h"
#include "util/json.h"
#include "session/session.h"
#include "util/fileio.h"

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
    "  -o, --run-dir DIR     where to write (default runs/<model name>)\n"
    "  -t, --threads N       threads (default and 0: all cores; same as --set\n"
    "                        train.threads=N)\n"
    "      --engine cpu|gpu  compute engine (same as --set train.engine=...)\n"
    "      --device N        the GPU for --engine gpu (default 0)\n"
    "      --resume [FILE]   continue an interrupted run from FILE (default\n"
    "                        RUN_DIR/last.h5, written after every epoch and on Ctrl-C)\n"
    "  -q, --quiet           no progress output\n"
    "      --json            print a JSON summary on stdout (progress goes to stderr)\n"
    "\n"
    "Ctrl-C (or SIGTERM) stops after the current batch and saves RUN_DIR/last.h5\n"
    "(exit 130, or 143); a second Ctrl-C stops at once. A resumed run gives the\n"
    "same weights and history as one never interrupted (same seed and threads).\n"
    "Relative data paths resolve against $NNCTL_DATA when it is set.\n";

static json_t *logs_json(const nn_logs *l)
{
    json_t *o = json_object();
    for (int i = 0; i < l->n; i++)
        json_object_set_new(o, l->names[i], nn_json_number(l->values[i]));
    return o;
}

int nn_cmd_train(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "train", "set run-dir threads engine quiet json resume", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos != 1) {
        fprintf(stderr, "nnctl train: expected one spec file, got %d arguments\n%s", a.n_pos, help);
        return 2;
    }
    nn_spec *spec = NULL;
    nn_session s = {0};
    char *spec_text = NULL;
    json_t *summary = NULL;
    int rc = 0;
    const char *extra[2];
    char bufs[2][64];
    int n_extra = nn_args_overrides(&a, extra, bufs);
    nn_status st = nn_spec_load_file(&spec, a.pos[0], &err);
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
    if (!st)
        st = nn_session_load_train(&s, &err);
    char run_dir[4096];
    if (!st) {
        if (a.run_dir)
            snprintf(run_dir, sizeof run_dir, "%s", a.run_dir);
        else
            snprintf(run_dir, sizeof run_dir, "runs/%s", s.model->name);
        st = nn_mkdirs(run_dir, &err);
    }
    if (st)
        goto done;
    /* files a killed run was writing when it died */
    nn_remove_stale_temps(run_dir);
    /* the effective spec (file plus overrides), for people and for
     * nnctl compare */
    char spec_path[4200];
    snprintf(spec_path, sizeof spec_path, "%s/spec.cfg", run_dir);
    if ((st = nn_write_file_atomic(spec_path, spec_text, strlen(spec_text), &err)))
        goto done;
    FILE *out = a.json ? stderr : stdout;
    if (!a.quiet) {
        fprintf(out, "Train on %zu sample%s", s.train_set.n, s.train_set.n == 1 ? "" : "s");
        if (s.val_set.n)
            fprintf(out, ", validate on %zu sample%s", s.val_set.n, s.val_set.n == 1 ? "" : "s");
        fprintf(out, " (%s engine, %d thread%s) -> %s\n", s.engine->ops->name,
                s.engine->threads, s.engine->threads == 1 ? "" : "s", run_dir);
    }
    if (!s.val_set.n) {
        const char *mon[2] = {s.train.early_stopping.enabled ? s.train.early_stopping.monitor : "",
                              s.train.checkpoint.enabled && s.train.checkpoint.save_best_only
                                  ? s.train.checkpoint.monitor
                                  : ""};
        const char *who[2] = {"early_stopping", "checkpoint"};
        for (int i = 0; i < 2; i++)
            if (!strncmp(mon[i], "val_", 4))
                fprintf(stderr,
                        "nnctl: warning: train.callbacks.%s monitors %s but there is no "
                        "validation data (set data.validation_split or data.validation): it will "
                        "never act\n",
                        who[i], mon[i]);
    }
    nn_fit_state resume = {0};
    if (a.resume) {
        char path[4200];
        snprintf(path, sizeof path, "%s", a.resume_file ? a.resume_file : run_dir);
        if (!a.resume_file)
            snprintf(path, sizeof path, "%s/last.h5", run_dir);
        if ((st = nn_fit_load_resume(path, s.model, &s.train, &resume, &err)))
            goto done;
        if (!a.quiet)
            fprintf(out, "Resuming from %s at epoch %lld, batch %lld\n", path, resume.epoch + 1,
                    resume.step + 1);
    }
    nn_fit_opts fo = {.run_dir = run_dir,
                      .spec_text = spec_text,
                      .out = out,
                      .tty = isatty(fileno(out)),
                      .quiet = a.quiet,
                      .shuffle = s.data.shuffle,
                      .resume = a.resume ? &resume : NULL};
    nn_fit_result res;
    st = nn_fit(s.model, &s.train, &s.obj, &s.train_set, s.val_set.n ? &s.val_set : NULL, &fo,
                &res, &err);
    nn_fit_state_free(&resume);
    if (st && res.interrupted) {
        fprintf(stderr, "nnctl: %s\n", err.msg);
        rc = 128 + res.interrupted;
        st = NN_OK;
        goto done_quiet;
    }
    if (st)
        goto done;
    if (!a.quiet)
        fprintf(out, "Saved %s (%lld epoch%s, %.1fs)\n", res.model_path, res.epochs_run,
                res.epochs_run == 1 ? "" : "s", res.seconds);
    summary = json_object();
    size_t trainable, frozen;
    nn_model_count_params(s.model, &trainable, &frozen);
    json_object_set_new(summary, "params", json_integer((json_int_t)(trainable + frozen)));
    json_object_set_new(summary, "trainable_params", json_integer((json_int_t)trainable));
    json_object_set_new(summary, "run_dir", json_string(run_dir));
    json_object_set_new(summary, "model", json_string(res.model_path));
    json_object_set_new(summary, "epochs", json_integer(res.epochs_run));
    json_object_set_new(summary, "seconds", nn_json_number(res.seconds));
    json_object_set_new(summary, "final", logs_json(&res.last));
    if (s.data.test.present) {
        const nn_dataset *test;
        nn_eval_result r;
        if ((st = nn_session_load_eval(&s, "test", &test, &err)) ||
            (st = nn_evaluate(s.model, &s.train, &s.obj, test, (int)s.train.batch_size, &r, &err)))
            goto done;
        if (!a.quiet)
            nn_eval_print(out, "Test", &s.train, &r);
        json_t *ej = nn_eval_json(&s.train, &r, "test");
        char *text = json_dumps(ej, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        char path[4200];
        snprintf(path, sizeof path, "%s/eval.json", run_dir);
        st = text ? nn_write_file_atomic(path, text, strlen(text), &err) : NN_ERR_RUNTIME;
        free(text);
        json_object_set_new(summary, "test", ej);
        if (st)
            goto done;
    }
    {
        /* run.json: what this run did, for scripts and nnctl compare */
        char *text = json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        char path[4200];
        snprintf(path, sizeof path, "%s/run.json", run_dir);
        st = text ? nn_write_file_atomic(path, text, strlen(text), &err) : NN_ERR_RUNTIME;
        if (!st && a.json)
            puts(text);
        free(text);
        if (st)
            goto done;
    }
done:
    if (st)
        rc = nn_cli_report(&err);
done_quiet:
    json_decref(summary);
    free(spec_text);
    nn_session_free(&s);
    return rc;
}

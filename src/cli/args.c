#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "model/precision.h"
#include "spec/spec.h"

typedef enum { F_BOOL, F_STRING, F_INT, F_LIST } flag_kind;

static const struct {
    const char *name;
    char short_name;
    flag_kind kind;
} flags[] = {
    {"set", 's', F_LIST},      {"run-dir", 'o', F_STRING}, {"threads", 't', F_INT},
    {"engine", 0, F_STRING},   {"quiet", 'q', F_BOOL},     {"json", 0, F_BOOL},
    {"help", 'h', F_BOOL},     {"spec", 0, F_STRING},      {"data", 0, F_STRING},
    {"top-k", 'k', F_INT},     {"resize", 0, F_BOOL},      {"output", 'o', F_STRING},
    {"batch-size", 0, F_INT},  {"invert", 0, F_BOOL},      {"resume", 0, F_BOOL},
    {"crop", 0, F_BOOL},
    {"csv", 0, F_BOOL},        {"markdown", 0, F_BOOL},    {"sort", 0, F_STRING},
    {"metric", 0, F_STRING},   {"width", 0, F_INT},        {"height", 0, F_INT},
    {"jobs", 'j', F_INT},      {"layer", 0, F_STRING},     {"device", 0, F_STRING},
    {"threshold", 0, F_STRING}, {"labels", 0, F_STRING},   {"input", 0, F_LIST},
    {"overwrite", 0, F_BOOL},  {"weights", 0, F_BOOL},
    {"precision", 0, F_STRING},
};
#define N_FLAGS ((int)(sizeof flags / sizeof flags[0]))

static bool allowed_flag(const char *allowed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = allowed; (p = strstr(p, name)); p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    /* --device goes with --engine: every command that takes one takes both */
    if (!strcmp(name, "device"))
        return allowed_flag(allowed, "engine");
    return !strcmp(name, "help");
}

static nn_status store(nn_args *a, int f, const char *value, nn_error *err)
{
    const char *name = flags[f].name;
    if (flags[f].kind == F_INT) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        /* --threads 0 is every core, as train.threads = 0 in the spec */
        bool threads = !strcmp(name, "threads");
        if (errno || *end || end == value || v < (threads ? 0 : 1))
            return nn_fail(err, NN_ERR_USAGE, "nnctl %s: --%s: expected %s, got '%s'", a->cmd,
                           name, threads ? "0 (every core) or a positive integer"
                                         : "a positive integer",
                           value);
        if (threads) {
            a->threads = v;
            a->threads_given = true;
        }
        else if (!strcmp(name, "top-k"))
            a->top_k = v;
        else if (!strcmp(name, "width"))
            a->width = v;
        else if (!strcmp(name, "height"))
            a->height = v;
        else if (!strcmp(name, "jobs"))
            a->jobs = v;
        else
            a->batch_size = v;
        return NN_OK;
    }
    if (!strcmp(name, "set")) {
        if (a->n_sets == NN_ARGS_MAX)
            return nn_fail(err, NN_ERR_USAGE, "nnctl %s: too many --set", a->cmd);
        a->sets[a->n_sets++] = value;
    } else if (!strcmp(name, "input")) {
        if (a->n_inputs == NN_ARGS_MAX)
            return nn_fail(err, NN_ERR_USAGE, "nnctl %s: too many --input", a->cmd);
        a->inputs[a->n_inputs++] = value;
    } else if (!strcmp(name, "run-dir")) a->run_dir = value;
    else if (!strcmp(name, "engine")) a->engine = value;
    else if (!strcmp(name, "spec")) a->spec = value;
    else if (!strcmp(name, "data")) a->data = value;
    else if (!strcmp(name, "output")) a->output = value;
    else if (!strcmp(name, "sort")) a->sort = value;
    else if (!strcmp(name, "metric")) a->metric = value;
    else if (!strcmp(name, "layer")) a->layer = value;
    else if (!strcmp(name, "threshold")) a->threshold = value;
    else if (!strcmp(name, "labels")) a->labels = value;
    else if (!strcmp(name, "precision")) a->precision = value;
    else if (!strcmp(name, "device")) {
        /* The GPU engine reads NNCTL_DEVICE: the spec has no device key, and
         * child processes (a sweep's trials) inherit the choice. */
        char *end;
        long v = strtol(value, &end, 10);
        if (*end || end == value || v < 0 || v > 1024)
            return nn_fail(err, NN_ERR_USAGE,
                           "nnctl %s: --device: expected a GPU number >= 0, got '%s'", a->cmd,
                           value);
        setenv("NNCTL_DEVICE", value, 1);
    }
    return NN_OK;
}

static void set_bool(nn_args *a, const char *name)
{
    if (!strcmp(name, "quiet")) a->quiet = true;
    else if (!strcmp(name, "json")) a->json = true;
    else if (!strcmp(name, "help")) a->help = true;
    else if (!strcmp(name, "resize")) a->resize = true;
    else if (!strcmp(name, "crop")) a->crop = true;
    else if (!strcmp(name, "invert")) a->invert = true;
    else if (!strcmp(name, "resume")) a->resume = true;
    else if (!strcmp(name, "csv")) a->csv = true;
    else if (!strcmp(name, "markdown")) a->markdown = true;
    else if (!strcmp(name, "overwrite")) a->overwrite = true;
    else if (!strcmp(name, "weights")) a->weights = true;
}

static nn_status unknown(const nn_args *a, const char *arg, const char *allowed, nn_error *err)
{
    const char *cands[N_FLAGS];
    char dashed[N_FLAGS][40];
    int n = 0;
    for (int i = 0; i < N_FLAGS; i++)
        if (allowed_flag(allowed, flags[i].name)) {
            snprintf(dashed[n], sizeof dashed[n], "--%s", flags[i].name);
            cands[n] = dashed[n];
            n++;
        }
    char key[64];
    snprintf(key, sizeof key, "%s", arg);
    char *eq = strchr(key, '=');
    if (eq)
        *eq = '\0';
    const char *guess = nn_did_you_mean(key, cands, n);
    return nn_fail(err, NN_ERR_USAGE, "nnctl %s: unknown option '%s'%s%s%s (see nnctl %s --help)",
                   a->cmd, key, guess ? "; did you mean '" : "", guess ? guess : "",
                   guess ? "'?" : "", a->cmd);
}

nn_status nn_args_parse(int argc, char **argv, const char *cmd, const char *allowed, nn_args *a,
                        nn_error *err)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (a->n_pos == NN_ARGS_MAX)
                return nn_fail(err, NN_ERR_USAGE, "nnctl %s: too many arguments", cmd);
            a->pos[a->n_pos++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            only_pos = true;
            continue;
        }
        int f = -1;
        const char *value = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            for (int k = 0; k < N_FLAGS; k++)
                if (strlen(flags[k].name) == len && !strncmp(flags[k].name, name, len))
                    f = k;
            if (eq)
                value = eq + 1;
        } else if (arg[2] == '\0') {
            /* a short name may be shared (-o: --run-dir for train, --output
             * for plot): the flag this command accepts wins */
            for (int k = 0; k < N_FLAGS; k++)
                if (flags[k].short_name == arg[1] &&
                    (f < 0 || allowed_flag(allowed, flags[k].name)))
                    f = k;
        }
        if (f < 0 || !allowed_flag(allowed, flags[f].name))
            return unknown(a, arg, allowed, err);
        if (flags[f].kind == F_BOOL) {
            if (value && !strcmp(flags[f].name, "resume")) {
                a->resume = true;
                a->resume_file = value;
                continue;
            }
            if (value)
                return nn_fail(err, NN_ERR_USAGE, "nnctl %s: --%s takes no value", cmd,
                               flags[f].name);
            set_bool(a, flags[f].name);
            /* --resume takes an optional checkpoint: the next argument when
             * it names a .h5 file */
            if (!strcmp(flags[f].name, "resume") && i + 1 < argc) {
                size_t len = strlen(argv[i + 1]);
                if (len > 3 && !strcmp(argv[i + 1] + len - 3, ".h5"))
                    a->resume_file = argv[++i];
            }
            continue;
        }
        if (!value) {
            if (i + 1 >= argc)
                return nn_fail(err, NN_ERR_USAGE, "nnctl %s: --%s needs a value", cmd,
                               flags[f].name);
            value = argv[++i];
        }
        nn_status st = store(a, f, value, err);
        if (st)
            return st;
    }
    return NN_OK;
}

nn_status nn_args_precision(const nn_args *a, bool allow_auto, nn_precision *out, bool *is_auto,
                            nn_error *err)
{
    *is_auto = allow_auto && a->precision && !strcmp(a->precision, "auto");
    if (*is_auto) {
        *out = NN_PREC_FLOAT32;
        return NN_OK;
    }
    if (a->precision && nn_precision_parse(a->precision, out))
        return NN_OK;
    const char *choices[] = {"float32", "mixed_bfloat16", "mixed_float16", "auto"};
    const char *guess = a->precision ? nn_did_you_mean(a->precision, choices, allow_auto ? 4 : 3)
                                     : NULL;
    return nn_fail(err, NN_ERR_USAGE,
                   "nnctl %s: --precision: expected float32, mixed_bfloat16 or mixed_float16%s, "
                   "got '%s'%s%s%s",
                   a->cmd, allow_auto ? " (or auto)" : "", a->precision ? a->precision : "",
                   guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "");
}

nn_status nn_args_apply_precision(const nn_args *a, nn_model *m, nn_engine *e, nn_error *err)
{
    if (!a->precision)
        return NN_OK;
    nn_precision p;
    bool is_auto;
    nn_status st = nn_args_precision(a, false, &p, &is_auto, err);
    if (!st)
        nn_precision_apply(m, e, p, true, stderr);
    return st;
}

int nn_args_overrides(const nn_args *a, const char **out, char bufs[2][64])
{
    int n = 0;
    if (a->threads_given) {
        snprintf(bufs[0], 64, "train.threads=%lld", a->threads);
        out[n++] = bufs[0];
    }
    if (a->engine) {
        snprintf(bufs[1], 64, "train.engine=%s", a->engine);
        out[n++] = bufs[1];
    }
    return n;
}

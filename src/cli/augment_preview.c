/* nnctl augment-preview SPEC -o GRID.png: what the network is fed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "session/session.h"

static const char help[] =
    "usage: nnctl augment-preview SPEC -o GRID.png [options]\n"
    "\n"
    "Writes a PNG grid of augmented training samples (data.train with\n"
    "data.augment applied, values scaled back by data.scale to 0..255): the\n"
    "first COUNT samples of the epoch in the order training takes them (same\n"
    "seed, shuffle and per-sample augmentation as `nnctl train`). The grid has\n"
    "ceil(sqrt(COUNT)) columns and 2-pixel black gaps between tiles.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE     the PNG to write (required; written atomically)\n"
    "      --count N         samples to show (default 16, at most 1024)\n"
    "      --epoch N         the epoch to show, from 1 (default 1)\n"
    "  -s, --set KEY=VALUE   override a spec key (repeatable)\n";

static nn_status parse_count(const char *flag, const char *v, long long max, long long *out,
                             nn_error *err)
{
    char *end;
    errno = 0;
    long long n = v ? strtoll(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || n < 1 || n > max)
        return nn_fail(err, NN_ERR_USAGE,
                       "nnctl augment-preview: %s: expected an integer in 1..%lld, got '%s'", flag,
                       max, v ? v : "");
    *out = n;
    return NN_OK;
}

static uint8_t to_byte(float v, float scale)
{
    float s = v * scale;
    if (!(s > 0.0f))
        return 0;
    return s >= 255.0f ? 255 : (uint8_t)lrintf(s);
}

int nn_cmd_augment_preview(int argc, char **argv)
{
    nn_error err = {0};
    const char *spec_path = NULL, *output = NULL;
    const char *sets[256];
    int n_sets = 0;
    long long count = 16, epoch = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return nn_cli_help(help);
        if (a[0] != '-' || !a[1]) {
            if (spec_path) {
                fprintf(stderr, "nnctl augment-preview: expected one spec file\n%s", help);
                return 2;
            }
            spec_path = a;
            continue;
        }
        const char *names[] = {"--output", "--count", "--epoch", "--set"};
        int f = -1;
        if (!strcmp(a, "-o"))
            f = 0;
        else if (!strcmp(a, "-s"))
            f = 3;
        for (int k = 0; f < 0 && k < 4; k++) {
            size_t len = strlen(names[k]);
            if (!strncmp(a, names[k], len) && (a[len] == '\0' || a[len] == '=')) {
                f = k;
                eq = a[len] == '=' ? a + len + 1 : NULL;
            }
        }
        if (f < 0) {
            const char *guess = nn_did_you_mean(a, names, 4);
            nn_fail(&err, NN_ERR_USAGE,
                    "nnctl augment-preview: unknown option '%s'%s%s%s (see nnctl "
                    "augment-preview --help)",
                    a, guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "");
            return nn_cli_report(&err);
        }
        const char *v = eq ? eq : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            nn_fail(&err, NN_ERR_USAGE, "nnctl augment-preview: %s needs a value", names[f]);
            return nn_cli_report(&err);
        }
        if ((f == 1 && parse_count("--count", v, 1024, &count, &err)) ||
            (f == 2 && parse_count("--epoch", v, 1LL << 30, &epoch, &err)))
            return nn_cli_report(&err);
        if (f == 0)
            output = v;
        if (f == 3) {
            if (n_sets == 256) {
                nn_fail(&err, NN_ERR_USAGE, "nnctl augment-preview: too many --set");
                return nn_cli_report(&err);
            }
            sets[n_sets++] = v;
        }
    }
    if (!spec_path || !output) {
        fprintf(stderr, "nnctl augment-preview: %s\n%s",
                spec_path ? "-o GRID.png is required" : "expected a spec file", help);
        return 2;
    }

    nn_spec *spec = NULL;
    nn_session s = {0};
    float *scratch = NULL, *sample = NULL;
    uint32_t *idx = NULL;
    uint8_t *grid = NULL;
    nn_status st = nn_spec_load_file(&spec, spec_path, &err);
    for (int i = 0; !st && i < n_sets; i++)
        st = nn_spec_override(spec, sets[i], &err);
    if (!st)
        st = nn_session_build(&s, spec, &err);
    else
        nn_spec_free(spec);
    if (!st)
        st = nn_session_load_train(&s, &err);
    if (st)
        goto done;
    const nn_dataset *d = &s.train_set;
    int h, w, c;
    if (!nn_augment_image_dims(d->ndim, d->shape, &h, &w, &c) || (c != 1 && c != 3)) {
        st = nn_fail(&err, NN_ERR_USAGE,
                     "augment-preview draws gray or RGB images: data.train samples must have "
                     "shape (H, W), (H, W, 1) or (H, W, 3)");
        goto done;
    }
    if (!nn_augment_active(&d->augment))
        fprintf(stderr, "nnctl: note: the spec has no active data.augment: the grid shows the "
                        "training samples as stored\n");
    size_t n = (size_t)count < d->n ? (size_t)count : d->n;
    int cols = (int)ceil(sqrt((double)n));
    int rows = (int)((n + (size_t)cols - 1) / (size_t)cols);
    const int gap = 2;
    int gw = cols * w + (cols - 1) * gap, gh = rows * h + (rows - 1) * gap;
    if (!(scratch = nn_malloc(d->sample_size * sizeof *scratch, &err)) ||
        !(sample = nn_malloc(d->sample_size * sizeof *sample, &err)) ||
        !(idx = nn_malloc(d->n * sizeof *idx, &err)) ||
        !(grid = nn_calloc((size_t)gw * (size_t)gh * (size_t)c, 1, &err))) {
        st = NN_ERR_RUNTIME;
        goto done;
    }
    /* the order nn_fit takes samples in: (seed, epoch) shuffle */
    for (size_t i = 0; i < d->n; i++)
        idx[i] = (uint32_t)i;
    if (s.data.shuffle) {
        nn_rng base;
        nn_rng_seed(&base, (uint64_t)s.train.seed, NN_STREAM_SHUFFLE);
        nn_rng r = nn_rng_split(&base, (uint64_t)(epoch - 1));
        nn_rng_shuffle_u32(&r, idx, d->n);
    }
    for (size_t j = 0; j < n; j++) {
        nn_augment_sample(d, idx[j], (uint64_t)s.train.seed, epoch - 1, scratch, sample);
        int gx = (int)(j % (size_t)cols) * (w + gap), gy = (int)(j / (size_t)cols) * (h + gap);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    grid[((size_t)(gy + y) * (size_t)gw + (size_t)(gx + x)) * (size_t)c +
                         (size_t)k] =
                        to_byte(sample[((size_t)y * (size_t)w + (size_t)x) * (size_t)c +
                                       (size_t)k],
                                d->scale);
    }
    if ((st = nn_png_write(output, grid, gh, gw, c, &err)))
        goto done;
    printf("Wrote %s: %zu training sample%s of epoch %lld (%dx%d grid of %dx%d, %dx%d pixels)\n",
           output, n, n == 1 ? "" : "s", epoch, cols, rows, w, h, gw, gh);
done:
    free(scratch);
    free(sample);
    free(idx);
    free(grid);
    nn_session_free(&s);
    return st ? nn_cli_report(&err) : 0;
}

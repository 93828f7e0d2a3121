/* nnctl predict MODEL INPUT... : classify PNG images or IDX sample files. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "data/dataset.h"
#include "train/session.h"

static const char help[] =
    "usage: nnctl predict MODEL INPUT... [options]\n"
    "\n"
    "Runs a saved model on PNG images (8-bit gray or RGB) or IDX files (every\n"
    "sample in them) and prints the top classes with their probabilities.\n"
    "Images must have the model's input size unless --resize is given; they are\n"
    "scaled like the training data (data.scale of the stored spec).\n"
    "\n"
    "options:\n"
    "  -k, --top-k K         classes to print per input (default 3)\n"
    "      --resize          resize images to the model's input size (bilinear)\n"
    "      --invert          use 255 - pixel (dark digits on a light background)\n"
    "  -s, --set KEY=VALUE   override a key of the stored spec\n"
    "      --spec FILE       use this spec instead of the stored one\n"
    "  -t, --threads N       threads\n"
    "      --engine cpu|gpu  compute engine\n"
    "      --json            print a JSON array on stdout\n";

typedef struct inputs {
    size_t n, cap, sample;
    uint8_t *data;     /* n * sample bytes */
    char **names;
} inputs;

static nn_status push(inputs *in, const uint8_t *sample, const char *name, nn_error *err)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        uint8_t *d = realloc(in->data, cap * in->sample);
        char **nm = d ? realloc(in->names, cap * sizeof *nm) : NULL;
        if (d)
            in->data = d;
        if (!d || !nm)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading inputs");
        in->names = nm;
        in->cap = cap;
    }
    memcpy(in->data + in->n * in->sample, sample, in->sample);
    in->names[in->n] = nn_strdup(name, err);
    if (!in->names[in->n])
        return NN_ERR_RUNTIME;
    in->n++;
    return NN_OK;
}

/* The image geometry the model's input implies: (h, w, c). */
static bool input_geometry(const nn_node *in, int *h, int *w, int *c)
{
    if (in->ndim == 3) {
        *h = in->shape[0], *w = in->shape[1], *c = in->shape[2];
        return true;
    }
    if (in->ndim == 2) {
        *h = in->shape[0], *w = in->shape[1], *c = 1;
        return true;
    }
    for (int ch = 1; ch <= 3; ch += 2) {
        int side = (int)lround(sqrt((double)in->size / ch));
        if ((size_t)side * side * ch == in->size) {
            *h = *w = side, *c = ch;
            return true;
        }
    }
    return false;
}

static void resize_bilinear(const uint8_t *src, int sh, int sw, int c, uint8_t *dst, int dh,
                            int dw)
{
    for (int y = 0; y < dh; y++) {
        double fy = ((y + 0.5) * sh / dh) - 0.5;
        int y0 = fy < 0 ? 0 : (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
        double ay = fy - y0 < 0 ? 0 : fy - y0;
        for (int x = 0; x < dw; x++) {
            double fx = ((x + 0.5) * sw / dw) - 0.5;
            int x0 = fx < 0 ? 0 : (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
            double ax = fx - x0 < 0 ? 0 : fx - x0;
            for (int k = 0; k < c; k++) {
                double v = (1 - ay) * ((1 - ax) * src[(y0 * sw + x0) * c + k] +
                                       ax * src[(y0 * sw + x1) * c + k]) +
                           ay * ((1 - ax) * src[(y1 * sw + x0) * c + k] +
                                 ax * src[(y1 * sw + x1) * c + k]);
                dst[(y * dw + x) * c + k] = (uint8_t)lround(v);
            }
        }
    }
}

static nn_status read_png_input(const char *path, const nn_node *in, const nn_args *a,
                                inputs *out, nn_error *err)
{
    uint8_t *px = NULL, *conv = NULL, *sized = NULL;
    int h, w, c, mh, mw, mc;
    bool alpha = false;
    nn_status st = nn_png_read(path, &px, &h, &w, &c, &alpha, err);
    if (st)
        return st;
    if (!input_geometry(in, &mh, &mw, &mc)) {
        free(px);
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': the model's input (%zu values) is not an image shape", path,
                       in->size);
    }
    if (alpha)
        fprintf(stderr, "nnctl: note: '%s': alpha channel dropped\n", path);
    /* Channels: luma (ITU-R 601, as PIL's convert('L')) or gray replicated. */
    const uint8_t *img = px;
    if (c != mc) {
        conv = malloc((size_t)h * w * mc);
        if (!conv) {
            free(px);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        for (size_t i = 0; i < (size_t)h * w; i++) {
            if (mc == 1)
                conv[i] = (uint8_t)((px[i * 3] * 299 + px[i * 3 + 1] * 587 + px[i * 3 + 2] * 114 +
                                     500) / 1000);
            else
                conv[i * 3] = conv[i * 3 + 1] = conv[i * 3 + 2] = px[i];
        }
        img = conv;
    }
    if (h != mh || w != mw) {
        if (!a->resize) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_USAGE,
                           "'%s' is %dx%d but the model takes %dx%d images (use --resize to "
                           "resize it)",
                           path, w, h, mw, mh);
        }
        sized = malloc((size_t)mh * mw * mc);
        if (!sized) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        resize_bilinear(img, h, w, mc, sized, mh, mw);
        img = sized;
    }
    if (a->invert) {
        uint8_t *mut = (uint8_t *)img;
        for (size_t i = 0; i < in->size; i++)
            mut[i] = (uint8_t)(255 - mut[i]);
    }
    st = push(out, img, path, err);
    free(px);
    free(conv);
    free(sized);
    return st;
}

static nn_status read_idx_input(const char *path, const nn_node *in, const nn_args *a,
                                inputs *out, nn_error *err)
{
    nn_idx idx;
    nn_status st = nn_idx_read(path, &idx, err);
    if (st)
        return st;
    size_t per = 1;
    for (int d = 1; d < idx.ndim; d++)
        per *= idx.dims[d];
    if (idx.ndim < 2 || per != in->size) {
        free(idx.data);
        return nn_fail(err, NN_ERR_USAGE, "'%s': samples have %zu values but the model takes %zu",
                       path, idx.ndim < 2 ? (size_t)1 : per, in->size);
    }
    for (uint32_t i = 0; !st && i < idx.dims[0]; i++) {
        char name[4200];
        snprintf(name, sizeof name, "%s[%u]", path, i);
        if (a->invert)
            for (size_t k = 0; k < per; k++)
                idx.data[i * per + k] = (uint8_t)(255 - idx.data[i * per + k]);
        st = push(out, idx.data + i * per, name, err);
    }
    free(idx.data);
    return st;
}

/* A PNG by its signature, or by its name (then the PNG reader says what is
 * wrong with it). */
static bool looks_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char buf[8];
    size_t len = strlen(path);
    if (len > 4 && strcasecmp(path + len - 4, ".png") == 0)
        return true;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    bool ok = fread(buf, 1, 8, f) == 8 && memcmp(buf, sig, 8) == 0;
    fclose(f);
    return ok;
}

static void top_k(const float *p, int n, int k, int *idx)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int c = 0; c < n; c++) {
            bool taken = false;
            for (int q = 0; q < j; q++)
                taken |= idx[q] == c;
            if (!taken && (best < 0 || p[c] > p[best]))
                best = c;
        }
        idx[j] = best;
    }
}

int nn_cmd_predict(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "predict", "set spec threads engine json top-k resize invert",
                      &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos < 2) {
        fprintf(stderr, "nnctl predict: expected a model file and at least one input\n%s", help);
        return 2;
    }
    const char *overrides[NN_ARGS_MAX + 2];
    char bufs[2][64];
    int n = 0;
    for (int i = 0; i < a.n_sets; i++)
        overrides[n++] = a.sets[i];
    n += nn_args_overrides(&a, overrides + n, bufs);
    nn_session s;
    inputs in = {0};
    float *x = NULL, *probs = NULL;
    json_t *arr = NULL;
    int rc = 0;
    nn_status st = nn_session_from_model_file(&s, a.pos[0], a.spec, overrides, n, &err);
    if (st)
        goto done;
    const nn_node *input = s.model->input, *output = s.model->output;
    in.sample = input->size;
    for (int i = 1; !st && i < a.n_pos; i++)
        st = looks_png(a.pos[i]) ? read_png_input(a.pos[i], input, &a, &in, &err)
                                 : read_idx_input(a.pos[i], input, &a, &in, &err);
    if (st)
        goto done;
    int batch = (int)(s.train.batch_size < (long long)in.n ? s.train.batch_size : (long long)in.n);
    int units = (int)output->size;
    int k = (int)(a.top_k ? a.top_k : 3);
    if (k > units)
        k = units;
    x = malloc((size_t)batch * in.sample * sizeof(float));
    probs = malloc((size_t)batch * (size_t)units * sizeof(float));
    if (!x || !probs) {
        st = nn_fail(&err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if ((st = nn_model_plan(s.model, batch, &err)))
        goto done;
    arr = json_array();
    float scale = (float)s.data.scale;
    for (size_t start = 0; start < in.n; start += (size_t)batch) {
        int rows = (int)(in.n - start < (size_t)batch ? in.n - start : (size_t)batch);
        for (size_t i = 0; i < (size_t)rows * in.sample; i++)
            x[i] = in.data[start * in.sample + i] / scale;
        s.engine->ops->upload(s.engine, nn_model_input_tensor(s.model), x,
                              (size_t)rows * in.sample);
        nn_pass p = {.e = s.engine, .rows = rows, .training = false};
        nn_model_forward(s.model, &p);
        s.engine->ops->download(s.engine, probs, &output->out, (size_t)rows * (size_t)units);
        for (int r = 0; r < rows; r++) {
            int idx[64];
            int kk = k < 64 ? k : 64;
            const float *pr = probs + (size_t)r * units;
            top_k(pr, units, kk, idx);
            const char *name = in.names[start + (size_t)r];
            if (a.json) {
                json_t *top = json_array();
                for (int j = 0; j < kk; j++)
                    json_array_append_new(top, json_pack("{s:i, s:f}", "class", idx[j],
                                                         "probability", (double)pr[idx[j]]));
                json_array_append_new(arr, json_pack("{s:s, s:i, s:o}", "input", name, "class",
                                                     idx[0], "top", top));
            } else {
                printf("%s:", name);
                for (int j = 0; j < kk; j++)
                    printf(" %d (%.4f)", idx[j], pr[idx[j]]);
                printf("\n");
            }
        }
    }
    if (a.json) {
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_REAL_PRECISION(9));
        if (text)
            puts(text);
        free(text);
    }
done:
    if (st)
        rc = nn_cli_report(&err);
    json_decref(arr);
    for (size_t i = 0; i < in.n; i++)
        free(in.names[i]);
    free(in.names);
    free(in.data);
    free(x);
    free(probs);
    nn_session_free(&s);
    return rc;
}

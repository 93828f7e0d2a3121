/* nnctl predict MODEL INPUT... : runs a saved model on PNG or JPEG images, IDX
 * sample files or .npy batches; prints the top classes, or writes the
 * model's outputs (or one layer's activations) to stdout or a file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/predict_out.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/npy.h"
#include "layers/registry.h"
#include "session/session.h"

static const char help[] =
    "usage: nnctl predict MODEL INPUT... [options]\n"
    "\n"
    "Runs a saved model on PNG or JPEG images (8-bit gray or RGB; a JPEG's EXIF\n"
    "orientation is honoured), IDX files (every sample in them) or .npy arrays\n"
    "and prints one line per input, read by the\n"
    "kind of output the model has:\n"
    "  softmax (or a categorical loss): the top classes and their probabilities,\n"
    "      digit.png: 7 (0.9715) 9 (0.0143) 4 (0.0061)\n"
    "  one sigmoid unit (or binary_crossentropy): the class by threshold, 1 when\n"
    "  p > 0.5, and the probability of that class (p for 1, 1 - p for 0),\n"
    "      digit.png: 1 (0.9715)\n"
    "  several sigmoid units (multi-label): every unit over the threshold with\n"
    "  its probability, likeliest first (\"none over 0.5\" when no unit is),\n"
    "      photo.png: 2 (0.9100) 0 (0.7700)\n"
    "  any other output (linear: regression): its values,\n"
    "      house.npy[0]: 231.5 0.25\n"
    "With class names (from the training data: CIFAR-10's batches.meta.txt, an\n"
    "image folder's sub-folders, stored in the model file; or --labels) the\n"
    "name follows the class number: \"3 cat (0.8123)\".\n"
    "Inputs are scaled as the training data were, whatever their format (image,\n"
    "IDX, .npy of any dtype): divided by data.scale of the stored spec (token\n"
    "ids never are). Pass --set data.scale=1 for arrays scaled already.\n"
    "Images must have the model's input size unless --resize is given. A .npy\n"
    "input holds a batch, shape (N, *input shape), or one sample of exactly the\n"
    "input shape (dtype float32, float64, uint8, int32 or int64).\n"
    "\n"
    "options:\n"
    "  -k, --top-k K         classes to print per input (softmax; default 3)\n"
    "      --threshold P     sigmoid outputs: a class is on when p > P (default 0.5)\n"
    "      --labels FILE     class names, one a line (class 0's first), instead of\n"
    "                        the ones stored in the model file\n"
    "  -o, --output FILE     write the model's outputs, shape (N, *output shape),\n"
    "                        as float32: .npy (NumPy), .csv, else HDF5 (one\n"
    "                        dataset named after the layer)\n"
    "      --layer NAME      that layer's activations instead of the outputs: CSV\n"
    "                        on stdout (a row per input, %.9g), or into -o FILE\n"
    "      --resize          resize images to the model's input size as Keras's\n"
    "                        load_img(target_size=...) does (bilinear, antialiased\n"
    "                        when shrinking; the pixels equal Pillow's)\n"
    "      --crop            resize, keeping the aspect ratio: the largest centred\n"
    "                        region of the input's shape first (load_img's\n"
    "                        keep_aspect_ratio=True)\n"
    "      --invert          use 255 - pixel (dark digits on a light background;\n"
    "                        image and IDX inputs)\n"
    "  -s, --set KEY=VALUE   override a key of the stored spec\n"
    "      --spec FILE       use this spec instead of the stored one\n"
    "  -t, --threads N       threads (0: all cores)\n"
    "      --engine cpu|gpu  compute engine\n"
    "      --device N        the GPU for --engine gpu (default 0)\n"
    "      --json            print a JSON array on stdout, an object per input:\n"
    "                        {input, class, top: [{class, probability}]} (softmax),\n"
    "                        {input, class, probability} (one sigmoid unit),\n"
    "                        {input, classes: [{class, probability}]} (multi-label),\n"
    "                        {input, values} (other outputs); \"label\" next to each\n"
    "                        class with class names (with -o: what was written)\n";

/* Image and IDX samples, kept as the uint8 they are stored as. */
typedef struct pool {
    size_t n, cap, sample;
    uint8_t *data; /* n * sample bytes */
} pool;

/* One INPUT argument: its samples are pool rows [first, first + n), or the
 * rows of a .npy file read a batch at a time. */
typedef struct source {
    const char *path;
    bool npy;
    bool whole; /* one sample named by the path alone (an image, a one-sample .npy) */
    size_t first, n;
} source;

static nn_status push(pool *in, const uint8_t *sample, nn_error *err)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 16;
        uint8_t *d = realloc(in->data, cap * in->sample);
        if (!d)
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading inputs");
        in->data = d;
        in->cap = cap;
    }
    memcpy(in->data + in->n * in->sample, sample, in->sample);
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

static nn_status read_image_input(const char *path, const nn_node *in, const nn_args *a,
                                  pool *out, nn_error *err)
{
    uint8_t *px = NULL, *conv = NULL, *sized = NULL;
    int h, w, c, mh, mw, mc;
    bool alpha = false;
    nn_status st = nn_image_read(path, &px, &h, &w, &c, &alpha, err);
    if (st)
        return st;
    if (!input_geometry(in, &mh, &mw, &mc)) {
        free(px);
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': the model's input (%zu values) is not an image shape", path,
                       in->size);
    }
    if (mc != 1 && mc != 3) { /* images come as gray or RGB */
        free(px);
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': the model takes %d channels per pixel; PNG and JPEG inputs give 1 "
                       "(gray) or 3 (RGB): pass the data as .npy instead",
                       path, mc);
    }
    if (alpha)
        fprintf(stderr, "nnctl: note: '%s': alpha channel dropped\n", path);
    const uint8_t *img = px;
    if (c != mc) {
        if (!(conv = malloc((size_t)h * w * mc))) {
            free(px);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        nn_image_channels(px, (size_t)h * w, c, mc, conv);
        img = conv;
    }
    if (h != mh || w != mw) {
        if (!a->resize && !a->crop) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_USAGE,
                           "'%s' is %dx%d but the model takes %dx%d images (use --resize to "
                           "resize it)",
                           path, w, h, mw, mh);
        }
        if (!(sized = malloc((size_t)mh * mw * mc))) {
            free(px);
            free(conv);
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        }
        if ((st = nn_image_fit(img, h, w, mc, a->crop, sized, mh, mw, err))) {
            free(px), free(conv), free(sized);
            return st;
        }
        img = sized;
    }
    if (a->invert) {
        uint8_t *mut = (uint8_t *)img;
        for (size_t i = 0; i < in->size; i++)
            mut[i] = (uint8_t)(255 - mut[i]);
    }
    st = push(out, img, err);
    free(px);
    free(conv);
    free(sized);
    return st;
}

static nn_status read_idx_input(const char *path, const nn_node *in, const nn_args *a,
                                pool *out, nn_error *err)
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
        if (a->invert)
            for (size_t k = 0; k < per; k++)
                idx.data[i * per + k] = (uint8_t)(255 - idx.data[i * per + k]);
        st = push(out, idx.data + i * per, err);
    }
    free(idx.data);
    return st;
}


/* A .npy input: a batch (N, *input shape) or one sample of the input shape. */
static nn_status read_npy_input(const char *path, const nn_node *in, source *src, nn_error *err)
{
    nn_npy_info info;
    nn_status st = nn_npy_stat(path, &info, err);
    if (st)
        return st;
    bool one = info.ndim == in->ndim, batch = info.ndim == in->ndim + 1;
    for (int d = 0; d < in->ndim; d++) {
        one = one && info.shape[d] == (size_t)in->shape[d];
        batch = batch && info.shape[d + 1] == (size_t)in->shape[d];
    }
    char got[256], want[256], many[256] = "(N";
    size_t dims[NN_MAX_DIMS];
    for (int d = 0; d < in->ndim; d++) {
        dims[d] = (size_t)in->shape[d];
        snprintf(many + strlen(many), sizeof many - strlen(many), ", %d", in->shape[d]);
    }
    strcat(many, ")");
    nn_npy_shape_str(info.shape, info.ndim, got, sizeof got);
    nn_npy_shape_str(dims, in->ndim, want, sizeof want);
    if (!one && !batch)
        return nn_fail(err, NN_ERR_USAGE,
                       "'%s': shape %s does not fit the model's input %s: expected %s for N "
                       "samples, or %s for one",
                       path, got, want, many, want);
    if (batch && info.shape[0] == 0)
        return nn_fail(err, NN_ERR_USAGE, "'%s': shape %s holds no samples", path, got);
    src->npy = true;
    src->whole = one;
    src->n = one ? 1 : info.shape[0];
    return NN_OK;
}

static bool has_suffix(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    return n > k && strcasecmp(path + n - k, suffix) == 0;
}

/* PNG, JPEG or .npy by their signatures, or by their names (then that
 * reader says what is wrong with the file); anything else is read as IDX. */
static char input_kind(const char *path)
{
    unsigned char buf[8] = {0};
    if (nn_image_name(path))
        return 'p';
    if (has_suffix(path, ".npy") || has_suffix(path, ".npz"))
        return 'n';
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(buf, 1, 8, f) : 0;
    if (f)
        fclose(f);
    if (nn_image_kind(buf, got))
        return 'p';
    if (got >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
        return 'n';
    return 'i';
}

/* --layer: a node of the model, or an error listing the ones there are. */
static nn_status find_layer(const nn_model *m, const char *name, const char *model_path,
                            const nn_node **out, nn_error *err)
{
    if ((*out = nn_model_find(m, name)))
        return NN_OK;
    const char **names = malloc(sizeof *names * (size_t)m->n_nodes);
    if (!names)
        return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
    char list[1024];
    size_t o = 0;
    list[0] = '\0';
    for (int i = 0; i < m->n_nodes; i++) {
        names[i] = m->nodes[i]->name;
        if (o < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
    }
    if (o >= sizeof list)
        memcpy(list + sizeof list - 4, "...", 4);
    const char *guess = nn_did_you_mean(name, names, m->n_nodes);
    nn_fail(err, NN_ERR_USAGE, "--layer '%s' is not a layer of the model in '%s'%s%s%s (layers: %s)",
            name, model_path, guess ? "; did you mean '" : "", guess ? guess : "",
            guess ? "'?" : "", list);
    free(names);
    return NN_ERR_USAGE;
}

/* Embedding layers read the input as token ids: refuse ids the table does
 * not have rather than silently look up zeros. */
static nn_status check_ids(const nn_model *m, const float *x, const nn_row_name *names, int rows,
                           nn_error *err)
{
    size_t per = m->input->size;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        int vocab = nn_embedding_input_dim(n);
        if (!vocab || n->in[0] != m->input)
            continue;
        for (size_t k = 0; k < (size_t)rows * per; k++) {
            double v = x[k];
            if (v >= 0.0 && v < vocab && v == floor(v))
                continue;
            const nn_row_name *r = &names[k / per];
            char at[64] = "";
            if (r->index >= 0)
                snprintf(at, sizeof at, "[%lld]", r->index);
            return nn_fail(err, NN_ERR_USAGE,
                           "'%s'%s: position %zu holds %g, but layer '%s' (embedding) takes "
                           "integer token ids in [0, %d)",
                           r->path, at, k % per, v, n->name, vocab);
        }
    }
    return NN_OK;
}

/* One batch through the model; the node's values go to the output. */
static nn_status run_batch(nn_session *s, const nn_node *node, const float *x, float *y,
                           const nn_row_name *names, int rows, nn_predict_out *out,
                           nn_error *err)
{
    nn_status st = check_ids(s->model, x, names, rows, err);
    if (st)
        return st;
    s->engine->ops->upload(s->engine, nn_model_input_tensor(s->model), x,
                           (size_t)rows * s->model->input->size);
    nn_pass p = {.e = s->engine, .rows = rows, .training = false};
    nn_model_forward(s->model, &p);
    s->engine->ops->download(s->engine, y, &node->out, (size_t)rows * node->size);
    return nn_predict_out_rows(out, y, names, rows, err);
}

/* Every source in order, in batches that may span sources. */
static nn_status predict_all(nn_session *s, const nn_node *node, const source *src, int n_src,
                             const pool *in, int batch, nn_predict_out *out, nn_error *err)
{
    size_t per = s->model->input->size;
    float *x = malloc((size_t)batch * per * sizeof *x);
    float *y = malloc((size_t)batch * node->size * sizeof *y);
    nn_row_name *names = malloc((size_t)batch * sizeof *names);
    nn_status st = NN_OK;
    if (!x || !y || !names)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory (batch of %d)", batch);
    float scale = (float)nn_session_input_scale(s);
    nn_preprocess pre = (nn_preprocess)s->data.preprocess;
    const nn_node *in0 = s->model->input;
    int ch = in0->ndim ? in0->shape[in0->ndim - 1] : 1;
    if (!st && pre)
        st = nn_preprocess_check(pre, scale, ch, err);
    int rows = 0;
    for (int i = 0; !st && i < n_src; i++) {
        nn_npy_reader r = {0};
        if (src[i].npy && (st = nn_npy_open(src[i].path, &r, err)))
            break;
        for (size_t done = 0; !st && done < src[i].n;) {
            size_t k = src[i].n - done;
            if (k > (size_t)(batch - rows))
                k = (size_t)(batch - rows);
            float *row = x + (size_t)rows * per;
            if (src[i].npy) {
                st = nn_npy_read_f32(&r, row, k * per, err);
                for (size_t v = 0; !st && scale != 1.0f && v < k * per; v++)
                    row[v] /= scale; /* as the training data were */
            } else {
                const uint8_t *u = in->data + (src[i].first + done) * per;
                for (size_t v = 0; v < k * per; v++)
                    row[v] = u[v] / scale;
            }
            if (!st && pre)
                nn_preprocess_apply(pre, row, k * per / (size_t)ch, ch);
            for (size_t j = 0; j < k; j++)
                names[rows + (int)j] = (nn_row_name){
                    src[i].path, src[i].whole ? -1 : (long long)(done + j)};
            rows += (int)k;
            done += k;
            if (!st && rows == batch) {
                st = run_batch(s, node, x, y, names, rows, out, err);
                rows = 0;
            }
        }
        nn_npy_close(&r);
    }
    if (!st && rows)
        st = run_batch(s, node, x, y, names, rows, out, err);
    free(x);
    free(y);
    free(names);
    return st;
}

static const char *reading_name(nn_read_kind how)
{
    static const char *const names[] = {"softmax classes", "one sigmoid unit (binary classes)",
                                        "sigmoid units (multi-label)", "values (regression)"};
    return names[how];
}

/* How each printed line reads output `out`: by its activation, else by the
 * loss it was trained with (when the model file has a usable one). */
static nn_status choose_reading(const nn_session *s, const nn_node *out, const nn_args *a,
                                nn_class_names *names, nn_predict_reading *r, nn_error *err)
{
    const nn_loss_info *L = s->train_note[0] ? NULL : s->train.losses[0];
    bool sigmoid = out->act == NN_ACT_SIGMOID || out->act == NN_ACT_HARD_SIGMOID;
    memset(r, 0, sizeof *r);
    if (out->act == NN_ACT_SOFTMAX)
        r->how = NN_READ_TOP_K;
    else if (sigmoid || (L && L->target == NN_TARGET_BINARY))
        r->how = out->size == 1 ? NN_READ_BINARY : NN_READ_MULTI_LABEL;
    else if (L && (L->target == NN_TARGET_ONE_HOT || L->target == NN_TARGET_SPARSE))
        r->how = NN_READ_TOP_K;
    else
        r->how = NN_READ_VALUES;
    r->top_k = a->top_k ? (int)a->top_k : 3;
    r->threshold = 0.5;
    if (a->top_k && r->how != NN_READ_TOP_K)
        return nn_fail(err, NN_ERR_USAGE,
                       "--top-k picks the likeliest of softmax classes, but output '%s' is read "
                       "as %s%s",
                       out->name, reading_name(r->how),
                       r->how == NN_READ_VALUES ? "" : ": see --threshold");
    if (a->threshold) {
        char *end;
        r->threshold = strtod(a->threshold, &end);
        if (*end || end == a->threshold || !(r->threshold >= 0.0 && r->threshold <= 1.0))
            return nn_fail(err, NN_ERR_USAGE, "--threshold: expected a probability in [0, 1], "
                                              "got '%s'",
                           a->threshold);
        if (r->how != NN_READ_BINARY && r->how != NN_READ_MULTI_LABEL)
            return nn_fail(err, NN_ERR_USAGE,
                           "--threshold applies to sigmoid outputs, but output '%s' is read as %s",
                           out->name, reading_name(r->how));
    }
    if (a->labels) {
        nn_status st = nn_class_names_read(a->labels, 1 << 20, names, err);
        if (st)
            return nn_error_prefix(err, "--labels");
    }
    const nn_class_names *use = a->labels ? names : &s->class_names;
    if (use->n && r->how != NN_READ_VALUES) {
        int want = r->how == NN_READ_BINARY ? 2 : (int)out->size;
        if (use->n != want)
            return nn_fail(err, NN_ERR_USAGE,
                           "%s%s%s names %d class%s, but output '%s' has %d (%s)",
                           a->labels ? "--labels '" : "the model file's class names",
                           a->labels ? a->labels : "", a->labels ? "'" : "", use->n,
                           use->n == 1 ? "" : "es", out->name, want,
                           r->how == NN_READ_BINARY ? "class 0 and class 1" : "one per unit");
        r->labels = (const char *const *)use->names;
        r->n_labels = use->n;
    } else if (a->labels) {
        return nn_fail(err, NN_ERR_USAGE, "--labels names classes, but output '%s' is read as %s",
                       out->name, reading_name(r->how));
    }
    return NN_OK;
}

int nn_cmd_predict(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "predict",
                      "set spec threads engine json top-k resize invert output layer threshold "
                      "labels crop",
                      &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos < 2) {
        fprintf(stderr, "nnctl predict: expected a model file and at least one input\n%s", help);
        return 2;
    }
    if ((a.top_k || a.threshold || a.labels) && (a.output || a.layer)) {
        nn_fail(&err, NN_ERR_USAGE,
                "nnctl predict: %s reads the classes to print; with %s every value is written",
                a.top_k ? "--top-k" : a.threshold ? "--threshold" : "--labels",
                a.output ? "-o" : "--layer");
        return nn_cli_report(&err);
    }
    const char *overrides[NN_ARGS_MAX + 2];
    char bufs[2][64];
    int n = 0;
    for (int i = 0; i < a.n_sets; i++)
        overrides[n++] = a.sets[i];
    n += nn_args_overrides(&a, overrides + n, bufs);
    nn_session s;
    pool in = {0};
    source src[NN_ARGS_MAX];
    nn_predict_out out = {0};
    nn_predict_reading reading = {0};
    nn_class_names names = {0};
    int n_src = 0, rc = 0;
    size_t total = 0;
    nn_status st = nn_session_from_model_file(&s, a.pos[0], a.spec, overrides, n, &err);
    if (st)
        goto done;
    const nn_node *input = s.model->input, *node = s.model->output;
    if (s.model->n_inputs > 1) {
        st = nn_fail(&err, NN_ERR_USAGE,
                     "'%s' has %d inputs; predict feeds one input per sample (use eval with a "
                     "spec whose data gives every input, or export --format onnx)",
                     a.pos[0], s.model->n_inputs);
        goto done;
    }
    if (s.model->n_outputs > 1 && !a.layer) {
        char names[512] = "";
        for (int k = 0, o = 0; k < s.model->n_outputs && o < (int)sizeof names; k++)
            o += snprintf(names + o, sizeof names - (size_t)o, "%s%s", k ? ", " : "",
                          s.model->outputs[k]->name);
        st = nn_fail(&err, NN_ERR_USAGE,
                     "'%s' has %d outputs (%s): choose one with --layer NAME", a.pos[0],
                     s.model->n_outputs, names);
        goto done;
    }
    if (a.layer && (st = find_layer(s.model, a.layer, a.pos[0], &node, &err)))
        goto done;
    if (!a.layer && !a.output && (st = choose_reading(&s, node, &a, &names, &reading, &err)))
        goto done;
    in.sample = input->size;
    /* every input is checked before anything is printed or written */
    for (int i = 1; !st && i < a.n_pos; i++) {
        source *c = &src[n_src++];
        *c = (source){.path = a.pos[i], .first = in.n};
        char kind = input_kind(a.pos[i]);
        if (kind == 'n') {
            st = read_npy_input(a.pos[i], input, c, &err);
        } else {
            st = kind == 'p' ? read_image_input(a.pos[i], input, &a, &in, &err)
                             : read_idx_input(a.pos[i], input, &a, &in, &err);
            c->n = in.n - c->first;
            c->whole = kind == 'p';
        }
        total += c->n;
    }
    if (st)
        goto done;
    if (total == 0) {
        st = nn_fail(&err, NN_ERR_USAGE, "the inputs hold no samples");
        goto done;
    }
    int batch = (int)(s.train.batch_size < (long long)total ? s.train.batch_size
                                                            : (long long)total);
    if ((st = nn_model_plan(s.model, batch, &err)) ||
        (st = nn_predict_out_open(&out, a.output, a.layer != NULL, a.json, &reading,
                                  node->name, total, node->ndim, node->shape, &err)) ||
        (st = predict_all(&s, node, src, n_src, &in, batch, &out, &err)))
        goto done;
    st = nn_predict_out_finish(&out, &err);
done:
    if (st)
        rc = nn_cli_report(&err);
    nn_predict_out_free(&out);
    nn_class_names_free(&names);
    free(in.data);
    nn_session_free(&s);
    return rc;
}

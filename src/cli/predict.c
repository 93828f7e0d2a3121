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
#include "cli/predict_in.h"
#include "cli/predict_out.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/npy.h"
#include "layers/registry.h"
#include "session/session.h"

static const char help[] =
    "usage: nnctl predict MODEL INPUT... [options]\n"
    "       nnctl predict MODEL --input NAME=FILE ... [options]   (several inputs)\n"
    "\n"
    "Runs a saved model on PNG or JPEG images (8-bit gray or RGB; a JPEG's EXIF\n"
    "orientation is honoured), IDX files (every sample in them), .npy arrays or\n"
    "folders (every PNG and JPEG in them and their sub-folders, in path order;\n"
    "other files are skipped) and prints one line per input, read by the kind\n"
    "of output the model has:\n"
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
    "ids never are). Pass --set data.scale=1 (data.rescale=1 where the spec has\n"
    "rescale) for arrays scaled already. data.featurewise_* statistics stored in\n"
    "the model file are applied after the scale, as in training.\n"
    "Images must have the model's input size unless --resize is given. A .npy\n"
    "input holds a batch, shape (N, *input shape), or one sample of exactly the\n"
    "input shape (dtype float32, float64, uint8, int32 or int64). An input of a\n"
    "variable (None) length takes it from each .npy file: files of several\n"
    "lengths each run at their own (the model is built again per length).\n"
    "A model of several inputs takes one file per input, --input NAME=FILE, or an\n"
    "HDF5 file holding a dataset per input named after it, shape (N, *input\n"
    "shape); every input the same number of samples.\n"
    "\n"
    "options:\n"
    "      --input NAME=FILE the file (image, IDX, .npy) for model input NAME\n"
    "  -k, --top-k K         classes to print per input (softmax; default 3)\n"
    "      --threshold P     sigmoid outputs: a class is on when p > P (default 0.5)\n"
    "      --labels FILE     class names, one a line (class 0's first), instead of\n"
    "                        the ones stored in the model file; 'imagenet': the\n"
    "                        1,000 ImageNet classes (built in; ./imagenet for a\n"
    "                        file of that name)\n"
    "  -o, --output FILE     write the model's outputs, shape (N, *output shape),\n"
    "                        as float32: .npy (NumPy), .csv, else HDF5 (one\n"
    "                        dataset named after the layer)\n"
    "      --batch-size N    samples per forward pass (default: train.batch_size of\n"
    "                        the stored spec, 32 for a Keras file)\n"
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
    "      --precision P     products in P: float32, mixed_bfloat16 or mixed_float16\n"
    "                        (GPU), whatever the model was trained in (default: its\n"
    "                        own dtype policy)\n"
    "      --device N        the GPU for --engine gpu (default 0)\n"
    "      --json            print a JSON array on stdout, an object per input:\n"
    "                        {input, class, top: [{class, probability}]} (softmax),\n"
    "                        {input, class, probability} (one sigmoid unit),\n"
    "                        {input, classes: [{class, probability}]} (multi-label),\n"
    "                        {input, values} (other outputs); \"label\" next to each\n"
    "                        class with class names (with -o: what was written)\n";

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

/* Embedding layers read an input as token ids: refuse ids the table does
 * not have rather than silently look up zeros. */
static nn_status check_ids(const nn_model *m, const nn_node *input, const float *x,
                           const nn_row_name *names, int rows, nn_error *err)
{
    size_t per = input->size;
    for (int i = 0; i < m->n_nodes; i++) {
        const nn_node *n = m->nodes[i];
        int vocab = nn_embedding_input_dim(n);
        if (!vocab || n->in[0] != input)
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

/* Every input's samples in order, a batch at a time through the model; the
 * node's values go to the output, rows named after the first input's. */
static nn_status predict_all(nn_session *s, const nn_node *node, nn_predict_in *ins, int batch,
                             nn_predict_out *out, nn_error *err)
{
    nn_model *m = s->model;
    float *x[NN_MAX_IO] = {0};
    float *y = malloc((size_t)batch * node->size * sizeof *y);
    nn_row_name *names = malloc((size_t)batch * sizeof *names);
    nn_row_name *other = malloc((size_t)batch * sizeof *other);
    nn_status st = y && names && other ? NN_OK : NN_ERR_RUNTIME;
    for (int i = 0; !st && i < m->n_inputs; i++)
        if (!(x[i] = malloc((size_t)batch * ins[i].per * sizeof *x[i])))
            st = NN_ERR_RUNTIME;
    if (st)
        st = nn_fail(err, NN_ERR_RUNTIME, "out of memory (batch of %d)", batch);
    float scale = (float)nn_session_input_scale(s);
    /* data.preprocess: on the first input, after the scale, as in training */
    nn_preprocess pre = (nn_preprocess)s->data.preprocess;
    const nn_node *in0 = m->inputs[0];
    if (!st && pre &&
        !(st = nn_preprocess_check(pre, scale, in0->ndim ? in0->shape[in0->ndim - 1] : 1, err)))
        ins[0].preprocess = (int)pre;
    /* data.featurewise_*: the training images' statistics, on the first input */
    ins[0].featurewise = nn_session_featurewise(s);
    for (size_t done = 0; !st && done < ins[0].total; done += (size_t)batch) {
        int rows = (int)(ins[0].total - done < (size_t)batch ? ins[0].total - done
                                                             : (size_t)batch);
        for (int i = 0; !st && i < m->n_inputs; i++) {
            nn_row_name *rn = i ? other : names;
            if (!(st = nn_predict_in_read(&ins[i], x[i], (size_t)rows, scale, rn, err)) &&
                !(st = check_ids(m, m->inputs[i], x[i], rn, rows, err)))
                s->engine->ops->upload(s->engine, nn_model_input_tensor_at(m, i), x[i],
                                       (size_t)rows * ins[i].per);
        }
        if (st)
            break;
        nn_pass p = {.e = s->engine, .rows = rows, .training = false};
        nn_model_forward(m, &p);
        if ((st = nn_error_take_deferred(err))) /* a plugin layer that failed */
            break;
        s->engine->ops->download(s->engine, y, &node->out, (size_t)rows * node->size);
        st = nn_predict_out_rows(out, y, names, rows, err);
    }
    for (int i = 0; i < m->n_inputs; i++)
        free(x[i]);
    free(y);
    free(names);
    free(other);
    return st;
}

/* --input NAME=FILE: the model input called NAME, or an error naming them. */
static nn_status input_named(const nn_model *m, const char *arg, int *idx, const char **file,
                             nn_error *err)
{
    const char *eq = strchr(arg, '=');
    const char *names[NN_MAX_IO];
    char list[512] = "";
    for (int i = 0, o = 0; i < m->n_inputs; i++) {
        names[i] = m->inputs[i]->name;
        o += snprintf(list + o, sizeof list - (size_t)o, "%s%s", i ? ", " : "", names[i]);
    }
    if (!eq || eq == arg || !eq[1])
        return nn_fail(err, NN_ERR_USAGE, "--input %s: expected NAME=FILE, NAME a model input "
                                          "(%s)",
                       arg, list);
    for (int i = 0; i < m->n_inputs; i++)
        if (strlen(names[i]) == (size_t)(eq - arg) &&
            !strncmp(names[i], arg, (size_t)(eq - arg))) {
            *idx = i;
            *file = eq + 1;
            return NN_OK;
        }
    char name[NN_NAME_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    const char *guess = nn_did_you_mean(name, names, m->n_inputs);
    return nn_fail(err, NN_ERR_USAGE,
                   "--input %s: '%s' is not an input of the model%s%s%s (inputs: %s)", arg, name,
                   guess ? "; did you mean '" : "", guess ? guess : "", guess ? "'?" : "", list);
}

/* Every model input's files: --input NAME=FILE, an HDF5 file of one dataset
 * per input, or (one input) the files as they are; the same number of
 * samples for every input. */
static nn_status gather_inputs(const nn_model *m, const nn_args *a, nn_predict_in *ins,
                               nn_error *err)
{
    nn_status st = NN_OK;
    const nn_predict_in_opts o = {.resize = a->resize, .crop = a->crop, .invert = a->invert};
    for (int i = 0; i < m->n_inputs; i++)
        nn_predict_in_init(&ins[i], m->inputs[i]);
    for (int k = 0; !st && k < a->n_inputs; k++) {
        int i = 0;
        const char *file = NULL;
        if (!(st = input_named(m, a->inputs[k], &i, &file, err)))
            st = nn_predict_in_add(&ins[i], file, &o, err);
    }
    for (int p = 1; !st && p < a->n_pos; p++) {
        if (nn_predict_is_h5(a->pos[p]))
            st = nn_predict_in_add_h5(ins, m->n_inputs, a->pos[p], err);
        else if (m->n_inputs == 1)
            st = nn_predict_in_add(&ins[0], a->pos[p], &o, err);
        else
            st = nn_fail(err, NN_ERR_USAGE,
                         "'%s': the model has %d inputs: give each its file with --input "
                         "NAME=FILE, or an HDF5 file with a dataset named after each",
                         a->pos[p], m->n_inputs);
    }
    for (int i = 0; !st && i < m->n_inputs; i++) {
        if (ins[i].total == 0)
            st = nn_fail(err, NN_ERR_USAGE, "%s holds no samples%s%s",
                         m->n_inputs > 1 ? "model input" : "the inputs",
                         m->n_inputs > 1 ? " for " : "", m->n_inputs > 1 ? ins[i].node->name : "");
        else if (ins[i].total != ins[0].total)
            st = nn_fail(err, NN_ERR_USAGE,
                         "input '%s' has %zu samples but input '%s' has %zu: every input needs "
                         "one per sample",
                         ins[i].node->name, ins[i].total, ins[0].node->name, ins[0].total);
    }
    return st;
}

/* A model whose input has a None (variable) length: the model is built
 * again for each file at that file's length (--set model.input.shape, the
 * same weights), and the files' rows go to one output in order. What the
 * output holds per sample must not depend on the length. */
static nn_status predict_lengths(const nn_args *a, const char *const *overrides, int n_over,
                                 const nn_predict_reading *reading, nn_error *err)
{
    const char *path = a->pos[0];
    nn_session s;
    nn_status st = nn_session_from_model_file(&s, path, a->spec, overrides, n_over, err);
    if (st) {
        nn_session_free(&s); /* what it had made */
        return st;
    }
    nn_node in = *s.model->input; /* its name and shape, after s is gone */
    size_t total = 0, rows;
    int dims[NN_MAX_DIMS];
    if (s.model->n_inputs > 1 || a->n_inputs)
        st = nn_fail(err, NN_ERR_USAGE,
                     "'%s': a model with a variable (None) input length takes one input, its "
                     ".npy files given as they are",
                     path);
    for (int p = 1; !st && p < a->n_pos; p++)
        if (!(st = nn_predict_in_lengths(&in, a->pos[p], dims, &rows, err)))
            total += rows;
    nn_session_free(&s);
    nn_predict_out out = {0};
    int out_ndim = 0, out_shape[NN_MAX_DIMS];
    const char *first = NULL;
    for (int p = 1; !st && p < a->n_pos; p++) {
        const char *file = a->pos[p];
        char shape[256] = "model.input.shape=[";
        const char *ov[NN_ARGS_MAX + 3];
        int k = 0;
        for (; k < n_over; k++)
            ov[k] = overrides[k];
        ov[k++] = shape;
        nn_predict_in ins = {0};
        bool have_s = false, have_in = false;
        const nn_node *node;
        if ((st = nn_predict_in_lengths(&in, file, dims, &rows, err)))
            break;
        for (int d = 0; d < in.ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "," : "",
                     dims[d]);
        strcat(shape, "]");
        if ((st = nn_session_from_model_file(&s, path, a->spec, ov, k, err))) {
            nn_session_free(&s); /* what it had made */
            break;
        }
        have_s = true;
        node = s.model->output;
        if (!(st = nn_args_apply_precision(a, s.model, s.engine, err)) && a->layer &&
            !(st = find_layer(s.model, a->layer, path, &node, err)))
            s.model->nodes[node->index]->keep_out = true;
        if (!st && first &&
            (node->ndim != out_ndim || memcmp(node->shape, out_shape, sizeof *out_shape * out_ndim)))
            st = nn_fail(err, NN_ERR_USAGE,
                         "'%s' and '%s': layer '%s' has a different shape at each length; "
                         "predict them one length at a time (one command each)",
                         first, file, node->name);
        if (!st && !first) {
            first = file;
            out_ndim = node->ndim;
            memcpy(out_shape, node->shape, sizeof *out_shape * node->ndim);
            st = nn_predict_out_open(&out, a->output, a->layer != NULL, a->json, reading,
                                     node->name, total, node->ndim, node->shape, err);
        }
        if (!st) {
            nn_predict_in_init(&ins, s.model->input);
            have_in = true;
            const nn_predict_in_opts o = {0};
            st = nn_predict_in_add(&ins, file, &o, err);
        }
        long long want = a->batch_size ? a->batch_size : s.train.batch_size;
        int batch = (int)(want < (long long)rows ? want : (long long)rows);
        if (!st && !(st = nn_model_plan(s.model, batch, err)))
            st = predict_all(&s, node, &ins, batch, &out, err);
        if (have_in)
            nn_predict_in_free(&ins);
        if (have_s)
            nn_session_free(&s);
    }
    if (!st)
        st = nn_predict_out_finish(&out, err);
    nn_predict_out_free(&out);
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
        nn_status st = strcmp(a->labels, "imagenet") == 0
                           ? nn_class_names_imagenet(names, err)
                           : nn_class_names_read(a->labels, 1 << 20, names, err);
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
                      "set spec threads engine precision json top-k resize invert output layer threshold "
                      "labels crop input batch-size",
                      &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos < 2 && !a.n_inputs) {
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
    nn_predict_in *ins = NULL;
    nn_predict_out out = {0};
    nn_predict_reading reading = {0};
    nn_class_names names = {0};
    int rc = 0;
    nn_status st = nn_session_from_model_file(&s, a.pos[0], a.spec, overrides, n, &err);
    if (!st)
        st = nn_args_apply_precision(&a, s.model, s.engine, &err);
    if (st)
        goto done;
    const nn_node *node = s.model->output;
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
    if (a.layer) /* read after each pass: its buffer is not shared */
        s.model->nodes[node->index]->keep_out = true;
    if (!a.layer && !a.output && (st = choose_reading(&s, node, &a, &names, &reading, &err)))
        goto done;
    if (nn_predict_in_variable(s.model->input)) {
        st = predict_lengths(&a, overrides, n, &reading, &err);
        goto done;
    }
    /* every input is checked before anything is printed or written */
    if (!(ins = calloc((size_t)s.model->n_inputs, sizeof *ins))) {
        st = nn_fail(&err, NN_ERR_RUNTIME, "out of memory");
        goto done;
    }
    if ((st = gather_inputs(s.model, &a, ins, &err)))
        goto done;
    size_t total = ins[0].total;
    long long want = a.batch_size ? a.batch_size : s.train.batch_size;
    int batch = (int)(want < (long long)total ? want : (long long)total);
    if ((st = nn_model_plan(s.model, batch, &err)) ||
        (st = nn_predict_out_open(&out, a.output, a.layer != NULL, a.json, &reading,
                                  node->name, total, node->ndim, node->shape, &err)) ||
        (st = predict_all(&s, node, ins, batch, &out, &err)))
        goto done;
    st = nn_predict_out_finish(&out, &err);
done:
    if (st)
        rc = nn_cli_report(&err);
    nn_predict_out_free(&out);
    nn_class_names_free(&names);
    for (int i = 0; ins && i < s.model->n_inputs; i++)
        nn_predict_in_free(&ins[i]);
    free(ins);
    nn_session_free(&s);
    return rc;
}

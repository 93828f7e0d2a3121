/* nnctl eval MODEL */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/eval_report.h"
#include "dist/dist.h"
#include "util/json.h"
#include "session/session.h"

static const char help[] =
    "usage: nnctl eval MODEL [options]      (alias: nnctl evaluate)\n"
    "\n"
    "Evaluates a saved model (.h5) on the data its stored spec names, and prints\n"
    "the loss and every metric. A model Keras saved has no such spec: give the\n"
    "data with --spec FILE (a data section; a train section too when the file\n"
    "has no training_config); the model and its weights come from the file.\n"
    "\n"
    "options:\n"
    "      --data test|train|validation  which data (default test)\n"
    "  -s, --set KEY=VALUE   override a key of the stored spec, e.g.\n"
    "                        --set data.test.images=other-images.idx.gz\n"
    "      --spec FILE       use this spec instead of the stored one (its model\n"
    "                        section, when it has one, instead of the file's)\n"
    "      --batch-size N    evaluation batch size (default: the training one)\n"
    "  -t, --threads N       threads (0: all cores)\n"
    "      --engine cpu|gpu  compute engine\n"
    "      --precision P     products in P: float32, mixed_bfloat16 or mixed_float16\n"
    "                        (GPU), whatever the model was trained in (default: its\n"
    "                        own dtype policy)\n"
    "      --device N        the GPU for --engine gpu (default 0)\n"
    "      --json            print {\"loss\": ..., \"accuracy\": ..., ...} on stdout\n"
    "\n"
    "A classifier whose classes have names (the training data's, stored in the\n"
    "model file: CIFAR-10's batches.meta.txt, an image folder's sub-folders) also\n"
    "gets each class's samples and accuracy, by name (--json: \"classes\").\n";

int nn_cmd_eval(int argc, char **argv)
{
    nn_args a;
    nn_error err = {0};
    if (nn_args_parse(argc, argv, "eval", "set spec data threads engine precision json batch-size", &a, &err))
        return nn_cli_report(&err);
    if (a.help)
        return nn_cli_help(help);
    if (a.n_pos != 1) {
        fprintf(stderr, "nnctl eval: expected one model file, got %d arguments\n%s", a.n_pos,
                help);
        return 2;
    }
    const char *overrides[NN_ARGS_MAX + 2];
    char bufs[2][64];
    int n = 0;
    for (int i = 0; i < a.n_sets; i++)
        overrides[n++] = a.sets[i];
    n += nn_args_overrides(&a, overrides + n, bufs);
    nn_session s;
    const nn_dataset *d = NULL;
    nn_eval_result r;
    const char *which = a.data ? a.data : "test";
    /* under mpirun each rank evaluates its share of the data (rank 0 prints) */
    nn_dist *dist = NULL;
    nn_status st = nn_dist_join(&dist, &err);
    if (st)
        return nn_cli_report(&err);
    st = nn_session_from_model_file(&s, a.pos[0], a.spec, overrides, n, &err);
    if (!st)
        st = nn_args_apply_precision(&a, s.model, s.engine, &err);
    if (!st)
        st = nn_session_load_eval(&s, which, &d, &err);
    if (!(st = nn_dist_agree(dist, st, &err)))
        st = nn_evaluate(s.model, &s.train, &s.obj, d,
                         (int)(a.batch_size ? a.batch_size : s.train.batch_size), dist, &r, &err);
    int rc = 0;
    if (st) {
        rc = nn_cli_report(&err);
    } else if (a.json) {
        json_t *o = nn_eval_json(&s.train, &r, which);
        nn_eval_json_classes(o, &r, &s.class_names);
        char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        if (text)
            puts(text);
        free(text);
        json_decref(o);
    } else {
        nn_eval_print(stdout, which, &s.train, &r);
        nn_eval_print_classes(stdout, &r, &s.class_names);
    }
    nn_session_free(&s);
    nn_dist_leave(dist);
    return rc;
}

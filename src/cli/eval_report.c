/* How train and eval report an evaluation: one line for people, one JSON
 * object for scripts, with the same names: loss, each output's loss when
 * there are several, then the metrics. */
#include <string.h>

#include "cli/eval_report.h"
#include "util/json.h"

void nn_eval_logs(const nn_train_cfg *t, const nn_eval_result *r, nn_logs *l)
{
    char name[160];
    l->n = 0;
    nn_logs_set(l, "loss", r->loss);
    for (int k = 0; t->n_outputs > 1 && k < t->n_outputs; k++) {
        nn_head_loss_name(t, k, name, sizeof name);
        nn_logs_set(l, name, r->head_loss[k]);
    }
    for (int i = 0; i < t->n_metrics; i++)
        nn_logs_set(l, t->metrics[i].name, r->metrics[i]);
}

void nn_eval_print(FILE *f, const char *what, const nn_train_cfg *t, const nn_eval_result *r)
{
    nn_logs l;
    nn_eval_logs(t, r, &l);
    fprintf(f, "%s: %zu sample%s", what, r->samples, r->samples == 1 ? "" : "s");
    for (int i = 0; i < l.n; i++) {
        char v[32];
        nn_format_value(l.values[i], v, sizeof v);
        fprintf(f, " - %s: %s", l.names[i], v);
    }
    fputc('\n', f);
}

json_t *nn_eval_json(const nn_train_cfg *t, const nn_eval_result *r, const char *data)
{
    nn_logs l;
    nn_eval_logs(t, r, &l);
    json_t *o = json_object();
    json_object_set_new(o, "data", json_string(data));
    json_object_set_new(o, "samples", json_integer((json_int_t)r->samples));
    for (int i = 0; i < l.n; i++)
        json_object_set_new(o, l.names[i], nn_json_number(l.values[i]));
    return o;
}

void nn_eval_print_classes(FILE *f, const nn_eval_result *r, const nn_class_names *names)
{
    if (!r->n_classes || names->n != r->n_classes)
        return;
    int w = 5;
    for (int c = 0; c < names->n; c++)
        if ((int)strlen(names->names[c]) > w)
            w = (int)strlen(names->names[c]);
    fprintf(f, "  %-*s  %8s  %8s\n", w + 4, "class", "samples", "accuracy");
    for (int c = 0; c < r->n_classes; c++) {
        char v[32] = "-";
        if (r->class_samples[c])
            nn_format_value((double)r->class_right[c] / (double)r->class_samples[c], v,
                            sizeof v);
        fprintf(f, "  %3d %-*s  %8zu  %8s\n", c, w, names->names[c], r->class_samples[c], v);
    }
}

void nn_eval_json_classes(json_t *o, const nn_eval_result *r, const nn_class_names *names)
{
    if (!r->n_classes || names->n != r->n_classes)
        return;
    json_t *list = json_array();
    for (int c = 0; c < r->n_classes; c++) {
        size_t n = r->class_samples[c];
        json_array_append_new(
            list, json_pack("{s:i, s:s, s:I, s:o}", "class", c, "label", names->names[c],
                            "samples", (json_int_t)n,
                            "accuracy", n ? json_real((double)r->class_right[c] / (double)n)
                                          : json_null()));
    }
    json_object_set_new(o, "classes", list);
}

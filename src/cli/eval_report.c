/* How train and eval report an evaluation: one line for people, one JSON
 * object for scripts, with the same names: loss, each output's loss when
 * there are several, then the metrics. */
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

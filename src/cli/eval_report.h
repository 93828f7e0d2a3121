/* Evaluation results as train and eval print them. */
#ifndef NN_CLI_EVAL_REPORT_H
#define NN_CLI_EVAL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "data/dataset.h"
#include "train/fit.h"

/* loss, "<output>_loss" for each of several outputs, the metrics. */
void nn_eval_logs(const nn_train_cfg *t, const nn_eval_result *r, nn_logs *l);
/* "Test: 10000 samples - loss: 0.0312 - accuracy: 0.9921" */
void nn_eval_print(FILE *f, const char *what, const nn_train_cfg *t, const nn_eval_result *r);
/* {"data": data, "samples": n, "loss": ..., ...} */
json_t *nn_eval_json(const nn_train_cfg *t, const nn_eval_result *r, const char *data);
/* With class names for output 0's classes: each class's samples and
 * accuracy (the share of them predicted as that class), a table after the
 * line above, and "classes": [{class, label, samples, accuracy}] in the
 * JSON. Nothing without names. */
void nn_eval_print_classes(FILE *f, const nn_eval_result *r, const nn_class_names *names);
void nn_eval_json_classes(json_t *o, const nn_eval_result *r, const nn_class_names *names);

#endif

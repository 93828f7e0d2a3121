/* Evaluation results as train and eval print them. */
#ifndef NN_CLI_EVAL_REPORT_H
#define NN_CLI_EVAL_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "train/fit.h"

/* loss, "<output>_loss" for each of several outputs, the metrics. */
void nn_eval_logs(const nn_train_cfg *t, const nn_eval_result *r, nn_logs *l);
/* "Test: 10000 samples - loss: 0.0312 - accuracy: 0.9921" */
void nn_eval_print(FILE *f, const char *what, const nn_train_cfg *t, const nn_eval_result *r);
/* {"data": data, "samples": n, "loss": ..., ...} */
json_t *nn_eval_json(const nn_train_cfg *t, const nn_eval_result *r, const char *data);

#endif

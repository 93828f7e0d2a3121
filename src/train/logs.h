/* One epoch's logged values, by name, in a fixed order:
 * loss, metrics..., val_loss, val_metrics..., lr. */
#ifndef NN_TRAIN_LOGS_H
#define NN_TRAIN_LOGS_H

#include <stdbool.h>

#define NN_MAX_LOGS 96

typedef struct nn_logs {
    int n;
    char names[NN_MAX_LOGS][160];
    double values[NN_MAX_LOGS];
} nn_logs;

void nn_logs_set(nn_logs *l, const char *name, double value);
/* false when absent */
bool nn_logs_get(const nn_logs *l, const char *name, double *value);
/* Keras's number format: %.4f, or %.4e for tiny magnitudes. */
void nn_format_value(double v, char *buf, int len);

#endif

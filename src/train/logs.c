#include <math.h>
#include <stdio.h>
#include <string.h>

#include "train/logs.h"

void nn_logs_set(nn_logs *l, const char *name, double value)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) {
            l->values[i] = value;
            return;
        }
    if (l->n == NN_MAX_LOGS)
        return;
    snprintf(l->names[l->n], sizeof l->names[0], "%s", name);
    l->values[l->n++] = value;
}

bool nn_logs_get(const nn_logs *l, const char *name, double *value)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) {
            *value = l->values[i];
            return true;
        }
    return false;
}

void nn_format_value(double v, char *buf, int len)
{
    if (fabs(v) > 1e-3 || v == 0.0)
        snprintf(buf, (size_t)len, "%.4f", v);
    else
        snprintf(buf, (size_t)len, "%.4e", v);
}

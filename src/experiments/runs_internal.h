/* Private to src/experiments/: what its files share. */
#ifndef NN_EXPERIMENTS_RUNS_INTERNAL_H
#define NN_EXPERIMENTS_RUNS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

/* A malloc'd formatted string; NULL (and err set) when out of memory. */
char *nn_runs__asprintf(nn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shortest decimal text that reads back as v; integral values keep a ".0"
 * (keep_point) so that they read as floats (as libconfig writes them). */
void nn_runs__format_double(char *buf, size_t size, double v, bool keep_point);

#endif

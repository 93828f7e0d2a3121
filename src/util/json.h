/* JSON helpers over jansson. */
#ifndef NN_UTIL_JSON_H
#define NN_UTIL_JSON_H

#include <jansson.h>

/* A number, or null when it is NaN or infinite (JSON has no such values,
 * and jansson refuses them). */
json_t *nn_json_number(double v);

#endif

#include <math.h>

#include "util/json.h"

json_t *nn_json_number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

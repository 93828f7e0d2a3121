/* Text renderings of a JSON value (a model's Keras config) for nnctl
 * export: JSON laid out like Python's json.dumps(obj, indent=2), and YAML
 * that yaml.safe_load reads back to what json.loads reads from the JSON.
 * Floats get the shortest text that reads back to the same double (as
 * Python's repr writes them). Both return a malloc'd string ending in a
 * newline, or NULL when out of memory. */
#ifndef NN_IO_CONFIG_TEXT_H
#define NN_IO_CONFIG_TEXT_H

#include <jansson.h>

char *nn_json_text(const json_t *v);
char *nn_yaml_text(const json_t *v);

#endif

/* Plugins (include/nnctl/plugin.h): loading shared libraries, checking
 * their ABI, and the rows they register (layers, regularizers, losses,
 * metrics, callbacks), which go into the same registries as the built-in
 * types. */
#ifndef NN_PLUGIN_LOADER_H
#define NN_PLUGIN_LOADER_H

#include <stdbool.h>
#include <stdio.h>

#include "spec/spec.h"
#include "util/error.h"

#include "nnctl/plugin.h"

/* Loads the plugin at path (once: a second load of the same file does
 * nothing). Errors name the file and what is wrong with it. */
nn_status nn_plugin_load(const char *path, nn_error *err);

/* Loads every --plugin FILE (and --plugin=FILE) of argv and removes them. */
nn_status nn_cli_take_plugins(int *argc, char **argv, nn_error *err);

/* Loads a spec's `plugins = ["FILE", ...]` (relative to the spec's folder,
 * else as given); keep_going: past a file that fails (the first error is
 * still returned). */
nn_status nn_spec_plugins(nn_spec *spec, bool keep_going, nn_error *err);

/* What loaded plugins registered, for `nnctl plugins`: every plugin with
 * its types and their keys. */
void nn_plugins_describe(FILE *out);
/* Destroys the instances plugin types made (regularizers, losses,
 * metrics), before exit. */
void nn_plugins_release(void);
/* Plugins loaded so far. */
int nn_plugin_count(void);

/* The plugin a registered row came from, by the row's plugin pointer:
 * its name (for model files' module fields and messages). */
const char *nn_plugin_name_of(const void *row_plugin);

#endif

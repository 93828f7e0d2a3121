/* Files that are never half-written: write a temporary file in the same
 * directory, fsync it, rename it over the target, fsync the directory. */
#ifndef NN_UTIL_FILEIO_H
#define NN_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

nn_status nn_write_file_atomic(const char *path, const void *data, size_t len, nn_error *err);
/* mkdir -p */
/* fsync of the folder that holds path, so a rename into it is durable. */
void nn_fsync_parent_dir(const char *path);
nn_status nn_mkdirs(const char *path, nn_error *err);
/* Removes "<name>.tmp.<pid>" files in dir left by processes that no longer
 * run (killed while writing); returns how many. */
int nn_remove_stale_temps(const char *dir);
/* Reads a whole file (NUL-terminated); caller frees. */
/* A relative path of parts: nonempty, not starting with '/', no empty,
 * "." or ".." part (HDF5 group paths, Keras names such as conv1/conv). */
bool nn_rel_path_ok(const char *s);

nn_status nn_read_file(const char *path, char **data, size_t *len, nn_error *err);

/* This binary's path (/proc/self/exe resolved, so a link to it gives the
 * real file); false when it cannot be read or does not fit in n. */
bool nn_exe_path(char *out, size_t n);
/* The folder `up` levels above this binary's (0: the folder holding it,
 * 1: its parent: a checkout or PREFIX); "" for "/". false as above. */
bool nn_exe_dir(char *out, size_t n, int up);

#endif

/* Errors are values: every function that can fail returns an nn_status and
 * fills an nn_error; only main() prints it and chooses the exit code. */
#ifndef NN_UTIL_ERROR_H
#define NN_UTIL_ERROR_H

#include <stddef.h>

typedef enum {
    NN_OK = 0,
    NN_ERR_RUNTIME = 1, /* I/O, data, numerical failure: exit code 1 */
    NN_ERR_USAGE = 2    /* bad command line or spec: exit code 2 */
} nn_status;

typedef struct nn_error {
    nn_status code;
    char msg[2048];
} nn_error;

/* Sets err (if non-NULL) and returns code, so callers can write
 * `return nn_fail(err, NN_ERR_USAGE, "...", ...);`. */
nn_status nn_fail(nn_error *err, nn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (adds context on the way up). */
nn_status nn_error_prefix(nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ranks other than 0 of an MPI job stay quiet: rank 0 prints errors,
 * warnings and notes for the whole job (other ranks' errors reach it
 * through nn_dist_agree). */
void nn_set_quiet(int quiet);
int nn_is_quiet(void);
/* Errors from code that cannot return one (a plugin layer's pass inside a
 * model's forward pass): the first is kept until taken, and whoever runs
 * the passes (the fit loop, evaluation, predict) takes it after them. */
void nn_error_defer(nn_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The deferred error into err (returns its code), or NN_OK when none. */
nn_status nn_error_take_deferred(nn_error *err);

/* Allocation helpers that report failure through err instead of aborting. */
void *nn_malloc(size_t bytes, nn_error *err);
void *nn_calloc(size_t count, size_t size, nn_error *err);
char *nn_strdup(const char *s, nn_error *err);

#endif

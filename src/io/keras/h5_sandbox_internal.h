/* Private to the HDF5 sandbox (h5_sandbox.c, the parent; h5_child.c, the
 * confined reader; h5_message.c, what crosses the pipe between them). */
#ifndef NN_IO_KERAS_H5_SANDBOX_INTERNAL_H
#define NN_IO_KERAS_H5_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "io/keras/h5_internal.h"

#define MSG_MAGIC 0x3548484eu /* "NHH5" */
#define MSG_MAX ((size_t)256 << 20) /* names and JSON: far above any real model */
#define CHILD_PIPE_FD NN_H5_SANDBOX_PIPE_FD
#define CHILD_ARENA_FD 4
/* libhdf5's own allocations (metadata cache, chunk buffers, strings) on top
 * of what the child had at the fork: generous for any real file, small
 * enough that a corrupt size field stops at it instead of at the machine's
 * memory. The weights themselves go to the arena, capped separately. */
#define HEAP_BUDGET ((size_t)512 << 20)
#define ALIGN 64

#if defined(__SANITIZE_ADDRESS__)
#define NN_SANDBOX_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_SANDBOX_SANITIZED 1
#endif
#endif

/* The weights' memory: a memfd the child fills and the parent maps. */
typedef struct arena {
    char *base;
    size_t cap, used;
} arena;

/* A growing message buffer (oom: an allocation failed; what follows is dropped). */
typedef struct buf {
    char *p;
    size_t n, cap;
    bool oom;
} buf;

/* ---- h5_message.c ---- */

void nn_h5__msg_put(buf *b, const void *data, size_t len);
/* What the child read: every field, the arrays as offsets into ar. */
void nn_h5__msg_encode(buf *b, nn_h5_model *m, const arena *ar, bool confined);
/* The child's error: status and message. */
void nn_h5__msg_error(buf *b, nn_status code, const char *msg);
/* The child's answer into m (checked field by field; the arena mapped from
 * arena_fd), or its error. */
nn_status nn_h5__msg_decode(const char *path, const buf *b, int arena_fd, nn_h5_model *m,
                            nn_error *err);

/* ---- h5_child.c ---- */

/* The confined reader, in the forked child: reads path, the weights
 * stored as plain float32 left in the file (their offsets sent) and the
 * others into the arena (at most arena_cap bytes), sends the answer over
 * pipe_fd; never returns. */
void nn_h5__child_main(const char *path, bool with_optimizer, int pipe_fd, int arena_fd,
                       size_t arena_cap, unsigned cpu_seconds);

#endif

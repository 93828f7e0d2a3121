/* TensorBoard event files, written as TensorFlow writes them.
 *
 * A file is a sequence of TFRecords (little-endian):
 *   uint64 length, uint32 masked_crc32c(length bytes), data, uint32 masked_crc32c(data)
 * where masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 and c is CRC32C
 * (Castagnoli). Each record's data is a serialized tensorboard.Event:
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; oneof { float simple_value = 2; HistogramProto histo = 5; } }
 *   HistogramProto { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
 *                    repeated double bucket_limit = 6 [packed], bucket = 7 [packed]; }
 * (field numbers from tensorboard/compat/proto/{event,summary,histogram}.proto).
 * The protobuf encoding is written by hand below, the way protobuf's own
 * serializer writes it: fields in number order, proto3 defaults (0) left
 * out, oneof members always written. The first record of a file is
 * Event{wall_time, file_version: "brain.Event:2"}. */
#ifndef NN_IO_TFEVENTS_H
#define NN_IO_TFEVENTS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/protobuf.h"
#include "util/error.h"

/* ---- checksums ---- */
uint32_t nn_crc32c(const void *data, size_t n);
uint32_t nn_crc32c_mask(uint32_t crc);

/* ---- Event payloads ----
 * An encoder owns its buffers (reused from call to call); each function
 * leaves the serialized Event in enc->event and returns false only when
 * out of memory. */
typedef struct nn_tfenc {
    nn_proto event, a, b;
    double *limits, *counts, *merged; /* TensorFlow's default histogram buckets */
    size_t n_limits;
} nn_tfenc;

bool nn_tfenc_file_version(nn_tfenc *e, double wall_time);
bool nn_tfenc_scalar(nn_tfenc *e, double wall_time, int64_t step, const char *tag, float value);
/* A histogram of n values with TensorFlow's default buckets (limits
 * +-1e-12 * 1.1^k up to 1e20, 0 and +-DBL_MAX; runs of empty buckets
 * merged), as tf.summary.histogram's v1 op writes it. */
bool nn_tfenc_histogram(nn_tfenc *e, double wall_time, int64_t step, const char *tag,
                        const float *values, size_t n);
void nn_tfenc_free(nn_tfenc *e);

/* The 12 bytes before a record's data and the 4 after it. */
void nn_tfrecord_frame(const void *data, size_t n, uint8_t header[12], uint8_t footer[4]);

/* ---- an event file ---- */
typedef struct nn_tfevents {
    FILE *f;
    char path[PATH_MAX];
    nn_tfenc enc;
} nn_tfevents;

/* Creates dir (mkdir -p) and in it
 *   events.out.tfevents.<10-digit unix time>.<hostname>.<pid>.v2
 * and writes the file_version record. Never overwrites: an existing file of
 * that name is appended to. */
nn_status nn_tfevents_open(nn_tfevents *w, const char *dir, nn_error *err);
nn_status nn_tfevents_scalar(nn_tfevents *w, int64_t step, const char *tag, double value,
                             nn_error *err);
nn_status nn_tfevents_histogram(nn_tfevents *w, int64_t step, const char *tag,
                                const float *values, size_t n, nn_error *err);
/* fflush + fsync. */
nn_status nn_tfevents_flush(nn_tfevents *w, nn_error *err);
/* Flushes and closes; safe on a writer never opened (zeroed). */
void nn_tfevents_close(nn_tfevents *w);

/* Wall-clock seconds since the epoch, as Event.wall_time. */
double nn_tfevents_now(void);

#endif

/* A minimal protocol-buffers writer: the wire format the ONNX export and
 * the TensorBoard event files need (varints, fixed32/fixed64 numbers,
 * length-delimited bytes, nested messages, packed repeated numbers). A message is built bottom-up in its own buffer
 * and then appended to its parent as a length-delimited field.
 *
 * Allocation failures are sticky: the buffer sets `oom` and ignores further
 * writes, so a builder checks once at the end instead of after every field. */
#ifndef NN_IO_PROTOBUF_H
#define NN_IO_PROTOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nn_proto {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} nn_proto;

void nn_proto_free(nn_proto *b);
/* Empties b for reuse, keeping its memory. */
void nn_proto_reset(nn_proto *b);

/* Wire type 0. Negative int64 values are written as their 64-bit two's
 * complement (10 bytes), as protobuf does for int32/int64 fields. */
void nn_proto_varint(nn_proto *b, int field, uint64_t v);
void nn_proto_int64(nn_proto *b, int field, int64_t v);
/* Wire type 5 (a `float` field) and 1 (a `double` field). */
void nn_proto_float(nn_proto *b, int field, float v);
void nn_proto_double(nn_proto *b, int field, double v);
/* Wire type 2: bytes, a string (without its NUL), a nested message. */
void nn_proto_bytes(nn_proto *b, int field, const void *data, size_t len);
void nn_proto_string(nn_proto *b, int field, const char *s);
void nn_proto_message(nn_proto *b, int field, const nn_proto *msg);
/* Bytes that are already whole encoded fields (a message's parts built
 * in separate buffers): appending them appends those fields. */
void nn_proto_raw(nn_proto *b, const void *data, size_t len);
/* Packed repeated fields (one length-delimited field holding the values). */
void nn_proto_packed_int64(nn_proto *b, int field, const int64_t *v, size_t n);
void nn_proto_packed_float(nn_proto *b, int field, const float *v, size_t n);
/* Packed doubles; n = 0 writes nothing (an empty repeated field). */
void nn_proto_packed_double(nn_proto *b, int field, const double *v, size_t n);

#endif

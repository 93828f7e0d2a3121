/* The protobuf wire format (see protobuf.h). Little-endian output is built
 * byte by byte, so the host's byte order does not matter. */
#include <stdlib.h>
#include <string.h>

#include "util/protobuf.h"

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

void nn_proto_free(nn_proto *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void nn_proto_reset(nn_proto *b)
{
    b->len = 0;
    b->oom = false;
}

static bool reserve(nn_proto *b, size_t more)
{
    if (b->oom)
        return false;
    if (more > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

static void put(nn_proto *b, const void *p, size_t n)
{
    if (n && reserve(b, n)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
}

static void raw_varint(nn_proto *b, uint64_t v)
{
    uint8_t buf[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        buf[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    put(b, buf, n);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

static void tag(nn_proto *b, int field, int wire)
{
    raw_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

static void raw_fixed32(nn_proto *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t buf[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    put(b, buf, 4);
}

static void raw_fixed64(nn_proto *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    uint8_t buf[8];
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(u >> (8 * i));
    put(b, buf, 8);
}

void nn_proto_varint(nn_proto *b, int field, uint64_t v)
{
    tag(b, field, WIRE_VARINT);
    raw_varint(b, v);
}

void nn_proto_int64(nn_proto *b, int field, int64_t v) { nn_proto_varint(b, field, (uint64_t)v); }

void nn_proto_float(nn_proto *b, int field, float v)
{
    tag(b, field, WIRE_FIXED32);
    raw_fixed32(b, v);
}

void nn_proto_double(nn_proto *b, int field, double v)
{
    tag(b, field, WIRE_FIXED64);
    raw_fixed64(b, v);
}

void nn_proto_bytes(nn_proto *b, int field, const void *data, size_t len)
{
    tag(b, field, WIRE_LEN);
    raw_varint(b, len);
    put(b, data, len);
}

void nn_proto_string(nn_proto *b, int field, const char *s) { nn_proto_bytes(b, field, s, strlen(s)); }

void nn_proto_message(nn_proto *b, int field, const nn_proto *msg)
{
    if (msg->oom) {
        b->oom = true;
        return;
    }
    nn_proto_bytes(b, field, msg->data, msg->len);
}

void nn_proto_raw(nn_proto *b, const void *data, size_t len) { put(b, data, len); }

void nn_proto_packed_int64(nn_proto *b, int field, const int64_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += varint_len((uint64_t)v[i]);
    tag(b, field, WIRE_LEN);
    raw_varint(b, len);
    for (size_t i = 0; i < n; i++)
        raw_varint(b, (uint64_t)v[i]);
}

void nn_proto_packed_float(nn_proto *b, int field, const float *v, size_t n)
{
    if (n > SIZE_MAX / 8) {
        b->oom = true;
        return;
    }
    tag(b, field, WIRE_LEN);
    raw_varint(b, (uint64_t)n * 4);
    if (!reserve(b, n * 4))
        return;
    for (size_t i = 0; i < n; i++)
        raw_fixed32(b, v[i]);
}

void nn_proto_packed_double(nn_proto *b, int field, const double *v, size_t n)
{
    if (n == 0)
        return;
    if (n > SIZE_MAX / 16) {
        b->oom = true;
        return;
    }
    tag(b, field, WIRE_LEN);
    raw_varint(b, (uint64_t)n * 8);
    if (!reserve(b, n * 8))
        return;
    for (size_t i = 0; i < n; i++)
        raw_fixed64(b, v[i]);
}

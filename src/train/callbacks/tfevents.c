/* TensorBoard event files: hand-written protobuf and TFRecord framing
 * (see tfevents.h for the messages and field numbers). */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "train/callbacks/tfevents.h"
#include "util/fileio.h"

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ---- */

uint32_t nn_crc32c(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

uint32_t nn_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

static void put_le(uint8_t *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

void nn_tfrecord_frame(const void *data, size_t n, uint8_t header[12], uint8_t footer[4])
{
    put_le(header, (uint64_t)n, 8);
    put_le(header + 8, nn_crc32c_mask(nn_crc32c(header, 8)), 4);
    put_le(footer, nn_crc32c_mask(nn_crc32c(data, n)), 4);
}

/* proto3 leaves out scalar fields that hold their default (bitwise 0). */
static void pb_double_nz(nn_proto *b, int field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    if (bits)
        nn_proto_double(b, field, v);
}

/* ---- Events ---- */

enum { EV_WALL_TIME = 1, EV_STEP = 2, EV_FILE_VERSION = 3, EV_SUMMARY = 5 };
enum { SUM_VALUE = 1 };
enum { VAL_TAG = 1, VAL_SIMPLE = 2, VAL_HISTO = 5 };
enum { H_MIN = 1, H_MAX, H_NUM, H_SUM, H_SUM_SQUARES, H_BUCKET_LIMIT, H_BUCKET };

static void event_head(nn_proto *ev, double wall_time, int64_t step)
{
    nn_proto_reset(ev);
    pb_double_nz(ev, EV_WALL_TIME, wall_time);
    if (step)
        nn_proto_int64(ev, EV_STEP, step);
}

bool nn_tfenc_file_version(nn_tfenc *e, double wall_time)
{
    static const char version[] = "brain.Event:2";
    event_head(&e->event, wall_time, 0);
    nn_proto_bytes(&e->event, EV_FILE_VERSION, version, sizeof version - 1);
    return !e->event.oom;
}

/* Event{wall_time, step, summary: Summary{value: [<e->b>]}}, with the Value
 * already in e->b. */
static bool finish_summary_event(nn_tfenc *e, double wall_time, int64_t step)
{
    nn_proto_reset(&e->a);
    nn_proto_message(&e->a, SUM_VALUE, &e->b);
    event_head(&e->event, wall_time, step);
    nn_proto_message(&e->event, EV_SUMMARY, &e->a);
    return !e->event.oom;
}

bool nn_tfenc_scalar(nn_tfenc *e, double wall_time, int64_t step, const char *tag, float value)
{
    nn_proto_reset(&e->b);
    nn_proto_bytes(&e->b, VAL_TAG, tag, strlen(tag));
    nn_proto_float(&e->b, VAL_SIMPLE, value); /* a oneof member: written even when 0 */
    return finish_summary_event(e, wall_time, step);
}

/* tensorflow/core/lib/histogram/histogram.cc, InitDefaultBucketsInner():
 * -DBL_MAX, -1e20.., ..-1e-12, 0, 1e-12.., ..1e20, DBL_MAX; each 1.1 times
 * the last, computed by the same repeated multiplication. */
static bool default_limits(nn_tfenc *e)
{
    if (e->limits)
        return true;
    size_t k = 0;
    for (double v = 1.0e-12; v < 1.0e20; v *= 1.1)
        k++;
    size_t n = 2 * k + 3;
    e->limits = malloc(n * sizeof(double));
    e->counts = malloc(n * sizeof(double));
    e->merged = malloc(n * sizeof(double));
    if (!e->limits || !e->counts || !e->merged) {
        free(e->limits);
        free(e->counts);
        free(e->merged);
        e->limits = e->counts = e->merged = NULL;
        return false;
    }
    double *lim = e->limits;
    lim[0] = -DBL_MAX;
    lim[k + 1] = 0.0;
    lim[n - 1] = DBL_MAX;
    double v = 1.0e-12;
    for (size_t i = 0; i < k; i++, v *= 1.1) {
        lim[k - i] = -v;    /* -1e-12 right below 0, growing leftwards */
        lim[k + 2 + i] = v; /* 1e-12 right above 0, growing rightwards */
    }
    e->n_limits = n;
    return true;
}

/* Histogram::Add: the bucket is the first limit greater than the value. */
static size_t bucket_of(const double *lim, size_t n, double x)
{
    size_t lo = 0, hi = n; /* answer in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x < lim[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < n ? lo : n - 1; /* NaN and DBL_MAX itself go to the last bucket */
}

bool nn_tfenc_histogram(nn_tfenc *e, double wall_time, int64_t step, const char *tag,
                        const float *values, size_t n)
{
    if (!default_limits(e))
        return false;
    const size_t nl = e->n_limits;
    double *counts = e->counts;
    memset(counts, 0, nl * sizeof(double));
    double mn = DBL_MAX, mx = -DBL_MAX, sum = 0.0, sum_sq = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = values[i];
        counts[bucket_of(e->limits, nl, x)] += 1.0;
        if (mn > x)
            mn = x;
        if (mx < x)
            mx = x;
        sum += x;
        sum_sq += x * x;
    }
    /* Histogram::EncodeToProto(proto, preserve_zero_buckets = false): a
     * run of empty buckets becomes one, ending at the run's last limit.
     * Compacted in place (the write index never passes the read index). */
    size_t m = 0;
    for (size_t i = 0; i < nl;) {
        double end = e->limits[i], count = counts[i];
        i++;
        if (count <= 0.0)
            while (i < nl && counts[i] <= 0.0) {
                end = e->limits[i];
                count = counts[i];
                i++;
            }
        e->merged[m] = end;
        counts[m] = count;
        m++;
    }
    nn_proto_reset(&e->a);
    pb_double_nz(&e->a, H_MIN, mn);
    pb_double_nz(&e->a, H_MAX, mx);
    pb_double_nz(&e->a, H_NUM, (double)n);
    pb_double_nz(&e->a, H_SUM, sum);
    pb_double_nz(&e->a, H_SUM_SQUARES, sum_sq);
    nn_proto_packed_double(&e->a, H_BUCKET_LIMIT, e->merged, m);
    nn_proto_packed_double(&e->a, H_BUCKET, counts, m);
    nn_proto_reset(&e->b);
    nn_proto_bytes(&e->b, VAL_TAG, tag, strlen(tag));
    nn_proto_message(&e->b, VAL_HISTO, &e->a);
    return finish_summary_event(e, wall_time, step);
}

void nn_tfenc_free(nn_tfenc *e)
{
    nn_proto_free(&e->event);
    nn_proto_free(&e->a);
    nn_proto_free(&e->b);
    free(e->limits);
    free(e->counts);
    free(e->merged);
    memset(e, 0, sizeof *e);
}

/* ---- files ---- */

double nn_tfevents_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static nn_status write_event(nn_tfevents *w, nn_error *err)
{
    const nn_proto *ev = &w->enc.event;
    uint8_t header[12], footer[4];
    nn_tfrecord_frame(ev->data, ev->len, header, footer);
    if (fwrite(header, 1, 12, w->f) != 12 || fwrite(ev->data, 1, ev->len, w->f) != ev->len ||
        fwrite(footer, 1, 4, w->f) != 4)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path, strerror(errno));
    return NN_OK;
}

static nn_status oom(const nn_tfevents *w, nn_error *err)
{
    return nn_fail(err, NN_ERR_RUNTIME, "out of memory encoding an event for '%s'", w->path);
}

nn_status nn_tfevents_open(nn_tfevents *w, const char *dir, nn_error *err)
{
    memset(w, 0, sizeof *w);
    nn_status st = nn_mkdirs(dir, err);
    if (st)
        return st;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    double now = nn_tfevents_now();
    int n = snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%010lld.%s.%ld.v2", dir,
                     (long long)now, host, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof w->path)
        return nn_fail(err, NN_ERR_RUNTIME, "event file path too long in '%s'", dir);
    if (!(w->f = fopen(w->path, "ab")))
        return nn_fail(err, NN_ERR_RUNTIME, "cannot create '%s': %s", w->path, strerror(errno));
    if (!nn_tfenc_file_version(&w->enc, now))
        st = oom(w, err);
    else
        st = write_event(w, err);
    if (!st)
        st = nn_tfevents_flush(w, err);
    if (st)
        nn_tfevents_close(w);
    return st;
}

nn_status nn_tfevents_scalar(nn_tfevents *w, int64_t step, const char *tag, double value,
                             nn_error *err)
{
    if (!nn_tfenc_scalar(&w->enc, nn_tfevents_now(), step, tag, (float)value))
        return oom(w, err);
    return write_event(w, err);
}

nn_status nn_tfevents_histogram(nn_tfevents *w, int64_t step, const char *tag,
                                const float *values, size_t n, nn_error *err)
{
    if (!nn_tfenc_histogram(&w->enc, nn_tfevents_now(), step, tag, values, n))
        return oom(w, err);
    return write_event(w, err);
}

nn_status nn_tfevents_flush(nn_tfevents *w, nn_error *err)
{
    if (!w->f)
        return NN_OK;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        return nn_fail(err, NN_ERR_RUNTIME, "cannot write '%s': %s", w->path, strerror(errno));
    return NN_OK;
}

void nn_tfevents_close(nn_tfevents *w)
{
    if (w->f) {
        nn_error ignore;
        nn_tfevents_flush(w, &ignore);
        fclose(w->f);
    }
    nn_tfenc_free(&w->enc);
    memset(w, 0, sizeof *w);
}

/* The message the sandbox's child sends its parent over the pipe (the
 * strings, names, shapes and offsets of what it read; the weights go
 * through the arena), and the parent's field-by-field check of it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/keras/h5_sandbox_internal.h"

/* ---- the message ------------------------------------------------------ */


void nn_h5__msg_put(buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
}

static void put_u32(buf *b, uint32_t v) { nn_h5__msg_put(b, &v, sizeof v); }
static void put_u64(buf *b, uint64_t v) { nn_h5__msg_put(b, &v, sizeof v); }

/* A string that may be absent: u32 length + 1 (0: absent), then bytes. */
static void put_str(buf *b, const char *s)
{
    if (!s) {
        put_u32(b, 0);
        return;
    }
    size_t len = strlen(s);
    put_u32(b, (uint32_t)len + 1);
    nn_h5__msg_put(b, s, len);
}

/* An array's arena offset that says its floats are still in the file */
#define IN_FILE UINT64_MAX

static void put_arrays(buf *b, const nn_h5_array *a, int n, const arena *ar)
{
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        put_str(b, a[i].name);
        put_u32(b, (uint32_t)a[i].ndim);
        for (int d = 0; d < a[i].ndim; d++)
            put_u64(b, a[i].dims[d]);
        if (a[i].in_file) { /* IN_FILE, then where in the file */
            put_u64(b, IN_FILE);
            put_u64(b, a[i].file_offset);
        } else
            put_u64(b, (uint64_t)((const char *)a[i].data - ar->base));
    }
}

/* Every string field of the model, in message order: a new field goes
 * here once and crosses both ways. */
#define N_STRS 9
static void str_fields(nn_h5_model *m, char **f[N_STRS])
{
    f[0] = &m->model_config, f[1] = &m->training_config, f[2] = &m->keras_version;
    f[3] = &m->backend, f[4] = &m->nnctl_spec, f[5] = &m->nnctl_spec_dir;
    f[6] = &m->nnctl_class_names, f[7] = &m->nnctl_state, f[8] = &m->nnctl_preprocess;
}

void nn_h5__msg_encode(buf *b, nn_h5_model *m, const arena *ar, bool confined)
{
    char **f[N_STRS];
    str_fields(m, f);
    put_u32(b, MSG_MAGIC);
    put_u32(b, NN_OK);
    put_u32(b, confined);
    for (int i = 0; i < N_STRS; i++)
        put_str(b, *f[i]);
    put_u32(b, m->weights_only);
    put_u32(b, (uint32_t)m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        put_str(b, m->layers[i].name);
        put_arrays(b, m->layers[i].weights, m->layers[i].n_weights, ar);
    }
    put_arrays(b, m->optimizer, m->n_optimizer, ar);
    put_u64(b, ar->used);
    put_u32(b, MSG_MAGIC);
}

typedef struct reader {
    const char *p;
    size_t n, at;
    bool bad;
} reader;

static bool get(reader *r, void *out, size_t len)
{
    if (r->bad || len > r->n - r->at) {
        r->bad = true;
        memset(out, 0, len);
        return false;
    }
    memcpy(out, r->p + r->at, len);
    r->at += len;
    return true;
}

static uint32_t get_u32(reader *r)
{
    uint32_t v;
    get(r, &v, sizeof v);
    return v;
}

static uint64_t get_u64(reader *r)
{
    uint64_t v;
    get(r, &v, sizeof v);
    return v;
}

/* A string (NULL when absent or on a bad message: r->bad says which). No
 * NUL may hide inside it. */
static char *get_str(reader *r)
{
    uint32_t len1 = get_u32(r);
    if (r->bad || len1 == 0)
        return NULL;
    size_t len = len1 - 1;
    if (len > r->n - r->at || memchr(r->p + r->at, '\0', len)) {
        r->bad = true;
        return NULL;
    }
    char *s = malloc(len + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p + r->at, len);
    s[len] = '\0';
    r->at += len;
    return s;
}

/* Arrays whose data must lie inside the arena's first `used` bytes. */
static bool get_arrays(reader *r, char *base, size_t used, nn_h5_array **out, int *nout)
{
    uint32_t n = get_u32(r);
    *out = NULL;
    *nout = 0;
    if (r->bad || n > (r->n - r->at) / 16) { /* each record takes more than 16 bytes */
        r->bad = true;
        return false;
    }
    if (n == 0)
        return true;
    nn_h5_array *a = calloc(n, sizeof *a);
    if (!a) {
        r->bad = true;
        return false;
    }
    *out = a;
    *nout = (int)n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        a[i].name = get_str(r);
        uint32_t nd = get_u32(r);
        if (!a[i].name || nd > NN_H5_MAX_DIMS) {
            r->bad = true;
            break;
        }
        a[i].ndim = (int)nd;
        size_t count = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v = get_u64(r);
            if (v > H5_MAX_ELEMS || (v && count > H5_MAX_ELEMS / v))
                r->bad = true;
            a[i].dims[d] = (size_t)v;
            count *= (size_t)v;
        }
        uint64_t off = get_u64(r);
        if (off == IN_FILE) { /* the parent reads it (h5_sandbox.c) */
            a[i].in_file = true;
            a[i].file_offset = get_u64(r);
            continue;
        }
        if (r->bad || off % sizeof(float) || off > used || count > (used - off) / sizeof(float)) {
            r->bad = true;
            break;
        }
        a[i].data = (float *)(base + off);
        a[i].in_arena = true;
    }
    return !r->bad;
}

/* The child's error: status and message, then the end. */
void nn_h5__msg_error(buf *b, nn_status code, const char *msg)
{
    put_u32(b, MSG_MAGIC);
    put_u32(b, (uint32_t)(code ? code : NN_ERR_RUNTIME));
    put_str(b, msg);
    put_u32(b, MSG_MAGIC);
}

nn_status nn_h5__msg_decode(const char *path, const buf *b, int arena_fd, nn_h5_model *m,
                            nn_error *err)
{
    reader r = {b->p, b->n, 0, false};
    if (get_u32(&r) != MSG_MAGIC)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': the HDF5 reader sent a malformed answer",
                       path);
    uint32_t code = get_u32(&r);
    if (code != NN_OK) {
        char *msg = get_str(&r);
        if (r.bad || !msg || get_u32(&r) != MSG_MAGIC || r.at != r.n ||
            (code != NN_ERR_RUNTIME && code != NN_ERR_USAGE)) {
            free(msg);
            return nn_fail(err, NN_ERR_RUNTIME,
                           "'%s': the HDF5 reader sent a malformed answer", path);
        }
        nn_fail(err, (nn_status)code, "%s", msg);
        free(msg);
        return (nn_status)code;
    }
    if (!get_u32(&r) && !r.bad) {
        static bool told;
        if (!told)
            fprintf(stderr, "nnctl: note: this system has no seccomp (valgrind cannot run it): "
                            "model files are read with memory and CPU limits but no system "
                            "call filter\n");
        told = true;
    }
    char **f[N_STRS];
    str_fields(m, f);
    for (int i = 0; i < N_STRS; i++)
        *f[i] = get_str(&r);
    m->weights_only = get_u32(&r) != 0;
    uint32_t n_layers = get_u32(&r);
    /* the arena's size is the last field (the arrays are checked against
     * it): look ahead for it */
    if (r.bad || b->n < 12)
        goto bad;
    uint64_t used;
    memcpy(&used, b->p + b->n - 12, sizeof used);
    struct stat sb;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (fstat(arena_fd, &sb) != 0 || (uint64_t)sb.st_size < page ||
        used > (uint64_t)sb.st_size - page)
        goto bad;
    /* at least a page, so that an empty arena has an address too. Shared:
     * the child is gone, so the memfd is this process's alone, and a
     * private writable mapping would copy every page as it populates */
    m->arena_len = ((size_t)used + page) / page * page;
    void *base = mmap(NULL, m->arena_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                      arena_fd, 0);
    if (base == MAP_FAILED)
        return nn_fail(err, NN_ERR_RUNTIME, "'%s': cannot map the weights read: %s", path,
                       strerror(errno));
    m->arena = base;
    if (n_layers > (r.n - r.at) / 8)
        goto bad;
    if (n_layers) {
        if (!(m->layers = calloc(n_layers, sizeof *m->layers)))
            return nn_fail(err, NN_ERR_RUNTIME, "out of memory");
        m->n_layers = (int)n_layers;
    }
    for (uint32_t i = 0; i < n_layers; i++) {
        m->layers[i].name = get_str(&r);
        if (!m->layers[i].name ||
            !get_arrays(&r, m->arena, (size_t)used, &m->layers[i].weights,
                        &m->layers[i].n_weights))
            goto bad;
    }
    if (!get_arrays(&r, m->arena, (size_t)used, &m->optimizer, &m->n_optimizer))
        goto bad;
    if (get_u64(&r) != used || get_u32(&r) != MSG_MAGIC || r.bad || r.at != r.n)
        goto bad;
    if (!m->model_config && !m->weights_only)
        goto bad;
    return NN_OK;
bad:
    return nn_fail(err, NN_ERR_RUNTIME, "'%s': the HDF5 reader sent a malformed answer", path);
}

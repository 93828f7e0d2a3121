/* Private to the C export: between its writer (formats/c_writer.c), its
 * kernels (formats/c_kernels.c) and its model driver (io/c/export.c). */
#ifndef NN_FORMATS_C_INTERNAL_H
#define NN_FORMATS_C_INTERNAL_H

#include "formats/c_code.h"

/* The kernels a header may hold, written in this order (each after the
 * kernels it calls). Scalar activation a is kernel NN_CK_ACT + a. */
enum {
    NN_CK_ACT = 0,
    NN_CK_SOFTMAX = NN_CK_ACT + NN_ACT_COUNT,
    NN_CK_DENSE,
    NN_CK_CONV,
    NN_CK_DEPTHWISE,
    NN_CK_POOL,
    NN_CK_BIAS,
    NN_CK_AFFINE,
    NN_CK_EWISE,
    NN_CK_CONCAT,
    NN_CK_EMBEDDING,
    NN_CK_VECMAT,
    NN_CK_RNN,
    NN_CK_COUNT
};

typedef struct nn_c_kernel {
    const char *name; /* without the prefix; NULL for an unused slot */
    int dep;          /* a kernel it calls, or -1 */
    const char *text; /* '$' stands for "<prefix>_" */
} nn_c_kernel;

extern const nn_c_kernel nn_c_kernels[NN_CK_COUNT];

/* Adds a line to the current layer's block ('$' stands for "<prefix>_")
 * and marks kernel k and what it calls as used (k < 0: none). */
void nn_c_emit(nn_c_writer *w, int k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Marks kernel k and what it calls as used. */
void nn_c_use(nn_c_writer *w, int k);

/* A float as a C constant that reads back exactly: "%.9g" plus "f". */
#define NN_C_FLOAT_LEN 32
void nn_c_float(char buf[NN_C_FLOAT_LEN], float v);

/* ---- the writer's state, shared with the model driver (io/c/export.c) ---- */

#include <stdarg.h>

#define MAX_TEMPS 8

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

typedef enum { B_INPUT, B_OUTPUT, B_SCRATCH } buf_kind;

/* A node's output values: the caller's input or output, or scratch memory
 * from the node to its last consumer (Flatten & co. share their input's). */
typedef struct {
    buf_kind kind;
    size_t off, size;
    int refs; /* consumers still to run */
    bool freed;
} c_buf;

typedef struct {
    size_t lo, hi;
} span;

struct nn_c_writer {
    const nn_model *m;
    char prefix[NN_NAME_MAX + 8], upper[NN_NAME_MAX + 8];
    sbuf weights, body, lines; /* lines: the current layer's block */
    bool used[NN_CK_COUNT];
    char **names; /* identifiers taken */
    int n_names, cap_names;
    const char *(*param_name)[NN_MAX_PARAMS]; /* per node */
    float *(*host)[NN_MAX_PARAMS];
    int *uses;     /* per node: consumers (+1 for the model's output) */
    int *node_buf; /* per node: its buffer, -1 before it runs */
    c_buf *bufs;
    int n_bufs;
    span *live; /* scratch in use, by offset */
    int n_live;
    size_t peak;
    /* the layer being written */
    const nn_node *cur;
    bool in_used[NN_MAX_INPUTS], out_used, aliased;
    int n_temps;
    size_t temp_off[MAX_TEMPS];
    nn_status st;
    nn_error err;
};

void nn_c__buf_expr(const nn_c_writer *w, int b, char *out, size_t len);
void nn_c__comment_safe(const char *s, char *out, size_t len);
void nn_c__drop_ref(nn_c_writer *w, int b);
int nn_c__new_buf(nn_c_writer *w, buf_kind kind, size_t size, int refs);
void nn_c__sanitize(const char *s, char *out, size_t len, bool lower);
void nn_c__sb_add(sbuf *b, const char *s, size_t n);
void nn_c__sb_expand(sbuf *b, const char *s, const char *prefix);
void nn_c__sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nn_c__sb_str(sbuf *b, const char *s);
void nn_c__shape_text(const nn_node *n, char *out, size_t len);
void nn_c__span_free(nn_c_writer *w, size_t off);
const char *nn_c__take_name(nn_c_writer *w, const char *base);

#endif

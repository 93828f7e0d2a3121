/* Between the C export's writer (c_export.c) and its kernels
 * (c_export_ops.c). */
#ifndef NN_IO_C_EXPORT_INTERNAL_H
#define NN_IO_C_EXPORT_INTERNAL_H

#include "io/c/export.h"

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

#endif

/* An orthogonality regularizer (a plugin for nnctl): pushes a kernel's
 * columns towards an orthonormal set,
 *
 *     penalty = factor * || W^T W - I ||_F^2
 *     d penalty / d W = 4 * factor * W (W^T W - I)
 *
 * for a kernel W of shape (..., units) seen as a (rows, units) matrix
 * (rows: the product of the other axes, as Keras lays out Dense and
 * convolution kernels).
 *
 *   cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) orthogonal_reg.c -o orthogonal_reg.so
 *   layers = ( { type = "dense"; units = 64;
 *                kernel_regularizer = { type = "orthogonal"; factor = 0.01; }; } );
 */
#include <stdlib.h>
#include <string.h>

#include <nnctl/plugin.h>

static const nnctl_host *H;

typedef struct {
    double factor;
} orthogonal;

static nnctl_status create(nnctl_settings *s, void **inst, nnctl_error *err)
{
    orthogonal *o = malloc(sizeof *o);
    if (!o)
        return H->fail(err, "out of memory");
    if (H->get_float(s, "factor", 0, 0.01, 0.0, 1e6, &o->factor, err)) {
        free(o);
        return NNCTL_ERROR;
    }
    *inst = o;
    return NNCTL_OK;
}

static void destroy(void *inst) { free(inst); }

static nnctl_status apply(void *inst, const float *w, int ndim, const int *dims, double *penalty,
                          float *grad, float scale, nnctl_error *err)
{
    const orthogonal *o = inst;
    size_t units = (size_t)dims[ndim - 1], rows = 1;
    for (int d = 0; d < ndim - 1; d++)
        rows *= (size_t)dims[d];
    /* G = W^T W - I (units x units), in double */
    double *g = calloc(units * units, sizeof *g);
    if (!g)
        return H->fail(err, "out of memory for a %zu x %zu Gram matrix", units, units);
    for (size_t r = 0; r < rows; r++) {
        const float *row = w + r * units;
        for (size_t i = 0; i < units; i++)
            for (size_t j = 0; j < units; j++)
                g[i * units + j] += (double)row[i] * row[j];
    }
    double sum = 0.0;
    for (size_t i = 0; i < units; i++) {
        g[i * units + i] -= 1.0;
        for (size_t j = 0; j < units; j++)
            sum += g[i * units + j] * g[i * units + j];
    }
    *penalty = o->factor * sum;
    if (grad) {
        /* grad += scale * 4 factor W G */
        double c = 4.0 * o->factor * scale;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < units; j++) {
                double acc = 0.0;
                for (size_t i = 0; i < units; i++)
                    acc += (double)w[r * units + i] * g[i * units + j];
                grad[r * units + j] += (float)(c * acc);
            }
    }
    free(g);
    return NNCTL_OK;
}

static const nnctl_key_doc keys[] = {
    {"factor", "float", "0.01", "weight of the penalty"},
    {NULL, NULL, NULL, NULL},
};

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "orthogonal_reg", "1.0",
                             "factor * ||W^T W - I||^2, a regularizer towards orthonormal columns"))
        return NNCTL_ERROR;
    static const nnctl_regularizer_desc d = {
        .size = sizeof d,
        .name = "orthogonal",
        .keras_class = "OrthogonalPenalty",
        .doc = "factor * ||W^T W - I||_F^2 over a kernel's columns",
        .keys = keys,
        .create = create,
        .destroy = destroy,
        .apply = apply,
    };
    return host->add_regularizer(reg, &d);
}

/* Swish with a trainable beta (a layer plugin for nnctl):
 *
 *     y = x * sigmoid(beta * x),   beta: one trainable value per unit
 *
 * dy/dx    = s + beta * x * s * (1 - s)     (s = sigmoid(beta x))
 * dy/dbeta = x^2 * s * (1 - s), summed over the batch
 *
 * The same layer in Keras (tests/oracle/test_plugins_keras.py):
 *     class SwishBeta(keras.layers.Layer):
 *         def build(self, shape): self.beta = self.add_weight(name="beta",
 *             shape=(shape[-1],), initializer=Constant(self.initial_beta))
 *         def call(self, x): return x * ops.sigmoid(self.beta * x)
 *
 *   cc -shared -fPIC -O2 $(pkg-config --cflags nnctl) swish_beta.c -o swish_beta.so -lm
 *   layers = ( ..., { type = "swish_beta"; initial_beta = 1.0; }, ... );
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <nnctl/plugin.h>

static const nnctl_host *H;

typedef struct {
    double initial_beta;
    size_t units; /* the last axis */
} swish_beta;

static nnctl_status create(nnctl_settings *s, void **inst, nnctl_error *err)
{
    swish_beta *l = calloc(1, sizeof *l);
    if (!l)
        return H->fail(err, "out of memory");
    if (H->get_float(s, "initial_beta", 0, 1.0, -1e6, 1e6, &l->initial_beta, err)) {
        free(l);
        return NNCTL_ERROR;
    }
    *inst = l;
    return NNCTL_OK;
}

static void destroy(void *inst) { free(inst); }

static nnctl_status infer(void *inst, nnctl_shapes *sh, nnctl_error *err)
{
    swish_beta *l = inst;
    if (H->input_count(sh) != 1)
        return H->fail(err, "takes one input, got %d", H->input_count(sh));
    int dims[NNCTL_MAX_DIMS];
    int nd = H->input_shape(sh, 0, dims);
    l->units = (size_t)dims[nd - 1];
    if (H->set_output_shape(sh, nd, dims, err))
        return NNCTL_ERROR;
    nnctl_param_decl beta = {.size = sizeof beta,
                             .name = "beta",
                             .ndim = 1,
                             .dims = {dims[nd - 1]},
                             .initializer = "constant",
                             .init_value = l->initial_beta,
                             .trainable = 1};
    return H->add_param(sh, &beta, err);
}

static double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static nnctl_status forward(void *inst, const nnctl_pass *p, nnctl_error *err)
{
    (void)err;
    const swish_beta *l = inst;
    const float *x = p->x[0], *beta = p->params[0];
    size_t n = (size_t)p->rows * p->y_size;
    for (size_t i = 0; i < n; i++) {
        double b = beta[i % l->units];
        p->y[i] = (float)(x[i] * sigmoid(b * x[i]));
    }
    return NNCTL_OK;
}

static nnctl_status backward(void *inst, const nnctl_pass *p, nnctl_error *err)
{
    (void)err;
    const swish_beta *l = inst;
    const float *x = p->x[0], *beta = p->params[0], *dy = p->dy;
    float *dx = p->dx[0], *dbeta = p->dparams[0];
    size_t n = (size_t)p->rows * p->y_size;
    if (dbeta)
        memset(dbeta, 0, l->units * sizeof *dbeta);
    for (size_t i = 0; i < n; i++) {
        size_t u = i % l->units;
        double b = beta[u], s = sigmoid(b * x[i]), ds = s * (1.0 - s);
        if (dx)
            dx[i] = (float)(dy[i] * (s + b * x[i] * ds));
        if (dbeta)
            dbeta[u] += (float)(dy[i] * x[i] * x[i] * ds);
    }
    return NNCTL_OK;
}

static const nnctl_key_doc keys[] = {
    {"initial_beta", "float", "1.0", "beta's starting value (1: swish/silu)"},
    {NULL, NULL, NULL, NULL},
};

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "swish_beta", "1.0",
                             "x * sigmoid(beta x) with a trainable beta per unit"))
        return NNCTL_ERROR;
    static const nnctl_layer_desc d = {
        .size = sizeof d,
        .name = "swish_beta",
        .keras_class = "SwishBeta",
        .doc = "x * sigmoid(beta x), beta trainable, one per unit of the last axis",
        .keys = keys,
        .create = create,
        .destroy = destroy,
        .infer = infer,
        .forward = forward,
        .backward = backward,
    };
    return host->add_layer(reg, &d);
}

/* A test loss: pseudo-Huber, delta^2 (sqrt(1 + (d / delta)^2) - 1) with
 * d = y_pred - y_true, averaged over every value of the batch. */
#include <math.h>
#include <stdlib.h>

#include <nnctl/plugin.h>

static const nnctl_host *H;

static nnctl_status create(nnctl_settings *s, void **inst, nnctl_error *err)
{
    double *delta = malloc(sizeof *delta);
    if (!delta)
        return H->fail(err, "out of memory");
    if (H->get_float(s, "delta", 0, 1.0, 1e-6, 1e6, delta, err)) {
        free(delta);
        return NNCTL_ERROR;
    }
    *inst = delta;
    return NNCTL_OK;
}

static void destroy(void *inst) { free(inst); }

static nnctl_status compute(void *inst, const float *y_pred, const float *y_true, int rows,
                            int cols, double *loss, float *grad, nnctl_error *err)
{
    (void)err;
    double d2 = *(double *)inst * *(double *)inst, sum = 0.0;
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++) {
        double d = (double)y_pred[i] - y_true[i], r = sqrt(1.0 + d * d / d2);
        sum += d2 * (r - 1.0);
        if (grad)
            grad[i] = (float)(d / r / (double)n);
    }
    *loss = sum / (double)n;
    return NNCTL_OK;
}

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "pseudo_huber", "1.0", "a test loss"))
        return NNCTL_ERROR;
    static const nnctl_key_doc keys[] = {{"delta", "float", "1.0", "the scale"},
                                         {NULL, NULL, NULL, NULL}};
    static const nnctl_loss_desc d = {.size = sizeof d,
                                      .name = "pseudo_huber",
                                      .doc = "delta^2 (sqrt(1 + (d/delta)^2) - 1), mean",
                                      .keys = keys,
                                      .create = create,
                                      .destroy = destroy,
                                      .compute = compute};
    return host->add_loss(reg, &d);
}

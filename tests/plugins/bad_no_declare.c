/* Registers without NNCTL_DECLARE_PLUGIN first. */
#include <nnctl/plugin.h>

static nnctl_status apply(void *inst, const float *w, int ndim, const int *dims,
                          double *penalty, float *grad, float scale, nnctl_error *err)
{
    (void)inst, (void)w, (void)ndim, (void)dims, (void)grad, (void)scale, (void)err;
    *penalty = 0.0;
    return NNCTL_OK;
}

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    static const nnctl_regularizer_desc d = {.size = sizeof d, .name = "undeclared",
                                             .apply = apply};
    return host->add_regularizer(reg, &d);
}

/* Registers layer type "dense", which nnctl has built in. */
#include <nnctl/plugin.h>

static nnctl_status infer(void *inst, nnctl_shapes *sh, nnctl_error *err)
{
    (void)inst, (void)sh, (void)err;
    return NNCTL_OK;
}

static nnctl_status pass(void *inst, const nnctl_pass *p, nnctl_error *err)
{
    (void)inst, (void)p, (void)err;
    return NNCTL_OK;
}

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    if (NNCTL_DECLARE_PLUGIN(host, reg, "duplicate", "1.0", "takes a built-in name"))
        return NNCTL_ERROR;
    static const nnctl_layer_desc d = {.size = sizeof d, .name = "dense",
                                       .keras_class = "MyDense", .infer = infer,
                                       .forward = pass, .backward = pass};
    return host->add_layer(reg, &d);
}

/* A layer whose shape inference sets an output axis of size 0. */
#include <nnctl/plugin.h>

static const nnctl_host *H;

static nnctl_status infer(void *inst, nnctl_shapes *sh, nnctl_error *err)
{
    (void)inst;
    int dims[2] = {4, 0};
    return H->set_output_shape(sh, 2, dims, err);
}

static nnctl_status pass(void *inst, const nnctl_pass *p, nnctl_error *err)
{
    (void)inst, (void)p, (void)err;
    return NNCTL_OK;
}

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    H = host;
    if (NNCTL_DECLARE_PLUGIN(host, reg, "bad_shapes", "1.0", "a 0-sized output axis"))
        return NNCTL_ERROR;
    static const nnctl_layer_desc d = {.size = sizeof d, .name = "zero_axis",
                                       .infer = infer, .forward = pass, .backward = pass};
    return host->add_layer(reg, &d);
}

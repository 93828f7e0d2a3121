/* A callback whose batch_end does nothing: what calling a plugin after
 * every batch costs by itself (tests/tools/plugin_call_cost,
 * scripts/bench-plugins). */
#include <nnctl/plugin.h>

static nnctl_status batch_end(void *inst, nnctl_train *t, const nnctl_logs *logs,
                              nnctl_error *err)
{
    (void)inst, (void)t, (void)logs, (void)err;
    return NNCTL_OK;
}

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    if (NNCTL_DECLARE_PLUGIN(host, reg, "noop_callback", "1.0", "a callback that does nothing"))
        return NNCTL_ERROR;
    static const nnctl_callback_desc d = {
        .size = sizeof d,
        .name = "noop_callback",
        .doc = "does nothing after every batch",
        .batch_end = batch_end,
    };
    return host->add_callback(reg, &d);
}

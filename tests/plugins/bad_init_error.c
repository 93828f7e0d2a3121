/* An init that fails, saying why. */
#include <nnctl/plugin.h>

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    if (NNCTL_DECLARE_PLUGIN(host, reg, "init_error", "1.0", "fails to start"))
        return NNCTL_ERROR;
    return host->init_fail(reg, "cannot read its lookup table /nonexistent/table.bin");
}

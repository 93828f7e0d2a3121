/* Built "for ABI 2.0": nnctl must refuse it before it registers anything. */
#include <nnctl/plugin.h>

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    const nnctl_plugin_info info = {sizeof info, 2, 0, "future", "1.0", "needs ABI 2"};
    return host->declare(reg, &info);
}

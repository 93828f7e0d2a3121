/* Built for a newer minor (1.99) than nnctl has. */
#include <nnctl/plugin.h>

nnctl_status nnctl_plugin_init(const nnctl_host *host, nnctl_registry *reg)
{
    const nnctl_plugin_info info = {sizeof info, NNCTL_PLUGIN_ABI_MAJOR, 99, "newer", "1.0",
                                    "needs ABI 1.99"};
    return host->declare(reg, &info);
}

#include "util/memory.h"

#include <stdio.h>
#include <sys/resource.h>

size_t nn_peak_rss_bytes(void)
{
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0 || u.ru_maxrss < 0)
        return 0;
    return (size_t)u.ru_maxrss * 1024u; /* Linux reports kilobytes */
}

void nn_format_bytes(size_t bytes, char *buf, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%zu B", bytes);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

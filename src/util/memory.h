/* How much memory this process has used. */
#ifndef NN_UTIL_MEMORY_H
#define NN_UTIL_MEMORY_H

#include <stddef.h>

/* The peak resident set size of this process so far, in bytes (the
 * kernel's high-water mark: getrusage's ru_maxrss); 0 when unknown. */
size_t nn_peak_rss_bytes(void);

/* "312.4 MiB": bytes in binary units, one decimal. */
void nn_format_bytes(size_t bytes, char *buf, size_t len);

#endif

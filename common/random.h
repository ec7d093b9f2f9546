/* random.h - random bytes from the kernel, for ids that must never collide (request and event ids, trace
 * context). */
#ifndef LGW_RANDOM_H
#define LGW_RANDOM_H

#include <stddef.h>

/* Fills buf with n random bytes (getrandom(2), retried on EINTR). With no entropy source at all it aborts
 * with a log line: colliding ids are worse than stopping. Thread-safe. */
void lgw_random_bytes(void *buf, size_t n);

#endif

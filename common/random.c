/* random.c - kernel randomness (see random.h). */
#include "common/random.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/log.h"

void lgw_random_bytes(void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((unsigned char *)buf + got, n - got, 0);
        if (r > 0) {
            got += (size_t)r;
        } else if (r < 0 && errno != EINTR) {
            LGW_ERROR("random", "getrandom failed: no entropy source");
            abort();
        }
    }
}

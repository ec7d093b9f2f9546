/* sched_slice.c - a thread's scheduling slice (see sched_slice.h). */
#include "common/sched_slice.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

/* struct sched_attr of sched_setattr(2), which glibc 2.36 does not wrap. For SCHED_OTHER, sched_runtime is the
 * requested slice in ns (Linux 6.12); 0 is the default. The first 48 bytes are enough for this. */
struct attr {
    uint32_t size;
    uint32_t policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime;
    uint64_t deadline;
    uint64_t period;
};

/* pid 0 names the calling thread in sched_getattr and sched_setattr. */
static int get_attr(struct attr *a)
{
    memset(a, 0, sizeof(*a));
    return (int)syscall(SYS_sched_getattr, 0, a, (unsigned)sizeof(*a), 0);
}

int64_t lgw_sched_slice_get(void)
{
    struct attr a;
    if (get_attr(&a) != 0)
        return -1;
    return a.policy == SCHED_OTHER || a.policy == SCHED_BATCH ? (int64_t)(a.runtime / 1000) : -1;
}

int lgw_sched_slice_set(int64_t us)
{
    if (us <= 0)
        return LGW_OK;
    struct attr a;
    if (get_attr(&a) != 0) {
        LGW_WARN("sched", "cannot read this thread's scheduling attributes: %s", strerror(errno));
        return LGW_ERR(INTERNAL);
    }
    if (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH)
        return LGW_OK; /* real-time or idle: an operator's choice, left alone */
    if (us < LGW_SCHED_SLICE_MIN_US)
        us = LGW_SCHED_SLICE_MIN_US;
    if (us > LGW_SCHED_SLICE_MAX_US)
        us = LGW_SCHED_SLICE_MAX_US;
    /* Everything as read (policy, nice), with the slice; sched_setattr would otherwise reset the nice value. */
    a.size = sizeof(a);
    a.flags = 0;
    a.runtime = (uint64_t)us * 1000;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) {
        LGW_WARN("sched", "cannot set this thread's scheduling slice to %lld us: %s", (long long)us,
                 strerror(errno));
        return LGW_ERR(INTERNAL);
    }
    return LGW_OK;
}

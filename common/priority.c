/* priority.c - a background thread's scheduling priority (see priority.h). */
#include "common/priority.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"

/* PRIO_PROCESS with a thread id names that one thread on Linux (the nice value is per thread there). */
static id_t self_tid(void)
{
    return (id_t)syscall(SYS_gettid);
}

int lgw_priority_nice(void)
{
    errno = 0;
    int n = getpriority(PRIO_PROCESS, self_tid());
    return errno ? 0 : n;
}

int lgw_priority_background(int nice)
{
    if (nice <= 0 || lgw_priority_nice() >= nice)
        return LGW_OK;
    if (setpriority(PRIO_PROCESS, self_tid(), nice) != 0) {
        LGW_WARN("priority", "cannot set this thread's nice value to %d: %s", nice, strerror(errno));
        return LGW_ERR(INTERNAL);
    }
    return LGW_OK;
}

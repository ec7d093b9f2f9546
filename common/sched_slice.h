/* sched_slice.h - a thread's scheduling slice (Linux's EEVDF scheduler, 6.12 and later).
 *
 * On a core shared with other work (the broker, the ledger, Redis), a request-path thread that
 * wakes while another thread runs a burst of CPU (the ledger's batch write, the broker's JIT compiler) can
 * wait for the rest of that thread's slice, 1.4 ms on two CPUs: `bench/profile.sh` counted 83 waits of 1 ms or
 * more per 1,000 sequential requests. A waking thread whose own slice is shorter may preempt instead
 * (EEVDF gives it an earlier deadline); with 100 us for the ingress's and worker's threads the count fell to 20
 * (docs/PERFORMANCE.md, "Ninth pass"). A short slice on the thread that runs the burst does not help: its
 * earlier deadline keeps it first in line. Neither changes a thread's weight, so its share of a busy core
 * stays its nice value's (a higher nice value, tried first for the ledger's writer, starved it on a
 * saturated host).
 *
 * Older kernels accept the setting and ignore it. No privilege is needed. */
#ifndef LGW_SCHED_SLICE_H
#define LGW_SCHED_SLICE_H

#include <stdint.h>

/* The kernel's bounds for a requested slice, in microseconds (it clamps to them). */
#define LGW_SCHED_SLICE_MIN_US 100
#define LGW_SCHED_SLICE_MAX_US 100000

/* Asks for a slice of us microseconds for the calling thread only (Linux keeps it per thread; threads it creates
 * afterwards inherit it), keeping its policy and nice value. 0 leaves the thread as it is. Returns 0, or
 * LGW_ERR(INTERNAL) when the kernel refuses (logged); the thread then runs as before. */
int lgw_sched_slice_set(int64_t us);

/* The calling thread's slice in microseconds as the kernel reports it: the one asked for, else the kernel's
 * default (1,400 on this project's two-CPU test machine: 0.7 ms times 1 + log2 of the CPUs); 0 where the
 * kernel does not keep slices, -1 where it does not say. */
int64_t lgw_sched_slice_get(void);

#endif

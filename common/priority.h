/* priority.h - a background thread's scheduling priority.
 *
 * Work nobody waits on (the ledger's batch writes) can take a millisecond or more of CPU at a time. Where it
 * shares a core with the request path (`llmgw dev`, a small host, the bench's one core), the ingress's,
 * worker's and broker's threads then wait for it: `bench/profile.sh` found the ledger's writer holding the CPU
 * for 40 ms of the 143 ms that request-path threads spent waiting 1 ms or more (docs/PERFORMANCE.md, "Who
 * holds the CPU"). A higher nice value lets the scheduler preempt it for them, and still gives it its share
 * when they are idle. */
#ifndef LGW_PRIORITY_H
#define LGW_PRIORITY_H

/* Sets the nice value of the calling thread (only it, and threads it creates afterwards: Linux keeps one per
 * thread) to nice, 0..19, unless it already runs nicer (a process started under `nice` stays so). 0 leaves it
 * as it is. Returns 0, or LGW_ERR(INTERNAL) when the kernel refuses (logged); the thread then runs as before. */
int lgw_priority_background(int nice);

/* The calling thread's nice value. */
int lgw_priority_nice(void);

#endif

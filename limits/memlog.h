/* memlog.h - the in-memory sliding log: the same decisions as the Redis script (limits.c), for one process.
 * Used when Redis is absent (`llmgw dev`), down, or slower than its budget. Times are the caller's
 * monotonic microseconds (each instance keeps its own log, so no clock is shared). */
#ifndef LGW_MEMLOG_H
#define LGW_MEMLOG_H

#include <stddef.h>
#include <stdint.h>

struct lgw_memlog;

/* Kinds of limit (the same letters as enum lgw_limit_kind in limits.h) and the most limits per request. */
#define LGW_MEMLOG_REQUESTS 'r'
#define LGW_MEMLOG_TOKENS 't'
#define LGW_MEMLOG_INFLIGHT 'i'
#define LGW_MEMLOG_MAX 8

/* One limit of a request: kind (LGW_MEMLOG_*), its key and its limit. */
struct lgw_memlog_limit {
    char kind;
    const char *key;
    int64_t limit;
};

/* What a check found for one limit: used after the request (when admitted) and the time until the oldest
 * entry leaves the window. */
struct lgw_memlog_usage {
    int64_t used, reset_us;
};

/* max_keys bounds the memory: past it, keys whose logs are empty are dropped first. Caller owns the log. */
struct lgw_memlog *lgw_memlog_new(int64_t window_us, size_t max_keys);
void lgw_memlog_free(struct lgw_memlog *ml);

/* Checks every limit at now_us and, if all admit, records the request (id_hash) in each. Returns -1 when
 * admitted, else the index of the first limit that refused with *retry_us set. use[n] is filled either way
 * (for a refusal, as things stand). Thread-safe (one mutex). */
int lgw_memlog_admit(struct lgw_memlog *ml, const struct lgw_memlog_limit *lim, int n, uint64_t id_hash,
                     int64_t tokens, int64_t hold_us, int64_t now_us, struct lgw_memlog_usage *use,
                     int64_t *retry_us);
/* Ends a request: drops its in-flight entries and sets its tokens to used (< 0: unchanged). Thread-safe. */
void lgw_memlog_finish(struct lgw_memlog *ml, const struct lgw_memlog_limit *lim, int n, uint64_t id_hash,
                       int64_t used);

#endif

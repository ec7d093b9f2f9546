/* log_limit.h - a rate limit for log lines that people outside can cause (libmicrohttpd's warnings about
 * broken or hostile connections): at most per_sec lines of one kind per second; the lines held back are
 * counted and said in one "suppressed" line per kind and second, so a flood costs a few lines a second and is
 * still seen. A kind is a pointer that is the same for every line of that kind (a format string).
 *
 * Time is an argument (monotonic ms), so the limiter is a pure state machine its tests can drive. */
#ifndef LGW_LOG_LIMIT_H
#define LGW_LOG_LIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Kinds with a budget of their own; more kinds than this share one more (nothing is lost, only pooled). */
#define LGW_LOG_LIMIT_KINDS 16

struct lgw_log_limit_kind {
    const void *key;     /* NULL: a free slot (the last slot is the pool of the kinds that did not fit) */
    int64_t second;      /* the second (ms / 1000) `logged` counts in */
    uint32_t logged;     /* lines let through in that second */
    uint64_t suppressed; /* lines held back and not reported yet */
    const void *last;    /* the key of the last line held back (what the report names) */
};

struct lgw_log_limit {
    const char *module; /* the log module the lines are written as (static) */
    uint32_t per_sec;
    pthread_mutex_t lock;
    struct lgw_log_limit_kind kinds[LGW_LOG_LIMIT_KINDS + 1];
};

/* Embedded: init before use, cleanup after the last call. module is borrowed (a literal). */
void lgw_log_limit_init(struct lgw_log_limit *l, const char *module, uint32_t per_sec);
void lgw_log_limit_cleanup(struct lgw_log_limit *l);

/* One line of kind key at now_ms: true to log it, false to hold it back (counted). When this line opens a
 * new second for its kind and lines of the kind were held back before, *report gets their number and
 * *report_key the kind they were of, for the caller to say first; else *report is 0. Any thread. */
bool lgw_log_limit_allow(struct lgw_log_limit *l, const void *key, int64_t now_ms, uint64_t *report,
                         const void **report_key);

/* For a caller that ticks: every kind whose second is over with lines held back is reported to
 * cb(opaque, key, n) and reset, so a flood that stopped is still said. Any thread (cb runs under the lock:
 * it must not call back into l). */
void lgw_log_limit_flush(struct lgw_log_limit *l, int64_t now_ms,
                         void (*cb)(void *opaque, const void *key, uint64_t n), void *opaque);

#endif

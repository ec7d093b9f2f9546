/* admit.h - the worker's admission, for jobs that never passed an ingress: every batch line, and jobs on the
 * interactive topics without the LGW_KAFKA_ADMITTED header (docs/KAFKA.md, "Trust"). The same libraries and
 * the same order as the ingress (ingress/admission.h): the model allow-list of the key or tenant (tenancy/),
 * rate limits (limits/limits.h, shared with every ingress through Redis), budgets (limits/budget.h, against
 * the spend the ledger publishes). Before those, for a batch line: expired (408 batch_expired) and cancelled
 * (409 batch_cancelled, workers/batches.h).
 *
 * What differs from the ingress: a batch line over a rate limit is throttled, not failed. The verdict says
 * how long to wait, and the job's run waits that long on a timer of its transfer loop (no thread, no
 * consumer and no other tenant's line waits with it), then asks again. Over budget or not allowed, it is
 * answered with the ingress's error. An unmarked interactive job gets the ingress's answers, 429 included.
 *
 * Threads: lgw_wadmit_check and lgw_wadmit_finish run on any thread that runs job stages; the directory,
 * spend and batches readers run on threads of their own. */
#ifndef LGW_WADMIT_H
#define LGW_WADMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/metrics.h"
#include "limits/limits.h"

struct lgw_wadmit;
struct lgw_redis;

enum lgw_wadmit_verdict {
    LGW_WADMIT_RUN,    /* go on (a limits hold may have been taken: lgw_wadmit_finish at the end) */
    LGW_WADMIT_WAIT,   /* ask again in wait_ms */
    LGW_WADMIT_ANSWER, /* answer with rc and msg, without a provider call */
};

struct lgw_wadmit_result {
    enum lgw_wadmit_verdict verdict;
    int64_t wait_ms;        /* WAIT */
    int rc;                 /* ANSWER: the error (status, type and code from common/errors.h) */
    char msg[512];          /* ANSWER: the message for the client */
    const char *outcome;    /* ANSWER: the cost event's outcome ("cancelled", "expired", "error"); static */
    int64_t retry_after_ms; /* ANSWER: a refusal's wait, as the ingress's Retry-After */
    bool throttled;         /* WAIT because of a rate limit (counted) */
};

/* The worker's admission: the tenancy directory (config plus the tenants topic), the rate limiter (on redis,
 * borrowed, or in memory when NULL), the budgets with their spend view, and the batches view. name tells the
 * Kafka readers apart (the worker id). cfg, m and redis must outlive it. Returns 0 and *out
 * (lgw_wadmit_free), or the error that stopped it (an invalid config is logged). Start-up thread. */
int lgw_wadmit_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_redis *redis, const char *name,
                   struct lgw_wadmit **out);
void lgw_wadmit_free(struct lgw_wadmit *a); /* NULL is a no-op */

/* May job run now? batch: it is a batch line; admitted: it carries the ingress's marker (an admitted
 * interactive job is let through at once). *lt receives the limits hold of a RUN verdict (zeroed first).
 * Any stage thread. */
void lgw_wadmit_check(struct lgw_wadmit *a, const struct lgw_job *job, bool batch, bool admitted,
                      struct lgw_limits_ticket *lt, struct lgw_wadmit_result *r);
/* Ends the hold of a job that ran: the in-flight slot goes back and the token reservation becomes
 * used_tokens (< 0: keep the estimate). Idempotent. Any thread. */
void lgw_wadmit_finish(struct lgw_wadmit *a, struct lgw_limits_ticket *lt, int64_t used_tokens);

#endif

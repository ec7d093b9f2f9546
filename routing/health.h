/* health.h - what one worker process has learned about each provider/model: a circuit breaker, a
 * peak-sensitive moving average of its latency, and the calls it has in flight.
 *
 * Breaker: closed until `failures` consecutive failures, or an error ratio of at least error_pct over the
 * last window_ms with at least min_requests in it; then open, and the model is skipped, for cooldown_ms;
 * then half-open: exactly one probe goes through, and its outcome closes the breaker or opens it again.
 * A failure is what another provider might not have: a 429, a 5xx, a timeout, an unreachable server. A
 * client error (400, 401 from the caller's own request) says nothing about the provider's health.
 *
 * Latency: peak EWMA (Finagle's): an observation above the estimate replaces it at once; one below pulls it
 * down by 1 - exp(-elapsed / decay_ms), elapsed being the time since the previous observation. Seeded from
 * the catalog's typical latency. Read through lgw_health_view, the estimate also decays toward zero while
 * the model goes uncalled (x exp(-idle / decay_ms)), so a provider that was slow is tried again before long
 * and a recovery is seen.
 *
 * Counts: every call that ends with a verdict (lgw_health_release) is counted per model since the table was
 * made, and its failures among them; every breaker transition bumps one counter for the whole table, so a
 * reader (the status publisher, workers/status.c) can tell cheaply that something changed. Every function is
 * thread-safe. */
#ifndef LGW_HEALTH_H
#define LGW_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/metrics.h"
#include "common/model.h"

enum lgw_breaker_state { LGW_BREAKER_CLOSED = 0, LGW_BREAKER_OPEN = 1, LGW_BREAKER_HALF_OPEN = 2 };

struct lgw_health_params {
    int64_t failures, error_pct, window_ms, min_requests, cooldown_ms, decay_ms;
};

/* What a strategy sees of one model at one moment. */
struct lgw_health_view {
    enum lgw_breaker_state state;
    bool admissible;   /* a call may go now: closed, or open past its cooldown (it would be the probe) */
    double latency_ms; /* the current estimate, decayed by the time since the last observation */
    int64_t inflight;
};

/* What the status publisher reports of one model: the breaker, the latency estimate as of the last
 * observation (without the read-time idle decay lgw_health_view applies for routing: status shows what was
 * measured, not how cheap an idle model looks to a strategy) and the counts. */
struct lgw_health_stats {
    enum lgw_breaker_state state;
    bool observed;     /* a call ended: latency_ms is a measurement, not the catalog's seed */
    double latency_ms; /* meaningful only when observed */
    int64_t inflight;
    int64_t calls;    /* calls that ended with a verdict (lgw_health_release) since the table was made */
    int64_t failures; /* those of them that counted as the provider's failure; never above calls */
};

struct lgw_health;

/* m may be NULL (no metrics). Returns the table (caller frees). */
struct lgw_health *lgw_health_new(const struct lgw_health_params *params, struct lgw_metrics *m);
void lgw_health_free(struct lgw_health *h);

void lgw_health_view(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms,
                     struct lgw_health_view *out);
/* Fills *out for model without creating its entry: a model never called is closed, unobserved, all counts 0. */
void lgw_health_stats(struct lgw_health *h, const struct lgw_model_info *model, struct lgw_health_stats *out);
/* Breaker transitions of every model so far: when it moved, some state changed. Lock-free. */
uint64_t lgw_health_changes(const struct lgw_health *h);
/* Asks to call model now. True: go (in-flight count taken), and lgw_health_release or _abandon must follow
 * with the same *probe, which says whether this call is the half-open probe (only the probe's outcome
 * closes or re-opens the breaker). False: the breaker is open (or its probe is out); skip the model. */
bool lgw_health_acquire(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms, bool *probe);
/* The end of an acquired call: failed says whether it counts against the provider (see above);
 * latency_ms feeds the estimate (a failure's latency is raised to at least twice the estimate, so a
 * provider that fails fast never looks fast). */
void lgw_health_release(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms, bool probe,
                        bool failed, int64_t latency_ms);
/* How long until model may take a call: 0 now (closed, or open past its cooldown), the rest of the cooldown
 * of an open breaker, -1 when nobody can say (half-open: its probe is out and decides). */
int64_t lgw_health_retry_in_ms(struct lgw_health *h, const struct lgw_model_info *model, int64_t now_ms);
/* The end of an acquired call that says nothing about the provider (the client left): in-flight only. */
void lgw_health_abandon(struct lgw_health *h, const struct lgw_model_info *model, bool probe);

#endif

/* dispatch.h - runs one job along its route plan: calls the first candidate whose breaker lets it through,
 * and on a failure another provider might not have (429, 5xx, timeout, unreachable) the next, within the
 * job's deadline and LLMGW_ROUTE_MAX_ATTEMPTS. A client error (400, 401, 404 ...) is the answer at once,
 * and so is any failure once part of a stream reached the client. Every call's outcome feeds the health
 * table (breaker and latency). */
#ifndef LGW_DISPATCH_H
#define LGW_DISPATCH_H

#include <stdatomic.h>

#include "providers/provider.h"
#include "routing/router.h"

struct lgw_dispatch {
    /* in */
    struct lgw_prov_stream *stream; /* a streamed chat job's sink, or NULL */
    const atomic_bool *cancelled;   /* the client left (streams), or NULL */
    /* out; current and route are also read by the stream sink while a call runs (same thread) */
    struct lgw_prov_result res;              /* the answer: the last call's result (cleanup after use) */
    const struct lgw_model_info *current;    /* the model being called, then the one that answered; NULL: none */
    int attempts;                            /* provider calls made */
    char route[LGW_ROUTE_TEXT_MAX];          /* "provider/model=status" per call, comma-separated */
};

/* Runs job along plan (non-empty). Fills d's outputs; res always ends with a status and, unless a stream
 * delivered the answer, a body. Runs on a worker pool thread. */
void lgw_dispatch_run(struct lgw_dispatch *d, struct lgw_router *r, const struct lgw_config *cfg,
                      const struct lgw_route_plan *plan, const struct lgw_job *job);

/* True when an upstream answer with this status says the provider is failing (another may succeed). */
bool lgw_dispatch_failover_status(int status);

#endif

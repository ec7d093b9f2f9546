/* dispatch.h - runs one job along its route plan: calls the first candidate whose breaker lets it through,
 * and on a failure another provider might not have (429, 5xx, timeout, unreachable) the next, within the
 * job's deadline and LLMGW_ROUTE_MAX_ATTEMPTS. A client error (400, 401, 404 ...) is the answer at once,
 * and so is any failure once part of a stream reached the client. Every call's outcome feeds the health
 * table (breaker and latency).
 *
 * Asynchronous: provider calls run on a transfer loop (providers/http_loop.h); the dispatch moves to the
 * next candidate from the previous call's end, on the loop thread, and says when it is over. */
#ifndef LGW_DISPATCH_H
#define LGW_DISPATCH_H

#include <stdatomic.h>

#include "common/metrics.h"
#include "providers/provider.h"
#include "routing/router.h"
#include "telemetry/span.h"

/* A provider request of the dispatch that the provider bills although its answer is not the final one: it
 * was sent and never answered (a timed-out attempt the wire layer retried), or its call failed over after
 * being sent. The caller records each as spend of its own (a non-final cost event). */
struct lgw_dispatch_spend {
    const struct lgw_model_info *model;
    const char *provider;   /* the provider as it served the request (lgw_dispatch_served_as); static. NULL:
                             * model's provider */
    bool simulated;         /* by a simulated provider (providers/sim.c) */
    int status;             /* what that request ended with (504 for an attempt that was never answered) */
    int provider_call;      /* 1-based among the dispatch's provider requests */
    int requests;           /* provider requests this entry stands for: 1, more only when the list was full */
    struct lgw_usage usage; /* the provider's count as far as it came (often none) */
    bool reported;          /* usage is the provider's full count; else the caller estimates what it lacks */
};

#define LGW_DISPATCH_SPEND_MAX 16

struct lgw_wcontent_stream;

struct lgw_dispatch {
    /* in: set by the caller before lgw_dispatch_start, borrowed until done runs */
    struct lgw_prov_stream *stream; /* a streamed chat job's sink, or NULL */
    const atomic_bool *cancelled;   /* the client left (streams), or NULL */
    struct lgw_router *router;
    const struct lgw_config *cfg;
    const struct lgw_route_plan *plan; /* non-empty */
    const struct lgw_job *job;
    struct lgw_http_loop *loop;
    void (*done)(struct lgw_dispatch *d); /* exactly once, when the outputs are final */
    void *opaque;                         /* the caller's */
    struct lgw_span *span;                /* the routing span each candidate's span hangs from; NULL: none */
    struct lgw_metrics *metrics;          /* GenAI and provider-attempt metrics go here; NULL: nowhere */
    char finish_reason[32];               /* a stream's last finish_reason, set by the caller's sink */
    /* A stream's answer text for the candidate's span, when it captures content (workers/content.h): NULL
     * otherwise. dispatch.c owns it (from a capturing candidate's call to its end); the sink appends to it. */
    struct lgw_wcontent_stream *content;
    /* out; current and route are also read by the stream sink while a call runs (same thread) */
    struct lgw_prov_result res;           /* the answer: the last call's result (cleanup after use) */
    const struct lgw_model_info *current; /* the model being called, then the one that answered; NULL: none */
    int attempts;                         /* provider calls made */
    char route[LGW_ROUTE_TEXT_MAX];       /* "provider/model=status" per call, comma-separated, the provider as
                                             served ("openai-sim" when simulated); with no call
                                             made because every breaker was open, "provider/model=open" for
                                             each candidate skipped */
    int64_t retry_after_ms; /* that case only: until the earliest breaker lets a call through (the configured
                               cooldown when none can say), else 0 */
    int requests;                         /* provider requests made (retries counted); the final answer's is the last */
    struct lgw_dispatch_spend spend[LGW_DISPATCH_SPEND_MAX]; /* billed requests besides the final answer's */
    int nspend;
    /* dispatch.c's state */
    size_t next, skipped;
    bool probe, calling;
    bool finished; /* done ran */
    int64_t start_us;
    struct lgw_prov_call call;
    struct lgw_span *cand_span; /* the current candidate's span (GenAI): from its call to its end */
};

/* The name the provider of m is served as here (providers/provider.h, lgw_provider_served_as: "openai",
 * "openai-sim"), or m's provider when it is not served. Static or m's. Any thread. */
const char *lgw_dispatch_served_as(const struct lgw_config *cfg, const struct lgw_model_info *m);

/* Starts d along d->plan. d->done runs exactly once, with res holding a status and, unless a stream
 * delivered the answer, a body: on the loop thread, or (an adapter with no I/O, or no candidate) before this
 * returns. d must stay valid until then. Any thread. */
void lgw_dispatch_start(struct lgw_dispatch *d);
/* The client left: the provider call in flight stops at once (its transfer is removed from the loop). Loop
 * thread. */
void lgw_dispatch_abort(struct lgw_dispatch *d);

#endif

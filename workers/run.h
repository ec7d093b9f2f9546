/* run.h - one job's run, as the pipeline's stages (pipeline.c) and its stream sink (stream_sink.c) share it.
 * Internal to workers/: nothing outside the pipeline sees a run. */
#ifndef LGW_WORKERS_RUN_H
#define LGW_WORKERS_RUN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/envelope.h"
#include "limits/limits.h"
#include "providers/provider.h"
#include "routing/router.h"
#include "workers/coalesce.h"
#include "workers/dispatch.h"
#include "workers/results.h"
#include "workers/spans.h"

/* Borrowed by every run (workers/pipeline.h); the sink needs none of it but the config it is given. */
struct lgw_pipeline;
struct lgw_catalog;
struct lgw_cancel_reg;
struct lgw_batch_slot;
struct lgw_http_loop;

/* The stream sink: a streamed job's chunks go out as non-final replies, in order, as the provider yields
 * them, several to a message when they come close together (see stream_emit, workers/coalesce.h). */
struct stream_ctx {
    struct lgw_prov_stream base;
    struct job_run *run; /* the route so far is run->d: the first chunk tells the ingress who answers */
    const struct lgw_config *cfg;
    int seq;               /* chunks sent: the next message's seq */
    atomic_bool cancelled; /* the client left (cancel.h): stop, which aborts the upstream transfer */
    struct lgw_coalesce co;
    bool on_loop;   /* a provider streams (its loop may flush held chunks later); false: a cache replay */
    int send_error; /* a flush on the loop failed to send: the provider's next chunk is refused with it */
};

/* One job's state as it moves through the stages. Reference-counted: the stages hold one reference while
 * they run (across the wait for the provider), and a cancel on its way to the loop holds one; the last
 * reference ends the run. */
struct job_run {
    atomic_int refs;
    struct lgw_pipeline *p;
    struct lgw_ticket *t; /* NULL once the cost stage handed it to the delivery reports */
    const struct lgw_job *job;
    struct lgw_catalog *cat; /* the job keeps this catalog for its whole run, whatever a reload does meanwhile */
    const char *model_name;  /* the request's "model" ("" when missing) */
    int64_t start_us;
    struct lgw_route_plan plan;
    /* The answer: d.res (status, body, usage, model). Once answered, the stages that would answer (dispatch)
     * are skipped: a plan error answers, and so will a response-cache hit. */
    bool answered;
    struct lgw_dispatch d;
    const struct lgw_model_info *info; /* the model called last (priced), or the plan's first; NULL: none */
    int seq;                           /* stream chunks sent: the final reply's seq */
    /* The run's identity, from the start: its event id (also the run_id of its stream chunks), strategy and
     * start time. The cost event itself (2 KB) exists only from price to cost: a job waiting for its
     * provider does not hold it. */
    char event_id[LGW_ID_MAX];
    char strategy[32];
    int64_t ts_ms;
    struct lgw_cost_event *ev;
    struct lgw_cost_event *spend; /* the other billed provider requests' events (d.spend), from price to cost */
    int nspend;
    struct lgw_reply *reply; /* the final reply, from outcome to reply: 1.5 KB a job holds only then */
    size_t next_stage;           /* the stage to run when the run goes on */
    struct lgw_http_loop *loop;  /* where its provider calls run */
    struct stream_ctx sctx;
    bool streamed, dispatching;  /* dispatching: loop thread only */
    struct lgw_cancel_reg *cancel_reg;
    /* The response cache's part in the run: bypass (off for it, or no-cache), miss or hit; the TTL its answer
     * is stored with (0: not stored); and, for a streamed answer to store, its chunks as they went out (JSON
     * texts, comma-separated; NULL: none kept; capture_full: it outgrew the largest entry, so it is not). */
    enum { RUN_CACHE_BYPASS, RUN_CACHE_MISS, RUN_CACHE_HIT } cache_state;
    int64_t cache_ttl_s;
    struct lgw_buf *capture;
    bool capture_full;
    int64_t saved_nusd; /* a hit: what its answer cost when a provider made it */
    int64_t total_nusd; /* what the client is told it cost (every event of the run) */
    /* The run's spans (workers/spans.h), owned by the run: the job's CONSUMER span (taken from the ticket),
     * the routing span (plan to answer; the candidates' spans hang from it), and the reply's PRODUCER span
     * (the first chunk, or the final reply, to the final reply: one per stream). NULL: not recorded. */
    struct lgw_span *span, *route_span, *reply_span;
    bool reply_sending; /* the reply's span was started (or tracing is off) and reply_tp set */
    int reply_msgs;     /* records of the reply: its chunks, then the final one */
    /* Admission by the worker (workers/admit.h): the limits hold of a job it admitted, the batch slot the run
     * gives back when it ends, and the cost event's outcome when admission answered ("cancelled",
     * "expired", "error"; NULL: from the status). */
    struct lgw_limits_ticket limit_ticket;
    struct lgw_batch_slot *batch_slot;
    const char *outcome;
};

/* The references (pipeline.c): the last one ends the run. */
void lgw_run_ref(struct job_run *run);
void lgw_run_unref(struct job_run *run);
/* m's provider as it serves here, for every label ("openai", or "openai-sim" when simulated). */
const char *lgw_run_served_as(const struct job_run *run, const struct lgw_model_info *m);
bool lgw_run_simulated(const struct job_run *run, const struct lgw_model_info *m);
/* The reply's PRODUCER span, started with its first record (a stream's first chunk, or the final reply). */
void lgw_run_reply_span_start(struct job_run *run);

#endif

/* dispatch.c - a job along its route: attempts, fallbacks, health feedback (see dispatch.h). */
#include "workers/dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "workers/genai_metrics.h"
#include "workers/spans.h"

const char *lgw_dispatch_served_as(const struct lgw_config *cfg, const struct lgw_model_info *m)
{
    const char *as = lgw_provider_served_as(cfg, m->provider);
    return as ? as : m->provider;
}

static void add_route_text(struct lgw_dispatch *d, const struct lgw_model_info *m, const char *outcome)
{
    size_t len = strlen(d->route);
    snprintf(d->route + len, sizeof(d->route) - len, "%s%s/%s=%s", len ? "," : "", lgw_dispatch_served_as(d->cfg, m),
             m->id, outcome);
}

static void add_route(struct lgw_dispatch *d, const struct lgw_model_info *m, int status)
{
    char s[16];
    snprintf(s, sizeof(s), "%d", status);
    add_route_text(d, m, s);
}

/* Every candidate tried was skipped by its breaker: the route says which, and the answer says when to come
 * back (Retry-After): when the earliest breaker's cooldown ends, or the configured cooldown when none can
 * say (a half-open breaker's probe decides). With no call made, candidates chain[0..skipped) are exactly
 * the skipped ones (next_candidate either skips or stops). */
static void all_skipped(struct lgw_dispatch *d)
{
    struct lgw_health *health = lgw_router_health(d->router);
    int64_t now = lgw_mono_ms(), soonest = -1;
    for (size_t i = 0; i < d->skipped; i++) {
        const struct lgw_model_info *m = d->plan->chain[i];
        add_route_text(d, m, "open");
        int64_t in = lgw_health_retry_in_ms(health, m, now);
        if (in >= 0 && (soonest < 0 || in < soonest))
            soonest = in;
    }
    d->retry_after_ms = soonest > 0 ? soonest : d->cfg->breaker_cooldown_ms;
}

static bool streamed_some(const struct lgw_dispatch *d)
{
    return d->stream && d->stream->emitted > 0;
}

static void next_candidate(struct lgw_dispatch *d);

/* Records a billed request that is not the final answer. A full list folds the rest into its last entry:
 * spend is never dropped, only its detail (each entry says how many requests it stands for). */
static void add_spend(struct lgw_dispatch *d, const struct lgw_model_info *m, int status, int provider_call,
                      const struct lgw_usage *usage, bool reported)
{
    if (d->nspend == LGW_DISPATCH_SPEND_MAX) {
        struct lgw_dispatch_spend *s = &d->spend[d->nspend - 1];
        s->requests++;
        s->usage.input_tokens += usage->input_tokens;
        s->usage.output_tokens += usage->output_tokens;
        s->usage.cached_input_tokens += usage->cached_input_tokens;
        s->usage.cache_write_input_tokens += usage->cache_write_input_tokens;
        s->reported = s->reported && reported;
        return;
    }
    d->spend[d->nspend++] = (struct lgw_dispatch_spend){m,
                                                        lgw_dispatch_served_as(d->cfg, m),
                                                        lgw_provider_simulated(d->cfg, m->provider),
                                                        status,
                                                        provider_call,
                                                        1,
                                                        *usage,
                                                        reported};
}

/* The dispatch is over: done runs once (the run it belongs to may end from there). */
static void end(struct lgw_dispatch *d)
{
    LGW_ASSERT(!d->finished);
    d->finished = true;
    d->done(d);
}

/* No call was made (every breaker open, or the deadline passed first), or the plan ran out. */
static void finish(struct lgw_dispatch *d)
{
    if (d->attempts == 0) {
        int rc = d->skipped ? LGW_ERR(NO_HEALTHY_PROVIDER) : LGW_ERR(TIMEOUT);
        lgw_prov_result_error(&d->res, rc, NULL);
        if (d->skipped)
            all_skipped(d);
    }
    end(d);
}

/* One candidate's call is over (loop thread, or the caller's for an adapter with no I/O). */
static void call_done(struct lgw_prov_call *call)
{
    struct lgw_dispatch *d = call->opaque;
    struct lgw_health *health = lgw_router_health(d->router);
    const struct lgw_model_info *m = d->current;
    const struct lgw_job *job = d->job;
    int64_t end_us = lgw_mono_us();
    d->calling = false;
    d->attempts++;
    lgw_prov_result_cleanup(&d->res);
    d->res = call->res; /* moved: the call's result is d's now */
    memset(&call->res, 0, sizeof(call->res));
    lgw_wspans_candidate_end(&d->cand_span, &d->res, d->finish_reason, d->content);
    lgw_genai_metrics_call(d->metrics, job, lgw_dispatch_served_as(d->cfg, m), m->id, &d->res, end_us - d->start_us);
    if (d->content) {
        lgw_wcontent_stream_cleanup(d->content);
        free(d->content);
        d->content = NULL;
    }
    add_route(d, m, d->res.status);
    /* Requests the wire layer sent and retried after no answer came: billed, and never the final answer. */
    int first_request = d->requests + 1;
    d->requests += d->res.requests > 0 ? d->res.requests : 1; /* an adapter without I/O: one request */
    static const struct lgw_usage none;
    for (int k = 0; k < d->res.lost_requests; k++)
        add_spend(d, m, lgw_err_status(LGW_ERR(TIMEOUT)), first_request + k, &none, false);
    /* A stream's latency is its time to first chunk: its length is the client's doing, not the provider's. */
    int64_t first = d->stream && d->stream->first_emit_us ? d->stream->first_emit_us : end_us;
    if (d->cancelled && atomic_load(d->cancelled)) {
        lgw_health_abandon(health, m, d->probe); /* the client left: no verdict on the provider */
        end(d);
        return;
    }
    /* The table's retry predicate, the same the wire layer retried with: an answer another attempt may
     * improve on says the provider is failing (its breaker hears it) and the next candidate is tried. */
    bool failed = lgw_err_retriable(lgw_err_from_status(d->res.status));
    lgw_health_release(health, m, lgw_mono_ms(), d->probe, failed, (first - d->start_us) / 1000);
    if (!failed || streamed_some(d)) {
        end(d);
        return;
    }
    char tp[LGW_TRACEPARENT_SIZE];
    if (d->next < d->plan->n)
        LGW_LOG_TP(LGW_LOG_INFO, "route", job->id, job->tenant, lgw_span_log_tp(d->span, job->traceparent, tp),
                   "%s/%s answered %d; trying the next candidate", m->provider, m->id, d->res.status);
    next_candidate(d);
}

/* Calls the next candidate the breakers let through, or finishes. */
static void next_candidate(struct lgw_dispatch *d)
{
    struct lgw_health *health = lgw_router_health(d->router);
    while (d->next < d->plan->n && d->attempts < d->cfg->route_max_attempts) {
        const struct lgw_model_info *m = d->plan->chain[d->next++];
        if (lgw_wall_ms() >= d->job->deadline_ms)
            break;
        if (!lgw_health_acquire(health, m, lgw_mono_ms(), &d->probe)) {
            d->skipped++; /* its breaker is open: the next candidate, without spending an attempt */
            continue;
        }
        if (d->attempts > 0 && d->res.bill != LGW_BILL_NONE) {
            /* The previous call failed over after being sent: its spend is not the final answer's. */
            add_spend(d, d->current, d->res.status, d->requests, &d->res.usage, d->res.bill == LGW_BILL_REPORTED);
            d->res.bill = LGW_BILL_NONE;
        }
        /* The adapter that serves m here: its own, or the simulated one (the registry decides, as routing did). */
        const struct lgw_provider *prov = lgw_provider_serving(d->cfg, m->provider);
        d->cand_span = lgw_wspans_candidate(d->span, d->job, m);
        d->finish_reason[0] = '\0';
        if (d->stream && lgw_span_captures_content(d->cand_span)) { /* the answer is gathered for the span */
            d->content = lgw_malloc(sizeof(*d->content));
            lgw_wcontent_stream_init(d->content);
        }
        d->call = (struct lgw_prov_call){.cfg = d->cfg, .model = m, .job = d->job, .stream = d->stream,
                                         .cancelled = d->cancelled, .loop = d->loop, .done = call_done,
                                         .opaque = d, .span = d->cand_span, .metrics = d->metrics};
        d->current = m;
        if (d->stream) {
            d->stream->first_emit_us = 0;
            d->stream->output_tokens_estimate = 0;
        }
        d->start_us = lgw_mono_us();
        d->calling = true;
        int rc = prov ? prov->call(prov, &d->call) : LGW_ERR(MODEL_NOT_FOUND);
        if (rc) { /* the call could not be made: its answer is the error, and done is ours to run */
            lgw_prov_result_error(&d->call.res, rc, NULL);
            call_done(&d->call);
        }
        return;
    }
    finish(d);
}

void lgw_dispatch_start(struct lgw_dispatch *d)
{
    memset(&d->res, 0, sizeof(d->res));
    d->current = NULL;
    d->attempts = 0;
    d->route[0] = '\0';
    d->requests = d->nspend = 0;
    d->retry_after_ms = 0;
    d->next = d->skipped = 0;
    d->calling = false;
    d->finished = false;
    next_candidate(d);
}

void lgw_dispatch_abort(struct lgw_dispatch *d)
{
    if (d->calling)
        lgw_prov_call_abort(&d->call);
}

/* pipeline.c - a job's stages, from route plan to cost event (see pipeline.h). */
#include "workers/pipeline.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/canon.h"
#include "cache/entry.h"
#include "common/assert.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/cost.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/uuid.h"
#include "providers/provider.h"
#include "workers/billing.h"
#include "workers/dispatch.h"
#include "workers/run.h"
#include "workers/spans.h"
#include "workers/stream_sink.h"


void lgw_run_ref(struct job_run *run)
{
    atomic_fetch_add(&run->refs, 1);
}

void lgw_run_unref(struct job_run *run)
{
    if (atomic_fetch_sub(&run->refs, 1) != 1)
        return;
    struct lgw_pipeline *p = run->p;
    lgw_prov_result_cleanup(&run->d.res);
    lgw_span_discard(&run->route_span); /* each is ended by its stage; a run cut short still frees them */
    lgw_span_discard(&run->reply_span);
    lgw_span_discard(&run->span);
    if (run->capture) {
        lgw_buf_cleanup(run->capture);
        free(run->capture);
    }
    lgw_catalog_unref(run->cat);
    free(run->ev);
    free(run->spend);
    free(run->reply);
    struct lgw_batch_slot *slot = run->batch_slot;
    free(run);
    p->finished(p->opaque, slot);
}

/* m's provider as it serves here, for every label ("openai", or "openai-sim" when simulated). */
const char *lgw_run_served_as(const struct job_run *run, const struct lgw_model_info *m)
{
    return lgw_dispatch_served_as(run->p->cfg, m);
}

bool lgw_run_simulated(const struct job_run *run, const struct lgw_model_info *m)
{
    return lgw_provider_simulated(run->p->cfg, m->provider);
}

/* The reply's PRODUCER span, started with its first record (a stream's first chunk, or the final reply):
 * the records carry its context (t->reply_tp). */
void lgw_run_reply_span_start(struct job_run *run)
{
    if (run->reply_sending)
        return;
    run->reply_sending = true;
    run->reply_span = lgw_wspans_send(run->p->tracer, run->t, run->job->reply_topic, run->job->reply_partition,
                                      run->t->reply_tp);
}

/* ---- the stages, in the order of the table below */

/* The routing span learns the plan: strategy and candidates (provider/model, in order), or why there is none. */
static void route_span_plan(struct job_run *run, int rc)
{
    struct lgw_span *span = run->route_span;
    if (!span)
        return;
    lgw_span_set_str(span, "llmgw.strategy", run->strategy);
    lgw_span_set_str(span, "gen_ai.request.model", run->model_name);
    if (rc) {
        lgw_span_set_str(span, "error.type", lgw_err_name(rc));
        lgw_span_set_status(span, LGW_SPAN_ERROR, "no route");
        return;
    }
    char names[LGW_ROUTE_MAX][2 * LGW_NAME_MAX + 2]; /* a plan is short: LGW_ROUTE_MAX candidates */
    const char *list[LGW_ROUTE_MAX];
    size_t n = run->plan.n < LGW_ROUTE_MAX ? run->plan.n : LGW_ROUTE_MAX;
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "%s/%s", run->plan.chain[i]->provider, run->plan.chain[i]->id);
        list[i] = names[i];
    }
    lgw_span_set_strs(span, "llmgw.candidates", list, n);
}

/* The route: the job's strategy (the request's, else the configured default) and its plan of candidates.
 * A job that cannot be routed is answered here with the client's error. */
static bool stage_plan(struct job_run *run)
{
    const struct lgw_job *job = run->job;
    struct lgw_prov_result *res = &run->d.res;
    enum lgw_strategy strategy;
    char why[512];
    int rc;
    if (run->answered) /* by admission: no route */
        return true;
    const char *name = job->strategy[0] && strcmp(job->strategy, "default") != 0 ? job->strategy
                                                                                 : run->p->cfg->route_strategy;
    run->route_span = lgw_span_child(run->span, "route", LGW_SPAN_INTERNAL);
    if (lgw_strategy_parse(name, &strategy)) {
        snprintf(why, sizeof(why), "Unknown routing strategy '%.31s': use cost, latency, capability or round-robin.",
                 name);
        run->plan.strategy = LGW_STRATEGY_COST;
        rc = LGW_ERR(BAD_STRATEGY);
    } else {
        struct lgw_route_needs needs;
        lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
        rc = lgw_router_plan(run->p->router, run->cat, run->model_name, job->kind, &needs, strategy, &run->plan, why,
                             sizeof(why));
    }
    lgw_strlcpy(run->strategy, lgw_strategy_name(run->plan.strategy), sizeof(run->strategy));
    route_span_plan(run, rc);
    if (rc) {
        lgw_prov_result_error(res, rc, why);
        lgw_strlcpy(res->model, run->model_name, sizeof(res->model));
        run->answered = true;
    }
    return true;
}

/* ---- the response cache (cache/) */

/* The TTL the run's answer is cached with; 0: the cache is off for it. A tenant that opted out (its TTL 0 in
 * cache_tenant_ttl) is never cached; otherwise the request's x-llmgw-cache-ttl (capped by the ingress),
 * else the tenant's TTL, else cache_ttl_s. */
static int64_t cache_ttl(const struct job_run *run)
{
    const struct lgw_config *cfg = run->p->cfg;
    int64_t tenant_ttl;
    if (lgw_config_cache_tenant_ttl(cfg, run->job->tenant, &tenant_ttl, NULL))
        tenant_ttl = -1; /* validated at start-up; never here */
    if (tenant_ttl == 0)
        return 0;
    if (run->job->cache_ttl_s > 0)
        return run->job->cache_ttl_s;
    return tenant_ttl > 0 ? tenant_ttl : cfg->cache_ttl_s;
}

/* The key of the run's request served by model m. The model names its provider and upstream name too: an
 * operator who points an id at another upstream model does not get the old model's answers. */
static void cache_key(const struct job_run *run, const struct lgw_model_info *m, const struct lgw_buf *form,
                      char key[LGW_CACHE_KEY_LEN])
{
    char model[3 * LGW_NAME_MAX + 4];
    /* The provider as it serves: a simulated answer ("openai-sim") never answers a request a real key serves. */
    snprintf(model, sizeof(model), "%s/%s=%s", lgw_run_served_as(run, m), m->id, m->upstream ? m->upstream : m->id);
    struct lgw_str canon = {form->ptr, form->len};
    lgw_cache_key(run->job->tenant, model, &canon, key);
}

/* A hit answers the run: the stored answer, served by model m, with no provider call (so no spend; what it
 * saved is priced in stage_price). A streamed one is replayed now, chunk by chunk, as the same stream. */
static void serve_hit(struct job_run *run, const struct lgw_model_info *m, const struct lgw_cache_entry *e)
{
    struct lgw_prov_result *res = &run->d.res;
    run->cache_state = RUN_CACHE_HIT;
    run->info = m;
    run->answered = true;
    res->status = 200;
    res->usage = e->usage;
    res->bill = LGW_BILL_NONE;
    lgw_strlcpy(res->model, m->id, sizeof(res->model));
    if (!e->chunks) {
        res->body = json_incref(e->body);
        return;
    }
    run->streamed = true;
    struct stream_ctx *sctx = &run->sctx;
    lgw_stream_sink_start(run, run->p->cfg, false);
    size_t i;
    json_t *chunk;
    json_array_foreach(e->chunks, i, chunk) {
        if (sctx->base.emit(&sctx->base, chunk))
            break; /* the reply topic failed: the final reply still goes, as after any stream */
    }
    lgw_stream_sink_end(run); /* (a replay's chunks after the first go in as few messages as the cap allows) */
    run->seq = sctx->seq;
    res->body = json_pack("{s:s}", "object", "llmgw.stream.end");
}

/* After the plan, before dispatch: the plan's candidates in order, in one round trip, so a hit under any of
 * them (another candidate served it last time: round-robin, a fallback) answers. The pool thread. */
static bool stage_cache_lookup(struct job_run *run)
{
    const struct lgw_job *job = run->job;
    struct lgw_pipeline *p = run->p;
    run->cache_state = RUN_CACHE_BYPASS;
    if (run->answered || !p->cache || (run->cache_ttl_s = cache_ttl(run)) <= 0) {
        run->cache_ttl_s = 0;
        return true;
    }
    if (job->cache_no_lookup || run->plan.n == 0)
        return true;
    struct lgw_buf form, val;
    lgw_buf_init(&form, 0);
    lgw_buf_init(&val, (size_t)p->cfg->cache_max_entry_bytes + 1);
    if (lgw_cache_canon(job->body, job->kind, &form) == 0) {
        char(*keys)[LGW_CACHE_KEY_LEN] = lgw_calloc(run->plan.n, LGW_CACHE_KEY_LEN);
        for (size_t i = 0; i < run->plan.n; i++)
            cache_key(run, run->plan.chain[i], &form, keys[i]);
        int idx = lgw_cache_lookup(p->cache, (const char(*)[LGW_CACHE_KEY_LEN])keys, run->plan.n, &val);
        free(keys);
        run->cache_state = RUN_CACHE_MISS;
        struct lgw_cache_entry e;
        bool streamed = job->stream && job->kind == LGW_JOB_CHAT;
        if (idx >= 0 && lgw_cache_entry_decode(val.ptr, val.len, &e) == 0) {
            /* The form names "stream", so a stream's entry answers only a stream; checked all the same. */
            if ((e.chunks != NULL) == streamed)
                serve_hit(run, run->plan.chain[idx], &e);
            lgw_cache_entry_cleanup(&e);
        }
    }
    lgw_buf_cleanup(&form);
    lgw_buf_cleanup(&val);
    return true;
}

/* Before the reply's last record: a complete answer from a provider is stored under the model that served it,
 * so a client that asks again once it has its answer finds it (stored after the reply, a repeat raced the
 * SET and missed under load). The SET costs the reply one Redis round trip, bounded by redis_timeout_ms, on
 * misses only, and nothing with the cache off. Errors, a stream cut short (502) or left by its client, and
 * answers larger than an entry are never stored. It runs on the job's transfer loop, whose other transfers
 * wait for that round trip as they would for any stage there. */
static bool stage_cache_store(struct job_run *run)
{
    const struct lgw_job *job = run->job;
    const struct lgw_prov_result *res = &run->d.res;
    struct lgw_pipeline *p = run->p;
    if (run->cache_ttl_s <= 0 || job->cache_no_store || run->cache_state == RUN_CACHE_HIT || res->status != 200 ||
        !res->body || !run->info || run->d.attempts == 0)
        return true;
    if (run->streamed && (!run->capture || run->capture_full || atomic_load(&run->sctx.cancelled)))
        return true;
    struct lgw_buf form, entry;
    lgw_buf_init(&form, 0);
    lgw_buf_init(&entry, (size_t)p->cfg->cache_max_entry_bytes);
    if (lgw_cache_canon(job->body, job->kind, &form) == 0) {
        struct lgw_str chunks = {run->capture ? run->capture->ptr : "", run->capture ? run->capture->len : 0};
        char key[LGW_CACHE_KEY_LEN];
        cache_key(run, run->info, &form, key);
        if (lgw_cache_entry_encode(&res->usage, run->streamed ? NULL : res->body, &chunks, &entry) == 0)
            lgw_cache_store(p->cache, key, entry.ptr, entry.len, run->cache_ttl_s);
    }
    lgw_buf_cleanup(&form);
    lgw_buf_cleanup(&entry);
    return true;
}

/* The cancel thread (under the registry's lock, so run is still registered): the flag is up; the loop takes
 * the provider call off at once. */
static void cancel_on_loop(void *opaque)
{
    struct job_run *run = opaque;
    if (run->dispatching)
        lgw_dispatch_abort(&run->d);
    lgw_run_unref(run);
}

static void cancel_wake(void *opaque)
{
    struct job_run *run = opaque;
    lgw_run_ref(run);
    lgw_http_loop_post(run->loop, 0, cancel_on_loop, run);
}

static void run_stages(struct job_run *run);

/* The route is done (the job's loop thread: the dispatch started there, and adapters with no I/O answer
 * inside it). */
static void dispatched(struct lgw_dispatch *d)
{
    struct job_run *run = d->opaque;
    const struct lgw_pipeline *p = run->p;
    const struct lgw_job *job = run->job;
    struct lgw_prov_result *res = &d->res;
    run->dispatching = false;
    if (run->streamed && p->cancels)
        lgw_cancels_unregister(p->cancels, run->cancel_reg);
    run->cancel_reg = NULL;
    d->stream = NULL;
    d->cancelled = NULL;
    /* Chunks that could not go make the answer an error, as a chunk refused while streaming does: the client
     * must not take a stream with a hole for a whole one. */
    int sent = lgw_stream_sink_end(run);
    if (sent && res->status == 200)
        lgw_prov_result_error(res, sent, "The streamed answer's chunks could not be sent on.");
    run->seq = run->sctx.seq;
    if (run->streamed && res->status == 200 && !res->body)
        res->body = json_pack("{s:s}", "object", "llmgw.stream.end");
    run->info = d->current ? d->current : run->plan.chain[0];
    /* The catalog's id, which prices and analytics join on; the provider's exact version is in the body. */
    lgw_strlcpy(res->model, run->info->id, sizeof(res->model));
    if (d->attempts > 1)
        lgw_metrics_add(p->m, "llmgw_route_fallbacks_total", NULL, d->attempts - 1);
    if (run->plan.last_resort)
        LGW_LOG_TP(LGW_LOG_DEBUG, "worker", job->id, job->tenant, job->traceparent, "no provider keys: echo serves %s",
                   run->model_name);
    run->answered = true;
    run_stages(run);
    lgw_run_unref(run); /* the reference the stages kept across the wait */
}

/* On the job's transfer loop: the whole dispatch lives on this thread, so a cancel (posted here too) finds
 * it in one state or another, never half-way. */
static void dispatch_on_loop(void *opaque)
{
    struct job_run *run = opaque;
    const struct lgw_pipeline *p = run->p;
    const struct lgw_job *job = run->job;
    struct stream_ctx *sctx = &run->sctx;
    struct lgw_dispatch *d = &run->d;
    lgw_stream_sink_start(run, p->cfg, true);
    json_t *so = json_object_get(job->body, "stream_options");
    sctx->base.include_usage = json_is_true(json_object_get(so, "include_usage"));
    run->streamed = job->stream && job->kind == LGW_JOB_CHAT;
    d->stream = run->streamed ? &sctx->base : NULL;
    d->cancelled = &sctx->cancelled;
    d->router = p->router;
    d->metrics = p->m;
    d->cfg = p->cfg;
    d->plan = &run->plan;
    d->job = job;
    d->loop = run->loop;
    d->span = run->route_span; /* each candidate's span hangs from the routing span */
    d->done = dispatched;
    d->opaque = run;
    run->dispatching = true;
    if (run->streamed && run->cache_ttl_s > 0 && !job->cache_no_store) {
        run->capture = lgw_malloc(sizeof(*run->capture));
        lgw_buf_init(run->capture, (size_t)p->cfg->cache_max_entry_bytes);
    }
    if (run->streamed && p->cancels)
        run->cancel_reg = lgw_cancels_register(p->cancels, job->id, &sctx->cancelled, cancel_wake, run);
    lgw_dispatch_start(d);
}

/* The providers along the plan (workers/dispatch.c), a streamed chat job's chunks going out as they come.
 * The run waits here: it goes on from dispatched(), on the loop. */
static bool stage_dispatch(struct job_run *run)
{
    if (run->answered)
        return true;
    lgw_run_ref(run); /* kept across the wait; dropped in dispatched() */
    lgw_http_loop_post(run->loop, 0, dispatch_on_loop, run);
    return false;
}

/* The run's cost event, made when the first stage after the answer needs it. */
static struct lgw_cost_event *event(struct job_run *run)
{
    if (run->ev)
        return run->ev;
    struct lgw_cost_event *ev = run->ev = lgw_malloc(sizeof(*ev));
    lgw_results_cost_init(run->t, ev);
    lgw_strlcpy(ev->event_id, run->event_id, sizeof(ev->event_id));
    lgw_strlcpy(ev->strategy, run->strategy, sizeof(ev->strategy));
    ev->ts_ms = run->ts_ms;
    if (run->info) {
        lgw_strlcpy(ev->provider, lgw_run_served_as(run, run->info), sizeof(ev->provider));
        ev->simulated = lgw_run_simulated(run, run->info);
    }
    return ev;
}

/* A model with no price is loud (metric and log) and recorded as cost unknown, never as a silent $0. */
static void price_unknown(struct job_run *run, const struct lgw_model_info *info)
{
    lgw_metrics_add(run->p->m, "llmgw_cost_unknown_total", NULL, 1);
    LGW_LOG_TP(LGW_LOG_WARN, "worker", run->job->id, run->job->tenant, run->job->traceparent,
               "no price for model %s/%s: cost recorded as unknown", info->provider, info->id);
}

/* What the execution spent, at the catalog's prices: the final answer's usage (the provider's count, or an
 * estimate when it was sent and never reported one: workers/billing.h) at the price of the model that
 * answered, and an event of its own for each other billed provider request, so a fallback never hides the
 * spend of a call that failed after the provider took it. */
static const char *cache_name(const struct job_run *run)
{
    return run->cache_state == RUN_CACHE_HIT ? "hit" : run->cache_state == RUN_CACHE_MISS ? "miss" : "bypass";
}

static bool stage_price(struct job_run *run)
{
    const struct lgw_model_info *info = run->info;
    const struct lgw_dispatch *d = &run->d;
    struct lgw_cost_event *ev = event(run);
    /* The route is over (answered by a provider, the cache, or an error): its span ends here. */
    lgw_span_set_str(run->route_span, "llmgw.cache", cache_name(run));
    lgw_span_set_int(run->route_span, "llmgw.attempts", d->attempts);
    lgw_span_end(&run->route_span);
    if (run->cache_state == RUN_CACHE_HIT) {
        /* No provider spend; the saving is the stored answer's usage at the serving model's price today. */
        struct lgw_cost_event *saved = lgw_calloc(1, sizeof(*saved));
        saved->usage = d->res.usage;
        if (lgw_billing_price(info, saved))
            run->saved_nusd = saved->cost_nusd;
        free(saved);
        ev->cost_known = true;
        ev->cost_nusd = 0;
        ev->saved_nusd = run->saved_nusd;
        return true;
    }
    if (!info || d->attempts == 0)
        return true;
    lgw_billing_final_usage(d, run->job, run->sctx.base.output_tokens_estimate, &ev->usage, &ev->cost_estimated);
    ev->provider_call = d->requests;
    if (!lgw_billing_price(info, ev))
        price_unknown(run, info);
    if (d->nspend == 0)
        return true;
    run->spend = lgw_calloc((size_t)d->nspend, sizeof(*run->spend));
    run->nspend = d->nspend;
    for (int i = 0; i < d->nspend; i++) {
        struct lgw_cost_event *s = &run->spend[i];
        lgw_results_cost_init(run->t, s);
        lgw_strlcpy(s->strategy, run->strategy, sizeof(s->strategy));
        s->ts_ms = run->ts_ms;
        lgw_billing_spend_event(&d->spend[i], run->job, run->event_id, s);
        if (!s->cost_known)
            price_unknown(run, d->spend[i].model);
    }
    return true;
}

/* A streamed answer's time to first token, as the sink saw it: from the start of the provider call that
 * answered to its first chunk (dispatch resets both per call, and no other call follows a chunk). None for an
 * answer that was not streamed, a replayed cache hit (no call) or a stream that never got a chunk out. */
static void ttft(const struct job_run *run, struct lgw_cost_event *ev)
{
    int64_t first = run->sctx.base.first_emit_us;
    if (!run->streamed || run->cache_state == RUN_CACHE_HIT || run->d.attempts == 0 || first == 0)
        return;
    ev->has_ttft = true;
    ev->ttft_ms = first > run->d.start_us ? (first - run->d.start_us) / 1000 : 0;
}

/* The final reply and the cost event, from the answer. */
static bool stage_outcome(struct job_run *run)
{
    const struct lgw_prov_result *res = &run->d.res;
    struct lgw_cost_event *ev = event(run);
    struct lgw_reply *reply = run->reply = lgw_calloc(1, sizeof(*run->reply));
    int64_t latency_ms = (lgw_mono_us() - run->start_us) / 1000;

    ev->status = res->status;
    ev->latency_ms = latency_ms;
    ev->route_attempts = run->d.attempts;
    lgw_strlcpy(ev->route, run->d.route, sizeof(ev->route));
    lgw_strlcpy(ev->model, res->model, sizeof(ev->model));
    lgw_strlcpy(ev->outcome, res->status == 200 ? "ok" : "error", sizeof(ev->outcome));
    ev->cache_hit = run->cache_state == RUN_CACHE_HIT;
    ttft(run, ev);
    /* A client that left mid-stream is its own outcome (499, as nginx records it), unless the answer was
     * complete anyway. Its spend up to the cut is billed like any unanswered request (stage_price). */
    if (run->streamed && atomic_load(&run->sctx.cancelled) &&
        !(res->status == 200 && res->bill == LGW_BILL_REPORTED)) {
        ev->status = LGW_STATUS_CLIENT_CLOSED;
        lgw_strlcpy(ev->outcome, "cancelled", sizeof(ev->outcome));
    }
    if (run->outcome) /* answered by admission: a cancelled or expired batch line, a refusal */
        lgw_strlcpy(ev->outcome, run->outcome, sizeof(ev->outcome));
    /* The request's spend is the sum of its events: that is what the client is told it cost. */
    int64_t total = ev->cost_nusd;
    bool known = ev->cost_known, estimated = ev->cost_estimated;
    for (int i = 0; i < run->nspend; i++) {
        LGW_ASSERT(run->spend[i].cost_nusd >= 0 && total <= INT64_MAX - run->spend[i].cost_nusd);
        total += run->spend[i].cost_nusd;
        known = known && run->spend[i].cost_known;
        estimated = estimated || run->spend[i].cost_estimated;
    }

    lgw_strlcpy(reply->id, run->job->id, sizeof(reply->id));
    lgw_strlcpy(reply->run_id, ev->event_id, sizeof(reply->run_id));
    lgw_strlcpy(reply->tenant, run->job->tenant, sizeof(reply->tenant));
    reply->batch = run->job->batch; /* a batch line's reply says which line it answers */
    reply->seq = run->seq;
    reply->final = true;
    reply->status = res->status;
    reply->body = res->body; /* borrowed: the result keeps it until the run ends */
    reply->usage = res->usage;
    reply->cost_nusd = total;
    run->total_nusd = total;
    reply->cost_known = known;
    reply->cost_estimated = estimated;
    reply->latency_ms = latency_ms;
    lgw_strlcpy(reply->provider, ev->provider, sizeof(reply->provider));
    lgw_strlcpy(reply->model, res->model, sizeof(reply->model));
    lgw_strlcpy(reply->strategy, ev->strategy, sizeof(reply->strategy));
    reply->route_attempts = run->d.attempts;
    lgw_strlcpy(reply->route, run->d.route, sizeof(reply->route));
    reply->retry_after_ms = run->d.retry_after_ms;
    reply->cache_hit = run->cache_state == RUN_CACHE_HIT;
    reply->cache_bypass = run->cache_state == RUN_CACHE_BYPASS;
    reply->simulated = ev->simulated;
    LGW_ASSERT(!reply->cache_hit || (reply->cost_nusd == 0 && run->d.attempts == 0)); /* a hit costs nothing */
    /* What the client is told it cost is what the ledger records, and a known cost is never negative. */
    LGW_ASSERT(reply->cost_nusd >= ev->cost_nusd && (run->nspend > 0 || reply->cost_nusd == ev->cost_nusd));
    LGW_ASSERT(!ev->cost_known || ev->cost_nusd >= 0);
    LGW_ASSERT(strcmp(ev->tenant, run->job->tenant) == 0);
    return true;
}

/* The final reply to the job's reply topic (a failure there leaves the client its 504; the cost event still
 * accounts for the job). */
static bool stage_reply(struct job_run *run)
{
    lgw_run_reply_span_start(run); /* an answer that was not streamed: its one record */
    run->reply_msgs++;
    if (lgw_results_reply(run->t, run->reply)) {
        lgw_span_set_str(run->reply_span, "error.type", "produce_failed");
        lgw_span_set_status(run->reply_span, LGW_SPAN_ERROR, "the final reply could not be queued");
    }
    lgw_span_set_int(run->reply_span, "messaging.batch.message_count", run->reply_msgs);
    lgw_span_end(&run->reply_span);
    free(run->reply);
    run->reply = NULL;
    return true;
}

/* The job's CONSUMER span ends with the run: what it came to (llmgw's own attributes) and whether it failed. */
static void end_job_span(struct job_run *run)
{
    struct lgw_span *span = run->span;
    if (!span)
        return;
    const struct lgw_cost_event *ev = run->ev;
    lgw_span_set_str(span, "llmgw.strategy", run->strategy);
    lgw_span_set_str(span, "llmgw.cache", cache_name(run));
    lgw_span_set_int(span, "llmgw.attempts", run->d.attempts);
    if (ev->cost_known)
        lgw_span_set_double(span, "llmgw.cost_usd", (double)run->total_nusd / 1e9);
    lgw_span_set_str(span, "llmgw.outcome", ev->outcome);
    lgw_span_set_int(span, "llmgw.status", ev->status);
    if (ev->status >= 500) { /* the gateway failed the client; a 4xx is the client's error, as for a server */
        char st[16];
        snprintf(st, sizeof(st), "%d", ev->status);
        lgw_span_set_str(span, "error.type", st);
        lgw_span_set_status(span, LGW_SPAN_ERROR, NULL);
    }
    lgw_span_end(&run->span);
}

/* The job's cost event: always the last stage, since it hands the ticket to the delivery reports, which
 * store the job's offset once the reply and the cost event are acknowledged (workers/results.h). */
static bool stage_cost(struct job_run *run)
{
    struct lgw_ticket *t = run->t;
    char labels[96];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", lgw_job_kind_name(run->job->kind),
             run->ev->outcome);
    lgw_metrics_add(run->p->m, "llmgw_jobs_total", labels, 1);
    /* Read before the ticket goes: a delivery report may free it as soon as the cost event is queued. */
    lgw_metrics_observe(run->p->m, "llmgw_job_duration_seconds", NULL, (double)(lgw_mono_us() - t->received_us) / 1e6);
    if (t->batch) {
        snprintf(labels, sizeof(labels), "outcome=\"%s\"", run->ev->outcome);
        lgw_metrics_add(run->p->m, "llmgw_batch_lines_total", labels, 1);
    }
    /* The limits hold of a job the worker admitted ends with what it used, as the ingress's does. */
    lgw_wadmit_finish(run->p->admit, &run->limit_ticket,
                      run->d.attempts > 0 ? run->ev->usage.input_tokens + run->ev->usage.output_tokens : 0);
    /* The cost events' PRODUCER span; its context goes on every cost event of the run (t->cost_tp). */
    struct lgw_span *span = lgw_wspans_send(run->p->tracer, t, lgw_results_topic_cost(run->p->results), -1, t->cost_tp);
    lgw_span_set_int(span, "messaging.batch.message_count", run->nspend + 1);
    run->t = NULL;
    run->job = NULL;
    for (int i = 0; i < run->nspend; i++)
        lgw_results_cost_more(t, &run->spend[i]); /* before the final one, which lets the ticket go */
    lgw_results_cost(t, run->ev);
    lgw_span_end(&span);
    end_job_span(run);
    return true;
}

/* A line waiting for admission asks again (on its loop's timer). */
static void admit_again(void *opaque)
{
    struct job_run *run = opaque;
    run_stages(run);
    lgw_run_unref(run); /* the reference the wait kept */
}

/* Jobs no ingress admitted: batch lines (expired, cancelled, then as below) and interactive jobs without the
 * ingress's marker: allow-list, rate limits, budgets (workers/admit.h). A refusal answers here, without a
 * provider call; a throttled batch line waits on a timer of its loop, holding its batch slot and nothing
 * else, then asks again (from there its stages go on on the loop thread). The first stage. */
static bool stage_admit(struct job_run *run)
{
    struct lgw_pipeline *p = run->p;
    struct lgw_ticket *t = run->t;
    if (!p->admit || (!t->batch && t->admitted))
        return true;
    struct lgw_wadmit_result r;
    lgw_wadmit_check(p->admit, run->job, t->batch, t->admitted, &run->limit_ticket, &r);
    if (r.verdict == LGW_WADMIT_WAIT) {
        if (p->stopping && atomic_load(p->stopping)) {
            /* Draining: let the ticket go unanswered and uncommitted; the next owner runs the line. */
            run->t = NULL;
            run->job = NULL;
            lgw_results_ticket_drop(t);
            return false;
        }
        run->next_stage--; /* ask again */
        lgw_run_ref(run);
        lgw_http_loop_post(run->loop, r.wait_ms, admit_again, run);
        return false;
    }
    if (r.verdict == LGW_WADMIT_ANSWER) {
        struct lgw_prov_result *res = &run->d.res;
        lgw_prov_result_error(res, r.rc, r.msg);
        lgw_strlcpy(res->model, run->model_name, sizeof(res->model));
        run->d.retry_after_ms = r.retry_after_ms;
        run->outcome = r.outcome;
        run->answered = true;
    }
    return true;
}

/* The pipeline. Each stage reads and fills the run; the order is the job's order. A stage returns false
 * when the run waits (dispatch: for its provider calls) and goes on later from the next stage. Hooks for
 * the next steps:
 *   - the response cache (cache/): a lookup stage between plan and dispatch (a hit fills d.res, sets
 *     answered, replays a stream's chunks; dispatch skips, price records the saving) and a store stage
 *     before reply (complete answers only: a partial stream is never cached);
 *   - trace spans wrap each stage by its name, under the job's traceparent (ticket->traceparent). */
static const struct stage {
    const char *name;
    bool (*run)(struct job_run *run);
} STAGES[] = {
    {"admit", stage_admit}, /* first: nothing is planned for a job that may not run */
    {"plan", stage_plan},
    {"cache_lookup", stage_cache_lookup},
    {"dispatch", stage_dispatch},
    {"price", stage_price},
    {"outcome", stage_outcome},
    {"cache_store", stage_cache_store}, /* before reply: a client that asks again once answered hits */
    {"reply", stage_reply},
    {"cost", stage_cost}, /* last: takes the ticket */
};

/* Runs the stages from run->next_stage until one waits or all are done. */
static void run_stages(struct job_run *run)
{
    while (run->next_stage < sizeof(STAGES) / sizeof(STAGES[0])) {
        const struct stage *st = &STAGES[run->next_stage++];
        if (!st->run(run))
            return;
    }
}

void lgw_pipeline_run(struct lgw_pipeline *p, struct lgw_ticket *t)
{
    struct job_run *run = lgw_calloc(1, sizeof(*run));
    atomic_init(&run->refs, 1);
    run->p = p;
    run->t = t;
    run->job = &t->job;
    run->span = t->span; /* the run owns the job's span from here */
    t->span = NULL;
    run->loop = p->loops[atomic_fetch_add(&p->next_loop, 1) % p->nloops];
    lgw_uuid7(run->event_id);
    lgw_strlcpy(run->strategy, t->job.strategy, sizeof(run->strategy));
    run->ts_ms = lgw_wall_ms();
    run->batch_slot = t->batch_slot;
    /* The job keeps this catalog for its whole run, whatever a reload does meanwhile. */
    run->cat = lgw_catalog_current(p->catalog);
    json_t *model = json_object_get(t->job.body, "model");
    run->model_name = json_is_string(model) ? json_string_value(model) : "";
    run->start_us = lgw_mono_us();
    run_stages(run);
    lgw_run_unref(run); /* the stages' own reference; a waiting stage took another */
}

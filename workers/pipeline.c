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
#include "providers/provider.h"
#include "workers/billing.h"
#include "workers/coalesce.h"
#include "workers/dispatch.h"
#include "workers/spans.h"

/* The stream sink: a streamed job's chunks go out as non-final replies, in order, as the provider yields
 * them, several to a message when they come close together (see stream_emit, workers/coalesce.h). */
struct stream_ctx {
    struct lgw_prov_stream base;
    struct job_run *run; /* the route so far is run->d: the first chunk tells the ingress who answers */
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

static void run_ref(struct job_run *run)
{
    atomic_fetch_add(&run->refs, 1);
}

static void run_unref(struct job_run *run)
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
static const char *served_as(const struct job_run *run, const struct lgw_model_info *m)
{
    return lgw_dispatch_served_as(run->p->cfg, m);
}

static bool simulated(const struct job_run *run, const struct lgw_model_info *m)
{
    return lgw_provider_simulated(run->p->cfg, m->provider);
}

/* ---- the stream sink */

/* The chunks are counted until Kafka acknowledges them; at the limit the wire layer stops reading the
 * provider's stream (and starts again once it is below), so a stream's memory is bounded. */
static bool stream_full(struct lgw_prov_stream *stream)
{
    struct stream_ctx *ctx = (struct stream_ctx *)stream;
    return lgw_results_unacked_chunks(ctx->run->t) >= ctx->run->p->cfg->worker_stream_max_chunks;
}

static int capture_cb(const char *data, size_t len, void *opaque)
{
    return lgw_buf_append(opaque, data, len) ? -1 : 0;
}

/* Keeps a copy of a chunk that reached the client, for the response cache, while the answer fits in an
 * entry; past that the answer is not stored at all (an entry is a whole answer or nothing). */
static void capture(struct job_run *run, const json_t *chunk)
{
    struct lgw_buf *c = run->capture;
    if (!c || run->capture_full)
        return;
    if ((c->len > 0 && lgw_buf_puts(c, ",")) || json_dump_callback(chunk, capture_cb, c, JSON_COMPACT))
        run->capture_full = true;
}

/* The reply's PRODUCER span, started with its first record (a stream's first chunk, or the final reply):
 * the records carry its context (t->reply_tp). */
static void reply_span_start(struct job_run *run)
{
    if (run->reply_sending)
        return;
    run->reply_sending = true;
    run->reply_span = lgw_wspans_send(run->p->tracer, run->t, run->job->reply_topic, run->job->reply_partition,
                                      run->t->reply_tp);
}

/* The last finish_reason a stream's chunks gave, for the candidate's span (gen_ai.response.finish_reasons). */
static void note_finish_reason(struct lgw_dispatch *d, json_t *chunk)
{
    json_t *fr = json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "finish_reason");
    if (json_is_string(fr))
        lgw_strlcpy(d->finish_reason, json_string_value(fr), sizeof(d->finish_reason));
    lgw_wcontent_stream_add(d->content, chunk); /* NULL unless the candidate's span captures content */
}

/* One reply message of the stream: chunk, then more (NULL: none), as seq ctx->seq onwards. */
static int send_chunks(struct stream_ctx *ctx, json_t *chunk, json_t *more)
{
    struct job_run *run = ctx->run;
    struct lgw_dispatch *d = &run->d;
    struct lgw_prov_stream *stream = &ctx->base;
    reply_span_start(run);
    run->reply_msgs++;
    struct lgw_reply part;
    memset(&part, 0, sizeof(part));
    lgw_strlcpy(part.id, run->job->id, sizeof(part.id));
    lgw_strlcpy(part.run_id, run->event_id, sizeof(part.run_id));
    lgw_strlcpy(part.tenant, run->job->tenant, sizeof(part.tenant));
    part.batch = run->job->batch;
    part.seq = ctx->seq;
    part.status = 200;
    part.body = chunk;
    part.more_chunks = more;
    /* What the provider has counted so far: some count the input before the first token (Anthropic's
     * message_start, Gemini, echo), which an Anthropic client's message_start reports. */
    part.usage = d->call.res.usage;
    part.cache_hit = run->cache_state == RUN_CACHE_HIT;
    part.cache_bypass = run->cache_state == RUN_CACHE_BYPASS;
    if (part.seq == 0 && run->cache_state == RUN_CACHE_HIT) {
        /* A replayed hit: who made the answer, and no provider call (no route). */
        lgw_strlcpy(part.provider, served_as(run, run->info), sizeof(part.provider));
        part.simulated = simulated(run, run->info);
        lgw_strlcpy(part.model, run->info->id, sizeof(part.model));
        lgw_strlcpy(part.strategy, run->strategy, sizeof(part.strategy));
    } else if (part.seq == 0 && d->current) {
        /* The response headers go out with the first chunk: they carry the route up to this call. */
        const struct lgw_model_info *m = d->current;
        lgw_strlcpy(part.provider, served_as(run, m), sizeof(part.provider));
        part.simulated = simulated(run, m);
        lgw_strlcpy(part.model, m->id, sizeof(part.model));
        lgw_strlcpy(part.strategy, run->strategy, sizeof(part.strategy));
        part.route_attempts = d->attempts + 1;
        /* The route so far plus this call; a route too long for the field is cut (it is informational). */
        struct lgw_buf route;
        lgw_buf_init(&route, 0);
        lgw_buf_printf(&route, "%s%s%s/%s=200", d->route, d->route[0] ? "," : "", part.provider, m->id);
        lgw_strlcpy(part.route, route.ptr, sizeof(part.route));
        lgw_buf_cleanup(&route);
    }
    int rc = lgw_results_chunk(run->t, &part);
    if (rc)
        return rc;
    ctx->seq += 1 + (int)json_array_size(more);
    if (stream->emitted == 0)
        stream->first_emit_us = lgw_mono_us();
    for (size_t i = 0; i <= json_array_size(more); i++) {
        json_t *c = i == 0 ? chunk : json_array_get(more, i - 1);
        stream->emitted++;
        /* What reached the client is billed even if the provider never reports usage (a cut stream). */
        stream->output_tokens_estimate += lgw_billing_chunk_tokens(c);
        capture(ctx->run, c);
    }
    return LGW_OK;
}

/* The held chunks go as one message (nothing when none wait, or the client left). */
static int flush_held(struct stream_ctx *ctx)
{
    json_t *held = lgw_coalesce_take(&ctx->co);
    if (!held || atomic_load(&ctx->cancelled)) {
        json_decref(held);
        return LGW_OK;
    }
    json_t *first = json_incref(json_array_get(held, 0));
    json_array_remove(held, 0);
    int rc = send_chunks(ctx, first, json_array_size(held) ? held : NULL);
    json_decref(first);
    json_decref(held);
    return rc;
}

/* The window is over (the job's loop): what waits goes. A run whose dispatch ended already sent it all. */
static void flush_task(void *opaque)
{
    struct job_run *run = opaque;
    struct stream_ctx *ctx = &run->sctx;
    if (ctx->on_loop) {
        int rc = flush_held(ctx);
        if (rc && !ctx->send_error)
            ctx->send_error = rc;
    }
    run_unref(run);
}

/* The provider's next chunk: at once when it is the first or coalescing is off; otherwise held, and sent
 * with those that follow within the window (workers/coalesce.h), so a stream costs fewer Kafka messages. */
static int stream_emit(struct lgw_prov_stream *stream, json_t *chunk)
{
    struct stream_ctx *ctx = (struct stream_ctx *)stream;
    struct job_run *run = ctx->run;
    if (atomic_load(&ctx->cancelled))
        return LGW_ERR(UNAVAILABLE);
    if (ctx->send_error)
        return ctx->send_error;
    note_finish_reason(&run->d, chunk);
    if (!lgw_coalesce_hold(&ctx->co, chunk)) {
        int rc = flush_held(ctx); /* (only after running out of memory to hold: order is kept) */
        return rc ? rc : send_chunks(ctx, chunk, NULL);
    }
    if (lgw_coalesce_full(&ctx->co))
        return flush_held(ctx);
    if (ctx->on_loop && lgw_coalesce_arm(&ctx->co)) {
        run_ref(run); /* dropped by the flush */
        lgw_http_loop_post(run->loop, lgw_coalesce_window_ms(&ctx->co), flush_task, run);
    }
    return LGW_OK;
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
    snprintf(model, sizeof(model), "%s/%s=%s", served_as(run, m), m->id, m->upstream ? m->upstream : m->id);
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
    sctx->run = run;
    atomic_init(&sctx->cancelled, false);
    lgw_coalesce_init(&sctx->co, run->p->cfg->stream_coalesce_ms, run->job->batched_chunks);
    size_t i;
    json_t *chunk;
    bool failed = false;
    json_array_foreach(e->chunks, i, chunk) {
        if ((failed = stream_emit(&sctx->base, chunk) != 0))
            break; /* the reply topic failed: the final reply still goes, as after any stream */
    }
    if (!failed)
        flush_held(sctx); /* a replay has every chunk at once: the rest go in as few messages as the cap allows */
    lgw_coalesce_cleanup(&sctx->co);
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
    run_unref(run);
}

static void cancel_wake(void *opaque)
{
    struct job_run *run = opaque;
    run_ref(run);
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
    /* Held chunks go before the final reply; a flush still scheduled finds nothing (on_loop false). Chunks
     * that could not go make the answer an error, as a chunk refused while streaming does: the client must
     * not take a stream with a hole for a whole one. */
    if (run->streamed) {
        int rc = run->sctx.send_error ? run->sctx.send_error : flush_held(&run->sctx);
        if (rc && res->status == 200)
            lgw_prov_result_error(res, rc, "The streamed answer's chunks could not be sent on.");
    }
    lgw_coalesce_cleanup(&run->sctx.co);
    run->sctx.on_loop = false;
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
    run_unref(run); /* the reference the stages kept across the wait */
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
    sctx->run = run;
    atomic_init(&sctx->cancelled, false);
    sctx->base.emit = stream_emit;
    sctx->base.full = stream_full;
    lgw_coalesce_init(&sctx->co, p->cfg->stream_coalesce_ms, job->batched_chunks);
    sctx->on_loop = true;
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
    run_ref(run); /* kept across the wait; dropped in dispatched() */
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
        lgw_strlcpy(ev->provider, served_as(run, run->info), sizeof(ev->provider));
        ev->simulated = simulated(run, run->info);
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
    reply_span_start(run); /* an answer that was not streamed: its one record */
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
    run_unref(run); /* the reference the wait kept */
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
        run_ref(run);
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
    lgw_uuid4(run->event_id);
    lgw_strlcpy(run->strategy, t->job.strategy, sizeof(run->strategy));
    run->ts_ms = lgw_wall_ms();
    run->batch_slot = t->batch_slot;
    /* The job keeps this catalog for its whole run, whatever a reload does meanwhile. */
    run->cat = lgw_catalog_current(p->catalog);
    json_t *model = json_object_get(t->job.body, "model");
    run->model_name = json_is_string(model) ? json_string_value(model) : "";
    run->start_us = lgw_mono_us();
    run_stages(run);
    run_unref(run); /* the stages' own reference; a waiting stage took another */
}

/* stream_sink.c - a streamed job's chunks on their way to the reply topic (see stream_sink.h). */
#include "workers/stream_sink.h"

#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/json_write.h"
#include "providers/http_loop.h"
#include "workers/billing.h"
#include "workers/content.h"
#include "workers/results.h"

/* The chunks are counted until Kafka acknowledges them; at the limit the wire layer stops reading the
 * provider's stream (and starts again once it is below), so a stream's memory is bounded. */
static bool stream_full(struct lgw_prov_stream *stream)
{
    struct stream_ctx *ctx = (struct stream_ctx *)stream;
    return lgw_results_unacked_chunks(ctx->run->t) >= ctx->cfg->worker_stream_max_chunks;
}

/* Keeps a copy of a chunk that reached the client, for the response cache, while the answer fits in an
 * entry; past that the answer is not stored at all (an entry is a whole answer or nothing). */
static void capture(struct job_run *run, const json_t *chunk)
{
    struct lgw_buf *c = run->capture;
    if (!c || run->capture_full)
        return;
    if ((c->len > 0 && lgw_buf_puts(c, ",")) || lgw_buf_dump_json(c, chunk, JSON_COMPACT))
        run->capture_full = true;
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
    lgw_run_reply_span_start(run);
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
        lgw_strlcpy(part.provider, lgw_run_served_as(run, run->info), sizeof(part.provider));
        part.simulated = lgw_run_simulated(run, run->info);
        lgw_strlcpy(part.model, run->info->id, sizeof(part.model));
        lgw_strlcpy(part.strategy, run->strategy, sizeof(part.strategy));
    } else if (part.seq == 0 && d->current) {
        /* The response headers go out with the first chunk: they carry the route up to this call. */
        const struct lgw_model_info *m = d->current;
        lgw_strlcpy(part.provider, lgw_run_served_as(run, m), sizeof(part.provider));
        part.simulated = lgw_run_simulated(run, m);
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
    if (rc) {
        ctx->send_error = rc; /* nothing after it may go: the client would take a stream with a hole */
        return rc;
    }
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

/* The held chunks go as one message (nothing when none wait, the client left, or a send failed). */
static int flush_held(struct stream_ctx *ctx)
{
    json_t *held = lgw_coalesce_take(&ctx->co);
    if (!held || atomic_load(&ctx->cancelled) || ctx->send_error) {
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
    if (ctx->on_loop)
        flush_held(ctx); /* a failure is kept in send_error: the provider's next chunk is refused with it */
    lgw_run_unref(run);
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
        lgw_run_ref(run); /* dropped by the flush */
        lgw_http_loop_post(run->loop, lgw_coalesce_window_ms(&ctx->co), flush_task, run);
    }
    return LGW_OK;
}

void lgw_stream_sink_start(struct job_run *run, const struct lgw_config *cfg, bool on_loop)
{
    struct stream_ctx *sctx = &run->sctx;
    sctx->run = run;
    sctx->cfg = cfg;
    atomic_init(&sctx->cancelled, false);
    sctx->base.emit = stream_emit;
    sctx->base.full = stream_full;
    lgw_coalesce_init(&sctx->co, cfg->stream_coalesce_ms, run->job->batched_chunks);
    sctx->on_loop = on_loop;
}

int lgw_stream_sink_end(struct job_run *run)
{
    struct stream_ctx *sctx = &run->sctx;
    flush_held(sctx);
    lgw_coalesce_cleanup(&sctx->co);
    sctx->on_loop = false; /* a flush still scheduled finds nothing to do */
    return sctx->send_error;
}

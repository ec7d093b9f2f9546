/* pipeline.c - a job's stages, from route plan to cost event (see pipeline.h). */
#include "workers/pipeline.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/cost.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/log.h"
#include "providers/provider.h"
#include "workers/dispatch.h"

/* One job's state as it moves through the stages; lives on the pool thread's stack for the run. */
struct job_run {
    const struct lgw_pipeline *p;
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
    struct lgw_cost_event ev;
    struct lgw_reply reply;
};

/* ---- the stream sink */

/* A streamed job's chunks go out as non-final replies, in order, as the provider yields them. They are
 * not tracked for the offset: the final reply and the cost event, produced after them on the same
 * partitions by the same producer, are. */
struct stream_ctx {
    struct lgw_prov_stream base;
    struct job_run *run; /* the route so far is run->d: the first chunk tells the ingress who answers */
    int seq;
    atomic_bool cancelled; /* the client left (cancel.h): stop, which aborts the upstream transfer */
};

static int stream_emit(struct lgw_prov_stream *stream, json_t *chunk)
{
    struct stream_ctx *ctx = (struct stream_ctx *)stream;
    const struct job_run *run = ctx->run;
    const struct lgw_dispatch *d = &run->d;
    if (atomic_load(&ctx->cancelled))
        return LGW_ERR(UNAVAILABLE);
    struct lgw_reply part;
    memset(&part, 0, sizeof(part));
    lgw_strlcpy(part.id, run->job->id, sizeof(part.id));
    lgw_strlcpy(part.run_id, run->ev.event_id, sizeof(part.run_id));
    part.seq = ctx->seq++;
    part.status = 200;
    part.body = chunk;
    if (part.seq == 0 && d->current) {
        /* The response headers go out with the first chunk: they carry the route up to this call. */
        const struct lgw_model_info *m = d->current;
        lgw_strlcpy(part.provider, m->provider, sizeof(part.provider));
        lgw_strlcpy(part.model, m->id, sizeof(part.model));
        lgw_strlcpy(part.strategy, run->ev.strategy, sizeof(part.strategy));
        part.route_attempts = d->attempts + 1;
        /* The route so far plus this call; a route too long for the field is cut (it is informational). */
        struct lgw_buf route;
        lgw_buf_init(&route, 0);
        lgw_buf_printf(&route, "%s%s%s/%s=200", d->route, d->route[0] ? "," : "", m->provider, m->id);
        lgw_strlcpy(part.route, route.ptr, sizeof(part.route));
        lgw_buf_cleanup(&route);
    }
    int rc = lgw_results_chunk(run->t, &part);
    if (rc == 0) {
        if (stream->emitted++ == 0)
            stream->first_emit_us = lgw_mono_us();
    }
    return rc;
}

/* ---- the stages, in the order of the table below */

/* The route: the job's strategy (the request's, else the configured default) and its plan of candidates.
 * A job that cannot be routed is answered here with the client's error. */
static void stage_plan(struct job_run *run)
{
    const struct lgw_job *job = run->job;
    struct lgw_prov_result *res = &run->d.res;
    enum lgw_strategy strategy;
    char why[512];
    int rc;
    const char *name = job->strategy[0] && strcmp(job->strategy, "default") != 0 ? job->strategy
                                                                                 : run->p->cfg->route_strategy;
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
    lgw_strlcpy(run->ev.strategy, lgw_strategy_name(run->plan.strategy), sizeof(run->ev.strategy));
    if (rc) {
        res->status = lgw_err_status(rc);
        res->body = lgw_error_json(rc, why);
        lgw_strlcpy(res->model, run->model_name, sizeof(res->model));
        run->answered = true;
    }
}

/* The providers along the plan (workers/dispatch.c), a streamed chat job's chunks going out as they come. */
static void stage_dispatch(struct job_run *run)
{
    if (run->answered)
        return;
    const struct lgw_pipeline *p = run->p;
    const struct lgw_job *job = run->job;
    struct lgw_dispatch *d = &run->d;
    struct lgw_prov_result *res = &d->res;
    struct stream_ctx sctx = {.run = run};
    sctx.base.emit = stream_emit;
    json_t *so = json_object_get(job->body, "stream_options");
    sctx.base.include_usage = json_is_true(json_object_get(so, "include_usage"));
    bool streamed = job->stream && job->kind == LGW_JOB_CHAT;
    d->stream = streamed ? &sctx.base : NULL;
    d->cancelled = &sctx.cancelled;
    if (streamed && p->cancels)
        lgw_cancels_register(p->cancels, job->id, &sctx.cancelled);
    lgw_dispatch_run(d, p->router, p->cfg, &run->plan, job);
    if (streamed && p->cancels)
        lgw_cancels_unregister(p->cancels, &sctx.cancelled);
    d->stream = NULL; /* sctx ends with this stage */
    d->cancelled = NULL;
    run->seq = sctx.seq;
    if (streamed && res->status == 200 && !res->body)
        res->body = json_pack("{s:s}", "object", "llmgw.stream.end");
    run->info = d->current ? d->current : run->plan.chain[0];
    lgw_strlcpy(run->ev.provider, run->info->provider, sizeof(run->ev.provider));
    /* The catalog's id, which prices and analytics join on; the provider's exact version is in the body. */
    lgw_strlcpy(res->model, run->info->id, sizeof(res->model));
    if (d->attempts > 1)
        lgw_metrics_add(p->m, "llmgw_route_fallbacks_total", NULL, d->attempts - 1);
    if (run->plan.last_resort)
        LGW_LOG(LGW_LOG_DEBUG, "worker", job->id, job->tenant, "no provider keys: echo serves %s", run->model_name);
    run->answered = true;
}

/* The cost of the provider calls made, at the catalog's price of the model that answered. A model with no
 * price is loud (metric and log) and recorded as cost unknown, never as a silent $0. */
static void stage_price(struct job_run *run)
{
    const struct lgw_model_info *info = run->info;
    struct lgw_cost_event *ev = &run->ev;
    if (!info || run->d.attempts == 0)
        return;
    ev->cost_known = info->price.known;
    if (lgw_cost_of_usage(&info->price, &run->d.res.usage, &ev->cost_nusd)) {
        ev->cost_known = false;
        ev->cost_nusd = 0;
    }
    if (!ev->cost_known) {
        lgw_metrics_add(run->p->m, "llmgw_cost_unknown_total", NULL, 1);
        LGW_LOG(LGW_LOG_WARN, "worker", run->job->id, run->job->tenant,
                "no price for model %s/%s: cost recorded as unknown", info->provider, info->id);
    }
}

/* The final reply and the cost event, from the answer. */
static void stage_outcome(struct job_run *run)
{
    const struct lgw_prov_result *res = &run->d.res;
    struct lgw_cost_event *ev = &run->ev;
    struct lgw_reply *reply = &run->reply;
    int64_t latency_ms = (lgw_mono_us() - run->start_us) / 1000;

    ev->usage = res->usage;
    ev->status = res->status;
    ev->latency_ms = latency_ms;
    ev->route_attempts = run->d.attempts;
    lgw_strlcpy(ev->route, run->d.route, sizeof(ev->route));
    lgw_strlcpy(ev->model, res->model, sizeof(ev->model));
    lgw_strlcpy(ev->outcome, res->status == 200 ? "ok" : "error", sizeof(ev->outcome));

    lgw_strlcpy(reply->id, run->job->id, sizeof(reply->id));
    lgw_strlcpy(reply->run_id, ev->event_id, sizeof(reply->run_id));
    reply->seq = run->seq;
    reply->final = true;
    reply->status = res->status;
    reply->body = res->body; /* borrowed: the result keeps it until the run ends */
    reply->usage = res->usage;
    reply->cost_nusd = ev->cost_nusd;
    reply->cost_known = ev->cost_known;
    reply->latency_ms = latency_ms;
    lgw_strlcpy(reply->provider, ev->provider, sizeof(reply->provider));
    lgw_strlcpy(reply->model, res->model, sizeof(reply->model));
    lgw_strlcpy(reply->strategy, ev->strategy, sizeof(reply->strategy));
    reply->route_attempts = run->d.attempts;
    lgw_strlcpy(reply->route, run->d.route, sizeof(reply->route));
}

/* The final reply to the job's reply topic (a failure there leaves the client its 504; the cost event still
 * accounts for the job). */
static void stage_reply(struct job_run *run)
{
    lgw_results_reply(run->t, &run->reply);
}

/* The job's cost event: always the last stage, since it hands the ticket to the delivery reports, which
 * store the job's offset once the reply and the cost event are acknowledged (workers/results.h). */
static void stage_cost(struct job_run *run)
{
    struct lgw_ticket *t = run->t;
    char labels[96];
    snprintf(labels, sizeof(labels), "kind=\"%s\",outcome=\"%s\"", lgw_job_kind_name(run->job->kind),
             run->ev.outcome);
    lgw_metrics_add(run->p->m, "llmgw_jobs_total", labels, 1);
    /* Read before the ticket goes: a delivery report may free it as soon as the cost event is queued. */
    lgw_metrics_observe(run->p->m, "llmgw_job_duration_seconds", NULL, (double)(lgw_mono_us() - t->received_us) / 1e6);
    run->t = NULL;
    run->job = NULL;
    lgw_results_cost(t, &run->ev);
}

/* The pipeline. Each stage reads and fills the run; the order is the job's order. Hooks for the next steps:
 *   - the response cache (cache/) adds a lookup stage between plan and dispatch (a hit fills d.res, sets
 *     answered, and dispatch and price skip) and a store stage after reply (complete answers only: a
 *     partial stream is never cached);
 *   - trace spans wrap each stage by its name, under the job's traceparent (ticket->traceparent). */
static const struct stage {
    const char *name;
    void (*run)(struct job_run *run);
} STAGES[] = {
    {"plan", stage_plan},
    /* {"cache_lookup", ...}: the response cache hooks in here. */
    {"dispatch", stage_dispatch},
    {"price", stage_price},
    {"outcome", stage_outcome},
    {"reply", stage_reply},
    /* {"cache_store", ...}: and stores complete answers here. */
    {"cost", stage_cost}, /* last: takes the ticket */
};

void lgw_pipeline_run(const struct lgw_pipeline *p, struct lgw_ticket *t)
{
    struct job_run run;
    memset(&run, 0, sizeof(run));
    run.p = p;
    run.t = t;
    run.job = &t->job;
    lgw_results_cost_init(p->results, &t->job, &run.ev);
    run.cat = lgw_catalog_current(p->catalog);
    json_t *model = json_object_get(t->job.body, "model");
    run.model_name = json_is_string(model) ? json_string_value(model) : "";
    run.start_us = lgw_mono_us();

    for (size_t i = 0; i < sizeof(STAGES) / sizeof(STAGES[0]); i++)
        STAGES[i].run(&run);

    /* run.model_name pointed into the job's body: gone with the ticket, unused from here. */
    lgw_prov_result_cleanup(&run.d.res);
    lgw_catalog_unref(run.cat);
}

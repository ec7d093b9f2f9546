/* jobs.c - request to job: parse in the client's dialect, validate, build, admit, produce, wait (see jobs.h). */
#include "ingress/jobs.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/assert.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"
#include "ingress/admission.h"
#include "ingress/ingress_int.h"
#include "ingress/spans.h"
#include "common/validate.h"
#include "routing/estimate.h"
#include "routing/strategy.h"

/* A user id from the client is recorded in the ledger; cap it like any other input. */
#define MAX_USER_LEN 127

/* The request's routing strategy, from the x-llmgw-strategy header or the body's "llmgw": {"strategy"}
 * (the header wins), into out ("" when neither: the worker's default). The "llmgw" object is gateway
 * business and is taken out of the body before any provider sees it. Returns 0 or LGW_ERR(BAD_STRATEGY). */
static int take_strategy(struct lgw_req *req, json_t *body, char *out, size_t outsz)
{
    const char *name = lgw_hconn_header(req->conn, "x-llmgw-strategy");
    json_t *ext = json_object_get(body, "llmgw");
    json_t *in_body = json_object_get(ext, "strategy");
    if (!name && in_body && !json_is_string(in_body))
        return LGW_ERR(BAD_STRATEGY);
    if (!name)
        name = json_string_value(in_body);
    enum lgw_strategy s;
    int rc = name ? lgw_strategy_parse(name, &s) : LGW_OK;
    if (rc == 0)
        lgw_strlcpy(out, name ? lgw_strategy_name(s) : "", outsz);
    json_object_del(body, "llmgw");
    return rc;
}

/* The request's deadline: the configured one, or shorter when the client asks with x-llmgw-timeout-ms
 * (never longer: the operator's limit holds). */
static int64_t request_timeout(struct lgw_req *req)
{
    int64_t limit = req->ing->cfg->request_timeout_ms;
    const char *h = lgw_hconn_header(req->conn, "x-llmgw-timeout-ms");
    long long v;
    if (h && lgw_parse_int64(h, strlen(h), &v) == 0 && v > 0 && v < limit)
        return v;
    return limit;
}

/* The request's response-cache directives: x-llmgw-cache-ttl (seconds, cut to the configured maximum; a
 * malformed or non-positive value is no request) and Cache-Control's no-cache and no-store, which may come
 * among other directives ("no-cache, max-age=0"). */
static void take_cache_directives(struct lgw_req *req, struct lgw_job *job)
{
    const struct lgw_config *cfg = req->ing->cfg;
    const char *h = lgw_hconn_header(req->conn, "x-llmgw-cache-ttl");
    long long v;
    if (h && lgw_parse_int64(h, strlen(h), &v) == 0 && v > 0)
        job->cache_ttl_s = v < cfg->cache_max_ttl_s ? v : cfg->cache_max_ttl_s;
    const char *cc = lgw_hconn_header(req->conn, "Cache-Control");
    for (const char *p = cc; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == 8 && strncasecmp(p, "no-cache", 8) == 0)
            job->cache_no_lookup = true;
        else if (t == 8 && strncasecmp(p, "no-store", 8) == 0)
            job->cache_no_store = true;
        p += n;
    }
}

/* The client's body as an OpenAI-shaped, validated request (*out: new reference). On failure msg says why
 * and param names the field at fault ("" when none does). */
static int parse_body(struct lgw_req *req, enum lgw_job_kind kind, json_t **out, char *msg, size_t msgsz,
                      char *param, size_t paramsz)
{
    const struct lgw_config *cfg = req->ing->cfg;
    json_t *raw = NULL, *body = NULL;
    *out = NULL;
    param[0] = '\0';
    int rc = lgw_validate_parse(req->body.ptr ? req->body.ptr : "", req->body.len, (int)cfg->max_json_depth, &raw,
                                msg, msgsz);
    if (rc)
        return rc;
    rc = req->dialect->request(raw, &body, msg, msgsz);
    json_decref(raw);
    if (rc)
        return rc;
    rc = kind == LGW_JOB_EMBEDDINGS ? lgw_validate_embeddings(body, msg, msgsz, param, paramsz)
                                    : lgw_validate_chat(body, msg, msgsz, param, paramsz);
    if (rc == 0 && kind == LGW_JOB_EMBEDDINGS && json_is_true(json_object_get(body, "stream"))) {
        snprintf(msg, msgsz, "Streaming is only available for chat completions.");
        snprintf(param, paramsz, "stream");
        rc = LGW_ERR(UNSUPPORTED);
    }
    if (rc) {
        json_decref(body);
        return rc;
    }
    *out = body;
    return LGW_OK;
}

/* Fills job from req and its validated body (job takes the body's reference). */
static int build_job(struct lgw_req *req, enum lgw_job_kind kind, json_t *body, int64_t timeout_ms,
                     struct lgw_job *job, char *msg, size_t msgsz)
{
    memset(job, 0, sizeof(*job));
    job->body = body;
    lgw_strlcpy(job->id, req->id, sizeof(job->id)); /* the request's id, already in its answer's x-request-id */
    job->kind = kind;
    LGW_ASSERT(req->tenant[0] != '\0'); /* admission names the tenant before any job exists */
    lgw_strlcpy(job->tenant, req->tenant, sizeof(job->tenant));
    lgw_strlcpy(job->key_id, req->key_id, sizeof(job->key_id));
    /* The end user: x-llmgw-user, else the body's user, else OpenAI's newer safety_identifier (which
     * replaces user there). */
    const char *user = lgw_hconn_header(req->conn, "x-llmgw-user");
    json_t *juser = json_object_get(body, "user");
    json_t *jsafety = json_object_get(body, "safety_identifier"); /* OpenAI's successor of "user" */
    if (!user && json_is_string(juser))
        user = json_string_value(juser);
    if (!user && json_is_string(jsafety))
        user = json_string_value(jsafety);
    if (user && strlen(user) <= MAX_USER_LEN)
        lgw_strlcpy(job->user, user, sizeof(job->user));
    job->created_ms = lgw_wall_ms();
    job->deadline_ms = job->created_ms + timeout_ms;
    lgw_strlcpy(job->reply_topic, req->ing->topic_replies, sizeof(job->reply_topic));
    job->reply_partition = 0;
    job->attempt = 1;
    job->stream = req->stream;
    job->batched_chunks = req->stream; /* this reader takes a reply's more_chunks (sse.c) */
    take_cache_directives(req, job);
    if (take_strategy(req, body, job->strategy, sizeof(job->strategy))) {
        snprintf(msg, msgsz, "Unknown routing strategy: use cost, latency, capability or round-robin.");
        return LGW_ERR(BAD_STRATEGY);
    }
    return LGW_OK;
}

/* Produces the job and suspends the request. Insert, produce and suspend happen under the id's shard lock:
 * the reply thread takes the request out of the map only after this, so it never resumes a connection that
 * is not suspended yet. */
static int enqueue(struct lgw_req *req, const struct lgw_job *job, const struct lgw_buf *payload)
{
    struct lgw_ingress *ing = req->ing;
    const char *topic = job->kind == LGW_JOB_CHAT ? ing->topic_chat : ing->topic_embeddings;
    /* The job's producer span; the record carries its context (the request's trace: spans.h). */
    struct lgw_span *span = lgw_spans_job_send(req, topic);
    struct lgw_kafka_msg msg = {
        .topic = topic,
        .partition = RD_KAFKA_PARTITION_UA,
        .key = req->id,
        .value = payload->ptr,
        .len = payload->len,
        .traceparent = req->traceparent,
        .tracestate = req->tracestate,
        .admitted = true, /* lgw_admission_admit passed: the worker need not check its limits again */
    };
    rd_kafka_resp_err_t err;
    lgw_pending_lock(ing->pending, req->id);
    int rc = lgw_kafka_produce(ing->producer, &msg, &err);
    if (rc == 0) {
        lgw_pending_suspend_locked(ing->pending, req);
    }
    lgw_pending_unlock(ing->pending, req->id);
    if (rc) {
        lgw_metrics_add(ing->m, "llmgw_kafka_produce_errors_total", "role=\"ingress\"", 1);
        LGW_LOG_TP(LGW_LOG_WARN, "ingress", req->id, req->tenant, req->traceparent, "produce: %s", rd_kafka_err2str(err));
        lgw_span_set_str(span, "error.type", rd_kafka_err2name(err));
        lgw_span_set_status(span, LGW_SPAN_ERROR, rd_kafka_err2str(err));
    }
    lgw_span_end(&span);
    return rc;
}

static enum lgw_hres submit(struct lgw_req *req, enum lgw_job_kind kind)
{
    char msg[512], param[64];
    json_t *body = NULL;
    struct lgw_job job;
    struct lgw_buf payload;
    memset(&job, 0, sizeof(job));
    lgw_buf_init(&payload, 0);
    enum lgw_hres r;

    int rc = parse_body(req, kind, &body, msg, sizeof(msg), param, sizeof(param));
    if (rc) {
        r = lgw_req_answer_error_param(req, rc, msg, param);
        goto out;
    }
    req->stream = json_is_true(json_object_get(body, "stream"));
    if (req->stream) {
        /* What a stream's start reports as its input (Anthropic's message_start) when the provider has not
         * counted it by the first chunk: routing's estimate of the same body. */
        struct lgw_route_needs needs;
        lgw_route_needs_of(body, kind, true, &needs);
        req->ds.input_tokens = needs.input_tokens;
    }
    int64_t timeout_ms = request_timeout(req);
    rc = build_job(req, kind, body, timeout_ms, &job, msg, sizeof(msg));
    body = NULL; /* the job owns it */
    if (rc == 0)
        rc = lgw_admission_admit(req, &job, msg, sizeof(msg));
    if (rc) {
        /* The one 403 of admission is the model allow-list. */
        r = lgw_req_answer_error_param(req, rc, msg, rc == LGW_ERR(FORBIDDEN) ? "model" : NULL);
        goto out;
    }
    if ((rc = lgw_job_encode(&job, &payload))) {
        r = lgw_req_answer_error(req, rc, NULL);
        goto out;
    }
    req->deadline_ms = lgw_mono_ms() + timeout_ms;
    if (enqueue(req, &job, &payload)) {
        atomic_store(&req->used_tokens, 0); /* never queued: its token reservation is given back */
        r = lgw_req_answer_error(req, LGW_ERR(UNAVAILABLE), "The gateway could not queue the request; try again later.");
        goto out;
    }
    LGW_LOG_TP(LGW_LOG_DEBUG, "ingress", req->id, req->tenant, req->traceparent, "queued %s job",
               lgw_job_kind_name(job.kind));
    r = LGW_HRES_YES;
out:
    json_decref(body);
    lgw_job_cleanup(&job);
    lgw_buf_cleanup(&payload);
    return r;
}

enum lgw_hres lgw_jobs_chat(struct lgw_req *req)
{
    return submit(req, LGW_JOB_CHAT);
}

enum lgw_hres lgw_jobs_embeddings(struct lgw_req *req)
{
    return submit(req, LGW_JOB_EMBEDDINGS);
}

int lgw_jobs_cancel(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    struct lgw_cancel cancel = {.ts_ms = lgw_wall_ms()};
    lgw_strlcpy(cancel.id, req->id, sizeof(cancel.id));
    struct lgw_buf payload;
    lgw_buf_init(&payload, 0);
    int rc = lgw_cancel_encode(&cancel, &payload);
    if (rc == 0) {
        struct lgw_kafka_msg msg = {
            .topic = ing->topic_cancel,
            .partition = RD_KAFKA_PARTITION_UA,
            .key = req->id,
            .value = payload.ptr,
            .len = payload.len,
            .traceparent = req->traceparent,
            .tracestate = req->tracestate,
        };
        rc = lgw_kafka_produce(ing->producer, &msg, NULL);
    }
    lgw_buf_cleanup(&payload);
    return rc;
}

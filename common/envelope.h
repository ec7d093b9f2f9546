/* envelope.h - the versioned messages that cross Kafka: job, reply, cost event, cancel, dead letter.
 *
 * Each is JSON with "v":1 and a JSON Schema under schemas/. Decoders follow the upgrade rule of
 * schemas/README.md: they take "v" 1 and 2 and ignore fields they do not know. Encoders write into a caller's lgw_buf;
 * decoders validate everything a consumer relies on and say why a message was rejected, so a bad
 * message goes to the DLQ with a reason instead of crashing or stalling a consumer. */
#ifndef LGW_ENVELOPE_H
#define LGW_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/trace.h"

#define LGW_ENVELOPE_VERSION 1
/* The status a cancelled execution is recorded with: the client closed the connection (nginx's 499). */
#define LGW_STATUS_CLIENT_CLOSED 499
#define LGW_ID_MAX 64
#define LGW_NAME_MAX 128
#define LGW_TOPIC_MAX 256
#define LGW_KEY_ID_MAX 32 /* "key_" + 12 hex digits, or an operator's id of up to 31 characters */

enum lgw_job_kind { LGW_JOB_CHAT = 0, LGW_JOB_EMBEDDINGS = 1 };

/* A batch's custom_id: OpenAI's Batch input names each request with one; llmgw takes up to this many bytes. */
#define LGW_CUSTOM_ID_MAX 256

/* Which line of which batch a job is (the "batch" part of a job and of its reply; docs/BATCH.md). id is ""
 * for a job that is not a batch line. */
struct lgw_batch_ref {
    char id[LGW_ID_MAX];                /* the batch id ("batch_" + 32 hex digits) */
    int64_t index;                      /* 0-based position of the request in the batch's input */
    char custom_id[LGW_CUSTOM_ID_MAX];  /* the input line's custom_id */
};

const char *lgw_job_kind_name(enum lgw_job_kind kind);

struct lgw_job {
    char id[LGW_ID_MAX]; /* also the Kafka key and the correlation id */
    enum lgw_job_kind kind;
    char tenant[LGW_NAME_MAX];
    /* The id of the tenant key that authenticated the request (common/auth.h); "" when none did (keyless dev
     * requests, and jobs from writers older than the field or batch producers that do not say). */
    char key_id[LGW_KEY_ID_MAX];
    char user[LGW_NAME_MAX];
    int64_t created_ms, deadline_ms; /* wall clock, ms since the epoch */
    char reply_topic[LGW_TOPIC_MAX];
    int32_t reply_partition;
    char strategy[32];
    bool stream;
    /* The writer reads replies that carry several stream chunks (reply more_chunks); absent in jobs from
     * writers older than the field, and from batch producers that do not say: one chunk a message then. */
    bool batched_chunks;
    int attempt;
    /* The request's response-cache directives (absent in older jobs: none): the TTL it asked for with
     * x-llmgw-cache-ttl, already capped by the ingress (0: none), and Cache-Control's no-cache (skip the
     * lookup) and no-store (skip storing). */
    int64_t cache_ttl_s;
    bool cache_no_lookup, cache_no_store;
    struct lgw_batch_ref batch; /* batch.id "" unless the job is a batch line (absent in older jobs) */
    json_t *body; /* the OpenAI-shaped request; owned (one reference) by the job */
    /* The job record's traceparent header, set by whoever consumed it (not part of the JSON): what logs about
     * the job carry as trace_id and span_id. "" when the record had none. */
    char traceparent[LGW_TRACEPARENT_SIZE];
};

/* Encodes job as JSON into out. Returns 0 or an LGW_ERR. */
int lgw_job_encode(const struct lgw_job *job, struct lgw_buf *out);
/* Decodes and validates; on failure returns LGW_ERR(INVALID) with a reason in why. job->body is a new
 * reference owned by job; release with lgw_job_cleanup (also safe after a failed decode). */
int lgw_job_decode(const void *data, size_t len, struct lgw_job *job, char *why, size_t whysz);
void lgw_job_cleanup(struct lgw_job *job);

struct lgw_usage {
    int64_t input_tokens, output_tokens, cached_input_tokens;
    /* Prompt-cache writes (Anthropic), a part of input_tokens billed at their own rate. Used for the cost;
     * not (yet) carried in messages. */
    int64_t cache_write_input_tokens;
};

/* Room for the attempts of one request: LLMGW_ROUTE_MAX_ATTEMPTS (at most 16) names and statuses. */
#define LGW_ROUTE_TEXT_MAX 1024

struct lgw_reply {
    char id[LGW_ID_MAX];
    char run_id[LGW_ID_MAX]; /* one execution of the job: a streamed answer comes from exactly one run */
    /* The job's tenant, so the ingress can refuse a reply whose id matches a request of another tenant.
     * Empty in replies from writers older than the field (then not checked). */
    char tenant[LGW_NAME_MAX];
    int seq;
    bool final;
    int status; /* HTTP status for the client */
    json_t *body; /* OpenAI-shaped response or error object; owned. NULL after lgw_reply_decode_text (body_text) */
    /* lgw_reply_decode_text only: the body's JSON text as the message carries it, checked but not parsed,
     * borrowed from the decoded payload (valid while it is). */
    const char *body_text;
    size_t body_len;
    /* A stream's chunks after body in one message, seq + 1 onwards (a JSON array of objects; owned; NULL:
     * none). Only for a job that said batched_chunks (workers/coalesce.h). */
    json_t *more_chunks;
    char provider[LGW_NAME_MAX];
    char model[LGW_NAME_MAX];
    /* The response cache's part ("cache": hit, miss or bypass): served from the cache, or looked up and not
     * found, or the cache was not used for it (off, or the request said no-cache). */
    bool cache_hit, cache_bypass;
    struct lgw_usage usage;
    int64_t cost_nusd;   /* the request's spend: every billed provider request of this execution */
    bool cost_known;
    bool cost_estimated; /* some of it is an estimate (workers/billing.h) */
    int64_t latency_ms;
    /* How the router served it: strategy, provider calls made, and each attempt as
     * "provider/model=status", comma-separated (the x-llmgw-* response headers). */
    char strategy[32];
    int route_attempts;
    char route[LGW_ROUTE_TEXT_MAX];
    /* When the client may try again (its Retry-After), for an answer that knows: every breaker open. 0: no
     * advice. */
    int64_t retry_after_ms;
    bool simulated; /* a simulated provider answered (x-llmgw-simulated: true); absent: false */
    struct lgw_batch_ref batch; /* the job's batch part, copied; batch.id "" for a job that is not a batch line */
};

/* "hit", "miss" or "bypass": the reply's cache field and the x-llmgw-cache header. */
const char *lgw_reply_cache_name(const struct lgw_reply *reply);

int lgw_reply_encode(const struct lgw_reply *reply, struct lgw_buf *out);
/* A reader takes at most this many chunks in one reply's more_chunks: a writer sends far fewer
 * (LGW_COALESCE_MAX_CHUNKS); the bound is a reader's limit on hostile input. */
#define LGW_REPLY_MORE_CHUNKS_MAX 1024

int lgw_reply_decode(const void *data, size_t len, struct lgw_reply *reply, char *why, size_t whysz);
/* The same checks, but the body is left as the text it came as (body_text, borrowed from data; body NULL): a
 * reader that passes the answer on as it is (the ingress, to an OpenAI client) neither builds it nor writes it
 * again. The text is checked as jansson would read it (common/json_scan.h), except that keys repeated inside
 * the body are not refused; the envelope's own fields are read, and refused, exactly as lgw_reply_decode
 * reads them. lgw_reply_parse_body builds body when the reader needs it after all. */
int lgw_reply_decode_text(const void *data, size_t len, struct lgw_reply *reply, char *why, size_t whysz);
/* Parses body_text into body (no-op when body is already set). Returns 0 or LGW_ERR(INVALID) with why. */
int lgw_reply_parse_body(struct lgw_reply *reply, char *why, size_t whysz);
void lgw_reply_cleanup(struct lgw_reply *reply);

/* One final event per job execution (answered, failed, cancelled or expired), and before it one non-final
 * event per provider request of that execution that the provider bills although it did not answer it
 * (sent, then timed out or cut: a fallback never hides that spend). event_id is unique per event (the
 * execution's run id for the final one, "<run id>.<provider_call>" for the others), so a job run twice
 * (after a crash) yields two sets; the ledger dedupes redeliveries on event_id. Spend of a request is the
 * sum over its events; requests are counted by request_id (final events). */
struct lgw_cost_event {
    char event_id[LGW_ID_MAX];
    char request_id[LGW_ID_MAX];
    char tenant[LGW_NAME_MAX];
    char key_id[LGW_KEY_ID_MAX]; /* the job's key_id ("" when it had none) */
    char user[LGW_NAME_MAX];
    char provider[LGW_NAME_MAX];
    char model[LGW_NAME_MAX];
    enum lgw_job_kind kind;
    struct lgw_usage usage;
    int64_t cost_nusd;
    bool cost_known;
    int64_t latency_ms;
    int status;          /* HTTP status of the outcome */
    char outcome[16];    /* "ok", "error", "cancelled" (the client left; status 499) or "expired" */
    bool cache_hit;
    int64_t saved_nusd;  /* a cache hit: what the answer cost when a provider made it (0 otherwise) */
    bool rerun;          /* set when this execution is known to repeat an earlier one */
    int attempt;
    char strategy[32];
    char worker[LGW_NAME_MAX];
    int64_t ts_ms;
    int route_attempts;             /* provider calls this execution made (fallbacks included) */
    char route[LGW_ROUTE_TEXT_MAX]; /* "provider/model=status" per call, comma-separated */
    bool final;          /* the execution's outcome; false: an earlier billed provider request (absent: true) */
    int provider_call;   /* 1-based: which provider request of the execution (retries counted); 0: none made */
    bool cost_estimated; /* usage (so cost) is llmgw's estimate: the provider was sent the request but never
                          * reported usage (timed out, cut, abandoned by the client) */
    bool simulated;      /* a simulated provider served it (`llmgw dev --simulate`; provider "openai-sim" ...) */
    bool has_ttft;       /* a streamed answer's first chunk reached the sink: ttft_ms says when */
    int64_t ttft_ms;     /* time to first token: from the start of the call that answered to its first chunk */
    char trace_id[33];   /* the request's W3C trace id (32 lowercase hex), so a ledger row leads to its trace;
                          * "" when the job carried no trace context (or a reader met a malformed one) */
};

int lgw_cost_event_encode(const struct lgw_cost_event *ev, struct lgw_buf *out);
int lgw_cost_event_decode(const void *data, size_t len, struct lgw_cost_event *ev, char *why, size_t whysz);

/* The ingress tells the workers that the client of a streamed request left (<prefix>.cancel). */
struct lgw_cancel {
    char id[LGW_ID_MAX]; /* the request id; also the record key */
    int64_t ts_ms;       /* wall clock when the client left; 0 when the writer did not say */
};

int lgw_cancel_encode(const struct lgw_cancel *c, struct lgw_buf *out);
int lgw_cancel_decode(const void *data, size_t len, struct lgw_cancel *c, char *why, size_t whysz);

/* A job the worker could not take (<prefix>.jobs.dlq): why, where it was, and its bytes when they are text. */
struct lgw_dead_letter {
    const char *reason;
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
    const char *payload; /* not owned; NULL for none */
    size_t payload_len;
};

int lgw_dead_letter_encode(const struct lgw_dead_letter *dl, struct lgw_buf *out);

#endif

/* submit.c - sending a validated batch to Kafka (see submit.h): the record first (so the batch role and the
 * workers know the batch before its lines), then every line, then, once Kafka has acknowledged every line,
 * the record again as submitted. A submitter that dies halfway leaves the record `submitting`: the batch
 * role expires it at its deadline, and the lines that did get out are answered like any others. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch/submit.h"
#include "batch/submit_int.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "common/validate.h"
#include "routing/strategy.h"

/* A user id from a line is recorded in the ledger: capped as the ingress caps it. */
#define MAX_USER_LEN 127
/* How long a full producer queue is waited for, a poll at a time, before the line counts as refused. */
#define QUEUE_FULL_WAIT_MS 100

/* One submission's deliveries: every record it produced points here (the delivery report's opaque), so
 * submissions sharing a producer count their own. Written by whichever thread serves the producer's
 * delivery reports (any rd_kafka_poll caller), read by the submitter: atomics. */
struct delivery {
    atomic_long pending, failed;
    atomic_int first_err; /* rd_kafka_resp_err_t of the first failure; 0: none */
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct delivery *d = msg->_private;
    if (!d)
        return;
    if (msg->err) {
        int none = 0;
        atomic_compare_exchange_strong(&d->first_err, &none, (int)msg->err);
        atomic_fetch_add(&d->failed, 1);
    }
    atomic_fetch_sub(&d->pending, 1);
}

int lgw_batch_producer_new(const struct lgw_config *cfg, rd_kafka_t **out)
{
    /* A little linger: lines go out in bulk, and nobody waits on one of them. */
    return lgw_kafka_producer_new(cfg, "llmgw-batch-submit", 5, dr_cb, NULL, out);
}

/* Queues one record for d, waiting while the producer's queue is full. Returns 0 or LGW_ERR(UNAVAILABLE)
 * with the reason in err. */
static int produce(rd_kafka_t *rk, const char *topic, const char *key, const struct lgw_buf *payload,
                   struct delivery *d, char *err, size_t errsz)
{
    struct lgw_kafka_msg msg = {.topic = topic, .partition = RD_KAFKA_PARTITION_UA, .key = key,
                                .value = payload->ptr, .len = payload->len, .opaque = d};
    for (;;) {
        rd_kafka_resp_err_t kerr = RD_KAFKA_RESP_ERR_NO_ERROR;
        atomic_fetch_add(&d->pending, 1);
        if (lgw_kafka_produce(rk, &msg, &kerr) == 0)
            return LGW_OK;
        atomic_fetch_sub(&d->pending, 1);
        if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(err, errsz, "Kafka refused a record for %s: %s", topic, rd_kafka_err2str(kerr));
            return LGW_ERR(UNAVAILABLE);
        }
        rd_kafka_poll(rk, QUEUE_FULL_WAIT_MS); /* deliveries free the queue */
    }
}

/* Serves delivery reports until every record of d is acknowledged or failed (librdkafka's
 * message.timeout.ms bounds each). Returns 0 or LGW_ERR(UNAVAILABLE) with why in err. */
static int wait_delivered(rd_kafka_t *rk, struct delivery *d, char *err, size_t errsz)
{
    while (atomic_load(&d->pending) > 0)
        rd_kafka_poll(rk, 50);
    long failed = atomic_load(&d->failed);
    if (failed == 0)
        return LGW_OK;
    snprintf(err, errsz, "Kafka did not take %ld record(s): %s", failed,
             rd_kafka_err2str((rd_kafka_resp_err_t)atomic_load(&d->first_err)));
    return LGW_ERR(UNAVAILABLE);
}

int lgw_batch_record_send(const struct lgw_config *cfg, rd_kafka_t *rk, const struct lgw_batch_record *rec, char *err,
                          size_t errsz)
{
    char topic[LGW_TOPIC_MAX];
    struct lgw_buf payload;
    struct delivery d = {0};
    lgw_buf_init(&payload, 0);
    lgw_topic_name(cfg, LGW_TOPIC_BATCHES, NULL, topic, sizeof(topic));
    int rc = lgw_batch_record_encode(rec, &payload);
    if (rc)
        snprintf(err, errsz, "could not encode the batch record");
    if (rc == 0)
        rc = produce(rk, topic, rec->id, &payload, &d, err, errsz);
    if (rc == 0)
        rc = wait_delivered(rk, &d, err, errsz);
    lgw_buf_cleanup(&payload);
    return rc;
}

int lgw_batch_submit_prepare(const struct lgw_batch_input *in, const struct lgw_batch_submit_opts *o,
                             struct lgw_batch_record *rec, char *err, size_t errsz)
{
    memset(rec, 0, sizeof(*rec));
    if (!o->tenant || !o->tenant[0]) {
        snprintf(err, errsz, "a batch needs a tenant");
        return LGW_ERR(INVALID);
    }
    if (in->nerrors_total > 0 && !o->skip_invalid) {
        snprintf(err, errsz, "%lld line(s) of the input are invalid; nothing was sent", (long long)in->nerrors_total);
        return LGW_ERR(INVALID);
    }
    if (in->nlines == 0) {
        snprintf(err, errsz, "the input has no valid request; nothing was sent");
        return LGW_ERR(INVALID);
    }
    if (o->batch_id && o->batch_id[0])
        lgw_strlcpy(rec->id, o->batch_id, sizeof(rec->id));
    else
        lgw_batch_new_id(rec->id);
    lgw_strlcpy(rec->tenant, o->tenant, sizeof(rec->tenant));
    lgw_strlcpy(rec->key_id, o->key_id ? o->key_id : "", sizeof(rec->key_id));
    lgw_strlcpy(rec->input_file_id, o->input_file_id ? o->input_file_id : "", sizeof(rec->input_file_id));
    lgw_strlcpy(rec->endpoint, in->endpoint, sizeof(rec->endpoint));
    rec->state = LGW_BATCH_SUBMITTING;
    rec->created_ms = rec->ts_ms = lgw_wall_ms();
    rec->expires_ms = rec->created_ms + LGW_BATCH_WINDOW_MS;
    rec->total = (int64_t)in->nlines;
    if (o->metadata)
        rec->metadata = json_incref(o->metadata);
    return LGW_OK;
}

/* The job of valid line index: built from the line's bytes again (input.c checked them). Takes the body's
 * reference into job. Returns 0 or LGW_ERR(INVALID) (the bytes changed under us: never, they are ours). */
static int build_job(const struct lgw_batch_input *in, size_t index, const struct lgw_batch_record *rec,
                     const char *reply_topic, int32_t reply_partition, struct lgw_job *job)
{
    const struct lgw_batch_line *line = &in->lines[index];
    char msg[256];
    json_t *root = NULL;
    memset(job, 0, sizeof(*job));
    int rc = lgw_validate_parse(in->data + line->off, line->len, in->max_depth, &root, msg, sizeof(msg));
    if (rc)
        return rc;
    json_t *body = json_object_get(root, "body");
    job->body = json_incref(body);
    /* "<batch id>-<index>": the id is LGW_BATCH_ID_LEN long, so this fits LGW_ID_MAX (checked). */
    if (snprintf(job->id, sizeof(job->id), "%.*s-%zu", LGW_BATCH_ID_LEN, rec->id, index) >= (int)sizeof(job->id)) {
        json_decref(root);
        return LGW_ERR(INVALID);
    }
    job->kind = lgw_batch_endpoint_kind(rec->endpoint);
    lgw_strlcpy(job->tenant, rec->tenant, sizeof(job->tenant));
    lgw_strlcpy(job->key_id, rec->key_id, sizeof(job->key_id));
    /* The end user, as the ingress takes it from a body: user, else OpenAI's newer safety_identifier. */
    const char *user = json_string_value(json_object_get(body, "user"));
    if (!user)
        user = json_string_value(json_object_get(body, "safety_identifier"));
    if (user && strlen(user) <= MAX_USER_LEN)
        lgw_strlcpy(job->user, user, sizeof(job->user));
    job->created_ms = rec->created_ms;
    job->deadline_ms = rec->expires_ms; /* the batch's window, never the interactive timeout */
    lgw_strlcpy(job->reply_topic, reply_topic, sizeof(job->reply_topic));
    job->reply_partition = reply_partition;
    job->attempt = 1;
    /* The routing strategy a line asks for in "llmgw": {"strategy"}; gateway business, taken out of the body
     * before any provider sees it (as the ingress does). */
    enum lgw_strategy s;
    const char *name = json_string_value(json_object_get(json_object_get(body, "llmgw"), "strategy"));
    if (name && lgw_strategy_parse(name, &s) == 0)
        lgw_strlcpy(job->strategy, lgw_strategy_name(s), sizeof(job->strategy));
    json_object_del(body, "llmgw");
    lgw_strlcpy(job->batch.id, rec->id, sizeof(job->batch.id));
    job->batch.index = (int64_t)index;
    lgw_strlcpy(job->batch.custom_id, json_string_value(json_object_get(root, "custom_id")),
                sizeof(job->batch.custom_id));
    json_decref(root);
    return LGW_OK;
}

/* Queues every line for d. Returns 0 or LGW_ERR(UNAVAILABLE) with why in err. */
static int send_lines(const struct lgw_config *cfg, rd_kafka_t *rk, const struct lgw_batch_input *in,
                      const struct lgw_batch_record *rec, struct delivery *d, char *err, size_t errsz)
{
    char topic[LGW_TOPIC_MAX], reply_topic[LGW_TOPIC_MAX], key[LGW_BATCH_LINE_KEY_MAX];
    struct lgw_buf payload;
    int rc = LGW_OK;
    enum lgw_topic t = lgw_batch_endpoint_kind(rec->endpoint) == LGW_JOB_EMBEDDINGS ? LGW_TOPIC_BATCH_JOBS_EMBEDDINGS
                                                                                    : LGW_TOPIC_BATCH_JOBS_CHAT;
    lgw_topic_name(cfg, t, NULL, topic, sizeof(topic));
    lgw_topic_name(cfg, LGW_TOPIC_BATCH_RESULTS, NULL, reply_topic, sizeof(reply_topic));
    /* Every result of the batch on one partition, so one batch role instance sees a batch's results in order. */
    int32_t part = lgw_batch_results_partition(rec->id, lgw_topic_partitions(cfg, LGW_TOPIC_BATCH_RESULTS));
    lgw_buf_init(&payload, 0);
    for (size_t i = 0; i < in->nlines && rc == 0; i++) {
        struct lgw_job job;
        if ((rc = build_job(in, i, rec, reply_topic, part, &job))) {
            snprintf(err, errsz, "line %lld could not be read again", (long long)in->lines[i].line);
            lgw_job_cleanup(&job);
            break;
        }
        lgw_buf_reset(&payload);
        if ((rc = lgw_job_encode(&job, &payload)) == 0) {
            /* Keyed per tenant, not per batch: the workers share batch capacity fairly between tenants. */
            lgw_batch_line_key(rec->tenant, (int64_t)i, key, sizeof(key));
            rc = produce(rk, topic, key, &payload, d, err, errsz);
        } else
            snprintf(err, errsz, "line %lld could not be encoded as a job", (long long)in->lines[i].line);
        lgw_job_cleanup(&job);
        rd_kafka_poll(rk, 0); /* serve delivery reports as we go */
    }
    lgw_buf_cleanup(&payload);
    return rc;
}

int lgw_batch_submit_send(const struct lgw_config *cfg, rd_kafka_t *rk, const struct lgw_batch_input *in,
                          struct lgw_batch_record *rec, char *err, size_t errsz)
{
    struct delivery d = {0};
    char why[LGW_BATCH_ERROR_MAX] = "";
    rec->state = LGW_BATCH_SUBMITTING;
    rec->ts_ms = lgw_wall_ms();
    int rc = lgw_batch_record_send(cfg, rk, rec, why, sizeof(why));
    if (rc == 0)
        rc = send_lines(cfg, rk, in, rec, &d, why, sizeof(why));
    /* Wait for what was queued even after a failure: the record must not say failed before lines that did go
     * out are acknowledged, nor the caller free what is still in flight. */
    int wrc = wait_delivered(rk, &d, rc ? NULL : why, rc ? 0 : sizeof(why));
    if (rc == 0)
        rc = wrc;
    if (rc == 0) {
        rec->state = LGW_BATCH_SUBMITTED;
        rec->ts_ms = lgw_wall_ms();
        rc = lgw_batch_record_send(cfg, rk, rec, why, sizeof(why));
        if (rc == 0) {
            LGW_INFO("batch", "batch %s submitted: %lld line(s) for tenant %s", rec->id, (long long)rec->total,
                     rec->tenant);
            return LGW_OK;
        }
    }
    snprintf(err, errsz, "%s", why);
    lgw_strlcpy(rec->error, why, sizeof(rec->error));
    rec->state = LGW_BATCH_FAILED;
    rec->ts_ms = lgw_wall_ms();
    char ignored[LGW_BATCH_ERROR_MAX];
    if (lgw_batch_record_send(cfg, rk, rec, ignored, sizeof(ignored)))
        LGW_WARN("batch", "batch %s failed and its failed record did not reach Kafka either: %s", rec->id, ignored);
    LGW_WARN("batch", "batch %s failed: %s", rec->id, why);
    return LGW_ERR(UNAVAILABLE);
}

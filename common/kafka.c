/* kafka.c - librdkafka client construction with llmgw's settings. */
#include "common/kafka.h"

#include <jansson.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/json_load.h"
#include "common/kafka_conf.h"
#include "common/log.h"
#include "common/trace.h"

int lgw_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        LGW_ERROR("kafka", "config %s: %s", key, err);
        return LGW_ERR(CONFIG);
    }
    return LGW_OK;
}

/* A fatal producer error: set once, read by lgw_kafka_fatal_seen. The hook is set before any client exists. */
static atomic_bool fatal_seen;
static void (*fatal_hook)(const char *reason);

void lgw_kafka_set_fatal_hook(void (*hook)(const char *reason))
{
    fatal_hook = hook;
}

bool lgw_kafka_fatal_seen(void)
{
    return atomic_load(&fatal_seen);
}

bool lgw_kafka_fatal_check(rd_kafka_t *rk, int err)
{
    if (err != RD_KAFKA_RESP_ERR__FATAL)
        return false;
    char why[512];
    rd_kafka_fatal_error(rk, why, sizeof(why));
    if (!atomic_exchange(&fatal_seen, true)) {
        LGW_ERROR("kafka", "%s: fatal error, it can produce nothing any more: %s; stopping, so that a fresh "
                  "process takes over its work", rd_kafka_name(rk), why);
        if (fatal_hook)
            fatal_hook(why);
    }
    return true;
}

/* The error callback of producers whose owner gave none: a fatal error stops the process (see kafka.h);
 * anything else is logged as librdkafka logs errors when no callback is set. */
static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (!lgw_kafka_fatal_check(rk, err))
        LGW_LOG(LGW_LOG_ERROR, "rdkafka", NULL, NULL, "ERROR: %s: %s", rd_kafka_name(rk), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    int lvl = level <= 3 ? LGW_LOG_ERROR : level == 4 ? LGW_LOG_WARN : level <= 6 ? LGW_LOG_INFO : LGW_LOG_DEBUG;
    LGW_LOG(lvl, "rdkafka", NULL, NULL, "%s: %s", fac, buf);
}

/* librdkafka's statistics, condensed to one line per broker connection: where a message's time goes between
 * the client and the broker (rtt: request round trip incl. broker work; int_latency: waiting in the
 * producer's queue; outbuf_latency: waiting to be written), windows of statistics.interval.ms, in ms; and the
 * bytes sent and received and the requests sent so far (cumulative): what this client costs the broker. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    (void)opaque;
    json_t *root = lgw_json_loadb(json, json_len, 0, NULL);
    const char *bname;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), bname, b) {
        if (json_integer_value(json_object_get(b, "nodeid")) < 0)
            continue; /* the bootstrap address, before the cluster named its brokers */
        json_t *rtt = json_object_get(b, "rtt"), *il = json_object_get(b, "int_latency"),
               *ob = json_object_get(b, "outbuf_latency");
        /* Requests sent so far by type (cumulative): what this client asks of the broker per message. */
        char by_type[512];
        size_t used = 0;
        by_type[0] = '\0';
        const char *type;
        json_t *count;
        json_object_foreach(json_object_get(b, "req"), type, count) {
            json_int_t n = json_integer_value(count);
            if (n > 0 && used < sizeof(by_type)) {
                int w = snprintf(by_type + used, sizeof(by_type) - used, " %s=%lld", type, (long long)n);
                used += w > 0 ? (size_t)w : 0;
            }
        }
#define MS(o, k) ((double)json_integer_value(json_object_get(o, k)) / 1000.0)
        LGW_INFO("kafka-stats",
                 "%s -> %s: rtt p50 %.2f p99 %.2f ms (%lld), producer queue p50 %.2f p99 %.2f ms, outbuf p50 %.2f "
                 "p99 %.2f ms, bytes sent %lld received %lld, requests %lld:%s",
                 rd_kafka_name(rk), bname, MS(rtt, "p50"), MS(rtt, "p99"),
                 (long long)json_integer_value(json_object_get(rtt, "cnt")), MS(il, "p50"), MS(il, "p99"),
                 MS(ob, "p50"), MS(ob, "p99"), (long long)json_integer_value(json_object_get(b, "txbytes")),
                 (long long)json_integer_value(json_object_get(b, "rxbytes")),
                 (long long)json_integer_value(json_object_get(b, "tx")), by_type);
#undef MS
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

/* Logs what errs collected (lgw_kafka_conf_apply*: never a secret's value) and frees it. */
static int log_conf_errors(int rc, struct lgw_buf *errs)
{
    if (rc && errs->len)
        LGW_ERROR("kafka", "%.*s", (int)(errs->len - (errs->ptr[errs->len - 1] == '\n')), errs->ptr);
    lgw_buf_cleanup(errs);
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

/* The user's pass-through properties, again after a producer's or consumer's own settings, so they win. */
static int apply_user_properties(const struct lgw_config *cfg, rd_kafka_conf_t *conf)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    return log_conf_errors(lgw_kafka_conf_apply_properties(cfg, conf, &errs), &errs);
}

rd_kafka_conf_t *lgw_kafka_conf_new(const struct lgw_config *cfg, const char *client_id)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    rc |= lgw_kafka_set(conf, "bootstrap.servers", cfg->kafka_brokers);
    rc |= lgw_kafka_set(conf, "client.id", client_id);
    rc |= lgw_kafka_set(conf, "socket.nagle.disable", "true");
    rc |= lgw_kafka_set(conf, "reconnect.backoff.ms", "50");
    rc |= lgw_kafka_set(conf, "reconnect.backoff.max.ms", "1000");
    rc |= lgw_kafka_set(conf, "topic.metadata.refresh.interval.ms", "10000");
    rc |= lgw_kafka_set(conf, "log.connection.close", "false");
    if (cfg->kafka_statistics_ms > 0) {
        char interval[32];
        snprintf(interval, sizeof(interval), "%lld", (long long)cfg->kafka_statistics_ms);
        rc |= lgw_kafka_set(conf, "statistics.interval.ms", interval);
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    /* TLS, SASL and the user's librdkafka properties last: a property the user passes wins over ours. */
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    rc |= log_conf_errors(lgw_kafka_conf_apply(cfg, conf, &errs), &errs);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

int lgw_kafka_producer_new(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                           void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                           void *opaque, rd_kafka_t **out)
{
    return lgw_kafka_producer_new_err(cfg, client_id, linger_ms, dr_cb, NULL, opaque, out);
}

/* librdkafka's partitioner for a sticky producer: the partition its topic's opaque (the hash of what it sticks
 * to) picks, always. Not another while that partition has no leader (a topic just created, a leader being
 * elected): its messages wait for one within message.timeout.ms like any others, and stay in order. Runs on
 * whatever thread produces. */
static int32_t sticky_partitioner(const rd_kafka_topic_t *rkt, const void *key, size_t keylen, int32_t partition_cnt,
                                  void *rkt_opaque, void *msg_opaque)
{
    (void)rkt;
    (void)key;
    (void)keylen;
    (void)msg_opaque;
    return (int32_t)((uintptr_t)rkt_opaque % (uint32_t)partition_cnt);
}

/* The producers' one constructor; stick_to NULL: librdkafka's partitioner (by key). */
static int producer_new(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms, const char *stick_to,
                        void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                        void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque), void *opaque,
                        rd_kafka_t **out)
{
    char timeout[32], errstr[512];
    *out = NULL;
    rd_kafka_conf_t *conf = lgw_kafka_conf_new(cfg, client_id);
    if (!conf)
        return LGW_ERR(CONFIG);
    snprintf(timeout, sizeof(timeout), "%lld", (long long)cfg->kafka_produce_timeout_ms);
    int rc = 0;
    char linger[32];
    snprintf(linger, sizeof(linger), "%lld", (long long)linger_ms);
    rc |= lgw_kafka_set(conf, "linger.ms", linger);
    rc |= lgw_kafka_set(conf, "enable.idempotence", "true");
    rc |= lgw_kafka_set(conf, "acks", "all");
    rc |= lgw_kafka_set(conf, "message.timeout.ms", timeout);
    rc |= lgw_kafka_set(conf, "queue.buffering.max.messages", "1000000");
    rc |= apply_user_properties(cfg, conf);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(CONFIG);
    }
    if (stick_to) {
        /* On the default topic conf the settings above already made (acks, message.timeout.ms and the user's
         * topic-level properties live there): a new one set in its place would drop them. The hash rides in
         * the topic opaque, so the partitioner needs nothing allocated; 32 bits of FNV-1a spread a few workers'
         * ids over a few partitions well enough. */
        rd_kafka_topic_conf_t *tc = rd_kafka_conf_get_default_topic_conf(conf);
        if (!tc) {
            tc = rd_kafka_topic_conf_new();
            rd_kafka_conf_set_default_topic_conf(conf, tc); /* conf owns tc */
        }
        rd_kafka_topic_conf_set_partitioner_cb(tc, sticky_partitioner);
        rd_kafka_topic_conf_set_opaque(tc, (void *)(uintptr_t)(uint32_t)(lgw_hash_str(stick_to) >> 32));
    }
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb ? error_cb : producer_error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        LGW_ERROR("kafka", "producer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(UNAVAILABLE);
    }
    *out = rk;
    return LGW_OK;
}

int lgw_kafka_producer_new_err(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                               void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                               void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque),
                               void *opaque, rd_kafka_t **out)
{
    return producer_new(cfg, client_id, linger_ms, NULL, dr_cb, error_cb, opaque, out);
}

int lgw_kafka_producer_new_sticky(const struct lgw_config *cfg, const char *client_id, int64_t linger_ms,
                                  const char *stick_to,
                                  void (*dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque),
                                  void *opaque, rd_kafka_t **out)
{
    return producer_new(cfg, client_id, linger_ms, stick_to, dr_cb, NULL, opaque, out);
}

/* A consumer whose fetches wait up to wait_ms for min_bytes (see the two callers below). */
static int consumer_new(const struct lgw_config *cfg, const char *client_id, const char *group_id, bool auto_commit,
                        const char *min_bytes, int64_t wait_ms,
                        void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                             rd_kafka_topic_partition_list_t *parts, void *opaque),
                        void *opaque, rd_kafka_t **out)
{
    char errstr[512];
    *out = NULL;
    rd_kafka_conf_t *conf = lgw_kafka_conf_new(cfg, client_id);
    if (!conf)
        return LGW_ERR(CONFIG);
    int rc = 0;
    rc |= lgw_kafka_set(conf, "group.id", group_id);
    rc |= lgw_kafka_set(conf, "enable.auto.offset.store", "false");
    rc |= lgw_kafka_set(conf, "enable.auto.commit", auto_commit ? "true" : "false");
    rc |= lgw_kafka_set(conf, "auto.commit.interval.ms", "200");
    rc |= lgw_kafka_set(conf, "auto.offset.reset", "earliest");
    rc |= lgw_kafka_set(conf, "fetch.min.bytes", min_bytes);
    char fetch_wait[32];
    snprintf(fetch_wait, sizeof(fetch_wait), "%lld", (long long)wait_ms);
    rc |= lgw_kafka_set(conf, "fetch.wait.max.ms", fetch_wait);
    rc |= lgw_kafka_set(conf, "fetch.error.backoff.ms", "20");
    /* A crashed worker's partitions move after this; short so kill -9 recovers within a request deadline. */
    rc |= lgw_kafka_set(conf, "session.timeout.ms", "6000");
    /* A member that stops cleanly leaves the group at once, but the others hear of the rebalance only at their next
     * heartbeat, and the jobs on its partitions wait until then: measured, a worker's stop under load held one
     * request 1.0 s with a 1 s heartbeat and 0.2 s with this (test_ops.py). Each member sends 4 small requests a
     * second for it. */
    rc |= lgw_kafka_set(conf, "heartbeat.interval.ms", "250");
    /* A group member's protocol (the followers, assigned once, never rebalance). Set here rather than for every
     * client through kafka_properties, which made librdkafka warn that producers ignore it. */
    if (rebalance_cb)
        rc |= lgw_kafka_set(conf, "partition.assignment.strategy",
                            strcmp(cfg->kafka_rebalance, "cooperative") == 0 ? "cooperative-sticky"
                                                                              : "range,roundrobin");
    rc |= apply_user_properties(cfg, conf);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(CONFIG);
    }
    if (rebalance_cb)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!rk) {
        LGW_ERROR("kafka", "consumer: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(UNAVAILABLE);
    }
    rd_kafka_poll_set_consumer(rk);
    *out = rk;
    return LGW_OK;
}

int lgw_kafka_consumer_new(const struct lgw_config *cfg, const char *client_id, const char *group_id,
                           bool auto_commit, int batch_wait_ms,
                           void (*rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                                rd_kafka_topic_partition_list_t *parts, void *opaque),
                           void *opaque, rd_kafka_t **out)
{
    /* A fetch held within 1 s of socket.timeout.ms (60 s) blocks and times out the requests behind it
     * (librdkafka's CONFWARN). A batch window longer than the cap (ledger_batch_ms allows 60 s) only makes the
     * fetch return before the window closes, which is harmless. */
    if (batch_wait_ms > LGW_KAFKA_BATCH_WAIT_MAX_MS)
        batch_wait_ms = LGW_KAFKA_BATCH_WAIT_MAX_MS;
    if (batch_wait_ms > 0)
        return consumer_new(cfg, client_id, group_id, auto_commit, "1048576", batch_wait_ms, rebalance_cb, opaque,
                            out);
    return consumer_new(cfg, client_id, group_id, auto_commit, "1", cfg->kafka_fetch_wait_ms, rebalance_cb, opaque,
                        out);
}

int64_t lgw_kafka_follow_wait_ms(const struct lgw_config *cfg)
{
    return cfg->kafka_mock ? cfg->kafka_fetch_wait_ms : cfg->kafka_follow_wait_ms;
}

int lgw_kafka_follower_new(const struct lgw_config *cfg, const char *client_id, const char *group_id, void *opaque,
                           rd_kafka_t **out)
{
    return consumer_new(cfg, client_id, group_id, false, "1", lgw_kafka_follow_wait_ms(cfg), NULL, opaque, out);
}

/* Applies "name=value;name=value" (a value may hold commas: "cleanup.policy=compact,delete") to topic. */
static int set_configs(rd_kafka_NewTopic_t *topic, const char *topic_name, const char *configs)
{
    for (const char *p = configs; *p;) {
        size_t len = strcspn(p, ";");
        const char *eq = memchr(p, '=', len);
        char name[64], value[128];
        if (!eq || (size_t)(eq - p) >= sizeof(name) || len - (size_t)(eq - p) > sizeof(value)) {
            LGW_ERROR("kafka", "topic %s: bad setting \"%.*s\"", topic_name, (int)len, p);
            return LGW_ERR(CONFIG);
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - p), p);
        snprintf(value, sizeof(value), "%.*s", (int)(len - (size_t)(eq - p) - 1), eq + 1);
        if (rd_kafka_NewTopic_set_config(topic, name, value)) {
            LGW_ERROR("kafka", "topic %s: cannot set %s", topic_name, name);
            return LGW_ERR(CONFIG);
        }
        p += len + (p[len] == ';');
    }
    return LGW_OK;
}

int lgw_kafka_create_topics(rd_kafka_t *rk, const struct lgw_config *cfg, const char *const *names,
                            const int *partitions, const int *replication, const int *min_insync,
                            const char *const *configs, size_t n, int timeout_ms)
{
    if (cfg->kafka_mock)
        return LGW_OK;
    char errstr[256];
    int rc = LGW_OK;
    rd_kafka_NewTopic_t **topics = lgw_calloc(n, sizeof(*topics));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, errstr, sizeof(errstr));
    for (size_t i = 0; i < n; i++) {
        topics[i] = rd_kafka_NewTopic_new(names[i], partitions[i], replication[i], errstr, sizeof(errstr));
        if (!topics[i]) {
            LGW_ERROR("kafka", "topic %s: %s", names[i], errstr);
            rc = LGW_ERR(CONFIG);
            goto out;
        }
        if (min_insync[i] > 0) {
            char v[16];
            snprintf(v, sizeof(v), "%d", min_insync[i]);
            if (rd_kafka_NewTopic_set_config(topics[i], "min.insync.replicas", v)) {
                rc = LGW_ERR(CONFIG);
                goto out;
            }
        }
        if (configs && configs[i] && (rc = set_configs(topics[i], names[i], configs[i])))
            goto out;
    }
    rd_kafka_CreateTopics(rk, topics, n, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    if (!ev) {
        LGW_ERROR("kafka", "creating topics: no answer from the cluster within %d ms", timeout_ms);
        rc = LGW_ERR(UNAVAILABLE);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        LGW_ERROR("kafka", "creating topics: %s", rd_kafka_event_error_string(ev));
        rc = LGW_ERR(UNAVAILABLE);
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                LGW_INFO("kafka", "created topic %s", rd_kafka_topic_result_name(tr[i]));
            else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                LGW_ERROR("kafka", "topic %s: %s", rd_kafka_topic_result_name(tr[i]),
                          rd_kafka_topic_result_error_string(tr[i]));
                rc = LGW_ERR(UNAVAILABLE);
            }
        }
    }
    rd_kafka_event_destroy(ev);
out:
    for (size_t i = 0; i < n; i++)
        if (topics[i])
            rd_kafka_NewTopic_destroy(topics[i]);
    free(topics);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

bool lgw_kafka_rebalance_cooperative(rd_kafka_t *rk)
{
    char strategy[256];
    size_t size = sizeof(strategy);
    /* Mixed protocols are refused when the consumer is made (rd_kafka_new), so one cooperative assignor named is
     * all of them. A value too long for the buffer is not a strategy librdkafka accepted. */
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "partition.assignment.strategy", strategy, &size) != RD_KAFKA_CONF_OK)
        return false;
    return strstr(strategy, "cooperative-sticky") != NULL;
}

bool lgw_kafka_group_joined(rd_kafka_t *rk)
{
    const char *protocol = rd_kafka_rebalance_protocol(rk);
    return !protocol || strcmp(protocol, "NONE") != 0;
}

rd_kafka_resp_err_t lgw_kafka_commit_within(rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets,
                                            int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk, offsets, q, NULL, NULL);
    if (err) {
        rd_kafka_queue_destroy(q);
        return err;
    }
    err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    int64_t until = lgw_mono_ms() + timeout_ms;
    for (int64_t left = timeout_ms; left > 0; left = until - lgw_mono_ms()) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, (int)left);
        if (!ev)
            continue;
        bool done = rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT;
        if (done)
            err = rd_kafka_event_error(ev);
        rd_kafka_event_destroy(ev);
        if (done)
            break;
    }
    /* The queue is reference-counted: an answer that comes later finds it still there, unread. */
    rd_kafka_queue_destroy(q);
    return err;
}

int lgw_kafka_produce(rd_kafka_t *rk, const struct lgw_kafka_msg *msg, rd_kafka_resp_err_t *err)
{
    /* Headers are built here, once, for every record: a consumer finds the request id and the trace context
     * without parsing the payload. librdkafka takes ownership of hdrs only when producev succeeds. */
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3);
    rd_kafka_header_add(hdrs, "llmgw-id", -1, msg->key, -1);
    if (msg->traceparent && msg->traceparent[0]) {
        rd_kafka_header_add(hdrs, "traceparent", -1, msg->traceparent, -1);
        if (msg->tracestate && msg->tracestate[0])
            rd_kafka_header_add(hdrs, "tracestate", -1, msg->tracestate, -1);
    }
    if (msg->admitted)
        rd_kafka_header_add(hdrs, LGW_KAFKA_ADMITTED_HEADER, -1, "1", 1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(msg->topic), RD_KAFKA_V_PARTITION(msg->partition),
        RD_KAFKA_V_KEY(msg->key, strlen(msg->key)), RD_KAFKA_V_VALUE((void *)msg->value, msg->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(msg->opaque),
        RD_KAFKA_V_END);
    if (err)
        *err = e;
    if (e) {
        rd_kafka_headers_destroy(hdrs);
        return LGW_ERR(UNAVAILABLE);
    }
    return LGW_OK;
}

int lgw_kafka_traceparent(const rd_kafka_message_t *msg, char *out, size_t outsz)
{
    const void *val;
    size_t len;
    if (outsz)
        out[0] = '\0';
    if (lgw_kafka_header(msg, "traceparent", &val, &len) || !lgw_traceparent_valid(val, len) || len >= outsz)
        return LGW_ERR(NOT_FOUND);
    memcpy(out, val, len);
    out[len] = '\0';
    return LGW_OK;
}

int lgw_kafka_tracestate(const rd_kafka_message_t *msg, char *out)
{
    const void *val;
    size_t len;
    char tp[LGW_TRACEPARENT_SIZE];
    out[0] = '\0';
    /* Read through the header parser again: a record is input too, and the value lands on spans. */
    if (lgw_kafka_traceparent(msg, tp, sizeof(tp)) || lgw_kafka_header(msg, "tracestate", &val, &len) ||
        !lgw_tracestate_from_header(val, len, out) || !out[0])
        return LGW_ERR(NOT_FOUND);
    return LGW_OK;
}

/* One offset of one partition by ListOffsets: which is RD_KAFKA_OFFSET_END (the high watermark) or
 * RD_KAFKA_OFFSET_BEGINNING (the low one). rd_kafka_offsets_for_times keeps to its timeout. */
static rd_kafka_resp_err_t offset_of(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t which,
                                     int timeout_ms, int64_t *out)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = which;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = l->elems[0].err;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].offset < 0)
        err = RD_KAFKA_RESP_ERR__BAD_MSG; /* an answer without an offset */
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        *out = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

rd_kafka_resp_err_t lgw_kafka_watermarks_within(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *lo,
                                                int64_t *hi, int timeout_ms)
{
    int64_t until = lgw_mono_ms() + timeout_ms;
    int64_t h = 0, l = 0;
    rd_kafka_resp_err_t err = offset_of(rk, topic, partition, RD_KAFKA_OFFSET_END, timeout_ms, &h);
    if (err)
        return err;
    int64_t left = until - lgw_mono_ms();
    if (left <= 0)
        return RD_KAFKA_RESP_ERR__TIMED_OUT;
    if ((err = offset_of(rk, topic, partition, RD_KAFKA_OFFSET_BEGINNING, (int)left, &l)))
        return err;
    *lo = l;
    *hi = h;
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

void lgw_kafka_wake(rd_kafka_t *consumer)
{
    /* The consumer queue itself: rd_kafka_yield() acts on the main queue, which a consumer's poll does not wait
     * on (librdkafka 2.0.2). */
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(consumer);
    if (q) {
        rd_kafka_queue_yield(q);
        rd_kafka_queue_destroy(q);
    }
}

void lgw_kafka_keep_topics(rd_kafka_t *rk, const char *const *topics, size_t n)
{
    /* The handle's partitions hold the topic in rk after the application's reference goes, as a produced
     * record's would. */
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
}

bool lgw_kafka_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return false;
    bool ok = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return ok;
}

int lgw_kafka_header(const rd_kafka_message_t *msg, const char *name, const void **val, size_t *len)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return LGW_ERR(NOT_FOUND);
    if (rd_kafka_header_get_last(hdrs, name, val, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return LGW_ERR(NOT_FOUND);
    return LGW_OK;
}

struct health {
    rd_kafka_t *rk;
    atomic_bool *up;
    const atomic_bool *stop;
    int interval_ms;
};

static void *health_main(void *arg)
{
    pthread_setname_np(pthread_self(), "kafka-health"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct health h = *(struct health *)arg;
    free(arg);
    bool failed_before = false;
    while (!atomic_load(h.stop)) {
        bool answered = lgw_kafka_reachable(h.rk, 1000);
        /* Down after two probes in a row go unanswered, up after one answer: a single metadata request can
         * miss its second on a loaded machine or across a broker's pause, and a gateway that believed it would
         * refuse every request meanwhile. A broker really gone is seen at once by librdkafka's error callback
         * (ALL_BROKERS_DOWN, ingress/replies.c), not by this probe. */
        bool ok = answered || (!failed_before && atomic_load(h.up));
        failed_before = !answered;
        if (ok != atomic_load(h.up))
            LGW_LOG(ok ? LGW_LOG_INFO : LGW_LOG_WARN, "kafka", NULL, NULL, "cluster %s",
                    ok ? "reachable" : "unreachable");
        atomic_store(h.up, ok);
        /* Sleep in small steps so shutdown is not held up by the probe interval. */
        for (int slept = 0; slept < h.interval_ms && !atomic_load(h.stop); slept += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int lgw_kafka_health_start(rd_kafka_t *rk, atomic_bool *up, const atomic_bool *stop, int interval_ms,
                           pthread_t *thread)
{
    struct health *h = lgw_malloc(sizeof(*h));
    h->rk = rk;
    h->up = up;
    h->stop = stop;
    h->interval_ms = interval_ms;
    if (pthread_create(thread, NULL, health_main, h) != 0) {
        free(h);
        return LGW_ERR(INTERNAL);
    }
    return LGW_OK;
}

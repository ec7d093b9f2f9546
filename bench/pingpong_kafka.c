/* pingpong_kafka.c - the ping-pong's Kafka clients, configured as llmgw's, and its topics (bench/pingpong.h). */
#include "pingpong.h"

#include <stdio.h>
#include <string.h>

static bool conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char err[256];
    if (rd_kafka_conf_set(conf, key, val, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka config %s: %s\n", key, err);
        return false;
    }
    return true;
}

/* Counts failed deliveries; the ingress thread checks the count after every round trip. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (msg->err) {
        fprintf(stderr, "delivery to %s failed: %s\n", rd_kafka_topic_name(msg->rkt), rd_kafka_err2str(msg->err));
        atomic_fetch_add(&dr_failures, 1);
    }
}

/* A producer or a consumer with exactly the settings of common/kafka.c (config defaults: fetch wait 100 ms,
 * produce timeout 10 s); linger_ms for a producer, shape for a consumer (NULL: none). */
rd_kafka_t *client_new(rd_kafka_type_t type, const char *client_id, const char *linger_ms,
                              const struct consumer_shape *shape)
{
    char errstr[512], group[128], wait[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", brokers) && conf_set(conf, "client.id", client_id) &&
              conf_set(conf, "socket.nagle.disable", "true") && conf_set(conf, "reconnect.backoff.ms", "50") &&
              conf_set(conf, "reconnect.backoff.max.ms", "1000") &&
              conf_set(conf, "topic.metadata.refresh.interval.ms", "10000") &&
              conf_set(conf, "log.connection.close", "false");
    if (type == RD_KAFKA_PRODUCER) {
        ok = ok && conf_set(conf, "linger.ms", linger_ms) && conf_set(conf, "enable.idempotence", "true") &&
             conf_set(conf, "acks", "all") && conf_set(conf, "message.timeout.ms", "10000") &&
             conf_set(conf, "queue.buffering.max.messages", "1000000");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    } else {
        /* librdkafka wants a group.id even for a consumer that never joins its group. */
        snprintf(group, sizeof(group), "%s-%s", shape->topics[0], client_id);
        snprintf(wait, sizeof(wait), "%d", shape->batch_wait_ms > 0 ? shape->batch_wait_ms : 100);
        ok = ok && conf_set(conf, "group.id", group) && conf_set(conf, "enable.auto.offset.store", "false") &&
             conf_set(conf, "enable.auto.commit", shape->group ? "true" : "false") &&
             conf_set(conf, "auto.commit.interval.ms", "200") && conf_set(conf, "auto.offset.reset", "earliest") &&
             conf_set(conf, "fetch.min.bytes", shape->batch_wait_ms > 0 ? "1048576" : "1") &&
             conf_set(conf, "fetch.wait.max.ms", wait) && conf_set(conf, "fetch.error.backoff.ms", "20") &&
             conf_set(conf, "session.timeout.ms", "6000") && conf_set(conf, "heartbeat.interval.ms", "1000");
    }
    if (!ok) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "%s: %s\n", client_id, errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(shape->n_topics);
        for (int t = 0; t < shape->n_topics; t++)
            for (long part = 0; part < (shape->group ? 1 : shape->parts); part++)
                rd_kafka_topic_partition_list_add(l, shape->topics[t], shape->group ? RD_KAFKA_PARTITION_UA
                                                                                     : (int32_t)part)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = shape->group ? rd_kafka_subscribe(rk, l) : rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            fprintf(stderr, "%s: %s %s: %s\n", client_id, shape->group ? "subscribe" : "assign", shape->topics[0],
                    rd_kafka_err2str(err));
            rd_kafka_consumer_close(rk);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    return rk;
}

void client_free(rd_kafka_t *rk)
{
    if (!rk)
        return;
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER)
        rd_kafka_consumer_close(rk);
    else
        rd_kafka_flush(rk, 2000);
    rd_kafka_destroy(rk);
}

/* One message to partition part of topic (RD_KAFKA_PARTITION_UA: by its key, as llmgw's cost events go).
 * With --headers, as llmgw's messages: keyed by a 36-byte id (the payload's first bytes, the round trip's
 * number), with a traceparent header. */
bool produce(rd_kafka_t *p, const char *topic, int32_t part, const void *val, size_t len)
{
    rd_kafka_resp_err_t err;
    if (with_headers) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, "traceparent", -1, TRACEPARENT, -1);
        err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_KEY(val, len < 36 ? len : 36), RD_KAFKA_V_VALUE((void *)val, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (err)
            rd_kafka_headers_destroy(h); /* on success the message owns them */
    } else {
        err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END);
    }
    if (err)
        fprintf(stderr, "produce to %s: %s\n", topic, rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Every topic of the run, with its partition count: A and B, the idle topics, C when there are cost events. */
static int run_topics(const char **names, int *parts)
{
    int n = 0;
    names[n] = topic_a, parts[n++] = (int)n_parts;
    names[n] = topic_b, parts[n++] = 1; /* the ingress reads its one reply partition */
    for (long i = 0; i < n_idle; i++)
        names[n] = idle_topic[i], parts[n++] = (int)n_parts;
    if (with_cost)
        names[n] = topic_c, parts[n++] = (int)n_parts;
    return n;
}

/* Creates (create = true) or deletes the run's topics through the Admin API and waits for the answer. */
bool admin_topics(rd_kafka_t *rk, bool create)
{
    char errstr[256];
    const char *names[IDLE_TOPICS_MAX + 3];
    int parts[IDLE_TOPICS_MAX + 3];
    int n = run_topics(names, parts);
    bool ok = true;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, create ? RD_KAFKA_ADMIN_OP_CREATETOPICS : RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, WAIT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opt, WAIT_MS, errstr, sizeof(errstr));
    rd_kafka_NewTopic_t *nt[IDLE_TOPICS_MAX + 3] = {NULL};
    rd_kafka_DeleteTopic_t *dt[IDLE_TOPICS_MAX + 3] = {NULL};
    for (int i = 0; i < n; i++) {
        if (create && !(nt[i] = rd_kafka_NewTopic_new(names[i], parts[i], 1, errstr, sizeof(errstr)))) {
            fprintf(stderr, "topic %s: %s\n", names[i], errstr);
            ok = false;
            goto out;
        }
        if (!create)
            dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    }
    if (create)
        rd_kafka_CreateTopics(rk, nt, (size_t)n, opt, q);
    else
        rd_kafka_DeleteTopics(rk, dt, (size_t)n, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_MS + 1000);
    if (!ev) {
        fprintf(stderr, "%s topics: no answer within %d ms\n", create ? "creating" : "deleting", WAIT_MS);
        ok = false;
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "%s topics: %s\n", create ? "creating" : "deleting", rd_kafka_event_error_string(ev));
        ok = false;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            create ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt)
                   : rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++)
            if (rd_kafka_topic_result_error(tr[i])) {
                fprintf(stderr, "topic %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                        rd_kafka_topic_result_error_string(tr[i]));
                ok = false;
            }
    }
    rd_kafka_event_destroy(ev);
out:
    for (int i = 0; i < n; i++) {
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
        if (dt[i])
            rd_kafka_DeleteTopic_destroy(dt[i]);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return ok;
}

/* Stores m's offset for the group's next commit (llmgw stores a job's once its work is done). */
void store(rd_kafka_t *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(c, l);
    rd_kafka_topic_partition_list_destroy(l);
}

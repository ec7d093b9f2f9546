/* kafka_pingpong.c - the "Kafka floor": round-trip time of the smallest produce -> consume -> produce ->
 * consume ping-pong, with librdkafka configured as llmgw's sync path (common/kafka.c), so llmgw's added
 * latency can be compared with the best this design can do.
 *
 * An "ingress" thread produces message i to topic A and waits for it on topic B; a "worker" thread echoes
 * A to B. Each side has its own producer and consumer, as llmgw's processes do; consumers are assign()ed
 * (no group join), as the ingress's reply consumer is. One message is in flight at a time.
 *
 * Usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES]
 * Prints one JSON line with exact percentiles (p = the sample at index ceil(p*n)-1). */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000 /* longest wait for any one message before giving up */
#define POLL_MS 100   /* poll loop step; a poll returns at once when a message arrives */

static const char *brokers;
static char topic_a[96], topic_b[96];
static atomic_int dr_failures;
static atomic_bool worker_stop, worker_failed;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

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
 * produce timeout 10 s). A consumer is assign()ed to partition 0 of `topic` from its beginning. */
static rd_kafka_t *client_new(rd_kafka_type_t type, const char *client_id, const char *topic)
{
    char errstr[512], group[128];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = conf_set(conf, "bootstrap.servers", brokers) && conf_set(conf, "client.id", client_id) &&
              conf_set(conf, "socket.nagle.disable", "true") && conf_set(conf, "reconnect.backoff.ms", "50") &&
              conf_set(conf, "reconnect.backoff.max.ms", "1000") &&
              conf_set(conf, "topic.metadata.refresh.interval.ms", "10000") &&
              conf_set(conf, "log.connection.close", "false");
    if (type == RD_KAFKA_PRODUCER) {
        ok = ok && conf_set(conf, "linger.ms", "0") && conf_set(conf, "enable.idempotence", "true") &&
             conf_set(conf, "acks", "all") && conf_set(conf, "message.timeout.ms", "10000") &&
             conf_set(conf, "queue.buffering.max.messages", "1000000");
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    } else {
        /* librdkafka wants a group.id even though we never join the group. */
        snprintf(group, sizeof(group), "%s-%s", topic, client_id);
        ok = ok && conf_set(conf, "group.id", group) && conf_set(conf, "enable.auto.offset.store", "false") &&
             conf_set(conf, "enable.auto.commit", "false") && conf_set(conf, "auto.commit.interval.ms", "200") &&
             conf_set(conf, "auto.offset.reset", "earliest") && conf_set(conf, "fetch.min.bytes", "1") &&
             conf_set(conf, "fetch.wait.max.ms", "100") && conf_set(conf, "fetch.error.backoff.ms", "20") &&
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
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err) {
            fprintf(stderr, "%s: assign %s: %s\n", client_id, topic, rd_kafka_err2str(err));
            rd_kafka_consumer_close(rk);
            rd_kafka_destroy(rk);
            return NULL;
        }
    }
    return rk;
}

static void client_free(rd_kafka_t *rk)
{
    if (!rk)
        return;
    if (rd_kafka_type(rk) == RD_KAFKA_CONSUMER)
        rd_kafka_consumer_close(rk);
    else
        rd_kafka_flush(rk, 2000);
    rd_kafka_destroy(rk);
}

static bool produce(rd_kafka_t *p, const char *topic, const void *val, size_t len)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                                RD_KAFKA_V_VALUE((void *)val, len),
                                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err)
        fprintf(stderr, "produce to %s: %s\n", topic, rd_kafka_err2str(err));
    return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Creates (create = true) or deletes both topics through the Admin API and waits for the answer. */
static bool admin_topics(rd_kafka_t *rk, bool create)
{
    char errstr[256];
    const char *names[2] = {topic_a, topic_b};
    bool ok = true;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, create ? RD_KAFKA_ADMIN_OP_CREATETOPICS : RD_KAFKA_ADMIN_OP_DELETETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, WAIT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opt, WAIT_MS, errstr, sizeof(errstr));
    rd_kafka_NewTopic_t *nt[2] = {NULL, NULL};
    rd_kafka_DeleteTopic_t *dt[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        if (create && !(nt[i] = rd_kafka_NewTopic_new(names[i], 1, 1, errstr, sizeof(errstr)))) {
            fprintf(stderr, "topic %s: %s\n", names[i], errstr);
            ok = false;
            goto out;
        }
        if (!create)
            dt[i] = rd_kafka_DeleteTopic_new(names[i]);
    }
    if (create)
        rd_kafka_CreateTopics(rk, nt, 2, opt, q);
    else
        rd_kafka_DeleteTopics(rk, dt, 2, opt, q);
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
    for (int i = 0; i < 2; i++) {
        if (nt[i])
            rd_kafka_NewTopic_destroy(nt[i]);
        if (dt[i])
            rd_kafka_DeleteTopic_destroy(dt[i]);
    }
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return ok;
}

/* The worker: echoes every message of topic A to topic B until told to stop. */
static void *worker_main(void *arg)
{
    (void)arg;
    rd_kafka_t *c = client_new(RD_KAFKA_CONSUMER, "bench-worker", topic_a);
    rd_kafka_t *p = client_new(RD_KAFKA_PRODUCER, "bench-worker", NULL);
    if (!c || !p)
        atomic_store(&worker_failed, true);
    while (!atomic_load(&worker_failed) && !atomic_load(&worker_stop)) {
        rd_kafka_poll(p, 0); /* serve delivery reports */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
        if (!m)
            continue;
        if (m->err)
            fprintf(stderr, "worker consume: %s\n", rd_kafka_message_errstr(m));
        else if (!produce(p, topic_b, m->payload, m->len))
            atomic_store(&worker_failed, true);
        rd_kafka_message_destroy(m);
    }
    client_free(c);
    client_free(p);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Exact percentile: the sample at index ceil(p*n)-1, in integer per-mille so 0.9*500 is exactly 450. */
static double pct(const double *v, long n, long permille)
{
    long idx = (permille * n + 999) / 1000 - 1;
    return v[idx < 0 ? 0 : idx];
}

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES]\n");
    return 2;
}

int main(int argc, char **argv)
{
    long count = 2000, warmup = 100, size = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (ok && strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (ok && strcmp(a, "--count") == 0)
            ok = parse_long(v, 1, 10000000, &count);
        else if (ok && strcmp(a, "--warmup") == 0)
            ok = parse_long(v, 0, 10000000, &warmup);
        else if (ok && strcmp(a, "--size") == 0)
            ok = parse_long(v, 16, 1000000, &size); /* room for the sequence number */
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "bench_kafka_pingpong: bad or unknown option %s\n", a);
            return usage();
        }
        i++;
    }
    if (!brokers)
        return usage();

    uint32_t suffix;
    if (getrandom(&suffix, sizeof(suffix), 0) != (ssize_t)sizeof(suffix))
        suffix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    snprintf(topic_a, sizeof(topic_a), "bench-pingpong-%08x-a", suffix);
    snprintf(topic_b, sizeof(topic_b), "bench-pingpong-%08x-b", suffix);

    int rc = 1;
    bool created = false, worker_started = false;
    pthread_t worker;
    rd_kafka_t *p = NULL, *c = NULL;
    double *rtt = calloc((size_t)count, sizeof(*rtt));
    char *payload = malloc((size_t)size);
    if (!rtt || !payload) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    memset(payload, 'x', (size_t)size);
    if (!(p = client_new(RD_KAFKA_PRODUCER, "bench-ingress", NULL)))
        goto out;
    if (!(created = admin_topics(p, true)))
        goto out;
    fprintf(stderr, "topics %s, %s created\n", topic_a, topic_b);
    if (!(c = client_new(RD_KAFKA_CONSUMER, "bench-ingress", topic_b)))
        goto out;
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0) {
        fprintf(stderr, "cannot start the worker thread\n");
        goto out;
    }
    worker_started = true;

    for (long i = 0; i < warmup + count; i++) {
        char seq[24];
        snprintf(seq, sizeof(seq), "%015ld", i); /* the payload's first 15 bytes name the round trip */
        memcpy(payload, seq, 15);
        double t0 = now_ms();
        if (!produce(p, topic_a, payload, (size_t)size))
            goto out;
        for (;;) {
            rd_kafka_poll(p, 0); /* serve delivery reports */
            if (atomic_load(&dr_failures) || atomic_load(&worker_failed))
                goto out;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
            double t1 = now_ms();
            if (m) {
                bool mine = !m->err && m->len == (size_t)size && memcmp(m->payload, seq, 15) == 0;
                if (m->err)
                    fprintf(stderr, "ingress consume: %s\n", rd_kafka_message_errstr(m));
                else if (!mine)
                    fprintf(stderr, "unexpected message at round trip %ld\n", i);
                rd_kafka_message_destroy(m);
                if (mine) {
                    if (i >= warmup)
                        rtt[i - warmup] = t1 - t0;
                    break;
                }
            }
            if (t1 - t0 > WAIT_MS) {
                fprintf(stderr, "round trip %ld: no answer within %d ms\n", i, WAIT_MS);
                goto out;
            }
        }
        if (i + 1 == warmup || (i + 1 - warmup) % 1000 == 0)
            fprintf(stderr, "%ld round trips done\n", i + 1);
    }

    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += rtt[i];
    qsort(rtt, (size_t)count, sizeof(*rtt), cmp_double);
    printf("{\"count\":%ld,\"size\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
           "\"max_ms\":%.3f,\"mean_ms\":%.3f}\n",
           count, size, pct(rtt, count, 500), pct(rtt, count, 900), pct(rtt, count, 990), pct(rtt, count, 999),
           rtt[count - 1], sum / (double)count);
    fflush(stdout);
    rc = 0;
out:
    if (worker_started) {
        atomic_store(&worker_stop, true);
        pthread_join(worker, NULL);
    }
    client_free(c);
    if (created && !admin_topics(p, false)) /* best effort */
        fprintf(stderr, "could not delete topics %s, %s\n", topic_a, topic_b);
    client_free(p); /* flushes, so late delivery failures are counted below */
    if (atomic_load(&dr_failures))
        rc = 1;
    free(rtt);
    free(payload);
    return rc;
}

/* kafka_pingpong.c - the "Kafka floor": round-trip time of the smallest produce -> consume -> produce ->
 * consume ping-pong, with librdkafka configured as llmgw's sync path (common/kafka.c), so llmgw's added
 * latency can be compared with the best this design can do.
 *
 * An "ingress" thread produces message i to topic A and waits for it on topic B; a "worker" thread echoes
 * A to B. Each side has its own producer and consumer, as llmgw's processes do; consumers are assign()ed
 * (no group join), as the ingress's reply consumer is. One message is in flight at a time.
 *
 * Options add what llmgw's own traffic has and the floor does not, one at a time, so the broker's cost of
 * each can be measured (bench/broker_shape.py): --headers 1 (a traceparent on every message), --partitions N
 * and --idle-topics K (topic A has N partitions, written round robin, and the worker's consumer also reads K
 * idle topics of N partitions: the embeddings and batch job topics), --group 1 (the worker's consumer joins a
 * group and commits every 200 ms), --cost 1 (the worker also sends a cost event per round trip through a
 * second producer that lingers 10 ms, and a "ledger" consumer reads them in a group, its fetch held up to
 * 50 ms for 1 MiB), --work-us US (the worker waits that long before it answers, off the CPU, as for a
 * provider: the pace of llmgw's round trips rather than the floor's).
 *
 * --direct-reply 1 prices a design llmgw does not have: the worker sends the reply back over a loopback TCP
 * connection to the ingress instead of producing it to topic B, so a round trip crosses Kafka once (the job)
 * instead of twice. The job, the cost event and the ledger stay on Kafka. The ingress has no reply consumer then
 * (a fallback reply topic followed with llmgw's 1 s long-poll would add about one idle fetch a second).
 *
 * --chunks N (N > 1) streams instead: each job is answered with N replies ("chunks"), the first --work-us after
 * the job, the rest --gap-us apart (20,000 by default), --streams S at a time (a new job as one ends); --count and
 * --warmup count streams then (the warm-up is two rounds of S by default). Each chunk carries its send time, so the
 * ingress measures what the way back adds to each chunk and to the gap between two, whatever the worker's timer.
 *
 * Usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES] [--headers 0|1]
 *        [--partitions N] [--idle-topics K] [--group 0|1] [--cost 0|1] [--work-us US] [--direct-reply 0|1]
 *        [--chunks N [--streams S] [--gap-us US]] [--cpu-of PID]
 * Prints one JSON line with exact percentiles (p = the sample at index ceil(p*n)-1) and the CPU this process
 * (and the process --cpu-of names: the broker) used over the measured round trips, per round trip (per chunk with
 * --chunks). */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000 /* longest wait for any one message before giving up */
#define POLL_MS 100   /* poll loop step; a poll returns at once when a message arrives */
#define IDLE_TOPICS_MAX 8
#define COST_BYTES 600 /* about one of llmgw's cost events */
#define CHUNK_SENT_AT 21 /* --chunks: where a chunk carries its send time, after the stream's id and its number */
/* What llmgw's worker and ingress put on a job and a reply (common/trace.h). */
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *brokers;
static char topic_a[96], topic_b[96], topic_c[96];
static char idle_topic[IDLE_TOPICS_MAX][96];
static long n_parts = 1, n_idle = 0, work_us = 0;
static long n_chunks = 1, n_streams = 1, gap_us = 20000; /* --chunks, --streams, --gap-us */
static size_t msg_size = 200;                              /* --size */
static bool with_headers, with_group, with_cost, direct_reply;
static int reply_port; /* --direct-reply: the ingress's listening port on 127.0.0.1 */
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

/* How a consumer reads: its topics, from partition 0 up to parts (assign()ed from the beginning), or in a
 * group (subscribe, offsets stored by the caller and committed every 200 ms, as llmgw's worker and ledger
 * commit); batch_wait_ms > 0 holds each fetch that long unless 1 MiB is there (llmgw's ledger). */
struct consumer_shape {
    const char *const *topics;
    int n_topics;
    long parts;
    bool group;
    int batch_wait_ms;
};

/* A producer or a consumer with exactly the settings of common/kafka.c (config defaults: fetch wait 100 ms,
 * produce timeout 10 s); linger_ms for a producer, shape for a consumer (NULL: none). */
static rd_kafka_t *client_new(rd_kafka_type_t type, const char *client_id, const char *linger_ms,
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

/* One message to partition part of topic (RD_KAFKA_PARTITION_UA: by its key, as llmgw's cost events go).
 * With --headers, as llmgw's messages: keyed by a 36-byte id (the payload's first bytes, the round trip's
 * number), with a traceparent header. */
static bool produce(rd_kafka_t *p, const char *topic, int32_t part, const void *val, size_t len)
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
static bool admin_topics(rd_kafka_t *rk, bool create)
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
static void store(rd_kafka_t *c, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m->rkt), m->partition)->offset = m->offset + 1;
    rd_kafka_offsets_store(c, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* The ledger: reads the cost events in a group, each fetch held for its batch, until told to stop. */
static void *ledger_main(void *arg)
{
    (void)arg;
    const char *topics[1] = {topic_c};
    struct consumer_shape shape = {topics, 1, n_parts, true, 50};
    rd_kafka_t *c = client_new(RD_KAFKA_CONSUMER, "bench-ledger", NULL, &shape);
    if (!c)
        atomic_store(&worker_failed, true);
    while (c && !atomic_load(&worker_stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
        if (!m)
            continue;
        if (!m->err)
            store(c, m);
        rd_kafka_message_destroy(m);
    }
    client_free(c);
    return NULL;
}

/* Connects to the ingress's reply port (--direct-reply), Nagle off as llmgw's Kafka sockets; -1 on failure. */
static int reply_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)reply_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("reply connection");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Writes all len bytes of buf to fd (the reply, --direct-reply). */
static bool send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("reply send");
            return false;
        }
        buf += n, len -= (size_t)n;
    }
    return true;
}

/* The worker's clients: its job consumer, its reply producer (or the reply connection, --direct-reply) and its cost
 * producer (--cost). */
struct worker_io {
    rd_kafka_t *c, *p, *pc;
    int fd;
    char cost[COST_BYTES];
};

/* Opens w's clients; false (and worker_failed set) when one cannot be. worker_close(w) in both cases. */
static bool worker_open(struct worker_io *w)
{
    const char *topics[IDLE_TOPICS_MAX + 1] = {topic_a};
    for (long i = 0; i < n_idle; i++)
        topics[i + 1] = idle_topic[i];
    struct consumer_shape shape = {topics, (int)n_idle + 1, n_parts, with_group, 0};
    memset(w->cost, 'c', sizeof(w->cost));
    w->c = client_new(RD_KAFKA_CONSUMER, "bench-worker", NULL, &shape);
    w->p = direct_reply ? NULL : client_new(RD_KAFKA_PRODUCER, "bench-worker", "0", NULL);
    w->pc = with_cost ? client_new(RD_KAFKA_PRODUCER, "bench-worker-cost", "10", NULL) : NULL;
    w->fd = direct_reply ? reply_connect() : -1;
    if (!w->c || (!direct_reply && !w->p) || (direct_reply && w->fd < 0) || (with_cost && !w->pc)) {
        atomic_store(&worker_failed, true);
        return false;
    }
    return true;
}

static void worker_close(struct worker_io *w)
{
    client_free(w->c);
    client_free(w->p);
    client_free(w->pc);
    if (w->fd >= 0)
        close(w->fd);
}

/* Serves the producers' delivery reports. */
static void worker_serve(struct worker_io *w)
{
    if (w->p)
        rd_kafka_poll(w->p, 0);
    if (w->pc)
        rd_kafka_poll(w->pc, 0);
}

/* One reply (or chunk) to the ingress: on topic B, or over the reply connection. */
static bool worker_reply(struct worker_io *w, const void *buf, size_t len)
{
    return direct_reply ? send_all(w->fd, buf, len) : produce(w->p, topic_b, 0, buf, len);
}

/* The cost event of a job whose first bytes (its key) are id, as the job id keys llmgw's; true without --cost. */
static bool worker_cost(struct worker_io *w, const void *id, size_t len)
{
    if (!w->pc)
        return true;
    memcpy(w->cost, id, len < 36 ? len : 36);
    return produce(w->pc, topic_c, RD_KAFKA_PARTITION_UA, w->cost, sizeof(w->cost));
}

/* The worker: echoes every message of topic A to topic B (or over the reply connection) until told to stop. */
static void *worker_main(void *arg)
{
    (void)arg;
    struct worker_io w;
    bool ok = worker_open(&w);
    while (ok && !atomic_load(&worker_stop)) {
        worker_serve(&w);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w.c, POLL_MS);
        if (!m)
            continue;
        if (m->err) {
            fprintf(stderr, "worker consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (work_us > 0) { /* the job's own time (a provider call), off the CPU */
                struct timespec ts = {work_us / 1000000, (work_us % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
            /* The reply first, as llmgw's worker sends it; then the cost event. */
            ok = worker_reply(&w, m->payload, m->len) && worker_cost(&w, m->payload, m->len);
            if (with_group)
                store(w.c, m);
        }
        rd_kafka_message_destroy(m);
    }
    if (!ok)
        atomic_store(&worker_failed, true);
    worker_close(&w);
    return NULL;
}

/* A stream the worker is answering (--chunks): its job's payload (the stream's id in its first 15 bytes; each
 * chunk is a copy with the chunk's number and send time written in), the chunks sent, when the next is due. */
struct out_stream {
    char *chunk;
    long sent;
    double due_ms;
};

/* Writes chunk k's number (6 digits at byte 15) and its send time (a double at byte CHUNK_SENT_AT) into chunk. */
static void chunk_stamp(char *chunk, long k, double sent_ms)
{
    char num[8];
    snprintf(num, sizeof(num), "%06ld", k % 1000000);
    memcpy(chunk + 15, num, 6);
    memcpy(chunk + CHUNK_SENT_AT, &sent_ms, sizeof(sent_ms));
}

/* The worker for --chunks: each job of topic A is a stream of n_chunks replies, the first work_us after the job
 * arrives, the rest gap_us apart, as a provider streams; then the job's cost event. Up to n_streams at once. */
static void *stream_worker_main(void *arg)
{
    (void)arg;
    struct worker_io w;
    struct out_stream *live = calloc((size_t)n_streams, sizeof(*live));
    int n_live = 0;
    bool ok = live && worker_open(&w);
    if (!live)
        fprintf(stderr, "out of memory\n");
    while (ok && !atomic_load(&worker_stop)) {
        worker_serve(&w);
        double now = now_ms(), next = now + POLL_MS;
        for (int i = 0; i < n_live; i++)
            next = live[i].due_ms < next ? live[i].due_ms : next;
        /* librdkafka's wait is in whole ms: a chunk may go up to 1 ms late, which the ingress's measure leaves out
         * (it times each chunk from its send time, written in the chunk). */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w.c, next > now ? (int)(next - now) : 0);
        if (m && m->err) {
            fprintf(stderr, "worker consume: %s\n", rd_kafka_message_errstr(m));
        } else if (m && (m->len != msg_size || n_live == n_streams)) {
            fprintf(stderr, "worker: a job of %zu bytes, or more than %ld streams at once\n", m->len, n_streams);
            ok = false;
        } else if (m) {
            struct out_stream *st = &live[n_live];
            if (!(st->chunk = malloc(msg_size))) {
                ok = false;
            } else {
                memcpy(st->chunk, m->payload, msg_size);
                st->sent = 0, st->due_ms = now_ms() + (double)work_us / 1e3;
                n_live++;
            }
            if (with_group)
                store(w.c, m);
        }
        if (m)
            rd_kafka_message_destroy(m);
        for (int i = 0; ok && i < n_live; i++) {
            struct out_stream *st = &live[i];
            if (st->due_ms > now_ms())
                continue;
            chunk_stamp(st->chunk, st->sent, now_ms());
            ok = worker_reply(&w, st->chunk, msg_size);
            st->due_ms += (double)gap_us / 1e3;
            if (ok && ++st->sent == n_chunks) { /* the stream's end: its cost event, its slot to the last one */
                ok = worker_cost(&w, st->chunk, msg_size);
                free(st->chunk);
                live[i--] = live[--n_live];
            }
        }
    }
    if (!ok)
        atomic_store(&worker_failed, true);
    for (int i = 0; i < n_live; i++)
        free(live[i].chunk);
    free(live);
    if (live)
        worker_close(&w);
    return NULL;
}

/* The ingress's listening socket for --direct-reply on 127.0.0.1, its port in reply_port; -1 on failure. */
static int reply_listen(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("reply listener");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    reply_port = ntohs(a.sin_port);
    return fd;
}

/* Waits up to POLL_MS for the rest of one size-byte reply on fd, read into buf from *have on: 1 when it is all
 * in (*have back to 0), 0 when not yet, -1 on error or end of stream. */
static int reply_read(int fd, char *buf, size_t size, size_t *have)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int n = poll(&pfd, 1, POLL_MS);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0)
        return n;
    ssize_t got = recv(fd, buf + *have, size - *have, 0);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (got <= 0) {
        fprintf(stderr, "reply connection: %s\n", got < 0 ? strerror(errno) : "closed by the worker");
        return -1;
    }
    *have += (size_t)got;
    if (*have < size)
        return 0;
    *have = 0;
    return 1;
}

/* One step of the ingress's wait for the next reply: from the reply consumer c, or from reply_fd (--direct-reply),
 * into reply (msg_size bytes). 1 when one came, 0 when none came within POLL_MS (a consumer error or a message of
 * another size is reported and waited past), -1 when the reply connection failed. */
static int next_reply(rd_kafka_t *c, int reply_fd, char *reply, size_t *have)
{
    if (direct_reply)
        return reply_read(reply_fd, reply, msg_size, have);
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
    if (!m)
        return 0;
    int got = 0;
    if (m->err)
        fprintf(stderr, "ingress consume: %s\n", rd_kafka_message_errstr(m));
    else if (m->len != msg_size)
        fprintf(stderr, "ingress: a reply of %zu bytes, not %zu\n", m->len, msg_size);
    else
        memcpy(reply, m->payload, msg_size), got = 1;
    rd_kafka_message_destroy(m);
    return got;
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
    fprintf(stderr, "usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES]\n"
                    "       [--headers 0|1] [--partitions N] [--idle-topics K] [--group 0|1] [--cost 0|1]\n"
                    "       [--work-us US] [--direct-reply 0|1] [--chunks N [--streams S] [--gap-us US]]\n"
                    "       [--cpu-of PID]\n");
    return 2;
}

/* CPU seconds (user + system, all threads) pid has used so far; -1 when it cannot be read. */
static double pid_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* The ingress's side of a run: its job producer, its reply consumer (or connection), the job it sends and the
 * reply it reads (msg_size bytes each). */
struct ingress_io {
    rd_kafka_t *p, *c;
    int reply_fd;
    size_t have;
    char *payload, *reply;
};

/* One step of the wait for any reply: 0 when none came yet, 1 when one did (at *t1), -1 on a failure. */
static int ingress_wait(struct ingress_io *in, double *t1)
{
    rd_kafka_poll(in->p, 0); /* serve delivery reports */
    if (atomic_load(&dr_failures) || atomic_load(&worker_failed))
        return -1;
    int got = next_reply(in->c, in->reply_fd, in->reply, &in->have);
    *t1 = now_ms();
    return got;
}

/* Produces job i: its first 15 bytes name it. */
static bool ingress_send(struct ingress_io *in, long i)
{
    char seq[24];
    snprintf(seq, sizeof(seq), "%015ld", i);
    memcpy(in->payload, seq, 15);
    return produce(in->p, topic_a, (int32_t)(i % n_parts), in->payload, msg_size);
}

/* CPU per unit over a measured stretch: "name_clients" (this process) and "name_broker" (cpu_of's), as JSON. */
static void print_cpu(const char *unit, double self0, double cpu0, long cpu_of, long n)
{
    double cpu = cpu_of ? pid_cpu_s(cpu_of) - cpu0 : -1, self = self_cpu_s() - self0;
    printf(",\"clients_cpu_ms_per_%s\":%.4f", unit, self * 1e3 / (double)n);
    if (cpu_of)
        printf(",\"broker_cpu_ms_per_%s\":%.4f", unit, cpu >= 0 && cpu0 >= 0 ? cpu * 1e3 / (double)n : -1.0);
}

/* Sorts v and prints its percentiles as JSON fields "<prefix>p50_ms" and so on. */
static void print_pcts(const char *prefix, double *v, long n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    static const long permille[] = {500, 900, 990, 999};
    static const char *const label[] = {"p50", "p90", "p99", "p999"};
    for (int k = 0; k < 4; k++)
        printf(",\"%s%s_ms\":%.3f", prefix, label[k], pct(v, n, permille[k]));
    printf(",\"%smax_ms\":%.3f", prefix, v[n - 1]);
}

/* The ping-pong: warmup + count round trips, one in flight; prints the round trips' figures. 0 or 1. */
static int run_pingpong(struct ingress_io *in, long warmup, long count, long cpu_of)
{
    double *rtt = calloc((size_t)count, sizeof(*rtt)), cpu0 = 0, self0 = 0;
    if (!rtt) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (long i = 0; i < warmup + count; i++) {
        if (i == warmup) {
            cpu0 = cpu_of ? pid_cpu_s(cpu_of) : 0;
            self0 = self_cpu_s();
        }
        double t0 = now_ms(), t1;
        if (!ingress_send(in, i))
            goto fail;
        for (;;) {
            int got = ingress_wait(in, &t1);
            if (got < 0)
                goto fail;
            if (got > 0 && memcmp(in->reply, in->payload, 15) == 0) {
                if (i >= warmup)
                    rtt[i - warmup] = t1 - t0;
                break;
            }
            if (got > 0)
                fprintf(stderr, "unexpected reply at round trip %ld\n", i);
            if (t1 - t0 > WAIT_MS) {
                fprintf(stderr, "round trip %ld: no answer within %d ms\n", i, WAIT_MS);
                goto fail;
            }
        }
        if (i + 1 == warmup || (i + 1 - warmup) % 1000 == 0)
            fprintf(stderr, "%ld round trips done\n", i + 1);
    }
    /* Over the measured round trips only: the warm-up, topic creation and group joins are not counted. */
    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += rtt[i];
    printf("{\"count\":%ld,\"size\":%zu,\"mean_ms\":%.3f", count, msg_size, sum / (double)count);
    print_pcts("", rtt, count);
    print_cpu("round_trip", self0, cpu0, cpu_of, count);
    printf("}\n");
    fflush(stdout);
    free(rtt);
    return 0;
fail:
    free(rtt);
    return 1;
}

/* A stream the ingress reads (--chunks): when its job went, the chunks come so far, the last one's transit. */
struct in_stream {
    double job_ms, last_transit_ms;
    long got;
};

/* The streams: warmup + count jobs of n_chunks chunks each, n_streams at a time (a new one as one ends). Prints,
 * over the measured streams, the time from the job to its first chunk, each chunk's transit (its arrival less
 * its send time, which it carries), and the added gap between chunks (a chunk's transit less the one before's:
 * what the way from worker to ingress adds to the provider's gap), and the CPU per chunk. 0 or 1. */
static int run_streams(struct ingress_io *in, long warmup, long count, long cpu_of)
{
    long total = warmup + count, started = 0, ended = 0, chunks_in_window = 0, n_first = 0, n_transit = 0,
         n_gap = 0;
    struct in_stream *st = calloc((size_t)total, sizeof(*st));
    double *first = calloc((size_t)count, sizeof(double));
    double *transit = calloc((size_t)(count * n_chunks), sizeof(double));
    double *gap = calloc((size_t)(count * (n_chunks - 1)), sizeof(double)), cpu0 = 0, self0 = 0, last = now_ms(), t1;
    int rc = 1;
    if (!st || !first || !transit || !gap) {
        fprintf(stderr, "out of memory\n");
        goto done;
    }
    while (ended < total) {
        for (; started < total && started - ended < n_streams; started++) {
            if (started == warmup) { /* the measured stretch starts with the first measured stream */
                cpu0 = cpu_of ? pid_cpu_s(cpu_of) : 0;
                self0 = self_cpu_s();
                chunks_in_window = 0;
            }
            st[started].job_ms = now_ms();
            if (!ingress_send(in, started))
                goto done;
        }
        int got = ingress_wait(in, &t1);
        if (got < 0)
            goto done;
        if (got == 0) {
            if (t1 - last > WAIT_MS) {
                fprintf(stderr, "no chunk within %d ms (%ld streams of %ld ended)\n", WAIT_MS, ended, total);
                goto done;
            }
            continue;
        }
        last = t1;
        char id[16], num[7];
        double sent;
        memcpy(id, in->reply, 15), id[15] = 0;
        memcpy(num, in->reply + 15, 6), num[6] = 0;
        memcpy(&sent, in->reply + CHUNK_SENT_AT, sizeof(sent));
        long i = strtol(id, NULL, 10), k = strtol(num, NULL, 10);
        if (i < 0 || i >= started || k != st[i].got % 1000000) {
            fprintf(stderr, "unexpected chunk %ld of stream %ld\n", k, i);
            goto done;
        }
        struct in_stream *s = &st[i];
        double tr = t1 - sent;
        chunks_in_window++;
        if (i >= warmup) {
            transit[n_transit++] = tr;
            if (s->got == 0)
                first[n_first++] = t1 - s->job_ms;
            else
                gap[n_gap++] = tr - s->last_transit_ms;
        }
        s->last_transit_ms = tr;
        if (++s->got == n_chunks && ++ended % 100 == 0)
            fprintf(stderr, "%ld streams done\n", ended);
    }
    printf("{\"streams\":%ld,\"chunks\":%ld,\"concurrent_streams\":%ld,\"gap_us\":%ld,\"size\":%zu", count,
           n_chunks, n_streams, gap_us, msg_size);
    print_pcts("first_chunk_", first, n_first);
    print_pcts("transit_", transit, n_transit);
    print_pcts("added_gap_", gap, n_gap);
    print_cpu("chunk", self0, cpu0, cpu_of, chunks_in_window);
    printf("}\n");
    fflush(stdout);
    rc = 0;
done:
    free(st);
    free(first);
    free(transit);
    free(gap);
    return rc;
}

int main(int argc, char **argv)
{
    long count = 2000, warmup = 100, size = 200, flag, cpu_of = 0;
    bool warmup_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (ok && strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (ok && strcmp(a, "--count") == 0)
            ok = parse_long(v, 1, 10000000, &count);
        else if (ok && strcmp(a, "--warmup") == 0)
            ok = warmup_set = parse_long(v, 0, 10000000, &warmup);
        else if (ok && strcmp(a, "--size") == 0) /* room for the number, and a chunk's number and send time */
            ok = parse_long(v, CHUNK_SENT_AT + (long)sizeof(double), 1000000, &size);
        else if (ok && strcmp(a, "--chunks") == 0)
            ok = parse_long(v, 1, 100000, &n_chunks);
        else if (ok && strcmp(a, "--streams") == 0)
            ok = parse_long(v, 1, 1000, &n_streams);
        else if (ok && strcmp(a, "--gap-us") == 0)
            ok = parse_long(v, 0, 10000000, &gap_us);
        else if (ok && strcmp(a, "--partitions") == 0)
            ok = parse_long(v, 1, 64, &n_parts);
        else if (ok && strcmp(a, "--idle-topics") == 0)
            ok = parse_long(v, 0, IDLE_TOPICS_MAX, &n_idle);
        else if (ok && strcmp(a, "--work-us") == 0)
            ok = parse_long(v, 0, 10000000, &work_us);
        else if (ok && strcmp(a, "--cpu-of") == 0)
            ok = parse_long(v, 1, 1L << 30, &cpu_of);
        else if (ok && strcmp(a, "--headers") == 0 && (ok = parse_long(v, 0, 1, &flag)))
            with_headers = flag;
        else if (ok && strcmp(a, "--group") == 0 && (ok = parse_long(v, 0, 1, &flag)))
            with_group = flag;
        else if (ok && strcmp(a, "--cost") == 0 && (ok = parse_long(v, 0, 1, &flag)))
            with_cost = flag;
        else if (ok && strcmp(a, "--direct-reply") == 0 && (ok = parse_long(v, 0, 1, &flag)))
            direct_reply = flag;
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
    msg_size = (size_t)size;
    if (n_chunks > 1 && !warmup_set)
        warmup = 2 * n_streams; /* streams, not round trips: two rounds of them */
    if (n_chunks > 1 && count * n_chunks > 100000000L) {
        fprintf(stderr, "bench_kafka_pingpong: --count %ld streams of %ld chunks is too many\n", count, n_chunks);
        return usage();
    }

    uint32_t suffix;
    if (getrandom(&suffix, sizeof(suffix), 0) != (ssize_t)sizeof(suffix))
        suffix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    snprintf(topic_a, sizeof(topic_a), "bench-pingpong-%08x-a", suffix);
    snprintf(topic_b, sizeof(topic_b), "bench-pingpong-%08x-b", suffix);
    snprintf(topic_c, sizeof(topic_c), "bench-pingpong-%08x-cost", suffix);
    for (long i = 0; i < n_idle; i++)
        snprintf(idle_topic[i], sizeof(idle_topic[i]), "bench-pingpong-%08x-idle%ld", suffix, i);

    int rc = 1, listen_fd = -1;
    bool created = false, worker_started = false, ledger_started = false;
    pthread_t worker, ledger;
    struct ingress_io in = {.reply_fd = -1, .payload = malloc(msg_size), .reply = malloc(msg_size)};
    if (!in.payload || !in.reply) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    memset(in.payload, 'x', msg_size);
    if (!(in.p = client_new(RD_KAFKA_PRODUCER, "bench-ingress", "0", NULL)))
        goto out;
    if (!(created = admin_topics(in.p, true)))
        goto out;
    fprintf(stderr, "topics %s, %s created\n", topic_a, topic_b);
    const char *reply_topics[1] = {topic_b};
    struct consumer_shape reply_shape = {reply_topics, 1, 1, false, 0};
    if (direct_reply ? (listen_fd = reply_listen()) < 0
                     : !(in.c = client_new(RD_KAFKA_CONSUMER, "bench-ingress", NULL, &reply_shape)))
        goto out;
    if (pthread_create(&worker, NULL, n_chunks > 1 ? stream_worker_main : worker_main, NULL) != 0) {
        fprintf(stderr, "cannot start the worker thread\n");
        goto out;
    }
    worker_started = true;
    if (direct_reply) { /* the worker connects as it starts; a failed connect ends it, and the wait below */
        struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, WAIT_MS) != 1 || (in.reply_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
            fprintf(stderr, "the worker did not connect for its replies\n");
            goto out;
        }
    }
    if (with_cost) {
        if (pthread_create(&ledger, NULL, ledger_main, NULL) != 0) {
            fprintf(stderr, "cannot start the ledger thread\n");
            goto out;
        }
        ledger_started = true;
    }
    rc = n_chunks > 1 ? run_streams(&in, warmup, count, cpu_of) : run_pingpong(&in, warmup, count, cpu_of);
out:
    atomic_store(&worker_stop, true);
    if (worker_started)
        pthread_join(worker, NULL);
    if (ledger_started)
        pthread_join(ledger, NULL);
    client_free(in.c);
    if (in.reply_fd >= 0)
        close(in.reply_fd);
    if (listen_fd >= 0)
        close(listen_fd);
    if (created && !admin_topics(in.p, false)) /* best effort */
        fprintf(stderr, "could not delete the run's topics (%s, ...)\n", topic_a);
    client_free(in.p); /* flushes, so late delivery failures are counted below */
    if (atomic_load(&dr_failures))
        rc = 1;
    free(in.payload);
    free(in.reply);
    return rc;
}

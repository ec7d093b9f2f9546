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
 * Usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES] [--headers 0|1]
 *        [--partitions N] [--idle-topics K] [--group 0|1] [--cost 0|1] [--work-us US] [--direct-reply 0|1]
 *        [--cpu-of PID]
 * Prints one JSON line with exact percentiles (p = the sample at index ceil(p*n)-1) and the CPU this process
 * (and the process --cpu-of names: the broker) used over the measured round trips, per round trip. */
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
/* What llmgw's worker and ingress put on a job and a reply (common/trace.h). */
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *brokers;
static char topic_a[96], topic_b[96], topic_c[96];
static char idle_topic[IDLE_TOPICS_MAX][96];
static long n_parts = 1, n_idle = 0, work_us = 0;
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

/* The worker: echoes every message of topic A to topic B (or over the reply connection) until told to stop. */
static void *worker_main(void *arg)
{
    (void)arg;
    const char *topics[IDLE_TOPICS_MAX + 1] = {topic_a};
    for (long i = 0; i < n_idle; i++)
        topics[i + 1] = idle_topic[i];
    struct consumer_shape shape = {topics, (int)n_idle + 1, n_parts, with_group, 0};
    char cost[COST_BYTES];
    memset(cost, 'c', sizeof(cost));
    rd_kafka_t *c = client_new(RD_KAFKA_CONSUMER, "bench-worker", NULL, &shape);
    rd_kafka_t *p = direct_reply ? NULL : client_new(RD_KAFKA_PRODUCER, "bench-worker", "0", NULL);
    rd_kafka_t *pc = with_cost ? client_new(RD_KAFKA_PRODUCER, "bench-worker-cost", "10", NULL) : NULL;
    int fd = direct_reply ? reply_connect() : -1;
    if (!c || (!direct_reply && !p) || (direct_reply && fd < 0) || (with_cost && !pc))
        atomic_store(&worker_failed, true);
    while (!atomic_load(&worker_failed) && !atomic_load(&worker_stop)) {
        if (p)
            rd_kafka_poll(p, 0); /* serve delivery reports */
        if (pc)
            rd_kafka_poll(pc, 0);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
        if (!m)
            continue;
        if (m->err) {
            fprintf(stderr, "worker consume: %s\n", rd_kafka_message_errstr(m));
        } else {
            if (work_us > 0) { /* the job's own time (a provider call), off the CPU */
                struct timespec ts = {work_us / 1000000, (work_us % 1000000) * 1000};
                nanosleep(&ts, NULL);
            }
            /* The reply first, as llmgw's worker sends it; then the cost event, whose first bytes (its key)
             * name the round trip as the job id keys llmgw's. */
            bool ok = direct_reply ? send_all(fd, m->payload, m->len) : produce(p, topic_b, 0, m->payload, m->len);
            if (ok && pc) {
                memcpy(cost, m->payload, m->len < 36 ? m->len : 36);
                ok = produce(pc, topic_c, RD_KAFKA_PARTITION_UA, cost, sizeof(cost));
            }
            if (!ok)
                atomic_store(&worker_failed, true);
            if (with_group)
                store(c, m);
        }
        rd_kafka_message_destroy(m);
    }
    client_free(c);
    client_free(p);
    client_free(pc);
    if (fd >= 0)
        close(fd);
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

/* One step of the ingress's wait for round trip i's reply, whose first 15 bytes are seq: from the reply consumer
 * c, or from reply_fd (--direct-reply) into reply. 1 when it came, 0 when not yet (a consumer error or another
 * message is reported and waited past), -1 when the reply connection failed or brought another reply. */
static int await_reply(rd_kafka_t *c, int reply_fd, char *reply, size_t size, size_t *have, const char *seq, long i)
{
    if (direct_reply) {
        int got = reply_read(reply_fd, reply, size, have);
        if (got > 0 && memcmp(reply, seq, 15) != 0) {
            fprintf(stderr, "unexpected reply at round trip %ld\n", i);
            return -1;
        }
        return got;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, POLL_MS);
    if (!m)
        return 0;
    bool mine = !m->err && m->len == size && memcmp(m->payload, seq, 15) == 0;
    if (m->err)
        fprintf(stderr, "ingress consume: %s\n", rd_kafka_message_errstr(m));
    else if (!mine)
        fprintf(stderr, "unexpected message at round trip %ld\n", i);
    rd_kafka_message_destroy(m);
    return mine;
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
                    "       [--work-us US] [--direct-reply 0|1] [--cpu-of PID]\n");
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

int main(int argc, char **argv)
{
    long count = 2000, warmup = 100, size = 200, flag, cpu_of = 0;
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

    uint32_t suffix;
    if (getrandom(&suffix, sizeof(suffix), 0) != (ssize_t)sizeof(suffix))
        suffix = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    snprintf(topic_a, sizeof(topic_a), "bench-pingpong-%08x-a", suffix);
    snprintf(topic_b, sizeof(topic_b), "bench-pingpong-%08x-b", suffix);
    snprintf(topic_c, sizeof(topic_c), "bench-pingpong-%08x-cost", suffix);
    for (long i = 0; i < n_idle; i++)
        snprintf(idle_topic[i], sizeof(idle_topic[i]), "bench-pingpong-%08x-idle%ld", suffix, i);

    int rc = 1, listen_fd = -1, reply_fd = -1;
    size_t reply_have = 0;
    bool created = false, worker_started = false, ledger_started = false;
    pthread_t worker, ledger;
    double cpu0 = 0, self0 = 0;
    rd_kafka_t *p = NULL, *c = NULL;
    double *rtt = calloc((size_t)count, sizeof(*rtt));
    char *payload = malloc((size_t)size), *reply = malloc((size_t)size);
    if (!rtt || !payload || !reply) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    memset(payload, 'x', (size_t)size);
    if (!(p = client_new(RD_KAFKA_PRODUCER, "bench-ingress", "0", NULL)))
        goto out;
    if (!(created = admin_topics(p, true)))
        goto out;
    fprintf(stderr, "topics %s, %s created\n", topic_a, topic_b);
    const char *reply_topics[1] = {topic_b};
    struct consumer_shape reply_shape = {reply_topics, 1, 1, false, 0};
    if (direct_reply ? (listen_fd = reply_listen()) < 0
                     : !(c = client_new(RD_KAFKA_CONSUMER, "bench-ingress", NULL, &reply_shape)))
        goto out;
    if (pthread_create(&worker, NULL, worker_main, NULL) != 0) {
        fprintf(stderr, "cannot start the worker thread\n");
        goto out;
    }
    worker_started = true;
    if (direct_reply) { /* the worker connects as it starts; a failed connect ends it, and the wait below */
        struct pollfd pfd = {.fd = listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, WAIT_MS) != 1 || (reply_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
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

    for (long i = 0; i < warmup + count; i++) {
        char seq[24];
        snprintf(seq, sizeof(seq), "%015ld", i); /* the payload's first 15 bytes name the round trip */
        memcpy(payload, seq, 15);
        if (i == warmup) {
            cpu0 = cpu_of ? pid_cpu_s(cpu_of) : 0;
            self0 = self_cpu_s();
        }
        double t0 = now_ms();
        if (!produce(p, topic_a, (int32_t)(i % n_parts), payload, (size_t)size))
            goto out;
        for (;;) {
            rd_kafka_poll(p, 0); /* serve delivery reports */
            if (atomic_load(&dr_failures) || atomic_load(&worker_failed))
                goto out;
            int got = await_reply(c, reply_fd, reply, (size_t)size, &reply_have, seq, i);
            double t1 = now_ms();
            if (got < 0)
                goto out;
            if (got > 0) {
                if (i >= warmup)
                    rtt[i - warmup] = t1 - t0;
                break;
            }
            if (t1 - t0 > WAIT_MS) {
                fprintf(stderr, "round trip %ld: no answer within %d ms\n", i, WAIT_MS);
                goto out;
            }
        }
        if (i + 1 == warmup || (i + 1 - warmup) % 1000 == 0)
            fprintf(stderr, "%ld round trips done\n", i + 1);
    }

    /* Over the measured round trips only: the warm-up, topic creation and group joins are not counted. */
    double cpu = cpu_of ? pid_cpu_s(cpu_of) - cpu0 : -1, self = self_cpu_s() - self0;
    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += rtt[i];
    qsort(rtt, (size_t)count, sizeof(*rtt), cmp_double);
    printf("{\"count\":%ld,\"size\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
           "\"max_ms\":%.3f,\"mean_ms\":%.3f,\"clients_cpu_ms_per_round_trip\":%.4f",
           count, size, pct(rtt, count, 500), pct(rtt, count, 900), pct(rtt, count, 990), pct(rtt, count, 999),
           rtt[count - 1], sum / (double)count, self * 1e3 / (double)count);
    if (cpu_of)
        printf(",\"broker_cpu_ms_per_round_trip\":%.4f", cpu >= 0 && cpu0 >= 0 ? cpu * 1e3 / (double)count : -1.0);
    printf("}\n");
    fflush(stdout);
    rc = 0;
out:
    atomic_store(&worker_stop, true);
    if (worker_started)
        pthread_join(worker, NULL);
    if (ledger_started)
        pthread_join(ledger, NULL);
    client_free(c);
    if (reply_fd >= 0)
        close(reply_fd);
    if (listen_fd >= 0)
        close(listen_fd);
    if (created && !admin_topics(p, false)) /* best effort */
        fprintf(stderr, "could not delete the run's topics (%s, ...)\n", topic_a);
    client_free(p); /* flushes, so late delivery failures are counted below */
    if (atomic_load(&dr_failures))
        rc = 1;
    free(rtt);
    free(payload);
    free(reply);
    return rc;
}

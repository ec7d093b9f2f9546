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
#include "args.h"
#include "pingpong.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const char *brokers;
char topic_a[96], topic_b[96], topic_c[96];
char idle_topic[IDLE_TOPICS_MAX][96];
long n_parts = 1, n_idle = 0, work_us = 0;
long n_chunks = 1, n_streams = 1, gap_us = 20000;
size_t msg_size = 200;
bool with_headers, with_group, with_cost, direct_reply;
int reply_port;
atomic_int dr_failures;
atomic_bool worker_stop, worker_failed;

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


static int usage(void)
{
    fprintf(stderr, "usage: bench_kafka_pingpong --brokers HOST:PORT [--count N] [--warmup W] [--size BYTES]\n"
                    "       [--headers 0|1] [--partitions N] [--idle-topics K] [--group 0|1] [--cost 0|1]\n"
                    "       [--work-us US] [--direct-reply 0|1] [--chunks N [--streams S] [--gap-us US]]\n"
                    "       [--cpu-of PID]\n");
    return 2;
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
            ok = bench_parse_long(v, 1, 10000000, &count);
        else if (ok && strcmp(a, "--warmup") == 0)
            ok = warmup_set = bench_parse_long(v, 0, 10000000, &warmup);
        else if (ok && strcmp(a, "--size") == 0) /* room for the number, and a chunk's number and send time */
            ok = bench_parse_long(v, CHUNK_SENT_AT + (long)sizeof(double), 1000000, &size);
        else if (ok && strcmp(a, "--chunks") == 0)
            ok = bench_parse_long(v, 1, 100000, &n_chunks);
        else if (ok && strcmp(a, "--streams") == 0)
            ok = bench_parse_long(v, 1, 1000, &n_streams);
        else if (ok && strcmp(a, "--gap-us") == 0)
            ok = bench_parse_long(v, 0, 10000000, &gap_us);
        else if (ok && strcmp(a, "--partitions") == 0)
            ok = bench_parse_long(v, 1, 64, &n_parts);
        else if (ok && strcmp(a, "--idle-topics") == 0)
            ok = bench_parse_long(v, 0, IDLE_TOPICS_MAX, &n_idle);
        else if (ok && strcmp(a, "--work-us") == 0)
            ok = bench_parse_long(v, 0, 10000000, &work_us);
        else if (ok && strcmp(a, "--cpu-of") == 0)
            ok = bench_parse_long(v, 1, 1L << 30, &cpu_of);
        else if (ok && strcmp(a, "--headers") == 0 && (ok = bench_parse_long(v, 0, 1, &flag)))
            with_headers = flag;
        else if (ok && strcmp(a, "--group") == 0 && (ok = bench_parse_long(v, 0, 1, &flag)))
            with_group = flag;
        else if (ok && strcmp(a, "--cost") == 0 && (ok = bench_parse_long(v, 0, 1, &flag)))
            with_cost = flag;
        else if (ok && strcmp(a, "--direct-reply") == 0 && (ok = bench_parse_long(v, 0, 1, &flag)))
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

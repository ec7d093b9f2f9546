/* pingpong.h - the pieces of bench_kafka_pingpong (bench/kafka_pingpong.c, whose comment says what it measures):
 * the run's options, its Kafka clients and topics (pingpong_kafka.c), the way back from worker to ingress, on a
 * topic or a socket (pingpong_reply.c), the streams of --chunks (pingpong_stream.c), and its clocks and figures
 * (pingpong_stats.c). */
#ifndef LLMGW_BENCH_PINGPONG_H
#define LLMGW_BENCH_PINGPONG_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAIT_MS 10000 /* longest wait for any one message before giving up */
#define POLL_MS 100   /* poll loop step; a poll returns at once when a message arrives */
#define IDLE_TOPICS_MAX 8
#define COST_BYTES 600 /* about one of llmgw's cost events */
#define CHUNK_SENT_AT 21 /* --chunks: where a chunk carries its send time, after the stream's id and its number */
/* What llmgw's worker and ingress put on a job and a reply (common/trace.h). */
#define TRACEPARENT "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* The run's options and shared state, set by main (kafka_pingpong.c) before any thread starts. */
extern const char *brokers;
extern char topic_a[96], topic_b[96], topic_c[96];
extern char idle_topic[IDLE_TOPICS_MAX][96];
extern long n_parts, n_idle, work_us;
extern long n_chunks, n_streams, gap_us; /* --chunks, --streams, --gap-us */
extern size_t msg_size;                  /* --size */
extern bool with_headers, with_group, with_cost, direct_reply;
extern int reply_port; /* --direct-reply: the ingress's listening port on 127.0.0.1 */
extern atomic_int dr_failures;
extern atomic_bool worker_stop, worker_failed;

/* pingpong_kafka.c */
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

rd_kafka_t *client_new(rd_kafka_type_t type, const char *client_id, const char *linger_ms,
                       const struct consumer_shape *shape);
void client_free(rd_kafka_t *rk);
bool produce(rd_kafka_t *p, const char *topic, int32_t part, const void *val, size_t len);
bool admin_topics(rd_kafka_t *rk, bool create);
void store(rd_kafka_t *c, const rd_kafka_message_t *m);

/* pingpong_reply.c */
/* The worker's clients: its job consumer, its reply producer (or the reply connection, --direct-reply) and its cost
 * producer (--cost). */
struct worker_io {
    rd_kafka_t *c, *p, *pc;
    int fd;
    char cost[COST_BYTES];
};

bool worker_open(struct worker_io *w);
void worker_close(struct worker_io *w);
void worker_serve(struct worker_io *w);
bool worker_reply(struct worker_io *w, const void *buf, size_t len);
bool worker_cost(struct worker_io *w, const void *id, size_t len);
/* The ingress's side of a run: its job producer, its reply consumer (or connection), the job it sends and the
 * reply it reads (msg_size bytes each). */
struct ingress_io {
    rd_kafka_t *p, *c;
    int reply_fd;
    size_t have;
    char *payload, *reply;
};

int reply_listen(void);
int ingress_wait(struct ingress_io *in, double *t1);
bool ingress_send(struct ingress_io *in, long i);

/* pingpong_stream.c */
void *stream_worker_main(void *arg);
int run_streams(struct ingress_io *in, long warmup, long count, long cpu_of);

/* pingpong_stats.c */
double now_ms(void);
double pid_cpu_s(long pid);
double self_cpu_s(void);
void print_cpu(const char *unit, double self0, double cpu0, long cpu_of, long n);
void print_pcts(const char *prefix, double *v, long n);

#endif

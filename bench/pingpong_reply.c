/* pingpong_reply.c - the way back from the ping-pong's worker to its ingress: the reply topic, or with
 * --direct-reply a loopback TCP connection; the worker's clients and the ingress's (bench/pingpong.h). */
#include "pingpong.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Opens w's clients; false (and worker_failed set) when one cannot be. worker_close(w) in both cases. */
bool worker_open(struct worker_io *w)
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

void worker_close(struct worker_io *w)
{
    client_free(w->c);
    client_free(w->p);
    client_free(w->pc);
    if (w->fd >= 0)
        close(w->fd);
}

/* Serves the producers' delivery reports. */
void worker_serve(struct worker_io *w)
{
    if (w->p)
        rd_kafka_poll(w->p, 0);
    if (w->pc)
        rd_kafka_poll(w->pc, 0);
}

/* One reply (or chunk) to the ingress: on topic B, or over the reply connection. */
bool worker_reply(struct worker_io *w, const void *buf, size_t len)
{
    return direct_reply ? send_all(w->fd, buf, len) : produce(w->p, topic_b, 0, buf, len);
}

/* The cost event of a job whose first bytes (its key) are id, as the job id keys llmgw's; true without --cost. */
bool worker_cost(struct worker_io *w, const void *id, size_t len)
{
    if (!w->pc)
        return true;
    memcpy(w->cost, id, len < 36 ? len : 36);
    return produce(w->pc, topic_c, RD_KAFKA_PARTITION_UA, w->cost, sizeof(w->cost));
}


/* The ingress's listening socket for --direct-reply on 127.0.0.1, its port in reply_port; -1 on failure. */
int reply_listen(void)
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


/* One step of the wait for any reply: 0 when none came yet, 1 when one did (at *t1), -1 on a failure. */
int ingress_wait(struct ingress_io *in, double *t1)
{
    rd_kafka_poll(in->p, 0); /* serve delivery reports */
    if (atomic_load(&dr_failures) || atomic_load(&worker_failed))
        return -1;
    int got = next_reply(in->c, in->reply_fd, in->reply, &in->have);
    *t1 = now_ms();
    return got;
}

/* Produces job i: its first 15 bytes name it. */
bool ingress_send(struct ingress_io *in, long i)
{
    char seq[24];
    snprintf(seq, sizeof(seq), "%015ld", i);
    memcpy(in->payload, seq, 15);
    return produce(in->p, topic_a, (int32_t)(i % n_parts), in->payload, msg_size);
}

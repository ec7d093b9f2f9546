/* hold.c - the shared part of the bench/http_hold servers: options, the answer, the hold queue (hold.h). */
#include "hold.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../bench_clock.h"

const char HOLD_BODY[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":1764900000,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello from the benchmark fake.\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":7,\"total_tokens\":19}}";
const size_t HOLD_BODY_LEN = sizeof(HOLD_BODY) - 1;

/* True when nothing else is bound to port: the servers' sockets take SO_REUSEPORT, which would quietly share
 * the port (and the load) with another such server, so the port is first bound without it. */
static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

void hold_parse(int argc, char **argv, struct hold_opts *o)
{
    *o = (struct hold_opts){.port = 0, .threads = 2, .hold_ms = 0, .max_conns = 20000};
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto bad;
        if (!strcmp(argv[i], "--port"))
            o->port = atoi(v);
        else if (!strcmp(argv[i], "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(argv[i], "--hold-ms"))
            o->hold_ms = atol(v);
        else if (!strcmp(argv[i], "--max-conns"))
            o->max_conns = atoi(v);
        else
            goto bad;
        i++;
    }
    if (o->port > 0 && o->port < 65536 && o->threads > 0 && o->hold_ms >= 0 && o->max_conns > 0) {
        if (!port_free(o->port)) {
            fprintf(stderr, "port %d is in use\n", o->port);
            exit(1);
        }
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads started later inherit it: sigwait alone takes them */
        signal(SIGPIPE, SIG_IGN);               /* a client gone mid-answer is an error return, not an exit */
        return;
    }
bad:
    fprintf(stderr, "usage: %s --port P [--threads T] [--hold-ms H] [--max-conns M]\n", argv[0]);
    exit(2);
}

/* The hold queue: a FIFO (every request waits the same hold_ms, so the oldest is always due first). */
struct held {
    void *req;
    struct timespec due;
    struct held *next;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond;
static struct held *q_head, *q_tail;
static bool q_stop;
static long q_hold_ms;
static hold_due_fn q_due;
static pthread_t q_thread;

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *hold_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&q_lock);
    while (!q_stop) {
        if (!q_head) {
            pthread_cond_wait(&q_cond, &q_lock);
            continue;
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (before(&now, &q_head->due)) {
            pthread_cond_timedwait(&q_cond, &q_lock, &q_head->due);
            continue;
        }
        struct held *h = q_head;
        q_head = h->next;
        if (!q_head)
            q_tail = NULL;
        pthread_mutex_unlock(&q_lock); /* the HTTP layer's hand-back may take its own locks */
        q_due(h->req);
        free(h);
        pthread_mutex_lock(&q_lock);
    }
    pthread_mutex_unlock(&q_lock);
    return NULL;
}

int hold_start(long hold_ms, hold_due_fn due)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q_cond, &ca);
    pthread_condattr_destroy(&ca);
    q_hold_ms = hold_ms;
    q_due = due;
    return pthread_create(&q_thread, NULL, hold_main, NULL) == 0 ? 0 : -1;
}

void hold_put(void *req)
{
    struct held *h = malloc(sizeof(*h));
    if (!h) {
        fprintf(stderr, "hold_put: out of memory\n");
        abort(); /* a bench tool: a lost request would skew the figures silently */
    }
    h->req = req;
    h->next = NULL;
    h->due = bench_after_ms(CLOCK_MONOTONIC, q_hold_ms);
    pthread_mutex_lock(&q_lock);
    if (q_tail)
        q_tail->next = h;
    else
        q_head = h;
    q_tail = h;
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
}

void hold_wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig;
    sigwait(&set, &sig);
    pthread_mutex_lock(&q_lock);
    q_stop = true;
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
    pthread_join(q_thread, NULL);
}

int hold_listen(int port)
{

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
        perror("bind/listen");
        close(fd);
        return -1;
    }
    return fd;
}

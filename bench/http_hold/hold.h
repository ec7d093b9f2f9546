/* hold.h - what every bench/http_hold server shares: its options, the answer it sends, and the hold queue.
 *
 * Each server (mhd.c, evhttp.c, h2o.c, epoll.c) is the same small program on a different HTTP layer. It reads a
 * request (head and body), then holds it the way llmgw's ingress holds a request while its job is on Kafka:
 * the request goes on the hold queue, and after --hold-ms a thread of the queue's own (the ingress's reply
 * thread) hands it back to the HTTP layer, which sends the answer from its own thread. What a server holds
 * for a waiting client is then what that HTTP layer holds for a waiting request. bench/http_layers.py measures
 * the servers side by side: RSS with 10,000 waiting clients, latency and CPU per request.
 *
 * Usage: bench_http_hold_<layer> --port P [--threads T] [--hold-ms H] [--max-conns M]
 * Prints "ready" once listening; runs until SIGTERM or SIGINT (hold_wait_for_signal). */
#ifndef BENCH_HTTP_HOLD_H
#define BENCH_HTTP_HOLD_H

#include <stddef.h>

struct hold_opts {
    int port;      /* 127.0.0.1:port */
    int threads;   /* HTTP threads (llmgw's ingress: 2) */
    long hold_ms;  /* how long each request waits before its answer; 0: handed back at once */
    int max_conns; /* connections held at once */
};

/* Parses argv into o (defaults: threads 2, hold 0, max_conns 20000); exits 2 on a bad option, 1 when the port is
 * already bound. Also blocks SIGTERM and SIGINT (for hold_wait_for_signal) and ignores SIGPIPE, so call it first,
 * before any thread starts. */
void hold_parse(int argc, char **argv, struct hold_opts *o);

/* The answer every server sends: a chat completion as llmgw answers one (314 bytes), Content-Type
 * application/json. */
extern const char HOLD_BODY[];
extern const size_t HOLD_BODY_LEN;

/* Called on the hold queue's thread when a held request is due: the server hands req back to its HTTP layer
 * (which must then send HOLD_BODY from its own thread). */
typedef void (*hold_due_fn)(void *req);

/* Starts the hold queue's thread: every request put on it is passed to due after hold_ms. Returns 0, or -1. */
int hold_start(long hold_ms, hold_due_fn due);
/* Puts req on the hold queue. Any thread. Requests are due in the order they were put. */
void hold_put(void *req);
/* Blocks until SIGTERM or SIGINT, then stops the hold queue's thread (requests still on it are dropped). Call
 * after printing "ready". */
void hold_wait_for_signal(void);

/* A listening TCP socket on 127.0.0.1:port with SO_REUSEPORT (so each thread may have its own), non-blocking,
 * backlog 4096. Returns the fd, or -1 (reported on stderr). */
int hold_listen(int port);

#endif

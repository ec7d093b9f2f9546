/* server_int.h - the HTTP server's state, shared by its files: answer.c (answers), conn.c (a connection's
 * states) and loop.c (the threads, accepting, timeouts, start and stop). Data and constants only. */
#ifndef LGW_HTTPD_SERVER_INT_H
#define LGW_HTTPD_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"
#include "common/log_limit.h"
#include "httpd/body.h"
#include "httpd/head.h"
#include "httpd/peers.h"
#include "httpd/server.h"

#define SCRATCH_BYTES 16384 /* one read; a larger body arrives in several */
#define EVENTS_MAX 64
#define ACCEPTS_PER_WAKE 64       /* a flood of connections cannot starve the connections already open */
#define ACCEPT_PAUSE_MS 100       /* after running out of file descriptors, before accepting again */
/* Lines a second about accept pauses, all threads together: clients can cause them, for as long as
 * descriptors stay short, and every thread would otherwise say one per pause (10 a second each). */
#define ACCEPT_LOG_PER_SEC 1
#define ERROR_BODY_MAX 512
#define STATUS_LINE_MAX 64
/* A connection closed while its client may still be sending (an answer before the body, a malformed head) is
 * first shut for writing and read to its end, for at most this long and this much: closed at once, with
 * unread bytes, it would send a reset, and the client could lose the answer before reading it. */
#define LINGER_MS 2000
#define LINGER_BYTES (4u << 20)

enum state {
    ST_HEAD,    /* reading a request head (idle between requests too) */
    ST_BODY,    /* reading its body */
    ST_HANDLE,  /* the body is read: the callback answers or suspends */
    ST_WRITE,   /* writing the answer */
    ST_LINGER,  /* answered and shut for writing: what the client still sends is read and dropped */
    ST_CLOSING, /* to be closed by its thread */
};

struct lgw_hresp {
    unsigned status;
    char *fields; /* "Name: value\r\n"... */
    size_t fields_len, fields_cap;
    const char *data; /* buffered answer */
    size_t len;
    bool owns_data;
    lgw_hresp_reader_fn reader; /* streamed answer: non-NULL */
    void *reader_cls;
    size_t block;
    bool close; /* it carries Connection: close */
};

struct hthread;
struct lgw_hconn;

/* A list of connections in the order they were last active (the oldest first), so a timeout looks only at its
 * head. */
struct hlist {
    struct lgw_hconn *head, *tail;
};

struct lgw_hconn {
    struct hthread *t;
    int fd;
    enum state st;
    uint32_t events;  /* what the epoll set waits for on fd; 0: not in it */
    bool suspended;   /* by the callback; the thread does nothing with it until resumed */
    bool resume_queued; /* guarded by the thread's lock */
    bool called;      /* the request callback ran for the current request (so it must complete) */
    bool keep_alive;  /* another request may follow this one's answer */
    bool body_unread; /* answered before its body was read: the connection cannot carry another request */
    bool linger;       /* close through ST_LINGER: the client may still be sending */
    size_t lingered;
    struct lgw_hconn *prev, *next; /* in list: the thread's timed or lingering connections; NULL: neither */
    struct hlist *list;
    struct lgw_hconn *resume_next;
    int64_t active_ms;
    int64_t head_due_ms; /* in ST_HEAD (only): when the head must be whole (head_timeout_ms); 0: no deadline */
    void *conn_ctx, *req_ctx;
    /* in and out are uncapped (max 0), so an append cannot fail (out of memory aborts); conn.c bounds them. */
    struct lgw_buf in; /* bytes not yet taken: a partial head, or what was pipelined behind a request */
    size_t in_scanned; /* how much of a partial head in in was looked through for its end */
    char *head_buf; /* the current request's head, parsed in place */
    size_t head_len;
    struct lgw_http_head head;
    struct lgw_http_body body;
    struct lgw_hresp *resp;
    struct lgw_buf out; /* the answer's bytes being written: status line and fields, then a stream's chunks */
    size_t out_off;     /* of them, written already */
    size_t data_off; /* of a buffered answer's data */
    uint64_t stream_pos;
    bool stream_end; /* the reader said LGW_HRESP_END and the last chunk is in out */
    struct lgw_peer_key peer;
};

struct hthread {
    struct lgw_httpd *d;
    pthread_t tid;
    int ep, wake_fd;
    bool listening; /* the listening socket is in this thread's epoll set */
    int64_t accept_paused_until;
    int64_t heads_checked_ms; /* when the head deadlines were last checked (loop.c) */
    int64_t heads_due_ms;     /* the earliest head deadline of its connections, or earlier; 0: none */
    struct hlist timed;     /* every connection not suspended or lingering: the idle timeout */
    struct hlist lingering; /* ST_LINGER: closed LINGER_MS after they began */
    pthread_mutex_t lock;                 /* guards resumes */
    struct lgw_hconn *resumes;
    char scratch[SCRATCH_BYTES];
    char date[64]; /* the Date field, remade once a second */
    time_t date_at;
    struct lgw_hconn **all; /* every connection of this thread, to close them at stop */
    size_t nall, capall;
};

struct lgw_httpd {
    struct lgw_httpd_options o;
    int listen_fd, port;
    atomic_bool stop, quiesced;
    atomic_uint open;
    struct lgw_peers *peers;
    struct hthread *threads;
    int nthreads;
    struct lgw_log_limit accept_log; /* the accept-pause warning (ACCEPT_LOG_PER_SEC) */
};

/* The reason phrase of a status ("Not Found"; a generic one for a code without its own). answer.c. */
const char *lgw_http_reason(unsigned status);

#endif

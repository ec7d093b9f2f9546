/* server.h - llmgw's HTTP/1.1 server for its public port: epoll threads, requests handed to one callback in
 * steps (the head, each piece of the body, the end), answers from a buffer or streamed from a reader, and a
 * request that waits (for Kafka) suspended with nothing of the connection's but its head kept in memory.
 * A waiting request costs its connection about 0.3 KB plus its head, where libmicrohttpd kept a whole 12 KiB
 * pool resident (docs/PERFORMANCE.md, "Thirteenth pass"); that is why the ingress has its own server.
 *
 * Threads: every callback runs on the connection's thread, except lgw_hconn_resume (any thread). */
#ifndef LGW_HTTPD_SERVER_H
#define LGW_HTTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lgw_httpd;
struct lgw_hconn;
struct lgw_hresp;

enum lgw_hres { LGW_HRES_NO = 0, LGW_HRES_YES = 1 };

/* The request callback, called for one request in steps, always on its connection's thread:
 *  1. once its head is read: *req_ctx is NULL, *upload_size 0 (the callback sets *req_ctx);
 *  2. for each piece of its body: upload (*upload_size bytes), which the callback takes (setting *upload_size to 0);
 *  3. once the body is complete (at once when there is none): *upload_size 0, *req_ctx set.
 * In 3 the callback queues the answer (lgw_hconn_queue) or suspends the connection; resumed, it is called as
 * in 3 again. It may queue an answer in 1 too: the body is then not read, and the connection closes after.
 * LGW_HRES_NO closes the connection at once (the request completes not ok). path is percent-decoded, without
 * the query (lgw_hconn_args). */
typedef enum lgw_hres (*lgw_httpd_request_fn)(void *cls, struct lgw_hconn *c, const char *path, const char *method,
                                              const char *version, const char *upload, size_t *upload_size,
                                              void **req_ctx);
/* A request is over: its answer was written whole (ok), or its connection closed first. Called for every
 * request whose callback ran, once. */
typedef void (*lgw_httpd_completed_fn)(void *cls, struct lgw_hconn *c, void **req_ctx, bool ok);
/* A connection opened (open) or is closing, before its socket is closed (so whoever knows its socket number
 * stops using it first). *conn_ctx is the caller's, NULL at open. */
typedef void (*lgw_httpd_conn_fn)(void *cls, struct lgw_hconn *c, void **conn_ctx, bool open);
/* The body of an answer the server itself gives before any request callback (400, 414, 431, 501, 505):
 * writes at most cap bytes of it to out and returns its length (0: no body), with its Content-Type in
 * *content_type (static). */
typedef size_t (*lgw_httpd_error_fn)(void *cls, int status, char *out, size_t cap, const char **content_type);

struct lgw_httpd_options {
    const char *addr; /* an IPv4 address to listen on */
    int port;         /* 0: any free port (lgw_httpd_port says which) */
    int threads;      /* epoll threads; at least 1 */
    int backlog;
    unsigned max_connections;        /* open at once; past it a new connection is closed at once */
    unsigned max_connections_per_ip; /* from one address; 0: no cap */
    size_t max_head_bytes;           /* a larger request head is answered 431 and the connection closed */
    int64_t idle_timeout_ms;         /* a connection that neither sends nor takes a byte for this long is closed
                                        (not while suspended); 0: never */
    /* A request head must be whole within this long of when the server began to wait for it: the connection's
     * opening, or the end of its previous answer plus idle_timeout_ms (the time a kept-alive client may take
     * to start it). Past it the head is answered 408 (error_body) and the connection closed. The idle timeout
     * alone would let a head trickle in a byte at a time for ever (slowloris). 0: no deadline. */
    int64_t head_timeout_ms;
    lgw_httpd_request_fn request;
    lgw_httpd_completed_fn completed; /* NULL: none */
    lgw_httpd_conn_fn connection;     /* NULL: none */
    lgw_httpd_error_fn error_body;    /* NULL: no body */
    void *cls;                        /* passed to every callback */
};

/* Binds, listens and starts the threads. 0, or an LGW_ERR code (logged). */
int lgw_httpd_start(const struct lgw_httpd_options *o, struct lgw_httpd **out);
/* The port listened on. */
int lgw_httpd_port(const struct lgw_httpd *d);
/* Stops accepting (the listening socket is shut down: new connections are refused at once); connections
 * already open are served on. Any thread; once. */
void lgw_httpd_quiesce(struct lgw_httpd *d);
/* Connections open now. Any thread. */
unsigned lgw_httpd_open_connections(const struct lgw_httpd *d);
/* Stops the threads and closes every connection (requests not over complete not ok). Call with no connection
 * suspended, or one resumed that nobody will resume again. NULL: no-op. */
void lgw_httpd_stop(struct lgw_httpd *d);

/* The request's head: a field's value (first of that name, any case; NULL when absent), every field or every
 * query argument in order (fn returns false to stop; the count visited is returned), and its size in bytes
 * as received (request line, fields and the empty line). From the request callback, or while its request
 * lasts. */
const char *lgw_hconn_header(const struct lgw_hconn *c, const char *name);
size_t lgw_hconn_headers(const struct lgw_hconn *c, bool (*fn)(void *cls, const char *name, const char *value),
                         void *cls);
size_t lgw_hconn_args(const struct lgw_hconn *c, bool (*fn)(void *cls, const char *name, const char *value),
                      void *cls);
size_t lgw_hconn_head_bytes(const struct lgw_hconn *c);
/* The value of the first query argument named name (exact case), or NULL. */
const char *lgw_hconn_arg(const struct lgw_hconn *c, const char *name);
/* The connection's socket (the server owns it). */
int lgw_hconn_fd(const struct lgw_hconn *c);

/* Stops the connection's processing until lgw_hconn_resume: the request callback (or a stream's reader)
 * returns, and nothing is read, written or timed out meanwhile. On its thread, in a callback. */
void lgw_hconn_suspend(struct lgw_hconn *c);
/* Resumes a suspended connection: its thread calls the request callback again (or the stream's reader, for
 * a queued stream). Any thread; once per suspend. */
void lgw_hconn_resume(struct lgw_hconn *c);

/* Answers: from a buffer (COPY: copied now; FREE: the answer takes data, malloc'd; STATIC: data outlives the
 * answer), or streamed from a reader. A reader returns the bytes it wrote to out (at most max), 0 after
 * suspending the connection (no bytes yet: resumed, it is called again), LGW_HRESP_END at the end, or
 * LGW_HRESP_ERROR to close the connection. pos: bytes it gave before. Streams are sent chunked (HTTP/1.1) or
 * closed at their end (HTTP/1.0). Out of memory aborts, as every allocation in llmgw does (common/buf.h). */
enum lgw_hresp_mem { LGW_HRESP_COPY, LGW_HRESP_FREE, LGW_HRESP_STATIC };
#define LGW_HRESP_END ((ssize_t)-1)
#define LGW_HRESP_ERROR ((ssize_t)-2)
typedef ssize_t (*lgw_hresp_reader_fn)(void *cls, uint64_t pos, char *out, size_t max);
struct lgw_hresp *lgw_hresp_buffer(size_t len, const void *data, enum lgw_hresp_mem mem);
struct lgw_hresp *lgw_hresp_stream(size_t block, lgw_hresp_reader_fn reader, void *cls);
/* Adds a header field (copied). Content-Length, Transfer-Encoding and Date are the server's own. 0, or -1
 * for an empty name, a colon in it, or a CR or LF in either string (nothing added). */
int lgw_hresp_header(struct lgw_hresp *r, const char *name, const char *value);
/* Frees an answer never queued. NULL: no-op. */
void lgw_hresp_free(struct lgw_hresp *r);
/* Queues r as the answer to c's request; the connection takes r (freed by it, also on failure). From the
 * request callback. LGW_HRES_NO: an answer is already queued, or the status is not three digits. */
enum lgw_hres lgw_hconn_queue(struct lgw_hconn *c, unsigned status, struct lgw_hresp *r);

#endif

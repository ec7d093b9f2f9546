/* conn_watch.h - the deadline for a request head on every client connection (slowloris). The HTTP server's own
 * timeout is an idle timeout, reset by every byte, so a head trickled a byte at a time would hold a connection
 * slot forever; this watch gives each connection's head a deadline from when the ingress started waiting for it,
 * and a thread of its own answers a late one 408 and closes it. (A body's deadline is checked as its bytes
 * arrive, ingress.c; a body that stops arriving is closed by the idle timeout.) */
#ifndef LGW_INGRESS_CONN_WATCH_H
#define LGW_INGRESS_CONN_WATCH_H

#include <stdint.h>

struct lgw_metrics;
struct lgw_conn_watch;
struct lgw_watched_conn;

/* A watch giving heads head_timeout_ms (a kept-alive connection's next head idle_ms more, the time its client
 * may wait before sending it), counting what it closes in m (borrowed; must outlive the watch). Starts its
 * thread; returns NULL (logged) when it cannot. Free with lgw_conn_watch_free, after the HTTP server stopped. */
struct lgw_conn_watch *lgw_conn_watch_new(int64_t head_timeout_ms, int64_t idle_ms, struct lgw_metrics *m);
/* Stops the thread and frees the watch and any connection still in it. NULL: no-op. */
void lgw_conn_watch_free(struct lgw_conn_watch *w);

/* A connection just accepted on socket fd: its head is due within head_timeout_ms. Returns the connection's
 * entry, owned by the watch until lgw_conn_watch_remove. HTTP threads (the server's connection callback). */
struct lgw_watched_conn *lgw_conn_watch_add(struct lgw_conn_watch *w, int fd);
/* The connection's head arrived: no deadline until lgw_conn_watch_next. HTTP threads. NULL conn: no-op. */
void lgw_conn_watch_head_done(struct lgw_conn_watch *w, struct lgw_watched_conn *conn);
/* The connection's request was answered: a next head is due within idle_ms + head_timeout_ms. HTTP threads.
 * NULL conn: no-op. */
void lgw_conn_watch_next(struct lgw_conn_watch *w, struct lgw_watched_conn *conn);
/* The connection is closing (before the server closes its socket, so the watch never touches a socket
 * number reused by another connection): frees the entry. HTTP threads. NULL conn: no-op. */
void lgw_conn_watch_remove(struct lgw_conn_watch *w, struct lgw_watched_conn *conn);

/* A request body is late (ingress.c checks it as its bytes arrive, and answers it 408 itself: the HTTP server
 * queues an answer mid-body and closes the connection after it): counts it with the late heads. HTTP threads. */
void lgw_conn_watch_body_late(struct lgw_conn_watch *w);

#endif

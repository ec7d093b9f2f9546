/* conn.h - one client connection of the HTTP server: its states from the head to the answer written, the
 * request callback's steps, suspend and resume. loop.c drives it; every function runs on the connection's
 * thread. */
#ifndef LGW_HTTPD_CONN_H
#define LGW_HTTPD_CONN_H

#include <stdint.h>

#include "httpd/server_int.h"

/* A connection accepted on fd (from the address of key, counted already) joins thread t: the connection
 * callback runs and its head is awaited. */
void lgw_hconn_open(struct hthread *t, int fd, const struct lgw_peer_key *key);
/* Handles what epoll reported for c (ev); may close it. */
void lgw_hconn_event(struct lgw_hconn *c, uint32_t ev);
/* c was resumed (taken off its thread's queue): its request callback or its stream's reader is called again;
 * may close it. */
void lgw_hconn_resumed(struct lgw_hconn *c);
/* c's head is past its deadline (head_timeout_ms): it is answered 408 and the connection closed after the
 * answer (lingering, as the client may still be sending); may close it now. */
void lgw_hconn_head_late(struct lgw_hconn *c);
/* Closes c now: its request (if any) completes not ok, the connection callback runs, the socket is closed and
 * c freed. */
void lgw_hconn_close(struct lgw_hconn *c);

#endif

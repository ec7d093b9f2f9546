/* httpd_fixture.h - llmgw's own HTTP server (httpd/server.h) started on 127.0.0.1 for unit tests, with a
 * request callback serving a few routes that exercise its contract, and callbacks that count what the server
 * reports (requests, completions, connections opened and closed) for the test to assert on, and check that
 * every connection's socket has Nagle off.
 *
 * The routes:
 *   /hello?n=N  "hello N"                              /echo       the body it was sent
 *   /park       suspends (parked), then "resumed"       /hold       suspends (parked); resumed, LGW_HRES_NO
 *   /stream     LGW_HFIX_PIECES pieces "partI;", suspending (parked) before each next piece and the end
 *   /endless    a stream without end                    /refuse     LGW_HRES_NO
 *   /early      413 from the head's call, before the body is read
 *   /nocontent  204 (given a body, which must not be sent)
 *   /bye        "bye" with Connection: close            anything else: 404
 * A parked connection is handed to the test (lgw_hfix_parked), which resumes it.
 *
 * Threads: the callbacks run on the server's threads, where a cmocka assertion cannot fail the test: they
 * record under the fixture's lock, and what they found wrong fails the test at lgw_hfix_stop. The rest is
 * for the test's thread. Test-only code. */
#ifndef LGW_TEST_HTTPD_FIXTURE_H
#define LGW_TEST_HTTPD_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "httpd/server.h"
#include "tests/support/http_client.h"

#define LGW_HFIX_PIECES 4
#define LGW_HFIX_PARKED_MAX 16

struct lgw_hfix;

/* One request as the callbacks saw it. Kept until the fixture stops, not freed at its completion, so that
 * a second completion is counted rather than a use after free. Read its fields once its completion was
 * waited for (the fixture's lock orders them after the callbacks that wrote them). */
struct lgw_hfix_req {
    struct lgw_hfix_req *next;
    struct lgw_hfix *fx;
    struct lgw_hconn *conn;
    char path[256], method[16], version[16], n[32], host[64];
    char fields[256]; /* the head's field names, in order, each followed by ';' */
    size_t nargs, nfields, head_bytes;
    struct lgw_buf upload;
    int pieces;        /* body pieces handed to the callback */
    int handle_calls;  /* calls after the body */
    int reads;         /* pieces the stream's reader gave */
    bool suspend_next; /* the stream's reader suspends before its next piece */
    uint64_t pos;      /* bytes the reader gave */
    int completions;
    bool ok;
};

struct lgw_hfix {
    struct lgw_httpd *d;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct lgw_hfix_req *reqs;
    int nreqs; /* request callbacks run for a head */
    struct lgw_hconn *parked[LGW_HFIX_PARKED_MAX];
    int nparked;
    int opens, closes, completed_ok, completed_failed;
    int errors;
    char error[256]; /* the first thing a callback found wrong */
};

/* Starts a server: 2 threads, at most 64 connections, per_ip of them from one address (0: no cap), idle
 * timeout idle_ms (0: none), heads up to max_head bytes, no head deadline, the error body {"status":N} as
 * application/json. */
void lgw_hfix_start_with(struct lgw_hfix *fx, unsigned per_ip, int64_t idle_ms, size_t max_head);
/* The same with no per-address cap and 16 KiB heads, and a head deadline of head_ms (head_timeout_ms). */
void lgw_hfix_start_heads(struct lgw_hfix *fx, int64_t idle_ms, int64_t head_ms);
/* The same with no per-address cap, no idle timeout and 16 KiB heads. */
void lgw_hfix_start(struct lgw_hfix *fx);
/* Stops the server and checks what holds in every test: each request completed exactly once, each
 * connection opened closed once, no callback saw anything wrong. The counts stay readable after. */
void lgw_hfix_stop(struct lgw_hfix *fx);
/* Waits until *count (one of fx's counts) reaches want, eventually; returns it. */
int lgw_hfix_wait(struct lgw_hfix *fx, const int *count, int want);
/* *count now. */
int lgw_hfix_count(struct lgw_hfix *fx, const int *count);
/* Waits until the server says want connections are open, eventually; returns its count. That count drops
 * after the connection callback's close, so this (not closes) says when a slot is free again. */
unsigned lgw_hfix_wait_open(struct lgw_hfix *fx, unsigned want);
/* The next connection a route suspended (the test fails when none comes in time). */
struct lgw_hconn *lgw_hfix_parked(struct lgw_hfix *fx);
/* Opens cl and sends it a GET /park; returns its connection once parked. */
struct lgw_hconn *lgw_hfix_park(struct lgw_hfix *fx, struct lgw_hclient *cl);
/* Sends GET /hello?n=N on cl and checks its answer: 200, "hello N". */
void lgw_hfix_get_hello(struct lgw_hclient *cl, const char *n);
/* The latest request seen for path (the test fails when there is none). */
struct lgw_hfix_req *lgw_hfix_req(struct lgw_hfix *fx, const char *path);

#endif

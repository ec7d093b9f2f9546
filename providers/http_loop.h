/* http_loop.h - one thread that runs many provider HTTP transfers at once: libcurl's multi interface driven
 * by epoll (curl_multi_socket_action), so a worker holds thousands of provider calls in one thread instead
 * of a thread per call, and each wakeup costs what is active, not what is open.
 *
 * Connections and TLS sessions are kept alive and reused per provider host (the multi handle's connection
 * cache, and a share of TLS sessions and DNS), with a cap per host and in all, so one slow provider cannot
 * take every connection; transfers past a cap wait inside libcurl for a connection.
 *
 * Threads: everything about a transfer happens on the loop's thread: starting it, its callbacks (headers,
 * data, completion), timers, pausing and aborting it. Other threads hand work to the loop with
 * lgw_http_loop_post, which is thread-safe (as are new/free and lgw_http_loop_running). */
#ifndef LGW_HTTP_LOOP_H
#define LGW_HTTP_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "providers/http.h"

struct lgw_http_loop;
struct lgw_http_xfer;

struct lgw_http_loop_opts {
    long max_host_connections; /* open connections to one host (CURLMOPT_MAX_HOST_CONNECTIONS); 0: no cap */
    long max_connections;      /* open connections in all (CURLMOPT_MAX_TOTAL_CONNECTIONS); 0: no cap */
    long max_idle_connections; /* idle connections kept for reuse (CURLMOPT_MAXCONNECTS) */
};

/* A task run on the loop thread. */
typedef void (*lgw_http_task_cb)(void *opaque);
/* A transfer's end, on the loop thread: rc as lgw_http_transfer_result says, resp filled (the caller's).
 * The transfer is gone when this runs. */
typedef void (*lgw_http_done_cb)(void *opaque, int rc);

/* Starts the loop's thread. *out is owned by the caller (lgw_http_loop_free). Returns 0 or LGW_ERR(INTERNAL). */
int lgw_http_loop_new(const struct lgw_http_loop_opts *opts, struct lgw_http_loop **out);
/* Stops the loop: from then on lgw_http_loop_start fails; running transfers are aborted (their done
 * callbacks run with LGW_ERR(UNAVAILABLE)); queued tasks all run, at once, until none is left; then the
 * thread exits and everything is freed. Call from a thread that is not the loop's. NULL is a no-op. */
void lgw_http_loop_free(struct lgw_http_loop *loop);

/* Runs cb(opaque) on the loop thread after delay_ms (0: soon). Tasks due at the same time run in the order
 * they were posted. Any thread; never fails (the task runs even while the loop stops). */
void lgw_http_loop_post(struct lgw_http_loop *loop, int64_t delay_ms, lgw_http_task_cb cb, void *opaque);

/* Starts a POST described by req (its url, headers and body must stay valid until done runs; on_data, when
 * set, runs on the loop thread and may return LGW_HTTP_PAUSE). resp is the caller's, initialised here and
 * filled as the answer arrives. done runs exactly once, later, on the loop thread. Returns the transfer, or
 * NULL when it could not start (the loop is stopping, or the URL is not allowed: *rc says; done never
 * runs). Loop thread only. */
struct lgw_http_xfer *lgw_http_loop_start(struct lgw_http_loop *loop, const struct lgw_http_req *req,
                                          struct lgw_http_resp *resp, lgw_http_done_cb done, void *opaque,
                                          int *rc);
/* Removes a running transfer from the loop at once; its done runs now, with rc. Loop thread only. */
void lgw_http_loop_abort(struct lgw_http_loop *loop, struct lgw_http_xfer *x, int rc);
/* Resumes a transfer whose on_data returned LGW_HTTP_PAUSE. Loop thread only. */
void lgw_http_loop_unpause(struct lgw_http_loop *loop, struct lgw_http_xfer *x);

/* Transfers running now (started, done not yet run). Any thread. */
size_t lgw_http_loop_running(const struct lgw_http_loop *loop);
/* True on the loop's own thread. */
bool lgw_http_loop_on_thread(const struct lgw_http_loop *loop);

#endif

/* test_http_loop.c - the transfer loop (providers/http_loop.c) against a local HTTP server: tasks in due
 * order from any thread, many transfers at once on one thread, abort, pause/unpause, and a stop that ends
 * every running transfer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "providers/http.h"
#include "providers/http_loop.h"

/* ---- a local server: POST /fast answers at once; POST /slow streams 5 pieces 100 ms apart */

static atomic_int server_closed_early;
static atomic_int slow_active, slow_max; /* /slow answers being sent now, and the most at once */

static ssize_t slow_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)max;
    long step = (long)(pos / 8);
    if (step >= 5)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (step == 0) {
        int now = atomic_fetch_add(&slow_active, 1) + 1, seen = atomic_load(&slow_max);
        while (now > seen && !atomic_compare_exchange_weak(&slow_max, &seen, now))
            ;
    }
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    snprintf(buf, 9, "piece-%d\n", (int)step); /* 8 bytes a piece */
    return 8;
}

static void slow_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    if (*con_cls == (void *)2)
        atomic_fetch_sub(&slow_active, 1);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        atomic_fetch_add(&server_closed_early, 1);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)method;
    (void)version;
    (void)upload;
    if (!*con_cls) { /* first call: headers only */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *resp;
    if (strcmp(url, "/slow") == 0) {
        *con_cls = (void *)2; /* counted in slow_active from its first piece until it completes */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, slow_reader, NULL, NULL);
    }
    else
        resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result r = MHD_queue_response(conn, 200, resp);
    MHD_destroy_response(resp);
    return r;
}

static struct MHD_Daemon *server;
static int port;

static int setup(void **state)
{
    (void)state;
    assert_int_equal(lgw_http_global_init(), 0);
    server = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
                              NULL, NULL, answer, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)2000,
                              MHD_OPTION_NOTIFY_COMPLETED, slow_done, NULL, MHD_OPTION_END);
    assert_non_null(server);
    port = MHD_get_daemon_info(server, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(server);
    return 0;
}

static struct lgw_http_loop *new_loop(void)
{
    struct lgw_http_loop_opts opts = {.max_host_connections = 1000, .max_connections = 2000,
                                      .max_idle_connections = 64};
    struct lgw_http_loop *loop;
    assert_int_equal(lgw_http_loop_new(&opts, &loop), 0);
    return loop;
}

/* Waits (bounded) until *flag reaches want. */
static void wait_for(atomic_int *flag, int want)
{
    for (int i = 0; i < 1000 && atomic_load(flag) < want; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(flag), want);
}

/* ---- tasks */

static int order[8];
static atomic_int norder;

/* Tasks run on the loop's one thread, so only it writes; the count goes up after the slot is written (a
 * release store), so the test thread that sees the count also sees every slot below it. Taking the slot with
 * a fetch_add first and writing it after raced with that reader (ThreadSanitizer). */
static void record(void *opaque)
{
    int i = atomic_load_explicit(&norder, memory_order_relaxed);
    order[i] = (int)(intptr_t)opaque;
    atomic_store_explicit(&norder, i + 1, memory_order_release);
}

static void test_tasks_run_in_due_order(void **state)
{
    (void)state;
    struct lgw_http_loop *loop = new_loop();
    atomic_store(&norder, 0);
    int64_t t0 = lgw_mono_ms();
    lgw_http_loop_post(loop, 60, record, (void *)3);
    lgw_http_loop_post(loop, 30, record, (void *)2);
    lgw_http_loop_post(loop, 0, record, (void *)0);
    lgw_http_loop_post(loop, 0, record, (void *)1); /* same due time: post order */
    wait_for(&norder, 4);
    assert_true(lgw_mono_ms() - t0 >= 60);
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], i);
    lgw_http_loop_free(loop);
}

/* A task never runs before its delay has passed, to the microsecond: the simulated provider paces its chunks
 * by these delays, and a millisecond clock ran some of them up to 1 ms early (a 7.3 ms gap for 8 ms). Each
 * run posts the next from the loop thread, mid-millisecond, as the provider does. */
#define EARLY_RUNS 60
#define EARLY_DELAY_MS 2

static int64_t posted_us;
static int64_t shortest_us = INT64_MAX;
static atomic_int nearly;

static void rearm(void *opaque)
{
    struct lgw_http_loop *loop = opaque;
    int64_t now = lgw_mono_us();
    if (posted_us && now - posted_us < shortest_us)
        shortest_us = now - posted_us;
    if (atomic_load(&nearly) + 1 < EARLY_RUNS) {
        posted_us = lgw_mono_us();
        lgw_http_loop_post(loop, EARLY_DELAY_MS, rearm, loop);
    }
    atomic_fetch_add_explicit(&nearly, 1, memory_order_release);
}

static void nothing(void *opaque)
{
    (void)opaque;
}

static void test_tasks_never_run_early(void **state)
{
    (void)state;
    struct lgw_http_loop *loop = new_loop();
    atomic_store(&nearly, 0);
    posted_us = 0;
    shortest_us = INT64_MAX;
    lgw_http_loop_post(loop, 0, rearm, loop);
    /* Other threads' posts wake the loop every 100 us meanwhile, as a busy worker's would: a wake just after a
     * millisecond boundary is when a millisecond clock ran a task early. */
    for (int i = 0; i < 20000 && atomic_load_explicit(&nearly, memory_order_acquire) < EARLY_RUNS; i++) {
        lgw_http_loop_post(loop, 0, nothing, NULL);
        struct timespec ts = {0, 100 * 1000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&nearly), EARLY_RUNS);
    lgw_http_loop_free(loop);
    if (shortest_us < EARLY_DELAY_MS * 1000)
        fail_msg("a task posted %d ms ahead ran after %lld us", EARLY_DELAY_MS, (long long)shortest_us);
}

/* ---- transfers */

struct call {
    struct lgw_http_loop *loop;
    char url[128];
    struct lgw_http_req req;
    struct lgw_http_resp resp;
    struct lgw_http_xfer *x;
    struct lgw_buf got; /* streamed bytes */
    int rc;
    int pauses;         /* on_data says "pause" this many times first */
    bool abort_at_first;
    atomic_int *ended;
};

static void call_done(void *opaque, int rc)
{
    struct call *c = opaque;
    c->rc = rc;
    c->x = NULL;
    atomic_fetch_add(c->ended, 1);
}

static void unpause_task(void *opaque)
{
    struct call *c = opaque;
    if (c->x)
        lgw_http_loop_unpause(c->loop, c->x);
}

static void abort_task(void *opaque)
{
    struct call *c = opaque;
    if (c->x)
        lgw_http_loop_abort(c->loop, c->x, LGW_ERR(UNAVAILABLE));
}

static int on_data(void *opaque, const char *data, size_t len)
{
    struct call *c = opaque;
    if (c->pauses > 0) {
        c->pauses--;
        lgw_http_loop_post(c->loop, 50, unpause_task, c);
        return LGW_HTTP_PAUSE;
    }
    lgw_buf_append(&c->got, data, len);
    if (c->abort_at_first)
        lgw_http_loop_post(c->loop, 0, abort_task, c);
    return 0;
}

static void start_task(void *opaque)
{
    struct call *c = opaque;
    int rc;
    c->x = lgw_http_loop_start(c->loop, &c->req, &c->resp, call_done, c, &rc);
    if (!c->x)
        call_done(c, rc);
}

static void init_call(struct call *c, struct lgw_http_loop *loop, const char *path, bool stream, atomic_int *ended)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->ended = ended;
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:%d%s", port, path);
    lgw_buf_init(&c->got, 0);
    c->req = (struct lgw_http_req){.url = c->url, .body = "{}", .body_len = 2, .connect_timeout_ms = 5000,
                                   .timeout_ms = 10000, .max_bytes = 65536, .on_data = stream ? on_data : NULL,
                                   .opaque = c};
}

static void cleanup_call(struct call *c)
{
    lgw_http_resp_cleanup(&c->resp);
    lgw_buf_cleanup(&c->got);
}

static void test_many_transfers_on_one_thread(void **state)
{
    (void)state;
    enum { N = 300 };
    static struct call calls[N];
    atomic_int ended = 0;
    struct lgw_http_loop *loop = new_loop();
    for (int i = 0; i < N; i++) {
        init_call(&calls[i], loop, i % 3 ? "/fast" : "/slow", i % 3 == 0, &ended);
        lgw_http_loop_post(loop, 0, start_task, &calls[i]);
    }
    wait_for(&ended, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].rc, 0);
        assert_int_equal(calls[i].resp.status, 200);
        if (i % 3)
            assert_memory_equal(calls[i].resp.body.ptr, "ok", 2);
        else
            assert_string_equal(calls[i].got.ptr, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
        cleanup_call(&calls[i]);
    }
    assert_int_equal(lgw_http_loop_running(loop), 0);
    lgw_http_loop_free(loop);
}

static void test_pause_and_unpause_keep_every_byte(void **state)
{
    (void)state;
    atomic_int ended = 0;
    struct call c;
    struct lgw_http_loop *loop = new_loop();
    init_call(&c, loop, "/slow", true, &ended);
    c.pauses = 3;
    lgw_http_loop_post(loop, 0, start_task, &c);
    wait_for(&ended, 1);
    assert_int_equal(c.rc, 0);
    assert_int_equal(c.pauses, 0);
    assert_string_equal(c.got.ptr, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
    cleanup_call(&c);
    lgw_http_loop_free(loop);
}

static void test_abort_removes_the_transfer_at_once(void **state)
{
    (void)state;
    atomic_int ended = 0;
    struct call c;
    int closed = atomic_load(&server_closed_early);
    struct lgw_http_loop *loop = new_loop();
    init_call(&c, loop, "/slow", true, &ended);
    c.abort_at_first = true;
    lgw_http_loop_post(loop, 0, start_task, &c);
    wait_for(&ended, 1);
    assert_int_equal(c.rc, LGW_ERR(UNAVAILABLE));
    assert_string_equal(c.got.ptr, "piece-0\n"); /* nothing after the abort */
    assert_int_equal(lgw_http_loop_running(loop), 0);
    /* The server sees its connection go (within its next write). */
    int target = closed + 1;
    for (int i = 0; i < 200 && atomic_load(&server_closed_early) < target; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(atomic_load(&server_closed_early) >= target);
    cleanup_call(&c);
    lgw_http_loop_free(loop);
}

static void test_stop_ends_running_transfers(void **state)
{
    (void)state;
    enum { N = 20 };
    static struct call calls[N];
    atomic_int ended = 0;
    struct lgw_http_loop *loop = new_loop();
    for (int i = 0; i < N; i++) {
        init_call(&calls[i], loop, "/slow", true, &ended);
        lgw_http_loop_post(loop, 0, start_task, &calls[i]);
    }
    for (int i = 0; i < 100 && lgw_http_loop_running(loop) < N; i++) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    lgw_http_loop_free(loop); /* every done runs, with UNAVAILABLE, before free returns */
    assert_int_equal(atomic_load(&ended), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].rc, LGW_ERR(UNAVAILABLE));
        cleanup_call(&calls[i]);
    }
}

static void test_url_not_allowed_is_refused(void **state)
{
    (void)state;
    atomic_int ended = 0;
    struct call c;
    struct lgw_http_loop *loop = new_loop();
    init_call(&c, loop, "/fast", false, &ended);
    snprintf(c.url, sizeof(c.url), "http://example.com:%d/fast", port); /* plain HTTP off loopback */
    lgw_http_loop_post(loop, 0, start_task, &c);
    wait_for(&ended, 1);
    assert_int_equal(c.rc, LGW_ERR(CONFIG));
    cleanup_call(&c);
    lgw_http_loop_free(loop);
}

/* Connections are kept alive and reused: ten transfers one after the other open one connection. */
static void test_connections_are_reused(void **state)
{
    (void)state;
    atomic_int ended = 0;
    struct call c;
    long opened = 0;
    struct lgw_http_loop *loop = new_loop();
    for (int i = 0; i < 10; i++) {
        init_call(&c, loop, "/fast", false, &ended);
        lgw_http_loop_post(loop, 0, start_task, &c);
        wait_for(&ended, i + 1);
        assert_int_equal(c.rc, 0);
        opened += c.resp.new_connections;
        cleanup_call(&c);
    }
    assert_int_equal(opened, 1);
    lgw_http_loop_free(loop);
}

/* The per-host cap: six slow streams to one host never hold more than two connections at once (the others
 * wait in the loop), while a call to another host is not held up by them. */
static void test_per_host_cap(void **state)
{
    (void)state;
    enum { N = 6 };
    static struct call slow[N];
    struct call other;
    atomic_int ended = 0, other_ended = 0;
    struct lgw_http_loop_opts opts = {.max_host_connections = 2, .max_connections = 100, .max_idle_connections = 8};
    struct lgw_http_loop *loop;
    assert_int_equal(lgw_http_loop_new(&opts, &loop), 0);
    /* Streams cut by earlier tests leave the server's count when it notices (at its next write). */
    for (int i = 0; i < 200 && atomic_load(&slow_active) > 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(atomic_load(&slow_active), 0);
    atomic_store(&slow_max, 0);
    for (int i = 0; i < N; i++) {
        init_call(&slow[i], loop, "/slow", true, &ended);
        lgw_http_loop_post(loop, 0, start_task, &slow[i]);
    }
    init_call(&other, loop, "/fast", false, &other_ended);
    snprintf(other.url, sizeof(other.url), "http://localhost:%d/fast", port); /* another host name */
    lgw_http_loop_post(loop, 0, start_task, &other);
    wait_for(&other_ended, 1);
    assert_int_equal(other.rc, 0);
    assert_true(atomic_load(&ended) < N); /* the slow ones were still waiting their turn */
    wait_for(&ended, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(slow[i].rc, 0);
        assert_string_equal(slow[i].got.ptr, "piece-0\npiece-1\npiece-2\npiece-3\npiece-4\n");
        cleanup_call(&slow[i]);
    }
    assert_int_equal(atomic_load(&slow_max), 2);
    cleanup_call(&other);
    lgw_http_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tasks_run_in_due_order),
        cmocka_unit_test(test_tasks_never_run_early),
        cmocka_unit_test(test_many_transfers_on_one_thread),
        cmocka_unit_test(test_pause_and_unpause_keep_every_byte),
        cmocka_unit_test(test_abort_removes_the_transfer_at_once),
        cmocka_unit_test(test_stop_ends_running_transfers),
        cmocka_unit_test(test_url_not_allowed_is_refused),
        cmocka_unit_test(test_connections_are_reused),
        cmocka_unit_test(test_per_host_cap),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

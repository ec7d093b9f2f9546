/* test_conn_watch.c - the request-head deadline (ingress/conn_watch.c) on socket pairs: a connection whose head
 * is late gets an OpenAI-shaped 408 and its socket shut down, and is counted; one whose head arrived is left
 * alone until its answer starts the next head's deadline (idle time plus head time); a removed one is never
 * touched; a late body gets the body's 408. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/metrics.h"
#include "ingress/conn_watch.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* What the peer end received within wait_ms, NUL-terminated in buf; *eof says whether the stream ended. */
static size_t received(int fd, char *buf, size_t cap, int wait_ms, bool *eof)
{
    size_t len = 0;
    *eof = false;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (len + 1 < cap && poll(&p, 1, wait_ms) == 1) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n <= 0) {
            *eof = n == 0;
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static int64_t timeouts(struct lgw_metrics *m, const char *phase)
{
    char labels[32];
    snprintf(labels, sizeof(labels), "phase=\"%s\"", phase);
    return lgw_metrics_value(m, "llmgw_http_read_timeouts_total", labels);
}

static void test_late_head_gets_408_and_close(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_conn_watch *w = lgw_conn_watch_new(100, 60000, m);
    assert_non_null(w);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct lgw_watched_conn *conn = lgw_conn_watch_add(w, sv[0]);
    char buf[1024];
    bool eof;
    received(sv[1], buf, sizeof(buf), 2000, &eof);
    assert_true(eof);
    assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr(buf, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(buf, "\"code\":\"request_timeout\""));
    assert_non_null(strstr(buf, "\"type\":\"timeout_error\""));
    assert_int_equal(timeouts(m, "head"), 1);
    /* Expired once: the entry stays (the HTTP server removes it when it closes) but is not expired again. */
    sleep_ms(300);
    assert_int_equal(timeouts(m, "head"), 1);
    lgw_conn_watch_remove(w, conn);
    close(sv[0]);
    close(sv[1]);
    lgw_conn_watch_free(w);
    lgw_metrics_free(m);
}

static void test_head_done_then_next_deadline(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_conn_watch *w = lgw_conn_watch_new(100, 200, m);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct lgw_watched_conn *conn = lgw_conn_watch_add(w, sv[0]);
    lgw_conn_watch_head_done(w, conn); /* its head arrived: no deadline while it is served */
    char buf[1024];
    bool eof;
    assert_int_equal(received(sv[1], buf, sizeof(buf), 500, &eof), 0);
    assert_false(eof);
    /* Answered: the next head is due within idle (200) + head (100) ms, not sooner than the idle time. */
    lgw_conn_watch_next(w, conn);
    assert_int_equal(received(sv[1], buf, sizeof(buf), 150, &eof), 0);
    assert_false(eof);
    received(sv[1], buf, sizeof(buf), 3000, &eof);
    assert_true(eof);
    assert_non_null(strstr(buf, "408"));
    lgw_conn_watch_remove(w, conn);
    close(sv[0]);
    close(sv[1]);
    lgw_conn_watch_free(w);
    lgw_metrics_free(m);
}

static void test_removed_is_never_touched(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_conn_watch *w = lgw_conn_watch_new(100, 100, m);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct lgw_watched_conn *a = lgw_conn_watch_add(w, sv[0]);
    struct lgw_watched_conn *b = lgw_conn_watch_add(w, -1); /* middle of the list, removed at once */
    struct lgw_watched_conn *c = lgw_conn_watch_add(w, -1);
    lgw_conn_watch_remove(w, b);
    lgw_conn_watch_remove(w, a);
    lgw_conn_watch_remove(w, c);
    char buf[64];
    bool eof;
    assert_int_equal(received(sv[1], buf, sizeof(buf), 500, &eof), 0);
    assert_false(eof);
    assert_int_equal(timeouts(m, "head"), 0);
    close(sv[0]);
    close(sv[1]);
    lgw_conn_watch_free(w);
    lgw_metrics_free(m);
}

static void test_late_body(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_conn_watch *w = lgw_conn_watch_new(60000, 60000, m);
    assert_int_equal(timeouts(m, "body"), 0);
    lgw_conn_watch_body_late(w); /* counted; the answer is the ingress's (ingress.c) */
    assert_int_equal(timeouts(m, "body"), 1);
    assert_int_equal(timeouts(m, "head"), 0);
    lgw_conn_watch_free(w);
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_head_gets_408_and_close),
        cmocka_unit_test(test_head_done_then_next_deadline),
        cmocka_unit_test(test_removed_is_never_touched),
        cmocka_unit_test(test_late_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

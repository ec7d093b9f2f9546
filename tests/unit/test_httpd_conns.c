/* test_httpd_conns.c - the HTTP/1.1 server's (httpd/server.h) connections over time, over real sockets on
 * 127.0.0.1: requests suspended and resumed from another thread (with a request pipelined behind), streamed
 * answers whose reader waits, clients that go away while their request waits or mid-stream, the completed and
 * connection callbacks' counts, the per-address cap, the idle timeout, the head deadline, quiesce. Every wait
 * is "eventually, within LGW_HCLIENT_WAIT_MS": nothing here asserts how fast anything happens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "httpd/server.h"
#include "tests/support/http_client.h"
#include "tests/support/httpd_fixture.h"

static void test_suspend_resume(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    struct lgw_hconn *c = lgw_hfix_park(&fx, &cl);
    assert_true(lgw_hclient_quiet(&cl, 200)); /* not answered while suspended */
    assert_int_equal(lgw_hfix_count(&fx, &fx.completed_ok), 0);
    lgw_hconn_resume(c); /* from the test's thread: not the connection's */
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "resumed");
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    assert_int_equal(lgw_hfix_req(&fx, "/park")->handle_calls, 2);
    lgw_hfix_get_hello(&cl, "2"); /* and the connection goes on */
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

/* A request pipelined behind one that waits suspended is answered after it, in order. */
static void test_pipelined_behind_suspended(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /park HTTP/1.1\r\nHost: t\r\n\r\nGET /hello?n=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    struct lgw_hconn *c = lgw_hfix_parked(&fx);
    assert_true(lgw_hclient_quiet(&cl, 200));
    assert_int_equal(lgw_hfix_count(&fx, &fx.nreqs), 1); /* the second waits for the first's answer */
    lgw_hconn_resume(c);
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "resumed");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "hello 2");
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 2), 2);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
}

/* A streamed answer whose reader suspends between pieces: each piece reaches the client while the stream
 * waits, framed as chunks, and the last chunk follows the reader's end. */
static void test_stream_suspended(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 0; i < LGW_HFIX_PIECES; i++) {
        struct lgw_hconn *c = lgw_hfix_parked(&fx);
        char piece[32];
        snprintf(piece, sizeof(piece), "part%d;", i);
        if (!lgw_hclient_wait_for(&cl, piece))
            fail_msg("%s did not come while the stream waited", piece);
        lgw_hconn_resume(c);
    }
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_true(a.chunked);
    assert_null(lgw_hanswer_field(&a, "Content-Length"));
    assert_true(a.last_chunk);
    assert_string_equal(lgw_hanswer_body(&a), "part0;part1;part2;part3;");
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    lgw_hfix_get_hello(&cl, "2"); /* the connection goes on after the last chunk */
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
    assert_int_equal(fx.completed_failed, 0);
}

/* HTTP/1.0 has no chunks: the stream is sent as it is and ends with the connection. */
static void test_stream_http10(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    for (int i = 0; i < LGW_HFIX_PIECES; i++)
        lgw_hconn_resume(lgw_hfix_parked(&fx));
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_false(a.chunked);
    assert_null(lgw_hanswer_field(&a, "Content-Length"));
    assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
    assert_string_equal(lgw_hanswer_body(&a), "part0;part1;part2;part3;");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    lgw_hfix_stop(&fx);
}

/* The client goes away while its request waits suspended; nobody resumes it, and stopping the server
 * completes it, not ok. */
static void test_disconnect_while_suspended(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /hold HTTP/1.1\r\nHost: t\r\n\r\n");
    lgw_hfix_parked(&fx);
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_count(&fx, &fx.completed_failed), 0);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_failed, 1);
    assert_int_equal(fx.completed_ok, 0);
    assert_int_equal(fx.closes, 1);
}

/* The client goes away in the middle of a stream: the request completes not ok, without the server stopping. */
static void test_close_mid_stream(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /endless HTTP/1.1\r\nHost: t\r\n\r\n");
    int64_t deadline = lgw_mono_ms() + LGW_HCLIENT_WAIT_MS;
    while (cl.len < 100000)
        if (lgw_hclient_fill(&cl, deadline) != 1)
            fail_msg("the endless stream stopped after %zu bytes", cl.len);
    assert_memory_equal(cl.buf, "HTTP/1.1 200 OK\r\n", 17);
    lgw_hclient_close(&cl); /* with bytes unread: a reset */
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_failed, 1), 1);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 1), 1);
    assert_int_equal(lgw_hfix_wait_open(&fx, 0), 0);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 0);
}

/* LGW_HRES_NO closes the connection at once; the request completes not ok. */
static void test_callback_refuses(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /refuse HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(lgw_hclient_closed(&cl));
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_failed, 1), 1);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 0);
}

static void test_connection_counts(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl[5];
    for (int i = 0; i < 5; i++) {
        lgw_hclient_open(&cl[i], fx.port);
        lgw_hfix_get_hello(&cl[i], "1");
    }
    assert_int_equal(lgw_hfix_count(&fx, &fx.opens), 5);
    assert_int_equal(lgw_httpd_open_connections(fx.d), 5);
    for (int i = 0; i < 3; i++)
        lgw_hclient_close(&cl[i]);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 3), 3);
    assert_int_equal(lgw_hfix_wait_open(&fx, 2), 2);
    /* The two still open are closed by the server's stop. */
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.opens, 5);
    assert_int_equal(fx.closes, 5);
    for (int i = 3; i < 5; i++) {
        assert_true(lgw_hclient_closed(&cl[i]));
        lgw_hclient_close(&cl[i]);
    }
}

static void test_per_ip_cap(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start_with(&fx, 2, 0, 16384);
    struct lgw_hclient a, b, c;
    lgw_hclient_open(&a, fx.port);
    lgw_hfix_get_hello(&a, "1");
    lgw_hclient_open(&b, fx.port);
    lgw_hfix_get_hello(&b, "2");
    /* A third from the same address: accepted by the kernel, then closed at once by the server. */
    lgw_hclient_open(&c, fx.port);
    assert_true(lgw_hclient_closed(&c));
    lgw_hclient_close(&c);
    assert_int_equal(lgw_hfix_count(&fx, &fx.opens), 2);
    /* One of the two closes: its slot is free again. */
    lgw_hclient_close(&a);
    assert_int_equal(lgw_hfix_wait_open(&fx, 1), 1);
    lgw_hclient_open(&c, fx.port);
    lgw_hfix_get_hello(&c, "3");
    assert_int_equal(lgw_hfix_count(&fx, &fx.opens), 3);
    lgw_hfix_get_hello(&b, "4");
    lgw_hclient_close(&b);
    lgw_hclient_close(&c);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 4);
}

static void test_idle_timeout(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start_with(&fx, 0, 1000, 16384); /* long enough that a slow machine still sends in time */
    /* A request waiting suspended is not timed out, however long it waits. */
    struct lgw_hclient waiting;
    struct lgw_hconn *parked = lgw_hfix_park(&fx, &waiting);
    /* A connection that never sends is closed. */
    struct lgw_hclient silent;
    lgw_hclient_open(&silent, fx.port);
    assert_true(lgw_hclient_closed(&silent));
    lgw_hclient_close(&silent);
    /* So is one idle after its answer. */
    struct lgw_hclient served;
    lgw_hclient_open(&served, fx.port);
    lgw_hfix_get_hello(&served, "1");
    assert_true(lgw_hclient_closed(&served));
    lgw_hclient_close(&served);
    assert_true(lgw_hclient_quiet(&waiting, 2500)); /* over two idle timeouts more */
    lgw_hconn_resume(parked);
    struct lgw_hanswer a;
    lgw_hclient_read(&waiting, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "resumed");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&waiting)); /* and idle after it */
    lgw_hclient_close(&waiting);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 3), 3);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

/* Sends a head that never ends a byte at a time, one every 20 ms (each in time for any idle timeout), until
 * an answer starts to arrive; returns how long that took (ms). */
static int64_t trickle_until_answered(struct lgw_hclient *cl)
{
    static const char line[] = "X-Slow: a\r\n";
    int64_t start = lgw_mono_ms();
    for (size_t i = 0; lgw_mono_ms() - start < LGW_HCLIENT_WAIT_MS; i++) {
        lgw_hclient_send(cl, line + i % (sizeof(line) - 1), 1);
        if (lgw_hclient_fill(cl, lgw_mono_ms() + 20) != -1)
            return lgw_mono_ms() - start;
    }
    fail_msg("no answer to a head trickled for %d ms", LGW_HCLIENT_WAIT_MS);
    return -1;
}

/* The head deadline (head_timeout_ms): a head trickled past it is answered 408 (the error body) and the
 * connection closed, however busy its bytes keep the idle timeout; a head that is whole in time is served;
 * after an answer the next head may take the idle time plus the head time; a request past its head (waiting
 * suspended, or sending its body) is not cut by it. */
static void test_head_deadline(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start_heads(&fx, 1500, 300);
    struct lgw_hclient waiting;
    struct lgw_hconn *parked = lgw_hfix_park(&fx, &waiting);
    /* A body trickled after a whole head is not the head deadline's business. */
    struct lgw_hclient body;
    lgw_hclient_open(&body, fx.port);
    lgw_hclient_sends(&body, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\n");

    struct lgw_hclient slow;
    lgw_hclient_open(&slow, fx.port);
    lgw_hclient_sends(&slow, "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n");
    int64_t took = trickle_until_answered(&slow);
    assert_true(took >= 300); /* never before its deadline (the clock only says "not early") */
    struct lgw_hanswer a;
    lgw_hclient_read(&slow, &a, false);
    assert_int_equal(a.status, 408);
    assert_string_equal(lgw_hanswer_body(&a), "{\"status\":408}");
    assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&slow));
    lgw_hclient_close(&slow);

    /* Served: the first head in time; then the next, started at once and trickled for longer than the head
     * time alone (700 ms > 300) but within the idle time plus it. */
    struct lgw_hclient kept;
    lgw_hclient_open(&kept, fx.port);
    lgw_hfix_get_hello(&kept, "1");
    static const char next[] = "GET /hello?n=2 HTTP/1.1\r\nHost: t\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    int64_t start = lgw_mono_ms();
    for (size_t i = 0; i < sizeof(next) - 1; i++) {
        lgw_hclient_send(&kept, next + i, 1);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    int64_t trickled = lgw_mono_ms() - start;
    lgw_hclient_sends(&kept, "\r\n");
    lgw_hclient_read(&kept, &a, false);
    if (trickled < 1500 + 300) /* a machine that stalled the test past the deadline proves nothing here */
        assert_int_equal(a.status, 200);
    lgw_hanswer_cleanup(&a);
    lgw_hclient_close(&kept);

    /* Long past the head time: the waiting request and the trickled body are still open. */
    assert_true(lgw_hclient_quiet(&waiting, 200));
    lgw_hclient_sends(&body, "0123456789012345678901234567890123456789");
    lgw_hclient_read(&body, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "0123456789012345678901234567890123456789");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_close(&body);
    lgw_hconn_resume(parked);
    lgw_hclient_read(&waiting, &a, false);
    assert_int_equal(a.status, 200);
    lgw_hanswer_cleanup(&a);
    lgw_hclient_close(&waiting);
    lgw_hfix_stop(&fx);
}

static void test_quiesce(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hfix_get_hello(&cl, "1");
    lgw_httpd_quiesce(fx.d);
    /* New connections are refused at once: the listening socket is shut, so connect itself fails. */
    int fd = lgw_hclient_connect(fx.port);
    if (fd >= 0)
        close(fd);
    assert_true(fd < 0);
    /* The connection already open is still served. */
    lgw_hfix_get_hello(&cl, "3");
    lgw_hfix_get_hello(&cl, "4");
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.opens, 1);
    assert_int_equal(fx.completed_ok, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suspend_resume),
        cmocka_unit_test(test_pipelined_behind_suspended),
        cmocka_unit_test(test_stream_suspended),
        cmocka_unit_test(test_stream_http10),
        cmocka_unit_test(test_disconnect_while_suspended),
        cmocka_unit_test(test_close_mid_stream),
        cmocka_unit_test(test_callback_refuses),
        cmocka_unit_test(test_connection_counts),
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_head_deadline),
        cmocka_unit_test(test_quiesce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

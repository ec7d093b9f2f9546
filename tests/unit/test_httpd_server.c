/* test_httpd_server.c - the HTTP/1.1 server (httpd/server.h) answering over real sockets on 127.0.0.1: buffered
 * answers and their fields, keep-alive and pipelining, bodies by length and chunked, 100 Continue, an answer
 * before the body, HEAD, 204, HTTP/1.0, and the server's own refusals (400, 431, 501, 505) with the error body
 * callback's body. Connections over time (suspend, streams, caps, timeouts) are test_httpd_conns.c's. The
 * server, its routes and its counts are tests/support/httpd_fixture.h's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include "common/clock.h"
#include "httpd/server.h"
#include "httpd/server_int.h" /* an answer's field text, checked as written */
#include "tests/support/http_client.h"
#include "tests/support/httpd_fixture.h"

static void test_get_buffered(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    static const char req[] = "GET /hello?n=1&x=a+b HTTP/1.1\r\nHost: test.example\r\nX-Req: v\r\n\r\n";
    lgw_hclient_sends(&cl, req);
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_memory_equal(a.head, "HTTP/1.1 200 OK\r\n", 17);
    assert_string_equal(lgw_hanswer_field(&a, "Content-Length"), "7");
    assert_string_equal(lgw_hanswer_field(&a, "Content-Type"), "text/plain");
    assert_string_equal(lgw_hanswer_field(&a, "X-Test"), "yes");
    const char *date = lgw_hanswer_field(&a, "Date"); /* "Sat, 05 Dec 2026 19:04:48 GMT" */
    assert_non_null(date);
    assert_int_equal(strlen(date), 29);
    assert_string_equal(date + 26, "GMT");
    assert_null(lgw_hanswer_field(&a, "Connection"));
    assert_null(lgw_hanswer_field(&a, "Transfer-Encoding"));
    assert_string_equal(lgw_hanswer_body(&a), "hello 1");
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    struct lgw_hfix_req *r = lgw_hfix_req(&fx, "/hello");
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->version, "HTTP/1.1");
    assert_string_equal(r->host, "test.example");
    assert_string_equal(r->n, "1");
    assert_int_equal(r->nargs, 2);
    assert_int_equal(r->nfields, 2);
    assert_string_equal(r->fields, "Host;X-Req;");
    assert_int_equal(r->head_bytes, sizeof(req) - 1);
    assert_true(r->ok);
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 1), 1);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.opens, 1);
    assert_int_equal(fx.completed_failed, 0);
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hfix_get_hello(&cl, "1");
    lgw_hfix_get_hello(&cl, "2");
    lgw_hfix_get_hello(&cl, "3");
    assert_int_equal(lgw_hfix_count(&fx, &fx.opens), 1); /* one connection carried them all */
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 3), 3);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.opens, 1);
}

/* A head that comes a byte at a time (each byte its own segment, as a slow client sends it), then one cut
 * with the next request's first bytes behind it. */
static void test_head_in_pieces(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    int one = 1;
    assert_int_equal(setsockopt(cl.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    static const char req[] = "\r\nGET /hello?n=1 HTTP/1.1\r\nHost: t\r\nX-Slow: yes\r\n\r\n";
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        lgw_hclient_send(&cl, req + i, 1);
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "hello 1");
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    assert_int_equal(lgw_hfix_req(&fx, "/hello")->head_bytes, sizeof(req) - 1);
    lgw_hclient_sends(&cl, "GET /hello?n=2 HTTP/1.1\r\nHo");
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    lgw_hclient_sends(&cl, "st: t\r\n\r\nGET /hello?n=3 HTTP/1.1\r");
    nanosleep(&ts, NULL);
    lgw_hclient_sends(&cl, "\nHost: t\r\n\r\n");
    for (int i = 2; i <= 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "hello %d", i);
        lgw_hclient_read(&cl, &a, false);
        assert_string_equal(lgw_hanswer_body(&a), want);
        lgw_hanswer_cleanup(&a);
    }
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 3);
}

static void test_pipelining(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /hello?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                  "GET /hello?n=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 1; i <= 3; i++) {
        struct lgw_hanswer a;
        lgw_hclient_read(&cl, &a, false);
        char want[32];
        snprintf(want, sizeof(want), "hello %d", i);
        assert_int_equal(a.status, 200);
        assert_string_equal(lgw_hanswer_body(&a), want);
        lgw_hanswer_cleanup(&a);
    }
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 3), 3);
    lgw_hfix_get_hello(&cl, "4"); /* the connection goes on after them */
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.opens, 1);
}

/* A body of n bytes that is not the same all along, so a piece lost, doubled or swapped shows. */
static char *pattern(size_t n)
{
    char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)('a' + (i * 7 + i / 1000) % 26);
    return p;
}

static void test_post_content_length(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    size_t n = 300000; /* many reads of the server's */
    char *body = pattern(n);
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    lgw_hclient_sends(&cl, head);
    lgw_hclient_send(&cl, body, 1000);
    lgw_hclient_send(&cl, body + 1000, n - 1000);
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body.len, n);
    assert_memory_equal(a.body.ptr, body, n);
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    struct lgw_hfix_req *r = lgw_hfix_req(&fx, "/echo");
    assert_true(r->pieces > 1);
    assert_int_equal(r->handle_calls, 1);
    /* A body that came with its head in one write, then the next request. */
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                           "GET /hello?n=9 HTTP/1.1\r\nHost: t\r\n\r\n");
    lgw_hclient_read(&cl, &a, false);
    assert_string_equal(lgw_hanswer_body(&a), "hello");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_read(&cl, &a, false);
    assert_string_equal(lgw_hanswer_body(&a), "hello 9");
    lgw_hanswer_cleanup(&a);
    free(body);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 3);
}

static void test_post_chunked(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v");
    lgw_hclient_sends(&cl, "al\r\nhello\r\n6\r\n wor");
    lgw_hclient_sends(&cl, "ld\r\n0\r\nX-Trailer: 1\r\n\r\nGET /hello?n=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "hello world");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_read(&cl, &a, false);
    assert_string_equal(lgw_hanswer_body(&a), "hello 2");
    lgw_hanswer_cleanup(&a);
    /* A large chunked body in chunks of every size up to 16 KB. */
    size_t n = 200000, off = 0, size = 1;
    char *body = pattern(n);
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    while (off < n) {
        size_t k = n - off < size ? n - off : size;
        char line[32];
        snprintf(line, sizeof(line), "%zX\r\n", k);
        lgw_hclient_sends(&cl, line);
        lgw_hclient_send(&cl, body + off, k);
        lgw_hclient_sends(&cl, "\r\n");
        off += k;
        size = size * 3 % 16384 + 1;
    }
    lgw_hclient_sends(&cl, "0\r\n\r\n");
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body.len, n);
    assert_memory_equal(a.body.ptr, body, n);
    lgw_hanswer_cleanup(&a);
    free(body);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 3);
}

static void test_malformed_chunked_body(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 400);
    assert_string_equal(lgw_hanswer_body(&a), "{\"status\":400}");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&cl));
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 1), 1);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok + fx.completed_failed, 1);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 100);
    assert_string_equal(a.head, "HTTP/1.1 100 Continue\r\n");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_quiet(&cl, 100)); /* nothing more before the body */
    lgw_hclient_sends(&cl, "hello");
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "hello");
    lgw_hanswer_cleanup(&a);
    /* No body: no 100 Continue, the answer at once. */
    lgw_hclient_sends(&cl, "GET /hello?n=2 HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_body(&a), "hello 2");
    lgw_hanswer_cleanup(&a);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

/* Answered from the head's call: the body is not read (no 100 Continue asks for it), the connection closes. */
static void test_answer_before_body(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n"
                           "Expect: 100-continue\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 413);
    assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
    assert_string_equal(lgw_hanswer_body(&a), "too large");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&cl));
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 1), 1);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_failed, 0);
}

static void test_head_method(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "HEAD /hello?n=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, true);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_field(&a, "Content-Length"), "7"); /* what a GET would get */
    lgw_hanswer_cleanup(&a);
    /* The next bytes are the next answer's: no body came after HEAD's. */
    lgw_hfix_get_hello(&cl, "2");
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

static void test_http10(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /hello?n=1 HTTP/1.0\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
    assert_string_equal(lgw_hanswer_body(&a), "hello 1");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&cl));
    lgw_hclient_close(&cl);
    /* Asked to keep the connection, it does, and says so. */
    lgw_hclient_open(&cl, fx.port);
    for (int i = 0; i < 2; i++) {
        lgw_hclient_sends(&cl, "GET /hello?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        lgw_hclient_read(&cl, &a, false);
        assert_int_equal(a.status, 200);
        assert_string_equal(lgw_hanswer_field(&a, "Connection"), "keep-alive");
        assert_string_equal(lgw_hanswer_body(&a), "hello 2");
        lgw_hanswer_cleanup(&a);
    }
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 2), 2);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 3);
}

static void test_head_too_large(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start_with(&fx, 0, 0, 4096);
    struct lgw_buf big;
    lgw_buf_init(&big, 0);
    lgw_buf_puts(&big, "GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ");
    for (int i = 0; i < 6000; i++)
        lgw_buf_puts(&big, "a");
    /* A whole head over the cap, and one that has not ended when it passes the cap. */
    for (int whole = 1; whole >= 0; whole--) {
        struct lgw_hclient cl;
        lgw_hclient_open(&cl, fx.port);
        if (whole)
            lgw_buf_puts(&big, "\r\n\r\n");
        lgw_hclient_send(&cl, big.ptr, big.len); /* in one write: nothing is left unread when the server closes */
        if (whole)
            big.len -= 4;
        struct lgw_hanswer a;
        lgw_hclient_read(&cl, &a, false);
        assert_int_equal(a.status, 431);
        assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
        assert_string_equal(lgw_hanswer_field(&a, "Content-Type"), "application/json");
        assert_string_equal(lgw_hanswer_body(&a), "{\"status\":431}");
        lgw_hanswer_cleanup(&a);
        assert_true(lgw_hclient_closed(&cl));
        lgw_hclient_close(&cl);
    }
    lgw_buf_cleanup(&big);
    /* A head just under the cap is served. */
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hfix_get_hello(&cl, "1");
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 3), 3);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.nreqs, 1); /* the request callback never saw the large heads */
}

static void test_malformed_head(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    static const struct {
        const char *head;
        int status;
    } cases[] = {
        {"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400},
        {"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"GET /hello HTTP/1.1\r\n\r\n", 400},
        {"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lgw_hclient cl;
        lgw_hclient_open(&cl, fx.port);
        lgw_hclient_sends(&cl, cases[i].head);
        struct lgw_hanswer a;
        lgw_hclient_read(&cl, &a, false);
        assert_int_equal(a.status, cases[i].status);
        char want[32];
        snprintf(want, sizeof(want), "{\"status\":%d}", cases[i].status);
        assert_string_equal(lgw_hanswer_body(&a), want);
        assert_string_equal(lgw_hanswer_field(&a, "Content-Type"), "application/json");
        assert_string_equal(lgw_hanswer_field(&a, "Connection"), "close");
        lgw_hanswer_cleanup(&a);
        assert_true(lgw_hclient_closed(&cl));
        lgw_hclient_close(&cl);
    }
    assert_int_equal(lgw_hfix_wait(&fx, &fx.closes, 5), 5);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.nreqs, 0);
}

/* A client that keeps its connection open after the server refused its head does not keep it forever: a
 * refused head is answered and then closed (head.h), even with no idle timeout. */
static void test_refused_connection_closed(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET / HTTP/1.1\r\nHost : t\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 400);
    lgw_hanswer_cleanup(&a);
    assert_int_equal(lgw_hfix_wait_open(&fx, 0), 0); /* the client's socket is still open */
    assert_int_equal(lgw_hfix_count(&fx, &fx.closes), 1);
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
}

/* An answer that says Connection: close closes its connection, and says it once. */
static void test_answer_closes(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /bye HTTP/1.1\r\nHost: t\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    int n;
    assert_string_equal(lgw_hanswer_field_n(&a, "Connection", &n), "close");
    assert_int_equal(n, 1);
    assert_string_equal(lgw_hanswer_body(&a), "bye");
    lgw_hanswer_cleanup(&a);
    assert_true(lgw_hclient_closed(&cl));
    lgw_hclient_close(&cl);
    assert_int_equal(lgw_hfix_wait(&fx, &fx.completed_ok, 1), 1);
    lgw_hfix_stop(&fx);
}

/* A 204 has no body, whatever the answer was given: the next answer on the connection follows its head. */
static void test_no_content(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 204);
    assert_null(lgw_hanswer_field(&a, "Content-Length"));
    assert_null(lgw_hanswer_field(&a, "Transfer-Encoding"));
    lgw_hanswer_cleanup(&a);
    lgw_hfix_get_hello(&cl, "2");
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

static void test_hresp_header(void **state)
{
    (void)state;
    struct lgw_hresp *r = lgw_hresp_buffer(2, "ok", LGW_HRESP_STATIC);
    assert_non_null(r);
    assert_int_equal(lgw_hresp_header(r, "X-Good", "a value: with colon"), 0);
    assert_int_equal(lgw_hresp_header(r, "X-Bad", "a\r\nInjected: 1"), -1);
    assert_int_equal(lgw_hresp_header(r, "X-Bad", "a\nb"), -1);
    assert_int_equal(lgw_hresp_header(r, "X-Bad\r\nInjected", "1"), -1);
    /* past the first block of field text (512 bytes): every field kept whole, in order, none refused */
    char want[4096] = "X-Good: a value: with colon\r\n", name[32], value[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "X-Field-%d", i);
        snprintf(value, sizeof(value), "value %d of a header long enough to need more room", i);
        assert_int_equal(lgw_hresp_header(r, name, value), 0);
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s: %s\r\n", name, value);
    }
    assert_int_equal(r->fields_len, strlen(want));
    assert_memory_equal(r->fields, want, r->fields_len);
    lgw_hresp_free(r);
    lgw_hresp_free(NULL);
}

/* An empty body echoed: a zero-length answer handed over malloc'd (LGW_HRESP_FREE) is freed as given. Last,
 * as a bad free would end the process. */
static void test_empty_body(void **state)
{
    (void)state;
    struct lgw_hfix fx;
    lgw_hfix_start(&fx);
    struct lgw_hclient cl;
    lgw_hclient_open(&cl, fx.port);
    lgw_hclient_sends(&cl, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    struct lgw_hanswer a;
    lgw_hclient_read(&cl, &a, false);
    assert_int_equal(a.status, 200);
    assert_string_equal(lgw_hanswer_field(&a, "Content-Length"), "0");
    assert_int_equal(a.body.len, 0);
    lgw_hanswer_cleanup(&a);
    lgw_hfix_get_hello(&cl, "2");
    lgw_hclient_close(&cl);
    lgw_hfix_stop(&fx);
    assert_int_equal(fx.completed_ok, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_buffered),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_head_in_pieces),
        cmocka_unit_test(test_pipelining),
        cmocka_unit_test(test_post_content_length),
        cmocka_unit_test(test_post_chunked),
        cmocka_unit_test(test_malformed_chunked_body),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_answer_before_body),
        cmocka_unit_test(test_head_method),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_malformed_head),
        cmocka_unit_test(test_refused_connection_closed),
        cmocka_unit_test(test_answer_closes),
        cmocka_unit_test(test_no_content),
        cmocka_unit_test(test_hresp_header),
        cmocka_unit_test(test_empty_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

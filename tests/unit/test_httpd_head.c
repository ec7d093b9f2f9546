/* test_httpd_head.c - the request head parser (httpd/head.c): valid heads and what they say, and every refusal
 * with its status (400 for what two parsers could read two ways, 414, 431, 501, 505); the head's end found
 * the same whether its bytes come whole or one at a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "httpd/head.h"

/* A head parsed from a buffer of its exact size (no NUL after it: a read past the head is caught by ASan);
 * the buffer lives as long as the head's pointers into it. */
struct parsed {
    char *buf;
    struct lgw_http_head h;
};

static int parse_n(struct parsed *p, const char *text, size_t len)
{
    p->buf = malloc(len ? len : 1);
    assert_non_null(p->buf);
    memcpy(p->buf, text, len);
    return lgw_http_head_parse(p->buf, len, &p->h);
}

static int parse(struct parsed *p, const char *text)
{
    return parse_n(p, text, strlen(text));
}

static void done(struct parsed *p)
{
    lgw_http_head_clear(&p->h);
    free(p->buf);
}

/* The status a head is answered with (0: accepted); a refused head leaves nothing to free. */
static int status_of(const char *text)
{
    struct parsed p;
    int rc = parse(&p, text);
    if (rc) {
        assert_null(p.h.fields);
        assert_null(p.h.args);
    }
    done(&p);
    return rc;
}

static int status_of_n(const char *text, size_t len)
{
    struct parsed p;
    int rc = parse_n(&p, text, len);
    done(&p);
    return rc;
}

static void test_get_crlf(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET /v1/models HTTP/1.1\r\nHost: example.com\r\nX-Thing: \t v a \t\r\n"
                               "Empty:\r\n\r\n"),
                     0);
    assert_string_equal(p.h.method, "GET");
    assert_string_equal(p.h.path, "/v1/models");
    assert_string_equal(p.h.version, "HTTP/1.1");
    assert_int_equal(p.h.minor, 1);
    assert_int_equal(p.h.nfields, 3);
    assert_string_equal(p.h.fields[0].name, "Host");
    assert_string_equal(p.h.fields[0].value, "example.com");
    assert_string_equal(p.h.fields[1].name, "X-Thing");
    assert_string_equal(p.h.fields[1].value, "v a"); /* spaces and tabs around a value are not part of it */
    assert_string_equal(lgw_http_head_field(&p.h, "x-thing"), "v a");
    assert_string_equal(lgw_http_head_field(&p.h, "HOST"), "example.com");
    assert_string_equal(lgw_http_head_field(&p.h, "empty"), "");
    assert_null(lgw_http_head_field(&p.h, "X-Missing"));
    assert_int_equal(p.h.nargs, 0);
    assert_int_equal(p.h.content_length, -1);
    assert_false(p.h.chunked);
    assert_true(p.h.keep_alive);
    assert_false(p.h.expect_continue);
    assert_false(p.h.head_method);
    done(&p);
}

static void test_post_bare_lf(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "POST /v1/chat/completions HTTP/1.1\nHost: a\nContent-Length: 42\n"
                               "Content-Type: application/json\n\n"),
                     0);
    assert_string_equal(p.h.method, "POST");
    assert_string_equal(p.h.path, "/v1/chat/completions");
    assert_int_equal(p.h.content_length, 42);
    assert_false(p.h.chunked);
    assert_string_equal(lgw_http_head_field(&p.h, "content-type"), "application/json");
    done(&p);

    /* Mixed line ends, the empty line a CRLF after a bare LF. */
    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\nTransfer-Encoding: chunked\n\r\n"), 0);
    assert_true(p.h.chunked);
    assert_int_equal(p.h.content_length, -1);
    done(&p);

    /* An identical duplicate Content-Length is one length. */
    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 7\r\n\r\n"), 0);
    assert_int_equal(p.h.content_length, 7);
    done(&p);

    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
    assert_int_equal(p.h.content_length, 0);
    done(&p);
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    static const char *const heads[] = {
        "\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
        "\r\n\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n",
        "\n\nGET /a HTTP/1.1\nHost: h\n\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        struct parsed p;
        assert_int_equal(parse(&p, heads[i]), 0);
        assert_string_equal(p.h.method, "GET");
        assert_string_equal(p.h.path, "/a");
        assert_int_equal(p.h.nfields, 1);
        done(&p);
    }
}

static void test_head_method(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "HEAD /v1/models HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.method, "HEAD");
    assert_true(p.h.head_method);
    done(&p);
    /* Methods are case-sensitive: "head" is some other method. */
    assert_int_equal(parse(&p, "head / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_false(p.h.head_method);
    done(&p);
}

static void test_path_decoding(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET /v1/models/a%20b%2fc%C3%A9+d HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/v1/models/a b/c\xc3\xa9+d"); /* '+' is a space only in a query */
    done(&p);
    /* An escape that is not one is kept as sent. */
    assert_int_equal(parse(&p, "GET /a%zz%4%q1% HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/a%zz%4%q1%");
    done(&p);
    /* The query is not part of the path, and an escaped '?' does not start one. */
    assert_int_equal(parse(&p, "GET /a%3Fb?c=d HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/a?b");
    assert_int_equal(p.h.nargs, 1);
    assert_string_equal(p.h.args[0].name, "c");
    done(&p);
}

static void test_query_args(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET /p?a=1&b=x+y%21&&c&d=&e%3D=f%26g%2B&=v HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/p");
    assert_int_equal(p.h.nargs, 6);
    assert_string_equal(p.h.args[0].name, "a");
    assert_string_equal(p.h.args[0].value, "1");
    assert_string_equal(p.h.args[1].name, "b");
    assert_string_equal(p.h.args[1].value, "x y!");
    assert_string_equal(p.h.args[2].name, "c"); /* the empty pair between && is nothing */
    assert_string_equal(p.h.args[2].value, "");
    assert_string_equal(p.h.args[3].name, "d");
    assert_string_equal(p.h.args[3].value, "");
    assert_string_equal(p.h.args[4].name, "e="); /* split at the first '=' before decoding */
    assert_string_equal(p.h.args[4].value, "f&g+");
    assert_string_equal(p.h.args[5].name, "");
    assert_string_equal(p.h.args[5].value, "v");
    done(&p);
    /* A '?' with nothing after it: no arguments. */
    assert_int_equal(parse(&p, "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/p");
    assert_int_equal(p.h.nargs, 0);
    done(&p);
}

static void test_absolute_form(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET http://example.com:8080/v1/x%20y?q=1+2 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
                     0);
    assert_string_equal(p.h.path, "/v1/x y");
    assert_int_equal(p.h.nargs, 1);
    assert_string_equal(p.h.args[0].name, "q");
    assert_string_equal(p.h.args[0].value, "1 2");
    done(&p);
    assert_int_equal(parse(&p, "GET HTTPS://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
    assert_string_equal(p.h.path, "/");
    done(&p);
    /* No path to serve. */
    assert_int_equal(status_of("GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"), 400);
    assert_int_equal(status_of("GET http://example.com?a=/b HTTP/1.1\r\nHost: example.com\r\n\r\n"), 400);
    assert_int_equal(status_of("GET http:// HTTP/1.1\r\nHost: example.com\r\n\r\n"), 400);
}

static void test_http10_keep_alive(void **state)
{
    (void)state;
    struct parsed p;
    /* HTTP/1.0: closes unless the client asks to keep the connection, and needs no Host. */
    assert_int_equal(parse(&p, "GET / HTTP/1.0\r\n\r\n"), 0);
    assert_string_equal(p.h.version, "HTTP/1.0");
    assert_int_equal(p.h.minor, 0);
    assert_false(p.h.keep_alive);
    done(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
    assert_true(p.h.keep_alive);
    done(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), 0);
    assert_false(p.h.keep_alive);
    done(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.0\r\nHost: a\r\nConnection: foo\r\nConnection: keep-alive\r\n\r\n"), 0);
    assert_true(p.h.keep_alive);
    done(&p);
    /* HTTP/1.0 has no 100 Continue. */
    assert_int_equal(parse(&p, "POST / HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"), 0);
    assert_false(p.h.expect_continue);
    assert_int_equal(p.h.content_length, 3);
    done(&p);
}

static void test_connection_close(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), 0);
    assert_false(p.h.keep_alive);
    done(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, Close\r\n\r\n"), 0);
    assert_false(p.h.keep_alive);
    done(&p);
    /* A token that only contains "close" is another token. */
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, x-close\r\n\r\n"), 0);
    assert_true(p.h.keep_alive);
    done(&p);
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"), 0);
    assert_true(p.h.keep_alive);
    done(&p);
}

static void test_expect_continue(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"), 0);
    assert_true(p.h.expect_continue);
    done(&p);
    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nexpect: 100-Continue\r\n\r\n"), 0);
    assert_true(p.h.expect_continue);
    done(&p);
    assert_int_equal(parse(&p, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: something\r\n\r\n"), 0);
    assert_false(p.h.expect_continue);
    done(&p);
}

static void test_refused_400(void **state)
{
    (void)state;
    static const char *const heads[] = {
        /* a bare CR: a parser taking CR as a line end would see another field */
        "GET / HTTP/1.1\r\nHost: a\rX-Injected: 1\r\n\r\n",
        "GET / HTTP/1.1\rHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
        /* obs-fold */
        "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n",
        "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
        /* space (or anything) between a field's name and its colon, or no name, or no colon */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nBad(Name): v\r\n\r\n",
        /* Host missing or twice */
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        /* both framings, in either order */
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        /* two different lengths */
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        /* a length that is not only digits */
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123456789\r\n\r\n",
        /* chunked in HTTP/1.0, which has none; chunked twice */
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        /* %00 in the path or in an argument */
        "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a?x=%00 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /a?%00=1 HTTP/1.1\r\nHost: a\r\n\r\n",
        /* control characters in a value */
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x1b[0m\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\x0b\r\n\r\n",
        /* a target that does not start with '/' (asterisk-form, authority-form, relative) */
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "GET v1/models HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n",
        /* a malformed request line */
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "GET /\tx HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\r\nHost: a\r\n\r\n",
        " GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / http/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1x\r\nHost: a\r\n\r\n",
        "GET / HTTP/1\r\nHost: a\r\n\r\n",
        "GET / HTTPS/1.1\r\nHost: a\r\n\r\n",
        "GETTINGTHISMETHODNAMEPASTTHIRTYTWOCHARS / HTTP/1.1\r\nHost: a\r\n\r\n",
        /* empty lines only: no request */
        "\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
        int rc = status_of(heads[i]);
        if (rc != 400)
            fail_msg("head %zu (%s): %d, not 400", i, heads[i], rc);
    }
}

/* A NUL in a line would end it early in a parser that reads C strings, and not in one that reads lengths. */
static void test_nul_refused(void **state)
{
    (void)state;
    static const char line[] = "GET / HTTP/1.1\0junk\r\nHost: a\r\n\r\n";
    assert_int_equal(status_of_n(line, sizeof(line) - 1), 400);
    static const char value[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\0 6\r\n\r\n";
    assert_int_equal(status_of_n(value, sizeof(value) - 1), 400);
    static const char name[] = "GET / HTTP/1.1\r\nHost: a\r\nX\0Y: 1\r\n\r\n";
    assert_int_equal(status_of_n(name, sizeof(name) - 1), 400);
    static const char target[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(status_of_n(target, sizeof(target) - 1), 400);
}

/* Tabs and obs-text are allowed in values. */
static void test_value_chars(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb \xc3\xa9\xff ~\r\n\r\n"), 0);
    assert_string_equal(lgw_http_head_field(&p.h, "x"), "a\tb \xc3\xa9\xff ~");
    done(&p);
}

static void test_refused_other(void **state)
{
    (void)state;
    /* a transfer coding we do not decode */
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
    assert_int_equal(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), 501);
    /* versions other than 1.0 and 1.1 */
    assert_int_equal(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
    assert_int_equal(status_of("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505);
}

/* A head of n fields (the first Host). */
static void head_with_fields(struct lgw_buf *b, size_t n)
{
    lgw_buf_reset(b);
    lgw_buf_puts(b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (size_t i = 1; i < n; i++)
        lgw_buf_printf(b, "X-Field-%zu: %zu\r\n", i, i);
    lgw_buf_puts(b, "\r\n");
}

static void test_fields_cap(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    head_with_fields(&b, LGW_HTTP_FIELDS_MAX);
    struct parsed p;
    assert_int_equal(parse(&p, b.ptr), 0);
    assert_int_equal(p.h.nfields, LGW_HTTP_FIELDS_MAX);
    assert_string_equal(p.h.fields[LGW_HTTP_FIELDS_MAX - 1].value, "99");
    done(&p);
    head_with_fields(&b, LGW_HTTP_FIELDS_MAX + 1);
    assert_int_equal(status_of(b.ptr), 431);
    head_with_fields(&b, 1000);
    assert_int_equal(status_of(b.ptr), 431);
    lgw_buf_cleanup(&b);
}

/* A target of n arguments. */
static void head_with_args(struct lgw_buf *b, size_t n)
{
    lgw_buf_reset(b);
    lgw_buf_puts(b, "GET /p?");
    for (size_t i = 0; i < n; i++)
        lgw_buf_printf(b, "%sa%zu=%zu", i ? "&" : "", i, i);
    lgw_buf_puts(b, " HTTP/1.1\r\nHost: a\r\n\r\n");
}

static void test_args_cap(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    head_with_args(&b, LGW_HTTP_ARGS_MAX);
    struct parsed p;
    assert_int_equal(parse(&p, b.ptr), 0);
    assert_int_equal(p.h.nargs, LGW_HTTP_ARGS_MAX);
    assert_string_equal(p.h.args[LGW_HTTP_ARGS_MAX - 1].name, "a63");
    assert_string_equal(p.h.args[LGW_HTTP_ARGS_MAX - 1].value, "63");
    done(&p);
    head_with_args(&b, LGW_HTTP_ARGS_MAX + 1);
    assert_int_equal(status_of(b.ptr), 414);
    lgw_buf_cleanup(&b);
}

/* Where the head ends when buf[0..len) arrives whole, and one byte at a time (each call seeing one more). */
static size_t end_whole(const char *buf, size_t len)
{
    size_t from = 0;
    return lgw_http_head_end(buf, len, &from);
}

static size_t end_bytewise(const char *buf, size_t len)
{
    size_t from = 0;
    for (size_t n = 1; n <= len; n++) {
        size_t end = lgw_http_head_end(buf, n, &from);
        if (end) {
            assert_int_equal(end, n); /* found as soon as its last byte is there */
            return end;
        }
        assert_true(from <= n);
    }
    return 0;
}

static void test_head_end(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t end; /* 0: not ended */
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody bytes\r\n\r\n", 27},
        {"GET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\n\n", 24},
        {"GET / HTTP/1.1\nHost: a\n\r\nrest", 25},
        {"GET / HTTP/1.1\r\nHost: a\r\n\n", 26},
        {"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 31},
        {"\n\n\nGET / HTTP/1.0\n\n", 19},
        {"GET / HTTP/1.1\r\n\r\n", 18},
        {"GET / HTTP/1.1\r\nHost: a\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r", 0},
        {"GET / HTTP/1.1\r\nHost: a\r\r\n", 0},
        {"\r\n\r\n\r\n", 0}, /* empty lines only: no head yet */
        {"\n", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *t = cases[i].text;
        size_t len = strlen(t);
        size_t whole = end_whole(t, len);
        if (whole != cases[i].end)
            fail_msg("case %zu: whole %zu, expected %zu", i, whole, cases[i].end);
        size_t bytewise = end_bytewise(t, len);
        if (bytewise != whole)
            fail_msg("case %zu: byte at a time %zu, whole %zu", i, bytewise, whole);
    }
}

/* Every way of cutting a head into two reads finds the same end, and what was found parses. */
static void test_head_end_split(void **state)
{
    (void)state;
    static const char t[] = "\r\nPOST /v1/x?a=b HTTP/1.1\r\nHost: a\nContent-Length: 3\r\n\nabcGET / HTTP/1.1\r\n\r\n";
    size_t len = sizeof(t) - 1, whole = end_whole(t, len);
    assert_int_equal(whole, strstr(t, "abc") - t);
    for (size_t cut = 0; cut <= len; cut++) {
        size_t from = 0, end = lgw_http_head_end(t, cut, &from);
        if (!end)
            end = lgw_http_head_end(t, len, &from);
        assert_int_equal(end, whole);
    }
    struct parsed p;
    assert_int_equal(parse_n(&p, t, whole), 0);
    assert_string_equal(p.h.path, "/v1/x");
    assert_int_equal(p.h.content_length, 3);
    done(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_crlf),
        cmocka_unit_test(test_post_bare_lf),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_head_method),
        cmocka_unit_test(test_path_decoding),
        cmocka_unit_test(test_query_args),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_http10_keep_alive),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_refused_400),
        cmocka_unit_test(test_nul_refused),
        cmocka_unit_test(test_value_chars),
        cmocka_unit_test(test_refused_other),
        cmocka_unit_test(test_fields_cap),
        cmocka_unit_test(test_args_cap),
        cmocka_unit_test(test_head_end),
        cmocka_unit_test(test_head_end_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_httpd_body.c - request body framing (httpd/body.c): a Content-Length counted down across reads, chunked
 * bodies (extensions, trailers) decoded the same however they are cut, and every malformed framing refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "httpd/body.h"

/* What a run of the decoder over some input gave. */
struct decoded {
    int rc;          /* 0 or the refusal's status */
    bool done;       /* the body ended */
    size_t used;     /* input bytes taken (the body's; what follows it is the next request's) */
    struct lgw_buf data;
};

/* Feeds in[0..len) to b as a server would: pieces handed on, calls repeated on the rest, stopping at the
 * body's end (bytes after it are not the body's). */
static void feed(struct lgw_http_body *b, const char *in, size_t len, struct decoded *out)
{
    size_t off = 0;
    while (off < len && !lgw_http_body_done(b)) {
        size_t used = 0, piece_len = 99;
        const char *piece = NULL;
        int rc = lgw_http_body_next(b, in + off, len - off, &used, &piece, &piece_len);
        if (rc) {
            out->rc = rc;
            return;
        }
        assert_true(used > 0); /* every call on bytes takes some: none is asked forever */
        assert_true(used <= len - off);
        if (piece_len) {
            assert_true(piece >= in + off && piece + piece_len <= in + off + used);
            lgw_buf_append(&out->data, piece, piece_len);
        }
        off += used;
        out->used += used;
    }
    out->done = lgw_http_body_done(b);
}

/* Decodes text cut into pieces of step bytes (0: whole). */
static void decode(bool chunked, int64_t length, const char *text, size_t len, size_t step, struct decoded *out)
{
    memset(out, 0, sizeof(*out));
    lgw_buf_init(&out->data, 0);
    struct lgw_http_body b;
    lgw_http_body_init(&b, chunked, length);
    if (!step)
        step = len ? len : 1;
    for (size_t off = 0; off < len && !out->rc && !lgw_http_body_done(&b); off += step) {
        /* Each piece in a buffer of its own size, so a read past it is caught. */
        size_t n = len - off < step ? len - off : step;
        char *piece = malloc(n);
        memcpy(piece, text + off, n);
        feed(&b, piece, n, out);
        free(piece);
    }
    out->done = lgw_http_body_done(&b);
}

static const char *data_of(struct decoded *d)
{
    return d->data.ptr ? d->data.ptr : "";
}

static void test_content_length_split(void **state)
{
    (void)state;
    struct lgw_http_body b;
    lgw_http_body_init(&b, false, 10);
    assert_false(lgw_http_body_done(&b));
    size_t used = 0, piece_len;
    const char *piece;
    assert_int_equal(lgw_http_body_next(&b, "hello", 5, &used, &piece, &piece_len), 0);
    assert_int_equal(used, 5);
    assert_int_equal(piece_len, 5);
    assert_memory_equal(piece, "hello", 5);
    assert_false(lgw_http_body_done(&b));
    /* The rest of the body, and the next request behind it: only the body is taken. */
    static const char more[] = "worldGET / HTTP/1.1\r\n";
    used = 0;
    assert_int_equal(lgw_http_body_next(&b, more, sizeof(more) - 1, &used, &piece, &piece_len), 0);
    assert_int_equal(used, 5);
    assert_ptr_equal(piece, more);
    assert_int_equal(piece_len, 5);
    assert_true(lgw_http_body_done(&b));
    /* Done: nothing more is taken. */
    used = 0;
    assert_int_equal(lgw_http_body_next(&b, more + 5, 3, &used, &piece, &piece_len), 0);
    assert_int_equal(used, 0);
    assert_int_equal(piece_len, 0);

    /* *used grows: it is added to, not set. */
    lgw_http_body_init(&b, false, 3);
    used = 7;
    assert_int_equal(lgw_http_body_next(&b, "abcdef", 6, &used, &piece, &piece_len), 0);
    assert_int_equal(used, 10);

    /* Every cut of a body gives it whole. */
    static const char body[] = "0123456789abcdefXYZ";
    for (size_t step = 1; step <= sizeof(body); step++) {
        struct decoded d;
        decode(false, 16, body, sizeof(body) - 1, step, &d);
        assert_int_equal(d.rc, 0);
        assert_true(d.done);
        assert_int_equal(d.used, 16);
        assert_int_equal(d.data.len, 16);
        assert_memory_equal(data_of(&d), body, 16);
        lgw_buf_cleanup(&d.data);
    }
}

static void test_no_body(void **state)
{
    (void)state;
    struct lgw_http_body b;
    lgw_http_body_init(&b, false, 0);
    assert_true(lgw_http_body_done(&b));
    lgw_http_body_init(&b, false, -1);
    assert_true(lgw_http_body_done(&b));
    lgw_http_body_init(&b, true, -1);
    assert_false(lgw_http_body_done(&b)); /* a chunked body ends with its last chunk, even an empty one */
    struct decoded d;
    decode(true, -1, "0\r\n\r\n", 5, 0, &d);
    assert_int_equal(d.rc, 0);
    assert_true(d.done);
    assert_int_equal(d.used, 5);
    assert_int_equal(d.data.len, 0);
    lgw_buf_cleanup(&d.data);
}

/* Chunks with extensions (with and without spaces before ';'), upper and lower case sizes with leading zeros,
 * trailers, and the next request behind the body. */
static const char chunked[] = "5;name=value\r\nhello\r\n"
                              "6 ; a=\"b c\";d\r\n world\r\n"
                              "000A\r\n0123456789\r\n"
                              "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                              "1\r\n\n\r\n"
                              "0;last=1\r\nTrailer-One: x\r\nTrailer-Two: y z\r\n\r\n"
                              "GET /next HTTP/1.1\r\n\r\n";
static const char chunked_data[] = "hello world0123456789abcdefghijklmnopqrstuvwxyz\n";

static void test_chunked_whole_and_bytewise(void **state)
{
    (void)state;
    size_t len = sizeof(chunked) - 1, body_len = (size_t)(strstr(chunked, "GET /next") - chunked);
    for (size_t step = 0; step <= len; step++) {
        struct decoded d;
        decode(true, -1, chunked, len, step, &d);
        if (d.rc)
            fail_msg("cut every %zu bytes: refused with %d", step, d.rc);
        assert_true(d.done);
        assert_int_equal(d.used, body_len);
        assert_string_equal(data_of(&d), chunked_data);
        lgw_buf_cleanup(&d.data);
    }
}

/* Not done until the last byte of the trailer section: each prefix leaves the body open. */
static void test_chunked_prefixes_not_done(void **state)
{
    (void)state;
    size_t body_len = (size_t)(strstr(chunked, "GET /next") - chunked);
    for (size_t n = 0; n < body_len; n++) {
        struct decoded d;
        decode(true, -1, chunked, n, 0, &d);
        assert_int_equal(d.rc, 0);
        assert_false(d.done);
        assert_int_equal(d.used, n);
        lgw_buf_cleanup(&d.data);
    }
}

/* The verdict on a chunked body given whole, and one byte at a time: both must agree. */
static int chunked_status(const char *text, size_t len)
{
    struct decoded whole, bytewise;
    decode(true, -1, text, len, 0, &whole);
    decode(true, -1, text, len, 1, &bytewise);
    assert_int_equal(whole.rc, bytewise.rc);
    assert_int_equal(whole.done, bytewise.done);
    if (!whole.rc) {
        assert_int_equal(whole.data.len, bytewise.data.len);
        assert_memory_equal(data_of(&whole), data_of(&bytewise), whole.data.len);
    }
    lgw_buf_cleanup(&whole.data);
    lgw_buf_cleanup(&bytewise.data);
    return whole.rc;
}

static void test_chunked_refused(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "00000000000000005\r\nhello\r\n0\r\n\r\n", /* 17 hex digits, even with leading zeros */
        "10000000000000000\r\n",
        "5\r\nhelloX\r\n0\r\n\r\n", /* data not followed by CRLF */
        "5\r\nhello\r0\r\n\r\n",
        "5\r\nhello0\r\n\r\n",
        "5\nhello\r\n0\r\n\r\n", /* bare LF after the size */
        "5\r\nhello\n0\r\n\r\n", /* after the data */
        "5;ext\nhello\r\n0\r\n\r\n",
        "0\r\nTrailer: x\n\r\n", /* in a trailer */
        "0\r\n\n",                /* the last empty line */
        "0\r\nTrailer: x\r\n\n",
        "5\r\r\nhello\r\n0\r\n\r\n",
        "g\r\nhello\r\n0\r\n\r\n", /* not hex */
        "5g\r\nhello\r\n0\r\n\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "+5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        " 5\r\nhello\r\n0\r\n\r\n",
        "\r\nhello\r\n0\r\n\r\n",
        ";ext\r\nhello\r\n0\r\n\r\n",
        "5 \r\nhello\r\n0\r\n\r\n", /* whitespace that no extension follows */
        "5 x\r\nhello\r\n0\r\n\r\n",
        "5;a\x01\r\nhello\r\n0\r\n\r\n", /* a control character in an extension */
        "5;a\x7f\r\nhello\r\n0\r\n\r\n",
        "5;a\rb\r\nhello\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        int rc = chunked_status(bodies[i], strlen(bodies[i]));
        if (rc != 400)
            fail_msg("body %zu: %d, not 400", i, rc);
    }
    /* A NUL in a size line. */
    static const char nul[] = "5\0\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(chunked_status(nul, sizeof(nul) - 1), 400);
    /* 16 hex digits is the most, and a size of 2^64 - 1 is read, not wrapped. */
    static const char sixteen[] = "0000000000000005\r\nhello\r\n0\r\n\r\n";
    assert_int_equal(chunked_status(sixteen, sizeof(sixteen) - 1), 0);
    static const char huge[] = "ffffffffffffffff\r\nabc";
    assert_int_equal(chunked_status(huge, sizeof(huge) - 1), 0);
}

/* A chunk size line whose extensions are n bytes long (after the ';'). */
static void with_extension(struct lgw_buf *b, size_t n)
{
    lgw_buf_reset(b);
    lgw_buf_puts(b, "3;");
    for (size_t i = 0; i < n; i++)
        lgw_buf_puts(b, i % 10 == 9 ? ";" : "e");
    lgw_buf_puts(b, "\r\nabc\r\n0\r\n\r\n");
}

static void test_extension_cap(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    with_extension(&b, LGW_HTTP_CHUNK_EXT_MAX - 1);
    assert_int_equal(chunked_status(b.ptr, b.len), 0);
    /* The cap is per chunk: two chunks just under it each pass. */
    struct lgw_buf two;
    lgw_buf_init(&two, 0);
    with_extension(&b, LGW_HTTP_CHUNK_EXT_MAX - 1);
    lgw_buf_append(&two, b.ptr, b.len - 5); /* without the last chunk */
    lgw_buf_append(&two, b.ptr, b.len);
    assert_int_equal(chunked_status(two.ptr, two.len), 0);
    lgw_buf_cleanup(&two);
    with_extension(&b, LGW_HTTP_CHUNK_EXT_MAX + 1);
    assert_int_equal(chunked_status(b.ptr, b.len), 400);
    with_extension(&b, 100000);
    assert_int_equal(chunked_status(b.ptr, b.len), 400);
    lgw_buf_cleanup(&b);
}

/* A last chunk followed by trailer lines of n bytes in all (without their CRLFs). */
static void with_trailers(struct lgw_buf *b, size_t n)
{
    lgw_buf_reset(b);
    lgw_buf_puts(b, "2\r\nok\r\n0\r\n");
    size_t line = 0;
    for (size_t i = 0; i < n; i++) {
        lgw_buf_puts(b, line == 0 ? "X" : line == 1 ? ":" : "v");
        if (++line == 100 && i + 1 < n) {
            lgw_buf_puts(b, "\r\n");
            line = 0;
        }
    }
    lgw_buf_puts(b, "\r\n\r\n");
}

static void test_trailers_cap(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    with_trailers(&b, LGW_HTTP_TRAILERS_MAX - 300); /* under the cap with or without the CRLFs counted */
    assert_int_equal(chunked_status(b.ptr, b.len), 0);
    with_trailers(&b, LGW_HTTP_TRAILERS_MAX + 100);
    assert_int_equal(chunked_status(b.ptr, b.len), 400);
    with_trailers(&b, 10 * LGW_HTTP_TRAILERS_MAX);
    assert_int_equal(chunked_status(b.ptr, b.len), 400);
    lgw_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_split),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_chunked_whole_and_bytewise),
        cmocka_unit_test(test_chunked_prefixes_not_done),
        cmocka_unit_test(test_chunked_refused),
        cmocka_unit_test(test_extension_cap),
        cmocka_unit_test(test_trailers_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

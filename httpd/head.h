/* head.h - an HTTP/1.x request head (request line and header fields) parsed in place, strictly: what could
 * be read two ways by two HTTP parsers (a proxy in front and this one) is refused, never guessed at, so no
 * request can be smuggled past a proxy. RFC 9112 sections 2 to 7. */
#ifndef LGW_HTTPD_HEAD_H
#define LGW_HTTPD_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header fields in one head, query arguments in one target: past these, 431 and 414. */
#define LGW_HTTP_FIELDS_MAX 100
#define LGW_HTTP_ARGS_MAX 64

struct lgw_http_pair {
    const char *name, *value; /* NUL-terminated, inside the head's buffer */
};

struct lgw_http_head {
    const char *method;  /* "GET" */
    const char *path;    /* the target's path, percent-decoded ("/v1/models/a b"), without its query */
    const char *version; /* "HTTP/1.1" or "HTTP/1.0" */
    int minor;           /* 1 or 0 */
    struct lgw_http_pair *fields; /* malloc'd; names as sent (compare without case) */
    size_t nfields;
    struct lgw_http_pair *args; /* the query's name=value pairs, decoded ('+' is a space); malloc'd */
    size_t nargs;
    int64_t content_length; /* -1: none */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* the client allows a next request on the connection */
    bool expect_continue;   /* Expect: 100-continue */
    bool head_method;       /* HEAD: the answer has no body */
};

/* Parses the head in buf[0..len) in place: len covers the whole head, up to and including the empty line
 * that ends it (CRLF CRLF; a bare LF ends a line too, RFC 9112 section 2.2). buf is changed (separators
 * become NULs, the path and the arguments are decoded) and must outlive h. Returns 0, or the status to answer
 * with before closing: 400 (malformed, or framing that could be read two ways), 414 (too many arguments),
 * 431 (too many fields), 501 (a transfer coding other than chunked), 505 (not HTTP/1.0 or 1.1). On error h
 * holds nothing to free. */
int lgw_http_head_parse(char *buf, size_t len, struct lgw_http_head *h);
/* Frees what lgw_http_head_parse allocated (not buf). Safe on a zeroed or cleared head. */
void lgw_http_head_clear(struct lgw_http_head *h);

/* The value of the first field named name (any case), or NULL. */
const char *lgw_http_head_field(const struct lgw_http_head *h, const char *name);

/* Where the head in buf[0..len) ends: the length up to and including its empty line, or 0 when it has not
 * ended yet. from: where the previous call stopped looking (0 at first), so a head arriving a byte at a time
 * is scanned once. Leading empty lines (RFC 9112 section 2.2 lets a server ignore them) are part of the head
 * and skipped by the parser. */
size_t lgw_http_head_end(const char *buf, size_t len, size_t *from);

#endif

/* body.h - a request body's framing: a Content-Length counted down, or chunked transfer coding decoded
 * (RFC 9112 section 7.1), strictly: lines end in CRLF, sizes are at most 16 hex digits, extensions and
 * trailers are skipped within caps. Holds a few bytes of state, never the body. */
#ifndef LGW_HTTPD_BODY_H
#define LGW_HTTPD_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LGW_HTTP_CHUNK_EXT_MAX 1024 /* bytes of one chunk's extensions */
#define LGW_HTTP_TRAILERS_MAX 8192  /* bytes of the trailer section */

struct lgw_http_body {
    bool chunked;
    uint8_t state;
    uint8_t digits;    /* of the chunk size being read */
    uint64_t left;     /* bytes of the body (or of the current chunk) still to come */
    uint32_t skipped;  /* bytes of extensions or trailers skipped */
};

/* A body of content_length bytes (-1 and not chunked: none), or chunked. */
void lgw_http_body_init(struct lgw_http_body *b, bool chunked, int64_t content_length);
/* Reads data[0..len) on from the body's state: *used grows by the bytes taken, and *piece (*piece_len bytes)
 * is the body data found (inside data; may be empty: framing only). Stops after one piece or at the body's end, so
 * the caller hands the piece on and calls again with the rest. Returns 0, or 400 for a malformed chunked
 * framing (the connection is then answered and closed). */
int lgw_http_body_next(struct lgw_http_body *b, const char *data, size_t len, size_t *used, const char **piece,
                       size_t *piece_len);
/* The whole body (with a chunked body's trailers) was read. */
bool lgw_http_body_done(const struct lgw_http_body *b);

#endif

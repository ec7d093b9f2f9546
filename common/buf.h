/* buf.h - length-carrying strings and a capped, growable byte buffer.
 *
 * The cap is how every size that comes from input stays bounded: appending past it fails with
 * LGW_E_TOO_LARGE instead of growing, so the caller answers 413 before memory is spent. */
#ifndef LGW_BUF_H
#define LGW_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct lgw_str {
    const char *ptr;
    size_t len;
};

/* ptr is always NUL-terminated after a successful append (the NUL is not counted in len). */
struct lgw_buf {
    char *ptr;
    size_t len, cap, max;
};

/* Embedded init; max 0 means no cap. Allocates nothing until the first append. */
void lgw_buf_init(struct lgw_buf *buf, size_t max);
/* Frees the memory; the buffer may be reused after lgw_buf_init. */
void lgw_buf_cleanup(struct lgw_buf *buf);
/* Empties without freeing. */
void lgw_buf_reset(struct lgw_buf *buf);
/* Cuts the text back to its first len bytes (len <= buf->len), as before a write that did not finish. */
void lgw_buf_truncate(struct lgw_buf *buf, size_t len);
/* Returns 0 or LGW_ERR(TOO_LARGE). Out of memory aborts. */
int lgw_buf_append(struct lgw_buf *buf, const void *data, size_t len);
/* Makes room for extra more bytes and the NUL, appending nothing, so a writer that fills ptr[len..] itself
 * (the OTLP encoder) checks the cap once per piece. Returns 0 or LGW_ERR(TOO_LARGE). */
int lgw_buf_reserve(struct lgw_buf *buf, size_t extra);
int lgw_buf_puts(struct lgw_buf *buf, const char *s);
int lgw_buf_printf(struct lgw_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lgw_buf_vprintf(struct lgw_buf *buf, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
int lgw_buf_json_string(struct lgw_buf *buf, const char *s, size_t len);
/* Moves the bytes out: the caller owns the returned pointer (free()); buf is left empty. */
char *lgw_buf_take(struct lgw_buf *buf, size_t *len);

/* Allocation helpers that abort with a log line on out of memory, as Redis and h2o do. */
void *lgw_malloc(size_t n);
void *lgw_calloc(size_t n, size_t size);
void *lgw_realloc(void *p, size_t n);
char *lgw_strdup(const char *s);
char *lgw_strndup(const char *s, size_t n);

/* Copies src into dst of size dstsz, always NUL-terminating; returns strlen(src) (truncated if >= dstsz). */
size_t lgw_strlcpy(char *dst, const char *src, size_t dstsz);
/* Parses a base-10 integer covering all of s[0..len); returns 0 or LGW_ERR(INVALID). */
int lgw_parse_int64(const char *s, size_t len, long long *out);
/* The value of one hex digit (either case), or -1. */
int lgw_hex_digit(char c);

#endif

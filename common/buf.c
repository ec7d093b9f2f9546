/* buf.c - capped growable buffers and abort-on-OOM allocation. */
#include "common/buf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"

static void oom(size_t n)
{
    /* Not through the logger: it may itself need memory. */
    fprintf(stderr, "{\"level\":\"fatal\",\"module\":\"mem\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    abort();
}

void *lgw_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *lgw_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *lgw_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *lgw_strdup(const char *s)
{
    return lgw_strndup(s, strlen(s));
}

char *lgw_strndup(const char *s, size_t n)
{
    char *p = lgw_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t lgw_strlcpy(char *dst, const char *src, size_t dstsz)
{
    size_t n = strlen(src);
    if (dstsz) {
        size_t c = n < dstsz - 1 ? n : dstsz - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int lgw_parse_int64(const char *s, size_t len, long long *out)
{
    char tmp[32];
    char *end;
    if (len == 0 || len >= sizeof(tmp))
        return LGW_ERR(INVALID);
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end || end == tmp)
        return LGW_ERR(INVALID);
    *out = v;
    return LGW_OK;
}

void lgw_buf_init(struct lgw_buf *buf, size_t max)
{
    buf->ptr = NULL;
    buf->len = buf->cap = 0;
    buf->max = max;
}

void lgw_buf_cleanup(struct lgw_buf *buf)
{
    free(buf->ptr);
    buf->ptr = NULL;
    buf->len = buf->cap = 0;
}

void lgw_buf_reset(struct lgw_buf *buf)
{
    lgw_buf_truncate(buf, 0);
}

void lgw_buf_truncate(struct lgw_buf *buf, size_t len)
{
    if (len > buf->len) /* only ever cuts: a longer len would expose bytes never written */
        return;
    buf->len = len;
    if (buf->ptr)
        buf->ptr[len] = '\0';
}

static int reserve(struct lgw_buf *buf, size_t extra)
{
    if (buf->max && buf->len + extra > buf->max)
        return LGW_ERR(TOO_LARGE);
    size_t need = buf->len + extra + 1; /* +1: keep room for the terminating NUL */
    if (need <= buf->cap)
        return LGW_OK;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap *= 2;
    buf->ptr = lgw_realloc(buf->ptr, cap);
    buf->cap = cap;
    return LGW_OK;
}

int lgw_buf_reserve(struct lgw_buf *buf, size_t extra)
{
    return reserve(buf, extra);
}

int lgw_buf_append(struct lgw_buf *buf, const void *data, size_t len)
{
    int rc = reserve(buf, len);
    if (rc)
        return rc;
    if (len)
        memcpy(buf->ptr + buf->len, data, len);
    buf->len += len;
    buf->ptr[buf->len] = '\0';
    return LGW_OK;
}

int lgw_buf_puts(struct lgw_buf *buf, const char *s)
{
    return lgw_buf_append(buf, s, strlen(s));
}

int lgw_buf_vprintf(struct lgw_buf *buf, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return LGW_ERR(INTERNAL);
    int rc = reserve(buf, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(buf->ptr + buf->len, (size_t)n + 1, fmt, ap);
    buf->len += (size_t)n;
    return LGW_OK;
}

int lgw_buf_printf(struct lgw_buf *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lgw_buf_vprintf(buf, fmt, ap);
    va_end(ap);
    return rc;
}

/* Whether none of the 8 bytes in x needs escaping in a JSON string: no byte below 0x20, no quote, no backslash
 * (bytes from 0x80, UTF-8, are written as they are). Each term sets a byte's top bit only when that byte, or a
 * byte below it already caught, is one of those; "& ~" drops the bytes from 0x80, so the test is exact about
 * "any", which is all it is asked. A long prompt or answer is mostly such words. */
static inline bool word_needs_no_escape(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t quote = x ^ (ones * '"'), bslash = x ^ (ones * '\\');
    return ((((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) | ((bslash - ones) & ~bslash)) & high) == 0;
}

int lgw_buf_json_string(struct lgw_buf *buf, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = lgw_buf_append(buf, "\"", 1);
    size_t run = 0; /* start of the current run of bytes that need no escaping */
    for (size_t i = 0; rc == 0 && i < len; i++) {
        for (uint64_t x; len - i >= 8 && (memcpy(&x, s + i, 8), word_needs_no_escape(x));)
            i += 8;
        if (i == len)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = lgw_buf_append(buf, s + run, i - run);
        run = i + 1;
        if (rc)
            break;
        char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
        switch (c) {
        case '"': rc = lgw_buf_append(buf, "\\\"", 2); break;
        case '\\': rc = lgw_buf_append(buf, "\\\\", 2); break;
        case '\n': rc = lgw_buf_append(buf, "\\n", 2); break;
        case '\r': rc = lgw_buf_append(buf, "\\r", 2); break;
        case '\t': rc = lgw_buf_append(buf, "\\t", 2); break;
        default: rc = lgw_buf_append(buf, esc, 6); break;
        }
    }
    if (rc == 0)
        rc = lgw_buf_append(buf, s + run, len - run);
    if (rc == 0)
        rc = lgw_buf_append(buf, "\"", 1);
    return rc;
}

char *lgw_buf_take(struct lgw_buf *buf, size_t *len)
{
    char *p = buf->ptr;
    if (len)
        *len = buf->len;
    buf->ptr = NULL;
    buf->len = buf->cap = 0;
    return p;
}

int lgw_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}


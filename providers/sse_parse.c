/* sse_parse.c - Server-Sent Events parsing (see sse_parse.h; WHATWG HTML "event stream interpretation"). */
#include "providers/sse_parse.h"

#include <string.h>

#include "common/errors.h"

void lgw_sse_parser_init(struct lgw_sse_parser *p, size_t max_event_bytes)
{
    lgw_buf_init(&p->line, max_event_bytes);
    lgw_buf_init(&p->data, max_event_bytes);
    p->event[0] = '\0';
    p->has_data = 0;
    p->skip_lf = 0;
}

void lgw_sse_parser_cleanup(struct lgw_sse_parser *p)
{
    lgw_buf_cleanup(&p->line);
    lgw_buf_cleanup(&p->data);
}

static int dispatch(struct lgw_sse_parser *p, lgw_sse_event_cb cb, void *opaque)
{
    int rc = 0;
    if (p->has_data)
        rc = cb(opaque, p->event, p->data.ptr ? p->data.ptr : "", p->data.len);
    lgw_buf_reset(&p->data);
    p->event[0] = '\0';
    p->has_data = 0;
    return rc;
}

/* One complete line (without its terminator). */
static int process_line(struct lgw_sse_parser *p, const char *line, size_t len, lgw_sse_event_cb cb, void *opaque)
{
    if (len == 0)
        return dispatch(p, cb, opaque);
    if (line[0] == ':')
        return 0; /* comment, e.g. keep-alive */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        int rc = 0;
        if (p->has_data)
            rc = lgw_buf_append(&p->data, "\n", 1);
        if (rc == 0)
            rc = lgw_buf_append(&p->data, val, vlen);
        if (rc == 0 && !p->data.ptr)
            rc = lgw_buf_append(&p->data, "", 0);
        p->has_data = 1;
        return rc;
    }
    if (flen == 5 && memcmp(line, "event", 5) == 0) {
        size_t n = vlen < sizeof(p->event) - 1 ? vlen : sizeof(p->event) - 1;
        memcpy(p->event, val, n);
        p->event[n] = '\0';
    }
    return 0; /* id:, retry: and unknown fields are ignored */
}

int lgw_sse_parser_feed(struct lgw_sse_parser *p, const char *bytes, size_t n, lgw_sse_event_cb cb, void *opaque)
{
    size_t i = 0;
    while (i < n) {
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (bytes[i] == '\n') {
                i++;
                continue;
            }
        }
        const char *cr = memchr(bytes + i, '\r', n - i);
        const char *lf = memchr(bytes + i, '\n', n - i);
        const char *end = cr && (!lf || cr < lf) ? cr : lf;
        if (!end) {
            return lgw_buf_append(&p->line, bytes + i, n - i);
        }
        size_t len = (size_t)(end - (bytes + i));
        int rc = lgw_buf_append(&p->line, bytes + i, len);
        if (rc)
            return rc;
        if (*end == '\r')
            p->skip_lf = 1;
        i += len + 1;
        rc = process_line(p, p->line.ptr ? p->line.ptr : "", p->line.len, cb, opaque);
        lgw_buf_reset(&p->line);
        if (rc)
            return rc;
    }
    return 0;
}

/* json_out.c - a JSON object printed field by field (json_out.h). */
#include "common/json_out.h"

#include <jansson.h>
#include <string.h>

#include "common/errors.h"
#include "common/json_scan.h"
#include "common/json_write.h"

void lgw_jout_begin(struct lgw_jout *w, struct lgw_buf *buf)
{
    memset(w, 0, sizeof(*w));
    w->buf = buf;
    w->start = buf->len;
    w->depth = 1;
    w->empty[1] = true;
    w->rc = lgw_buf_append(buf, "{", 1);
}

/* The separator and "key":, or nothing once something failed. */
static bool key(struct lgw_jout *w, const char *k)
{
    if (w->rc)
        return false;
    size_t n = strlen(k);
    int rc = lgw_buf_reserve(w->buf, n + 4);
    if (rc) {
        w->rc = rc;
        return false;
    }
    char *p = w->buf->ptr + w->buf->len;
    if (!w->empty[w->depth])
        *p++ = ',';
    w->empty[w->depth] = false;
    *p++ = '"';
    memcpy(p, k, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    w->buf->len = (size_t)(p - w->buf->ptr);
    w->buf->ptr[w->buf->len] = '\0';
    return true;
}

void lgw_jout_int(struct lgw_jout *w, const char *k, int64_t v)
{
    if (key(w, k))
        w->rc = lgw_buf_int64(w->buf, v);
}

void lgw_jout_bool(struct lgw_jout *w, const char *k, bool v)
{
    if (key(w, k))
        w->rc = v ? lgw_buf_append(w->buf, "true", 4) : lgw_buf_append(w->buf, "false", 5);
}

void lgw_jout_str(struct lgw_jout *w, const char *k, const char *s)
{
    size_t n = strlen(s);
    if (lgw_json_utf8_ok(s, n) && key(w, k))
        w->rc = lgw_buf_json_string(w->buf, s, n);
}

void lgw_jout_json(struct lgw_jout *w, const char *k, const struct json_t *v)
{
    if (!key(w, k))
        return;
    if (!v)
        w->rc = lgw_buf_append(w->buf, "null", 4);
    else
        w->rc = lgw_buf_dump_json(w->buf, v, JSON_COMPACT | JSON_ENCODE_ANY);
}

void lgw_jout_open(struct lgw_jout *w, const char *k)
{
    if (w->depth >= LGW_JOUT_DEPTH_MAX && !w->rc)
        w->rc = LGW_ERR(INTERNAL);
    if (!key(w, k))
        return;
    w->rc = lgw_buf_append(w->buf, "{", 1);
    w->empty[++w->depth] = true;
}

void lgw_jout_close(struct lgw_jout *w)
{
    if (w->rc)
        return;
    if (w->depth <= 1) {
        w->rc = LGW_ERR(INTERNAL); /* nothing opened: a caller's bug, not a message to send */
        return;
    }
    w->depth--;
    w->rc = lgw_buf_append(w->buf, "}", 1);
}

int lgw_jout_end(struct lgw_jout *w)
{
    while (!w->rc && w->depth > 0) {
        w->depth--;
        w->rc = lgw_buf_append(w->buf, "}", 1);
    }
    if (w->rc)
        lgw_buf_truncate(w->buf, w->start);
    return w->rc;
}

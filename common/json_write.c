/* json_write.c - a jansson value written as compact JSON text (json_write.h). */
#include "common/json_write.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/errors.h"

int lgw_buf_int64(struct lgw_buf *buf, int64_t v)
{
    char digits[24], *p = digits + sizeof(digits);
    /* Counted in the negative range, which holds INT64_MIN. */
    int64_t n = v < 0 ? v : -v;
    do {
        *--p = (char)('0' - n % 10);
        n /= 10;
    } while (n);
    if (v < 0)
        *--p = '-';
    return lgw_buf_append(buf, p, (size_t)(digits + sizeof(digits) - p));
}

/* A real as jansson 2.14's jsonp_dtostr writes it with no precision flag: "%.17g", which reads back exactly. */
static int write_real(struct lgw_buf *buf, double d)
{
    char s[40];
    int n = snprintf(s, sizeof(s) - 2, "%.17g", d);
    if (n < 0 || (size_t)n >= sizeof(s) - 2)
        return LGW_ERR(INTERNAL);
    for (int i = 0; i < n; i++)
        if (s[i] == ',')
            s[i] = '.'; /* a locale's decimal comma: llmgw runs in "C", jansson corrects it too */
    if (!strchr(s, '.') && !strchr(s, 'e')) {
        memcpy(s + n, ".0", 3); /* else it would read back as an integer */
        n += 2;
    }
    char *e = strchr(s, 'e');
    if (e) {
        /* "1e+100" -> "1e100", "1e-07" -> "1e-7", as jansson writes them. */
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            from++, to++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(s);
    }
    return lgw_buf_append(buf, s, (size_t)n);
}

static int write_value(struct lgw_buf *buf, const json_t *v, int depth)
{
    if (depth > LGW_JSON_WRITE_DEPTH_MAX)
        return LGW_ERR(INTERNAL);
    int rc = LGW_OK;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        rc = lgw_buf_append(buf, "{", 1);
        bool first = true;
        /* jansson's iterator takes a non-const object; it changes nothing. */
        for (void *it = json_object_iter((json_t *)v); it && !rc; it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                rc = lgw_buf_append(buf, ",", 1);
            first = false;
            if (!rc)
                rc = lgw_buf_json_string(buf, json_object_iter_key(it), json_object_iter_key_len(it));
            if (!rc)
                rc = lgw_buf_append(buf, ":", 1);
            if (!rc)
                rc = write_value(buf, json_object_iter_value(it), depth + 1);
        }
        return rc ? rc : lgw_buf_append(buf, "}", 1);
    }
    case JSON_ARRAY: {
        rc = lgw_buf_append(buf, "[", 1);
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n && !rc; i++) {
            if (i)
                rc = lgw_buf_append(buf, ",", 1);
            if (!rc)
                rc = write_value(buf, json_array_get(v, i), depth + 1);
        }
        return rc ? rc : lgw_buf_append(buf, "]", 1);
    }
    case JSON_STRING:
        return lgw_buf_json_string(buf, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return lgw_buf_int64(buf, (int64_t)json_integer_value(v));
    case JSON_REAL:
        return write_real(buf, json_real_value(v));
    case JSON_TRUE:
        return lgw_buf_append(buf, "true", 4);
    case JSON_FALSE:
        return lgw_buf_append(buf, "false", 5);
    case JSON_NULL:
        return lgw_buf_append(buf, "null", 4);
    }
    return LGW_ERR(INTERNAL);
}

int lgw_json_write(struct lgw_buf *buf, const json_t *v)
{
    if (!v)
        return LGW_ERR(INTERNAL);
    size_t before = buf->len;
    int rc = write_value(buf, v, 1);
    if (rc)
        lgw_buf_truncate(buf, before);
    return rc;
}

char *lgw_json_text(const json_t *v)
{
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    if (lgw_json_write(&b, v)) {
        lgw_buf_cleanup(&b);
        return NULL;
    }
    return lgw_buf_take(&b, NULL);
}

/* jansson's writer hands over its text in small pieces (a key, a quote, a number); each goes straight into the
 * buffer, whose cap makes the dump stop rather than grow past it. */
struct dump_to {
    struct lgw_buf *buf;
    int rc;
};

static int dump_piece(const char *data, size_t len, void *opaque)
{
    struct dump_to *to = opaque;
    to->rc = lgw_buf_append(to->buf, data, len);
    return to->rc ? -1 : 0;
}

int lgw_buf_dump_json(struct lgw_buf *buf, const struct json_t *obj, size_t flags)
{
    if (!obj)
        return LGW_ERR(INTERNAL);
    /* Compact dumps, nearly all of llmgw's and every one per request, go to the writer above, several times
     * faster on long strings; what jansson would refuse without JSON_ENCODE_ANY is still refused. */
    if ((flags & ~(size_t)JSON_ENCODE_ANY) == JSON_COMPACT) {
        if (!(flags & JSON_ENCODE_ANY) && !json_is_object(obj) && !json_is_array(obj))
            return LGW_ERR(INTERNAL);
        return lgw_json_write(buf, obj);
    }
    struct dump_to to = {buf, LGW_OK};
    size_t before = buf->len;
    if (json_dump_callback(obj, dump_piece, &to, flags) == 0)
        return LGW_OK;
    lgw_buf_truncate(buf, before);
    /* Not the cap: jansson refused the value (a bare scalar without JSON_ENCODE_ANY, a circular reference). */
    return to.rc ? to.rc : LGW_ERR(INTERNAL);
}

int lgw_buf_append_json(struct lgw_buf *buf, struct json_t *obj, size_t flags)
{
    int rc = lgw_buf_dump_json(buf, obj, flags);
    json_decref(obj);
    return rc;
}

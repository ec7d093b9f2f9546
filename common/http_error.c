/* http_error.c - OpenAI-style error bodies (see http_error.h). */
#include "common/http_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

json_t *lgw_http_error_object(int rc, const char *message, const char *param, const char *code)
{
    if (rc == 0)
        rc = LGW_ERR(INTERNAL);
    json_t *obj = json_object();
    json_object_set_new(obj, "message", json_string(message ? message : lgw_err_message(rc)));
    json_object_set_new(obj, "type", json_string(lgw_err_type(rc)));
    json_t *jparam = param && param[0] ? json_string(param) : NULL; /* NULL too for text that is not UTF-8 */
    json_object_set_new(obj, "param", jparam ? jparam : json_null());
    json_object_set_new(obj, "code", json_string(code ? code : lgw_err_code(rc)));
    /* json_string refuses text that is not UTF-8: a message from outside then says what the row says */
    if (!json_is_string(json_object_get(obj, "message")))
        json_object_set_new(obj, "message", json_string(lgw_err_message(rc)));
    if (!json_is_string(json_object_get(obj, "code")))
        json_object_set_new(obj, "code", json_string(lgw_err_code(rc)));
    return obj;
}

json_t *lgw_http_error_json(int rc, const char *message)
{
    json_t *body = json_object();
    json_object_set_new(body, "error", lgw_http_error_object(rc, message, NULL, NULL));
    return body;
}

int lgw_http_error_body_param(int rc, const char *message, const char *param, struct lgw_buf *out)
{
    json_t *body = json_object();
    json_object_set_new(body, "error", lgw_http_error_object(rc, message, param, NULL));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return LGW_ERR(NOMEM);
    int err = lgw_buf_puts(out, text);
    free(text);
    return err;
}

int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out)
{
    return lgw_http_error_body_param(rc, message, NULL, out);
}

/* One "suppressed" line: how many lines like the format key were held back (key is a libmicrohttpd format
 * string, shown up to its first newline, never formatted). */
static void say_suppressed(void *opaque, const void *key, uint64_t n)
{
    const struct lgw_log_limit *l = opaque;
    const char *fmt = key ? key : "";
    int len = (int)strcspn(fmt, "\r\n");
    LGW_WARN(l->module, "suppressed %llu more libmicrohttpd messages like \"%.*s\" (at most %u of a kind a second)",
             (unsigned long long)n, len > 120 ? 120 : len, fmt, (unsigned)l->per_sec);
}

void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    struct lgw_log_limit *l = cls;
    uint64_t held;
    const void *held_key;
    bool allow = lgw_log_limit_allow(l, fmt, lgw_mono_ms(), &held, &held_key);
    if (held)
        say_suppressed(l, held_key, held);
    if (!allow)
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    LGW_WARN(l->module, "%s", msg);
}

void lgw_http_mhd_log_flush(struct lgw_log_limit *l)
{
    lgw_log_limit_flush(l, lgw_mono_ms(), say_suppressed, l);
}

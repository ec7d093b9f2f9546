/* http_error.c - OpenAI-style error bodies (see http_error.h). */
#include "http_error.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"

int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out)
{
    const char *msg = message ? message : lgw_err_message(rc);
    const char *type = lgw_err_type(rc), *code = lgw_err_code(rc);
    int r = lgw_buf_puts(out, "{\"error\":{\"message\":");
    r = r ? r : lgw_buf_json_string(out, msg, strlen(msg));
    r = r ? r : lgw_buf_puts(out, ",\"type\":");
    r = r ? r : lgw_buf_json_string(out, type, strlen(type));
    r = r ? r : lgw_buf_puts(out, ",\"param\":null,\"code\":");
    r = r ? r : lgw_buf_json_string(out, code, strlen(code));
    r = r ? r : lgw_buf_puts(out, "}}");
    return r;
}

void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    LGW_WARN(cls ? (const char *)cls : "http", "%s", msg);
}

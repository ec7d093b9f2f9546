/* http_error.c - OpenAI-style error bodies (see http_error.h). */
#include "common/http_error.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out)
{
    if (rc == 0) /* an error body for success is a caller bug; say "internal" rather than emit empty codes */
        rc = LGW_ERR(INTERNAL);
    const char *msg = message ? message : lgw_err_message(rc);
    const char *type = lgw_err_type(rc), *code = lgw_err_code(rc);
    int err = lgw_buf_puts(out, "{\"error\":{\"message\":");
    err = err ? err : lgw_buf_json_string(out, msg, strlen(msg));
    err = err ? err : lgw_buf_puts(out, ",\"type\":");
    err = err ? err : lgw_buf_json_string(out, type, strlen(type));
    err = err ? err : lgw_buf_puts(out, ",\"param\":null,\"code\":");
    err = err ? err : lgw_buf_json_string(out, code, strlen(code));
    err = err ? err : lgw_buf_puts(out, "}}");
    return err;
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

/* http_error.c - OpenAI-style error bodies (see http_error.h). */
#include "http_error.h"

#include <string.h>

#include "errors.h"

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

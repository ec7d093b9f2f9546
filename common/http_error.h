/* http_error.h - the OpenAI-style error body every HTTP server of llmgw answers with:
 * {"error":{"message":..,"type":..,"param":null,"code":..}}, type and code from the error table. */
#ifndef LGW_HTTP_ERROR_H
#define LGW_HTTP_ERROR_H

#include <stdarg.h>

#include "common/buf.h"

/* Appends the body for rc (either sign; 0 is treated as INTERNAL) to out; message NULL means the table's
 * default message, and is JSON-escaped. Returns 0 or LGW_ERR(TOO_LARGE) from out's cap. Any thread. */
int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out);

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback: its messages become JSON log lines of module cls
 * (a const char *). Any thread. */
void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap);

#endif

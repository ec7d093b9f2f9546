/* http_error.h - the one builder of the OpenAI-style error every part of llmgw answers with:
 * {"error":{"message":..,"type":..,"param":null,"code":..}}, type and code from the error table. */
#ifndef LGW_HTTP_ERROR_H
#define LGW_HTTP_ERROR_H

#include <jansson.h>
#include <stdarg.h>

#include "common/buf.h"

/* The inner object {"message","type","param":null,"code"} of row rc (either sign; 0 is treated as INTERNAL,
 * an error object for success being a caller bug). message NULL: the table's text. code NULL: the table's;
 * else this code instead (a provider's own, e.g. Anthropic's "overloaded_error", kept for the client).
 * New reference. Any thread. */
json_t *lgw_http_error_object(int rc, const char *message, const char *code);
/* {"error": lgw_http_error_object(rc, message, NULL)}. New reference. */
json_t *lgw_http_error_json(int rc, const char *message);
/* Appends lgw_http_error_json(rc, message) as compact JSON to out. Returns 0 or LGW_ERR(TOO_LARGE) from
 * out's cap. Any thread. */
int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out);

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback: its messages become JSON log lines of module cls
 * (a const char *). Any thread. */
void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap);

#endif

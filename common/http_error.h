/* http_error.h - the one builder of the OpenAI-style error every part of llmgw answers with:
 * {"error":{"message":..,"type":..,"param":..,"code":..}}, type and code from the error table, param the
 * request field at fault (null when none is). */
#ifndef LGW_HTTP_ERROR_H
#define LGW_HTTP_ERROR_H

#include <jansson.h>
#include <stdarg.h>

#include "common/buf.h"
#include "common/log_limit.h"

/* The inner object {"message","type","param","code"} of row rc (either sign; 0 is treated as INTERNAL,
 * an error object for success being a caller bug). message NULL: the table's text. param: the request field
 * the error is about ("max_tokens", "messages[0].role"), as OpenAI names it; NULL or "": null. code NULL:
 * the table's; else this code instead (a provider's own, e.g. Anthropic's "overloaded_error", kept for the
 * client). New reference. Any thread. */
json_t *lgw_http_error_object(int rc, const char *message, const char *param, const char *code);
/* {"error": lgw_http_error_object(rc, message, NULL, NULL)}. New reference. */
json_t *lgw_http_error_json(int rc, const char *message);
/* Appends {"error": lgw_http_error_object(rc, message, param, NULL)} as compact JSON to out. Returns 0 or
 * LGW_ERR(TOO_LARGE) from out's cap. Any thread. */
int lgw_http_error_body_param(int rc, const char *message, const char *param, struct lgw_buf *out);
/* lgw_http_error_body_param with no param. */
int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out);

/* Lines of one kind (one libmicrohttpd message format) logged per second; the rest are counted (log_limit.h).
 * A hostile client can make libmicrohttpd warn once per connection: a flood once filled 182 of 205 lines. */
#define LGW_HTTP_LOG_PER_SEC 5

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback: its messages become JSON warn lines of the module of
 * cls, a struct lgw_log_limit * (initialised with LGW_HTTP_LOG_PER_SEC, owned by the server's context), at
 * most LGW_HTTP_LOG_PER_SEC a second per message format, with a "suppressed" line for the rest. Any
 * thread. */
void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap);
/* Says the lines l held back in seconds that are over (call about once a second, so a flood that stopped
 * is still reported, and once at the end). Any thread. */
void lgw_http_mhd_log_flush(struct lgw_log_limit *l);

#endif

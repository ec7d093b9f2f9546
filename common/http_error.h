/* http_error.h - the one builder of the OpenAI-style error every part of llmgw answers with:
 * {"error":{"message":..,"type":..,"param":..,"code":..}}, type and code from the error table, param the
 * request field at fault (null when none is). */
#ifndef LGW_HTTP_ERROR_H
#define LGW_HTTP_ERROR_H

#include <jansson.h>
#include <stdarg.h>

#include "common/buf.h"

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

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback: its messages become JSON log lines of module cls
 * (a const char *). Any thread. */
void lgw_http_mhd_log_cb(void *cls, const char *fmt, va_list ap);

#endif

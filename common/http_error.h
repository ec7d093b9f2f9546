/* http_error.h - the OpenAI-style error body every HTTP server of llmgw answers with:
 * {"error":{"message":..,"type":..,"param":null,"code":..}}, type and code from the error table. */
#ifndef LGW_HTTP_ERROR_H
#define LGW_HTTP_ERROR_H

#include "buf.h"

/* Appends the body for rc to out; message NULL means the table's default message. Returns 0 or an LGW_ERR. */
int lgw_http_error_body(int rc, const char *message, struct lgw_buf *out);

#endif

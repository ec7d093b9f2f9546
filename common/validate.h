/* validate.h - checks an OpenAI-shaped request body before it becomes a job: the ingress for an HTTP request,
 * and the batch submitter (batch/submit.h) for every line of a batch, so both refuse the same bodies.
 *
 * The ingress answers bad input itself (400/413 with an OpenAI-style error), so workers only ever see
 * requests that parse and have the fields they rely on. */
#ifndef LGW_VALIDATE_H
#define LGW_VALIDATE_H

#include <jansson.h>
#include <stddef.h>

#include "common/envelope.h"

/* Largest nesting of arrays/objects in data[0..len); scans bytes (strings skipped) without parsing, so
 * it is safe to run before json_loadb on untrusted input. */
int lgw_json_depth(const char *data, size_t len);

/* Parses body with a nesting cap. On success *out is a new reference (caller owns). On failure returns
 * LGW_ERR(BAD_JSON) or LGW_ERR(TOO_DEEP) and fills msg. */
int lgw_validate_parse(const char *data, size_t len, int max_depth, json_t **out, char *msg, size_t msgsz);

/* Validates a chat completions request: model (non-empty string), messages (non-empty array of objects
 * with a valid role and content of the right type), and the types of the common optional fields.
 * Returns 0 or LGW_ERR(INVALID)/LGW_ERR(UNSUPPORTED) with msg and param (the offending field) filled. */
int lgw_validate_chat(json_t *body, char *msg, size_t msgsz, char *param, size_t paramsz);

/* Validates an embeddings request: model, input (non-empty string, or non-empty array of strings or of
 * token ids), optional dimensions (1..8192), encoding_format ("float"). */
int lgw_validate_embeddings(json_t *body, char *msg, size_t msgsz, char *param, size_t paramsz);

#endif

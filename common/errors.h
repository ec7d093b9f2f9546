/* errors.h - the one table of llmgw error codes.
 *
 * Every layer (ingress, worker, provider, ledger) returns these codes, so the ingress maps them to an
 * HTTP status and an OpenAI-style error body mechanically, and errors that cross Kafka keep their
 * retriable flag without anyone parsing message text. */
#ifndef LGW_ERRORS_H
#define LGW_ERRORS_H

#include <stdbool.h>

/* X(NAME, http status, OpenAI error type, code string, retriable, default message)
 *
 * retriable: the same request, sent again (to the same provider or the next candidate), may succeed. It is
 * the one retry predicate: the wire layer retries, dispatch fails over and the ingress tells clients
 * (x-should-retry) from this column, never from their own status lists. Rows a provider's answer maps to
 * (lgw_err_from_status) follow what the official SDKs retry: 408, 409 (OpenAI's lock-timeout conflicts
 * are transient), 429 and 5xx; a row that differs from that rule for its status (QUOTA: no budget comes
 * back by waiting) is sent to clients with x-should-retry so the SDKs follow the table.
 *
 * Rows are grouped by status; the first row of a status is the one a bare status maps to. */
#define LGW_ERROR_TABLE(X)                                                                                 \
    X(OK, 200, "", "", false, "ok")                                                                        \
    X(INVALID, 400, "invalid_request_error", "invalid_request", false, "invalid request")                 \
    X(BAD_JSON, 400, "invalid_request_error", "invalid_json", false, "request body is not valid JSON")    \
    X(TOO_DEEP, 400, "invalid_request_error", "json_too_deep", false, "JSON nesting is too deep")         \
    X(UNSUPPORTED, 400, "invalid_request_error", "unsupported_parameter", false, "unsupported parameter") \
    X(CONTEXT_LENGTH, 400, "invalid_request_error", "context_length_exceeded", false,                    \
      "the request does not fit the context window of any model it may go to")                             \
    X(NO_CAPABLE_MODEL, 400, "invalid_request_error", "model_not_capable", false,                         \
      "no model the request may go to supports what it uses")                                              \
    X(BAD_STRATEGY, 400, "invalid_request_error", "invalid_strategy", false,                              \
      "unknown routing strategy (cost, latency, capability or round-robin)")                               \
    X(UNAUTHORIZED, 401, "authentication_error", "invalid_api_key", false, "invalid or missing API key")  \
    X(FORBIDDEN, 403, "permission_error", "permission_denied", false, "not allowed")                      \
    X(NOT_FOUND, 404, "invalid_request_error", "not_found", false, "no such route")                       \
    X(MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found", false, "model not found")         \
    X(MODEL_RETIRED, 404, "invalid_request_error", "model_retired", false,                                \
      "the model was retired by its provider; use its successor")                                          \
    X(METHOD, 405, "invalid_request_error", "method_not_allowed", false, "method not allowed")            \
    X(REQUEST_TIMEOUT, 408, "timeout_error", "request_timeout", true, "request timeout")                 \
    X(BATCH_EXPIRED, 408, "invalid_request_error", "batch_expired", false,                                \
      "the batch expired before this request ran")                                                       \
    X(CONFLICT, 409, "conflict_error", "conflict", true, "conflict with another request; try again")      \
    X(BATCH_CANCELLED, 409, "invalid_request_error", "batch_cancelled", false,                            \
      "the batch was cancelled before this request ran")                                                 \
    X(TOO_LARGE, 413, "invalid_request_error", "request_too_large", false, "request body is too large")   \
    X(UNPROCESSABLE, 422, "invalid_request_error", "unprocessable_entity", false, "unprocessable request") \
    X(RATE_LIMITED, 429, "requests", "rate_limit_exceeded", true, "rate limit reached for requests")      \
    X(TOKENS_RATE_LIMITED, 429, "tokens", "rate_limit_exceeded", true, "rate limit reached for tokens")   \
    X(QUOTA, 429, "insufficient_quota", "insufficient_quota", false,                                      \
      "You exceeded your current quota; raise the budget before trying again.")                            \
    X(HEADERS_TOO_LARGE, 431, "invalid_request_error", "request_headers_too_large", false,                \
      "the request's headers are too large")                                                              \
    X(SERVER_ERROR, 500, "server_error", "server_error", true, "the server had an error processing the request") \
    X(INTERNAL, 500, "server_error", "internal_error", false, "internal error")                           \
    X(NOMEM, 500, "server_error", "internal_error", false, "out of memory")                                \
    X(CONFIG, 500, "server_error", "config_error", false, "invalid configuration")                        \
    X(DB, 500, "server_error", "database_error", true, "database error")                                  \
    X(IO, 500, "server_error", "io_error", true, "I/O error")                                              \
    X(PROVIDER, 502, "api_error", "bad_gateway", true, "provider error")                                  \
    X(UNAVAILABLE, 503, "service_unavailable", "service_unavailable", true, "service unavailable")        \
    X(NO_HEALTHY_PROVIDER, 503, "service_unavailable", "provider_unavailable", true,                      \
      "every provider that could serve the request is failing; try again later")                           \
    X(OVERLOADED, 503, "service_unavailable", "overloaded", true, "too many requests in flight")          \
    X(TIMEOUT, 504, "timeout_error", "gateway_timeout", true, "request timed out")                        \
    X(EXPIRED, 504, "timeout_error", "deadline_exceeded", false, "deadline passed before the job ran")

enum lgw_err {
#define X(name, status, type, code, retriable, msg) LGW_E_##name,
    LGW_ERROR_TABLE(X)
#undef X
        LGW_E__COUNT
};

/* Functions return 0 (LGW_OK) or a negative code: rc = -LGW_E_INVALID. */
#define LGW_OK 0
#define LGW_ERR(name) (-(int)LGW_E_##name)

/* Lookups take either sign of the code; unknown codes map to INTERNAL. Thread-safe (static data). */
int lgw_err_status(int rc);
const char *lgw_err_type(int rc);
const char *lgw_err_code(int rc);
const char *lgw_err_message(int rc);
const char *lgw_err_name(int rc);
bool lgw_err_retriable(int rc);
/* Maps an HTTP status (a provider's, or a reply's that carries only a status) to its row: the first row of
 * that status in the table order above is the canonical one; other 4xx are INVALID, other 5xx
 * SERVER_ERROR, anything else INTERNAL. */
int lgw_err_from_status(int status);
/* The row with this status and code string (an error body's), else lgw_err_from_status(status). */
int lgw_err_find(int status, const char *code);
/* What x-should-retry tells a client about rc: 1 true, 0 false, -1 no header (the SDKs' own rule for the
 * status, which retries 408, 409, 429 and 5xx, already agrees with the row's retriable flag). */
int lgw_err_retry_header(int rc);

#endif

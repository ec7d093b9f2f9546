/* errors.h - the one table of llmgw error codes.
 *
 * Every layer (ingress, worker, provider, ledger) returns these codes, so the ingress maps them to an
 * HTTP status and an OpenAI-style error body mechanically, and errors that cross Kafka keep their
 * retriable flag without anyone parsing message text. */
#ifndef LGW_ERRORS_H
#define LGW_ERRORS_H

#include <stdbool.h>

/* X(NAME, http status, OpenAI error type, code string, retriable, default message) */
#define LGW_ERROR_TABLE(X)                                                                                 \
    X(OK, 200, "", "", false, "ok")                                                                        \
    X(NOMEM, 500, "server_error", "internal_error", false, "out of memory")                                \
    X(INTERNAL, 500, "server_error", "internal_error", false, "internal error")                           \
    X(BAD_JSON, 400, "invalid_request_error", "invalid_json", false, "request body is not valid JSON")    \
    X(TOO_DEEP, 400, "invalid_request_error", "json_too_deep", false, "JSON nesting is too deep")         \
    X(INVALID, 400, "invalid_request_error", "invalid_request", false, "invalid request")                 \
    X(UNSUPPORTED, 400, "invalid_request_error", "unsupported_parameter", false, "unsupported parameter") \
    X(TOO_LARGE, 413, "invalid_request_error", "request_too_large", false, "request body is too large")   \
    X(UNAUTHORIZED, 401, "authentication_error", "invalid_api_key", false, "invalid or missing API key")  \
    X(NOT_FOUND, 404, "invalid_request_error", "not_found", false, "no such route")                       \
    X(METHOD, 405, "invalid_request_error", "method_not_allowed", false, "method not allowed")            \
    X(MODEL_NOT_FOUND, 404, "invalid_request_error", "model_not_found", false, "model not found")         \
    X(CONTEXT_LENGTH, 400, "invalid_request_error", "context_length_exceeded", false,                    \
      "the request does not fit the context window of any model it may go to")                             \
    X(NO_CAPABLE_MODEL, 400, "invalid_request_error", "model_not_capable", false,                         \
      "no model the request may go to supports what it uses")                                              \
    X(BAD_STRATEGY, 400, "invalid_request_error", "invalid_strategy", false,                              \
      "unknown routing strategy (cost, latency, capability or round-robin)")                               \
    X(NO_HEALTHY_PROVIDER, 503, "service_unavailable", "provider_unavailable", true,                      \
      "every provider that could serve the request is failing; try again later")                           \
    X(TIMEOUT, 504, "timeout_error", "gateway_timeout", true, "request timed out")                        \
    X(EXPIRED, 504, "timeout_error", "deadline_exceeded", false, "deadline passed before the job ran")    \
    X(UNAVAILABLE, 503, "service_unavailable", "service_unavailable", true, "service unavailable")        \
    X(OVERLOADED, 503, "service_unavailable", "overloaded", true, "too many requests in flight")          \
    X(PROVIDER, 502, "api_error", "bad_gateway", true, "provider error")                                  \
    X(CONFIG, 500, "server_error", "config_error", false, "invalid configuration")                        \
    X(DB, 500, "server_error", "database_error", true, "database error")                                  \
    X(IO, 500, "server_error", "io_error", true, "I/O error")

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
/* Maps an HTTP status back to the closest code (for replies that carry only a status). */
int lgw_err_from_status(int status);

#endif

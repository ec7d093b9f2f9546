/* http_call.h - a "mounted" HTTP call: what a role library needs to answer a request that the ingress
 * received, without either of them including the other. The ingress fills a call (method, path, query
 * pairs, the caller it identified, a deadline), hands it to the mount's handler on an HTTP thread, and
 * answers the client when the handler (or whichever thread it passed the call to) calls done.
 *
 * Ownership: the handler owns the call from the moment it is handed over until it calls lgw_http_call_done
 * exactly once; done frees the call (with everything it points to), so the call must not be touched after.
 * The client may leave, or the call's deadline pass, before done: the ingress has answered (504) or dropped
 * the connection already, and done then only frees. */
#ifndef LGW_HTTP_CALL_H
#define LGW_HTTP_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/envelope.h"

struct lgw_http_query_pair {
    char *name;
    char *value; /* "" for "?flag" */
};

/* Who asked, as the ingress's admission identified them (see ingress/request.h). */
struct lgw_http_caller {
    char tenant[LGW_NAME_MAX];      /* "" for an admin key */
    char key_id[LGW_KEY_ID_MAX];    /* "" for keyless dev calls and admin keys */
    bool admin;                     /* may read every tenant */
    char principal[LGW_TENANT_MAX]; /* who asked, for audit: the admin key's name, else the tenant */
};

/* Response headers a handler may add (x-llmgw-next-cursor of a CSV page): at most this many, each name up to
 * 63 bytes and value up to 255 (longer is cut). */
#define LGW_HTTP_CALL_HEADERS_MAX 4

struct lgw_http_call {
    const char *method;
    const char *path;                   /* the whole path, without the query */
    struct lgw_http_query_pair *query;  /* in the order received; a repeated name appears repeatedly */
    size_t nquery;
    struct lgw_http_caller caller;
    const char *request_id;             /* x-request-id of the answer, for logs */
    /* The request body of a mount with body_max (NULL and 0 otherwise): at most body_max bytes, NUL-terminated
     * after len (not counted), owned by the call (freed by done). content_type: the request's Content-Type
     * header, "" when absent. */
    const char *body;
    size_t body_len;
    const char *content_type;
    int64_t deadline_ms;                /* monotonic (lgw_mono_ms); past it the client has had a 504 */
    char header_names[LGW_HTTP_CALL_HEADERS_MAX][64];
    char header_values[LGW_HTTP_CALL_HEADERS_MAX][256];
    size_t nheaders;
    /* Completes the call: status, content type (NULL: application/json) and body, which the callee takes
     * (malloc'd, or NULL with len 0). Frees the call. Any thread, exactly once. */
    void (*done)(struct lgw_http_call *call, int status, const char *content_type, char *body, size_t len);
};

/* A mounted handler: the ingress calls handle(opaque, call) on an HTTP thread for every request whose path
 * starts with prefix and whose method is method (required; another method on the prefix is a 405), after the
 * ingress's own route table found nothing, and once the body (for a mount with body_max) is read. handle must
 * not block (it queues the call for threads of its own) and must see that done is called once. auth: the ingress identifies the caller first
 * (401 otherwise); admin: an admin key may call it (else 403). The strings and opaque must outlive the ingress. */
struct lgw_http_mount {
    const char *method;
    const char *prefix;
    bool auth;
    bool admin;
    int64_t timeout_ms; /* the call's deadline from its arrival; 0: request_timeout_ms */
    /* 0: no body is read (as for a GET). Else the ingress reads and buffers the body up to this many bytes
     * (not max_body_bytes: an uploaded file is larger than any chat request) and hands it to the call; a
     * declared Content-Length above it is answered 413 before a byte is read, and a body that grows past it
     * (chunked) is 413 once read. The whole body is in memory: size the cap with the ingress's memory. */
    size_t body_max;
    void (*handle)(void *opaque, struct lgw_http_call *call);
    void *opaque;
};

/* Completes call (see done above). */
static inline void lgw_http_call_done(struct lgw_http_call *call, int status, const char *content_type, char *body,
                                      size_t len)
{
    call->done(call, status, content_type, body, len);
}

/* Adds a response header to send with done's answer; ignored past LGW_HTTP_CALL_HEADERS_MAX. The thread
 * holding the call. */
void lgw_http_call_header(struct lgw_http_call *call, const char *name, const char *value);
/* The value of the first query pair named name, or NULL. Any thread holding the call. */
const char *lgw_http_call_query(const struct lgw_http_call *call, const char *name);

#endif

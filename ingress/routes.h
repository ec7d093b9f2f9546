/* routes.h - the ingress's one route table: method, path, handler, whether the caller must be identified
 * first, whether a body is read, and the client's API dialect. The server (ingress.c) matches a request
 * here and calls the handler once the body is in; adding an endpoint is adding a row. */
#ifndef LGW_ROUTES_H
#define LGW_ROUTES_H

#include <microhttpd.h>
#include <stdbool.h>

#include "ingress/dialect.h"
#include "ingress/request.h"

struct lgw_route {
    const char *method;
    const char *path;
    /* Answers req (queues a response, or suspends it while a job runs). HTTP thread. */
    enum MHD_Result (*handler)(struct lgw_req *req);
    bool auth; /* identify the caller (admission.c) before the handler; 401 otherwise */
    bool body; /* reads a request body, capped at max_body_bytes (413 above it) */
    const struct lgw_dialect *dialect; /* the client's dialect; NULL: OpenAI */
};

/* The route for method and path, or NULL. *same_path is set to a route with this path whatever its method,
 * or NULL (405 rather than 404, and the path as a metrics label). Static data; any thread. */
const struct lgw_route *lgw_route_find(const char *method, const char *path, const struct lgw_route **same_path);

#endif

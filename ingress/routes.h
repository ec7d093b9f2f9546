/* routes.h - the ingress's one route table: method, path, handler, whether the caller must be identified
 * first, whether a body is read, and the client's API dialect. The server (ingress.c) matches a request
 * here and calls the handler once the body is in; adding an endpoint is adding a row.
 *
 * A path ending in a segment in braces ("/v1/models/{id}") is a pattern: it matches its prefix followed by
 * anything non-empty, which the handler finds in req->path_arg; exact paths win over patterns. The path (the
 * pattern as written) is also the route's metrics label. */
#ifndef LGW_ROUTES_H
#define LGW_ROUTES_H

#include "httpd/server.h"
#include <stdbool.h>

#include "ingress/dialect.h"
#include "ingress/request.h"

struct lgw_route {
    const char *method; /* NULL: any method */
    const char *path;
    /* Answers req (queues a response, or suspends it while a job runs). HTTP thread. */
    enum lgw_hres (*handler)(struct lgw_req *req);
    bool auth; /* identify the caller (admission.c) before the handler; 401 otherwise */
    bool body; /* reads a request body, capped at max_body_bytes (413 above it) */
    const struct lgw_dialect *dialect; /* the client's dialect; NULL: OpenAI */
    /* An admin key may call it (analytics, tenant administration). Elsewhere an admin key is refused with a
     * 403: it names no tenant to bill. */
    bool admin;
    size_t body_max; /* a cap other than max_body_bytes (a mount's upload); 0: max_body_bytes */
};

/* The route for method and path, or NULL. *same_path is set to a route with this path whatever its method,
 * or NULL (405 rather than 404, the path as a metrics label, the dialect of the error). *arg points into
 * path at what a pattern matched (NULL for an exact path). Static data; any thread. */
const struct lgw_route *lgw_route_find(const char *method, const char *path, const struct lgw_route **same_path,
                                       const char **arg);

#endif

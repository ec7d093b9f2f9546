/* jobs.h - the ingress's job routes: a validated request becomes a job on Kafka, and the client waits,
 * suspended, for its reply (replies.c completes it). Also the other message the ingress sends about a job:
 * the cancel, when a streaming client leaves. */
#ifndef LGW_JOBS_H
#define LGW_JOBS_H

#include "httpd/server.h"

#include "ingress/request.h"

/* Route handlers (ingress/routes.h) for chat (in the route's dialect) and embeddings. HTTP thread, once the
 * body is read and the caller identified. */
enum lgw_hres lgw_jobs_chat(struct lgw_req *req);
enum lgw_hres lgw_jobs_embeddings(struct lgw_req *req);

/* Tells the workers that req's client left before its stream ended (a cancel message on <prefix>.cancel),
 * so the provider call stops. Returns 0, or LGW_ERR(UNAVAILABLE) when it could not be queued (the call then
 * runs to its end; only tokens are lost). Any thread. */
int lgw_jobs_cancel(struct lgw_req *req);

#endif

/* analytics.h - the analytics role: GET /v1/analytics/summary and /v1/analytics/requests over the cost
 * ledger (docs/ANALYTICS.md). It runs mounted in an ingress (common/http_call.h), on its own small pool of
 * threads with their own database connections and a statement timeout, so a slow report never takes an
 * HTTP thread or a chat request's turn; a bounded queue in front of the pool answers 503 when full. */
#ifndef LGW_ANALYTICS_H
#define LGW_ANALYTICS_H

#include "common/config.h"
#include "common/http_call.h"
#include "common/metrics.h"

struct lgw_analytics;

/* Starts analytics_db_pool threads over cfg->database_url (connections open at the first query). cfg and m
 * must outlive it; *out owned by the caller (lgw_analytics_free). Returns 0 or LGW_ERR(CONFIG). Main
 * thread. */
int lgw_analytics_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_analytics **out);
/* The mount serving /v1/analytics/ from an, for lgw_ingress_new_mounted. */
struct lgw_http_mount lgw_analytics_mount(struct lgw_analytics *an);
/* Stops the threads after the call each is serving; calls still queued are done with 503. Call after the
 * ingress drained and before it is freed (ingress.h). NULL is a no-op. Main thread. */
void lgw_analytics_free(struct lgw_analytics *an);

/* Serves one call on the calling thread with db (analytics.c's threads; unit tests), then completes it. */
struct lgw_an_db;
void lgw_analytics_serve(struct lgw_an_db *db, struct lgw_metrics *m, struct lgw_http_call *call);

#endif

/* ingress.h - the HTTP front door: validates and authenticates requests, queues them as jobs on Kafka,
 * and answers each client from this instance's own reply topic (read with assign(), never a group).
 *
 * Routes: POST /v1/chat/completions and /v1/chat, POST /v1/embeddings, GET /v1/models, GET /healthz,
 * /readyz, /metrics; and whatever is mounted (lgw_ingress_new_mounted: /v1/analytics/ from analytics/). */
#ifndef LGW_INGRESS_H
#define LGW_INGRESS_H

#include <stdbool.h>

#include "common/config.h"
#include "common/http_call.h"
#include "common/metrics.h"

struct lgw_ingress;
struct lgw_tracer;

/* A readiness condition for /readyz besides the ingress's own (`llmgw dev` adds the worker's and the
 * ledger's). cb is called on HTTP threads, concurrently, for as long as the ingress lives. */
struct lgw_ingress_ready_check {
    bool (*cb)(void *opaque);
    void *opaque;
};
#define LGW_INGRESS_READY_CHECKS_MAX 4

/* Creates the Kafka clients and topics and starts listening on cfg->listen_addr:cfg->port. checks (nchecks
 * of them, at most LGW_INGRESS_READY_CHECKS_MAX; NULL if none) are copied in before the server starts, so
 * /readyz never answers without them. tr (NULL: tracing off) records each request's spans. cfg, m and tr must
 * outlive the ingress, and each check's opaque must too;
 * *out is owned by the caller (lgw_ingress_free). Main thread. */
int lgw_ingress_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr,
                    const struct lgw_ingress_ready_check *checks, int nchecks, struct lgw_ingress **out);
/* lgw_ingress_new with mounted handlers (common/http_call.h): requests whose path starts with a mount's prefix
 * (and that no route of the table serves) are handed to it, off the HTTP threads' hands once queued. mounts
 * (nmounts, at most 8) are copied before the server starts; what they point to must outlive the ingress, and
 * every call handed to a mount must be done before lgw_ingress_free (drain, then stop the mount's threads,
 * then free). Main thread. */
int lgw_ingress_new_mounted(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_tracer *tr,
                            const struct lgw_ingress_ready_check *checks, int nchecks,
                            const struct lgw_http_mount *mounts, size_t nmounts, struct lgw_ingress **out);
/* Drains: stops accepting connections, waits (up to shutdown_grace_ms) for waiting requests to be
 * answered, answers the rest with 503, and stops the server. Call once, from the main thread. */
void lgw_ingress_drain(struct lgw_ingress *ing);
/* Frees everything (drains first if lgw_ingress_drain was not called). NULL is a no-op. */
void lgw_ingress_free(struct lgw_ingress *ing);

/* Readiness of ing (what its /readyz says), for an ops server (common/opsrv.h) in front of it: opaque is the
 * ingress. Any thread. */
bool lgw_ingress_ready_cb(void *opaque);

#endif

/* status.h - the worker's provider status: what its breakers and latency estimates say of every provider of its
 * catalog, published on the compacted providers topic (common/provider_status.h) for the ingress's
 * GET /v1/providers. Breakers live in each worker (routing/health.h); this is how anyone else sees them.
 *
 * When: once at start, then every provider_status_interval_ms, and within about 200 ms of any breaker changing
 * state (changes closer together than that go out as one record). At a clean stop: a tombstone for the worker's
 * key, so a stopped worker disappears at once; a killed worker's last record goes stale instead (readers drop
 * it three intervals after it was taken). */
#ifndef LGW_STATUS_H
#define LGW_STATUS_H

#include <stdint.h>

#include "common/config.h"
#include "common/metrics.h"
#include "common/provider_status.h"
#include "routing/catalog.h"
#include "routing/health.h"

struct lgw_status;

/* Starts the publisher: its own producer (so waiting for its tombstone at stop never waits for replies) and
 * one thread. cfg, catalog, health and m are borrowed and must outlive it; worker_id is copied (the record
 * key). Returns 0 and *out (lgw_status_stop), or an LGW_ERR. Start-up thread. */
int lgw_status_start(const struct lgw_config *cfg, const char *worker_id, struct lgw_catalog_holder *catalog,
                     struct lgw_health *health, struct lgw_metrics *m, struct lgw_status **out);
/* Stops the thread, publishes the tombstone of the worker's key, waits up to 2 s for Kafka to take it, and
 * frees s. Call before health goes. NULL is a no-op. */
void lgw_status_stop(struct lgw_status *s);

/* The record this worker would publish at now_ms (wall clock): every provider of cat with at least one model,
 * configured or not, each model with health's stats. out is initialised here; the caller cleans it up. Any
 * thread. */
void lgw_status_snapshot(const struct lgw_config *cfg, const struct lgw_catalog *cat, struct lgw_health *health,
                         const char *worker_id, int64_t now_ms, struct lgw_pstatus *out);

#endif

/* providers_view.h - the GET /v1/providers answer: the workers' fresh provider status records
 * (common/provider_status.h) folded into one entry per provider, OpenAI-list style. Pure: records and catalog
 * in, JSON out; ingress/providers.c decides which records are fresh.
 *
 * Folding, over the records given:
 *   model state     the worst of the workers' (open > half_open > closed)
 *   provider state  the worst of its models that were called anywhere; "closed" when none was
 *   latency_ms      the mean of the workers' estimates, whole ms; null when no worker has one
 *   inflight, calls, failures   summed
 *   workers         how many records name the provider
 *   configured, simulated       true when any record says so
 *   reported_at     the newest of those records' ts_ms (RFC 3339, UTC, ms)
 * A provider of the ingress's catalog that no record names is listed as "state": "unknown" with "workers": 0,
 * its catalog models "unknown" too, and null where only a worker could say (configured, simulated,
 * reported_at): so the page is never blank and never pretends to know. Providers and models are ordered by id. */
#ifndef LGW_PROVIDERS_VIEW_H
#define LGW_PROVIDERS_VIEW_H

#include <jansson.h>
#include <stddef.h>

#include "common/provider_status.h"
#include "routing/catalog.h"

/* The answer {"object":"list","data":[...],"workers":n,"updated_at":...} from n records (borrowed, each from a
 * different worker) and cat (borrowed; may be NULL: then only what the records name). New reference. Any
 * thread. */
json_t *lgw_providers_view(const struct lgw_pstatus *const *recs, size_t n, const struct lgw_catalog *cat);

#endif

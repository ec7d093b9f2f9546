/* provider_status.h - what one worker reports of the providers it routes to, as it crosses Kafka: the record on
 * the compacted providers topic (schemas/provider_status.schema.json), keyed by the worker's id. Workers write
 * it (workers/status.c) from their breakers and latency estimates (routing/health.h); the ingress reads it
 * (ingress/providers.c) and answers GET /v1/providers from it. Prefix lgw_pstatus_ (provider status).
 *
 * The record holds nothing of any tenant: provider names, model ids, breaker states, latencies and counts
 * summed over every tenant's calls. That is what lets any caller read it. */
#ifndef LGW_PROVIDER_STATUS_H
#define LGW_PROVIDER_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

/* Caps a reader applies before anything is kept (a catalog has a few dozen models over a handful of
 * providers; these are far above it and keep one record's memory bounded). */
#define LGW_PSTATUS_PROVIDERS_MAX 64
#define LGW_PSTATUS_MODELS_MAX 512 /* per provider */
#define LGW_PSTATUS_PROVIDER_MAX 64 /* bytes of a provider name, NUL included */
/* interval_ms a record may state: the config knob's bounds (provider_status_interval_ms). */
#define LGW_PSTATUS_INTERVAL_MIN_MS 200
#define LGW_PSTATUS_INTERVAL_MAX_MS 3600000

/* The largest latency estimate a record carries (a day); a writer clamps to it. An estimate can grow past any
 * bound: each failure counts as at least twice the estimate (routing/health.h), so a long outage doubles it at
 * every failed probe, and JSON has no infinity. */
#define LGW_PSTATUS_LATENCY_MAX_MS 86400000.0

/* A breaker's state, ordered from best to worst: aggregation takes the largest. */
enum lgw_pstatus_state { LGW_PSTATUS_CLOSED = 0, LGW_PSTATUS_HALF_OPEN = 1, LGW_PSTATUS_OPEN = 2 };

struct lgw_pstatus_model {
    char model[LGW_NAME_MAX]; /* the catalog id */
    enum lgw_pstatus_state state;
    double latency_ms; /* the worker's estimate, at most LGW_PSTATUS_LATENCY_MAX_MS; < 0: none (null on the wire) */
    int64_t inflight, calls, failures; /* calls and failures since the worker started */
};

struct lgw_pstatus_provider {
    char provider[LGW_PSTATUS_PROVIDER_MAX];
    bool configured; /* the worker has its credentials */
    bool simulated;  /* a simulated stand-in serves it (`llmgw dev --simulate`) */
    size_t nmodels;
    struct lgw_pstatus_model *models; /* owned by the record */
};

/* One worker's record. Embedded (lgw_pstatus_init / lgw_pstatus_cleanup); owns its arrays. */
struct lgw_pstatus {
    char worker_id[LGW_NAME_MAX];
    int64_t ts_ms;       /* when the worker took the snapshot, Unix ms (the worker's clock) */
    int64_t interval_ms; /* how often the worker publishes: readers drop the record 3 intervals after ts_ms */
    size_t nproviders;
    struct lgw_pstatus_provider *providers; /* owned by the record */
};

/* "closed", "half_open", "open". */
const char *lgw_pstatus_state_name(enum lgw_pstatus_state s);

/* An empty record. */
void lgw_pstatus_init(struct lgw_pstatus *st);
/* Frees the arrays and empties st. */
void lgw_pstatus_cleanup(struct lgw_pstatus *st);
/* Appends a provider (name copied, truncated to the cap) and returns it (owned by st, valid until the next
 * append or cleanup). */
struct lgw_pstatus_provider *lgw_pstatus_add_provider(struct lgw_pstatus *st, const char *provider, bool configured,
                                                      bool simulated);
/* Appends a model to p (id copied) and returns it, state closed, no latency, counts 0. Same lifetime rule. */
struct lgw_pstatus_model *lgw_pstatus_add_model(struct lgw_pstatus_provider *p, const char *model);
/* Whether a record taken at ts_ms every interval_ms is still to be believed at now_ms: within three intervals.
 * One missed record is noise; three mean the worker is gone (killed, or cut off from Kafka). */
bool lgw_pstatus_fresh(const struct lgw_pstatus *st, int64_t now_ms);

/* Encodes st as its JSON value ({"v":1,...}) into out. Returns 0 or LGW_ERR(INTERNAL). */
int lgw_pstatus_encode(const struct lgw_pstatus *st, struct lgw_buf *out);
/* Decodes a JSON value into st (init'ed here; the caller cleans it up whatever the result). Accepts v 1 and 2
 * and ignores unknown fields (schemas/README.md); refuses a missing or mistyped field, a name too long, a
 * count above the caps, a negative number, failures above calls, an unknown state, a latency above its cap, an
 * interval outside the knob's bounds and a provider or model listed twice. Returns 0 or LGW_ERR(INVALID) with the reason in why. */
int lgw_pstatus_decode(const void *data, size_t len, struct lgw_pstatus *st, char *why, size_t whysz);

#endif

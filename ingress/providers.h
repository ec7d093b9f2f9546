/* providers.h - what the workers say of their providers, kept in the ingress for GET /v1/providers: the latest
 * record of each worker from the providers topic (common/provider_status.h), read from its beginning on a
 * thread of its own (common/kv_topic.h).
 *
 * Freshness: a record counts for three of its worker's intervals after it was taken (its ts_ms, the worker's
 * clock); older ones are dropped, so a killed worker fades out within three intervals, and a worker that
 * stopped cleanly is gone at its tombstone. The status is informational: readiness never waits for this
 * reader, and the answer's updated_at says how old what it shows is. */
#ifndef LGW_PROVIDERS_H
#define LGW_PROVIDERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "routing/catalog.h"

/* Workers held at most. Each is one record of a few KiB; a deployment has tens. Past it a new worker's
 * record is dropped (and said) until stale ones make room. */
#define LGW_PROVIDERS_WORKERS_MAX 1024

struct lgw_providers;

/* An empty store. Free with lgw_providers_free. Any thread. */
struct lgw_providers *lgw_providers_new(void);
/* Starts reading the providers topic of cfg into p (name tells this reader's Kafka client apart: the ingress
 * id). Returns 0 or the reader's error. Start-up thread. */
int lgw_providers_start(struct lgw_providers *p, const struct lgw_config *cfg, const char *name);
/* Takes one record of the topic: value NULL (a tombstone) removes the worker of key; a record replaces the
 * worker's previous one. A record that does not decode, whose worker_id is not its key, or that is already
 * stale at now_ms (wall clock) is dropped (the first two logged). The reader's callback passes the clock;
 * tests call it directly. Any thread. */
void lgw_providers_apply(struct lgw_providers *p, const char *key, size_t keylen, const void *value, size_t len,
                         int64_t now_ms);
/* The GET /v1/providers answer at now_ms from the fresh records (ingress/providers_view.h), cat naming the
 * providers no record names; drops the stale ones. New reference. Any thread. */
json_t *lgw_providers_json(struct lgw_providers *p, const struct lgw_catalog *cat, int64_t now_ms);
/* Workers held (fresh or not yet dropped). Any thread. */
size_t lgw_providers_count(struct lgw_providers *p);
/* Stops the reader and frees p. NULL is a no-op. */
void lgw_providers_free(struct lgw_providers *p);

#endif

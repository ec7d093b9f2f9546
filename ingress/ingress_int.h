/* ingress_int.h - the ingress's context: the state its files share (server, Kafka clients, the pending map,
 * readiness). Data only: every function lives in the file that owns its job, and the files depend on each
 * other in one direction (docs/ARCHITECTURE.md, "Inside the ingress"):
 *   request <- dialect ; pending, sse, admission <- request ; replies <- sse, pending ;
 *   jobs <- admission, pending ; providers <- providers_view ; info <- admission, providers ;
 *   count_tokens <- request ; static <- request ;
 *   routes <- jobs, info, count_tokens, admin, static ; mount <- routes, pending ;
 *   ingress <- routes, mount, replies, admin ; spans <- request (jobs, replies and ingress use it) */
#ifndef LGW_INGRESS_INT_H
#define LGW_INGRESS_INT_H

#include <librdkafka/rdkafka.h>
#include "httpd/server.h"
#include <pthread.h>
#include <stdatomic.h>

#include "common/config.h"
#include "common/envelope.h"
#include "common/log_limit.h"
#include "common/metrics.h"
#include "ingress/pending.h"

struct lgw_mounts;
struct lgw_providers;
struct lgw_tracer;

struct lgw_ready_check {
    bool (*cb)(void *opaque);
    void *opaque;
};

struct lgw_ingress {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_tracer *tracer; /* NULL: tracing off (telemetry/tracer.h); borrowed */
    struct lgw_httpd *http; /* the public port's server (httpd/server.h) */
    rd_kafka_t *producer, *replies;
    struct lgw_pending *pending;
    char id[64];
    char topic_chat[LGW_TOPIC_MAX], topic_embeddings[LGW_TOPIC_MAX], topic_replies[LGW_TOPIC_MAX];
    char topic_cancel[LGW_TOPIC_MAX];
    pthread_t reply_thread, health_thread;
    atomic_bool stop_bg;
    /* Readiness (admission.c reads it): */
    atomic_bool kafka_up;      /* the background metadata probe; cleared at once when every broker is down */
    int64_t kafka_down_since;  /* monotonic ms the reply thread first saw kafka_up false; 0 while up (its own) */
    atomic_bool replies_ready; /* reply consumer positioned at the end of its partition (replies.c) */
    atomic_bool draining;      /* lgw_ingress_drain started */
    /* lgw_ingress_new's checks, set before the HTTP server starts and never changed after, so the HTTP
     * threads (created after) read them without a lock. */
    struct lgw_ready_check extra_ready[4]; /* LGW_INGRESS_READY_CHECKS_MAX */
    int nextra_ready;
    struct lgw_catalog_holder *catalog; /* for GET /v1/models; workers route with their own */
    /* The workers' provider status (providers.c), its own reader thread; informational: not in readiness. */
    struct lgw_providers *providers;
    struct lgw_redis *redis;   /* NULL: no redis_url (or `llmgw dev`) */
    struct lgw_limits *limits; /* rate limits: admission.c checks, request.c settles */
    struct lgw_spend *spend;     /* the spend topic read into memory (its reader thread writes it) */
    struct lgw_budgets *budgets; /* USD budgets, checked by admission.c against spend */
    struct lgw_mounts *mounts; /* mount.c; set before the server starts, read-only after; NULL: none */
    /* Tenant keys and settings (tenancy/tenancy.h), kept current by tenants_reader from the tenants topic;
     * the ingress is not ready until the reader has caught up, so a revoked key is never let in by an
     * instance that has not yet read the revocation. */
    struct lgw_tenancy *tenancy;
    struct lgw_kv_reader *tenants_reader;
    /* The admin API's own producer (admin.c): an admin change waits for its delivery with rd_kafka_flush,
     * which on the shared producer would also wait for every job in flight. admin_lock serialises changes,
     * so two admins editing one record cannot interleave read-modify-write. */
    bool hooked; /* collect_waiting is a collect hook of m (ingress.c) */
    rd_kafka_t *admin_producer;
    pthread_mutex_t admin_lock;
    bool admin_init; /* lgw_admin_start ran (admin_lock exists) */
    char topic_tenants[LGW_TOPIC_MAX], topic_audit[LGW_TOPIC_MAX];
};

#endif

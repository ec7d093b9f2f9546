/* status.c - the worker's provider status publisher (see status.h). */
#include "workers/status.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/topics.h"
#include "providers/provider.h"

/* The thread wakes this often to look at the breakers' change counter (a lock-free read) and to serve its
 * producer's delivery reports; a change waits at most this long to be noticed. */
#define TICK_MS 50
/* The least time between two records that breaker changes cause: a flapping breaker, or several breakers
 * opening at once, is one record per COALESCE_MS. TICK_MS + COALESCE_MS is the promised ~200 ms at most. */
#define COALESCE_MS 100
/* How long a clean stop waits for Kafka to take the tombstone. */
#define STOP_FLUSH_MS 2000

struct lgw_status {
    const struct lgw_config *cfg;
    struct lgw_catalog_holder *catalog;
    struct lgw_health *health;
    struct lgw_metrics *m;
    char id[LGW_NAME_MAX];
    char topic[LGW_TOPIC_MAX];
    rd_kafka_t *producer;
    pthread_t thread;
    atomic_bool stop;
    /* The status thread's own (and, after it is joined, lgw_status_stop's): */
    uint64_t seen_changes; /* the change counter as of the last record */
    int64_t last_ms;       /* monotonic, when the last record was produced */
    bool failing;          /* the last produce or delivery failed: said once, not every interval */
};

/* Whether this worker serves provider with its own credentials, or through a simulated stand-in (llmgw dev
 * --simulate): lgw_provider_served_as names the provider itself, or "<provider>-sim". */
static void served(const struct lgw_config *cfg, const char *provider, bool *configured, bool *simulated)
{
    const char *as = lgw_provider_served_as(cfg, provider);
    *configured = as && strcmp(as, provider) == 0;
    *simulated = as && !*configured;
}

static enum lgw_pstatus_state state_of(enum lgw_breaker_state s)
{
    return s == LGW_BREAKER_OPEN ? LGW_PSTATUS_OPEN : s == LGW_BREAKER_HALF_OPEN ? LGW_PSTATUS_HALF_OPEN
                                                                                : LGW_PSTATUS_CLOSED;
}

/* The record's entry of provider, appended on first sight (catalog order). */
static struct lgw_pstatus_provider *provider_of(const struct lgw_config *cfg, struct lgw_pstatus *st,
                                                const char *provider)
{
    for (size_t i = 0; i < st->nproviders; i++)
        if (strcmp(st->providers[i].provider, provider) == 0)
            return &st->providers[i];
    bool configured, simulated;
    served(cfg, provider, &configured, &simulated);
    return lgw_pstatus_add_provider(st, provider, configured, simulated);
}

static bool listed(const struct lgw_pstatus_provider *p, const char *model)
{
    for (size_t i = 0; i < p->nmodels; i++)
        if (strcmp(p->models[i].model, model) == 0)
            return true;
    return false;
}

void lgw_status_snapshot(const struct lgw_config *cfg, const struct lgw_catalog *cat, struct lgw_health *health,
                         const char *worker_id, int64_t now_ms, struct lgw_pstatus *out)
{
    lgw_pstatus_init(out);
    lgw_strlcpy(out->worker_id, worker_id, sizeof(out->worker_id));
    out->ts_ms = now_ms;
    out->interval_ms = cfg->provider_status_interval_ms;
    for (size_t i = 0; i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *info = lgw_catalog_at(cat, i);
        struct lgw_pstatus_provider *p = provider_of(cfg, out, info->provider);
        /* One entry per id: a chat and an embeddings model of one name share one breaker (health keys by
         * provider/id). Past the reader's cap the rest is left out rather than the record refused. */
        if (listed(p, info->id) || p->nmodels >= LGW_PSTATUS_MODELS_MAX)
            continue;
        struct lgw_health_stats hs;
        lgw_health_stats(health, info, &hs);
        struct lgw_pstatus_model *m = lgw_pstatus_add_model(p, info->id);
        m->state = state_of(hs.state);
        m->latency_ms = hs.observed ? hs.latency_ms : -1;
        m->inflight = hs.inflight;
        m->calls = hs.calls;
        m->failures = hs.failures;
    }
}

/* Says a failure once, and the recovery once. Status thread (or the stopping one). */
static void note(struct lgw_status *s, bool failed, const char *what)
{
    if (failed && !s->failing) {
        LGW_WARN("status", "provider status not published: %s; trying again at the next interval", what);
        lgw_metrics_add(s->m, "llmgw_kafka_produce_errors_total", "role=\"worker\"", 1);
    } else if (!failed && s->failing) {
        LGW_INFO("status", "provider status published again");
    }
    s->failing = failed;
}

/* Runs inside rd_kafka_poll/flush on this producer: the status thread, or lgw_status_stop after it. */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    note(opaque, msg->err != RD_KAFKA_RESP_ERR_NO_ERROR, rd_kafka_err2str(msg->err));
}

/* value NULL: the tombstone. */
static void produce(struct lgw_status *s, const void *value, size_t len)
{
    struct lgw_kafka_msg msg = {.topic = s->topic, .partition = RD_KAFKA_PARTITION_UA, .key = s->id,
                                .value = value, .len = len};
    rd_kafka_resp_err_t err;
    if (lgw_kafka_produce(s->producer, &msg, &err))
        note(s, true, rd_kafka_err2str(err));
}

static void publish(struct lgw_status *s)
{
    /* Read before the snapshot: a change during it is published again, never lost. */
    s->seen_changes = lgw_health_changes(s->health);
    s->last_ms = lgw_mono_ms();
    struct lgw_catalog *cat = lgw_catalog_current(s->catalog);
    struct lgw_pstatus st;
    lgw_status_snapshot(s->cfg, cat, s->health, s->id, lgw_wall_ms(), &st);
    lgw_catalog_unref(cat);
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    if (lgw_pstatus_encode(&st, &b) == 0)
        produce(s, b.ptr, b.len);
    lgw_buf_cleanup(&b);
    lgw_pstatus_cleanup(&st);
}

static bool due(const struct lgw_status *s)
{
    int64_t since = lgw_mono_ms() - s->last_ms;
    if (since >= s->cfg->provider_status_interval_ms)
        return true;
    return since >= COALESCE_MS && lgw_health_changes(s->health) != s->seen_changes;
}

static void *status_main(void *arg)
{
    pthread_setname_np(pthread_self(), "wk-status"); /* its CPU apart in top -H, perf and /proc/<pid>/task */
    struct lgw_status *s = arg;
    publish(s);
    while (!atomic_load(&s->stop)) {
        rd_kafka_poll(s->producer, TICK_MS); /* the tick's wait, and the delivery reports */
        if (due(s))
            publish(s);
    }
    return NULL;
}

int lgw_status_start(const struct lgw_config *cfg, const char *worker_id, struct lgw_catalog_holder *catalog,
                     struct lgw_health *health, struct lgw_metrics *m, struct lgw_status **out)
{
    *out = NULL;
    struct lgw_status *s = lgw_calloc(1, sizeof(*s));
    *s = (struct lgw_status){.cfg = cfg, .catalog = catalog, .health = health, .m = m};
    lgw_strlcpy(s->id, worker_id, sizeof(s->id));
    lgw_topic_name(cfg, LGW_TOPIC_PROVIDERS, NULL, s->topic, sizeof(s->topic));
    char client[LGW_NAME_MAX + 32];
    snprintf(client, sizeof(client), "llmgw-status-%s", s->id);
    int rc = lgw_kafka_producer_new(cfg, client, 0, dr_cb, s, &s->producer);
    if (rc) {
        free(s);
        return rc;
    }
    if (pthread_create(&s->thread, NULL, status_main, s) != 0) {
        rd_kafka_destroy(s->producer);
        free(s);
        return LGW_ERR(INTERNAL);
    }
    *out = s;
    return LGW_OK;
}

void lgw_status_stop(struct lgw_status *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    produce(s, NULL, 0);
    /* The flush serves the tombstone's delivery report: failing then says how it went. */
    if (rd_kafka_flush(s->producer, STOP_FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR || s->failing)
        LGW_WARN("status", "the provider status tombstone was not acknowledged within %d ms; this worker's last "
                 "status goes stale instead", STOP_FLUSH_MS);
    else
        LGW_INFO("status", "provider status of worker %s withdrawn", s->id);
    rd_kafka_destroy(s->producer);
    free(s);
}

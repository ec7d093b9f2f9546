/* dev.c - `llmgw dev`: every role in one process on embedded defaults, for a first run with no servers.
 *
 * Kafka is librdkafka's in-process mock cluster, the ledger is SQLite, the provider is echo (or, with
 * --simulate, providers/sim.c standing in for the providers without a key). The roles are the same code as in
 * production; only the backends differ. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "batch/api.h"
#include "batch/runner.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "ingress/ingress.h"
#include "common/kafka.h"
#include "common/topics.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/memtrim.h"
#include "common/opsrv.h"
#include "cmd/roles.h"
#include "telemetry/meter.h"
#include "telemetry/tracer.h"
#include "workers/worker.h"

struct role_thread {
    pthread_t thread;
    int (*run)(void *self, const atomic_bool *stop);
    void *self;
    atomic_bool stop;
    int rc;
};

static int run_worker(void *self, const atomic_bool *stop) { return lgw_worker_run(self, stop); }
static int run_ledger(void *self, const atomic_bool *stop) { return lgw_ledger_run(self, stop); }
static int run_batch(void *self, const atomic_bool *stop) { return lgw_batch_runner_run(self, stop); }

static void *role_main(void *arg)
{
    struct role_thread *rt = arg;
    rt->rc = rt->run(rt->self, &rt->stop);
    return NULL;
}

/* The mock cluster lives as long as the rd_kafka_t that created it. Its topics are made here because it
 * has no admin API; it also auto-creates topics on first use, which we do not rely on. */
static int start_mock(struct lgw_config *cfg, rd_kafka_t **owner, rd_kafka_mock_cluster_t **mcluster)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!*owner) {
        LGW_ERROR("dev", "mock cluster owner: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return LGW_ERR(INTERNAL);
    }
    *mcluster = rd_kafka_mock_cluster_new(*owner, 1);
    if (!*mcluster) {
        LGW_ERROR("dev", "could not start the in-process Kafka mock cluster");
        return LGW_ERR(INTERNAL);
    }
    lgw_strlcpy(cfg->kafka_brokers, rd_kafka_mock_cluster_bootstraps(*mcluster), sizeof(cfg->kafka_brokers));
    return lgw_topics_create_mock(*mcluster, cfg, cfg->ingress_id);
}

int lgw_role_dev(struct lgw_config *cfg, const struct lgw_role_env *env)
{
    rd_kafka_t *owner = NULL;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    struct lgw_metrics *m = lgw_role_metrics_new(cfg); /* one registry for every role */
    struct lgw_opsrv *ops = NULL;
    struct lgw_worker *w = NULL;
    struct lgw_ledger *l = NULL;
    struct lgw_batch_runner *br = NULL;
    struct lgw_audit *audit = NULL;
    struct lgw_ingress *ing = NULL;
    struct lgw_analytics *an = NULL;
    struct lgw_batch_api *bapi = NULL;
    struct lgw_tracer *tr = NULL; /* one for the process: every role's spans, as service llmgw-dev */
    struct lgw_meter *mt = NULL;  /* and one metrics push: the registry all roles share */
    struct lgw_memtrim *trim = NULL;
    struct role_thread wt = {0}, lt = {0}, bt = {0};
    bool wt_started = false, lt_started = false, bt_started = false;

    cfg->kafka_mock = true;
    cfg->allow_anonymous = true;
    /* One process: rate limits (and the cache) live in memory; nothing to share through Redis. */
    if (cfg->redis_url[0])
        LGW_INFO("dev", "llmgw dev keeps rate limits and the response cache in memory; LLMGW_REDIS_URL is ignored");
    cfg->redis_url[0] = '\0';
    /* The mock answers an empty fetch only after the full wait, so every hop would cost the wait. */
    cfg->kafka_fetch_wait_ms = 5;
    if (!cfg->ingress_id[0])
        lgw_strlcpy(cfg->ingress_id, "dev", sizeof(cfg->ingress_id));
    int rc = start_mock(cfg, &owner, &mcluster);
    if (rc || (rc = lgw_memtrim_start(cfg->memory_trim_interval_ms, cfg->memory_trim_min_bytes, m, &trim)) || (rc = lgw_tracer_new(env->otel, env->version, m, &tr)) ||
        (rc = lgw_meter_new(env->otel, env->version, m, &mt)))
        goto out;
    if ((rc = lgw_ledger_new(cfg, m, tr, &l)) || (rc = lgw_audit_start(cfg, &audit)) ||
        (rc = lgw_worker_new(cfg, m, tr, &w)) || (rc = lgw_batch_runner_new(cfg, m, &br)))
        goto out;
    lt = (struct role_thread){.run = run_ledger, .self = l};
    wt = (struct role_thread){.run = run_worker, .self = w};
    if (pthread_create(&lt.thread, NULL, role_main, &lt) || pthread_create(&wt.thread, NULL, role_main, &wt)) {
        rc = LGW_ERR(INTERNAL);
        goto out;
    }
    lt_started = wt_started = true;
    /* The batch role: batches' status, counts and results in the same SQLite file (batch/runner.h). */
    bt = (struct role_thread){.run = run_batch, .self = br};
    if (pthread_create(&bt.thread, NULL, role_main, &bt)) {
        rc = LGW_ERR(INTERNAL);
        goto out;
    }
    bt_started = true;
    /* /readyz also asks the worker and the ledger. */
    const struct lgw_ingress_ready_check checks[] = {
        {lgw_worker_ready_cb, w}, {lgw_ledger_ready_cb, l}, {lgw_batch_runner_ready_cb, br}};
    /* Analytics reads the SQLite ledger the ledger thread writes (opened above, so the file exists). */
    if ((rc = lgw_analytics_new(cfg, m, &an)) || (rc = lgw_batch_api_new(cfg, m, &bapi)))
        goto out;
    struct lgw_http_mount mounts[1 + LGW_BATCH_API_MOUNTS];
    mounts[0] = lgw_analytics_mount(an);
    lgw_batch_api_mounts(bapi, &mounts[1]); /* /v1/files and /v1/batches, on the same database */
    if ((rc = lgw_ingress_new_mounted(cfg, m, tr, checks, 3, mounts, 1 + LGW_BATCH_API_MOUNTS, &ing)))
        goto out;
    /* The shared registry's private (per-tenant) metrics: here, or on the public port with the admin key. */
    if (cfg->ingress_ops_port &&
        (rc = lgw_opsrv_start(cfg->listen_addr, (int)cfg->ingress_ops_port, m, lgw_ingress_ready_cb, ing, &ops)))
        goto out;
    LGW_INFO("dev", "llmgw dev ready on http://%s:%lld (in-process Kafka, ledger %s, %s)", cfg->listen_addr,
             (long long)cfg->port, cfg->database_url,
             cfg->simulate ? "SIMULATED providers for OpenAI, Anthropic, Gemini and Mistral models without a key"
                           : "echo provider");
    while (!atomic_load(&lgw_stop_requested)) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    LGW_INFO("dev", "stopping");
out:
    /* Order matters: the ingress stops queuing jobs, then the worker drains (its cost events reach Kafka),
     * then the ledger writes what is left, then the cluster goes. */
    lgw_opsrv_stop(ops);
    if (ing)
        lgw_ingress_drain(ing);
    if (wt_started) {
        atomic_store(&wt.stop, true);
        pthread_join(wt.thread, NULL);
    }
    lgw_worker_free(w);
    if (lt_started) {
        /* Let the ledger read the last cost events before it stops. */
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        atomic_store(&lt.stop, true);
        pthread_join(lt.thread, NULL);
    }
    if (bt_started) {
        /* After the worker (its last answers to batch lines are on Kafka) and the ledger's wait for them. */
        atomic_store(&bt.stop, true);
        pthread_join(bt.thread, NULL);
    }
    lgw_batch_runner_free(br);
    lgw_audit_stop(audit);
    lgw_ledger_free(l);
    lgw_analytics_free(an); /* after the drain, before the ingress it answers through is freed */
    lgw_batch_api_free(bapi);
    lgw_ingress_free(ing);
    lgw_tracer_free(tr);
    lgw_meter_free(mt);
    lgw_memtrim_stop(trim);
    lgw_metrics_free(m);
    if (mcluster)
        rd_kafka_mock_cluster_destroy(mcluster);
    if (owner)
        rd_kafka_destroy(owner);
    if (rc == 0 && (wt.rc || lt.rc || bt.rc))
        rc = LGW_ERR(INTERNAL);
    return rc ? 1 : 0;
}

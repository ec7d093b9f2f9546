/* roles.c - process roles for production mode: one role per process, plus its ops server. */
#include "cmd/roles.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "batch/api.h"
#include "batch/runner.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/kafka_wait.h"
#include "common/pg_wait.h"
#include "ingress/ingress.h"
#include "ledger/audit.h"
#include "ledger/ledger.h"
#include "common/log.h"
#include "common/memtrim.h"
#include "common/metrics.h"
#include "common/opsrv.h"
#include "telemetry/meter.h"
#include "telemetry/tracer.h"
#include "workers/worker.h"

atomic_bool lgw_stop_requested;

static void wait_for_stop(void)
{
    while (!atomic_load(&lgw_stop_requested)) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The role's ops server, up before the role is made (common/opsrv.h: a start that waits on brokers or a database
 * shows as alive and starting); none when port is 0. */
static int ops_early(const struct lgw_config *cfg, int64_t port, struct lgw_metrics *m, struct lgw_opsrv **ops)
{
    *ops = NULL;
    return port ? lgw_opsrv_start_early(cfg->listen_addr, (int)port, m, ops) : LGW_OK;
}

/* The role's start waits for its cluster (common/kafka_wait.h). A stop that came during the wait is no failure:
 * *stopped says so, and the role exits 0 without having started. */
static int wait_for_cluster(const struct lgw_config *cfg, const char *role, bool *stopped)
{
    int rc = lgw_kafka_wait_for_cluster(cfg, role, &lgw_stop_requested);
    *stopped = rc && atomic_load(&lgw_stop_requested);
    return rc;
}

/* And for its PostgreSQL server, for the roles that open their database at start (common/pg_wait.h); the same
 * rule for a stop. */
static int wait_for_database(const struct lgw_config *cfg, const char *role, bool *stopped)
{
    int rc = lgw_pg_wait_for_server(cfg->database_url, role, &lgw_stop_requested);
    *stopped = rc && atomic_load(&lgw_stop_requested);
    return rc;
}

struct lgw_metrics *lgw_role_metrics_new(const struct lgw_config *cfg)
{
    struct lgw_metrics *m = lgw_metrics_new();
    /* Bounded cardinality: tenant and model values come from users and providers, so each metric keeps the
     * first N and counts the rest under "other" (4 of the registry's LGW_METRICS_MAX_CAPPED_LABELS). */
    static const char *const model_labels[] = {"model", "gen_ai_request_model", "gen_ai_response_model"};
    lgw_metrics_cap_label(m, "tenant", (size_t)cfg->metrics_max_tenants);
    for (size_t i = 0; i < sizeof(model_labels) / sizeof(model_labels[0]); i++)
        lgw_metrics_cap_label(m, model_labels[i], (size_t)cfg->metrics_max_models);
    return m;
}

int lgw_role_ingress(struct lgw_config *cfg, const struct lgw_role_env *env)
{
    struct lgw_metrics *m = lgw_role_metrics_new(cfg);
    struct lgw_ingress *ing = NULL;
    struct lgw_analytics *an = NULL;
    struct lgw_batch_api *bapi = NULL;
    struct lgw_opsrv *ops = NULL;
    struct lgw_tracer *tr = NULL;
    struct lgw_meter *mt = NULL;
    struct lgw_memtrim *trim = NULL;
    /* Every metric, per-tenant ones included: the public port shows those only with the admin key. */
    int rc = ops_early(cfg, cfg->ingress_ops_port, m, &ops);
    if (rc == 0)
        rc = lgw_memtrim_start(cfg->memory_trim_interval_ms, cfg->memory_trim_min_bytes, m, &trim);
    if (rc == 0)
        rc = lgw_tracer_new(env->otel, env->version, m, &tr);
    if (rc == 0)
        rc = lgw_meter_new(env->otel, env->version, m, &mt);
    /* Analytics is served on the ingress's port (one URL for users) by its own pool: see analytics.h. */
    if (rc == 0)
        rc = lgw_analytics_new(cfg, m, &an);
    /* The Files and Batch API likewise (batch/api.h). */
    if (rc == 0)
        rc = lgw_batch_api_new(cfg, m, &bapi);
    if (rc == 0) {
        struct lgw_http_mount mounts[1 + LGW_BATCH_API_MOUNTS];
        mounts[0] = lgw_analytics_mount(an);
        lgw_batch_api_mounts(bapi, &mounts[1]);
        rc = lgw_ingress_new_mounted(cfg, m, tr, NULL, 0, mounts, 1 + LGW_BATCH_API_MOUNTS, &ing);
    }
    if (rc == 0) {
        lgw_opsrv_set_ready(ops, lgw_ingress_ready_cb, ing);
        wait_for_stop();
        LGW_INFO("main", "stopping: draining the ingress");
        lgw_ingress_drain(ing);
    }
    lgw_opsrv_stop(ops);
    /* After the drain (no new calls), before the ingress is freed (calls in flight are done against it). */
    lgw_analytics_free(an);
    lgw_batch_api_free(bapi);
    lgw_ingress_free(ing);
    lgw_tracer_free(tr); /* after the role: its last spans go out */
    lgw_meter_free(mt);  /* and its last counts */
    lgw_memtrim_stop(trim);
    lgw_metrics_free(m);
    return rc ? 1 : 0;
}

int lgw_role_worker(struct lgw_config *cfg, const struct lgw_role_env *env)
{
    struct lgw_metrics *m = lgw_role_metrics_new(cfg);
    struct lgw_worker *w = NULL;
    struct lgw_opsrv *ops = NULL;
    struct lgw_tracer *tr = NULL;
    struct lgw_meter *mt = NULL;
    struct lgw_memtrim *trim = NULL;
    int rc = ops_early(cfg, cfg->ops_port, m, &ops);
    if (rc == 0)
        rc = lgw_memtrim_start(cfg->memory_trim_interval_ms, cfg->memory_trim_min_bytes, m, &trim);
    if (rc == 0)
        rc = lgw_tracer_new(env->otel, env->version, m, &tr);
    if (rc == 0)
        rc = lgw_meter_new(env->otel, env->version, m, &mt);
    bool stopped = false;
    if (rc == 0)
        rc = wait_for_cluster(cfg, "worker", &stopped);
    if (rc == 0)
        rc = lgw_worker_new(cfg, m, tr, &w);
    if (rc == 0) {
        lgw_opsrv_set_ready(ops, lgw_worker_ready_cb, w);
        rc = lgw_worker_run(w, &lgw_stop_requested);
    }
    lgw_opsrv_stop(ops);
    lgw_worker_free(w);
    lgw_tracer_free(tr);
    lgw_meter_free(mt);
    lgw_memtrim_stop(trim);
    lgw_metrics_free(m);
    return rc && !stopped ? 1 : 0;
}

int lgw_role_ledger(struct lgw_config *cfg, const struct lgw_role_env *env)
{
    struct lgw_metrics *m = lgw_role_metrics_new(cfg);
    struct lgw_ledger *l = NULL;
    struct lgw_audit *audit = NULL;
    struct lgw_opsrv *ops = NULL;
    struct lgw_tracer *tr = NULL;
    struct lgw_meter *mt = NULL;
    struct lgw_memtrim *trim = NULL;
    int rc = ops_early(cfg, cfg->ops_port, m, &ops);
    if (rc == 0)
        rc = lgw_memtrim_start(cfg->memory_trim_interval_ms, cfg->memory_trim_min_bytes, m, &trim);
    if (rc == 0)
        rc = lgw_tracer_new(env->otel, env->version, m, &tr);
    if (rc == 0)
        rc = lgw_meter_new(env->otel, env->version, m, &mt);
    bool stopped = false;
    if (rc == 0)
        rc = wait_for_cluster(cfg, "ledger", &stopped);
    if (rc == 0)
        rc = wait_for_database(cfg, "ledger", &stopped);
    if (rc == 0)
        rc = lgw_ledger_new(cfg, m, tr, &l);
    /* The admin audit (ledger/audit.h) runs beside the cost ledger, on its own thread and connection. */
    if (rc == 0)
        rc = lgw_audit_start(cfg, &audit);
    if (rc == 0) {
        lgw_opsrv_set_ready(ops, lgw_ledger_ready_cb, l);
        rc = lgw_ledger_run(l, &lgw_stop_requested);
    }
    lgw_opsrv_stop(ops);
    lgw_audit_stop(audit);
    lgw_ledger_free(l);
    lgw_tracer_free(tr);
    lgw_meter_free(mt);
    lgw_memtrim_stop(trim);
    lgw_metrics_free(m);
    return rc && !stopped ? 1 : 0;
}

int lgw_role_batch(struct lgw_config *cfg, const struct lgw_role_env *env)
{
    (void)env; /* the batch role records no spans yet */
    struct lgw_metrics *m = lgw_role_metrics_new(cfg);
    struct lgw_batch_runner *r = NULL;
    struct lgw_opsrv *ops = NULL;
    struct lgw_memtrim *trim = NULL;
    int rc = ops_early(cfg, cfg->ops_port, m, &ops);
    if (rc == 0)
        rc = lgw_memtrim_start(cfg->memory_trim_interval_ms, cfg->memory_trim_min_bytes, m, &trim);
    bool stopped = false;
    if (rc == 0)
        rc = wait_for_cluster(cfg, "batch", &stopped);
    if (rc == 0)
        rc = wait_for_database(cfg, "batch", &stopped);
    if (rc == 0)
        rc = lgw_batch_runner_new(cfg, m, &r);
    if (rc == 0) {
        lgw_opsrv_set_ready(ops, lgw_batch_runner_ready_cb, r);
        rc = lgw_batch_runner_run(r, &lgw_stop_requested);
    }
    lgw_opsrv_stop(ops);
    lgw_batch_runner_free(r);
    lgw_memtrim_stop(trim);
    lgw_metrics_free(m);
    return rc && !stopped ? 1 : 0;
}

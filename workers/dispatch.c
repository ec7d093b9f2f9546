/* dispatch.c - a job along its route: attempts, fallbacks, health feedback (see dispatch.h). */
#include "workers/dispatch.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

bool lgw_dispatch_failover_status(int status)
{
    return status == 408 || status == 429 || status >= 500;
}

static void add_route(struct lgw_dispatch *d, const struct lgw_model_info *m, int status)
{
    size_t len = strlen(d->route);
    snprintf(d->route + len, sizeof(d->route) - len, "%s%s/%s=%d", len ? "," : "", m->provider, m->id, status);
}

static bool streamed_some(const struct lgw_dispatch *d)
{
    return d->stream && d->stream->emitted > 0;
}

void lgw_dispatch_run(struct lgw_dispatch *d, struct lgw_router *r, const struct lgw_config *cfg,
                      const struct lgw_route_plan *plan, const struct lgw_job *job)
{
    struct lgw_health *health = lgw_router_health(r);
    const struct lgw_model_info *last = NULL;
    size_t skipped = 0;
    memset(&d->res, 0, sizeof(d->res));
    d->current = NULL;
    d->attempts = 0;
    d->route[0] = '\0';
    for (size_t i = 0; i < plan->n && d->attempts < cfg->route_max_attempts; i++) {
        const struct lgw_model_info *m = plan->chain[i];
        if (lgw_wall_ms() >= job->deadline_ms)
            break;
        bool probe;
        if (!lgw_health_acquire(health, m, lgw_mono_ms(), &probe)) {
            skipped++; /* its breaker is open: the next candidate, without spending an attempt */
            continue;
        }
        const struct lgw_provider *prov = lgw_provider_by_name(m->provider);
        lgw_prov_result_cleanup(&d->res);
        memset(&d->res, 0, sizeof(d->res));
        d->current = last = m;
        if (d->stream)
            d->stream->first_emit_us = 0;
        int64_t start_us = lgw_mono_us();
        int rc = prov->call(prov, cfg, m, job, d->stream, &d->res);
        int64_t end_us = lgw_mono_us();
        d->attempts++;
        if (rc) {
            lgw_prov_result_cleanup(&d->res);
            d->res.status = lgw_err_status(rc);
            d->res.body = lgw_error_json(rc, NULL);
        }
        add_route(d, m, d->res.status);
        /* A stream's latency is its time to first chunk: its length is the client's doing, not the provider's. */
        int64_t first = d->stream && d->stream->first_emit_us ? d->stream->first_emit_us : end_us;
        if (d->cancelled && atomic_load(d->cancelled)) {
            lgw_health_abandon(health, m, probe); /* the client left: no verdict on the provider */
            return;
        }
        bool failed = lgw_dispatch_failover_status(d->res.status);
        lgw_health_release(health, m, lgw_mono_ms(), probe, failed, (first - start_us) / 1000);
        if (!failed || streamed_some(d))
            return;
        if (i + 1 < plan->n)
            LGW_LOG(LGW_LOG_INFO, "route", job->id, job->tenant, "%s/%s answered %d; trying the next candidate",
                    m->provider, m->id, d->res.status);
    }
    if (d->attempts == 0) {
        /* Every candidate's breaker is open (or the deadline passed before the first call). */
        int rc = skipped ? LGW_ERR(NO_HEALTHY_PROVIDER) : LGW_ERR(TIMEOUT);
        lgw_prov_result_cleanup(&d->res);
        d->res.status = lgw_err_status(rc);
        d->res.body = lgw_error_json(rc, NULL);
        d->current = last;
    }
}

/* admit.c - the worker's admission for jobs no ingress admitted (see admit.h). */
#include "workers/admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kv_topic.h"
#include "common/log.h"
#include "limits/budget.h"
#include "limits/spend.h"
#include "routing/estimate.h"
#include "tenancy/tenancy.h"
#include "workers/batches.h"

/* How long a line waits for state the worker is still replaying (tenants, spend, batches) or for a limiter
 * that cannot decide (Redis down with limit_redis_down "closed"), before it asks again. */
#define WAIT_REPLAY_MS 100
#define WAIT_UNAVAILABLE_MS 1000
/* A throttled line asks again when the limiter says it may pass, but not sooner than this (a limiter that
 * says 0 would otherwise spin) nor later (a limit raised meanwhile is noticed within a minute). */
#define WAIT_THROTTLE_MIN_MS 50
#define WAIT_THROTTLE_MAX_MS 60000

struct lgw_wadmit {
    const struct lgw_config *cfg;
    struct lgw_metrics *m;
    struct lgw_tenancy *tenancy;
    struct lgw_kv_reader *tenants_reader;
    struct lgw_limits *limits;
    struct lgw_spend *spend;
    struct lgw_budgets *budgets;
    struct lgw_wbatches *batches;
};

/* A record of the tenants topic changed a tenant's or key's settings: its budget and limits reach the
 * budgets and the limiter, as at the ingress (ingress/admin.c). */
static void change_cb(void *opaque, const char *tenant, const char *key_id, const json_t *settings)
{
    struct lgw_wadmit *a = opaque;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 4096);
    int64_t day = LGW_BUDGET_NONE, month = LGW_BUDGET_NONE;
    json_t *budget = json_object_get(settings, "budget");
    if ((json_is_object(budget) &&
         lgw_budget_parse_json(budget, key_id ? key_id : tenant, &day, &month, &errs)) ||
        lgw_budgets_set(a->budgets, tenant, key_id, day, month))
        LGW_WARN("worker", "%s %s: budget from the admin API not applied: %s", key_id ? "key" : "tenant",
                 key_id ? key_id : tenant, errs.ptr ? errs.ptr : "");
    if (!key_id) {
        const json_t *limits = json_object_get(settings, "limits");
        if (lgw_limits_set_tenant(a->limits, tenant, json_is_object(limits) ? limits : NULL, &errs))
            LGW_WARN("worker", "tenant %s: limits from the admin API not applied: %s", tenant,
                     errs.ptr ? errs.ptr : "");
    }
    lgw_buf_cleanup(&errs);
}

int lgw_wadmit_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_redis *redis, const char *name,
                   struct lgw_wadmit **out)
{
    struct lgw_wadmit *a = lgw_calloc(1, sizeof(*a));
    a->cfg = cfg;
    a->m = m;
    *out = NULL;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 65536);
    int rc = lgw_tenancy_new(cfg, &a->tenancy, &errs);
    if (rc == 0)
        rc = lgw_limits_new(cfg, redis, m, &a->limits, &errs);
    if (rc == 0) {
        a->spend = lgw_spend_new();
        rc = lgw_budgets_new(cfg, a->spend, m, &a->budgets, &errs);
    }
    if (rc)
        LGW_ERROR("worker", "admission for batch and unmarked jobs: invalid configuration:\n%s",
                  errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc)
        goto fail;
    lgw_tenancy_on_change(a->tenancy, change_cb, a);
    if ((rc = lgw_spend_start(a->spend, cfg, name)) ||
        (rc = lgw_kv_reader_start(cfg, LGW_TOPIC_TENANTS, name, lgw_tenancy_record_cb, a->tenancy,
                                  &a->tenants_reader)) ||
        (rc = lgw_wbatches_start(cfg, m, name, &a->batches)))
        goto fail;
    lgw_metrics_declare(m, "llmgw_batch_lines_total", LGW_METRIC_COUNTER,
                        "Batch lines a worker answered, by outcome: ok, error (a provider's or routing error), "
                        "refused (allow-list or budget), cancelled, expired.");
    lgw_metrics_declare(m, "llmgw_batch_throttled_total", LGW_METRIC_COUNTER,
                        "Times a batch line over a rate limit was held back to wait for the limiter.");
    lgw_metrics_declare(m, "llmgw_worker_admission_total", LGW_METRIC_COUNTER,
                        "Jobs the worker admitted itself (batch lines and jobs without the ingress's marker), by "
                        "kind (batch, unmarked) and result (run, refused).");
    lgw_metrics_add(m, "llmgw_batch_throttled_total", NULL, 0);
    *out = a;
    return LGW_OK;
fail:
    lgw_wadmit_free(a);
    return rc;
}

void lgw_wadmit_free(struct lgw_wadmit *a)
{
    if (!a)
        return;
    /* Readers first: their callbacks write into the directory and the budgets. */
    lgw_kv_reader_free(a->tenants_reader);
    lgw_wbatches_free(a->batches);
    lgw_budgets_free(a->budgets);
    lgw_spend_free(a->spend);
    lgw_limits_free(a->limits);
    lgw_tenancy_free(a->tenancy);
    free(a);
}

static void answer(struct lgw_wadmit_result *r, int rc, const char *outcome, const char *msg)
{
    r->verdict = LGW_WADMIT_ANSWER;
    r->rc = rc;
    r->outcome = outcome;
    if (msg && msg != r->msg)
        lgw_strlcpy(r->msg, msg, sizeof(r->msg));
    if (!r->msg[0])
        lgw_strlcpy(r->msg, lgw_err_message(rc), sizeof(r->msg));
}

static void wait_for(struct lgw_wadmit_result *r, int64_t ms)
{
    r->verdict = LGW_WADMIT_WAIT;
    r->wait_ms = ms;
}

/* How long the limiter may hold the job's in-flight slot if this worker dies holding it. An interactive job's
 * deadline, as at the ingress; a batch line's deadline is a day away, so its hold is bounded by what its
 * provider calls can take instead (every attempt of every candidate timing out). */
static int64_t hold_ms(const struct lgw_config *cfg, const struct lgw_job *job, bool batch)
{
    int64_t left = job->deadline_ms - lgw_wall_ms() + 5000;
    if (!batch)
        return job->deadline_ms - job->created_ms + 5000;
    int64_t calls = cfg->provider_timeout_ms * (cfg->provider_max_retries + 1) * cfg->route_max_attempts + 5000;
    return calls < left ? calls : left;
}

static void count(struct lgw_wadmit *a, bool batch, const char *result)
{
    char labels[64];
    snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", batch ? "batch" : "unmarked", result);
    lgw_metrics_add(a->m, "llmgw_worker_admission_total", labels, 1);
}

void lgw_wadmit_check(struct lgw_wadmit *a, const struct lgw_job *job, bool batch, bool admitted,
                      struct lgw_limits_ticket *lt, struct lgw_wadmit_result *r)
{
    memset(r, 0, sizeof(*r));
    memset(lt, 0, sizeof(*lt));
    int64_t now = lgw_wall_ms();
    if (now > job->deadline_ms) {
        /* Past its deadline while it waited (a batch line: its batch expired). */
        if (batch)
            answer(r, LGW_ERR(BATCH_EXPIRED), "expired",
                   "The batch expired (24 h after it was created) before this request ran.");
        else
            answer(r, LGW_ERR(EXPIRED), "expired", NULL);
        return;
    }
    if (batch) {
        if (!lgw_wbatches_caught_up(a->batches)) {
            wait_for(r, WAIT_REPLAY_MS);
            return;
        }
        if (lgw_wbatches_cancelling(a->batches, job->batch.id)) {
            answer(r, LGW_ERR(BATCH_CANCELLED), "cancelled", "The batch was cancelled before this request ran.");
            return;
        }
    } else if (admitted) {
        r->verdict = LGW_WADMIT_RUN;
        return;
    }
    /* A decision on stale settings would let a revoked allow-list or a lowered limit through: wait for the
     * directory and the spend to be replayed (seconds at start, never again). */
    if (!lgw_kv_reader_caught_up(a->tenants_reader)) {
        wait_for(r, WAIT_REPLAY_MS);
        return;
    }
    const char *model = json_string_value(json_object_get(job->body, "model"));
    int rc = lgw_tenancy_check_model(a->tenancy, job->tenant, job->key_id, model, r->msg, sizeof(r->msg));
    if (rc) {
        count(a, batch, "refused");
        {
            answer(r, rc, "error", r->msg);
            return;
        }
    }
    if (lgw_limits_enabled(a->limits)) {
        struct lgw_route_needs needs;
        lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
        struct lgw_limits_request rq = {.id = job->id,
                                        .tenant = job->tenant,
                                        .user = job->user,
                                        .model = model,
                                        .tokens = needs.input_tokens + needs.max_output_tokens,
                                        .hold_ms = hold_ms(a->cfg, job, batch)};
        struct lgw_limits_state st;
        memset(&st, 0, sizeof(st));
        rc = lgw_limits_admit(a->limits, &rq, lt, &st, r->msg, sizeof(r->msg));
        if (rc && batch) {
            /* Throttled, not failed: the line asks again when the limiter says it may pass. */
            r->msg[0] = '\0';
            if (rc == LGW_ERR(UNAVAILABLE))
                {
            wait_for(r, WAIT_UNAVAILABLE_MS);
            return;
        }
            int64_t ms = st.retry_after_ms;
            r->throttled = true;
            lgw_metrics_add(a->m, "llmgw_batch_throttled_total", NULL, 1);
            {
            wait_for(r, ms < WAIT_THROTTLE_MIN_MS ? WAIT_THROTTLE_MIN_MS
                                                          : ms > WAIT_THROTTLE_MAX_MS ? WAIT_THROTTLE_MAX_MS : ms);
            return;
        }
        }
        if (rc) {
            count(a, batch, "refused");
            r->retry_after_ms = st.retry_after_ms;
            {
            answer(r, rc, "error", r->msg);
            return;
        }
        }
    }
    struct lgw_budget_verdict v;
    memset(&v, 0, sizeof(v));
    rc = lgw_budgets_check(a->budgets, job->tenant, job->key_id, now, &v, r->msg, sizeof(r->msg));
    if (rc) {
        lgw_limits_finish(a->limits, lt, 0); /* never ran: the reservation goes back */
        if (rc == LGW_ERR(UNAVAILABLE)) { /* the spend view is still replaying */
            r->msg[0] = '\0';
            {
            wait_for(r, WAIT_REPLAY_MS);
            return;
        }
        }
        count(a, batch, "refused");
        r->retry_after_ms = v.retry_after_ms;
        {
            answer(r, rc, "error", r->msg);
            return;
        }
    }
    count(a, batch, "run");
    r->verdict = LGW_WADMIT_RUN;
}

void lgw_wadmit_finish(struct lgw_wadmit *a, struct lgw_limits_ticket *lt, int64_t used_tokens)
{
    if (a && lt->held)
        lgw_limits_finish(a->limits, lt, used_tokens);
}

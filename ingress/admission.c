/* admission.c - identify, then admit (see admission.h). */
#include "ingress/admission.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kv_topic.h"
#include "ingress/ingress_int.h"
#include "limits/budget.h"
#include "limits/limits.h"
#include "routing/estimate.h"
#include "tenancy/tenancy.h"

int lgw_admission_identify(struct lgw_req *req, char *msg, size_t msgsz)
{
    msg[0] = '\0';
    const struct lgw_config *cfg = req->ing->cfg;
    bool anonymous = cfg->nkeys == 0 && cfg->nadmin == 0 && cfg->allow_anonymous;
    const char *auth = lgw_hconn_header(req->conn, "Authorization");
    const char *api_key = lgw_hconn_header(req->conn, "x-api-key");
    char bearer[LGW_AUTH_KEY_MAX + 16];
    if (!auth && api_key) {
        /* The Anthropic SDK sends its key as x-api-key; check it the same way. */
        if (strlen(api_key) > LGW_AUTH_KEY_MAX)
            return LGW_ERR(UNAUTHORIZED);
        snprintf(bearer, sizeof(bearer), "Bearer %s", api_key);
        auth = bearer;
    }
    /* One hash of the presented key, checked against the admin keys first (there are few, and an admin key
     * must never be taken for a tenant's), then the tenants'. */
    unsigned char d[32];
    int rc = lgw_auth_digest(auth, d);
    size_t match;
    if (rc == 0 && cfg->nadmin && lgw_auth_find(d, cfg->admin[0].sha256, cfg->nadmin, sizeof(cfg->admin[0]), &match)) {
        OPENSSL_cleanse(d, sizeof(d));
        req->admin = true;
        lgw_strlcpy(req->principal, cfg->admin[match].tenant, sizeof(req->principal));
        return LGW_OK;
    }
    struct lgw_tenancy_id who;
    if (rc == 0)
        rc = lgw_tenancy_identify_digest(req->ing->tenancy, d, &who, msg, msgsz);
    OPENSSL_cleanse(d, sizeof(d));
    if (rc == LGW_ERR(UNAUTHORIZED) && !msg[0] && anonymous) {
        /* `llmgw dev` with no configured keys: a caller without a known key is the dev tenant and admin (a
         * key made through the admin API there is still identified, revoked or expired ones refused). */
        lgw_strlcpy(req->tenant, "dev", sizeof(req->tenant));
        lgw_strlcpy(req->principal, "dev", sizeof(req->principal));
        req->admin = true;
        return LGW_OK;
    }
    if (rc)
        return rc;
    /* Both fit (config.h sizes them below the request's fields); a cut name would bill the wrong tenant. */
    lgw_strlcpy(req->tenant, who.tenant, sizeof(req->tenant));
    lgw_strlcpy(req->key_id, who.key_id, sizeof(req->key_id));
    lgw_strlcpy(req->principal, who.tenant, sizeof(req->principal));
    return LGW_OK;
}

bool lgw_admission_has_admin_key(const struct lgw_req *req)
{
    const struct lgw_config *cfg = req->ing->cfg;
    const char *auth = lgw_hconn_header(req->conn, "Authorization");
    unsigned char d[32];
    size_t match;
    if (!cfg->nadmin || !auth || lgw_auth_digest(auth, d) != 0)
        return false;
    bool admin = lgw_auth_find(d, cfg->admin[0].sha256, cfg->nadmin, sizeof(cfg->admin[0]), &match);
    OPENSSL_cleanse(d, sizeof(d));
    return admin;
}

bool lgw_admission_ready(const struct lgw_ingress *ing)
{
    if (!atomic_load(&ing->kafka_up) || !atomic_load(&ing->replies_ready) || atomic_load(&ing->draining))
        return false;
    if (ing->tenants_reader && !lgw_kv_reader_caught_up(ing->tenants_reader))
        return false;
    for (int i = 0; i < ing->nextra_ready; i++)
        if (!ing->extra_ready[i].cb(ing->extra_ready[i].opaque))
            return false;
    return true;
}

/* Rate limits (limits/limits.h): one atomic check shared by every instance. Reserves the request's
 * estimated tokens (its input, plus the output it allows itself when it says), corrected when it ends. */
static int check_limits(struct lgw_req *req, const struct lgw_job *job, char *msg, size_t msgsz)
{
    struct lgw_ingress *ing = req->ing;
    if (!lgw_limits_enabled(ing->limits))
        return LGW_OK;
    struct lgw_route_needs needs;
    lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
    const char *model = json_string_value(json_object_get(job->body, "model"));
    struct lgw_limits_request rq = {
        .id = job->id,
        .tenant = job->tenant,
        .user = job->user,
        .model = model,
        .tokens = needs.input_tokens + needs.max_output_tokens,
        /* An in-flight slot outlives its request only if this ingress dies holding it. */
        .hold_ms = job->deadline_ms - job->created_ms + 5000,
    };
    req->limits = ing->limits; /* for lgw_req_settle_limits, which ends the hold */
    return lgw_limits_admit(ing->limits, &rq, &req->limit_ticket, &req->limit_state, msg, msgsz);
}

int lgw_admission_admit(struct lgw_req *req, const struct lgw_job *job, char *msg, size_t msgsz)
{
    /* The allow-list before the limits: a refused model must not use up the tenant's requests. The name
     * checked is the one the client sent (a group, alias or "auto" is allowed by its own name). */
    int rc = lgw_tenancy_check_model(req->ing->tenancy, req->tenant, req->key_id,
                                     json_string_value(json_object_get(job->body, "model")), msg, msgsz);
    if (rc)
        return rc;
    rc = check_limits(req, job, msg, msgsz);
    if (rc)
        return rc;
    /* Budgets after rate limits: a request over both is told about the limit, which passes in seconds.
     * The spend it checks is the ledger's, a batch or so behind (docs/ARCHITECTURE.md, "Budgets"). */
    rc = lgw_budgets_check(req->ing->budgets, job->tenant, job->key_id, lgw_wall_ms(), &req->budget, msg, msgsz);
    if (rc) {
        atomic_store(&req->used_tokens, 0); /* never queued: its token reservation is given back */
        return rc;
    }
    /* Readiness last: a request refused for another reason should say that reason. */
    if (!lgw_admission_ready(req->ing)) {
        atomic_store(&req->used_tokens, 0); /* never queued: nothing spent (completed_cb ends the hold) */
        snprintf(msg, msgsz, "The gateway cannot reach its message broker; try again later.");
        req->retry_after_s = 1;
        return LGW_ERR(UNAVAILABLE);
    }
    return LGW_OK;
}

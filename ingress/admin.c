/* admin.c - tenant administration in the ingress (see admin.h): the directory's life and the admin routes.
 *
 * Every change is a read-modify-write of one record under admin_lock: read the current record (or what the
 * config says), apply the request, validate the result, produce it with its audit record, wait for Kafka's
 * acknowledgement, then for this instance's reader to apply it. Two instances changing the same record at
 * once both succeed and the later write wins (the topic is ordered by its one partition); admin changes are
 * rare and the audit topic shows both. */
#include "ingress/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/kafka.h"
#include "common/kv_topic.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "common/uuid.h"
#include "ingress/ingress_int.h"
#include "limits/budget.h"
#include "limits/limits.h"
#include "tenancy/tenancy.h"

/* How long a change waits for its own reader after Kafka acknowledged it. The reader polls every 200 ms at
 * most (kv_topic.c), so this is ample; past it the change is durable anyway and the answer says so. */
#define READ_OWN_WRITE_MS 5000

/* A record's delivery, filled by the admin producer's delivery report. Reports are served only inside
 * rd_kafka_flush on this producer, which runs under admin_lock (commit) or at stop, so no lock is needed. On
 * the heap: a report that comes after its change gave up waiting (Kafka unreachable for longer than the
 * produce timeout) finds its change gone, and frees it. */
struct delivery {
    bool done, abandoned;
    rd_kafka_resp_err_t err;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct delivery *d = msg->_private;
    if (!d)
        return;
    if (d->abandoned) {
        free(d);
        return;
    }
    d->done = true;
    d->err = msg->err;
}

/* The caller no longer waits for d: freed now if its report came, else by the report. */
static void delivery_release(struct delivery *d)
{
    if (d->done)
        free(d);
    else
        d->abandoned = true;
}

/* The budget a record's settings give (null or absent: none), into nano-USD. Returns 0, or LGW_ERR(CONFIG)
 * with the reason in errs (never for a record the admin API wrote: it checks amounts before producing). */
static int budget_of(const json_t *settings, const char *where, int64_t *day, int64_t *month, struct lgw_buf *errs)
{
    json_t *budget = json_object_get(settings, "budget");
    *day = *month = LGW_BUDGET_NONE;
    return json_is_object(budget) ? lgw_budget_parse_json(budget, where, day, month, errs) : LGW_OK;
}

/* New settings reach the checks that use them: a tenant's limits the limiter, a tenant's or key's budget
 * the budgets (the record's budget replaces the config file's for the same tenant or key, and a record
 * without one removes it). A key's other attributes are read from the directory itself. */
static void change_cb(void *opaque, const char *tenant, const char *key_id, const json_t *settings)
{
    struct lgw_ingress *ing = opaque;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 4096);
    int64_t day, month;
    if (budget_of(settings, key_id ? key_id : tenant, &day, &month, &errs) ||
        lgw_budgets_set(ing->budgets, tenant, key_id, day, month))
        LGW_WARN("admin", "%s %s: budget from the admin API not applied: %s", key_id ? "key" : "tenant",
                 key_id ? key_id : tenant, errs.ptr ? errs.ptr : "");
    if (key_id) {
        lgw_buf_cleanup(&errs);
        return;
    }
    const json_t *limits = json_object_get(settings, "limits");
    if (lgw_limits_set_tenant(ing->limits, tenant, json_is_object(limits) ? limits : NULL, &errs))
        LGW_WARN("admin", "tenant %s: limits from the admin API not applied: %s", tenant, errs.ptr ? errs.ptr : "");
    else
        LGW_INFO("admin", "tenant %s: settings applied", tenant);
    lgw_buf_cleanup(&errs);
}

int lgw_admin_start(struct lgw_ingress *ing)
{
    pthread_mutex_init(&ing->admin_lock, NULL);
    ing->admin_init = true;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 65536);
    int rc = lgw_tenancy_new(ing->cfg, &ing->tenancy, &errs);
    if (rc)
        LGW_ERROR("ingress", "the tenants' key settings are invalid:\n%s", errs.ptr ? errs.ptr : "");
    lgw_buf_cleanup(&errs);
    if (rc)
        return rc;
    lgw_tenancy_on_change(ing->tenancy, change_cb, ing);
    lgw_metrics_declare(ing->m, "llmgw_admin_changes_total", LGW_METRIC_COUNTER,
                        "Changes made through the admin API, by action and result (ok, or failed: not acknowledged "
                        "by Kafka).");
    lgw_topic_name(ing->cfg, LGW_TOPIC_TENANTS, NULL, ing->topic_tenants, sizeof(ing->topic_tenants));
    lgw_topic_name(ing->cfg, LGW_TOPIC_AUDIT, NULL, ing->topic_audit, sizeof(ing->topic_audit));
    char client[96];
    snprintf(client, sizeof(client), "llmgw-admin-%s", ing->id);
    if ((rc = lgw_kafka_producer_new(ing->cfg, client, 0, dr_cb, ing, &ing->admin_producer)))
        return rc;
    /* Learned in the background from the start, not at the first admin call (common/kafka.h). */
    const char *const produced[] = {ing->topic_tenants, ing->topic_audit};
    lgw_kafka_keep_topics(ing->admin_producer, produced, 2);
    return lgw_kv_reader_start(ing->cfg, LGW_TOPIC_TENANTS, ing->id, lgw_tenancy_record_cb, ing->tenancy,
                               &ing->tenants_reader);
}

void lgw_admin_stop(struct lgw_ingress *ing)
{
    if (!ing->admin_init)
        return;
    ing->admin_init = false;
    lgw_kv_reader_free(ing->tenants_reader);
    ing->tenants_reader = NULL;
    if (ing->admin_producer) {
        rd_kafka_flush(ing->admin_producer, 2000);
        rd_kafka_destroy(ing->admin_producer);
        ing->admin_producer = NULL;
    }
    lgw_tenancy_free(ing->tenancy);
    ing->tenancy = NULL;
    pthread_mutex_destroy(&ing->admin_lock);
}

/* ---- answers ---- */

static enum lgw_hres answer_json(struct lgw_req *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    lgw_req_complete(req, status, text, strlen(text));
    return lgw_req_queue(req, NULL);
}

static enum lgw_hres bad(struct lgw_req *req, const char *param, const char *msg)
{
    return lgw_req_answer_error_param(req, LGW_ERR(INVALID), msg, param);
}

/* The request body as a JSON object, or NULL with the request answered (*r). */
static json_t *body_object(struct lgw_req *req, enum lgw_hres *r)
{
    json_error_t jerr;
    json_t *body = json_loadb(req->body.ptr ? req->body.ptr : "", req->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        *r = lgw_req_answer_error(req, LGW_ERR(BAD_JSON), "The request body must be a JSON object.");
        return NULL;
    }
    return body;
}

/* Only an admin key may administer: a tenant key is answered 403 (it is a valid key, for another purpose). */
static bool admin_only(struct lgw_req *req, enum lgw_hres *r)
{
    if (req->admin)
        return true;
    *r = lgw_req_answer_error(req, LGW_ERR(FORBIDDEN),
                              "Tenant administration needs an admin key (LLMGW_ADMIN_KEYS); this is a tenant key.");
    return false;
}

/* ---- committing a change ---- */

/* A record as the audit shows it: without the key's hash (not secret, but nobody auditing needs it). */
static json_t *audit_view(const json_t *rec)
{
    if (!rec)
        return json_null();
    json_t *v = json_deep_copy(rec);
    json_object_del(v, "sha256");
    return v;
}

/* Produces rec under rkey and its audit record, waits for both acknowledgements and for this instance to
 * apply rec. Sets rev, updated_ms and updated_by on rec. Caller holds admin_lock. Returns 0, or
 * LGW_ERR(UNAVAILABLE) with the request answered by the caller. */
static int commit(struct lgw_req *req, const char *rkey, const char *action, const json_t *before, json_t *rec)
{
    struct lgw_ingress *ing = req->ing;
    char rev[LGW_ID_MAX];
    lgw_uuid4(rev);
    int64_t now = lgw_wall_ms();
    json_object_set_new(rec, "v", json_integer(LGW_RECORD_VERSION));
    json_object_set_new(rec, "rev", json_string(rev));
    json_object_set_new(rec, "updated_ms", json_integer(now));
    json_object_set_new(rec, "updated_by", json_string(req->principal));
    json_t *audit = json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:o, s:o}", "v", 1, "id", rev, "ts_ms", (json_int_t)now,
                              "principal", req->principal, "action", action, "target", rkey, "before",
                              audit_view(before), "after", audit_view(rec));
    json_object_set_new(audit, "request_id", json_string(req->id));
    char *rtext = json_dumps(rec, JSON_COMPACT), *atext = json_dumps(audit, JSON_COMPACT);
    json_decref(audit);
    struct delivery *drec = lgw_calloc(1, sizeof(*drec)), *daud = lgw_calloc(1, sizeof(*daud));
    struct lgw_kafka_msg m1 = {.topic = ing->topic_tenants, .partition = RD_KAFKA_PARTITION_UA, .key = rkey,
                               .value = rtext, .len = strlen(rtext), .opaque = drec};
    struct lgw_kafka_msg m2 = {.topic = ing->topic_audit, .partition = RD_KAFKA_PARTITION_UA, .key = rkey,
                               .value = atext, .len = strlen(atext), .opaque = daud};
    /* A record never queued gets no report: its delivery is settled here, as failed. */
    if (lgw_kafka_produce(ing->admin_producer, &m1, NULL)) {
        drec->done = daud->done = true;
        drec->err = daud->err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    } else if (lgw_kafka_produce(ing->admin_producer, &m2, NULL)) {
        daud->done = true;
        daud->err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    }
    /* Both or neither would be better; Kafka has no cheap way to say so across topics. If the audit record
     * fails after the change went through, the change stands and the failure is logged loudly. */
    rd_kafka_flush(ing->admin_producer, (int)ing->cfg->kafka_produce_timeout_ms + 1000);
    free(rtext);
    free(atext);
    bool written = drec->done && !drec->err, audited = daud->done && !daud->err;
    if (!written)
        LGW_LOG(LGW_LOG_WARN, "admin", req->id, "", "%s %s not written: %s", action, rkey,
                drec->done ? rd_kafka_err2str(drec->err) : "no acknowledgement");
    else if (!audited)
        LGW_ERROR("admin", "%s %s was applied but its audit record was not written: %s", action, rkey,
                  daud->done ? rd_kafka_err2str(daud->err) : "no acknowledgement");
    delivery_release(drec);
    delivery_release(daud);
    char labels[96];
    snprintf(labels, sizeof(labels), "action=\"%s\",result=\"%s\"", action, written ? "ok" : "failed");
    lgw_metrics_add(ing->m, "llmgw_admin_changes_total", labels, 1);
    if (!written)
        return LGW_ERR(UNAVAILABLE);
    int64_t until = lgw_mono_ms() + READ_OWN_WRITE_MS;
    while (!lgw_tenancy_has_rev(ing->tenancy, rkey, rev) && lgw_mono_ms() < until) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    LGW_LOG(LGW_LOG_INFO, "admin", req->id, "", "%s %s by %s", action, rkey, req->principal);
    return LGW_OK;
}

/* ---- keys ---- */

/* The current record of key id, or one made from what the config says of it; NULL when there is no such
 * key. */
static json_t *key_record(struct lgw_ingress *ing, const char *id)
{
    char rkey[LGW_NAME_MAX + 16];
    snprintf(rkey, sizeof(rkey), "key:%s", id);
    json_t *rec = lgw_tenancy_record(ing->tenancy, rkey);
    if (rec)
        return rec;
    json_t *view = lgw_tenancy_key_json(ing->tenancy, id);
    char hex[65];
    if (!view || !lgw_tenancy_key_sha256(ing->tenancy, id, hex)) {
        json_decref(view);
        return NULL;
    }
    rec = json_pack("{s:s, s:s, s:s, s:s, s:b}", "kind", "key", "id", id, "tenant",
                    json_string_value(json_object_get(view, "tenant")), "sha256", hex, "revoked", 0);
    static const char *const copy[] = {"name", "allow_models", "budget", NULL};
    for (const char *const *f = copy; *f; f++)
        if (!json_is_null(json_object_get(view, *f)))
            json_object_set(rec, *f, json_object_get(view, *f));
    int64_t exp;
    if (lgw_record_parse_time(json_string_value(json_object_get(view, "expires")), &exp) == 0)
        json_object_set_new(rec, "expires_ms", json_integer(exp));
    json_decref(view);
    return rec;
}

/* Applies the attributes of body (validated: lgw_key_attrs_parse) to rec; null clears one. */
static void set_key_fields(json_t *rec, const json_t *body)
{
    static const char *const fields[] = {"name", "allow_models", "budget", NULL};
    for (const char *const *f = fields; *f; f++) {
        json_t *v = json_object_get(body, *f);
        if (!v)
            continue;
        if (json_is_null(v))
            json_object_del(rec, *f);
        else
            json_object_set(rec, *f, v);
    }
    json_t *exp = json_object_get(body, "expires");
    int64_t ms;
    if (json_is_null(exp))
        json_object_del(rec, "expires_ms");
    else if (exp && lgw_record_parse_time(json_string_value(exp), &ms) == 0)
        json_object_set_new(rec, "expires_ms", json_integer(ms));
}

/* A budget as the admin API takes it: null or absent (none), or an object lgw_budget_parse_json accepts
 * (so a record on the topic always applies). False with the reason in msg. */
static bool budget_ok(const json_t *budget, char *msg, size_t msgsz)
{
    if (!budget || json_is_null(budget))
        return true;
    if (!json_is_object(budget)) {
        snprintf(msg, msgsz, "budget must be an object, e.g. {\"day_usd\": \"5.00\", \"month_usd\": 100}.");
        return false;
    }
    struct lgw_buf errs;
    lgw_buf_init(&errs, 1024);
    int64_t day, month;
    bool ok = lgw_budget_parse_json((json_t *)budget, "budget", &day, &month, &errs) == 0;
    if (!ok) {
        /* "tenants: budget.budget.day_usd must be ..." from the config-file wording: keep its reason only */
        const char *why = errs.ptr ? strstr(errs.ptr, "budget.") : NULL;
        snprintf(msg, msgsz, "%.*s", why ? (int)strcspn(why + 7, "\n") : 40,
                 why ? why + 7 : "budget: day_usd and month_usd are USD amounts");
    }
    lgw_buf_cleanup(&errs);
    return ok;
}

static enum lgw_hres check_key_body(struct lgw_req *req, const json_t *body, bool *ok)
{
    char msg[256];
    const char *param;
    struct lgw_key_attrs a;
    int rc = lgw_key_attrs_parse(body, true, &a, msg, sizeof(msg), &param);
    lgw_key_attrs_cleanup(&a);
    if (rc == 0 && json_object_get(body, "expires_ms")) {
        rc = LGW_ERR(INVALID);
        param = "expires_ms";
        snprintf(msg, sizeof(msg), "Give expires as an RFC 3339 time, e.g. 2027-01-01T00:00:00Z.");
    }
    if (rc == 0 && !budget_ok(json_object_get(body, "budget"), msg, sizeof(msg))) {
        rc = LGW_ERR(INVALID);
        param = "budget";
    }
    *ok = rc == 0;
    return rc ? bad(req, param, msg) : LGW_HRES_YES;
}

enum lgw_hres lgw_admin_keys_create(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    struct lgw_ingress *ing = req->ing;
    enum lgw_hres r;
    json_t *body = body_object(req, &r), *rec = NULL;
    if (!body)
        return r;
    bool ok;
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    const char *why = "tenant is required";
    if (!tenant || lgw_config_check_tenant(tenant, strlen(tenant), &why)) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Invalid tenant: %s.", why);
        r = bad(req, "tenant", msg);
        goto out;
    }
    r = check_key_body(req, body, &ok);
    if (!ok)
        goto out;
    char key[128], hex[65], id[LGW_KEY_ID_LEN], rkey[LGW_NAME_MAX + 16];
    unsigned char sha[32];
    /* An id is 48 bits of the hash: a clash is a one-in-trillions event, and a fresh key settles it. */
    json_t *clash = NULL;
    for (int attempt = 0; attempt == 0 || (clash && attempt < 3); attempt++) {
        json_decref(clash);
        if (lgw_auth_new_key(key, sizeof(key), hex)) {
            r = lgw_req_answer_error(req, LGW_ERR(INTERNAL), NULL);
            goto out;
        }
        for (int i = 0; i < 32; i++)
            sha[i] = (unsigned char)(lgw_hex_digit(hex[2 * i]) << 4 | lgw_hex_digit(hex[2 * i + 1]));
        lgw_config_key_id(sha, id);
        clash = lgw_tenancy_key_json(ing->tenancy, id);
    }
    if (clash) {
        json_decref(clash);
        r = lgw_req_answer_error(req, LGW_ERR(INTERNAL), NULL);
        goto out;
    }
    snprintf(rkey, sizeof(rkey), "key:%s", id);
    rec = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I}", "kind", "key", "id", id, "tenant", tenant, "sha256", hex,
                    "revoked", 0, "created_ms", (json_int_t)lgw_wall_ms());
    set_key_fields(rec, body);
    pthread_mutex_lock(&ing->admin_lock);
    int rc = commit(req, rkey, "key.create", NULL, rec);
    pthread_mutex_unlock(&ing->admin_lock);
    if (rc) {
        r = lgw_req_answer_error(req, rc, "The key could not be stored; try again.");
        goto out;
    }
    json_t *view = lgw_tenancy_key_json(ing->tenancy, id);
    if (!view) /* our reader is behind; the record is durable, so answer from it */
        view = json_pack("{s:s, s:s}", "id", id, "tenant", tenant);
    json_object_set_new(view, "key", json_string(key)); /* shown only here, never stored */
    r = answer_json(req, 201, view);
    memset(key, 0, sizeof(key));
out:
    json_decref(rec);
    json_decref(body);
    return r;
}

enum lgw_hres lgw_admin_keys_list(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    const char *tenant = lgw_hconn_arg(req->conn, "tenant");
    json_t *list = lgw_tenancy_keys_json(req->ing->tenancy, tenant && tenant[0] ? tenant : NULL);
    return answer_json(req, 200, json_pack("{s:s, s:o}", "object", "list", "data", list));
}

static enum lgw_hres no_key(struct lgw_req *req)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "No key with id '%.40s'.", req->path_arg);
    return lgw_req_answer_error(req, LGW_ERR(NOT_FOUND), msg);
}

enum lgw_hres lgw_admin_key_get(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    json_t *view = lgw_tenancy_key_json(req->ing->tenancy, req->path_arg);
    return view ? answer_json(req, 200, view) : no_key(req);
}

/* PATCH and DELETE: a read-modify-write of one key's record. body NULL: revoke. */
static enum lgw_hres change_key(struct lgw_req *req, const json_t *body)
{
    struct lgw_ingress *ing = req->ing;
    char rkey[LGW_NAME_MAX + 16];
    snprintf(rkey, sizeof(rkey), "key:%s", req->path_arg);
    pthread_mutex_lock(&ing->admin_lock);
    json_t *before = key_record(ing, req->path_arg);
    if (!before) {
        pthread_mutex_unlock(&ing->admin_lock);
        return no_key(req);
    }
    json_t *rec = json_deep_copy(before);
    const char *action = "key.revoke";
    if (body) {
        set_key_fields(rec, body);
        action = "key.update";
    } else {
        json_object_set_new(rec, "revoked", json_true());
        json_object_set_new(rec, "revoked_ms", json_integer(lgw_wall_ms()));
    }
    int rc = commit(req, rkey, action, before, rec);
    pthread_mutex_unlock(&ing->admin_lock);
    json_decref(before);
    json_decref(rec);
    if (rc)
        return lgw_req_answer_error(req, rc, "The change could not be stored; try again.");
    return lgw_admin_key_get(req);
}

enum lgw_hres lgw_admin_key_revoke(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    return change_key(req, NULL);
}

enum lgw_hres lgw_admin_key_update(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    enum lgw_hres r;
    json_t *body = body_object(req, &r);
    if (!body)
        return r;
    bool ok;
    if (json_object_get(body, "tenant"))
        r = bad(req, "tenant", "A key cannot move to another tenant; create a new key there.");
    else if ((r = check_key_body(req, body, &ok)), ok)
        r = change_key(req, body);
    json_decref(body);
    return r;
}

/* ---- tenants ---- */

static bool tenant_arg_ok(struct lgw_req *req, enum lgw_hres *r)
{
    const char *why;
    if (lgw_config_check_tenant(req->path_arg, strlen(req->path_arg), &why) == 0)
        return true;
    char msg[160];
    snprintf(msg, sizeof(msg), "Invalid tenant name: %s.", why);
    *r = bad(req, "tenant", msg);
    return false;
}

enum lgw_hres lgw_admin_tenant_get(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    enum lgw_hres r;
    if (!tenant_arg_ok(req, &r))
        return r;
    return answer_json(req, 200, lgw_tenancy_tenant_json(req->ing->tenancy, req->path_arg));
}

/* Validates the settings of a tenant record (limits through the limiter's own rules). */
static bool check_settings(struct lgw_req *req, const json_t *rec, enum lgw_hres *r)
{
    char msg[512];
    const json_t *limits = json_object_get(rec, "limits");
    if (limits && !json_is_null(limits)) {
        struct lgw_buf errs;
        lgw_buf_init(&errs, 4096);
        int rc = json_is_object(limits) ? lgw_limits_check_tenant(req->path_arg, limits, &errs) : LGW_ERR(CONFIG);
        snprintf(msg, sizeof(msg), "Invalid limits: %s", json_is_object(limits) ? (errs.ptr ? errs.ptr : "") :
                 "limits must be an object {\"rpm\", \"tpm\", \"inflight\", \"user\", \"models\"}.");
        lgw_buf_cleanup(&errs);
        if (rc) {
            size_t n = strlen(msg);
            while (n && msg[n - 1] == '\n')
                msg[--n] = '\0';
            *r = bad(req, "limits", msg);
            return false;
        }
    }
    const json_t *models = json_object_get(rec, "allow_models");
    if (models && !json_is_null(models) && lgw_record_check_models(models, msg, sizeof(msg))) {
        *r = bad(req, "allow_models", msg);
        return false;
    }
    if (!budget_ok(json_object_get(rec, "budget"), msg, sizeof(msg))) {
        *r = bad(req, "budget", msg);
        return false;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)rec, k, v) {
        if (strcmp(k, "limits") && strcmp(k, "allow_models") && strcmp(k, "budget")) {
            snprintf(msg, sizeof(msg), "Unknown field '%.64s'; a tenant has limits, budget and allow_models.", k);
            *r = bad(req, k, msg);
            return false;
        }
    }
    return true;
}

/* PUT (replace: a member left out is cleared, the config's value included) or PATCH (merge: members left
 * out keep their current value; inside "limits", member by member). */
static enum lgw_hres change_tenant(struct lgw_req *req, bool merge)
{
    struct lgw_ingress *ing = req->ing;
    enum lgw_hres r;
    if (!tenant_arg_ok(req, &r))
        return r;
    json_t *body = body_object(req, &r);
    if (!body)
        return r;
    char rkey[LGW_NAME_MAX + 16];
    snprintf(rkey, sizeof(rkey), "tenant:%s", req->path_arg);
    pthread_mutex_lock(&ing->admin_lock);
    json_t *before = lgw_tenancy_record(ing->tenancy, rkey);
    json_t *rec = json_object();
    static const char *const fields[] = {"limits", "budget", "allow_models", NULL};
    if (merge) {
        json_t *cur = lgw_tenancy_tenant_json(ing->tenancy, req->path_arg);
        for (const char *const *f = fields; *f; f++)
            if (json_object_get(cur, *f))
                json_object_set(rec, *f, json_object_get(cur, *f));
        json_decref(cur);
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v) {
            json_t *old = json_object_get(rec, k);
            if (strcmp(k, "limits") == 0 && json_is_object(v) && json_is_object(old)) {
                json_t *m = json_deep_copy(old);
                json_object_update(m, v);
                const char *mk;
                json_t *mv;
                void *tmp;
                json_object_foreach_safe(m, tmp, mk, mv) if (json_is_null(mv)) json_object_del(m, mk);
                json_object_set_new(rec, k, m);
            } else {
                json_object_set(rec, k, v);
            }
        }
    } else {
        json_object_update(rec, body);
    }
    if (!check_settings(req, rec, &r)) {
        pthread_mutex_unlock(&ing->admin_lock);
        goto out;
    }
    for (const char *const *f = fields; *f; f++)
        if (!json_object_get(rec, *f))
            json_object_set_new(rec, *f, json_null()); /* the record says "none", over the config */
    json_object_set_new(rec, "kind", json_string("tenant"));
    json_object_set_new(rec, "tenant", json_string(req->path_arg));
    int rc = commit(req, rkey, merge ? "tenant.update" : "tenant.put", before, rec);
    pthread_mutex_unlock(&ing->admin_lock);
    r = rc ? lgw_req_answer_error(req, rc, "The change could not be stored; try again.")
           : answer_json(req, 200, lgw_tenancy_tenant_json(ing->tenancy, req->path_arg));
out:
    json_decref(before);
    json_decref(rec);
    json_decref(body);
    return r;
}

enum lgw_hres lgw_admin_tenant_put(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    return change_tenant(req, false);
}

enum lgw_hres lgw_admin_tenant_patch(struct lgw_req *req)
{
    enum lgw_hres guard;
    if (!admin_only(req, &guard))
        return guard;
    return change_tenant(req, true);
}

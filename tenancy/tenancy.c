/* tenancy.c - the tenancy directory (see tenancy.h): config keys and tenants overlaid with the tenants topic's
 * records. A record changes only its own entry (refresh_key, refresh_tenant), found through a hashed index,
 * so a replay of thousands of records at start costs thousands of small steps, not thousands of rebuilds. */
#include "tenancy/tenancy.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"

struct key_entry {
    unsigned char sha256[32];
    char tenant[LGW_TENANT_MAX];
    char id[LGW_KEY_ID_LEN];
    struct lgw_key_attrs a;
    bool revoked;
    bool from_config, from_api;
    json_t *budget; /* owned reference, or NULL */
    int64_t created_ms;
};

struct tenant_entry {
    char name[LGW_TENANT_MAX];
    struct lgw_key_attrs a; /* only the allow-list */
    json_t *settings;       /* owned: {"limits", "budget", "allow_models"} as far as set */
    bool from_config, from_api;
};

struct lgw_tenancy {
    const struct lgw_config *cfg;
    json_t *cfg_keys;      /* key id -> index in cfg->keys (start-up, then read-only) */
    pthread_rwlock_t lock; /* guards everything below */
    json_t *records;       /* record key -> the latest record of the topic */
    struct key_entry *keys;
    size_t nkeys, kalloc;
    json_t *kidx; /* key id -> index in keys */
    struct tenant_entry *tenants;
    size_t ntenants, talloc;
    json_t *tidx; /* tenant name -> index in tenants */
    lgw_tenancy_change_cb cb; /* set before records arrive, read by the applying thread only */
    void *cb_opaque;
};

/* The limit members of a tenant's config object (limits/limits.c reads the same ones). */
static const char *const limit_fields[] = {"rpm", "tpm", "inflight", "user", "models", NULL};
/* A tenant record's members, each replacing the config's. */
static const char *const tenant_fields[] = {"limits", "budget", "allow_models", NULL};

static void clear_key(struct key_entry *k)
{
    lgw_key_attrs_cleanup(&k->a);
    json_decref(k->budget);
    memset(k, 0, sizeof(*k));
}

static void clear_tenant(struct tenant_entry *te)
{
    lgw_key_attrs_cleanup(&te->a);
    json_decref(te->settings);
    memset(te, 0, sizeof(*te));
}

static void free_entries(struct lgw_tenancy *t)
{
    for (size_t i = 0; i < t->nkeys; i++)
        clear_key(&t->keys[i]);
    free(t->keys);
    for (size_t i = 0; i < t->ntenants; i++)
        clear_tenant(&t->tenants[i]);
    free(t->tenants);
}

static struct key_entry *find_key(struct lgw_tenancy *t, const char *id)
{
    json_t *i = json_object_get(t->kidx, id);
    return i ? &t->keys[json_integer_value(i)] : NULL;
}

static struct tenant_entry *find_tenant(struct lgw_tenancy *t, const char *name)
{
    json_t *i = json_object_get(t->tidx, name);
    return i ? &t->tenants[json_integer_value(i)] : NULL;
}

static int unhex(const char *hex, unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        int hi = lgw_hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : lgw_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

/* Takes a key's attributes from obj (config or record; validated before it got here). */
static void set_attrs(struct key_entry *k, const json_t *obj)
{
    char msg[160];
    lgw_key_attrs_cleanup(&k->a);
    lgw_key_attrs_parse(obj, false, &k->a, msg, sizeof(msg), NULL);
    json_decref(k->budget);
    json_t *b = json_object_get(obj, "budget");
    k->budget = json_is_object(b) ? json_deep_copy(b) : NULL;
}

/* Recomputes the entry of key id from the config and its record: added, changed or removed. Caller holds
 * the write lock. */
static void refresh_key(struct lgw_tenancy *t, const char *id)
{
    const struct lgw_config *cfg = t->cfg;
    char rkey[LGW_KEY_ID_LEN + 8];
    snprintf(rkey, sizeof(rkey), "key:%s", id);
    json_t *rec = json_object_get(t->records, rkey);
    json_t *ci = json_object_get(t->cfg_keys, id);
    const struct lgw_tenant_key *ck = ci ? &cfg->keys[json_integer_value(ci)] : NULL;
    const char *sha = json_string_value(json_object_get(rec, "sha256"));
    struct key_entry *k = find_key(t, id);
    if (!ck && !sha) {
        /* Neither configured here nor carrying its hash (a record for another instance's config key):
         * nothing to identify. Removed by moving the last entry into its place. */
        if (k) {
            size_t at = (size_t)(k - t->keys), last = t->nkeys - 1;
            clear_key(k);
            json_object_del(t->kidx, id);
            if (at != last) {
                t->keys[at] = t->keys[last];
                json_object_set_new(t->kidx, t->keys[at].id, json_integer((json_int_t)at));
            }
            t->nkeys--;
        }
        return;
    }
    if (!k) {
        if (t->nkeys == t->kalloc) {
            t->kalloc = t->kalloc ? t->kalloc * 2 : 64;
            t->keys = lgw_realloc(t->keys, t->kalloc * sizeof(*t->keys));
        }
        k = &t->keys[t->nkeys];
        memset(k, 0, sizeof(*k));
        json_object_set_new(t->kidx, id, json_integer((json_int_t)t->nkeys++));
    } else {
        clear_key(k);
    }
    lgw_strlcpy(k->id, id, sizeof(k->id));
    if (ck) {
        memcpy(k->sha256, ck->sha256, 32);
        lgw_strlcpy(k->tenant, ck->tenant, sizeof(k->tenant));
        k->from_config = true;
        json_t *attrs = json_object_get(json_object_get(json_object_get(cfg->tenants, k->tenant), "keys"), id);
        if (attrs)
            set_attrs(k, attrs);
    }
    if (rec) {
        /* The record wins: its members replace the config's. */
        if (sha)
            unhex(sha, k->sha256);
        lgw_strlcpy(k->tenant, json_string_value(json_object_get(rec, "tenant")), sizeof(k->tenant));
        k->from_api = true;
        k->revoked = json_is_true(json_object_get(rec, "revoked"));
        k->created_ms = json_integer_value(json_object_get(rec, "created_ms"));
        set_attrs(k, rec);
    }
}

/* Recomputes tenant name's settings: the config's, then each member of its record over them. Caller holds
 * the write lock. */
static void refresh_tenant(struct lgw_tenancy *t, const char *name)
{
    char rkey[LGW_TENANT_MAX + 8];
    snprintf(rkey, sizeof(rkey), "tenant:%s", name);
    json_t *tj = json_object_get(t->cfg->tenants, name);
    json_t *rec = json_object_get(t->records, rkey);
    if (!json_is_object(tj))
        tj = NULL;
    struct tenant_entry *te = find_tenant(t, name);
    if (!tj && !rec) {
        if (te) {
            size_t at = (size_t)(te - t->tenants), last = t->ntenants - 1;
            clear_tenant(te);
            json_object_del(t->tidx, name);
            if (at != last) {
                t->tenants[at] = t->tenants[last];
                json_object_set_new(t->tidx, t->tenants[at].name, json_integer((json_int_t)at));
            }
            t->ntenants--;
        }
        return;
    }
    if (!te) {
        if (t->ntenants == t->talloc) {
            t->talloc = t->talloc ? t->talloc * 2 : 16;
            t->tenants = lgw_realloc(t->tenants, t->talloc * sizeof(*t->tenants));
        }
        te = &t->tenants[t->ntenants];
        memset(te, 0, sizeof(*te));
        json_object_set_new(t->tidx, name, json_integer((json_int_t)t->ntenants++));
    } else {
        clear_tenant(te);
    }
    lgw_strlcpy(te->name, name, sizeof(te->name));
    te->settings = json_object();
    if (tj) {
        te->from_config = true;
        json_t *limits = json_object();
        for (const char *const *f = limit_fields; *f; f++)
            if (json_object_get(tj, *f))
                json_object_set(limits, *f, json_object_get(tj, *f));
        if (json_object_size(limits))
            json_object_set_new(te->settings, "limits", limits);
        else
            json_decref(limits);
        static const char *const others[] = {"budget", "allow_models", NULL};
        for (const char *const *f = others; *f; f++)
            if (json_object_get(tj, *f))
                json_object_set_new(te->settings, *f, json_deep_copy(json_object_get(tj, *f)));
    }
    if (rec) {
        te->from_api = true;
        for (const char *const *f = tenant_fields; *f; f++) {
            json_t *v = json_object_get(rec, *f);
            if (!v)
                continue;
            if (json_is_null(v))
                json_object_del(te->settings, *f);
            else
                json_object_set_new(te->settings, *f, json_deep_copy(v));
        }
    }
    char msg[160];
    lgw_key_attrs_parse(te->settings, false, &te->a, msg, sizeof(msg), NULL);
}

/* Checks the config's key attributes and allow-lists. */
static int check_config(const struct lgw_config *cfg, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    const char *name;
    json_t *tj;
    json_object_foreach(cfg->tenants, name, tj) {
        if (!json_is_object(tj))
            continue; /* limits/ reports it */
        char msg[256];
        json_t *models = json_object_get(tj, "allow_models");
        if (models && lgw_record_check_models(models, msg, sizeof(msg))) {
            lgw_buf_printf(errs, "tenants: %s: %s\n", name, msg);
            rc = LGW_ERR(CONFIG);
        }
        json_t *keys = json_object_get(tj, "keys");
        if (!keys)
            continue;
        if (!json_is_object(keys)) {
            lgw_buf_printf(errs, "tenants: %s.keys must be an object of key ids\n", name);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        const char *id;
        json_t *kj;
        json_object_foreach(keys, id, kj) {
            const char *param;
            struct lgw_key_attrs a;
            if (lgw_key_attrs_parse(kj, true, &a, msg, sizeof(msg), &param)) {
                lgw_buf_printf(errs, "tenants: %s.keys.%s: %s\n", name, id, msg);
                rc = LGW_ERR(CONFIG);
            }
            lgw_key_attrs_cleanup(&a);
            const struct lgw_tenant_key *k = NULL;
            for (size_t i = 0; i < cfg->nkeys && !k; i++)
                if (strcmp(cfg->keys[i].id, id) == 0)
                    k = &cfg->keys[i];
            if (k && strcmp(k->tenant, name) != 0) {
                lgw_buf_printf(errs, "tenants: %s.keys.%s: tenant_keys gives this key to tenant %s\n", name, id,
                               k->tenant);
                rc = LGW_ERR(CONFIG);
            } else if (!k) {
                /* Not an error: the key may be created through the admin API later, or live in another
                 * instance's environment; its attributes apply once a key with this id exists. */
                LGW_INFO("tenancy", "tenants.%s.keys.%s: no such key in tenant_keys (yet)", name, id);
            }
        }
    }
    return rc;
}

int lgw_tenancy_new(const struct lgw_config *cfg, struct lgw_tenancy **out, struct lgw_buf *errs)
{
    *out = NULL;
    int rc = check_config(cfg, errs);
    if (rc)
        return rc;
    struct lgw_tenancy *t = lgw_calloc(1, sizeof(*t));
    t->cfg = cfg;
    pthread_rwlock_init(&t->lock, NULL);
    t->records = json_object();
    t->cfg_keys = json_object();
    t->kidx = json_object();
    t->tidx = json_object();
    for (size_t i = 0; i < cfg->nkeys; i++)
        json_object_set_new(t->cfg_keys, cfg->keys[i].id, json_integer((json_int_t)i));
    for (size_t i = 0; i < cfg->nkeys; i++)
        refresh_key(t, cfg->keys[i].id);
    const char *name;
    json_t *tj;
    json_object_foreach(cfg->tenants, name, tj)
        refresh_tenant(t, name);
    *out = t;
    return LGW_OK;
}

void lgw_tenancy_free(struct lgw_tenancy *t)
{
    if (!t)
        return;
    free_entries(t);
    json_decref(t->records);
    json_decref(t->cfg_keys);
    json_decref(t->kidx);
    json_decref(t->tidx);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

void lgw_tenancy_on_change(struct lgw_tenancy *t, lgw_tenancy_change_cb cb, void *opaque)
{
    t->cb = cb;
    t->cb_opaque = opaque;
}

int lgw_tenancy_apply(struct lgw_tenancy *t, const char *key, size_t keylen, const void *value, size_t len)
{
    char k[LGW_TENANT_MAX + 16], msg[256];
    if (keylen >= sizeof(k)) {
        LGW_WARN("tenancy", "ignoring a tenants record with an oversized key");
        return LGW_ERR(INVALID);
    }
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    bool is_key = keylen > 4 && memcmp(k, "key:", 4) == 0;
    if (!is_key && !(keylen > 7 && memcmp(k, "tenant:", 7) == 0)) {
        LGW_WARN("tenancy", "ignoring a tenants record under %s: neither key:<id> nor tenant:<name>", k);
        return LGW_ERR(INVALID);
    }
    json_t *rec = NULL;
    if (value) {
        json_error_t jerr;
        rec = json_loadb(value, len, 0, &jerr);
        if (!rec || lgw_record_check(k, keylen, rec, msg, sizeof(msg))) {
            LGW_WARN("tenancy", "ignoring an invalid tenants record %s: %s", k, rec ? msg : "not JSON");
            json_decref(rec);
            return LGW_ERR(INVALID);
        }
    }
    pthread_rwlock_wrlock(&t->lock);
    if (rec)
        json_object_set_new(t->records, k, rec);
    else
        json_object_del(t->records, k);
    if (is_key)
        refresh_key(t, k + 4);
    else
        refresh_tenant(t, k + 7);
    pthread_rwlock_unlock(&t->lock);
    if (t->cb && is_key) {
        json_t *view = lgw_tenancy_key_json(t, k + 4);
        if (view)
            t->cb(t->cb_opaque, json_string_value(json_object_get(view, "tenant")), k + 4, view);
        json_decref(view);
    } else if (t->cb) {
        json_t *settings = lgw_tenancy_tenant_json(t, k + 7);
        t->cb(t->cb_opaque, k + 7, NULL, settings);
        json_decref(settings);
    }
    LGW_DEBUG("tenancy", "applied %s", k);
    return LGW_OK;
}

void lgw_tenancy_record_cb(void *opaque, const char *key, size_t keylen, const void *value, size_t len)
{
    lgw_tenancy_apply(opaque, key, keylen, value, len);
}

int lgw_tenancy_identify(struct lgw_tenancy *t, const char *authorization, struct lgw_tenancy_id *who, char *msg,
                         size_t msgsz)
{
    msg[0] = '\0';
    unsigned char d[32];
    int rc = lgw_auth_digest(authorization, d);
    if (rc == 0)
        rc = lgw_tenancy_identify_digest(t, d, who, msg, msgsz);
    OPENSSL_cleanse(d, sizeof(d));
    return rc;
}

int lgw_tenancy_identify_digest(struct lgw_tenancy *t, const unsigned char d[32], struct lgw_tenancy_id *who,
                                char *msg, size_t msgsz)
{
    msg[0] = '\0';
    pthread_rwlock_rdlock(&t->lock);
    /* Constant time over every entry (lgw_auth_find), revoked and expired ones included. */
    size_t match = 0;
    bool found = t->nkeys > 0 && lgw_auth_find(d, t->keys[0].sha256, t->nkeys, sizeof(t->keys[0]), &match);
    int rc = LGW_ERR(UNAUTHORIZED);
    if (found) {
        /* The caller holds the key, so saying what is wrong with it reveals nothing new. */
        const struct key_entry *k = &t->keys[match];
        if (k->revoked) {
            snprintf(msg, msgsz, "API key %s was revoked.", k->id);
        } else if (k->a.expires_ms && lgw_wall_ms() >= k->a.expires_ms) {
            char when[32];
            lgw_record_format_time(k->a.expires_ms, when, sizeof(when));
            snprintf(msg, msgsz, "API key %s expired at %s.", k->id, when);
        } else {
            lgw_strlcpy(who->tenant, k->tenant, sizeof(who->tenant));
            lgw_strlcpy(who->key_id, k->id, sizeof(who->key_id));
            lgw_strlcpy(who->name, k->a.name, sizeof(who->name));
            rc = LGW_OK;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

/* "a, b, c" into out, cut with "..." when long. */
static void join_models(const struct lgw_key_attrs *a, char *out, size_t outsz)
{
    size_t o = 0;
    out[0] = '\0';
    if (a->nmodels == 0) {
        snprintf(out, outsz, "none");
        return;
    }
    for (size_t i = 0; i < a->nmodels && o + 1 < outsz; i++) {
        int n = snprintf(out + o, outsz - o, "%s%s", i ? ", " : "", a->models[i]);
        if (n < 0 || (size_t)n >= outsz - o) {
            if (outsz > 4)
                memcpy(out + outsz - 4, "...", 4);
            return;
        }
        o += (size_t)n;
    }
}

int lgw_tenancy_check_model(struct lgw_tenancy *t, const char *tenant, const char *key_id, const char *model,
                            char *msg, size_t msgsz)
{
    if (!model)
        return LGW_OK; /* validation answers a missing model */
    int rc = LGW_OK;
    char allowed[512];
    pthread_rwlock_rdlock(&t->lock);
    const struct key_entry *k = key_id && key_id[0] ? find_key(t, key_id) : NULL;
    const struct tenant_entry *te = find_tenant(t, tenant);
    if (k && k->a.has_models) {
        if (!lgw_key_attrs_allows(&k->a, model)) {
            join_models(&k->a, allowed, sizeof(allowed));
            if (k->a.name[0])
                snprintf(msg, msgsz, "Key %s (%s) may not use model %s; allowed: %s.", k->id, k->a.name, model,
                         allowed);
            else
                snprintf(msg, msgsz, "Key %s may not use model %s; allowed: %s.", k->id, model, allowed);
            rc = LGW_ERR(FORBIDDEN);
        }
    } else if (te && te->a.has_models && !lgw_key_attrs_allows(&te->a, model)) {
        join_models(&te->a, allowed, sizeof(allowed));
        snprintf(msg, msgsz, "Tenant %s may not use model %s; allowed: %s.", tenant, model, allowed);
        rc = LGW_ERR(FORBIDDEN);
    }
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

static json_t *key_view(const struct key_entry *k)
{
    char when[32];
    json_t *o = json_pack("{s:s, s:s}", "id", k->id, "tenant", k->tenant);
    json_object_set_new(o, "name", k->a.name[0] ? json_string(k->a.name) : json_null());
    if (k->a.expires_ms) {
        lgw_record_format_time(k->a.expires_ms, when, sizeof(when));
        json_object_set_new(o, "expires", json_string(when));
    } else {
        json_object_set_new(o, "expires", json_null());
    }
    if (k->a.has_models) {
        json_t *arr = json_array();
        for (size_t i = 0; i < k->a.nmodels; i++)
            json_array_append_new(arr, json_string(k->a.models[i]));
        json_object_set_new(o, "allow_models", arr);
    } else {
        json_object_set_new(o, "allow_models", json_null());
    }
    json_object_set_new(o, "budget", k->budget ? json_deep_copy(k->budget) : json_null());
    json_object_set_new(o, "revoked", json_boolean(k->revoked));
    json_object_set_new(o, "source", json_string(k->from_config && k->from_api ? "config+api"
                                                 : k->from_api                 ? "api"
                                                                               : "config"));
    if (k->created_ms)
        json_object_set_new(o, "created_ms", json_integer(k->created_ms));
    return o;
}

json_t *lgw_tenancy_key_json(struct lgw_tenancy *t, const char *id)
{
    pthread_rwlock_rdlock(&t->lock);
    const struct key_entry *k = find_key(t, id);
    json_t *o = k ? key_view(k) : NULL;
    pthread_rwlock_unlock(&t->lock);
    return o;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")),
                  json_string_value(json_object_get(*(json_t *const *)b, "id")));
}

json_t *lgw_tenancy_keys_json(struct lgw_tenancy *t, const char *tenant)
{
    pthread_rwlock_rdlock(&t->lock);
    json_t **views = lgw_calloc(t->nkeys + 1, sizeof(*views));
    size_t n = 0;
    for (size_t i = 0; i < t->nkeys; i++)
        if (!tenant || strcmp(t->keys[i].tenant, tenant) == 0)
            views[n++] = key_view(&t->keys[i]);
    pthread_rwlock_unlock(&t->lock);
    qsort(views, n, sizeof(*views), by_id);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, views[i]);
    free(views);
    return arr;
}

json_t *lgw_tenancy_tenant_json(struct lgw_tenancy *t, const char *tenant)
{
    pthread_rwlock_rdlock(&t->lock);
    const struct tenant_entry *te = find_tenant(t, tenant);
    json_t *o = te ? json_deep_copy(te->settings) : json_object();
    json_object_set_new(o, "tenant", json_string(tenant));
    json_object_set_new(o, "source", json_string(!te               ? "default"
                                                 : te->from_config && te->from_api ? "config+api"
                                                 : te->from_api                   ? "api"
                                                                                  : "config"));
    pthread_rwlock_unlock(&t->lock);
    return o;
}

json_t *lgw_tenancy_record(struct lgw_tenancy *t, const char *key)
{
    pthread_rwlock_rdlock(&t->lock);
    json_t *rec = json_object_get(t->records, key);
    json_t *copy = rec ? json_deep_copy(rec) : NULL;
    pthread_rwlock_unlock(&t->lock);
    return copy;
}

bool lgw_tenancy_key_sha256(struct lgw_tenancy *t, const char *id, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    pthread_rwlock_rdlock(&t->lock);
    const struct key_entry *k = find_key(t, id);
    if (k)
        for (int i = 0; i < 32; i++) {
            hex[2 * i] = digits[k->sha256[i] >> 4];
            hex[2 * i + 1] = digits[k->sha256[i] & 15];
        }
    pthread_rwlock_unlock(&t->lock);
    hex[k ? 64 : 0] = '\0';
    return k != NULL;
}

bool lgw_tenancy_has_rev(struct lgw_tenancy *t, const char *key, const char *rev)
{
    pthread_rwlock_rdlock(&t->lock);
    const char *have = json_string_value(json_object_get(json_object_get(t->records, key), "rev"));
    bool same = have && strcmp(have, rev) == 0;
    pthread_rwlock_unlock(&t->lock);
    return same;
}

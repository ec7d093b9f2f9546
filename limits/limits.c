/* limits.c - which limits apply to a request, the Redis script that decides them for every instance at once,
 * the switch to the in-memory log (memlog.c) when Redis fails, and the numbers behind the response headers.
 *
 * Algorithm: a sliding log. Each limit is a sorted set of the requests in the window, scored by the time
 * Redis read from its own clock (TIME) when it admitted them; token limits also keep each request's tokens
 * (a hash) and their sum. A check drops what left the window and compares count (or sum) plus this request
 * with the limit, and admits by adding the request: all of it in one Lua script, so the check and the add
 * are one atomic step for every instance and no caller's clock is involved. Exact: a limit of 100 admits the
 * 100th request of a window and refuses the 101st, and capacity comes back one request at a time as the
 * oldest leave (no fixed boundary where twice the limit could pass, as with fixed windows). GCRA would
 * take O(1) memory per key, but it spreads a limit evenly over the window (a burst of 100 then 1 more each
 * window/100), it cannot correct a token reservation after the fact, and "requests in the last minute" is
 * what users and the OpenAI headers mean. The log costs memory per request in the window (about 60 bytes in
 * Redis), bounded by the limits themselves. */
#include "limits/limits.h"

#include <inttypes.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "limits/memlog.h"

_Static_assert(LGW_LIMIT_REQUESTS == LGW_MEMLOG_REQUESTS && LGW_LIMIT_TOKENS == LGW_MEMLOG_TOKENS &&
                   LGW_LIMIT_INFLIGHT == LGW_MEMLOG_INFLIGHT && LGW_LIMITS_MAX <= LGW_MEMLOG_MAX,
               "limits.h and memlog.h name the same kinds");

/* Keys of the in-memory log before empty ones are dropped: one per tenant, user and model in use. */
#define MEMLOG_MAX_KEYS 100000

/* The admission script. KEYS: one per limit. A scope's request and token limits share one log, a sorted set
 * whose members are "tokens:id" (tokens 0 when the scope has no token limit), and its token limit keeps the
 * members' sum beside it in KEYS[i]..':s'; so a request costs one log entry per scope, not one per limit plus
 * a hash entry for its tokens. An in-flight limit has a set of its own, scored by each hold's expiry. Every key
 * of a request has the tenant as its {hash tag}. ARGV: id, window_us, tokens, hold_us, n, then kind and limit of
 * each. Returns {refused (index, 0: none), retry_us, then used and reset_us of each limit, then Redis's time
 * of the admission}: lgw_limits_finish names the request's entry by it. */
static const char admit_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local id, win, tok, hold, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), "
    "tonumber(ARGV[5])\n"
    "local res = {0, 0}\n"
    "local refused, retry = 0, 0\n"
    "local logs = {}\n"
    /* Each log once: what left the window goes, with its tokens from the sum (a sum that expired while its
     * entries stayed comes out at or below 0 and is dropped: nothing of it is left in the window). */
    "for i = 1, n do\n"
    "  local kind, k = ARGV[4 + 2 * i], KEYS[i]\n"
    "  if kind ~= 'i' and not logs[k] then\n"
    "    local g = {reset = 0}\n"
    "    logs[k] = g\n"
    "    local old = redis.call('ZRANGEBYSCORE', k, '-inf', now - win)\n"
    "    if #old > 0 then\n"
    "      local s = 0\n"
    "      for j = 1, #old do s = s + (tonumber(string.match(old[j], '^%d+')) or 0) end\n"
    "      if s ~= 0 and redis.call('DECRBY', k .. ':s', s) <= 0 then redis.call('DEL', k .. ':s') end\n"
    "      redis.call('ZREMRANGEBYSCORE', k, '-inf', now - win)\n"
    "    end\n"
    "    g.count = redis.call('ZCARD', k)\n"
    "    if g.count > 0 then\n"
    "      local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')\n"
    "      g.reset = tonumber(first[2]) + win - now\n"
    "    end\n"
    "  end\n"
    "  if kind == 't' then logs[k].tokens = true end\n"
    "end\n"
    "for i = 1, n do\n"
    "  local kind, lim, k = ARGV[4 + 2 * i], tonumber(ARGV[5 + 2 * i]), KEYS[i]\n"
    "  local g = logs[k]\n"
    "  local used, need, reset = 0, 1, 0\n"
    "  if kind == 'i' then\n"
    "    redis.call('ZREMRANGEBYSCORE', k, '-inf', now)\n"
    "    used = redis.call('ZCARD', k)\n"
    "  elseif kind == 't' then\n"
    "    if not g.sum then g.sum = tonumber(redis.call('GET', k .. ':s') or '0') end\n"
    "    used, need, reset = g.sum, tok, g.reset\n"
    "  else\n"
    "    used, reset = g.count, g.reset\n"
    "  end\n"
    "  res[2 * i + 1] = used\n"
    "  res[2 * i + 2] = reset\n"
    "  if used + need > lim then\n"
    "    local wait = win\n"
    "    if kind == 'i' then\n"
    "      wait = 1000000\n"
    "    elseif need <= lim and kind == 'r' then\n"
    "      local e = redis.call('ZRANGE', k, used + need - lim - 1, used + need - lim - 1, 'WITHSCORES')\n"
    "      if #e == 2 then wait = tonumber(e[2]) + win - now end\n"
    "    elseif need <= lim then\n"
    "      local freed, start, found = 0, 0, false\n"
    "      while not found do\n"
    "        local e = redis.call('ZRANGE', k, start, start + 199, 'WITHSCORES')\n"
    "        if #e == 0 then break end\n"
    "        for x = 1, #e, 2 do\n"
    "          freed = freed + (tonumber(string.match(e[x], '^%d+')) or 0)\n"
    "          if used - freed + need <= lim then\n"
    "            wait = tonumber(e[x + 1]) + win - now\n"
    "            found = true\n"
    "            break\n"
    "          end\n"
    "        end\n"
    "        start = start + 200\n"
    "      end\n"
    "    end\n"
    "    if refused == 0 then refused = i end\n"
    "    if wait > retry then retry = wait end\n"
    "  end\n"
    "end\n"
    "if refused == 0 then\n"
    "  local ttl = math.floor(win / 1000) + 1000\n"
    "  local added = {}\n"
    "  for i = 1, n do\n"
    "    local kind, k = ARGV[4 + 2 * i], KEYS[i]\n"
    "    if kind == 'i' then\n"
    "      redis.call('ZADD', k, now + hold, id)\n"
    "      local h = math.floor(hold / 1000) + 1000\n"
    "      if redis.call('PTTL', k) < h then redis.call('PEXPIRE', k, h) end\n"
    "      res[2 * i + 1] = res[2 * i + 1] + 1\n"
    "    else\n"
    "      if not added[k] then\n"
    "        added[k] = true\n"
    "        if logs[k].tokens then\n"
    "          redis.call('ZADD', k, now, ARGV[3] .. ':' .. id)\n"
    "          redis.call('INCRBY', k .. ':s', tok)\n"
    "          redis.call('PEXPIRE', k .. ':s', ttl)\n"
    "        else\n"
    "          redis.call('ZADD', k, now, '0:' .. id)\n"
    "        end\n"
    "        redis.call('PEXPIRE', k, ttl)\n"
    "      end\n"
    "      res[2 * i + 1] = res[2 * i + 1] + (kind == 't' and tok or 1)\n"
    "      if res[2 * i + 2] == 0 then res[2 * i + 2] = win end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "res[1] = refused\n"
    "res[2] = retry\n"
    "res[2 * n + 3] = now\n"
    "return res\n";

/* The end of a request. KEYS as above; ARGV: id, used tokens (< 0: keep the reservation), n, the admission's
 * time (the entry's score), the tokens reserved, kinds. A correction moves the entry to its new member at the
 * same score; an entry that already left the window is left gone, and a sum that expired is not made anew
 * (a key without an expiry would outlive the log). */
static const char finish_lua[] =
    "local id, used, n, at, reserved = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]\n"
    "local done = {}\n"
    "for i = 1, n do\n"
    "  local kind, k = ARGV[5 + i], KEYS[i]\n"
    "  if kind == 'i' then\n"
    "    redis.call('ZREM', k, id)\n"
    "  elseif kind == 't' and used >= 0 and not done[k] then\n"
    "    done[k] = true\n"
    "    if redis.call('ZREM', k, reserved .. ':' .. id) == 1 then\n"
    "      redis.call('ZADD', k, at, ARGV[2] .. ':' .. id)\n"
    "      if redis.call('EXISTS', k .. ':s') == 1 then\n"
    "        redis.call('INCRBY', k .. ':s', used - tonumber(reserved))\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 0\n";

struct model_limits {
    char *name;
    int64_t rpm, tpm;
};

/* A tenant's own limits; -1: the default from the limit_* rows. */
struct tenant_limits {
    char name[LGW_TENANT_MAX];
    int64_t rpm, tpm, inflight, user_rpm, user_tpm;
    struct model_limits *models;
    size_t nmodels;
};

struct lgw_limits {
    const struct lgw_config *cfg;
    struct lgw_redis *redis; /* borrowed; NULL: in memory only */
    struct lgw_metrics *m;
    struct lgw_memlog *mem;
    int64_t window_us;
    /* Per-tenant limits: the config file's, replaced at run time by lgw_limits_set_tenant (the admin API).
     * The lock guards tenants; admissions read under it, a change writes. */
    pthread_rwlock_t lock;
    struct tenant_limits *tenants;
    size_t ntenants, talloc;
    atomic_bool any; /* some limit is configured */
    char admit_sha[41], finish_sha[41];
    atomic_bool local; /* deciding in memory because Redis failed (not when there is no Redis at all) */
};

static void sha1_hex(const char *text, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(text, strlen(text), md, &len, EVP_sha1(), NULL) || len != 20) {
        out[0] = '\0';
        return;
    }
    for (unsigned int i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Reads a non-negative integer member of obj into *out (absent: unchanged). */
static int get_limit(json_t *obj, const char *field, int64_t *out, const char *where, struct lgw_buf *errs)
{
    json_t *v = json_object_get(obj, field);
    if (!v)
        return LGW_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        lgw_buf_printf(errs, "tenants: %s.%s must be an integer >= 0\n", where, field);
        return LGW_ERR(CONFIG);
    }
    *out = json_integer_value(v);
    return LGW_OK;
}

/* Checks that obj has only the listed keys. */
static int only_keys(json_t *obj, const char *const *allowed, const char *where, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || strcmp(*a, key) == 0;
        if (!ok) {
            lgw_buf_printf(errs, "tenants: %s: unknown limit \"%s\"\n", where, key);
            rc = LGW_ERR(CONFIG);
        }
    }
    return rc;
}

static void free_tenant(struct tenant_limits *t)
{
    for (size_t j = 0; j < t->nmodels; j++)
        free(t->models[j].name);
    free(t->models);
    t->models = NULL;
    t->nmodels = 0;
}

static bool tenant_any(const struct tenant_limits *t)
{
    bool any = t->rpm > 0 || t->tpm > 0 || t->inflight > 0 || t->user_rpm > 0 || t->user_tpm > 0;
    for (size_t i = 0; i < t->nmodels; i++)
        any = any || t->models[i].rpm > 0 || t->models[i].tpm > 0;
    return any;
}

/* Reads one tenant's object: {"rpm", "tpm", "inflight", "user": {"rpm", "tpm"}, "models": {"name": {"rpm",
 * "tpm"}}} into *t (name set by the caller). Other members of a tenant's object belong to other features and
 * are left alone; inside "user" and "models" every key is ours, so a typo there is an error. */
static int parse_tenant(const char *name, json_t *tj, struct tenant_limits *t, struct lgw_buf *errs)
{
    static const char *const rt[] = {"rpm", "tpm", NULL};
    int rc = LGW_OK;
    char where[160];
    t->rpm = t->tpm = t->inflight = t->user_rpm = t->user_tpm = -1;
    if (!json_is_object(tj)) {
        lgw_buf_printf(errs, "tenants: %s must be an object\n", name);
        return LGW_ERR(CONFIG);
    }
    rc |= get_limit(tj, "rpm", &t->rpm, name, errs);
    rc |= get_limit(tj, "tpm", &t->tpm, name, errs);
    rc |= get_limit(tj, "inflight", &t->inflight, name, errs);
    json_t *user = json_object_get(tj, "user");
    if (user) {
        snprintf(where, sizeof(where), "%s.user", name);
        if (!json_is_object(user)) {
            lgw_buf_printf(errs, "tenants: %s must be an object\n", where);
            rc = LGW_ERR(CONFIG);
        } else {
            rc |= only_keys(user, rt, where, errs);
            rc |= get_limit(user, "rpm", &t->user_rpm, where, errs);
            rc |= get_limit(user, "tpm", &t->user_tpm, where, errs);
        }
    }
    json_t *models = json_object_get(tj, "models");
    if (models && !json_is_object(models)) {
        lgw_buf_printf(errs, "tenants: %s.models must be an object\n", name);
        rc = LGW_ERR(CONFIG);
    } else if (models) {
        t->models = lgw_calloc(json_object_size(models) + 1, sizeof(*t->models));
        const char *mname;
        json_t *mj;
        json_object_foreach(models, mname, mj) {
            snprintf(where, sizeof(where), "%s.models.%s", name, mname);
            if (!json_is_object(mj)) {
                lgw_buf_printf(errs, "tenants: %s must be an object\n", where);
                rc = LGW_ERR(CONFIG);
                continue;
            }
            struct model_limits *ml = &t->models[t->nmodels++];
            ml->name = lgw_strdup(mname);
            ml->rpm = ml->tpm = 0;
            rc |= only_keys(mj, rt, where, errs);
            rc |= get_limit(mj, "rpm", &ml->rpm, where, errs);
            rc |= get_limit(mj, "tpm", &ml->tpm, where, errs);
        }
    }
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

/* Reads the "tenants" object of the config file, one parse_tenant per member. */
static int parse_tenants(struct lgw_limits *l, json_t *tenants, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    if (!tenants)
        return LGW_OK;
    l->tenants = lgw_calloc(json_object_size(tenants) + 1, sizeof(*l->tenants));
    l->talloc = json_object_size(tenants) + 1;
    const char *name;
    json_t *tj;
    json_object_foreach(tenants, name, tj) {
        const char *why;
        if (lgw_config_check_tenant(name, strlen(name), &why)) {
            lgw_buf_printf(errs, "tenants: \"%s\": %s\n", name, why);
            rc = LGW_ERR(CONFIG);
            continue;
        }
        struct tenant_limits *t = &l->tenants[l->ntenants++];
        lgw_strlcpy(t->name, name, sizeof(t->name));
        rc |= parse_tenant(name, tj, t, errs);
        if (tenant_any(t))
            atomic_store(&l->any, true);
    }
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

int lgw_limits_new(const struct lgw_config *cfg, struct lgw_redis *redis, struct lgw_metrics *m,
                   struct lgw_limits **out, struct lgw_buf *errs)
{
    *out = NULL;
    struct lgw_limits *l = lgw_calloc(1, sizeof(*l));
    l->cfg = cfg;
    l->redis = redis;
    l->m = m;
    l->window_us = cfg->limit_window_ms * 1000;
    pthread_rwlock_init(&l->lock, NULL);
    atomic_store(&l->any, cfg->limit_tenant_rpm > 0 || cfg->limit_tenant_tpm > 0 || cfg->limit_user_rpm > 0 ||
                              cfg->limit_user_tpm > 0 || cfg->limit_tenant_inflight > 0);
    int rc = parse_tenants(l, cfg->tenants, errs);
    if (rc) {
        lgw_limits_free(l);
        return rc;
    }
    l->mem = lgw_memlog_new(l->window_us, MEMLOG_MAX_KEYS);
    sha1_hex(admit_lua, l->admit_sha);
    sha1_hex(finish_lua, l->finish_sha);
    if (m) {
        lgw_metrics_declare(m, "llmgw_limits_local", LGW_METRIC_GAUGE,
                            "1 while this instance enforces rate limits alone in memory because Redis is down or "
                            "slow (limit_redis_down decides how), 0 while they are shared through Redis.");
        lgw_metrics_gauge_set(m, "llmgw_limits_local", NULL, 0);
        lgw_metrics_declare(m, "llmgw_limits_fallback_total", LGW_METRIC_COUNTER,
                            "Requests whose limits were decided without Redis because it was down or slow.");
        lgw_metrics_add(m, "llmgw_limits_fallback_total", NULL, 0);
        lgw_metrics_declare(m, "llmgw_limits_refused_total", LGW_METRIC_COUNTER,
                            "Requests refused with 429 by a rate limit, by kind (requests, tokens, inflight).");
    }
    *out = l;
    return LGW_OK;
}

void lgw_limits_free(struct lgw_limits *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->ntenants; i++)
        free_tenant(&l->tenants[i]);
    free(l->tenants);
    pthread_rwlock_destroy(&l->lock);
    lgw_memlog_free(l->mem);
    free(l);
}

bool lgw_limits_enabled(const struct lgw_limits *l)
{
    return l && atomic_load(&l->any);
}

int lgw_limits_check_tenant(const char *tenant, const json_t *settings, struct lgw_buf *errs)
{
    struct tenant_limits t;
    memset(&t, 0, sizeof(t));
    int rc = parse_tenant(tenant, (json_t *)settings, &t, errs);
    free_tenant(&t);
    return rc;
}

int lgw_limits_set_tenant(struct lgw_limits *l, const char *tenant, const json_t *settings, struct lgw_buf *errs)
{
    struct tenant_limits t;
    memset(&t, 0, sizeof(t));
    if (lgw_config_check_tenant(tenant, strlen(tenant), NULL))
        return LGW_ERR(CONFIG);
    lgw_strlcpy(t.name, tenant, sizeof(t.name));
    json_t *empty = settings ? NULL : json_object();
    int rc = parse_tenant(tenant, settings ? (json_t *)settings : empty, &t, errs);
    json_decref(empty);
    if (rc) {
        free_tenant(&t);
        return rc;
    }
    pthread_rwlock_wrlock(&l->lock);
    struct tenant_limits *old = NULL;
    for (size_t i = 0; i < l->ntenants && !old; i++)
        if (strcmp(l->tenants[i].name, tenant) == 0)
            old = &l->tenants[i];
    if (!old) {
        if (l->ntenants == l->talloc) {
            l->talloc = l->talloc ? l->talloc * 2 : 8;
            l->tenants = lgw_realloc(l->tenants, l->talloc * sizeof(*l->tenants));
        }
        old = &l->tenants[l->ntenants++];
        memset(old, 0, sizeof(*old));
    }
    free_tenant(old);
    *old = t;
    /* Once on, "any" stays on: a check that finds no rule is cheap, and turning it off would race with a
     * change for another tenant. */
    if (tenant_any(old))
        atomic_store(&l->any, true);
    pthread_rwlock_unlock(&l->lock);
    return LGW_OK;
}

bool lgw_limits_is_local(const struct lgw_limits *l)
{
    return l && (!l->redis || atomic_load(&l->local));
}

/* One resolved limit: its kind, value and where its log lives. */
struct rule {
    char kind;
    int64_t limit;
    const char *scope; /* for messages: "tenant", "user", "model" */
};

static const struct tenant_limits *tenant_of(const struct lgw_limits *l, const char *tenant)
{
    for (size_t i = 0; i < l->ntenants; i++)
        if (strcmp(l->tenants[i].name, tenant) == 0)
            return &l->tenants[i];
    return NULL;
}

/* Room for one key while a request is admitted: prefix, tenant, user or model and the letter of its set. */
typedef char rule_key[320];

static void add_rule(struct lgw_limits_ticket *t, struct rule *r, rule_key *keys, char kind, int64_t limit,
                     const char *scope, const char *prefix, const char *tenant, const char *sub, const char *subname)
{
    if (limit <= 0)
        return;
    LGW_ASSERT(t->n < LGW_LIMITS_MAX);
    r[t->n] = (struct rule){kind, limit, scope};
    /* {tenant} is the hash tag: every key of one request lives in one Redis Cluster slot. A scope's request
     * and token limits share its log ('l'); an in-flight limit has a set of its own ('i'). */
    char *key = keys[t->n], set = kind == LGW_LIMIT_INFLIGHT ? 'i' : 'l';
    int len;
    if (sub)
        len = snprintf(key, sizeof(*keys), "%s:rl:{%s}:%s:%s:%c", prefix, tenant, sub, subname, set);
    else
        len = snprintf(key, sizeof(*keys), "%s:rl:{%s}:%c", prefix, tenant, set);
    if (len < 0 || (size_t)len >= sizeof(*keys)) {
        /* Too long to keep whole (a long prefix or model name): the scope is named by a hash of all of it, so
         * that two long names do not share a key. */
        uint64_t h = lgw_hash_str_more(lgw_hash_str_more(lgw_hash_str(prefix), sub ? sub : ""),
                                       subname ? subname : "");
        snprintf(key, sizeof(*keys), "%.200s:rl:{%s}:#%016" PRIx64 ":%c", prefix, tenant, h, set);
    }
    t->kinds[t->n] = kind;
    t->n++;
}

/* The limits that apply to rq, into r, keys and t's kinds. Returns how many. */
static int resolve(const struct lgw_limits *l, const struct lgw_limits_request *rq, struct lgw_limits_ticket *t,
                   struct rule *r, rule_key *keys)
{
    const struct lgw_config *cfg = l->cfg;
    const struct tenant_limits *tl = tenant_of(l, rq->tenant);
    const char *p = cfg->topic_prefix;
#define PICK(field, def) (tl && tl->field >= 0 ? tl->field : (def))
    add_rule(t, r, keys, 'r', PICK(rpm, cfg->limit_tenant_rpm), "tenant", p, rq->tenant, NULL, NULL);
    add_rule(t, r, keys, 't', PICK(tpm, cfg->limit_tenant_tpm), "tenant", p, rq->tenant, NULL, NULL);
    add_rule(t, r, keys, 'i', PICK(inflight, cfg->limit_tenant_inflight), "tenant", p, rq->tenant, NULL, NULL);
    if (rq->user && rq->user[0]) {
        add_rule(t, r, keys, 'r', PICK(user_rpm, cfg->limit_user_rpm), "user", p, rq->tenant, "u", rq->user);
        add_rule(t, r, keys, 't', PICK(user_tpm, cfg->limit_user_tpm), "user", p, rq->tenant, "u", rq->user);
    }
#undef PICK
    if (tl && rq->model && rq->model[0])
        for (size_t i = 0; i < tl->nmodels; i++)
            if (strcmp(tl->models[i].name, rq->model) == 0) {
                add_rule(t, r, keys, 'r', tl->models[i].rpm, "model", p, rq->tenant, "m", rq->model);
                add_rule(t, r, keys, 't', tl->models[i].tpm, "model", p, rq->tenant, "m", rq->model);
            }
    return t->n;
}

/* Runs a script by its SHA, loading it with EVAL when Redis does not have it (after a restart). */
static int run_script(struct lgw_limits *l, const char *sha, const char *text, int argc, const char **argv,
                      redisReply **reply)
{
    argv[0] = "EVALSHA";
    argv[1] = sha;
    int rc = lgw_redis_command(l->redis, argc, argv, NULL, reply);
    if (rc == 0 && (*reply)->type == REDIS_REPLY_ERROR && strncmp((*reply)->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(*reply);
        argv[0] = "EVAL";
        argv[1] = text;
        rc = lgw_redis_command(l->redis, argc, argv, NULL, reply);
    }
    if (rc == 0 && (*reply)->type == REDIS_REPLY_ERROR) {
        LGW_WARN("limits", "rate-limit script failed: %.200s", (*reply)->str);
        freeReplyObject(*reply);
        *reply = NULL;
        return LGW_ERR(UNAVAILABLE);
    }
    return rc;
}

/* The admission script on Redis. Returns 0 with refused/retry/use and *at (Redis's time of the admission)
 * filled, or LGW_ERR(UNAVAILABLE). */
static int admit_redis(struct lgw_limits *l, const struct lgw_limits_request *rq, const struct lgw_limits_ticket *t,
                       const struct rule *r, const char *const *keys, int *refused, int64_t *retry_us,
                       struct lgw_memlog_usage *use, int64_t *at)
{
    const char *argv[3 + LGW_LIMITS_MAX + 5 + 2 * LGW_LIMITS_MAX];
    char nkeys[16], win[24], tok[24], hold[24], n[16], kinds[LGW_LIMITS_MAX][2], lims[LGW_LIMITS_MAX][24];
    int argc = 2;
    snprintf(nkeys, sizeof(nkeys), "%d", t->n);
    argv[argc++] = nkeys;
    for (int i = 0; i < t->n; i++)
        argv[argc++] = keys[i];
    snprintf(win, sizeof(win), "%" PRId64, l->window_us);
    snprintf(tok, sizeof(tok), "%" PRId64, rq->tokens);
    snprintf(hold, sizeof(hold), "%" PRId64, rq->hold_ms * 1000);
    snprintf(n, sizeof(n), "%d", t->n);
    argv[argc++] = rq->id;
    argv[argc++] = win;
    argv[argc++] = tok;
    argv[argc++] = hold;
    argv[argc++] = n;
    for (int i = 0; i < t->n; i++) {
        kinds[i][0] = r[i].kind;
        kinds[i][1] = '\0';
        snprintf(lims[i], sizeof(lims[i]), "%" PRId64, r[i].limit);
        argv[argc++] = kinds[i];
        argv[argc++] = lims[i];
    }
    redisReply *reply;
    int rc = run_script(l, l->admit_sha, admit_lua, argc, argv, &reply);
    if (rc)
        return rc;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != (size_t)(3 + 2 * t->n)) {
        LGW_WARN("limits", "rate-limit script answered an unexpected shape");
        freeReplyObject(reply);
        return LGW_ERR(UNAVAILABLE);
    }
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(reply);
            return LGW_ERR(UNAVAILABLE);
        }
    *refused = (int)reply->element[0]->integer - 1;
    *retry_us = reply->element[1]->integer;
    for (int i = 0; i < t->n; i++) {
        use[i].used = reply->element[2 + 2 * i]->integer;
        use[i].reset_us = reply->element[3 + 2 * i]->integer;
    }
    *at = reply->element[2 + 2 * t->n]->integer;
    freeReplyObject(reply);
    return LGW_OK;
}

/* Notes whether this request was decided in memory because of Redis; logs and exports each switch once. */
static void set_local(struct lgw_limits *l, bool local)
{
    if (local && l->m)
        lgw_metrics_add(l->m, "llmgw_limits_fallback_total", NULL, 1);
    if (atomic_exchange(&l->local, local) == local)
        return;
    if (l->m)
        lgw_metrics_gauge_set(l->m, "llmgw_limits_local", NULL, local ? 1 : 0);
    if (local)
        LGW_WARN("limits", "Redis is down or slower than %lld ms: rate limits are now %s",
                 (long long)l->cfg->redis_timeout_ms,
                 strcmp(l->cfg->limit_redis_down, "open") == 0     ? "off (limit_redis_down=open)"
                 : strcmp(l->cfg->limit_redis_down, "closed") == 0 ? "refusing requests (limit_redis_down=closed)"
                                                                   : "enforced by this instance alone, in memory");
    else
        LGW_INFO("limits", "Redis is back: rate limits are shared by every instance again");
}

static int64_t ceil_ms(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

/* The headers' numbers: of each kind, the limit with the least left (ties: the smaller limit). */
static void fill_state(const struct rule *r, int n, const struct lgw_memlog_usage *use, struct lgw_limits_state *st)
{
    for (int i = 0; i < n; i++) {
        if (r[i].kind == LGW_LIMIT_INFLIGHT)
            continue;
        int64_t left = r[i].limit - use[i].used;
        if (left < 0)
            left = 0;
        int64_t reset = ceil_ms(use[i].reset_us);
        if (r[i].kind == LGW_LIMIT_REQUESTS) {
            if (!st->has_requests || left < st->req_remaining ||
                (left == st->req_remaining && r[i].limit < st->req_limit)) {
                st->has_requests = true;
                st->req_limit = r[i].limit;
                st->req_remaining = left;
                st->req_reset_ms = reset;
            }
        } else if (!st->has_tokens || left < st->tok_remaining ||
                   (left == st->tok_remaining && r[i].limit < st->tok_limit)) {
            st->has_tokens = true;
            st->tok_limit = r[i].limit;
            st->tok_remaining = left;
            st->tok_reset_ms = reset;
        }
    }
}

static void to_memlog(const struct lgw_limits_ticket *t, const char *const *keys, const int64_t *limits,
                      struct lgw_memlog_limit *ml)
{
    for (int i = 0; i < t->n; i++)
        ml[i] = (struct lgw_memlog_limit){t->kinds[i], keys[i], limits ? limits[i] : 0};
}

/* The held ticket's copy of its n keys, packed one after another. */
static char *pack_keys(const char *const *keys, int n)
{
    size_t lens[LGW_LIMITS_MAX], len = 0;
    for (int i = 0; i < n; i++)
        len += lens[i] = strlen(keys[i]) + 1;
    char *packed = lgw_malloc(len), *p = packed;
    for (int i = 0; i < n; i++) {
        memcpy(p, keys[i], lens[i]);
        p += lens[i];
    }
    return packed;
}

/* Pointers to the n keys packed in packed. */
static void unpack_keys(const char *packed, int n, const char **keys)
{
    for (int i = 0; i < n; i++) {
        keys[i] = packed;
        packed += strlen(packed) + 1;
    }
}

int lgw_limits_admit(struct lgw_limits *l, const struct lgw_limits_request *rq, struct lgw_limits_ticket *t,
                     struct lgw_limits_state *st, char *msg, size_t msgsz)
{
    memset(t, 0, sizeof(*t));
    memset(st, 0, sizeof(*st));
    if (!l || !atomic_load(&l->any))
        return LGW_OK;
    struct rule r[LGW_LIMITS_MAX];
    rule_key kbuf[LGW_LIMITS_MAX];
    pthread_rwlock_rdlock(&l->lock);
    int n = resolve(l, rq, t, r, kbuf);
    pthread_rwlock_unlock(&l->lock);
    if (n == 0)
        return LGW_OK;
    const char *keys[LGW_LIMITS_MAX];
    for (int i = 0; i < n; i++)
        keys[i] = kbuf[i];
    struct lgw_memlog_usage use[LGW_LIMITS_MAX];
    int refused = -1;
    int64_t retry_us = 0;
    bool local = true;
    int64_t at = 0;
    if (l->redis) {
        local = !lgw_redis_healthy(l->redis) || admit_redis(l, rq, t, r, keys, &refused, &retry_us, use, &at) != 0;
        set_local(l, local);
        if (local && strcmp(l->cfg->limit_redis_down, "open") == 0) {
            t->n = 0;
            return LGW_OK;
        }
        if (local && strcmp(l->cfg->limit_redis_down, "closed") == 0) {
            t->n = 0;
            snprintf(msg, msgsz, "Rate limits cannot be checked right now; try again later.");
            return LGW_ERR(UNAVAILABLE);
        }
    }
    if (local) {
        struct lgw_memlog_limit ml[LGW_LIMITS_MAX];
        int64_t limits[LGW_LIMITS_MAX];
        for (int i = 0; i < t->n; i++)
            limits[i] = r[i].limit;
        to_memlog(t, keys, limits, ml);
        int64_t hold_us = rq->hold_ms * 1000;
        refused = lgw_memlog_admit(l->mem, ml, t->n, lgw_hash_str(rq->id), rq->tokens, hold_us, lgw_mono_us(), use,
                                   &retry_us);
    }
    fill_state(r, t->n, use, st);
    if (refused >= 0) {
        const struct rule *why = &r[refused];
        st->retry_after_ms = ceil_ms(retry_us);
        if (st->retry_after_ms < 1)
            st->retry_after_ms = 1;
        char wait[32];
        lgw_limits_format_reset(st->retry_after_ms, wait, sizeof(wait));
        const char *what = why->kind == LGW_LIMIT_TOKENS ? "tokens" : why->kind == LGW_LIMIT_INFLIGHT
                                                                          ? "requests in flight"
                                                                          : "requests";
        if (why->kind == LGW_LIMIT_INFLIGHT)
            snprintf(msg, msgsz, "Rate limit reached for %s of this %s: limit %lld at once. Try again in %s.", what,
                     why->scope, (long long)why->limit, wait);
        else
            snprintf(msg, msgsz,
                     "Rate limit reached for %s per %lld ms of this %s: limit %lld, used %lld, requested %lld. "
                     "Try again in %s.",
                     what, (long long)(l->window_us / 1000), why->scope, (long long)why->limit,
                     (long long)use[refused].used, (long long)(why->kind == LGW_LIMIT_TOKENS ? rq->tokens : 1),
                     wait);
        if (l->m) {
            char labels[32];
            snprintf(labels, sizeof(labels), "kind=\"%s\"", why->kind == LGW_LIMIT_TOKENS     ? "tokens"
                                                            : why->kind == LGW_LIMIT_INFLIGHT ? "inflight"
                                                                                              : "requests");
            lgw_metrics_add(l->m, "llmgw_limits_refused_total", labels, 1);
        }
        t->n = 0;
        return why->kind == LGW_LIMIT_TOKENS ? LGW_ERR(TOKENS_RATE_LIMITED) : LGW_ERR(RATE_LIMITED);
    }
    t->held = true;
    t->keys = pack_keys(keys, t->n);
    t->local = local;
    t->tokens = rq->tokens;
    t->admitted_us = at;
    lgw_strlcpy(t->id, rq->id, sizeof(t->id));
    return LGW_OK;
}

/* Ends a shared hold in Redis. If Redis fails now, the in-flight slot is freed by its expiry (the request's
 * deadline) and the reservation stays as estimated; nothing waits on this. */
static void finish_redis(struct lgw_limits *l, const struct lgw_limits_ticket *t, const char *const *keys,
                         int64_t used_tokens)
{
    const char *argv[2 + 1 + LGW_LIMITS_MAX + 5 + LGW_LIMITS_MAX];
    char nkeys[16], used[24], n[16], at[24], reserved[24], kinds[LGW_LIMITS_MAX][2];
    int argc = 2;
    snprintf(nkeys, sizeof(nkeys), "%d", t->n);
    argv[argc++] = nkeys;
    for (int i = 0; i < t->n; i++)
        argv[argc++] = keys[i];
    snprintf(used, sizeof(used), "%" PRId64, used_tokens);
    snprintf(n, sizeof(n), "%d", t->n);
    snprintf(at, sizeof(at), "%" PRId64, t->admitted_us);
    snprintf(reserved, sizeof(reserved), "%" PRId64, t->tokens);
    argv[argc++] = t->id;
    argv[argc++] = used;
    argv[argc++] = n;
    argv[argc++] = at;
    argv[argc++] = reserved;
    for (int i = 0; i < t->n; i++) {
        kinds[i][0] = t->kinds[i];
        kinds[i][1] = '\0';
        argv[argc++] = kinds[i];
    }
    redisReply *reply = NULL;
    if (run_script(l, l->finish_sha, finish_lua, argc, argv, &reply) == 0)
        freeReplyObject(reply);
    else
        LGW_DEBUG("limits", "could not release a rate-limit hold in Redis; it expires on its own");
}

void lgw_limits_finish(struct lgw_limits *l, struct lgw_limits_ticket *t, int64_t used_tokens)
{
    if (!l || !t->held)
        return;
    t->held = false;
    char *packed = t->keys; /* this call's to free: the ticket holds nothing once it returns */
    t->keys = NULL;
    bool work = false;
    for (int i = 0; i < t->n; i++)
        work = work || t->kinds[i] == LGW_LIMIT_INFLIGHT ||
               (t->kinds[i] == LGW_LIMIT_TOKENS && used_tokens >= 0 && used_tokens != t->tokens);
    if (work) {
        const char *keys[LGW_LIMITS_MAX];
        unpack_keys(packed, t->n, keys);
        if (t->local) {
            struct lgw_memlog_limit ml[LGW_LIMITS_MAX];
            to_memlog(t, keys, NULL, ml);
            lgw_memlog_finish(l->mem, ml, t->n, lgw_hash_str(t->id), used_tokens);
        } else {
            finish_redis(l, t, keys, used_tokens);
        }
    }
    free(packed);
}

void lgw_limits_format_reset(int64_t ms, char *out, size_t outsz)
{
    if (ms < 0)
        ms = 0;
    if (ms > 0 && ms < 1000) {
        snprintf(out, outsz, "%lldms", (long long)ms);
        return;
    }
    long long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[24];
    if (frac) {
        snprintf(sec, sizeof(sec), "%lld.%03lld", s, frac);
        size_t len = strlen(sec);
        while (sec[len - 1] == '0') /* Go prints 1.5s, not 1.500s */
            sec[--len] = '\0';
    } else {
        snprintf(sec, sizeof(sec), "%lld", s);
    }
    if (h)
        snprintf(out, outsz, "%lldh%lldm%ss", h, m, sec);
    else if (m)
        snprintf(out, outsz, "%lldm%ss", m, sec);
    else
        snprintf(out, outsz, "%ss", sec);
}

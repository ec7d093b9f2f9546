/* budget.c - the budgets of tenants and keys, their config, and the admission check against the running
 * spend (see budget.h). Money is integer nano-USD end to end; the only decimal text is at the edges
 * (config in, messages out), parsed and printed here exactly. */
#include "limits/budget.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/metrics.h"

#define NBUCKETS 1024
#define NANO 1000000000LL

/* The budgets of one scope ("tenant:acme" or "key:key_..."). */
struct budget {
    struct budget *next;
    char tenant[LGW_NAME_MAX];
    int64_t day_nusd, month_nusd; /* LGW_BUDGET_NONE: no budget */
    char scope[];
};

struct lgw_budgets {
    /* A read-write lock: every admission reads, only the admin API (rarely) writes. */
    pthread_rwlock_t lock;
    struct budget *buckets[NBUCKETS];
    struct lgw_spend *spend; /* borrowed */
    struct lgw_metrics *m;   /* borrowed; may be NULL */
    int64_t warn_pct;
    bool hooked; /* export_ratios is a collect hook of m */
};

int lgw_budget_parse_usd(const char *s, size_t len, int64_t *nusd)
{
    int64_t whole = 0, frac = 0;
    size_t i = 0, ndig = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, ndig++) {
        /* The whole dollars must leave room for the nano-dollars: int64 holds 9,223,372,036 of them. */
        if (whole > (INT64_MAX / NANO - 9) / 10)
            return LGW_ERR(INVALID);
        whole = whole * 10 + (s[i] - '0');
    }
    if (ndig == 0)
        return LGW_ERR(INVALID);
    if (i < len) {
        if (s[i++] != '.' || i == len)
            return LGW_ERR(INVALID);
        int64_t scale = NANO;
        for (; i < len; i++) {
            if (!(s[i] >= '0' && s[i] <= '9') || scale == 1)
                return LGW_ERR(INVALID); /* not a digit, or a tenth decimal: below a nano-dollar */
            scale /= 10;
            frac += (s[i] - '0') * scale;
        }
    }
    *nusd = whole * NANO + frac;
    return LGW_OK;
}

void lgw_budget_format_usd(int64_t nusd, char *out, size_t outsz)
{
    char frac[16];
    snprintf(frac, sizeof(frac), "%09lld", (long long)(nusd % NANO));
    size_t n = 9;
    while (n > 2 && frac[n - 1] == '0')
        n--;
    snprintf(out, outsz, "%lld.%.*s", (long long)(nusd / NANO), (int)n, frac);
}

/* The scope of tenant or of key_id when it is set. */
static void scope_of(const char *tenant, const char *key_id, char out[LGW_SPEND_SCOPE_MAX])
{
    if (key_id && key_id[0])
        lgw_spend_scope_key(key_id, out);
    else
        lgw_spend_scope_tenant(tenant, out);
}

/* The budget of scope, or NULL; with its bucket. Caller holds the lock. */
static struct budget *find(struct lgw_budgets *b, const char *scope, size_t *bucket)
{
    *bucket = lgw_hash_str(scope) % NBUCKETS;
    for (struct budget *e = b->buckets[*bucket]; e; e = e->next)
        if (strcmp(e->scope, scope) == 0)
            return e;
    return NULL;
}

int lgw_budgets_set(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t day_nusd,
                    int64_t month_nusd)
{
    if (!tenant || !tenant[0] || strlen(tenant) >= LGW_NAME_MAX || (key_id && strlen(key_id) >= LGW_KEY_ID_MAX))
        return LGW_ERR(INVALID);
    char scope[LGW_SPEND_SCOPE_MAX];
    scope_of(tenant, key_id, scope);
    day_nusd = day_nusd < 0 ? LGW_BUDGET_NONE : day_nusd;
    month_nusd = month_nusd < 0 ? LGW_BUDGET_NONE : month_nusd;
    pthread_rwlock_wrlock(&b->lock);
    size_t bucket;
    struct budget *e = find(b, scope, &bucket);
    if (!e && (day_nusd >= 0 || month_nusd >= 0)) {
        size_t len = strlen(scope);
        e = lgw_calloc(1, sizeof(*e) + len + 1);
        memcpy(e->scope, scope, len + 1);
        e->next = b->buckets[bucket];
        b->buckets[bucket] = e;
    }
    if (e) { /* an entry with neither budget stays: it is small, and the admin API may set one again */
        lgw_strlcpy(e->tenant, tenant, sizeof(e->tenant));
        e->day_nusd = day_nusd;
        e->month_nusd = month_nusd;
    }
    pthread_rwlock_unlock(&b->lock);
    return LGW_OK;
}

bool lgw_budgets_get(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t *day_nusd,
                     int64_t *month_nusd)
{
    char scope[LGW_SPEND_SCOPE_MAX];
    scope_of(tenant, key_id, scope);
    pthread_rwlock_rdlock(&b->lock);
    size_t bucket;
    const struct budget *e = find(b, scope, &bucket);
    *day_nusd = e ? e->day_nusd : LGW_BUDGET_NONE;
    *month_nusd = e ? e->month_nusd : LGW_BUDGET_NONE;
    pthread_rwlock_unlock(&b->lock);
    return *day_nusd >= 0 || *month_nusd >= 0;
}

/* One amount of a "budget" object: a string, or a number read as its shortest decimal (15 significant
 * digits round-trip every decimal a person writes; a longer one must be a string to be exact). */
static int parse_amount(json_t *v, const char *where, const char *field, int64_t *out, struct lgw_buf *errs)
{
    char text[64];
    if (json_is_string(v))
        lgw_strlcpy(text, json_string_value(v), sizeof(text));
    else if (json_is_integer(v))
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(text, sizeof(text), "%.15g", json_real_value(v));
    else
        text[0] = '\0';
    if ((json_is_string(v) && json_string_length(v) >= sizeof(text)) ||
        lgw_budget_parse_usd(text, strlen(text), out)) {
        lgw_buf_printf(errs,
                       "tenants: %s.budget.%s must be a USD amount >= 0 with at most 9 decimals, e.g. \"5.00\"\n",
                       where, field);
        return LGW_ERR(CONFIG);
    }
    return LGW_OK;
}

int lgw_budget_parse_json(json_t *obj, const char *where, int64_t *day, int64_t *month, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    *day = *month = LGW_BUDGET_NONE;
    if (!json_is_object(obj)) {
        lgw_buf_printf(errs, "tenants: %s.budget must be an object\n", where);
        return LGW_ERR(CONFIG);
    }
    const char *field;
    json_t *v;
    json_object_foreach(obj, field, v) {
        if (strcmp(field, "day_usd") == 0)
            rc |= parse_amount(v, where, field, day, errs);
        else if (strcmp(field, "month_usd") == 0)
            rc |= parse_amount(v, where, field, month, errs);
        else {
            lgw_buf_printf(errs, "tenants: %s.budget: unknown field \"%s\" (day_usd, month_usd)\n", where, field);
            rc = LGW_ERR(CONFIG);
        }
    }
    return rc ? LGW_ERR(CONFIG) : LGW_OK;
}

/* A key listed under a tenant must not be another tenant's: its spend would be checked against the wrong
 * budget owner. Keys not in tenant_keys (made through the admin API) cannot be checked here. */
static int check_key_owner(const struct lgw_config *cfg, const char *tenant, const char *key_id, struct lgw_buf *errs)
{
    for (size_t i = 0; i < cfg->nkeys; i++) {
        if (strcmp(cfg->keys[i].id, key_id) == 0 && strcmp(cfg->keys[i].tenant, tenant) != 0) {
            lgw_buf_printf(errs, "tenants: %s.keys.%s is a key of tenant %s\n", tenant, key_id, cfg->keys[i].tenant);
            return LGW_ERR(CONFIG);
        }
    }
    return LGW_OK;
}

static int parse_tenants(struct lgw_budgets *b, const struct lgw_config *cfg, struct lgw_buf *errs)
{
    int rc = LGW_OK;
    const char *name, *kid;
    json_t *tj, *kj;
    int64_t day, month;
    char where[256];
    /* Names and shapes of tenants are limits.c's to report; only what budgets read is checked here. */
    json_object_foreach(cfg->tenants, name, tj) {
        if (!json_is_object(tj) || strlen(name) >= LGW_NAME_MAX)
            continue;
        json_t *bj = json_object_get(tj, "budget");
        if (bj) {
            if (lgw_budget_parse_json(bj, name, &day, &month, errs))
                rc = LGW_ERR(CONFIG);
            else
                lgw_budgets_set(b, name, NULL, day, month);
        }
        json_t *keys = json_object_get(tj, "keys");
        if (!json_is_object(keys))
            continue; /* the keys feature reports a bad "keys" */
        json_object_foreach(keys, kid, kj) {
            json_t *kb = json_is_object(kj) ? json_object_get(kj, "budget") : NULL;
            if (!kb)
                continue;
            snprintf(where, sizeof(where), "%s.keys.%s", name, kid);
            if (!kid[0] || strlen(kid) >= LGW_KEY_ID_MAX) {
                lgw_buf_printf(errs, "tenants: %s: a key id has 1 to %d characters\n", where, LGW_KEY_ID_MAX - 1);
                rc = LGW_ERR(CONFIG);
                continue;
            }
            if (lgw_budget_parse_json(kb, where, &day, &month, errs) || check_key_owner(cfg, name, kid, errs))
                rc = LGW_ERR(CONFIG);
            else
                lgw_budgets_set(b, name, kid, day, month);
        }
    }
    return rc;
}

/* A tenant's budgets as the ratio gauge needs them, copied out of the table. */
struct tenant_budget {
    char tenant[LGW_NAME_MAX];
    char scope[LGW_SPEND_SCOPE_MAX];
    int64_t day_nusd, month_nusd;
};

static void set_ratio(struct lgw_budgets *b, const struct tenant_budget *t, bool daily, const char *period_id)
{
    char name[2 * LGW_NAME_MAX], labels[2 * LGW_NAME_MAX + 48];
    snprintf(labels, sizeof(labels), "tenant=\"%s\",period=\"%s\"",
             lgw_metrics_escape(t->tenant, name, sizeof(name)), daily ? "day" : "month");
    int64_t budget = daily ? t->day_nusd : t->month_nusd;
    if (budget < 0) { /* no budget (any more): no ratio, rather than a stale one */
        lgw_metrics_remove(b->m, "llmgw_budget_used_ratio", labels);
        return;
    }
    int64_t spend = lgw_spend_get(b->spend, t->scope, period_id);
    /* A zero budget refuses everything: it is used up, whatever was spent. */
    double ratio = budget == 0 ? 1.0 : (double)spend / (double)budget;
    lgw_metrics_gauge_set_f(b->m, "llmgw_budget_used_ratio", labels, ratio);
}

/* Collect hook (common/metrics.h): spend / budget of every tenant with a budget, computed when read. Only
 * tenant budgets: a key's would put key ids in labels. Runs on the scraping thread. */
static void export_ratios(void *opaque, struct lgw_metrics *m)
{
    (void)m;
    struct lgw_budgets *b = opaque;
    if (!lgw_spend_caught_up(b->spend))
        return; /* a ratio from half the spend would understate it */
    struct tenant_budget *list = NULL;
    size_t n = 0, cap = 0;
    /* Copied out under the table's lock, read against the spend view (its own lock) after. */
    pthread_rwlock_rdlock(&b->lock);
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (const struct budget *e = b->buckets[i]; e; e = e->next) {
            char scope[LGW_SPEND_SCOPE_MAX];
            lgw_spend_scope_tenant(e->tenant, scope);
            if (strcmp(scope, e->scope) != 0)
                continue; /* a key's budget */
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                list = lgw_realloc(list, cap * sizeof(*list));
            }
            lgw_strlcpy(list[n].tenant, e->tenant, sizeof(list[n].tenant));
            lgw_strlcpy(list[n].scope, e->scope, sizeof(list[n].scope));
            list[n].day_nusd = e->day_nusd;
            list[n].month_nusd = e->month_nusd;
            n++;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, day);
    lgw_spend_month(now, month);
    for (size_t i = 0; i < n; i++) {
        set_ratio(b, &list[i], true, day);
        set_ratio(b, &list[i], false, month);
    }
    free(list);
}

int lgw_budgets_new(const struct lgw_config *cfg, struct lgw_spend *spend, struct lgw_metrics *m,
                    struct lgw_budgets **out, struct lgw_buf *errs)
{
    *out = NULL;
    struct lgw_budgets *b = lgw_calloc(1, sizeof(*b));
    pthread_rwlock_init(&b->lock, NULL);
    b->spend = spend;
    b->m = m;
    b->warn_pct = cfg->budget_warn_pct;
    int rc = cfg->tenants ? parse_tenants(b, cfg, errs) : LGW_OK;
    if (rc) {
        lgw_budgets_free(b);
        return rc;
    }
    if (m) {
        lgw_metrics_declare(m, "llmgw_budget_warnings_total", LGW_METRIC_COUNTER,
                            "Requests admitted above budget_warn_pct of a USD budget (answered with "
                            "x-llmgw-budget-warning), by scope (tenant, key) and period (day, month).");
        lgw_metrics_declare(m, "llmgw_budget_refused_total", LGW_METRIC_COUNTER,
                            "Requests refused with 429 insufficient_quota because a USD budget was spent, by "
                            "scope (tenant, key) and period (day, month).");
        lgw_metrics_add(m, "llmgw_budget_warnings_total", NULL, 0);
        lgw_metrics_add(m, "llmgw_budget_refused_total", NULL, 0);
        struct lgw_metric_def ratio = {
            .name = "llmgw_budget_used_ratio",
            .type = LGW_METRIC_GAUGE,
            .help = "Spend / budget of each tenant with a USD budget, per period (day, month; the current UTC "
                    "day and month), as this ingress sees the spend; 1 or more is spent. Per tenant: private.",
            .unit = "1",
            .is_private = true,
            .is_double = true,
        };
        lgw_metrics_define(m, &ratio);
        if (lgw_metrics_hook_add(m, export_ratios, b) == 0)
            b->hooked = true;
    }
    *out = b;
    return LGW_OK;
}

void lgw_budgets_free(struct lgw_budgets *b)
{
    if (!b)
        return;
    if (b->hooked)
        lgw_metrics_hook_remove(b->m, export_ratios, b); /* waits for a scrape that is reading b */
    for (size_t i = 0; i < NBUCKETS; i++) {
        for (struct budget *e = b->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_rwlock_destroy(&b->lock);
    free(b);
}

/* One budget that applies to a request. */
struct applies {
    const char *who;  /* "tenant" or "key" */
    const char *name; /* the tenant or the key id */
    const char *scope;
    bool daily;
    int64_t budget, spend, reset_ms;
};

static void rfc3339(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int lgw_budgets_check(struct lgw_budgets *b, const char *tenant, const char *key_id, int64_t now_ms,
                      struct lgw_budget_verdict *v, char *msg, size_t msgsz)
{
    memset(v, 0, sizeof(*v));
    char tscope[LGW_SPEND_SCOPE_MAX], kscope[LGW_SPEND_SCOPE_MAX];
    struct applies a[4];
    int n = 0;
    lgw_spend_scope_tenant(tenant, tscope);
    bool keyed = key_id && key_id[0];
    if (keyed)
        lgw_spend_scope_key(key_id, kscope);
    /* Copy the budgets out under the lock; the spend view has a lock of its own. */
    pthread_rwlock_rdlock(&b->lock);
    size_t bucket;
    for (int k = 0; k < (keyed ? 2 : 1); k++) {
        const char *scope = k ? kscope : tscope;
        const struct budget *e = find(b, scope, &bucket);
        if (!e)
            continue;
        if (e->day_nusd >= 0)
            a[n++] = (struct applies){k ? "key" : "tenant", k ? key_id : tenant, scope, true, e->day_nusd, 0, 0};
        if (e->month_nusd >= 0)
            a[n++] = (struct applies){k ? "key" : "tenant", k ? key_id : tenant, scope, false, e->month_nusd, 0, 0};
    }
    pthread_rwlock_unlock(&b->lock);
    if (n == 0)
        return LGW_OK;
    if (!lgw_spend_caught_up(b->spend)) {
        snprintf(msg, msgsz, "The gateway is still reading the spend of budgets; try again in a few seconds.");
        return LGW_ERR(UNAVAILABLE);
    }
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now_ms, day);
    lgw_spend_month(now_ms, month);
    const struct applies *spent = NULL, *warn = NULL;
    __int128 warn_ratio_num = -1, warn_ratio_den = 1;
    for (int i = 0; i < n; i++) {
        a[i].spend = lgw_spend_get(b->spend, a[i].scope, a[i].daily ? day : month);
        a[i].reset_ms = a[i].daily ? lgw_spend_day_end_ms(now_ms) : lgw_spend_month_end_ms(now_ms);
        if (a[i].spend >= a[i].budget) {
            /* Several spent: the one that resets last is the one the client waits for. */
            if (!spent || a[i].reset_ms > spent->reset_ms)
                spent = &a[i];
        } else if ((__int128)a[i].spend * 100 >= (__int128)a[i].budget * b->warn_pct) {
            /* The fullest budget names the warning: spend / budget compared as fractions, no division. */
            if (!warn || (__int128)a[i].spend * warn_ratio_den > warn_ratio_num * a[i].budget) {
                warn = &a[i];
                warn_ratio_num = a[i].spend;
                warn_ratio_den = a[i].budget;
            }
        }
    }
    char labels[64];
    if (spent) {
        char usd[32], at[32];
        lgw_budget_format_usd(spent->budget, usd, sizeof(usd));
        rfc3339(spent->reset_ms, at, sizeof(at));
        snprintf(msg, msgsz, "The %s budget of %s %s ($%s) is spent; it resets at %s.",
                 spent->daily ? "daily" : "monthly", spent->who, spent->name, usd, at);
        v->retry_after_ms = spent->reset_ms - now_ms;
        snprintf(labels, sizeof(labels), "scope=\"%s\",period=\"%s\"", spent->who, spent->daily ? "day" : "month");
        if (b->m)
            lgw_metrics_add(b->m, "llmgw_budget_refused_total", labels, 1);
        return LGW_ERR(QUOTA);
    }
    if (warn) {
        /* Whole percent, rounded down: 100% only ever appears on a refusal. */
        snprintf(v->warning, sizeof(v->warning), "%s %s %lld%%", warn->who, warn->daily ? "day" : "month",
                 (long long)((__int128)warn->spend * 100 / warn->budget));
        snprintf(labels, sizeof(labels), "scope=\"%s\",period=\"%s\"", warn->who, warn->daily ? "day" : "month");
        if (b->m)
            lgw_metrics_add(b->m, "llmgw_budget_warnings_total", labels, 1);
    }
    return LGW_OK;
}

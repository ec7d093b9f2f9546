/* router.c - candidate selection and route planning (see router.h). */
#include "routing/router.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/hash.h"
#include "providers/provider.h"

#define RR_SLOTS 256 /* round-robin turns, one per hashed model name: rotating one name never skips another's */

struct lgw_router {
    const struct lgw_config *cfg;
    struct lgw_health *health;
    atomic_uint_fast64_t rr[RR_SLOTS];
    atomic_uint_fast64_t seed;
};

struct lgw_router *lgw_router_new(const struct lgw_config *cfg, struct lgw_metrics *m)
{
    struct lgw_router *r = lgw_calloc(1, sizeof(*r));
    r->cfg = cfg;
    struct lgw_health_params p = {cfg->breaker_failures,    cfg->breaker_error_pct,   cfg->breaker_window_ms,
                                  cfg->breaker_min_requests, cfg->breaker_cooldown_ms, cfg->latency_decay_ms};
    r->health = lgw_health_new(&p, m);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_init(&r->seed, ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^ 0x9E3779B97F4A7C15ULL);
    return r;
}

void lgw_router_free(struct lgw_router *r)
{
    if (!r)
        return;
    lgw_health_free(r->health);
    free(r);
}

struct lgw_health *lgw_router_health(struct lgw_router *r)
{
    return r->health;
}

/* Each pool thread draws from its own generator, seeded once from the router's. */
static uint64_t *thread_rng(struct lgw_router *r)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        uint64_t s = atomic_fetch_add(&r->seed, 0x9E3779B97F4A7C15ULL);
        state = s ? s : 1;
    }
    return &state;
}

/* m's provider is served here: its key is set, or simulation stands in for it (providers/registry.c decides
 * both, and dispatch calls the adapter it names). */
static bool served(const struct lgw_config *cfg, const struct lgw_model_info *m)
{
    return lgw_provider_serving(cfg, m->provider) != NULL;
}

static bool fits(const struct lgw_model_info *m, const struct lgw_route_needs *needs)
{
    return m->context_window == 0 || needs->input_tokens + needs->max_output_tokens <= m->context_window;
}

static bool capable(const struct lgw_model_info *m, const struct lgw_route_needs *needs)
{
    return (m->caps & needs->caps) == needs->caps;
}

static void missing_caps(unsigned caps, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s%s%s%s", caps & LGW_CAP_TOOLS ? " tools" : "", caps & LGW_CAP_VISION ? " images" : "",
             caps & LGW_CAP_JSON_MODE ? " JSON mode" : "", caps & LGW_CAP_STREAMING ? " streaming" : "");
}

static const struct lgw_model_info *echo_of(const struct lgw_catalog *cat, enum lgw_job_kind kind)
{
    for (size_t i = 0; i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *m = lgw_catalog_at(cat, i);
        if (m->kind == kind && strcmp(m->provider, "echo") == 0)
            return m;
    }
    return NULL;
}

/* The provider as its customers know it, for messages. */
static const char *provider_title(const char *provider)
{
    static const char *const titles[][2] = {
        {"openai", "OpenAI"}, {"anthropic", "Anthropic"}, {"gemini", "Google"}, {"mistral", "Mistral AI"}};
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        if (strcmp(titles[i][0], provider) == 0)
            return titles[i][1];
    return provider;
}

/* The client named a retired model: say when it went and what replaces it. The request is never sent to the
 * successor in its place: it may be priced differently, and the client chose a model, not a price. */
static int retired_answer(const struct lgw_retirement *ret, const char *model, char *why, size_t whysz)
{
    const struct lgw_model_info *m = ret->model;
    const char *up = m->upstream ? m->upstream : m->id;
    const char *slash = strchr(model, '/');
    const char *bare = slash ? slash + 1 : model;
    char named[160], use[160];
    if (strcmp(bare, up) == 0)
        snprintf(named, sizeof(named), "%.128s", model);
    else
        snprintf(named, sizeof(named), "%.64s (%.64s)", model, up);
    if (ret->successor)
        snprintf(use, sizeof(use), "use %s%s%.127s instead", slash ? ret->successor->provider : "", slash ? "/" : "",
                 ret->successor->id);
    else
        snprintf(use, sizeof(use), "the catalog names no successor for it");
    snprintf(why, whysz, "%s was retired by %s on %s; %s.", named, provider_title(m->provider), ret->date, use);
    return LGW_ERR(MODEL_RETIRED);
}

static bool in_chain(const struct lgw_route_plan *plan, const struct lgw_model_info *m)
{
    for (size_t i = 0; i < plan->n; i++)
        if (plan->chain[i] == m)
            return true;
    return false;
}

int lgw_router_plan(struct lgw_router *r, const struct lgw_catalog *cat, const char *model, enum lgw_job_kind kind,
                    const struct lgw_route_needs *needs, enum lgw_strategy strategy, struct lgw_route_plan *plan,
                    char *why, size_t whysz)
{
    const struct lgw_config *cfg = r->cfg;
    const struct lgw_model_info *found[LGW_ROUTE_MAX];
    size_t nfound = 0, ngroup;
    memset(plan, 0, sizeof(*plan));
    plan->strategy = strategy;
    const struct lgw_model_info *const *group = lgw_catalog_group(cat, model, &ngroup);
    if (group) {
        for (size_t i = 0; i < ngroup && nfound < LGW_ROUTE_MAX; i++)
            if (group[i]->kind == kind)
                found[nfound++] = group[i];
    } else {
        nfound = lgw_catalog_resolve(cat, model, kind, found, LGW_ROUTE_MAX);
    }
    if (nfound == 0) {
        struct lgw_retirement ret;
        if (!group && lgw_catalog_retired(cat, model, kind, &ret))
            return retired_answer(&ret, model, why, whysz);
        if (group && ngroup == 0)
            snprintf(why, whysz, "The group '%.128s' has no model left that its providers still serve.", model);
        else
            snprintf(why, whysz, "The model '%.128s' does not exist or is not served by this gateway for %s.", model,
                     lgw_job_kind_name(kind));
        return LGW_ERR(MODEL_NOT_FOUND);
    }

    /* Credentials, then capabilities, then the window: each stage keeps what passes, and an empty stage
     * names the reason the client should hear. */
    size_t n = 0;
    for (size_t i = 0; i < nfound; i++)
        if (served(cfg, found[i]))
            found[n++] = found[i];
    if (n == 0) {
        const struct lgw_model_info *echo = lgw_provider_any_keys(cfg) ? NULL : echo_of(cat, kind);
        if (echo) {
            plan->chain[plan->n++] = echo;
            plan->last_resort = true;
            return LGW_OK;
        }
        snprintf(why, whysz,
                 "The model '%.128s' is in the catalog, but no provider serving it has credentials on this gateway.",
                 model);
        return LGW_ERR(MODEL_NOT_FOUND);
    }
    nfound = n;
    n = 0;
    for (size_t i = 0; i < nfound; i++)
        if (capable(found[i], needs))
            found[n++] = found[i];
    if (n == 0) {
        char caps[64];
        missing_caps(needs->caps & ~found[0]->caps, caps, sizeof(caps));
        snprintf(why, whysz, "No model '%.128s' may go to supports what the request uses:%s.", model, caps);
        return LGW_ERR(NO_CAPABLE_MODEL);
    }
    nfound = n;
    n = 0;
    int64_t largest = 0;
    for (size_t i = 0; i < nfound; i++) {
        if (found[i]->context_window > largest)
            largest = found[i]->context_window;
        if (fits(found[i], needs))
            found[n++] = found[i];
    }
    if (n == 0) {
        snprintf(why, whysz,
                 "The request needs about %lld input tokens plus %lld output tokens, more than the largest context "
                 "window (%lld tokens) of the models '%.128s' may go to.",
                 (long long)needs->input_tokens, (long long)needs->max_output_tokens, (long long)largest, model);
        return LGW_ERR(CONTEXT_LENGTH);
    }

    struct lgw_candidate c[LGW_ROUTE_MAX];
    int64_t now = lgw_mono_ms();
    for (size_t i = 0; i < n; i++) {
        c[i] = (struct lgw_candidate){.model = found[i], .order = i};
        c[i].cost_known = lgw_strategy_estimate_cost(found[i], needs, &c[i].est_cost_nusd);
        lgw_health_view(r->health, found[i], now, &c[i].health);
    }
    uint64_t turn = atomic_fetch_add(&r->rr[lgw_hash_str(model) % RR_SLOTS], 1);
    lgw_strategy_order(strategy, c, n, turn, thread_rng(r));
    for (size_t i = 0; i < n; i++)
        plan->chain[plan->n++] = c[i].model;

    /* The operator's chain after the chosen model: the same filters apply. */
    size_t nfb;
    const struct lgw_model_info *const *fb = lgw_catalog_fallbacks(cat, plan->chain[0], &nfb);
    for (size_t i = 0; fb && i < nfb && plan->n < LGW_ROUTE_MAX; i++)
        if (fb[i]->kind == kind && served(cfg, fb[i]) && capable(fb[i], needs) && fits(fb[i], needs) &&
            !in_chain(plan, fb[i]))
            plan->chain[plan->n++] = fb[i];
    return LGW_OK;
}

static json_t *model_entry(const char *id, const char *owner)
{
    return json_pack("{s:s, s:s, s:i, s:s}", "id", id, "object", "model", "created", 0, "owned_by", owner);
}

static bool listed(json_t *data, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m) {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0)
            return true;
    }
    return false;
}

/* Who serves m here: its provider when that has credentials, "<provider>-sim" when simulated; echo when no
 * provider has any key and echo has a model of m's kind (the last resort stands in for every other catalog
 * model); else nobody (NULL). */
static const char *server_of(const struct lgw_catalog *cat, const struct lgw_config *cfg, bool any,
                             const struct lgw_model_info *m)
{
    const char *as = lgw_provider_served_as(cfg, m->provider);
    if (as)
        return as;
    return !any && echo_of(cat, m->kind) ? "echo" : NULL;
}

json_t *lgw_router_models_json(const struct lgw_catalog *cat, const struct lgw_config *cfg)
{
    json_t *data = json_array();
    bool any = lgw_provider_any_keys(cfg);
    for (size_t i = 0; i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *m = lgw_catalog_at(cat, i);
        const char *owner = server_of(cat, cfg, any, m);
        if (!owner)
            continue;
        /* Stand-ins are listed once per name (two providers' model of one name is one echo). */
        if (!any && listed(data, m->id))
            continue;
        json_array_append_new(data, model_entry(m->id, owner));
    }
    const char *g;
    for (size_t i = 0; (g = lgw_catalog_group_name(cat, i)) != NULL; i++) {
        size_t n;
        const struct lgw_model_info *const *members = lgw_catalog_group(cat, g, &n);
        bool servable = !any;
        for (size_t k = 0; k < n && !servable; k++)
            servable = served(cfg, members[k]);
        if (servable)
            json_array_append_new(data, model_entry(g, "llmgw"));
    }
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

json_t *lgw_router_model_json(const struct lgw_catalog *cat, const struct lgw_config *cfg, const char *id)
{
    json_t *list = lgw_router_models_json(cat, cfg), *found = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(list, "data"), i, m) {
        if (strcmp(json_string_value(json_object_get(m, "id")), id) == 0) {
            found = json_incref(m);
            break;
        }
    }
    json_decref(list);
    if (found || !strchr(id, '/'))
        return found;
    /* "provider/name", which requests may name too: that provider's model, if it is served here. */
    bool any = lgw_provider_any_keys(cfg);
    const struct lgw_model_info *model;
    for (int kind = LGW_JOB_CHAT; kind <= LGW_JOB_EMBEDDINGS && !found; kind++) {
        if (lgw_catalog_resolve(cat, id, (enum lgw_job_kind)kind, &model, 1) == 0)
            continue;
        const char *owner = server_of(cat, cfg, any, model);
        if (owner)
            found = model_entry(id, owner);
    }
    return found;
}

/* test_router.c - route planning over a fixed catalog: credentials, capabilities and context windows filter
 * the candidates, the strategy orders them, the operator's chain follows, echo is the last resort; with
 * simulate on, the simulated providers are candidates and a real key wins over them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "providers/provider.h"
#include "routing/router.h"

/* openai: cheap 128k "mini" (all capabilities), dear 128k "big"; anthropic: 200k "long" (no JSON mode) and
 * "old" (upstream old-20241022), retired by its provider on 2025-10-28 with "long" as its successor, still
 * named by the auto group and the operator's chain. */
static const char doc[] =
    "{\"schema\":1,\"catalog_version\":\"r1\",\"sources\":{\"s\":\"test\"},\"models\":["
    "{\"id\":\"mini\",\"provider\":\"openai\",\"capabilities\":[\"chat\",\"streaming\",\"tools\",\"vision\","
    "\"json_mode\"],\"context_window\":128000,\"max_output_tokens\":16384,\"latency_ms\":400,"
    "\"price\":{\"input\":\"0.15\",\"output\":\"0.60\"},\"source\":\"s\"},"
    "{\"id\":\"big\",\"provider\":\"openai\",\"capabilities\":[\"chat\",\"streaming\",\"tools\",\"json_mode\"],"
    "\"context_window\":128000,\"max_output_tokens\":16384,\"price\":{\"input\":\"2.50\",\"output\":\"10\"},"
    "\"source\":\"s\"},"
    "{\"id\":\"long\",\"provider\":\"anthropic\",\"capabilities\":[\"chat\",\"streaming\",\"tools\",\"vision\"],"
    "\"context_window\":200000,\"max_output_tokens\":8192,\"price\":{\"input\":\"3\",\"output\":\"15\"},"
    "\"source\":\"s\"},"
    "{\"id\":\"echo\",\"provider\":\"echo\",\"capabilities\":[\"chat\",\"streaming\"],\"context_window\":1000000,"
    "\"max_output_tokens\":1000,\"price\":{\"input\":\"0\",\"output\":\"0\"},\"source\":\"s\"},"
    "{\"id\":\"old\",\"provider\":\"anthropic\",\"upstream\":\"old-20241022\",\"aliases\":[\"old-20241022\"],"
    "\"capabilities\":[\"chat\",\"streaming\",\"tools\",\"vision\"],\"context_window\":200000,"
    "\"max_output_tokens\":8192,\"price\":{\"input\":\"0.01\",\"output\":\"0.01\"},\"source\":\"s\","
    "\"retired\":\"2025-10-28\",\"successor\":\"long\",\"retired_source\":\"s\"}],"
    "\"groups\":{\"auto\":[\"openai/mini\",\"openai/big\",\"anthropic/old\",\"anthropic/long\"]},"
    "\"fallbacks\":{\"openai/mini\":[\"anthropic/old\",\"anthropic/long\",\"openai/big\"]}}";

struct fixture {
    struct lgw_config cfg;
    struct lgw_catalog *cat;
    struct lgw_router *r;
};

/* The day the fixture's catalog is built on (retirement is decided against it). */
#define TODAY 20261202

static void setup_at(struct fixture *f, bool openai, bool anthropic, int today)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&f->cfg);
    if (openai)
        strcpy(f->cfg.openai_api_key, "sk-test");
    if (anthropic)
        strcpy(f->cfg.anthropic_api_key, "sk-ant-test");
    json_t *base = json_loads(doc, 0, NULL);
    assert_non_null(base);
    if (lgw_catalog_build_at(base, NULL, &f->cfg, today, &f->cat, &errs))
        fail_msg("catalog: %s", errs.ptr);
    json_decref(base);
    lgw_buf_cleanup(&errs);
    f->r = lgw_router_new(&f->cfg, NULL);
}

static void setup(struct fixture *f, bool openai, bool anthropic)
{
    setup_at(f, openai, anthropic, TODAY);
}

static void teardown(struct fixture *f)
{
    lgw_router_free(f->r);
    lgw_catalog_unref(f->cat);
    lgw_config_cleanup(&f->cfg);
}

static int plan(struct fixture *f, const char *model, const struct lgw_route_needs *needs, enum lgw_strategy s,
                struct lgw_route_plan *p, char *why)
{
    return lgw_router_plan(f->r, f->cat, model, LGW_JOB_CHAT, needs, s, p, why, 512);
}

static void test_small_to_mini_large_to_long(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    setup(&f, true, true);
    struct lgw_route_needs small = {.input_tokens = 100};
    assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.chain[0]->id, "mini");
    assert_string_equal(p.chain[1]->id, "big");
    assert_string_equal(p.chain[2]->id, "long");
    struct lgw_route_needs large = {.input_tokens = 150000};
    assert_int_equal(plan(&f, "auto", &large, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 1); /* the 128k models are not candidates at all */
    assert_string_equal(p.chain[0]->id, "long");
    /* The window holds input plus the output the request asks for. */
    struct lgw_route_needs tight = {.input_tokens = 120000, .max_output_tokens = 10000};
    assert_int_equal(plan(&f, "auto", &tight, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(p.chain[0]->id, "long");
    struct lgw_route_needs huge = {.input_tokens = 250000};
    assert_int_equal(plan(&f, "auto", &huge, LGW_STRATEGY_COST, &p, why), LGW_ERR(CONTEXT_LENGTH));
    assert_non_null(strstr(why, "200000"));
    assert_int_equal(plan(&f, "mini", &large, LGW_STRATEGY_COST, &p, why), LGW_ERR(CONTEXT_LENGTH));
    teardown(&f);
}

static void test_capabilities_filter(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    setup(&f, true, true);
    struct lgw_route_needs json = {.input_tokens = 150000, .caps = LGW_CAP_JSON_MODE};
    /* The only model that fits lacks JSON mode: the request says so, not "too long". */
    assert_int_equal(plan(&f, "long", &json, LGW_STRATEGY_COST, &p, why), LGW_ERR(NO_CAPABLE_MODEL));
    assert_non_null(strstr(why, "JSON mode"));
    json.input_tokens = 100;
    assert_int_equal(plan(&f, "auto", &json, LGW_STRATEGY_CAPABILITY, &p, why), 0);
    assert_int_equal(p.n, 2); /* long dropped */
    struct lgw_route_needs vision = {.input_tokens = 100, .caps = LGW_CAP_VISION};
    assert_int_equal(plan(&f, "auto", &vision, LGW_STRATEGY_CAPABILITY, &p, why), 0);
    assert_int_equal(p.n, 2); /* big dropped; the largest window first */
    assert_string_equal(p.chain[0]->id, "long");
    assert_string_equal(p.chain[1]->id, "mini");
    teardown(&f);
}

static void test_credentials_and_last_resort(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup(&f, true, false); /* no Anthropic key: its model is not a candidate */
    assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(plan(&f, "long", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_NOT_FOUND));
    assert_non_null(strstr(why, "credentials"));
    assert_int_equal(plan(&f, "nope", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_NOT_FOUND));
    teardown(&f);
    setup(&f, false, false); /* no keys at all: echo answers whatever the catalog knows */
    assert_int_equal(plan(&f, "long", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_true(p.last_resort);
    assert_string_equal(p.chain[0]->provider, "echo");
    assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_LATENCY, &p, why), 0);
    assert_string_equal(p.chain[0]->provider, "echo");
    assert_int_equal(plan(&f, "nope", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_NOT_FOUND));
    /* ... so the list shows every catalog model echo stands in for, as served by echo, and the group */
    json_t *models = lgw_router_models_json(f.cat, &f.cfg);
    json_t *data = json_object_get(models, "data");
    assert_int_equal(json_array_size(data), 5);
    static const char *const ids[] = {"mini", "big", "long", "echo", "auto"};
    for (size_t i = 0; i < 5; i++) {
        json_t *m = json_array_get(data, i);
        assert_string_equal(json_string_value(json_object_get(m, "id")), ids[i]);
        assert_string_equal(json_string_value(json_object_get(m, "object")), "model");
        assert_string_equal(json_string_value(json_object_get(m, "owned_by")), i < 4 ? "echo" : "llmgw");
    }
    json_decref(models);
    json_t *one = lgw_router_model_json(f.cat, &f.cfg, "long");
    assert_string_equal(json_string_value(json_object_get(one, "owned_by")), "echo");
    json_decref(one);
    one = lgw_router_model_json(f.cat, &f.cfg, "anthropic/long");
    assert_string_equal(json_string_value(json_object_get(one, "id")), "anthropic/long");
    json_decref(one);
    assert_null(lgw_router_model_json(f.cat, &f.cfg, "nope"));
    assert_null(lgw_router_model_json(f.cat, &f.cfg, "openai/long"));
    teardown(&f);
}

static void test_operator_chain_follows_the_choice(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    setup(&f, true, true);
    struct lgw_route_needs small = {.input_tokens = 10};
    assert_int_equal(plan(&f, "mini", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.chain[1]->id, "long");
    assert_string_equal(p.chain[2]->id, "big");
    assert_int_equal(plan(&f, "big", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 1); /* no chain for big: it is not rerouted */
    struct lgw_route_needs json = {.input_tokens = 10, .caps = LGW_CAP_JSON_MODE};
    assert_int_equal(plan(&f, "mini", &json, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 2); /* long cannot do JSON mode: left out of the chain */
    assert_string_equal(p.chain[1]->id, "big");
    json_t *models = lgw_router_models_json(f.cat, &f.cfg);
    assert_int_equal(json_array_size(json_object_get(models, "data")), 5); /* 3 + echo + auto */
    json_decref(models);
    /* with keys, one model by id: its own provider owns it; a model nobody serves here is not found */
    json_t *one = lgw_router_model_json(f.cat, &f.cfg, "long");
    assert_string_equal(json_string_value(json_object_get(one, "owned_by")), "anthropic");
    assert_int_equal(json_integer_value(json_object_get(one, "created")), 0);
    json_decref(one);
    one = lgw_router_model_json(f.cat, &f.cfg, "openai/mini");
    assert_string_equal(json_string_value(json_object_get(one, "owned_by")), "openai");
    json_decref(one);
    teardown(&f);
    setup(&f, true, false);
    assert_null(lgw_router_model_json(f.cat, &f.cfg, "long"));
    assert_null(lgw_router_model_json(f.cat, &f.cfg, "anthropic/long"));
    teardown(&f);
}

static void test_round_robin_rotates(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    setup(&f, true, true);
    struct lgw_route_needs small = {.input_tokens = 10};
    const char *firsts[6];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_ROUND_ROBIN, &p, why), 0);
        firsts[i] = p.chain[0]->id;
    }
    for (int i = 0; i < 3; i++) {
        assert_string_equal(firsts[i], firsts[i + 3]);
        assert_string_not_equal(firsts[i], firsts[(i + 1) % 3]);
    }
    teardown(&f);
}

/* A retired model named directly is a 404 model_retired naming the date and the successor, by every name and
 * even when echo would otherwise answer; it is never routed to the successor (which "old" undercuts in price
 * here, so cost order would pick it if it were a candidate). */
static void test_retired_model_is_refused(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup(&f, true, true);
    assert_int_equal(plan(&f, "old", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_RETIRED));
    assert_int_equal(p.n, 0);
    assert_string_equal(why, "old (old-20241022) was retired by Anthropic on 2025-10-28; use long instead.");
    assert_int_equal(plan(&f, "old-20241022", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_RETIRED));
    assert_string_equal(why, "old-20241022 was retired by Anthropic on 2025-10-28; use long instead.");
    assert_int_equal(plan(&f, "anthropic/old", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_RETIRED));
    assert_string_equal(why,
                        "anthropic/old (old-20241022) was retired by Anthropic on 2025-10-28; use anthropic/long "
                        "instead.");
    assert_int_equal(plan(&f, "openai/old", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_NOT_FOUND));
    assert_int_equal(lgw_err_status(LGW_ERR(MODEL_RETIRED)), 404);
    assert_string_equal(lgw_err_code(LGW_ERR(MODEL_RETIRED)), "model_retired");

    /* Groups and chains leave it out: auto is still mini, big, long; mini's chain is long, big. */
    assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 3);
    for (size_t i = 0; i < p.n; i++)
        assert_string_not_equal(p.chain[i]->id, "old");
    struct lgw_route_needs large = {.input_tokens = 150000};
    assert_int_equal(plan(&f, "auto", &large, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.chain[0]->id, "long");
    assert_int_equal(plan(&f, "mini", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.chain[1]->id, "long");
    assert_string_equal(p.chain[2]->id, "big");
    json_t *models = lgw_router_models_json(f.cat, &f.cfg);
    json_t *data = json_object_get(models, "data");
    size_t i;
    json_t *m;
    json_array_foreach(data, i, m) assert_string_not_equal(json_string_value(json_object_get(m, "id")), "old");
    json_decref(models);
    teardown(&f);

    /* Without credentials echo answers catalog models, but not a retired one. */
    setup(&f, false, false);
    assert_int_equal(plan(&f, "old", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_RETIRED));
    teardown(&f);

    /* The day before its retirement it is an ordinary candidate; on the day it is refused. */
    setup_at(&f, true, true, 20251027);
    assert_int_equal(plan(&f, "old", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(p.chain[0]->id, "old");
    assert_int_equal(plan(&f, "auto", &large, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.chain[0]->id, "old"); /* cheaper than long */
    teardown(&f);
    setup_at(&f, true, true, 20251028);
    assert_int_equal(plan(&f, "old", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_RETIRED));
    teardown(&f);
}

/* ---- simulated providers (`llmgw dev --simulate`) over the built-in catalog's "fast" group: one model each of
 * openai (gpt-4o-mini), anthropic (claude-haiku-4-5), gemini (gemini-2.5-flash-lite) and mistral
 * (mistral-small-latest). */

static void setup_builtin(struct fixture *f, bool simulate, bool openai)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    lgw_config_defaults(&f->cfg);
    f->cfg.simulate = simulate;
    if (openai)
        strcpy(f->cfg.openai_api_key, "sk-test");
    if (lgw_catalog_load(&f->cfg, &f->cat, &errs))
        fail_msg("catalog: %s", errs.ptr);
    lgw_buf_cleanup(&errs);
    f->r = lgw_router_new(&f->cfg, NULL);
}

static const char *served(const struct fixture *f, const struct lgw_model_info *m)
{
    return lgw_provider_served_as(&f->cfg, m->provider);
}

/* With no key, simulation serves the four providers' models: cost, capability and round-robin pick different
 * ones, none of them echo, and /v1/models says who stands in. */
static void test_simulated_strategies_differ(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup_builtin(&f, true, false);
    assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_int_equal(p.n, 4);
    assert_false(p.last_resort);
    assert_string_equal(p.chain[0]->id, "mistral-small-latest"); /* the cheapest: $0.06/$0.18 per 1M */
    assert_string_equal(served(&f, p.chain[0]), "mistral-sim");
    assert_string_equal(p.chain[1]->id, "gemini-2.5-flash-lite");
    assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_CAPABILITY, &p, why), 0);
    assert_string_equal(served(&f, p.chain[0]), "gemini-sim"); /* the largest window: 1M tokens */
    const char *seen[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_ROUND_ROBIN, &p, why), 0);
        seen[i] = served(&f, p.chain[0]);
        assert_non_null(strstr(seen[i], "-sim"));
        for (int k = 0; k < i; k++)
            assert_string_not_equal(seen[i], seen[k]);
    }
    /* a group resolves, and a concrete model too */
    assert_int_equal(plan(&f, "auto", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(served(&f, p.chain[0]), "openai-sim");
    assert_int_equal(plan(&f, "claude-haiku-4-5", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(served(&f, p.chain[0]), "anthropic-sim");
    /* what simulation does not stand in for is as before: echo, the last resort with no key */
    assert_int_equal(plan(&f, "echo", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(served(&f, p.chain[0]), "echo");
    json_t *models = lgw_router_models_json(f.cat, &f.cfg);
    size_t i;
    json_t *m;
    int sims = 0, groups = 0;
    json_array_foreach(json_object_get(models, "data"), i, m) {
        const char *id = json_string_value(json_object_get(m, "id"));
        const char *owner = json_string_value(json_object_get(m, "owned_by"));
        if (strcmp(id, "gpt-4o-mini") == 0)
            assert_string_equal(owner, "openai-sim");
        if (strcmp(id, "mistral-small-latest") == 0)
            assert_string_equal(owner, "mistral-sim");
        if (strcmp(id, "fast") == 0 || strcmp(id, "auto") == 0) {
            assert_string_equal(owner, "llmgw");
            groups++;
        }
        sims += strstr(owner, "-sim") != NULL;
    }
    assert_true(sims >= 4);
    assert_int_equal(groups, 2);
    json_decref(models);
    json_t *one = lgw_router_model_json(f.cat, &f.cfg, "gemini/gemini-2.5-flash-lite");
    assert_string_equal(json_string_value(json_object_get(one, "owned_by")), "gemini-sim");
    json_decref(one);
    teardown(&f);
    /* without simulate, no key: echo stands in for everything, as always */
    setup_builtin(&f, false, false);
    assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_true(p.last_resort);
    assert_string_equal(p.chain[0]->provider, "echo");
    teardown(&f);
}

/* Latency, after each simulated provider answered at its profile's first-token time: the fastest profile
 * (gemini-sim, 250 ms) is chosen most. The strategy samples two candidates at random (strategy.h), so the test
 * counts many plans: gemini's expected share is 38%, the next (openai-sim) 28%, so over 2,000 plans the order
 * holds by several standard deviations. */
static void test_simulated_latency_picks_fastest_profile(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup_builtin(&f, true, false);
    assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_COST, &p, why), 0);
    struct lgw_health *h = lgw_router_health(f.r);
    for (size_t i = 0; i < p.n; i++) {
        const struct lgw_sim_profile *prof = lgw_provider_sim_profile(p.chain[i]->provider);
        assert_non_null(prof);
        for (int k = 0; k < 5; k++) {
            bool probe;
            assert_true(lgw_health_acquire(h, p.chain[i], lgw_mono_ms(), &probe));
            lgw_health_release(h, p.chain[i], lgw_mono_ms(), probe, false, prof->ttft_ms);
        }
    }
    int count[4] = {0};
    const char *names[4] = {"openai-sim", "anthropic-sim", "gemini-sim", "mistral-sim"};
    for (int n = 0; n < 2000; n++) {
        assert_int_equal(plan(&f, "fast", &small, LGW_STRATEGY_LATENCY, &p, why), 0);
        for (int k = 0; k < 4; k++)
            count[k] += strcmp(served(&f, p.chain[0]), names[k]) == 0;
    }
    for (int k = 0; k < 4; k++)
        if (k != 2 && count[k] >= count[2])
            fail_msg("%s first %d times, gemini-sim %d", names[k], count[k], count[2]);
    teardown(&f);
}

/* A key always wins: with OPENAI's key and simulate on, OpenAI's models go to the real adapter under its own
 * name and the other three stay simulated. */
static void test_real_key_wins_over_simulation(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup_builtin(&f, true, true);
    assert_ptr_equal(lgw_provider_serving(&f.cfg, "openai"), lgw_provider_by_name("openai"));
    assert_string_equal(lgw_provider_served_as(&f.cfg, "openai"), "openai");
    assert_false(lgw_provider_simulated(&f.cfg, "openai"));
    assert_ptr_equal(lgw_provider_serving(&f.cfg, "anthropic"), &lgw_provider_sim);
    assert_string_equal(lgw_provider_served_as(&f.cfg, "anthropic"), "anthropic-sim");
    assert_true(lgw_provider_simulated(&f.cfg, "gemini"));
    assert_string_equal(lgw_provider_served_as(&f.cfg, "echo"), "echo"); /* echo is never simulated */
    assert_false(lgw_provider_simulated(&f.cfg, "echo"));
    assert_null(lgw_provider_served_as(&f.cfg, "compat")); /* not configured, not simulated */
    assert_int_equal(plan(&f, "gpt-4o-mini", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_string_equal(served(&f, p.chain[0]), "openai");
    json_t *one = lgw_router_model_json(f.cat, &f.cfg, "gpt-4o-mini");
    assert_string_equal(json_string_value(json_object_get(one, "owned_by")), "openai");
    json_decref(one);
    teardown(&f);
    /* simulate off: the key's provider alone */
    setup_builtin(&f, false, true);
    assert_null(lgw_provider_served_as(&f.cfg, "anthropic"));
    assert_int_equal(plan(&f, "claude-haiku-4-5", &small, LGW_STRATEGY_COST, &p, why), LGW_ERR(MODEL_NOT_FOUND));
    teardown(&f);
}

/* The operator's fallback chain applies to simulated models as to real ones (the fixture's catalog: mini falls
 * back to long and big, old being retired). */
static void test_simulated_operator_chain(void **state)
{
    (void)state;
    struct fixture f;
    struct lgw_route_plan p;
    char why[512];
    struct lgw_route_needs small = {.input_tokens = 10};
    setup(&f, false, false);
    f.cfg.simulate = 1; /* the router borrows cfg: it sees this */
    assert_int_equal(plan(&f, "mini", &small, LGW_STRATEGY_COST, &p, why), 0);
    assert_false(p.last_resort);
    assert_int_equal(p.n, 3);
    assert_string_equal(served(&f, p.chain[0]), "openai-sim");
    assert_string_equal(p.chain[1]->id, "long");
    assert_string_equal(served(&f, p.chain[1]), "anthropic-sim");
    assert_string_equal(p.chain[2]->id, "big");
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_to_mini_large_to_long), cmocka_unit_test(test_capabilities_filter),
        cmocka_unit_test(test_credentials_and_last_resort), cmocka_unit_test(test_operator_chain_follows_the_choice),
        cmocka_unit_test(test_round_robin_rotates), cmocka_unit_test(test_retired_model_is_refused),
        cmocka_unit_test(test_simulated_strategies_differ), cmocka_unit_test(test_simulated_latency_picks_fastest_profile),
        cmocka_unit_test(test_real_key_wins_over_simulation), cmocka_unit_test(test_simulated_operator_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

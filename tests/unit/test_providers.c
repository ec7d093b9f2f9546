/* test_providers.c - GET /v1/providers in the ingress: the workers' records folded into one entry per provider
 * (ingress/providers_view.c), and the store that keeps each worker's latest record (ingress/providers.c):
 * stale records dropped, tombstones, bad records, the catalog's "unknown" list when nobody reports. Records go
 * in as the topic carries them (encoded), through lgw_providers_apply, with the clock as an argument. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/provider_status.h"
#include "ingress/providers.h"
#include "ingress/providers_view.h"
#include "routing/catalog.h"

#define NOW 1796000000000LL /* 2026-11-30T00:53:20Z, an arbitrary wall-clock instant, ms */

static struct lgw_catalog *catalog(void)
{
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_catalog *cat;
    assert_int_equal(lgw_catalog_load(&cfg, &cat, &errs), 0);
    lgw_buf_cleanup(&errs);
    lgw_config_cleanup(&cfg);
    return cat;
}

struct m {
    const char *provider, *model;
    enum lgw_pstatus_state state;
    double latency_ms;
    int64_t inflight, calls, failures;
};

/* One worker's record, as its publisher would encode it, applied to the store at now. */
static void report(struct lgw_providers *p, const char *worker, int64_t ts_ms, int64_t now, const struct m *ms,
                   size_t n, bool configured)
{
    struct lgw_pstatus st;
    lgw_pstatus_init(&st);
    lgw_strlcpy(st.worker_id, worker, sizeof(st.worker_id));
    st.ts_ms = ts_ms;
    st.interval_ms = 1000;
    for (size_t i = 0; i < n; i++) {
        struct lgw_pstatus_provider *prov = NULL;
        for (size_t j = 0; j < st.nproviders; j++)
            if (strcmp(st.providers[j].provider, ms[i].provider) == 0)
                prov = &st.providers[j];
        if (!prov)
            prov = lgw_pstatus_add_provider(&st, ms[i].provider, configured, false);
        struct lgw_pstatus_model *m = lgw_pstatus_add_model(prov, ms[i].model);
        m->state = ms[i].state;
        m->latency_ms = ms[i].latency_ms;
        m->inflight = ms[i].inflight;
        m->calls = ms[i].calls;
        m->failures = ms[i].failures;
    }
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_pstatus_encode(&st, &b), 0);
    lgw_providers_apply(p, worker, strlen(worker), b.ptr, b.len, now);
    lgw_buf_cleanup(&b);
    lgw_pstatus_cleanup(&st);
}

/* The element of array whose "id" is id. */
static json_t *with_id(json_t *array, const char *id)
{
    for (size_t i = 0; i < json_array_size(array); i++) {
        json_t *e = json_array_get(array, i);
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            return e;
    }
    fail_msg("no \"%s\" in the list", id);
    return NULL;
}

static json_t *entry(json_t *answer, const char *id)
{
    return with_id(json_object_get(answer, "data"), id);
}

static json_t *model_entry(json_t *provider, const char *id)
{
    return with_id(json_object_get(provider, "models"), id);
}

static const char *str(json_t *o, const char *field)
{
    const char *s = json_string_value(json_object_get(o, field));
    if (!s)
        fail_msg("\"%s\" is not a string", field);
    return s;
}

static json_int_t num(json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", field);
    return json_integer_value(v);
}

/* Two workers: the worst state per model, the provider's state from its called models only, latency means,
 * sums, worker counts, names, order. */
static void test_two_workers(void **state)
{
    (void)state;
    struct lgw_providers *p = lgw_providers_new();
    const struct m w1[] = {
        {"openai", "gpt-4o-mini", LGW_PSTATUS_OPEN, 100, 1, 10, 6},
        {"openai", "gpt-4o", LGW_PSTATUS_CLOSED, -1, 0, 0, 0},
        {"echo", "echo", LGW_PSTATUS_CLOSED, 2, 0, 5, 0},
    };
    const struct m w2[] = {
        {"openai", "gpt-4o-mini", LGW_PSTATUS_HALF_OPEN, 51, 2, 20, 1},
        {"openai", "gpt-4o", LGW_PSTATUS_CLOSED, -1, 0, 0, 0},
        {"echo", "echo", LGW_PSTATUS_CLOSED, -1, 0, 0, 0},
        {"anthropic", "claude-haiku-4-5", LGW_PSTATUS_OPEN, -1, 0, 0, 0}, /* never called: not its state */
    };
    report(p, "w1", NOW - 500, NOW, w1, 3, true);
    report(p, "w2", NOW - 100, NOW, w2, 4, false);
    assert_int_equal(lgw_providers_count(p), 2);
    json_t *a = lgw_providers_json(p, NULL, NOW);
    assert_string_equal(str(a, "object"), "list");
    assert_int_equal(num(a, "workers"), 2);
    assert_string_equal(str(a, "updated_at"), "2026-11-30T00:53:19.900Z");
    json_t *data = json_object_get(a, "data");
    assert_int_equal(json_array_size(data), 3);
    assert_string_equal(str(json_array_get(data, 0), "id"), "anthropic"); /* by id */
    assert_string_equal(str(json_array_get(data, 1), "id"), "echo");
    assert_string_equal(str(json_array_get(data, 2), "id"), "openai");

    json_t *o = entry(a, "openai");
    assert_string_equal(str(o, "name"), "OpenAI");
    assert_true(json_is_true(json_object_get(o, "configured"))); /* w1 has the key */
    assert_true(json_is_false(json_object_get(o, "simulated")));
    assert_string_equal(str(o, "state"), "open");
    assert_int_equal(num(o, "latency_ms"), 76); /* (100 + 51) / 2, rounded */
    assert_int_equal(num(o, "inflight"), 3);
    assert_int_equal(num(o, "calls"), 30);
    assert_int_equal(num(o, "failures"), 7);
    assert_int_equal(num(o, "workers"), 2);
    assert_string_equal(str(o, "reported_at"), "2026-11-30T00:53:19.900Z");
    json_t *mini = model_entry(o, "gpt-4o-mini");
    assert_string_equal(str(mini, "state"), "open"); /* open beats half_open */
    assert_int_equal(num(mini, "latency_ms"), 76);
    assert_int_equal(num(mini, "calls"), 30);
    json_t *big = model_entry(o, "gpt-4o");
    assert_string_equal(str(big, "state"), "closed");
    assert_true(json_is_null(json_object_get(big, "latency_ms")));
    assert_string_equal(str(json_array_get(json_object_get(o, "models"), 0), "id"), "gpt-4o"); /* by id */

    json_t *an = entry(a, "anthropic");
    assert_string_equal(str(an, "name"), "Anthropic");
    assert_string_equal(str(an, "state"), "closed"); /* its only model was never called */
    assert_string_equal(str(model_entry(an, "claude-haiku-4-5"), "state"), "open");
    assert_true(json_is_false(json_object_get(an, "configured")));
    assert_true(json_is_null(json_object_get(an, "latency_ms")));
    assert_int_equal(num(an, "workers"), 1);
    assert_string_equal(str(entry(a, "echo"), "name"), "Echo");
    assert_int_equal(num(entry(a, "echo"), "latency_ms"), 2);
    json_decref(a);

    /* w1's breaker closes: the model is half_open (w2's), and so is the provider. */
    const struct m w1b[] = {{"openai", "gpt-4o-mini", LGW_PSTATUS_CLOSED, 90, 0, 11, 6}};
    report(p, "w1", NOW + 100, NOW + 100, w1b, 1, true);
    a = lgw_providers_json(p, NULL, NOW + 100);
    assert_string_equal(str(entry(a, "openai"), "state"), "half_open");
    assert_int_equal(num(entry(a, "openai"), "workers"), 2);
    assert_int_equal(num(entry(a, "echo"), "workers"), 1); /* w1's new record names no echo */
    json_decref(a);
    lgw_providers_free(p);
}

/* A record counts for three of its intervals; a stale one is dropped, on arrival or at the next answer. */
static void test_stale(void **state)
{
    (void)state;
    struct lgw_providers *p = lgw_providers_new();
    const struct m open[] = {{"openai", "gpt-4o-mini", LGW_PSTATUS_OPEN, 10, 0, 3, 3}};
    const struct m closed[] = {{"openai", "gpt-4o-mini", LGW_PSTATUS_CLOSED, 10, 0, 3, 0}};
    report(p, "killed", NOW - 2000, NOW, open, 1, true);
    report(p, "alive", NOW - 100, NOW, closed, 1, true);
    json_t *a = lgw_providers_json(p, NULL, NOW);
    assert_string_equal(str(entry(a, "openai"), "state"), "open");
    json_decref(a);
    a = lgw_providers_json(p, NULL, NOW + 1001); /* "killed" is 3001 ms old: gone; "alive" still fresh */
    assert_int_equal(num(a, "workers"), 1);
    assert_string_equal(str(entry(a, "openai"), "state"), "closed");
    assert_int_equal(num(entry(a, "openai"), "workers"), 1);
    json_decref(a);
    assert_int_equal(lgw_providers_count(p), 1);
    report(p, "late", NOW - 10000, NOW, open, 1, true); /* already stale when read (a replay): never kept */
    assert_int_equal(lgw_providers_count(p), 1);
    lgw_providers_free(p);
}

/* A tombstone removes its worker; a bad record, or one whose worker_id is not its key, changes nothing. */
static void test_tombstone_and_bad_records(void **state)
{
    (void)state;
    struct lgw_providers *p = lgw_providers_new();
    const struct m ms[] = {{"echo", "echo", LGW_PSTATUS_CLOSED, 1, 0, 1, 0}};
    report(p, "w1", NOW, NOW, ms, 1, true);
    report(p, "w2", NOW, NOW, ms, 1, true);
    assert_int_equal(lgw_providers_count(p), 2);
    lgw_providers_apply(p, "w1", 2, NULL, 0, NOW);
    assert_int_equal(lgw_providers_count(p), 1);
    lgw_providers_apply(p, "w9", 2, NULL, 0, NOW); /* a tombstone of nobody held */
    assert_int_equal(lgw_providers_count(p), 1);

    const char bad[] = "{\"v\":1,\"worker_id\":\"w2\"}";
    lgw_providers_apply(p, "w2", 2, bad, strlen(bad), NOW);
    char other[512];
    snprintf(other, sizeof(other),
             "{\"v\":1,\"worker_id\":\"w3\",\"ts_ms\":%lld,\"interval_ms\":1000,\"providers\":[]}", NOW);
    lgw_providers_apply(p, "w2", 2, other, strlen(other), NOW); /* w3's record under w2's key */
    lgw_providers_apply(p, "", 0, other, strlen(other), NOW);
    assert_int_equal(lgw_providers_count(p), 1);
    json_t *a = lgw_providers_json(p, NULL, NOW);
    assert_int_equal(num(entry(a, "echo"), "calls"), 1); /* w2's good record is still the one held */
    json_decref(a);
    lgw_providers_free(p);
}

/* Nobody reports (no worker yet, or all stale): every provider of the ingress's catalog, "unknown". */
static void test_empty_is_the_unknown_catalog(void **state)
{
    (void)state;
    struct lgw_catalog *cat = catalog();
    json_t *a = lgw_providers_view(NULL, 0, cat);
    assert_int_equal(num(a, "workers"), 0);
    assert_true(json_is_null(json_object_get(a, "updated_at")));
    json_t *data = json_object_get(a, "data");
    const char *ids[] = {"anthropic", "echo", "gemini", "mistral", "openai"};
    const char *names[] = {"Anthropic", "Echo", "Google Gemini", "Mistral AI", "OpenAI"};
    assert_int_equal(json_array_size(data), 5);
    size_t total = 0;
    for (size_t i = 0; i < 5; i++) {
        json_t *e = json_array_get(data, i);
        assert_string_equal(str(e, "id"), ids[i]);
        assert_string_equal(str(e, "name"), names[i]);
        assert_string_equal(str(e, "state"), "unknown");
        assert_int_equal(num(e, "workers"), 0);
        assert_int_equal(num(e, "calls"), 0);
        assert_true(json_is_null(json_object_get(e, "configured")));
        assert_true(json_is_null(json_object_get(e, "latency_ms")));
        assert_true(json_is_null(json_object_get(e, "reported_at")));
        json_t *m = json_array_get(json_object_get(e, "models"), 0);
        assert_string_equal(str(m, "state"), "unknown");
        total += json_array_size(json_object_get(e, "models"));
    }
    assert_int_equal(total, lgw_catalog_count(cat));
    json_decref(a);

    /* One worker reports only echo: echo is its word, the others still unknown from the catalog. */
    struct lgw_providers *p = lgw_providers_new();
    const struct m ms[] = {{"echo", "echo", LGW_PSTATUS_CLOSED, 1, 0, 1, 0}};
    report(p, "w1", NOW, NOW, ms, 1, true);
    a = lgw_providers_json(p, cat, NOW);
    assert_int_equal(json_array_size(json_object_get(a, "data")), 5);
    assert_string_equal(str(entry(a, "echo"), "state"), "closed");
    assert_int_equal(json_array_size(json_object_get(entry(a, "echo"), "models")), 1); /* the worker's list */
    assert_string_equal(str(entry(a, "openai"), "state"), "unknown");
    json_decref(a);
    /* Stale: back to the catalog's list. */
    a = lgw_providers_json(p, cat, NOW + 3001);
    assert_string_equal(str(entry(a, "echo"), "state"), "unknown");
    assert_int_equal(num(a, "workers"), 0);
    json_decref(a);
    lgw_providers_free(p);
    lgw_catalog_unref(cat);
}

/* A provider this ingress does not know (a newer worker's) is shown under its id. */
static void test_unknown_provider_name(void **state)
{
    (void)state;
    struct lgw_providers *p = lgw_providers_new();
    const struct m ms[] = {{"newco", "n1", LGW_PSTATUS_CLOSED, 1, 0, 1, 0}};
    report(p, "w1", NOW, NOW, ms, 1, true);
    json_t *a = lgw_providers_json(p, NULL, NOW);
    assert_string_equal(str(entry(a, "newco"), "name"), "newco");
    json_decref(a);
    lgw_providers_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_tombstone_and_bad_records),
        cmocka_unit_test(test_empty_is_the_unknown_catalog),
        cmocka_unit_test(test_unknown_provider_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

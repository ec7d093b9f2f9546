/* test_status.c - the record a worker publishes of its providers (workers/status.c): every provider of the
 * catalog with a model, configured or not, each model with its breaker, latency and counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/metrics.h"
#include "common/topics.h"
#include "ingress/providers.h"
#include "common/provider_status.h"
#include "routing/catalog.h"
#include "routing/health.h"
#include "workers/status.h"
#include "tests/support/mock_kafka.h"

static const struct lgw_health_params params = {.failures = 2, .error_pct = 50, .window_ms = 10000,
                                                .min_requests = 10, .cooldown_ms = 1000, .decay_ms = 1000};

static const struct lgw_pstatus_provider *provider(const struct lgw_pstatus *st, const char *name)
{
    for (size_t i = 0; i < st->nproviders; i++)
        if (strcmp(st->providers[i].provider, name) == 0)
            return &st->providers[i];
    return NULL;
}

static const struct lgw_pstatus_model *model(const struct lgw_pstatus_provider *p, const char *id)
{
    for (size_t i = 0; p && i < p->nmodels; i++)
        if (strcmp(p->models[i].model, id) == 0)
            return &p->models[i];
    return NULL;
}

static const struct lgw_model_info *info(const struct lgw_catalog *cat, const char *provider, const char *id)
{
    for (size_t i = 0; i < lgw_catalog_count(cat); i++) {
        const struct lgw_model_info *m = lgw_catalog_at(cat, i);
        if (strcmp(m->provider, provider) == 0 && strcmp(m->id, id) == 0)
            return m;
    }
    fail_msg("no %s/%s in the catalog", provider, id);
    return NULL;
}

static void call(struct lgw_health *h, const struct lgw_model_info *m, int64_t now, bool failed, int64_t ms)
{
    bool probe;
    assert_true(lgw_health_acquire(h, m, now, &probe));
    lgw_health_release(h, m, now, probe, failed, ms);
}

static void test_snapshot(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    strcpy(cfg.openai_api_key, "sk-test"); /* openai configured, anthropic and the others not */
    cfg.provider_status_interval_ms = 1234;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_catalog *cat;
    assert_int_equal(lgw_catalog_load(&cfg, &cat, &errs), 0);
    lgw_buf_cleanup(&errs);
    struct lgw_health *h = lgw_health_new(&params, NULL);
    const struct lgw_model_info *mini = info(cat, "openai", "gpt-4o-mini");
    call(h, mini, 1000, false, 80);
    call(h, mini, 1001, true, 10); /* a failure's latency counts as at least twice the estimate */
    call(h, mini, 1002, true, 10); /* the second in a row: open */
    bool probe;
    const struct lgw_model_info *haiku = info(cat, "anthropic", "claude-haiku-4-5");
    assert_true(lgw_health_acquire(h, haiku, 1003, &probe)); /* one in flight, none ended */

    struct lgw_pstatus st;
    lgw_status_snapshot(&cfg, cat, h, "w7", 1796000000000, &st);
    assert_string_equal(st.worker_id, "w7");
    assert_int_equal(st.ts_ms, 1796000000000);
    assert_int_equal(st.interval_ms, 1234);
    /* Every provider of the built-in catalog that has models; compat has none without compat_models. */
    const char *names[] = {"openai", "anthropic", "gemini", "mistral", "echo"};
    assert_int_equal(st.nproviders, 5);
    for (size_t i = 0; i < 5; i++) {
        const struct lgw_pstatus_provider *p = provider(&st, names[i]);
        assert_non_null(p);
        assert_true(p->nmodels > 0);
        assert_false(p->simulated);
    }
    assert_null(provider(&st, "compat"));
    assert_true(provider(&st, "openai")->configured);
    assert_true(provider(&st, "echo")->configured);
    assert_false(provider(&st, "anthropic")->configured);
    assert_false(provider(&st, "gemini")->configured);
    /* Every model of the catalog is listed once under its provider. */
    size_t total = 0;
    for (size_t i = 0; i < st.nproviders; i++)
        total += st.providers[i].nmodels;
    assert_int_equal(total, lgw_catalog_count(cat));

    const struct lgw_pstatus_model *m = model(provider(&st, "openai"), "gpt-4o-mini");
    assert_int_equal(m->state, LGW_PSTATUS_OPEN);
    assert_int_equal(m->calls, 3);
    assert_int_equal(m->failures, 2);
    assert_true(m->latency_ms >= 160); /* 80, then failures raised to twice the estimate */
    m = model(provider(&st, "anthropic"), "claude-haiku-4-5");
    assert_int_equal(m->state, LGW_PSTATUS_CLOSED);
    assert_int_equal(m->inflight, 1);
    assert_int_equal(m->calls, 0);
    assert_true(m->latency_ms < 0); /* nothing measured yet: no latency, not the catalog's seed */
    m = model(provider(&st, "openai"), "gpt-4o");
    assert_int_equal(m->state, LGW_PSTATUS_CLOSED);
    assert_true(m->latency_ms < 0);

    /* It encodes to a record readers take. */
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_pstatus_encode(&st, &b), 0);
    struct lgw_pstatus back;
    char why[256];
    assert_int_equal(lgw_pstatus_decode(b.ptr, b.len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.nproviders, st.nproviders);
    lgw_pstatus_cleanup(&back);
    lgw_buf_cleanup(&b);

    lgw_health_abandon(h, haiku, probe);
    lgw_pstatus_cleanup(&st);
    lgw_health_free(h);
    lgw_catalog_unref(cat);
    lgw_config_cleanup(&cfg);
}

/* The answer's state of openai/gpt-4o-mini and its worker count, "" when it is not listed. */
static void answer_state(struct lgw_providers *p, char *state, size_t statesz, json_int_t *workers)
{
    json_t *a = lgw_providers_json(p, NULL, lgw_wall_ms());
    *workers = json_integer_value(json_object_get(a, "workers"));
    state[0] = '\0';
    json_t *e, *m;
    size_t i, j;
    json_array_foreach(json_object_get(a, "data"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "id")), "openai") != 0)
            continue;
        json_array_foreach(json_object_get(e, "models"), j, m)
        {
            if (strcmp(json_string_value(json_object_get(m, "id")), "gpt-4o-mini") == 0)
                lgw_strlcpy(state, json_string_value(json_object_get(m, "state")), statesz);
        }
    }
    json_decref(a);
}

/* Waits up to 10 s for the answer to show want with that many workers. */
static void wait_answer(struct lgw_providers *p, const char *want, json_int_t want_workers)
{
    char state[32];
    json_int_t workers = -1;
    for (int i = 0; i < 1000; i++) {
        answer_state(p, state, sizeof(state), &workers);
        if (strcmp(state, want) == 0 && workers == want_workers)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("want \"%s\" with %lld worker(s), have \"%s\" with %lld", want, (long long)want_workers, state,
             (long long)workers);
}

/* The publisher's thread and an ingress's reader thread over librdkafka's mock cluster (the real broker is
 * tests/e2e/test_providers.py's): the first record, a breaker change published long before the (minute-long)
 * interval, and the tombstone at stop. Under ThreadSanitizer this is what checks both threads. */
static void test_publisher_to_reader(void **state)
{
    (void)state;
    struct lgw_test_kafka k;
    assert_int_equal(lgw_test_kafka_start(&k), 0);
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.kafka_mock = true;
    cfg.provider_status_interval_ms = 60000;
    strcpy(cfg.openai_api_key, "sk-test");
    lgw_strlcpy(cfg.kafka_brokers, lgw_test_kafka_bootstraps(&k), sizeof(cfg.kafka_brokers));
    assert_int_equal(lgw_topics_create_mock(k.mc, &cfg, "i1"), 0);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_catalog_holder *holder;
    assert_int_equal(lgw_catalog_holder_new(&cfg, &holder, &errs), 0);
    lgw_buf_cleanup(&errs);
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_health *h = lgw_health_new(&params, m);
    struct lgw_providers *p = lgw_providers_new();
    assert_int_equal(lgw_providers_start(p, &cfg, "i1"), 0);

    struct lgw_status *st;
    assert_int_equal(lgw_status_start(&cfg, "w1", holder, h, m, &st), 0);
    wait_answer(p, "closed", 1);
    struct lgw_catalog *cat = lgw_catalog_current(holder);
    const struct lgw_model_info *mini = info(cat, "openai", "gpt-4o-mini");
    call(h, mini, lgw_mono_ms(), true, 10);
    call(h, mini, lgw_mono_ms(), true, 10); /* open, from the health table's other user: this thread */
    wait_answer(p, "open", 1);
    lgw_status_stop(st);
    wait_answer(p, "", 0); /* the tombstone: no record, no worker */

    lgw_catalog_unref(cat);
    lgw_providers_free(p);
    lgw_health_free(h);
    lgw_metrics_free(m);
    lgw_catalog_holder_free(holder);
    lgw_test_kafka_stop(&k);
    lgw_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot),
        cmocka_unit_test(test_publisher_to_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

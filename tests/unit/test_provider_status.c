/* test_provider_status.c - the providers topic's record: round trip, what readers ignore (unknown fields) and
 * accept (v2), and what they refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/provider_status.h"

static void sample(struct lgw_pstatus *st)
{
    lgw_pstatus_init(st);
    lgw_strlcpy(st->worker_id, "w1", sizeof(st->worker_id));
    st->ts_ms = 1796000000123;
    st->interval_ms = 5000;
    struct lgw_pstatus_provider *p = lgw_pstatus_add_provider(st, "openai", true, false);
    struct lgw_pstatus_model *m = lgw_pstatus_add_model(p, "gpt-4o-mini");
    m->state = LGW_PSTATUS_OPEN;
    m->latency_ms = 95.24;
    m->inflight = 2;
    m->calls = 123;
    m->failures = 4;
    lgw_pstatus_add_model(p, "gpt-4o"); /* never called: closed, null latency */
    lgw_pstatus_add_model(lgw_pstatus_add_provider(st, "anthropic", false, false), "claude-3-5-haiku");
    m = lgw_pstatus_add_model(lgw_pstatus_add_provider(st, "echo", true, true), "echo");
    m->state = LGW_PSTATUS_HALF_OPEN;
    m->latency_ms = 0;
}

static char *encode(const struct lgw_pstatus *st)
{
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    assert_int_equal(lgw_pstatus_encode(st, &b), 0);
    size_t len;
    return lgw_buf_take(&b, &len);
}

static int decode(const char *text, struct lgw_pstatus *st, char *why, size_t whysz)
{
    why[0] = '\0';
    return lgw_pstatus_decode(text, strlen(text), st, why, whysz);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct lgw_pstatus st, back;
    sample(&st);
    char *text = encode(&st);
    assert_non_null(strstr(text, "\"latency_ms\":95.2,")); /* tenths of a ms */
    assert_non_null(strstr(text, "\"latency_ms\":null"));
    assert_non_null(strstr(text, "\"v\":1"));
    char why[256];
    assert_int_equal(decode(text, &back, why, sizeof(why)), 0);
    assert_string_equal(back.worker_id, "w1");
    assert_int_equal(back.ts_ms, 1796000000123);
    assert_int_equal(back.interval_ms, 5000);
    assert_int_equal(back.nproviders, 3);
    assert_string_equal(back.providers[0].provider, "openai");
    assert_true(back.providers[0].configured);
    assert_false(back.providers[0].simulated);
    assert_int_equal(back.providers[0].nmodels, 2);
    const struct lgw_pstatus_model *m = &back.providers[0].models[0];
    assert_string_equal(m->model, "gpt-4o-mini");
    assert_int_equal(m->state, LGW_PSTATUS_OPEN);
    assert_true(m->latency_ms > 95.19 && m->latency_ms < 95.21);
    assert_int_equal(m->inflight, 2);
    assert_int_equal(m->calls, 123);
    assert_int_equal(m->failures, 4);
    m = &back.providers[0].models[1];
    assert_int_equal(m->state, LGW_PSTATUS_CLOSED);
    assert_true(m->latency_ms < 0);
    assert_false(back.providers[1].configured);
    assert_true(back.providers[2].simulated);
    assert_int_equal(back.providers[2].models[0].state, LGW_PSTATUS_HALF_OPEN);
    assert_true(back.providers[2].models[0].latency_ms == 0);
    /* And again: what was decoded encodes to the same bytes. */
    char *again = encode(&back);
    assert_string_equal(again, text);
    free(again);
    free(text);
    lgw_pstatus_cleanup(&back);
    lgw_pstatus_cleanup(&st);
    assert_int_equal(st.nproviders, 0);
    assert_null(st.providers);
}

/* An estimate past any sense (failures double it, health.h) is written clamped, so the record still goes out;
 * NaN is none. */
static void test_latency_clamped(void **state)
{
    (void)state;
    struct lgw_pstatus st, back;
    lgw_pstatus_init(&st);
    lgw_strlcpy(st.worker_id, "w", sizeof(st.worker_id));
    st.interval_ms = 1000;
    struct lgw_pstatus_provider *p = lgw_pstatus_add_provider(&st, "p", true, false);
    lgw_pstatus_add_model(p, "huge")->latency_ms = INFINITY;
    lgw_pstatus_add_model(p, "nan")->latency_ms = NAN;
    char *text = encode(&st);
    char why[256];
    assert_int_equal(decode(text, &back, why, sizeof(why)), 0);
    assert_true(back.providers[0].models[0].latency_ms == LGW_PSTATUS_LATENCY_MAX_MS);
    assert_true(back.providers[0].models[1].latency_ms < 0);
    free(text);
    lgw_pstatus_cleanup(&back);
    lgw_pstatus_cleanup(&st);
}

/* Many providers and models: the arrays grow past every doubling. */
static void test_many(void **state)
{
    (void)state;
    struct lgw_pstatus st, back;
    lgw_pstatus_init(&st);
    lgw_strlcpy(st.worker_id, "w", sizeof(st.worker_id));
    st.interval_ms = 200;
    char name[32];
    for (int p = 0; p < LGW_PSTATUS_PROVIDERS_MAX; p++) {
        snprintf(name, sizeof(name), "p%d", p);
        struct lgw_pstatus_provider *prov = lgw_pstatus_add_provider(&st, name, p % 2, false);
        for (int i = 0; i < (p == 0 ? LGW_PSTATUS_MODELS_MAX : 3); i++) {
            snprintf(name, sizeof(name), "m%d", i);
            lgw_pstatus_add_model(prov, name)->calls = i;
        }
    }
    char *text = encode(&st);
    char why[256];
    assert_int_equal(decode(text, &back, why, sizeof(why)), 0);
    assert_int_equal(back.nproviders, LGW_PSTATUS_PROVIDERS_MAX);
    assert_int_equal(back.providers[0].nmodels, LGW_PSTATUS_MODELS_MAX);
    assert_int_equal(back.providers[0].models[LGW_PSTATUS_MODELS_MAX - 1].calls, LGW_PSTATUS_MODELS_MAX - 1);
    assert_string_equal(back.providers[63].provider, "p63");
    free(text);
    lgw_pstatus_cleanup(&back);
    /* One more provider is over the cap. */
    lgw_pstatus_add_provider(&st, "one-too-many", false, false);
    text = encode(&st);
    assert_int_equal(decode(text, &back, why, sizeof(why)), LGW_ERR(INVALID));
    assert_non_null(strstr(why, "at most 64 providers"));
    free(text);
    lgw_pstatus_cleanup(&back);
    lgw_pstatus_cleanup(&st);
}

/* The upgrade rule: unknown fields anywhere are ignored, v2 is read as v1. */
static void test_unknown_fields_and_v2(void **state)
{
    (void)state;
    const char *text =
        "{\"v\":2,\"worker_id\":\"w9\",\"ts_ms\":5,\"interval_ms\":1000,\"region\":\"eu\",\"providers\":["
        "{\"provider\":\"openai\",\"configured\":true,\"simulated\":false,\"weight\":3,\"models\":["
        "{\"model\":\"gpt-4o\",\"state\":\"closed\",\"latency_ms\":12,\"inflight\":0,\"calls\":1,\"failures\":0,"
        "\"p99_ms\":40}]}]}";
    struct lgw_pstatus st;
    char why[256];
    assert_int_equal(decode(text, &st, why, sizeof(why)), 0);
    assert_string_equal(st.worker_id, "w9");
    assert_int_equal(st.providers[0].models[0].calls, 1);
    assert_true(st.providers[0].models[0].latency_ms == 12);
    lgw_pstatus_cleanup(&st);
}

/* Each bad record is refused with a reason that names what is wrong. */
static void test_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"not json", "not a JSON object"},
        {"[1]", "not a JSON object"},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"v\":1,\"providers\":[]}", "not a JSON object"},
        {"{\"v\":3,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "unsupported version"},
        {"{\"v\":0,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "unsupported version"},
        {"{\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "unsupported version"},
        {"{\"v\":1,\"worker_id\":\"\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "\"worker_id\""},
        {"{\"v\":1,\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "\"worker_id\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":-1,\"interval_ms\":1000,\"providers\":[]}", "\"ts_ms\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":100,\"providers\":[]}", "\"interval_ms\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":3600001,\"providers\":[]}", "\"interval_ms\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000}", "\"providers\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[3]}", "must be an object"},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":1,\"simulated\":false,\"models\":[]}]}",
         "\"configured\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"models\":[]}]}",
         "\"simulated\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[]},{\"provider\":\"a\",\"configured\":true,"
         "\"simulated\":false,\"models\":[]}]}",
         "listed twice"},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"broken\","
         "\"latency_ms\":null,\"inflight\":0,\"calls\":0,\"failures\":0}]}]}",
         "\"state\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":-3,\"inflight\":0,\"calls\":0,\"failures\":0}]}]}",
         "\"latency_ms\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":3,\"inflight\":0,\"calls\":1,\"failures\":2}]}]}",
         "must not exceed calls"},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":86400000.5,\"inflight\":0,\"calls\":1,\"failures\":0}]}]}",
         "\"latency_ms\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":3,\"inflight\":0.5,\"calls\":1,\"failures\":0}]}]}",
         "\"inflight\""},
        {"{\"v\":1,\"worker_id\":\"w\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[{\"provider\":\"a\","
         "\"configured\":true,\"simulated\":false,\"models\":[{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":3,\"inflight\":0,\"calls\":1,\"failures\":0},{\"model\":\"m\",\"state\":\"open\","
         "\"latency_ms\":3,\"inflight\":0,\"calls\":1,\"failures\":0}]}]}",
         "listed twice"},
        {"{\"v\":1,\"worker_id\":\"w\\u0000x\",\"ts_ms\":1,\"interval_ms\":1000,\"providers\":[]}", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lgw_pstatus st;
        char why[256];
        int rc = decode(cases[i].text, &st, why, sizeof(why));
        lgw_pstatus_cleanup(&st);
        if (rc != LGW_ERR(INVALID) || !strstr(why, cases[i].why))
            fail_msg("case %zu: rc %d, why \"%s\"; wanted \"%s\"", i, rc, why, cases[i].why);
    }
}

/* A record is believed for three of its intervals. */
static void test_fresh(void **state)
{
    (void)state;
    struct lgw_pstatus st;
    lgw_pstatus_init(&st);
    st.ts_ms = 100000;
    st.interval_ms = 1000;
    assert_true(lgw_pstatus_fresh(&st, 100000));
    assert_true(lgw_pstatus_fresh(&st, 103000));
    assert_false(lgw_pstatus_fresh(&st, 103001));
    assert_true(lgw_pstatus_fresh(&st, 90000)); /* the worker's clock ahead of ours: still its latest word */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_latency_clamped),
        cmocka_unit_test(test_unknown_fields_and_v2),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_fresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

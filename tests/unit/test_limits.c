/* test_limits.c - rate limits: the in-memory sliding log (exact counts, sliding, token correction, in-flight
 * release), the reset format of the headers, the "tenants" config, and the library on a real Redis when
 * LLMGW_TEST_REDIS names one (two limiters sharing one limit; Redis unreachable: the in-memory fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/metrics.h"
#include "common/redis.h"
#include "limits/limits.h"
#include "limits/memlog.h"
#include "tests/support/services.h"

#define SEC 1000000LL

static void test_memlog_requests(void **state)
{
    (void)state;
    struct lgw_memlog *ml = lgw_memlog_new(60 * SEC, 16);
    struct lgw_memlog_limit lim = {'r', "k", 100};
    struct lgw_memlog_usage use;
    int64_t retry;
    int admitted = 0;
    /* 300 requests over 30 s of a 60 s window: exactly 100 pass. */
    for (int i = 0; i < 300; i++)
        if (lgw_memlog_admit(ml, &lim, 1, (uint64_t)i, 0, 0, i * SEC / 10, &use, &retry) < 0)
            admitted++;
    assert_int_equal(admitted, 100);
    /* The first 100 entered at 0 .. 9.9 s: the 101st fits only when the one of t=0 leaves, at 60 s. */
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 1000, 0, 0, 30 * SEC, &use, &retry), 0);
    assert_int_equal(retry, 30 * SEC);
    assert_int_equal(use.used, 100);
    /* Sliding, not a fixed boundary: at 60.05 s one has left (t=0), so one more passes, and no second. */
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 1001, 0, 0, 60 * SEC + SEC / 20, &use, &retry), -1);
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 1002, 0, 0, 60 * SEC + SEC / 20, &use, &retry), 0);
    assert_int_equal(retry, SEC / 10 - SEC / 20); /* the next (t=0.1 s) leaves at 60.1 s */
    lgw_memlog_free(ml);
}

static void test_memlog_tokens(void **state)
{
    (void)state;
    struct lgw_memlog *ml = lgw_memlog_new(60 * SEC, 16);
    struct lgw_memlog_limit lim = {'t', "k", 1000};
    struct lgw_memlog_usage use;
    int64_t retry;
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 1, 600, 0, 0, &use, &retry), -1);
    assert_int_equal(use.used, 600);
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 2, 600, 0, SEC, &use, &retry), 0); /* 1200 > 1000 */
    assert_int_equal(retry, 59 * SEC);
    /* The answer used 100, not 600: the correction makes room. */
    lgw_memlog_finish(ml, &lim, 1, 1, 100);
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 2, 600, 0, SEC, &use, &retry), -1);
    assert_int_equal(use.used, 700);
    /* Larger than the limit itself: refused, with a window's wait. */
    assert_int_equal(lgw_memlog_admit(ml, &lim, 1, 3, 5000, 0, SEC, &use, &retry), 0);
    assert_int_equal(retry, 60 * SEC);
    lgw_memlog_free(ml);
}

/* A scope's request and token limits come with one key name (the Redis log they share); in memory each kind
 * keeps a log of its own under it. */
static void test_memlog_kinds_share_a_name(void **state)
{
    (void)state;
    struct lgw_memlog *ml = lgw_memlog_new(60 * SEC, 16);
    struct lgw_memlog_limit lim[] = {{'r', "k:l", 3}, {'t', "k:l", 100}, {'i', "k:l", 5}};
    struct lgw_memlog_usage use[3];
    int64_t retry;
    assert_int_equal(lgw_memlog_admit(ml, lim, 3, 1, 60, 10 * SEC, 0, use, &retry), -1);
    assert_int_equal(use[0].used, 1);
    assert_int_equal(use[1].used, 60);
    assert_int_equal(use[2].used, 1);
    assert_int_equal(lgw_memlog_admit(ml, lim, 3, 2, 60, 10 * SEC, SEC, use, &retry), 1); /* 120 > 100 tokens */
    assert_int_equal(use[0].used, 1);
    lgw_memlog_finish(ml, lim, 3, 1, 10);
    assert_int_equal(lgw_memlog_admit(ml, lim, 3, 2, 60, 10 * SEC, SEC, use, &retry), -1);
    assert_int_equal(use[0].used, 2);
    assert_int_equal(use[1].used, 70);
    assert_int_equal(use[2].used, 1); /* 1's hold ended */
    lgw_memlog_free(ml);
}

static void test_memlog_inflight(void **state)
{
    (void)state;
    struct lgw_memlog *ml = lgw_memlog_new(60 * SEC, 16);
    struct lgw_memlog_limit lim[2] = {{'i', "i", 2}, {'r', "r", 100}};
    struct lgw_memlog_usage use[2];
    int64_t retry;
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 1, 0, 10 * SEC, 0, use, &retry), -1);
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 2, 0, 10 * SEC, 0, use, &retry), -1);
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 3, 0, 10 * SEC, 0, use, &retry), 0);
    assert_int_equal(use[1].used, 2); /* a refusal adds to no limit */
    lgw_memlog_finish(ml, lim, 2, 1, -1);
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 3, 0, 10 * SEC, 0, use, &retry), -1);
    /* A hold that is never released expires at its end. */
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 4, 0, 10 * SEC, SEC, use, &retry), 0);
    assert_int_equal(lgw_memlog_admit(ml, lim, 2, 4, 0, 10 * SEC, 11 * SEC, use, &retry), -1);
    lgw_memlog_free(ml);
}

static void test_memlog_bounded(void **state)
{
    (void)state;
    struct lgw_memlog *ml = lgw_memlog_new(SEC, 4);
    struct lgw_memlog_usage use;
    int64_t retry;
    char key[16];
    for (int i = 0; i < 100; i++) { /* keys whose entries left the window are dropped to make room */
        snprintf(key, sizeof(key), "u%d", i);
        struct lgw_memlog_limit lim = {'r', key, 1};
        assert_int_equal(lgw_memlog_admit(ml, &lim, 1, (uint64_t)i, 0, 0, i * 2 * SEC, &use, &retry), -1);
    }
    lgw_memlog_free(ml);
}

static void test_format_reset(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want;
    } cases[] = {{0, "0s"},         {17, "17ms"},        {999, "999ms"},     {1000, "1s"},
                 {1500, "1.5s"},    {8640, "8.64s"},     {59999, "59.999s"}, {60000, "1m0s"},
                 {360000, "6m0s"},  {90500, "1m30.5s"},  {3600000, "1h0m0s"}, {3723000, "1h2m3s"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        lgw_limits_format_reset(cases[i].ms, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%lld ms: got \"%s\", want \"%s\"", (long long)cases[i].ms, out, cases[i].want);
    }
}

static struct lgw_limits *limits_from(struct lgw_config *cfg, const char *tenants_json, struct lgw_redis *redis,
                                      int expect_rc, struct lgw_buf *errs)
{
    json_error_t jerr;
    cfg->tenants = tenants_json ? json_loads(tenants_json, 0, &jerr) : NULL;
    if (tenants_json)
        assert_non_null(cfg->tenants);
    struct lgw_limits *l = NULL;
    int rc = lgw_limits_new(cfg, redis, NULL, &l, errs);
    if (rc != expect_rc)
        fail_msg("lgw_limits_new: rc %d, want %d: %s", rc, expect_rc, errs->ptr ? errs->ptr : "");
    return l;
}

static void test_config(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    /* Nothing configured: no limit applies, and no headers. */
    struct lgw_limits *l = limits_from(&cfg, NULL, NULL, 0, &errs);
    assert_false(lgw_limits_enabled(l));
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    char msg[256];
    struct lgw_limits_request rq = {.id = "a", .tenant = "acme", .user = "bob", .model = "gpt-4o", .tokens = 10};
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    assert_false(st.has_requests || st.has_tokens || t.held);
    lgw_limits_free(l);

    l = limits_from(&cfg,
                    "{\"acme\": {\"rpm\": 600, \"tpm\": 200000, \"inflight\": 50, \"user\": {\"rpm\": 2},"
                    " \"models\": {\"gpt-4o\": {\"tpm\": 50}}, \"cache_ttl_s\": 5}}",
                    NULL, 0, &errs);
    assert_true(lgw_limits_enabled(l));
    /* acme/bob on gpt-4o: the most restrictive of each kind is in the headers (user rpm 2, model tpm 50). */
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    assert_true(st.has_requests && st.has_tokens && t.held);
    assert_int_equal(st.req_limit, 2);
    assert_int_equal(st.req_remaining, 1);
    assert_int_equal(st.tok_limit, 50);
    assert_int_equal(st.tok_remaining, 40);
    lgw_limits_finish(l, &t, 5);
    rq.id = "b";
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    assert_int_equal(st.tok_remaining, 35); /* corrected to 5, plus 10 */
    lgw_limits_finish(l, &t, -1);
    rq.id = "c";
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), LGW_ERR(RATE_LIMITED));
    assert_non_null(strstr(msg, "user"));
    assert_true(st.retry_after_ms > 0);
    assert_false(t.held);
    /* Another tenant falls back to the defaults: none. */
    rq.tenant = "other";
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    assert_false(st.has_requests);
    lgw_limits_free(l);
    json_decref(cfg.tenants);

    /* Errors: every one reported. */
    lgw_buf_reset(&errs);
    l = limits_from(&cfg, "{\"acme\": {\"rpm\": -1, \"user\": {\"rmp\": 3}, \"models\": {\"m\": {\"tpm\": \"x\"}}},"
                          " \"bad name\": {}}",
                    NULL, LGW_ERR(CONFIG), &errs);
    assert_null(l);
    assert_non_null(strstr(errs.ptr, "acme.rpm"));
    assert_non_null(strstr(errs.ptr, "\"rmp\""));
    assert_non_null(strstr(errs.ptr, "acme.models.m.tpm"));
    assert_non_null(strstr(errs.ptr, "bad name"));
    json_decref(cfg.tenants);
    lgw_buf_cleanup(&errs);
}

static void test_defaults_from_env_rows(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.limit_tenant_rpm = 3;
    cfg.limit_user_tpm = 100;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_limits *l = limits_from(&cfg, NULL, NULL, 0, &errs);
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    char msg[256], id[8];
    int ok = 0;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        struct lgw_limits_request rq = {.id = id, .tenant = "acme", .tokens = 1};
        if (lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)) == 0) {
            ok++;
            lgw_limits_finish(l, &t, -1); /* the request counted stays counted */
        }
    }
    assert_int_equal(ok, 3);
    assert_false(st.has_tokens); /* no user: the user's token limit does not apply */
    struct lgw_limits_request big = {.id = "big", .tenant = "t2", .user = "u", .tokens = 101};
    assert_int_equal(lgw_limits_admit(l, &big, &t, &st, msg, sizeof(msg)), LGW_ERR(TOKENS_RATE_LIMITED));
    lgw_limits_free(l);
    lgw_buf_cleanup(&errs);
}

/* Two limiters (two ingress instances) on one Redis share one limit exactly. */
static void test_redis_shared(void **state)
{
    (void)state;
    const char *hp = lgw_test_service("LLMGW_TEST_REDIS");
    char url[256], tenant[32];
    snprintf(url, sizeof(url), "redis://%s", hp);
    snprintf(tenant, sizeof(tenant), "t%d", (int)getpid()); /* fresh keys on a shared server */
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.limit_tenant_rpm = 100;
    cfg.limit_tenant_tpm = 1000000;
    cfg.limit_tenant_inflight = 1000;
    struct lgw_redis *r1, *r2;
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 1};
    assert_int_equal(lgw_redis_new(&opt, &r1), 0);
    assert_int_equal(lgw_redis_new(&opt, &r2), 0);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_limits *l1 = limits_from(&cfg, NULL, r1, 0, &errs), *l2 = limits_from(&cfg, NULL, r2, 0, &errs);
    int ok = 0;
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    char msg[256], id[16];
    for (int i = 0; i < 300; i++) {
        snprintf(id, sizeof(id), "req%d", i);
        struct lgw_limits_request rq = {.id = id, .tenant = tenant, .tokens = 7, .hold_ms = 10000};
        if (lgw_limits_admit(i % 2 ? l1 : l2, &rq, &t, &st, msg, sizeof(msg)) == 0) {
            ok++;
            assert_false(t.local);
            lgw_limits_finish(i % 2 ? l1 : l2, &t, 3);
        }
    }
    assert_int_equal(ok, 100);
    assert_int_equal(st.req_remaining, 0);
    assert_true(st.retry_after_ms > 0 && st.retry_after_ms <= 60000);
    assert_false(lgw_limits_is_local(l1));
    /* Tokens were corrected to 3 each by finish: the sum in Redis says 300. */
    char key[128];
    snprintf(key, sizeof(key), "%s:rl:{%s}:l:s", cfg.topic_prefix, tenant);
    redisReply *reply;
    assert_int_equal(lgw_redis_command(r1, 2, (const char *[]){"GET", key}, NULL, &reply), 0);
    assert_string_equal(reply->str, "300");
    freeReplyObject(reply);
    lgw_limits_free(l1);
    lgw_limits_free(l2);
    lgw_redis_free(r1);
    lgw_redis_free(r2);
    lgw_buf_cleanup(&errs);
}

/* Token entries leave the window in Redis too (the script's expiry path subtracts their tokens). */
static void test_redis_tokens_slide(void **state)
{
    (void)state;
    const char *hp = lgw_test_service("LLMGW_TEST_REDIS");
    char url[256], tenant[32];
    snprintf(url, sizeof(url), "redis://%s", hp);
    snprintf(tenant, sizeof(tenant), "s%d", (int)getpid());
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.limit_tenant_tpm = 100;
    cfg.limit_window_ms = 300;
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = url, .timeout_ms = 1000, .connect_timeout_ms = 1000, .pool = 1};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_limits *l = limits_from(&cfg, NULL, r, 0, &errs);
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    char msg[256];
    struct lgw_limits_request a = {.id = "a", .tenant = tenant, .tokens = 60};
    struct lgw_limits_request b = {.id = "b", .tenant = tenant, .tokens = 60};
    struct lgw_limits_ticket ta;
    assert_int_equal(lgw_limits_admit(l, &a, &ta, &st, msg, sizeof(msg)), 0);
    assert_int_equal(lgw_limits_admit(l, &b, &t, &st, msg, sizeof(msg)), LGW_ERR(TOKENS_RATE_LIMITED));
    assert_true(st.retry_after_ms > 0 && st.retry_after_ms <= 300);
    usleep(350000); /* a's entry leaves the window */
    assert_int_equal(lgw_limits_admit(l, &b, &t, &st, msg, sizeof(msg)), 0);
    assert_int_equal(st.tok_remaining, 40); /* only b's 60 in the window */
    assert_false(t.local);
    lgw_limits_finish(l, &ta, -1);
    lgw_limits_finish(l, &t, -1);
    lgw_limits_free(l);
    lgw_redis_free(r);
    lgw_buf_cleanup(&errs);
}

/* Redis unreachable: decided in memory at once, with the metric showing it; open and closed as configured. */
static void test_redis_down(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.limit_tenant_rpm = 2;
    struct lgw_redis *r;
    struct lgw_redis_options opt = {.url = "redis://127.0.0.1:1", .timeout_ms = 5, .connect_timeout_ms = 50};
    assert_int_equal(lgw_redis_new(&opt, &r), 0);
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_limits *l = NULL;
    assert_int_equal(lgw_limits_new(&cfg, r, m, &l, &errs), 0);
    struct lgw_limits_ticket t;
    struct lgw_limits_state st;
    char msg[256];
    struct lgw_limits_request rq = {.id = "a", .tenant = "acme"};
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    assert_true(t.local);
    assert_true(lgw_limits_is_local(l));
    assert_int_equal(lgw_metrics_value(m, "llmgw_limits_local", NULL), 1);
    lgw_limits_finish(l, &t, -1); /* the request counted stays counted */
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    lgw_limits_finish(l, &t, -1);
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), LGW_ERR(RATE_LIMITED));
    assert_int_equal(lgw_metrics_value(m, "llmgw_limits_fallback_total", NULL), 3);
    lgw_limits_free(l);
    lgw_strlcpy(cfg.limit_redis_down, "closed", sizeof(cfg.limit_redis_down));
    assert_int_equal(lgw_limits_new(&cfg, r, m, &l, &errs), 0);
    assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), LGW_ERR(UNAVAILABLE));
    lgw_limits_free(l);
    lgw_strlcpy(cfg.limit_redis_down, "open", sizeof(cfg.limit_redis_down));
    assert_int_equal(lgw_limits_new(&cfg, r, m, &l, &errs), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(lgw_limits_admit(l, &rq, &t, &st, msg, sizeof(msg)), 0);
    lgw_limits_free(l);
    lgw_redis_free(r);
    lgw_metrics_free(m);
    lgw_buf_cleanup(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memlog_requests), cmocka_unit_test(test_memlog_tokens),
        cmocka_unit_test(test_memlog_kinds_share_a_name), cmocka_unit_test(test_memlog_inflight),
        cmocka_unit_test(test_memlog_bounded),
        cmocka_unit_test(test_format_reset),    cmocka_unit_test(test_config),
        cmocka_unit_test(test_defaults_from_env_rows), cmocka_unit_test(test_redis_shared),
        cmocka_unit_test(test_redis_tokens_slide), cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

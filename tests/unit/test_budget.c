/* test_budget.c - USD budgets: exact amounts, UTC periods and their resets (month and year ends included),
 * the spend record, the spend view (largest total wins, old periods dropped), the config object, and the
 * admission check: refusal with the reset, the warning, keys apart from their tenant, the runtime setter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/errors.h"
#include "limits/budget.h"
#include "limits/spend.h"

#define NANO 1000000000LL
/* 2026-12-02T15:30:00Z */
#define NOW 1796225400000LL

static void test_parse_usd(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t nusd;
    } good[] = {{"5", 5 * NANO},
                {"5.00", 5 * NANO},
                {"0.000000001", 1},
                {"100", 100 * NANO},
                {"0", 0},
                {"12.5", 12500000000LL},
                {"0.1", 100000000},
                {"9223372029.999999999", 9223372029999999999LL}, /* the largest whole dollars accepted */
                {"007.10", 7100000000LL}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t v = -1;
        if (lgw_budget_parse_usd(good[i].text, strlen(good[i].text), &v) != 0 || v != good[i].nusd)
            fail_msg("\"%s\": want %lld, have %lld", good[i].text, (long long)good[i].nusd, (long long)v);
    }
    static const char *const bad[] = {"",     "-1",     "+1",  "1.",   ".5", "1.0000000001", "1e3",
                                      " 1",   "1 ",     "1,5", "$1",   "1.2.3", "99999999999", "9223372036.9",
                                      "abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 0;
        if (lgw_budget_parse_usd(bad[i], strlen(bad[i]), &v) != LGW_ERR(INVALID))
            fail_msg("\"%s\" was accepted as %lld", bad[i], (long long)v);
    }
}

static void test_format_usd(void **state)
{
    (void)state;
    char out[32];
    lgw_budget_format_usd(5 * NANO, out, sizeof(out));
    assert_string_equal(out, "5.00");
    lgw_budget_format_usd(125000000, out, sizeof(out));
    assert_string_equal(out, "0.125");
    lgw_budget_format_usd(1, out, sizeof(out));
    assert_string_equal(out, "0.000000001");
    lgw_budget_format_usd(1234 * NANO + 500000000, out, sizeof(out));
    assert_string_equal(out, "1234.50");
}

static void test_periods(void **state)
{
    (void)state;
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(NOW, day);
    lgw_spend_month(NOW, month);
    assert_string_equal(day, "day:2026-12-02");
    assert_string_equal(month, "month:2026-12");
    assert_int_equal(lgw_spend_day_end_ms(NOW), 1796256000000LL);   /* 2026-12-03T00:00:00Z */
    assert_int_equal(lgw_spend_month_end_ms(NOW), 1798761600000LL); /* 2027-01-01T00:00:00Z */
    /* The last millisecond of a year and the first of the next. */
    int64_t ny = 1798761600000LL;
    lgw_spend_day(ny - 1, day);
    lgw_spend_month(ny - 1, month);
    assert_string_equal(day, "day:2026-12-31");
    assert_string_equal(month, "month:2026-12");
    assert_int_equal(lgw_spend_day_end_ms(ny - 1), ny);
    assert_int_equal(lgw_spend_month_end_ms(ny - 1), ny);
    lgw_spend_day(ny, day);
    lgw_spend_month(ny, month);
    assert_string_equal(day, "day:2027-01-01");
    assert_string_equal(month, "month:2027-01");
    assert_int_equal(lgw_spend_day_end_ms(ny), ny + 86400000LL);
    assert_int_equal(lgw_spend_month_end_ms(ny), 1801440000000LL); /* 2027-02-01 */
    /* February of a leap year ends on the 29th. */
    int64_t feb28 = 1835308800000LL; /* 2028-02-28T00:00:00Z */
    lgw_spend_day(lgw_spend_day_end_ms(feb28), day);
    assert_string_equal(day, "day:2028-02-29");
    assert_int_equal(lgw_spend_month_end_ms(feb28), 1835481600000LL); /* 2028-03-01 */
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct lgw_spend_record rec = {.spend_nusd = 9000000000000000000LL, .ts_ms = NOW}, back;
    lgw_spend_scope_key("key_ba7816bf8f01", rec.scope);
    lgw_strlcpy(rec.tenant, "acme", sizeof(rec.tenant));
    lgw_strlcpy(rec.key_id, "key_ba7816bf8f01", sizeof(rec.key_id));
    lgw_spend_day(NOW, rec.period);
    char key[LGW_SPEND_KEY_MAX], why[128];
    lgw_spend_record_key(&rec, key);
    assert_string_equal(key, "key:key_ba7816bf8f01|day:2026-12-02");
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_spend_record_encode(&rec, &buf), 0);
    assert_int_equal(lgw_spend_record_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.scope, rec.scope);
    assert_string_equal(back.tenant, "acme");
    assert_string_equal(back.key_id, rec.key_id);
    assert_string_equal(back.period, rec.period);
    assert_int_equal(back.spend_nusd, rec.spend_nusd);
    assert_int_equal(back.ts_ms, NOW);
    lgw_buf_cleanup(&buf);

    static const char *const bad[] = {
        "{\"v\":3,\"scope\":\"tenant:a\",\"tenant\":\"a\",\"period\":\"day:2026-12-02\",\"spend_nusd\":1}",
        "{\"v\":1,\"scope\":\"tenant:b\",\"tenant\":\"a\",\"period\":\"day:2026-12-02\",\"spend_nusd\":1}",
        "{\"v\":1,\"scope\":\"key:k\",\"tenant\":\"a\",\"key_id\":\"j\",\"period\":\"day:2026-12-02\","
        "\"spend_nusd\":1}",
        "{\"v\":1,\"scope\":\"tenant:a\",\"tenant\":\"a\",\"period\":\"week:2026-48\",\"spend_nusd\":1}",
        "{\"v\":1,\"scope\":\"tenant:a\",\"tenant\":\"a\",\"period\":\"day:2026-12-2\",\"spend_nusd\":1}",
        "{\"v\":1,\"scope\":\"tenant:a\",\"tenant\":\"a\",\"period\":\"day:2026-12-02\",\"spend_nusd\":-1}",
        "{\"v\":1,\"scope\":\"tenant:a\",\"tenant\":\"a\",\"period\":\"day:2026-12-02\",\"spend_nusd\":1.5}",
        "[1]",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lgw_spend_record_decode(bad[i], strlen(bad[i]), &back, why, sizeof(why)) != LGW_ERR(INVALID))
            fail_msg("accepted: %s", bad[i]);
}

/* Feeds the view one record as the topic would carry it. */
static void feed(struct lgw_spend *s, const char *tenant, const char *key_id, const char *period, int64_t nusd)
{
    struct lgw_spend_record rec = {.spend_nusd = nusd, .ts_ms = NOW};
    lgw_strlcpy(rec.tenant, tenant, sizeof(rec.tenant));
    if (key_id) {
        lgw_strlcpy(rec.key_id, key_id, sizeof(rec.key_id));
        lgw_spend_scope_key(key_id, rec.scope);
    } else
        lgw_spend_scope_tenant(tenant, rec.scope);
    lgw_strlcpy(rec.period, period, sizeof(rec.period));
    char key[LGW_SPEND_KEY_MAX];
    lgw_spend_record_key(&rec, key);
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_spend_record_encode(&rec, &buf), 0);
    lgw_spend_apply(s, key, strlen(key), buf.ptr, buf.len);
    lgw_buf_cleanup(&buf);
}

static void periods_of(int64_t ms, char day[LGW_SPEND_PERIOD_MAX], char month[LGW_SPEND_PERIOD_MAX])
{
    lgw_spend_day(ms, day);
    lgw_spend_month(ms, month);
}

static void test_view_keeps_max(void **state)
{
    (void)state;
    struct lgw_spend *s = lgw_spend_new();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    periods_of(lgw_wall_ms(), day, month);
    assert_int_equal(lgw_spend_get(s, "tenant:acme", day), 0);
    feed(s, "acme", NULL, day, 300);
    feed(s, "acme", NULL, day, 500);
    feed(s, "acme", NULL, day, 400); /* older, arriving late: must not lower the total */
    assert_int_equal(lgw_spend_get(s, "tenant:acme", day), 500);
    feed(s, "acme", "key_0123456789ab", month, 70);
    assert_int_equal(lgw_spend_get(s, "key:key_0123456789ab", month), 70);
    assert_int_equal(lgw_spend_get(s, "tenant:acme", month), 0);
    /* A record under a key that is not its scope and period, and a tombstone, change nothing. */
    const char *v =
        "{\"v\":1,\"scope\":\"tenant:acme\",\"tenant\":\"acme\",\"period\":\"day:2026-12-02\",\"spend_nusd\":9}";
    lgw_spend_apply(s, "tenant:beta|day:2026-12-02", 26, v, strlen(v));
    lgw_spend_apply(s, "tenant:acme|day:2026-12-02", 26, NULL, 0);
    assert_int_equal(lgw_spend_get(s, "tenant:beta", "day:2026-12-02"), 0);
    assert_int_equal(lgw_spend_count(s), 2);
    /* History replayed from the topic is not kept: a day long gone, a month long gone. */
    feed(s, "acme", NULL, "day:2020-01-01", 5);
    feed(s, "acme", NULL, "month:2020-01", 5);
    assert_int_equal(lgw_spend_count(s), 2);
    /* Two days later today's totals are history: pruned. */
    lgw_spend_prune(s, lgw_wall_ms() + 2 * 86400000LL);
    assert_int_equal(lgw_spend_get(s, "tenant:acme", day), 0);
    assert_true(lgw_spend_caught_up(s)); /* no reader: fed by hand */
    lgw_spend_free(s);
}

/* Budgets from a config "tenants" object (NULL: none). errs receives the problems. */
static int make(const char *tenants_json, struct lgw_spend *s, struct lgw_budgets **b, struct lgw_buf *errs)
{
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    if (tenants_json) {
        json_error_t jerr;
        cfg.tenants = json_loads(tenants_json, 0, &jerr);
        assert_non_null(cfg.tenants);
    }
    int rc = lgw_budgets_new(&cfg, s, NULL, b, errs);
    lgw_config_cleanup(&cfg);
    return rc;
}

static void test_config(void **state)
{
    (void)state;
    struct lgw_spend *s = lgw_spend_new();
    struct lgw_budgets *b;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    /* Amounts as strings and numbers; other members of a tenant's or a key's object are left alone. */
    assert_int_equal(make("{\"acme\": {\"rpm\": 5, \"allow_models\": [\"x\"], \"budget\": {\"day_usd\": \"5.00\","
                          " \"month_usd\": 100}, \"keys\": {\"key_ba7816bf8f01\": {\"name\": \"ci\", \"expires\": 1,"
                          " \"budget\": {\"day_usd\": 1.25}}, \"key_000000000000\": {\"name\": \"other\"}}},"
                          " \"beta\": {\"rpm\": 1}}",
                          s, &b, &errs),
                     0);
    int64_t day, month;
    assert_true(lgw_budgets_get(b, "acme", NULL, &day, &month));
    assert_int_equal(day, 5 * NANO);
    assert_int_equal(month, 100 * NANO);
    assert_true(lgw_budgets_get(b, "acme", "key_ba7816bf8f01", &day, &month));
    assert_int_equal(day, 1250000000);
    assert_int_equal(month, LGW_BUDGET_NONE);
    assert_false(lgw_budgets_get(b, "acme", "key_000000000000", &day, &month));
    assert_false(lgw_budgets_get(b, "beta", NULL, &day, &month));
    lgw_budgets_free(b);

    /* Inside "budget" everything is checked, and every problem is reported at once. */
    lgw_buf_cleanup(&errs);
    lgw_buf_init(&errs, 0);
    assert_int_equal(make("{\"acme\": {\"budget\": {\"day_usd\": \"1.0000000001\", \"weekly_usd\": 1}},"
                          " \"beta\": {\"budget\": {\"month_usd\": -3}},"
                          " \"gamma\": {\"budget\": 5},"
                          " \"delta\": {\"keys\": {\"key_ba7816bf8f01\": {\"budget\": {\"day_usd\": true}}}}}",
                          s, &b, &errs),
                     LGW_ERR(CONFIG));
    assert_null(b);
    const char *text = errs.ptr;
    assert_non_null(strstr(text, "acme.budget.day_usd"));
    assert_non_null(strstr(text, "unknown field \"weekly_usd\""));
    assert_non_null(strstr(text, "beta.budget.month_usd"));
    assert_non_null(strstr(text, "gamma.budget must be an object"));
    assert_non_null(strstr(text, "delta.keys.key_ba7816bf8f01.budget.day_usd"));
    lgw_buf_cleanup(&errs);
    lgw_spend_free(s);
}

static void test_refusal_and_reset(void **state)
{
    (void)state;
    struct lgw_spend *s = lgw_spend_new();
    struct lgw_budgets *b;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(make("{\"acme\": {\"budget\": {\"day_usd\": \"5.00\", \"month_usd\": \"100\"}}}", s, &b, &errs),
                     0);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX], yday[LGW_SPEND_PERIOD_MAX], msg[256];
    periods_of(now, day, month);
    lgw_spend_day(now - 86400000LL, yday);
    struct lgw_budget_verdict v;

    /* Yesterday's spend, however large, does not count today: a new UTC day resets the daily budget. */
    feed(s, "acme", NULL, yday, 50 * NANO);
    assert_int_equal(lgw_budgets_check(b, "acme", "", now, &v, msg, sizeof(msg)), 0);
    assert_string_equal(v.warning, "");

    /* Below the warning threshold: nothing said. At 80% and above: warned, with the whole percent. */
    feed(s, "acme", NULL, day, 3999999999LL);
    assert_int_equal(lgw_budgets_check(b, "acme", "", now, &v, msg, sizeof(msg)), 0);
    assert_string_equal(v.warning, "");
    feed(s, "acme", NULL, day, 4150000000LL);
    assert_int_equal(lgw_budgets_check(b, "acme", "", now, &v, msg, sizeof(msg)), 0);
    assert_string_equal(v.warning, "tenant day 83%");
    assert_int_equal(v.retry_after_ms, 0);

    /* Spend reaching the budget: refused until the next UTC midnight. */
    feed(s, "acme", NULL, day, 5 * NANO);
    assert_int_equal(lgw_budgets_check(b, "acme", "", now, &v, msg, sizeof(msg)), LGW_ERR(QUOTA));
    assert_int_equal(v.retry_after_ms, lgw_spend_day_end_ms(now) - now);
    char want[256], at[32];
    time_t t = (time_t)(lgw_spend_day_end_ms(now) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(want, sizeof(want), "The daily budget of tenant acme ($5.00) is spent; it resets at %s.", at);
    assert_string_equal(msg, want);
    /* Another tenant is untouched. */
    assert_int_equal(lgw_budgets_check(b, "beta", "", now, &v, msg, sizeof(msg)), 0);
    /* The next day (same month) admits again. */
    int64_t tomorrow = lgw_spend_day_end_ms(now);
    if (lgw_spend_month_end_ms(now) != tomorrow)
        assert_int_equal(lgw_budgets_check(b, "acme", "", tomorrow, &v, msg, sizeof(msg)), 0);

    /* Month and day both spent: the client waits for the later reset, and the message names the month. */
    feed(s, "acme", NULL, month, 100 * NANO);
    assert_int_equal(lgw_budgets_check(b, "acme", "", now, &v, msg, sizeof(msg)), LGW_ERR(QUOTA));
    assert_int_equal(v.retry_after_ms, lgw_spend_month_end_ms(now) - now);
    assert_non_null(strstr(msg, "The monthly budget of tenant acme ($100.00) is spent"));
    lgw_budgets_free(b);
    lgw_buf_cleanup(&errs);
    lgw_spend_free(s);
}

static void test_keys_and_setter(void **state)
{
    (void)state;
    struct lgw_spend *s = lgw_spend_new();
    struct lgw_budgets *b;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(make("{\"acme\": {\"keys\": {\"key_aaaaaaaaaaaa\": {\"budget\": {\"day_usd\": \"1\"}}}}}", s, &b,
                          &errs),
                     0);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX], msg[256];
    periods_of(now, day, month);
    struct lgw_budget_verdict v;
    feed(s, "acme", "key_aaaaaaaaaaaa", day, NANO);
    feed(s, "acme", NULL, day, NANO);
    /* The key with the spent budget is refused; the tenant's other key and keyless calls are not. */
    assert_int_equal(lgw_budgets_check(b, "acme", "key_aaaaaaaaaaaa", now, &v, msg, sizeof(msg)), LGW_ERR(QUOTA));
    assert_non_null(strstr(msg, "The daily budget of key key_aaaaaaaaaaaa ($1.00) is spent"));
    assert_int_equal(lgw_budgets_check(b, "acme", "key_bbbbbbbbbbbb", now, &v, msg, sizeof(msg)), 0);
    assert_int_equal(lgw_budgets_check(b, "acme", NULL, now, &v, msg, sizeof(msg)), 0);

    /* At runtime: a tenant budget stops every key of the tenant; a key's warning names the key. */
    feed(s, "acme", NULL, month, NANO);
    assert_int_equal(lgw_budgets_set(b, "acme", NULL, LGW_BUDGET_NONE, NANO), 0);
    assert_int_equal(lgw_budgets_check(b, "acme", "key_bbbbbbbbbbbb", now, &v, msg, sizeof(msg)), LGW_ERR(QUOTA));
    assert_non_null(strstr(msg, "monthly budget of tenant acme"));
    assert_int_equal(lgw_budgets_set(b, "acme", NULL, LGW_BUDGET_NONE, 10 * NANO), 0); /* raised: admitted */
    assert_int_equal(lgw_budgets_check(b, "acme", "key_bbbbbbbbbbbb", now, &v, msg, sizeof(msg)), 0);
    assert_int_equal(lgw_budgets_set(b, "acme", "key_bbbbbbbbbbbb", 2 * NANO, LGW_BUDGET_NONE), 0);
    feed(s, "acme", "key_bbbbbbbbbbbb", day, 19 * NANO / 10);
    assert_int_equal(lgw_budgets_check(b, "acme", "key_bbbbbbbbbbbb", now, &v, msg, sizeof(msg)), 0);
    assert_string_equal(v.warning, "key day 95%");
    /* Removing a budget admits again; 0 is a budget that admits nothing. */
    assert_int_equal(lgw_budgets_set(b, "acme", "key_aaaaaaaaaaaa", LGW_BUDGET_NONE, LGW_BUDGET_NONE), 0);
    assert_int_equal(lgw_budgets_check(b, "acme", "key_aaaaaaaaaaaa", now, &v, msg, sizeof(msg)), 0);
    assert_int_equal(lgw_budgets_set(b, "zeta", NULL, 0, LGW_BUDGET_NONE), 0);
    assert_int_equal(lgw_budgets_check(b, "zeta", NULL, now, &v, msg, sizeof(msg)), LGW_ERR(QUOTA));
    assert_int_equal(lgw_budgets_set(b, "", NULL, 1, 1), LGW_ERR(INVALID));
    lgw_budgets_free(b);
    lgw_buf_cleanup(&errs);
    lgw_spend_free(s);
}

/* A restarted ingress whose reader has not replayed the spend topic (here: no broker at all) does not admit
 * a budgeted tenant blind; tenants without a budget are not held up. */
static void test_not_caught_up(void **state)
{
    (void)state;
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    lgw_strlcpy(cfg.kafka_brokers, "127.0.0.1:1", sizeof(cfg.kafka_brokers));
    struct lgw_spend *s = lgw_spend_new();
    assert_int_equal(lgw_spend_start(s, &cfg, "test"), 0);
    struct lgw_budgets *b;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    assert_int_equal(make("{\"acme\": {\"budget\": {\"month_usd\": \"100\"}}}", s, &b, &errs), 0);
    struct lgw_budget_verdict v;
    char msg[256];
    assert_false(lgw_spend_caught_up(s));
    assert_int_equal(lgw_budgets_check(b, "acme", NULL, lgw_wall_ms(), &v, msg, sizeof(msg)), LGW_ERR(UNAVAILABLE));
    assert_int_equal(lgw_budgets_check(b, "beta", NULL, lgw_wall_ms(), &v, msg, sizeof(msg)), 0);
    lgw_budgets_free(b);
    lgw_spend_free(s);
    lgw_buf_cleanup(&errs);
    lgw_config_cleanup(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_usd),          cmocka_unit_test(test_format_usd),
        cmocka_unit_test(test_periods),            cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_view_keeps_max),     cmocka_unit_test(test_config),
        cmocka_unit_test(test_refusal_and_reset),  cmocka_unit_test(test_keys_and_setter),
        cmocka_unit_test(test_not_caught_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

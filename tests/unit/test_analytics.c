/* test_analytics.c - the analytics API's pieces: time parsing and buckets, the cursor, CSV quoting, money and
 * ratio formats, query parsing with tenancy, the statements (bound values only), and whole calls served on
 * SQLite and PostgreSQL over the same rows, nearest-rank percentiles included. PostgreSQL cases run when
 * LLMGW_TEST_PG_URL names a server (each in a schema of its own), and are skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "analytics/db.h"
#include "analytics/format.h"
#include "analytics/query.h"
#include "analytics/render.h"
#include "analytics/sql.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/envelope.h"
#include "common/metrics.h"
#include "common/errors.h"
#include "ledger/ledger_db.h"
#include "tests/support/db_fixture.h"

#define T0 1796083200000LL /* 2026-12-01T00:00:00Z */

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(lgw_an_time_parse("2026-12-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(lgw_an_time_parse("2026-12-01", &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(lgw_an_time_parse("2026-12-01T01:00:00+01:00", &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(lgw_an_time_parse("2026-11-30T19:30:00.250-04:30", &ms), 0);
    assert_int_equal(ms, T0 + 250);
    assert_int_equal(lgw_an_time_parse("2026-12-01t00:00:00.123456z", &ms), 0);
    assert_int_equal(ms, T0 + 123);
    assert_int_equal(lgw_an_time_parse("1796083200000", &ms), 0);
    assert_int_equal(ms, T0);
    assert_int_equal(lgw_an_time_parse("2024-02-29T00:00:00Z", &ms), 0);
    assert_int_equal(lgw_an_time_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    static const char *const bad[] = {"", "2026-12-01T00:00:00", "2025-02-29", "2026-13-01", "2026-12-01T24:00:00Z",
                                      "2026-12-01T00:00:60Z", "2026-12-01T00:00Z", "yesterday", "-5", "12.5",
                                      "2026-12-01T00:00:00Z ", "2026-12-01T00:00:00.Z", "1969-12-31T23:59:59Z",
                                      "2026-12-01T00:00:00+1:00", "9999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lgw_an_time_parse(bad[i], &ms) != LGW_ERR(INVALID))
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_time_format(void **state)
{
    (void)state;
    char out[32];
    lgw_an_time_format(T0, out, sizeof(out));
    assert_string_equal(out, "2026-12-01T00:00:00Z");
    lgw_an_time_format(T0 + 86400000LL + 13 * 3600000LL + 5 * 60000 + 7000 + 42, out, sizeof(out));
    assert_string_equal(out, "2026-12-02T13:05:07.042Z");
    lgw_an_day_format((T0 + 86400000LL) / 86400000LL, out, sizeof(out));
    assert_string_equal(out, "2026-12-02");
    lgw_an_hour_format((T0 + 86400000LL + 13 * 3600000LL) / 3600000LL, out, sizeof(out));
    assert_string_equal(out, "2026-12-02T13:00:00Z");
    lgw_an_minute_format((T0 + 86400000LL + 13 * 3600000LL + 5 * 60000 + 59999) / 60000, out, sizeof(out));
    assert_string_equal(out, "2026-12-02T13:05:00Z");
    lgw_an_minute_format(T0 / 60000 - 1, out, sizeof(out)); /* the minute before a day starts */
    assert_string_equal(out, "2026-11-30T23:59:00Z");
    lgw_an_day_format(11016, out, sizeof(out)); /* 2000-02-29, a leap day of a century year */
    assert_string_equal(out, "2000-02-29");
}

static void test_cursor(void **state)
{
    (void)state;
    char c[LGW_AN_CURSOR_MAX], id[LGW_AN_EVENT_ID_MAX];
    int64_t ts;
    const char *ids[] = {"a", "ab", "abc", "4db6bc12-7b9b-4293-b2e2-02b113ec99ba.2"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(lgw_an_cursor_encode(T0 + (int64_t)i, ids[i], c, sizeof(c)), 0);
        assert_null(strpbrk(c, "+/=")); /* base64url, no padding: safe in a query string */
        assert_int_equal(lgw_an_cursor_decode(c, &ts, id), 0);
        assert_int_equal(ts, T0 + (int64_t)i);
        assert_string_equal(id, ids[i]);
    }
    static const char *const bad[] = {"", "!!!!", "abc", "MTIz", /* "123": no colon */ "OjEyMw" /* ":123" */,
                                      "LTE6YQ" /* "-1:a" */, "MTc5NjA4MzIwMDAwMDo" /* no id */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (lgw_an_cursor_decode(bad[i], &ts, id) != LGW_ERR(INVALID))
            fail_msg("cursor '%s' was accepted", bad[i]);
    char longid[200];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_int_equal(lgw_an_cursor_encode(1, longid, c, sizeof(c)), LGW_ERR(INVALID));
}

static void test_csv_field(void **state)
{
    (void)state;
    struct lgw_buf b;
    lgw_buf_init(&b, 0);
    static const char *const in[] = {"plain", "a,b", "say \"hi\"", "line\r\nbreak", "lf\n", NULL, ""};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        lgw_an_csv_field(&b, in[i]);
        lgw_buf_puts(&b, "|");
    }
    assert_string_equal(b.ptr, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"line\r\nbreak\"|\"lf\n\"|||");
    lgw_buf_cleanup(&b);
}

static void test_money_and_ratio(void **state)
{
    (void)state;
    char out[40];
    lgw_an_usd_format(12345, out, sizeof(out));
    assert_string_equal(out, "0.000012345");
    lgw_an_usd_format(1500000000, out, sizeof(out));
    assert_string_equal(out, "1.500000000");
    lgw_an_usd_format(INT64_MAX, out, sizeof(out));
    assert_string_equal(out, "9223372036.854775807");
    lgw_an_ratio_format(1, 3, out, sizeof(out));
    assert_string_equal(out, "0.333333");
    lgw_an_ratio_format(2, 3, out, sizeof(out));
    assert_string_equal(out, "0.666667");
    lgw_an_ratio_format(5, 5, out, sizeof(out));
    assert_string_equal(out, "1.000000");
    lgw_an_ratio_format(0, 0, out, sizeof(out));
    assert_string_equal(out, "");
}

/* A call with the given "name=value" pairs and caller. */
struct test_call {
    struct lgw_http_call call;
    struct lgw_http_query_pair pairs[16];
    int status;
    char content_type[64];
    char *body;
};

static void done_cb(struct lgw_http_call *call, int status, const char *ct, char *body, size_t len)
{
    struct test_call *tc = (struct test_call *)call;
    (void)len;
    tc->status = status;
    lgw_strlcpy(tc->content_type, ct ? ct : "application/json", sizeof(tc->content_type));
    free(tc->body);
    tc->body = body;
}

static void make_call(struct test_call *tc, const char *path, const char *tenant, bool admin, const char *const *kv)
{
    memset(tc, 0, sizeof(*tc));
    tc->call.method = "GET";
    tc->call.path = path;
    tc->call.query = tc->pairs;
    tc->call.request_id = "test";
    tc->call.done = done_cb;
    lgw_strlcpy(tc->call.caller.tenant, tenant, sizeof(tc->call.caller.tenant));
    tc->call.caller.admin = admin;
    for (; kv && kv[0]; kv += 2) {
        tc->pairs[tc->call.nquery].name = (char *)kv[0];
        tc->pairs[tc->call.nquery].value = (char *)kv[1];
        tc->call.nquery++;
    }
}

static int parse(const char *tenant, bool admin, enum lgw_an_kind kind, const char *const *kv,
                 struct lgw_an_query *q, const char **param)
{
    struct test_call tc;
    make_call(&tc, "/v1/analytics/summary", tenant, admin, kv);
    char msg[256];
    static struct test_call keep; /* q points into the call's strings, which are static here */
    keep = tc;
    return lgw_an_query_parse(&keep.call, kind, T0 + 10 * 86400000LL, q, msg, sizeof(msg), param);
}

static void test_query_parse(void **state)
{
    (void)state;
    struct lgw_an_query q;
    const char *param;
    const char *g[] = {"group_by", "model,day", "group_by", "tenant", "group_by", "model", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, g, &q, &param), 0);
    assert_int_equal(q.ngroups, 3); /* model, day, tenant: a repeat adds nothing */
    assert_int_equal(q.groups[0], LGW_AN_G_MODEL);
    assert_int_equal(q.groups[1], LGW_AN_G_DAY);
    assert_int_equal(q.groups[2], LGW_AN_G_TENANT);
    assert_string_equal(q.filters[LGW_AN_F_TENANT], "acme"); /* a tenant key reads its own tenant */
    assert_int_equal(q.to_ms - q.from_ms, LGW_AN_DEFAULT_RANGE_MS);
    assert_int_equal(q.to_ms, T0 + 10 * 86400000LL);

    const char *bad_group[] = {"group_by", "model,colour", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, bad_group, &q, &param), LGW_ERR(INVALID));
    assert_string_equal(param, "group_by");
    const char *inj[] = {"group_by", "model;DROP TABLE cost_events", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, inj, &q, &param), LGW_ERR(INVALID));
    const char *order[] = {"from", "2026-12-02T00:00:00Z", "to", "2026-12-01T00:00:00Z", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, order, &q, &param), LGW_ERR(INVALID));
    const char *equal[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-01T00:00:00Z", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, equal, &q, &param), LGW_ERR(INVALID));
    const char *wide[] = {"from", "2025-01-01T00:00:00Z", "to", "2026-12-01T00:00:00Z", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, wide, &q, &param), LGW_ERR(INVALID));
    assert_string_equal(param, "to");
    const char *badtime[] = {"from", "last tuesday", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, badtime, &q, &param), LGW_ERR(INVALID));
    assert_string_equal(param, "from");
    const char *unknown[] = {"tenant_id", "x", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, unknown, &q, &param), LGW_ERR(INVALID));
    const char *other[] = {"tenant", "globex", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, other, &q, &param), LGW_ERR(FORBIDDEN));
    assert_int_equal(parse("acme", true, LGW_AN_SUMMARY, other, &q, &param), 0); /* an admin reads any */
    assert_string_equal(q.filters[LGW_AN_F_TENANT], "globex");
    assert_int_equal(parse("", true, LGW_AN_SUMMARY, NULL, &q, &param), 0);
    assert_null(q.filters[LGW_AN_F_TENANT]); /* an admin with no filter reads every tenant */

    const char *lim[] = {"limit", "1000", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_REQUESTS, lim, &q, &param), 0);
    assert_int_equal(q.limit, 1000);
    const char *lim_hi[] = {"limit", "1001", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_REQUESTS, lim_hi, &q, &param), LGW_ERR(INVALID));
    assert_string_equal(param, "limit");
    const char *lim_0[] = {"limit", "0", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_REQUESTS, lim_0, &q, &param), LGW_ERR(INVALID));
    const char *cur[] = {"cursor", "not-a-cursor", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_REQUESTS, cur, &q, &param), LGW_ERR(INVALID));
    assert_string_equal(param, "cursor");
    const char *gb_on_requests[] = {"group_by", "model", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_REQUESTS, gb_on_requests, &q, &param), LGW_ERR(INVALID));
}

static void test_sql_binds_values(void **state)
{
    (void)state;
    struct lgw_an_query q;
    const char *param;
    const char *kv[] = {"group_by", "user,hour", "model", "x' OR '1'='1", "status", "500", NULL};
    assert_int_equal(parse("acme", false, LGW_AN_SUMMARY, kv, &q, &param), 0);
    for (int pg = 0; pg < 2; pg++) {
        struct lgw_an_sql sql;
        lgw_an_sql_build(&q, pg, &sql);
        assert_null(strstr(sql.text.ptr, "OR '1'"));
        assert_null(strstr(sql.text.ptr, "acme"));
        assert_non_null(strstr(sql.text.ptr, pg ? "model = $" : "model = ?"));
        assert_non_null(strstr(sql.text.ptr, "ts_ms / 3600000"));
        assert_int_equal(sql.nparams, 5); /* from, to, tenant, model, status */
        assert_string_equal(sql.params[3].s, "x' OR '1'='1");
        lgw_an_sql_cleanup(&sql);
    }
}

/* ---- whole calls on a database ---- */

/* The database under a call (tests/support/db_fixture.h), holding the ledger's table as the ledger makes it. */
static int setup(void **state)
{
    if (lgw_test_db_setup(state, "analytics"))
        return -1;
    struct lgw_test_db *fx = *state;
    if (!fx->url[0])
        return 0;
    /* On PostgreSQL a schema of its own (the rows of this test only), as test_ledger_db.c does. */
    lgw_test_db_own_schema(fx, "ana_", NULL);
    struct lgw_ledger_db *db; /* the ledger makes the table, as in production */
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    lgw_ledger_db_close(db);
    return 0;
}

/* One ledger row; final: "TRUE", "FALSE" or "NULL" (an old row). */
static void row(struct lgw_buf *sql, const char *event_id, const char *request_id, const char *tenant,
                const char *model, int64_t ts, int64_t cost, const char *final, int status, const char *outcome,
                int64_t latency, int attempts, bool estimated, bool known, bool hit)
{
    lgw_buf_printf(sql,
                   "INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model, kind,"
                   " input_tokens, output_tokens, cached_input_tokens, cost_nusd, cost_known, latency_ms, status,"
                   " outcome, cache_hit, rerun, attempt, strategy, worker, ts_ms, route_attempts, final,"
                   " cost_estimated, cache_write_input_tokens, key_id) VALUES ('%s', '%s', '%s', 'u1', 'openai', '%s',"
                   " 'chat', 10, 5, 2, %lld, %s, %lld, %d, '%s', %s, FALSE, 1, 'cost', 'w', %lld, %d, %s, %s, 1,"
                   " NULL);",
                   event_id, request_id, tenant, model, (long long)cost, known ? "TRUE" : "FALSE", (long long)latency,
                   status, outcome, hit ? "TRUE" : "FALSE", (long long)ts, attempts, final,
                   estimated ? "TRUE" : "FALSE");
}

static json_t *serve(const struct lgw_test_db *fx, const char *path, const char *tenant, bool admin,
                     const char *const *kv, int want_status)
{
    struct lgw_an_db *db;
    assert_int_equal(lgw_an_db_open(fx->url, 5000, &db), 0);
    struct test_call tc;
    make_call(&tc, path, tenant, admin, kv);
    lgw_analytics_serve(db, NULL, &tc.call);
    lgw_an_db_close(db);
    if (tc.status != want_status)
        fail_msg("status %d, want %d: %s", tc.status, want_status, tc.body ? tc.body : "");
    json_error_t err;
    json_t *j = json_loads(tc.body, 0, &err);
    if (!j)
        fail_msg("not JSON: %s", tc.body);
    free(tc.body);
    return j;
}

static int64_t num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", k);
    return json_integer_value(v);
}

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s)
        fail_msg("%s is not a string", k);
    return s;
}

static void test_summary_figures(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_buf sql;
    lgw_buf_init(&sql, 0);
    /* r1: a billed timeout (non-final, estimated) then the answer after a fallback; r2: an old row (final
     * NULL) that was a cache hit; r3: a 500; r4: cancelled (499); r5: cost unknown; r6: another tenant. */
    row(&sql, "r1.1", "r1", "acme", "gpt", T0 + 1000, 700, "FALSE", 504, "error", 5000, 1, true, true, false);
    row(&sql, "r1", "r1", "acme", "gpt", T0 + 2000, 1300, "TRUE", 200, "ok", 100, 2, false, true, false);
    row(&sql, "r2", "r2", "acme", "gpt", T0 + 3600000, 0, "NULL", 200, "ok", 10, 0, false, true, true);
    row(&sql, "r3", "r3", "acme", "claude", T0 + 86400000, 0, "TRUE", 500, "error", 30, 1, false, true, false);
    row(&sql, "r4", "r4", "acme", "claude", T0 + 86400000, 55, "TRUE", 499, "cancelled", 40, 1, true, true, false);
    row(&sql, "r5", "r5", "acme", "claude", T0 + 86400001, 0, "TRUE", 200, "ok", 20, 1, false, false, false);
    row(&sql, "r6", "r6", "globex", "gpt", T0 + 5, 1000000000, "TRUE", 200, "ok", 1, 1, false, true, false);
    lgw_test_db_exec(fx, sql.ptr);
    lgw_buf_cleanup(&sql);

    const char *range[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-03T00:00:00Z", NULL};
    json_t *j = serve(fx, "/v1/analytics/summary", "acme", false, range, 200);
    json_t *d = json_array_get(json_object_get(j, "data"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 1);
    assert_int_equal(num(d, "requests"), 5);
    assert_int_equal(num(d, "attempts"), 5); /* final rows: 2 + 0 + 1 + 1 + 1 */
    assert_int_equal(num(d, "input_tokens"), 60);
    assert_string_equal(str(d, "cost_usd"), "0.000002055");
    assert_string_equal(str(d, "estimated_cost_usd"), "0.000000755");
    assert_int_equal(num(d, "unknown_cost_events"), 1);
    assert_int_equal(num(d, "final_events"), 5);
    assert_int_equal(num(d, "errors"), 1);
    assert_int_equal(num(d, "cancelled"), 1);
    assert_int_equal(num(d, "fallbacks"), 1);
    /* error_rate: 1 error of the 4 final requests that were not cancelled */
    assert_true(json_number_value(json_object_get(d, "error_rate")) == 0.25);
    assert_true(json_number_value(json_object_get(d, "cache_hit_rate")) == 0.2);
    json_t *lat = json_object_get(d, "latency_ms");
    assert_int_equal(num(lat, "avg"), 40); /* (100+10+30+40+20)/5; the non-final 5000 is not a request's */
    assert_int_equal(num(lat, "p50"), 30);
    assert_int_equal(num(lat, "p95"), 100);
    json_decref(j);

    const char *by_day[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-03T00:00:00Z", "group_by", "day,model",
                            NULL};
    j = serve(fx, "/v1/analytics/summary", "", true, by_day, 200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2); /* 12-01 gpt (acme and globex), 12-02 claude */
    assert_string_equal(str(json_array_get(data, 0), "day"), "2026-12-01");
    assert_string_equal(str(json_array_get(data, 0), "model"), "gpt");
    assert_string_equal(str(json_array_get(data, 0), "cost_usd"), "1.000002000");
    assert_string_equal(str(json_array_get(data, 1), "day"), "2026-12-02");
    json_decref(j);

    /* minute buckets (the dashboard's short ranges): r6, r1.1 and r1 in 00:00, r2 an hour later */
    const char *by_minute[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-01T02:00:00Z", "group_by", "minute",
                               NULL};
    j = serve(fx, "/v1/analytics/summary", "", true, by_minute, 200);
    data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(str(json_array_get(data, 0), "minute"), "2026-12-01T00:00:00Z");
    assert_int_equal(num(json_array_get(data, 0), "requests"), 2);
    assert_string_equal(str(json_array_get(data, 0), "cost_usd"), "1.000002000");
    assert_string_equal(str(json_array_get(data, 1), "minute"), "2026-12-01T01:00:00Z");
    assert_int_equal(num(json_array_get(data, 1), "requests"), 1);
    json_decref(j);

    const char *other[] = {"tenant", "globex", NULL};
    j = serve(fx, "/v1/analytics/summary", "acme", false, other, 403);
    assert_string_equal(str(json_object_get(j, "error"), "code"), "permission_denied");
    json_decref(j);
}

/* Nearest rank on the same rows, both databases: groups of 1..40 final latencies in shuffled order (and
 * non-final rows with huge latencies, which must not count). */
static void test_percentiles_nearest_rank(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_buf sql;
    lgw_buf_init(&sql, 0);
    unsigned seed = 12345;
    int64_t lat[40][40];
    for (int n = 1; n <= 40; n++) {
        char tenant[16], id[32];
        snprintf(tenant, sizeof(tenant), "t%02d", n);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            lat[n - 1][i] = (int64_t)((seed >> 8) % 1000);
            snprintf(id, sizeof(id), "%s-%d", tenant, i);
            row(&sql, id, id, tenant, "m", T0 + i, 1, i % 3 ? "TRUE" : "NULL", 200, "ok", lat[n - 1][i], 1, false,
                true, false);
        }
        snprintf(id, sizeof(id), "%s-x.1", tenant);
        row(&sql, id, id, tenant, "m", T0, 1, "FALSE", 504, "error", 999999, 1, true, true, false);
    }
    lgw_test_db_exec(fx, sql.ptr);
    lgw_buf_cleanup(&sql);
    const char *kv[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-02T00:00:00Z", "group_by", "tenant", NULL};
    json_t *j = serve(fx, "/v1/analytics/summary", "", true, kv, 200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 40);
    for (int n = 1; n <= 40; n++) {
        int64_t *v = lat[n - 1];
        for (int a = 1; a < n; a++) /* insertion sort: the reference ranking */
            for (int b = a; b > 0 && v[b - 1] > v[b]; b--) {
                int64_t t = v[b];
                v[b] = v[b - 1];
                v[b - 1] = t;
            }
        json_t *latj = json_object_get(json_array_get(data, (size_t)n - 1), "latency_ms");
        int64_t p50 = v[(n + 1) / 2 - 1], p95 = v[(95 * n + 99) / 100 - 1];
        if (num(latj, "p50") != p50 || num(latj, "p95") != p95)
            fail_msg("N=%d: p50 %lld p95 %lld, want %lld %lld", n, (long long)num(latj, "p50"),
                     (long long)num(latj, "p95"), (long long)p50, (long long)p95);
    }
    json_decref(j);
}

static void test_requests_pages(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_buf sql;
    lgw_buf_init(&sql, 0);
    char id[32];
    for (int i = 0; i < 25; i++) { /* several rows share a ts_ms: the event_id breaks the tie */
        snprintf(id, sizeof(id), "e%02d", i);
        row(&sql, id, id, i % 5 ? "acme" : "globex", "m", T0 + i / 3, i, "TRUE", 200, "ok,\"q\"", 1, 1, false, true,
            false);
    }
    lgw_test_db_exec(fx, sql.ptr);
    lgw_buf_cleanup(&sql);
    char cursor[LGW_AN_CURSOR_MAX] = "";
    int seen = 0;
    char last[16] = "zzz";
    for (int page = 0; page < 10; page++) {
        const char *kv[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-02T00:00:00Z", "limit", "7",
                            cursor[0] ? "cursor" : NULL, cursor, NULL};
        json_t *j = serve(fx, "/v1/analytics/requests", "", true, kv, 200);
        json_t *data = json_object_get(j, "data");
        for (size_t i = 0; i < json_array_size(data); i++) {
            const char *e = str(json_array_get(data, i), "event_id");
            assert_true(strcmp(e, last) < 0); /* newest first; ids here grow with ts_ms */
            lgw_strlcpy(last, e, sizeof(last));
            seen++;
        }
        bool more = json_is_true(json_object_get(j, "has_more"));
        if (more)
            lgw_strlcpy(cursor, str(j, "next_cursor"), sizeof(cursor));
        else
            assert_true(json_is_null(json_object_get(j, "next_cursor")));
        json_decref(j);
        if (!more)
            break;
    }
    assert_int_equal(seen, 25);
    const char *mine[] = {"limit", "1000", "from", "2026-12-01T00:00:00Z", "to", "2026-12-02T00:00:00Z", NULL};
    json_t *j = serve(fx, "/v1/analytics/requests", "acme", false, mine, 200);
    assert_int_equal(json_array_size(json_object_get(j, "data")), 20);
    json_t *first = json_array_get(json_object_get(j, "data"), 0);
    assert_string_equal(str(first, "cost_usd"), "0.000000024");
    assert_true(json_is_true(json_object_get(first, "final")));
    json_decref(j);
}

/* Request rows say whether a simulated provider served them and a stream's time to first token: a row from
 * before the columns (NULL) is not simulated and has no TTFT, as is a real answer that was not streamed. */
static void test_requests_simulated_and_ttft(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_buf sql;
    lgw_buf_init(&sql, 0);
    row(&sql, "s1", "s1", "acme", "gpt-4o-mini", T0 + 3, 1200, "TRUE", 200, "ok", 500, 1, false, true, false);
    row(&sql, "s2", "s2", "acme", "gpt-4o-mini", T0 + 2, 800, "TRUE", 200, "ok", 400, 1, false, true, false);
    row(&sql, "s3", "s3", "acme", "gpt-4o-mini", T0 + 1, 700, "TRUE", 200, "ok", 300, 1, false, true, false);
    lgw_buf_puts(&sql, "UPDATE cost_events SET simulated = TRUE, ttft_ms = 420, provider = 'openai-sim'"
                       " WHERE event_id = 's1';"
                       "UPDATE cost_events SET simulated = FALSE WHERE event_id = 's2';");
    lgw_test_db_exec(fx, sql.ptr);
    lgw_buf_cleanup(&sql);
    const char *kv[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-02T00:00:00Z", NULL};
    json_t *j = serve(fx, "/v1/analytics/requests", "acme", false, kv, 200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 3);
    json_t *sim = json_array_get(data, 0), *real = json_array_get(data, 1), *old = json_array_get(data, 2);
    assert_string_equal(str(sim, "provider"), "openai-sim");
    assert_true(json_is_true(json_object_get(sim, "simulated")));
    assert_int_equal(num(sim, "ttft_ms"), 420);
    assert_string_equal(str(sim, "cost_usd"), "0.000001200");
    assert_true(json_is_false(json_object_get(real, "simulated")));
    assert_true(json_is_null(json_object_get(real, "ttft_ms")));
    assert_true(json_is_false(json_object_get(old, "simulated")));
    assert_true(json_is_null(json_object_get(old, "ttft_ms")));
    json_decref(j);
}

/* Request rows lead to their traces: the ledger's trace_id as written, null for an event written without one
 * ("") and for rows from before the column (NULL). */
static void test_requests_trace_id(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_buf sql;
    lgw_buf_init(&sql, 0);
    row(&sql, "t1", "t1", "acme", "gpt-4o-mini", T0 + 3, 100, "TRUE", 200, "ok", 500, 1, false, true, false);
    row(&sql, "t2", "t2", "acme", "gpt-4o-mini", T0 + 2, 100, "TRUE", 200, "ok", 400, 1, false, true, false);
    row(&sql, "t3", "t3", "acme", "gpt-4o-mini", T0 + 1, 100, "TRUE", 200, "ok", 300, 1, false, true, false);
    lgw_buf_puts(&sql, "UPDATE cost_events SET trace_id = '4bf92f3577b34da6a3ce929d0e0e4736' WHERE event_id = 't1';"
                       "UPDATE cost_events SET trace_id = '' WHERE event_id = 't2';");
    lgw_test_db_exec(fx, sql.ptr);
    lgw_buf_cleanup(&sql);
    const char *kv[] = {"from", "2026-12-01T00:00:00Z", "to", "2026-12-02T00:00:00Z", NULL};
    json_t *j = serve(fx, "/v1/analytics/requests", "acme", false, kv, 200);
    json_t *data = json_object_get(j, "data");
    assert_int_equal(json_array_size(data), 3);
    assert_string_equal(str(json_array_get(data, 0), "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_true(json_is_null(json_object_get(json_array_get(data, 1), "trace_id")));
    assert_true(json_is_null(json_object_get(json_array_get(data, 2), "trace_id")));
    json_decref(j);
}

/* A statement past the timeout is stopped and says so (504), on either database; the connection works after. */
static void test_statement_timeout(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_an_db *db;
    assert_int_equal(lgw_an_db_open(fx->url, 100, &db), 0);
    struct lgw_an_sql sql = {.pg = fx->be == LGW_TEST_PG};
    lgw_buf_init(&sql.text, 0);
    lgw_buf_puts(&sql.text, fx->be == LGW_TEST_PG ? "SELECT pg_sleep(2)"
                                                  : "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
                                                    " SELECT count(*) FROM c");
    struct lgw_an_rows rows;
    assert_int_equal(lgw_an_db_query(db, &sql, 10, &rows), LGW_ERR(TIMEOUT));
    lgw_buf_reset(&sql.text);
    lgw_buf_puts(&sql.text, "SELECT count(*) FROM cost_events");
    assert_int_equal(lgw_an_db_query(db, &sql, 10, &rows), 0);
    assert_string_equal(lgw_an_cell(&rows, 0, 0), "0");
    lgw_an_rows_cleanup(&rows);
    assert_int_equal(lgw_an_db_query(db, &sql, 0, &rows), LGW_ERR(TOO_LARGE)); /* past max_rows */
    lgw_buf_cleanup(&sql.text);
    lgw_an_db_close(db);
}

/* The pool's queue: one thread blocked on a locked database, a queue of one; of three calls one or two are
 * answered 503 at once (which depends on when the thread takes the first), never none, and the rest are
 * answered once the lock goes. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_status[3];

static void pool_done(struct lgw_http_call *call, int status, const char *ct, char *body, size_t len)
{
    (void)ct;
    (void)len;
    free(body);
    pthread_mutex_lock(&pool_lock);
    pool_status[call->request_id[0] - '0'] = status;
    pthread_mutex_unlock(&pool_lock);
}

static int pool_count(int status)
{
    int n = 0;
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < 3; i++)
        n += pool_status[i] == status;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

static void test_pool_queue_limit(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-anpool-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/l.db", dir);
    char url[80];
    snprintf(url, sizeof(url), "sqlite:%s", path);
    struct lgw_ledger_db *ldb; /* the ledger's table */
    assert_int_equal(lgw_ledger_db_open(url, &ldb), 0);
    lgw_ledger_db_close(ldb);
    sqlite3 *lock;
    /* Back to a rollback journal (the ledger sets WAL): there an exclusive transaction keeps readers out. */
    assert_int_equal(sqlite3_open(path, &lock), SQLITE_OK);
    assert_int_equal(sqlite3_exec(lock, "PRAGMA journal_mode=DELETE; BEGIN EXCLUSIVE;", NULL, NULL, NULL), SQLITE_OK);
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.analytics_db_pool = 1;
    cfg.analytics_queue_max = 1;
    cfg.analytics_timeout_ms = 20000;
    snprintf(cfg.database_url, sizeof(cfg.database_url), "sqlite:%s", path);
    struct lgw_metrics *m = lgw_metrics_new();
    struct lgw_analytics *an;
    assert_int_equal(lgw_analytics_new(&cfg, m, &an), 0);
    struct lgw_http_mount mount = lgw_analytics_mount(an);
    struct lgw_http_call calls[3];
    static const char *const ids[] = {"0", "1", "2"};
    for (int i = 0; i < 3; i++) {
        memset(&calls[i], 0, sizeof(calls[i]));
        calls[i].method = "GET";
        calls[i].path = "/v1/analytics/summary";
        calls[i].request_id = ids[i];
        calls[i].caller.admin = true;
        calls[i].deadline_ms = lgw_mono_ms() + 60000;
        calls[i].done = pool_done;
        mount.handle(mount.opaque, &calls[i]);
    }
    /* The first is always queued (the queue was empty) and then blocked; the second is refused unless the thread
     * had taken the first already, and then the third is: one or two 503s, never none. */
    int refused = pool_count(503);
    assert_true(refused == 1 || refused == 2);
    assert_int_equal(pool_count(0), 3 - refused); /* the others wait */
    sqlite3_exec(lock, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(lock);
    int64_t until = lgw_mono_ms() + 30000;
    while (pool_count(0) > 0 && lgw_mono_ms() < until) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(pool_count(200), 3 - refused);
    lgw_analytics_free(an); /* joins the thread: its writes are seen below */
    assert_int_equal(pool_status[0], 200);
    lgw_metrics_free(m);
    lgw_config_cleanup(&cfg);
    unlink(path);
    snprintf(path, sizeof(path), "%s/l.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/l.db-shm", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
/* Each case on SQLite and on PostgreSQL, both rows named by the test alone (as the reports have them). */
#define BOTH(t)                                                                                                        \
    cmocka_unit_test_prestate_setup_teardown(t, setup, lgw_test_db_teardown, (void *)(intptr_t)LGW_TEST_SQLITE),       \
        cmocka_unit_test_prestate_setup_teardown(t, setup, lgw_test_db_teardown, (void *)(intptr_t)LGW_TEST_PG)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_csv_field),
        cmocka_unit_test(test_money_and_ratio),
        cmocka_unit_test(test_query_parse),
        cmocka_unit_test(test_sql_binds_values),
        BOTH(test_summary_figures),
        BOTH(test_percentiles_nearest_rank),
        BOTH(test_requests_pages),
        BOTH(test_requests_simulated_and_ttft),
        BOTH(test_requests_trace_id),
        BOTH(test_statement_timeout),
        cmocka_unit_test(test_pool_queue_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

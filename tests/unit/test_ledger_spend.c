/* test_ledger_spend.c - the ledger's running spend on both databases: totals per tenant and key per UTC
 * day and month from inserted events only (a redelivery never counts twice), the back-fill of a ledger
 * that had no spend_totals table, and the totals reaching a reader of the spend topic (librdkafka's mock
 * cluster). PostgreSQL cases run when LLMGW_TEST_PG_URL names a server, each in a schema of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/topics.h"
#include "common/uuid.h"
#include "ledger/ledger_db.h"
#include "ledger/spend.h"
#include "limits/spend.h"
#include "tests/support/db_fixture.h"
#include "tests/support/mock_kafka.h"

struct fixture {
    struct lgw_test_db db; /* on PostgreSQL in a schema of its own */
    struct lgw_test_kafka k;
    struct lgw_config cfg;
};

/* The first column of the first row as an integer (-1: no row, -2: NULL), through its own connection. Two
 * text parameters, written $1 and $2: both engines accept that spelling. */
static long long query_int(const struct fixture *fx, const char *sql, const char *a1, const char *a2)
{
    const char *args[] = {a1, a2};
    char text[64] = "";
    long long v;
    if (!lgw_test_db_query(&fx->db, sql, args, 2, text, sizeof(text)))
        return -1;
    if (!text[0])
        return -2;
    if (lgw_parse_int64(text, strlen(text), &v))
        fail_msg("%s: not an integer: \"%s\"", sql, text);
    return v;
}

static long long total_of(const struct fixture *fx, const char *scope, const char *period)
{
    return query_int(fx, "SELECT spend_nusd FROM spend_totals WHERE scope = $1 AND period = $2", scope, period);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    if (lgw_test_db_init(&fx->db, (enum lgw_test_backend)(intptr_t)*state, "spend"))
        return -1;
    /* A schema of its own: spend_totals must start missing, and totals must not mix with other runs. */
    lgw_test_db_own_schema(&fx->db, "spend_", NULL);
    /* The spend topic on librdkafka's mock cluster, as `llmgw dev` has it. */
    if (lgw_test_kafka_start(&fx->k))
        return -1;
    lgw_config_defaults(&fx->cfg);
    fx->cfg.kafka_mock = true;
    lgw_strlcpy(fx->cfg.kafka_brokers, lgw_test_kafka_bootstraps(&fx->k), sizeof(fx->cfg.kafka_brokers));
    if (lgw_topics_create_mock(fx->k.mc, &fx->cfg, "t"))
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    lgw_test_db_drop_schema(&fx->db);
    lgw_test_db_cleanup(&fx->db);
    lgw_test_kafka_stop(&fx->k);
    lgw_config_cleanup(&fx->cfg);
    free(fx);
    return 0;
}

static struct fixture *fixture(void **state)
{
    struct fixture *fx = *state;
    lgw_test_db_require(&fx->db);
    return fx;
}

static void event(struct lgw_cost_event *ev, const char *tenant, const char *key_id, int64_t nusd, int64_t ts_ms)
{
    memset(ev, 0, sizeof(*ev));
    lgw_uuid4(ev->event_id);
    lgw_uuid4(ev->request_id);
    lgw_strlcpy(ev->tenant, tenant, sizeof(ev->tenant));
    lgw_strlcpy(ev->key_id, key_id, sizeof(ev->key_id));
    lgw_strlcpy(ev->user, "bob", sizeof(ev->user));
    lgw_strlcpy(ev->provider, "echo", sizeof(ev->provider));
    lgw_strlcpy(ev->model, "echo-1", sizeof(ev->model));
    lgw_strlcpy(ev->outcome, "ok", sizeof(ev->outcome));
    ev->kind = LGW_JOB_CHAT;
    ev->cost_nusd = nusd;
    ev->cost_known = true;
    ev->status = 200;
    ev->ts_ms = ts_ms;
    ev->final = true;
}

/* One batch as the ledger writes it (ledger.c, write_batch): inserts, the deltas of the inserted ones, their
 * totals, commit, publish. Returns how many events were new. */
static int write_batch(struct lgw_ledger_db *db, struct lgw_ledger_spend *sp, const struct lgw_cost_event *evs,
                       size_t n)
{
    int inserted = 0;
    lgw_ledger_spend_clear(sp);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    for (size_t i = 0; i < n; i++) {
        bool ins = false;
        assert_int_equal(lgw_ledger_db_insert(db, &evs[i], &ins), 0);
        if (ins)
            lgw_ledger_spend_add(sp, &evs[i]);
        inserted += ins;
    }
    assert_int_equal(lgw_ledger_spend_write(sp, db), 0);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    lgw_ledger_spend_publish(sp);
    return inserted;
}

/* Waits up to 10 s for the view to hold want for scope and period. */
static void wait_total(struct lgw_spend *view, const char *scope, const char *period, int64_t want)
{
    int64_t have = 0;
    for (int i = 0; i < 1000; i++) {
        if ((have = lgw_spend_get(view, scope, period)) == want)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("%s|%s: want %lld, have %lld", scope, period, (long long)want, (long long)have);
}

static void test_totals_not_double_counted(void **state)
{
    struct fixture *fx = fixture(state);
    struct lgw_ledger_db *db;
    struct lgw_ledger_spend *sp;
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0);
    assert_int_equal(lgw_ledger_spend_new(&fx->cfg, NULL, &sp), 0);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX], yday[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, day);
    lgw_spend_month(now, month);
    lgw_spend_day(now - 86400000LL, yday);

    struct lgw_cost_event ev[4];
    event(&ev[0], "acme", "key_aaaaaaaaaaaa", 1000, now);
    event(&ev[1], "acme", "key_bbbbbbbbbbbb", 200, now);
    event(&ev[2], "acme", "", 30, now);                     /* keyless: the tenant's only */
    event(&ev[3], "acme", "key_aaaaaaaaaaaa", 4, now - 86400000LL); /* yesterday's, written today */
    assert_int_equal(write_batch(db, sp, ev, 4), 4);
    /* The same batch again (a redelivery after a crash before the offset commit), plus one new event. */
    struct lgw_cost_event again[5];
    memcpy(again, ev, sizeof(ev));
    event(&again[4], "acme", "key_bbbbbbbbbbbb", 5000, now);
    assert_int_equal(write_batch(db, sp, again, 5), 1);

    assert_int_equal(total_of(fx, "tenant:acme", day), 6230);
    assert_int_equal(total_of(fx, "tenant:acme", yday), 4);
    assert_int_equal(total_of(fx, "key:key_aaaaaaaaaaaa", day), 1000);
    assert_int_equal(total_of(fx, "key:key_aaaaaaaaaaaa", yday), 4);
    assert_int_equal(total_of(fx, "key:key_bbbbbbbbbbbb", day), 5200);
    assert_int_equal(total_of(fx, "key:key_bbbbbbbbbbbb", month), 5200);
    /* The month holds yesterday's event too, unless yesterday was last month. */
    char ymonth[LGW_SPEND_PERIOD_MAX];
    lgw_spend_month(now - 86400000LL, ymonth);
    assert_int_equal(total_of(fx, "tenant:acme", month), strcmp(ymonth, month) == 0 ? 6234 : 6230);
    assert_int_equal(query_int(fx, "SELECT count(*) FROM spend_totals WHERE key_id IS NULL AND scope = $1 AND"
                                   " period = $2",
                               "tenant:acme", day),
                     1);

    /* Every ingress reads the totals off the spend topic. */
    struct lgw_spend *view = lgw_spend_new();
    assert_int_equal(lgw_spend_start(view, &fx->cfg, "t"), 0);
    wait_total(view, "tenant:acme", day, 6230);
    wait_total(view, "key:key_bbbbbbbbbbbb", day, 5200);
    wait_total(view, "key:key_aaaaaaaaaaaa", yday, 4);
    lgw_spend_free(view);
    lgw_ledger_spend_free(sp);
    lgw_ledger_db_close(db);
}

/* Totals saturate instead of wrapping: the bill near the int64 edge stays the largest value. */
static void test_totals_saturate(void **state)
{
    struct fixture *fx = fixture(state);
    struct lgw_ledger_db *db;
    struct lgw_ledger_spend *sp;
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0);
    assert_int_equal(lgw_ledger_spend_new(&fx->cfg, NULL, &sp), 0);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, day);
    struct lgw_cost_event ev[2];
    event(&ev[0], "big", "", 9000000000000000000LL, now);
    event(&ev[1], "big", "", 9000000000000000000LL, now);
    assert_int_equal(write_batch(db, sp, ev, 1), 1);
    assert_int_equal(write_batch(db, sp, ev + 1, 1), 1);
    assert_int_equal(total_of(fx, "tenant:big", day), INT64_MAX);
    lgw_ledger_spend_free(sp);
    lgw_ledger_db_close(db);
}

/* A ledger from before spend_totals: opening it makes the table and back-fills the current month (day rows
 * and month rows, tenants and keys), once; earlier months are history and stay in cost_events only. */
static void test_upgrade_backfills(void **state)
{
    struct fixture *fx = fixture(state);
    struct lgw_ledger_db *db;
    int64_t now = lgw_wall_ms(), month_start = lgw_ledger_spend_backfill_from(now);
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX], first[LGW_SPEND_PERIOD_MAX],
        last_month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, day);
    lgw_spend_month(now, month);
    lgw_spend_day(month_start, first);
    lgw_spend_month(month_start - 1, last_month);

    /* The schema as it was: this build's cost_events holding events, no spend_totals. */
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0);
    struct lgw_cost_event ev[4];
    event(&ev[0], "acme", "key_aaaaaaaaaaaa", 100, now);
    event(&ev[1], "acme", "", 20, month_start);                    /* the month's first millisecond */
    event(&ev[2], "acme", "key_aaaaaaaaaaaa", 3, month_start - 1); /* last month's last: not back-filled */
    event(&ev[3], "beta", "key_bbbbbbbbbbbb", 7000, now);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    for (int i = 0; i < 4; i++) {
        bool ins;
        assert_int_equal(lgw_ledger_db_insert(db, &ev[i], &ins), 0);
        assert_true(ins);
    }
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    lgw_ledger_db_close(db);
    lgw_test_db_exec(&fx->db, "DROP TABLE spend_totals");

    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0); /* migrates and back-fills */
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0); /* and opens again without back-filling twice */

    bool first_is_today = strcmp(first, day) == 0;
    assert_int_equal(total_of(fx, "tenant:acme", day), first_is_today ? 120 : 100);
    assert_int_equal(total_of(fx, "tenant:acme", first), first_is_today ? 120 : 20);
    assert_int_equal(total_of(fx, "tenant:acme", month), 120);
    assert_int_equal(total_of(fx, "key:key_aaaaaaaaaaaa", month), 100);
    assert_int_equal(total_of(fx, "key:key_aaaaaaaaaaaa", day), 100);
    assert_int_equal(total_of(fx, "tenant:beta", month), 7000);
    assert_int_equal(total_of(fx, "key:key_bbbbbbbbbbbb", day), 7000);
    assert_int_equal(total_of(fx, "tenant:acme", last_month), -1);
    assert_int_equal(query_int(fx, "SELECT count(*) FROM spend_totals WHERE scope = $1 AND tenant = $2",
                               "key:key_bbbbbbbbbbbb", "beta"),
                     2);
    /* tenant and key, day and month, of acme, key_a, beta and key_b */
    assert_int_equal(query_int(fx, "SELECT count(*) FROM spend_totals WHERE period = $1 OR period = $2", day, month),
                     8);

    /* A starting ledger publishes the current totals, back-filled ones included. */
    struct lgw_ledger_spend *sp;
    assert_int_equal(lgw_ledger_spend_new(&fx->cfg, NULL, &sp), 0);
    assert_int_equal(lgw_ledger_spend_republish(sp, db, now), 0);
    struct lgw_spend *view = lgw_spend_new();
    assert_int_equal(lgw_spend_start(view, &fx->cfg, "t"), 0);
    wait_total(view, "tenant:acme", month, 120);
    wait_total(view, "key:key_bbbbbbbbbbbb", day, 7000);
    wait_total(view, "tenant:acme", day, first_is_today ? 120 : 100);
    lgw_spend_free(view);

    /* New events add to the back-filled rows. */
    struct lgw_cost_event more;
    event(&more, "acme", "key_aaaaaaaaaaaa", 1, now);
    assert_int_equal(write_batch(db, sp, &more, 1), 1);
    assert_int_equal(total_of(fx, "key:key_aaaaaaaaaaaa", month), 101);
    lgw_ledger_spend_free(sp);
    lgw_ledger_db_close(db);
}

/* Two ledgers at once (PostgreSQL; SQLite has one writer): each locks its batch's rows in one order, so they
 * never deadlock. The first holds tenant a's rows in an open transaction. The second's batch meets tenant b
 * first: in that order it would lock b's rows, then wait for a's, and the first's next rows (b's) would close
 * the cycle; PostgreSQL would end it by failing one of the two. In key order the second waits for a's rows
 * holding nothing, the first goes on, and both commit. */
struct second_ledger {
    struct lgw_ledger_db *db;
    struct lgw_ledger_spend *sp;
    struct lgw_cost_event ev[2];
    int rc;
};

static void *second_ledger_run(void *arg)
{
    struct second_ledger *s = arg;
    bool ins = false;
    lgw_ledger_spend_clear(s->sp);
    s->rc = lgw_ledger_db_begin(s->db);
    for (size_t i = 0; s->rc == 0 && i < 2; i++)
        if ((s->rc = lgw_ledger_db_insert(s->db, &s->ev[i], &ins)) == 0 && ins)
            lgw_ledger_spend_add(s->sp, &s->ev[i]);
    if (s->rc == 0)
        s->rc = lgw_ledger_spend_write(s->sp, s->db);
    if (s->rc == 0)
        s->rc = lgw_ledger_db_commit(s->db);
    else
        lgw_ledger_db_rollback(s->db);
    return NULL;
}

static void test_ledgers_lock_rows_in_one_order(void **state)
{
    struct fixture *fx = fixture(state);
    int64_t now = lgw_wall_ms();
    char day[LGW_SPEND_PERIOD_MAX], month[LGW_SPEND_PERIOD_MAX];
    lgw_spend_day(now, day);
    lgw_spend_month(now, month);
    struct lgw_ledger_db *db;
    struct lgw_ledger_spend *sp;
    struct second_ledger second = {0};
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &db), 0);
    assert_int_equal(lgw_ledger_db_open(fx->db.url, &second.db), 0);
    assert_int_equal(lgw_ledger_spend_new(&fx->cfg, NULL, &sp), 0);
    assert_int_equal(lgw_ledger_spend_new(&fx->cfg, NULL, &second.sp), 0);
    struct lgw_cost_event a1, b1;
    event(&a1, "a", "", 1, now);
    event(&b1, "b", "", 10, now);
    event(&second.ev[0], "b", "", 100, now);
    event(&second.ev[1], "a", "", 1000, now);

    /* The first ledger's batch, half written: a's rows locked. */
    bool ins = false;
    lgw_ledger_spend_clear(sp);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &a1, &ins), 0);
    lgw_ledger_spend_add(sp, &a1);
    assert_int_equal(lgw_ledger_spend_write(sp, db), 0);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, second_ledger_run, &second), 0);
    /* Until the second ledger waits for a row lock (up to 10 s). */
    long long waiting = 0;
    for (int i = 0; i < 1000 && waiting == 0; i++) {
        waiting = lgw_test_db_query_int(&fx->db,
                                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                        " AND wait_event_type = 'Lock' AND query LIKE $1",
                                        "INSERT INTO spend_totals%");
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(waiting > 0);

    /* The rest of the first batch: b's rows, then the commit, which lets the second ledger go on. */
    lgw_ledger_spend_clear(sp);
    assert_int_equal(lgw_ledger_db_insert(db, &b1, &ins), 0);
    lgw_ledger_spend_add(sp, &b1);
    assert_int_equal(lgw_ledger_spend_write(sp, db), 0);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(second.rc, 0);

    assert_int_equal(total_of(fx, "tenant:a", day), 1001);
    assert_int_equal(total_of(fx, "tenant:b", day), 110);
    assert_int_equal(total_of(fx, "tenant:a", month), 1001);
    assert_int_equal(total_of(fx, "tenant:b", month), 110);
    lgw_ledger_spend_free(second.sp);
    lgw_ledger_spend_free(sp);
    lgw_ledger_db_close(second.db);
    lgw_ledger_db_close(db);
}

#define BOTH(f) LGW_TEST_DB_BOTH(f, setup, teardown)
#define PG_ONLY(f)                                                                                           \
    {.name = "postgresql:" #f, .test_func = f, .setup_func = setup, .teardown_func = teardown,                 \
     .initial_state = (void *)(intptr_t)LGW_TEST_PG}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_totals_not_double_counted),
        BOTH(test_totals_saturate),
        BOTH(test_upgrade_backfills),
        PG_ONLY(test_ledgers_lock_rows_in_one_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

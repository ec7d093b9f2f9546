/* test_ledger_db.c - the ledger's database backends: idempotent inserts, the rerun flag, rollback,
 * reopening. SQLite always; PostgreSQL too when LLMGW_TEST_PG_URL names a server (scripts/test.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "ledger_db.h"

static void event(struct lgw_cost_event *ev, const char *event_id, const char *request_id)
{
    memset(ev, 0, sizeof(*ev));
    strcpy(ev->event_id, event_id);
    strcpy(ev->request_id, request_id);
    strcpy(ev->tenant, "acme");
    strcpy(ev->user, "bob");
    strcpy(ev->provider, "echo");
    strcpy(ev->model, "echo");
    strcpy(ev->outcome, "ok");
    strcpy(ev->strategy, "default");
    strcpy(ev->worker, "w1");
    ev->usage = (struct lgw_usage){100, 20, 0};
    ev->cost_nusd = 9000000000000000000LL; /* near the int64 edge: stored exactly */
    ev->cost_known = true;
    ev->status = 200;
    ev->attempt = 1;
    ev->ts_ms = 1700000000000;
}

/* Counts rows (and re-run rows) through the backend-independent path: a fresh SQL connection. */
typedef void (*counter_fn)(const char *url, const char *request_id, long *rows, long *reruns, long long *cost);

static void count_sqlite(const char *url, const char *request_id, long *rows, long *reruns, long long *cost)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(url + 7, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), coalesce(sum(rerun),0), max(cost_nusd) FROM cost_events "
                                            "WHERE request_id = ?", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *rows = sqlite3_column_int(st, 0);
    *reruns = sqlite3_column_int(st, 1);
    *cost = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void count_pg(const char *url, const char *request_id, long *rows, long *reruns, long long *cost)
{
    PGconn *pg = PQconnectdb(url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    const char *params[] = {request_id};
    PGresult *res = PQexecParams(pg, "SELECT count(*), count(*) FILTER (WHERE rerun), coalesce(max(cost_nusd),0) "
                                     "FROM cost_events WHERE request_id = $1", 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    *rows = atol(PQgetvalue(res, 0, 0));
    *reruns = atol(PQgetvalue(res, 0, 1));
    *cost = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    PQfinish(pg);
}

static void exercise(const char *url, counter_fn count)
{
    char req[40], e1[40], e2[40];
    lgw_uuid4(req);
    lgw_uuid4(e1);
    lgw_uuid4(e2);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev;
    bool ins;
    long rows, reruns;
    long long cost;
    assert_int_equal(lgw_ledger_db_open(url, &db), 0);
    assert_true(lgw_ledger_db_ping(db));

    /* first execution */
    event(&ev, e1, req);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    assert_true(ins);
    /* the same event redelivered in the same batch: not counted twice */
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    assert_false(ins);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    count(url, req, &rows, &reruns, &cost);
    assert_int_equal(rows, 1);
    assert_int_equal(reruns, 0);
    assert_int_equal(cost, 9000000000000000000LL);

    /* redelivered in a later batch: still once */
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    assert_false(ins);
    assert_int_equal(lgw_ledger_db_commit(db), 0);

    /* a second execution of the same request (worker crash): its own event, marked as a re-run */
    event(&ev, e2, req);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    assert_true(ins);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    count(url, req, &rows, &reruns, &cost);
    assert_int_equal(rows, 2);
    assert_int_equal(reruns, 1);

    /* rollback leaves nothing */
    char req2[40], e3[40];
    lgw_uuid4(req2);
    lgw_uuid4(e3);
    event(&ev, e3, req2);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    lgw_ledger_db_rollback(db);
    count(url, req2, &rows, &reruns, &cost);
    assert_int_equal(rows, 0);
    lgw_ledger_db_close(db);

    /* reopening an existing database keeps its rows */
    assert_int_equal(lgw_ledger_db_open(url, &db), 0);
    lgw_ledger_db_close(db);
    count(url, req, &rows, &reruns, &cost);
    assert_int_equal(rows, 2);
}

static void test_sqlite(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-ledger-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s/ledger.db", dir);
    exercise(url, count_sqlite);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_postgresql(void **state)
{
    (void)state;
    const char *url = getenv("LLMGW_TEST_PG_URL");
    if (!url || !*url)
        skip(); /* scripts/test.sh runs this again with a real server */
    exercise(url, count_pg);
}

static void test_bad_url(void **state)
{
    (void)state;
    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open("mysql://x", &db), LGW_ERR(CONFIG));
    assert_int_equal(lgw_ledger_db_open("sqlite:/nonexistent-dir/x/ledger.db", &db), LGW_ERR(DB));
    assert_int_equal(lgw_ledger_db_open("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", &db), LGW_ERR(DB));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite),
        cmocka_unit_test(test_postgresql),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

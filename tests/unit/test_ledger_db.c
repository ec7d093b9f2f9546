/* test_ledger_db.c - the ledger's database backends: idempotent inserts, the rerun flag, rollback,
 * reopening, the column names. Every case runs on SQLite (a fresh file per test) and again on PostgreSQL
 * when LLMGW_TEST_PG_URL names a server (scripts/test.sh starts one); otherwise those are skipped. Ids
 * are random UUIDs, so a shared PostgreSQL database needs no cleanup between runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/uuid.h"
#include "ledger/ledger_db.h"
#include "tests/support/db_fixture.h"

static int setup(void **state)
{
    return lgw_test_db_setup(state, "ledger");
}

static void event(struct lgw_cost_event *ev, const char *event_id, const char *request_id)
{
    memset(ev, 0, sizeof(*ev));
    lgw_strlcpy(ev->event_id, event_id, sizeof(ev->event_id));
    lgw_strlcpy(ev->request_id, request_id, sizeof(ev->request_id));
    lgw_strlcpy(ev->tenant, "acme", sizeof(ev->tenant));
    lgw_strlcpy(ev->user, "bob", sizeof(ev->user));
    lgw_strlcpy(ev->provider, "echo", sizeof(ev->provider));
    lgw_strlcpy(ev->model, "echo-1", sizeof(ev->model));
    lgw_strlcpy(ev->outcome, "ok", sizeof(ev->outcome));
    lgw_strlcpy(ev->strategy, "default", sizeof(ev->strategy));
    lgw_strlcpy(ev->worker, "w1", sizeof(ev->worker));
    ev->kind = LGW_JOB_CHAT;
    ev->usage = (struct lgw_usage){100, 20, 7, 0};
    ev->cost_nusd = 9000000000000000000LL; /* near the int64 edge: must be stored exactly */
    ev->cost_known = true;
    ev->latency_ms = 12;
    ev->status = 200;
    ev->attempt = 1;
    ev->ts_ms = 1700000000000;
    ev->final = true;
    ev->provider_call = 1;
}

static long long rows_of(const struct lgw_test_db *fx, const char *request_id)
{
    return lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE request_id = $1", request_id);
}

static long long reruns_of(const struct lgw_test_db *fx, const char *request_id)
{
    return lgw_test_db_query_int(fx, "SELECT count(*) FILTER (WHERE rerun) FROM cost_events WHERE request_id = $1",
                                 request_id);
}

/* One transaction with the given events; returns how many were new. */
static int write_events(struct lgw_ledger_db *db, const struct lgw_cost_event *evs, size_t n)
{
    int inserted = 0;
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    for (size_t i = 0; i < n; i++) {
        bool ins = false;
        assert_int_equal(lgw_ledger_db_insert(db, &evs[i], &ins), 0);
        inserted += ins;
    }
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    return inserted;
}

static void test_duplicates(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char req[40], e1[40];
    lgw_uuid4(req);
    lgw_uuid4(e1);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev[2];
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    assert_true(lgw_ledger_db_ping(db));

    /* the same event twice in one batch (a redelivery inside the batch window): stored once */
    event(&ev[0], e1, req);
    ev[1] = ev[0];
    assert_int_equal(write_events(db, ev, 2), 1);
    assert_int_equal(rows_of(fx, req), 1);
    assert_int_equal(reruns_of(fx, req), 0);
    assert_int_equal(lgw_test_db_query_int(fx, "SELECT max(cost_nusd) FROM cost_events WHERE request_id = $1", req),
                     9000000000000000000LL);

    /* redelivered in a later batch (a crash between DB commit and offset commit): still once */
    assert_int_equal(write_events(db, ev, 1), 0);
    assert_int_equal(rows_of(fx, req), 1);
    lgw_ledger_db_close(db);
}

static void test_rerun(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char req[40], req2[40], req3[40], e[5][40];
    lgw_uuid4(req);
    lgw_uuid4(req2);
    lgw_uuid4(req3);
    for (int i = 0; i < 5; i++)
        lgw_uuid4(e[i]);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev[2];
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);

    /* a job run twice after a worker crash: two events, both kept (real spend), the second a re-run */
    event(&ev[0], e[0], req);
    assert_int_equal(write_events(db, ev, 1), 1);
    event(&ev[0], e[1], req);
    assert_int_equal(write_events(db, ev, 1), 1);
    assert_int_equal(rows_of(fx, req), 2);
    assert_int_equal(reruns_of(fx, req), 1);
    assert_int_equal(
        lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1 AND NOT rerun", e[0]), 1);

    /* both executions in the same batch: the check sees the earlier insert of the same transaction */
    event(&ev[0], e[2], req2);
    event(&ev[1], e[3], req2);
    assert_int_equal(write_events(db, ev, 2), 2);
    assert_int_equal(reruns_of(fx, req2), 1);
    assert_int_equal(lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1 AND rerun", e[3]),
                     1);

    /* one execution's events (a billed attempt that timed out, then the final one) are not reruns of each
     * other; a second execution of the same request is */
    char req4[40], run[40], nonfinal[48], run2[40];
    lgw_uuid4(req4);
    lgw_uuid4(run);
    lgw_uuid4(run2);
    snprintf(nonfinal, sizeof(nonfinal), "%s.1", run);
    event(&ev[0], nonfinal, req4);
    ev[0].final = false;
    ev[0].cost_estimated = true;
    event(&ev[1], run, req4);
    ev[1].provider_call = 2;
    assert_int_equal(write_events(db, ev, 2), 2);
    assert_int_equal(reruns_of(fx, req4), 0);
    event(&ev[0], run2, req4);
    assert_int_equal(write_events(db, ev, 1), 1);
    assert_int_equal(reruns_of(fx, req4), 1);
    assert_int_equal(lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1 AND rerun", run2),
                     1);

    /* the event's own flag is kept even when it is the first one the ledger sees */
    event(&ev[0], e[4], req3);
    ev[0].rerun = true;
    assert_int_equal(write_events(db, ev, 1), 1);
    assert_int_equal(reruns_of(fx, req3), 1);
    lgw_ledger_db_close(db);
}

static void test_rollback(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char req[40], e1[40];
    lgw_uuid4(req);
    lgw_uuid4(e1);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev;
    bool ins;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    event(&ev, e1, req);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert(db, &ev, &ins), 0);
    assert_true(ins);
    lgw_ledger_db_rollback(db);
    assert_int_equal(rows_of(fx, req), 0);

    /* the connection stays usable, and the rolled-back event is new again (the ledger's retry) */
    assert_int_equal(write_events(db, &ev, 1), 1);
    assert_int_equal(rows_of(fx, req), 1);
    assert_int_equal(reruns_of(fx, req), 0);
    lgw_ledger_db_close(db);
}

/* A batch's inserts in one call: in order, so a duplicate inside the batch is found and a rerun sees the run
 * before it, across the bound of one PostgreSQL pipeline (256 inserts) too. */
static void test_batch(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    enum { N = 300 };
    static struct lgw_cost_event evs[N];
    const struct lgw_cost_event *ptrs[N];
    bool ins[N];
    char base[40], req_r[40], id[60];
    lgw_uuid4(base);
    lgw_uuid4(req_r);
    for (int i = 0; i < N; i++) {
        char req[60];
        snprintf(id, sizeof(id), "%s-%d", base, i);
        snprintf(req, sizeof(req), "%s-r%d", base, i);
        event(&evs[i], id, req);
        ptrs[i] = &evs[i];
    }
    evs[1] = evs[0];                             /* the same event twice in the batch */
    event(&evs[150], "run-a-150", req_r);        /* two runs of one request, in different pipelines */
    snprintf(id, sizeof(id), "%s-b", req_r);
    event(&evs[280], id, req_r);
    snprintf(evs[150].event_id, sizeof(evs[150].event_id), "%s-a", req_r);
    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert_batch(db, ptrs, N, ins), 0);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ins[i], i != 1);
    char like[60];
    snprintf(like, sizeof(like), "%s-r%%", base);
    assert_int_equal(lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE request_id LIKE $1", like),
                     N - 3); /* less the duplicate and the two runs of req_r */
    assert_int_equal(rows_of(fx, req_r), 2);
    assert_int_equal(reruns_of(fx, req_r), 1);
    /* the whole batch again (a redelivery): nothing new */
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert_batch(db, ptrs, N, ins), 0);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    for (int i = 0; i < N; i++)
        assert_false(ins[i]);
    lgw_ledger_db_close(db);
}

/* PostgreSQL only: an insert the server refuses in the middle of a pipeline fails the batch, which rolls back
 * whole, and the connection goes on; so does a connection lost in the middle of one (reopened by the next
 * transaction). SQLite has neither failure: it stores any bytes, and runs in this process. */
static void test_batch_failures(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    struct lgw_cost_event evs[5];
    const struct lgw_cost_event *ptrs[5];
    bool ins[5];
    char req[40], id[60];
    lgw_uuid4(req);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "%s-%d", req, i);
        event(&evs[i], id, req);
        ptrs[i] = &evs[i];
    }
    lgw_strlcpy(evs[2].tenant, "acme\xff", sizeof(evs[2].tenant)); /* not UTF-8: the server refuses it */
    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_not_equal(lgw_ledger_db_insert_batch(db, ptrs, 5, ins), 0);
    lgw_ledger_db_rollback(db);
    assert_int_equal(rows_of(fx, req), 0);
    ptrs[2] = &evs[4];
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_ledger_db_insert_batch(db, ptrs, 4, ins), 0);
    assert_int_equal(lgw_ledger_db_commit(db), 0);
    assert_int_equal(rows_of(fx, req), 4);

    /* the server ends the connection inside a transaction, before the batch is sent */
    char req2[40];
    lgw_uuid4(req2);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "%s-%d", req2, i);
        event(&evs[i], id, req2);
        ptrs[i] = &evs[i];
    }
    assert_int_equal(lgw_ledger_db_begin(db), 0);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE"
                                           " application_name = 'llmgw-ledger' AND state = 'idle in transaction'"
                                           " AND query = 'BEGIN' AND datname = current_database() AND $1 <> ''",
                                           req2),
                     1);
    usleep(100000); /* the backend's exit reaches the socket */
    assert_int_not_equal(lgw_ledger_db_insert_batch(db, ptrs, 5, ins), 0);
    lgw_ledger_db_rollback(db);
    assert_int_equal(write_events(db, evs, 5), 5);
    assert_int_equal(rows_of(fx, req2), 5);
    lgw_ledger_db_close(db);
}

static void test_reopen(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char req[40], e1[40], e2[40];
    lgw_uuid4(req);
    lgw_uuid4(e1);
    lgw_uuid4(e2);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    event(&ev, e1, req);
    assert_int_equal(write_events(db, &ev, 1), 1);
    lgw_ledger_db_close(db);

    /* the schema exists now: opening again must not fail, and the rows and their uniqueness survive */
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    assert_int_equal(write_events(db, &ev, 1), 0);
    event(&ev, e2, req);
    assert_int_equal(write_events(db, &ev, 1), 1);
    lgw_ledger_db_close(db);
    assert_int_equal(rows_of(fx, req), 2);
    assert_int_equal(reruns_of(fx, req), 1);
}

static void test_columns(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char req[40], e1[40], text[128];
    lgw_uuid4(req);
    lgw_uuid4(e1);
    struct lgw_ledger_db *db;
    struct lgw_cost_event ev;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0);
    event(&ev, e1, req);
    ev.kind = LGW_JOB_EMBEDDINGS;
    ev.cache_hit = true;
    ev.provider_call = 3;
    ev.cost_estimated = true;
    ev.usage.cache_write_input_tokens = 5;
    ev.simulated = true;
    ev.has_ttft = true;
    ev.ttft_ms = 77;
    assert_int_equal(write_events(db, &ev, 1), 1);
    lgw_ledger_db_close(db);

    /* every column under the name analytics queries use, with the values written */
    assert_int_equal(
        lgw_test_db_query_int(fx,
                              "SELECT count(*) FROM cost_events WHERE event_id = $1 AND tenant = 'acme'"
                              " AND user_id = 'bob' AND provider = 'echo' AND model = 'echo-1' AND kind = 'embeddings'"
                              " AND input_tokens = 100 AND output_tokens = 20 AND cached_input_tokens = 7"
                              " AND cost_known AND latency_ms = 12 AND status = 200 AND outcome = 'ok' AND cache_hit"
                              " AND NOT rerun AND attempt = 1 AND strategy = 'default' AND worker = 'w1'"
                              " AND ts_ms = 1700000000000 AND created_at IS NOT NULL AND final AND provider_call = 3"
                              " AND cost_estimated AND cache_write_input_tokens = 5 AND run_id = event_id"
                              " AND simulated AND ttft_ms = 77",
                              e1),
        1);
    if (fx->be == LGW_TEST_PG) {
        /* dollars only at the edge, exact to the nano-dollar */
        lgw_test_db_query_text(fx, "SELECT cost_usd::text FROM cost_events_usd WHERE event_id = $1", e1, text,
                               sizeof(text));
        assert_string_equal(text, "9000000000.000000000");
    }
}

/* The table as the ledger created it before per-attempt events (final, provider_call, cost_estimated,
 * cache_write_input_tokens, run_id): an existing ledger must gain the columns on open, keep its rows and
 * read them as what they were, one final event per execution with reported usage. */
static const char previous_schema_pg[] =
    "CREATE TABLE cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens BIGINT,"
    " output_tokens BIGINT, cached_input_tokens BIGINT, cost_nusd BIGINT NOT NULL,"
    " cost_known BOOLEAN NOT NULL, latency_ms BIGINT, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit BOOLEAN, rerun BOOLEAN NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT now(), route_attempts INTEGER, route TEXT);";
static const char previous_schema_sqlite[] =
    "CREATE TABLE cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens INTEGER,"
    " output_tokens INTEGER, cached_input_tokens INTEGER, cost_nusd INTEGER NOT NULL,"
    " cost_known INTEGER NOT NULL, latency_ms INTEGER, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit INTEGER, rerun INTEGER NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms INTEGER NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, route_attempts INTEGER,"
    " route TEXT);";

/* Inserts the row an older ledger wrote (event old_ev of request old_req: 4500 nUSD, no rerun), with the columns
 * its table had: up to route (upto 0), then up to run_id too (1), then up to saved_nusd too (2). */
static void insert_old_row(const struct lgw_test_db *fx, int upto, const char *old_ev, const char *old_req)
{
    const char *yes = fx->be == LGW_TEST_PG ? "true" : "1", *no = fx->be == LGW_TEST_PG ? "false" : "0";
    char sql[2048];
    size_t n = (size_t)snprintf(
        sql, sizeof(sql),
        "INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model, kind, input_tokens,"
        " output_tokens, cached_input_tokens, cost_nusd, cost_known, latency_ms, status, outcome, cache_hit,"
        " rerun, attempt, strategy, worker, ts_ms, route_attempts, route%s%s) VALUES ('%s', '%s', 'acme', 'bob',"
        " 'openai', 'gpt-4o-mini', 'chat', 10, 5, 0, 4500, %s, 100, 200, 'ok', %s, %s, 1, 'cost', 'w0',"
        " 1690000000000, 1, 'openai/gpt-4o-mini=200'",
        upto >= 1 ? ", final, provider_call, cost_estimated, cache_write_input_tokens, run_id" : "",
        upto >= 2 ? ", saved_nusd" : "", old_ev, old_req, yes, no, no);
    if (upto >= 1)
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s, 1, %s, 0, '%s'", yes, no, old_ev);
    snprintf(sql + n, sizeof(sql) - n, "%s)", upto >= 2 ? ", 0" : "");
    lgw_test_db_exec(fx, sql);
}

static void test_upgrade_from_previous_schema(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char old_req[40], old_ev[40], run[40], nonfinal[48];
    lgw_uuid4(old_req);
    lgw_uuid4(old_ev);
    lgw_uuid4(run);
    snprintf(nonfinal, sizeof(nonfinal), "%s.1", run);
    lgw_test_db_own_schema(fx, "upg_", old_req);
    lgw_test_db_exec(fx, fx->be == LGW_TEST_PG ? previous_schema_pg : previous_schema_sqlite);
    insert_old_row(fx, 0, old_ev, old_req);

    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* migrates */
    struct lgw_cost_event ev[3];
    event(&ev[0], nonfinal, old_req); /* a second execution of the old request: a billed timeout, then final */
    ev[0].final = false;
    ev[0].cost_estimated = true;
    ev[0].status = 504;
    lgw_strlcpy(ev[0].outcome, "error", sizeof(ev[0].outcome));
    event(&ev[1], run, old_req);
    ev[1].provider_call = 2;
    ev[1].usage.cache_write_input_tokens = 30;
    assert_int_equal(write_events(db, ev, 2), 2);
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* and opens again over the migrated table */
    lgw_ledger_db_close(db);

    /* the old row: untouched, read as a final event with reported usage */
    assert_int_equal(
        lgw_test_db_query_int(fx,
                              "SELECT count(*) FROM cost_events WHERE event_id = $1 AND cost_nusd = 4500 AND NOT rerun"
                              " AND final IS NULL AND cost_estimated IS NULL AND run_id IS NULL"
                              " AND COALESCE(final, true) AND NOT COALESCE(cost_estimated, false)",
                              old_ev),
        1);
    /* the new execution's two events are reruns of the old one (another run), not of each other */
    assert_int_equal(
        lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE request_id = $1 AND rerun", old_req), 2);
    assert_int_equal(
        lgw_test_db_query_int(fx,
                              "SELECT count(*) FROM cost_events WHERE run_id = $1 AND ((event_id = run_id AND final"
                              " AND provider_call = 2 AND cache_write_input_tokens = 30 AND NOT cost_estimated)"
                              " OR (event_id <> run_id AND NOT final AND cost_estimated AND status = 504))",
                              run),
        2);
    /* a request's spend sums over its events; requests count by request_id */
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(DISTINCT request_id) FROM cost_events WHERE request_id = $1"
                                           " AND COALESCE(final, true)",
                                           old_req),
                     1);
    lgw_test_db_drop_schema(fx);
}

/* The table as it was before saved_nusd (every column up to run_id). */
static const char before_saved_pg[] =
    "CREATE TABLE cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens BIGINT,"
    " output_tokens BIGINT, cached_input_tokens BIGINT, cost_nusd BIGINT NOT NULL,"
    " cost_known BOOLEAN NOT NULL, latency_ms BIGINT, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit BOOLEAN, rerun BOOLEAN NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT now(), route_attempts INTEGER, route TEXT,"
    " final BOOLEAN, provider_call INTEGER, cost_estimated BOOLEAN, cache_write_input_tokens BIGINT, run_id TEXT);";
static const char before_saved_sqlite[] =
    "CREATE TABLE cost_events ("
    " event_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, model TEXT NOT NULL, kind TEXT NOT NULL, input_tokens INTEGER,"
    " output_tokens INTEGER, cached_input_tokens INTEGER, cost_nusd INTEGER NOT NULL,"
    " cost_known INTEGER NOT NULL, latency_ms INTEGER, status INTEGER, outcome TEXT NOT NULL,"
    " cache_hit INTEGER, rerun INTEGER NOT NULL, attempt INTEGER, strategy TEXT,"
    " worker TEXT, ts_ms INTEGER NOT NULL, created_at TEXT DEFAULT CURRENT_TIMESTAMP, route_attempts INTEGER,"
    " route TEXT, final INTEGER, provider_call INTEGER, cost_estimated INTEGER, cache_write_input_tokens INTEGER,"
    " run_id TEXT);";

/* A ledger from before saved_nusd gains the column: its rows keep NULL there (no hit was ever recorded), and
 * a cache hit written after the upgrade has its saving, at $0 of spend. */
static void test_upgrade_adds_saved_nusd(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char old_req[40], old_ev[40], hit[40];
    lgw_uuid4(old_req);
    lgw_uuid4(old_ev);
    lgw_uuid4(hit);
    lgw_test_db_own_schema(fx, "sav_", old_req);
    lgw_test_db_exec(fx, fx->be == LGW_TEST_PG ? before_saved_pg : before_saved_sqlite);
    insert_old_row(fx, 1, old_ev, old_req);

    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* migrates */
    struct lgw_cost_event ev;
    event(&ev, hit, old_req); /* the same request again, answered from the cache */
    ev.cache_hit = true;
    ev.cost_nusd = 0;
    ev.saved_nusd = 4500;
    ev.provider_call = 0;
    ev.usage = (struct lgw_usage){0, 0, 0, 0};
    assert_int_equal(write_events(db, &ev, 1), 1);
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* and opens again over the migrated table */
    lgw_ledger_db_close(db);

    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1 AND saved_nusd IS NULL"
                                           " AND cost_nusd = 4500",
                                           old_ev),
                     1);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT saved_nusd FROM cost_events WHERE event_id = $1 AND cache_hit"
                                           " AND cost_nusd = 0",
                                           hit),
                     4500);
    /* what the request's executions spent, and what the cache saved */
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT sum(cost_nusd) + sum(COALESCE(saved_nusd, 0)) FROM cost_events"
                                           " WHERE request_id = $1",
                                           old_req),
                     9000);
    lgw_test_db_drop_schema(fx);
}

/* A ledger from before key_id (every column up to saved_nusd) gains it: its rows keep NULL there (no key
 * was recorded), an event with a key stores its id, and a keyless one (a dev request) stores NULL, never "". */
static void test_upgrade_adds_key_id(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char old_req[40], old_ev[40], keyed[40], keyless[40], sql[2048];
    lgw_uuid4(old_req);
    lgw_uuid4(old_ev);
    lgw_uuid4(keyed);
    lgw_uuid4(keyless);
    lgw_test_db_own_schema(fx, "kid_", old_req);
    snprintf(sql, sizeof(sql), "%.*s, saved_nusd %s);",
             (int)(strlen(fx->be == LGW_TEST_PG ? before_saved_pg : before_saved_sqlite) - 2),
             fx->be == LGW_TEST_PG ? before_saved_pg : before_saved_sqlite,
             fx->be == LGW_TEST_PG ? "BIGINT" : "INTEGER");
    lgw_test_db_exec(fx, sql);
    insert_old_row(fx, 2, old_ev, old_req);

    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* migrates */
    struct lgw_cost_event ev[2];
    event(&ev[0], keyed, old_req);
    lgw_strlcpy(ev[0].key_id, "key_0123456789ab", sizeof(ev[0].key_id));
    event(&ev[1], keyless, old_req);
    assert_int_equal(write_events(db, ev, 2), 2);
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* and opens again over the migrated table */
    lgw_ledger_db_close(db);

    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1 AND key_id IS NULL"
                                           " AND cost_nusd = 4500",
                                           old_ev),
                     1);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1"
                                           " AND key_id = 'key_0123456789ab'",
                                           keyed),
                     1);
    assert_int_equal(
        lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1 AND key_id IS NULL", keyless),
        1);
    lgw_test_db_drop_schema(fx);
}

/* A ledger from before simulated and ttft_ms (every column up to key_id) gains them: its rows keep NULL in both
 * (read as not simulated, TTFT unknown); a simulated streamed answer stores true and its TTFT, a real answer that
 * was not streamed stores false and NULL. */
static void test_upgrade_adds_simulated_and_ttft(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char old_req[40], old_ev[40], sim[40], real[40], sql[2048];
    lgw_uuid4(old_req);
    lgw_uuid4(old_ev);
    lgw_uuid4(sim);
    lgw_uuid4(real);
    lgw_test_db_own_schema(fx, "sim_", old_req);
    bool pg = fx->be == LGW_TEST_PG;
    snprintf(sql, sizeof(sql), "%.*s, saved_nusd %s, key_id TEXT);",
             (int)(strlen(pg ? before_saved_pg : before_saved_sqlite) - 2), pg ? before_saved_pg : before_saved_sqlite,
             pg ? "BIGINT" : "INTEGER");
    lgw_test_db_exec(fx, sql);
    insert_old_row(fx, 2, old_ev, old_req);

    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* migrates */
    struct lgw_cost_event ev[2];
    event(&ev[0], sim, old_req);
    lgw_strlcpy(ev[0].provider, "openai-sim", sizeof(ev[0].provider));
    ev[0].simulated = true;
    ev[0].has_ttft = true;
    ev[0].ttft_ms = 420;
    event(&ev[1], real, old_req);
    assert_int_equal(write_events(db, ev, 2), 2);
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* and opens again over the migrated table */
    lgw_ledger_db_close(db);

    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1 AND simulated IS NULL"
                                           " AND ttft_ms IS NULL AND NOT COALESCE(simulated, FALSE) AND cost_nusd = 4500",
                                           old_ev),
                     1);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT ttft_ms FROM cost_events WHERE event_id = $1 AND simulated"
                                           " AND provider = 'openai-sim'",
                                           sim),
                     420);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1 AND NOT simulated"
                                           " AND ttft_ms IS NULL",
                                           real),
                     1);
    lgw_test_db_drop_schema(fx);
}

/* A ledger from before trace_id (every column up to ttft_ms) gains it: its rows keep NULL there (no trace was
 * recorded), an event with a trace id stores it, and one without (a job that carried no trace context)
 * stores NULL, never "". This step is its own: other columns may be added beside it, each with its own test. */
static void test_upgrade_adds_trace_id(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char old_req[40], old_ev[40], traced[40], untraced[40], sql[2048];
    lgw_uuid4(old_req);
    lgw_uuid4(old_ev);
    lgw_uuid4(traced);
    lgw_uuid4(untraced);
    lgw_test_db_own_schema(fx, "tid_", old_req);
    const char *before = fx->be == LGW_TEST_PG ? before_saved_pg : before_saved_sqlite;
    bool pg = fx->be == LGW_TEST_PG;
    /* the schema just before trace_id: every column up to ttft_ms */
    snprintf(sql, sizeof(sql), "%.*s, saved_nusd %s, key_id TEXT, simulated %s, ttft_ms %s);",
             (int)(strlen(before) - 2), before, pg ? "BIGINT" : "INTEGER", pg ? "BOOLEAN" : "INTEGER",
             pg ? "BIGINT" : "INTEGER");
    lgw_test_db_exec(fx, sql);
    insert_old_row(fx, 2, old_ev, old_req);

    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* migrates */
    struct lgw_cost_event ev[2];
    event(&ev[0], traced, old_req);
    lgw_strlcpy(ev[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", sizeof(ev[0].trace_id));
    event(&ev[1], untraced, old_req);
    assert_int_equal(write_events(db, ev, 2), 2);
    lgw_ledger_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &db), 0); /* and opens again over the migrated table */
    lgw_ledger_db_close(db);

    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1 AND trace_id IS NULL"
                                           " AND cost_nusd = 4500",
                                           old_ev),
                     1);
    assert_int_equal(lgw_test_db_query_int(fx,
                                           "SELECT count(*) FROM cost_events WHERE event_id = $1"
                                           " AND trace_id = '4bf92f3577b34da6a3ce929d0e0e4736'",
                                           traced),
                     1);
    assert_int_equal(
        lgw_test_db_query_int(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1 AND trace_id IS NULL", untraced),
        1);
    lgw_test_db_drop_schema(fx);
}

static void test_bad_url(void **state)
{
    (void)state;
    struct lgw_ledger_db *db;
    assert_int_equal(lgw_ledger_db_open("mysql://x", &db), LGW_ERR(CONFIG));
    assert_null(db);
    assert_int_equal(lgw_ledger_db_open("sqlite:", &db), LGW_ERR(CONFIG));
    assert_int_equal(lgw_ledger_db_open("sqlite:/nonexistent-dir/x/ledger.db", &db), LGW_ERR(DB));
    assert_null(db);
}

/* A connection failure is logged with the host only: neither password (userinfo or query) reaches stderr. */
static void test_password_not_logged(void **state)
{
    (void)state;
    struct lgw_ledger_db *db;
    char path[] = "/tmp/llmgw-ledger-log-XXXXXX", text[4096] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    int rc = lgw_ledger_db_open("postgresql://nobody:s3cr3tpw@127.0.0.1:1/none?password=0th3rpw", &db);
    dup2(saved, 2);
    close(saved);
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    assert_int_equal(rc, LGW_ERR(DB));
    assert_true(n > 0);
    assert_non_null(strstr(text, "127.0.0.1"));
    assert_null(strstr(text, "s3cr3tpw"));
    assert_null(strstr(text, "0th3rpw"));
    assert_null(strstr(text, "nobody"));
}

/* Each case twice, named by backend so a failure says which one. */
#define BOTH(f) LGW_TEST_DB_BOTH(f, setup, lgw_test_db_teardown)
#define PG_ONLY(f)                                                                                           \
    {.name = "postgresql:" #f, .test_func = f, .setup_func = setup, .teardown_func = lgw_test_db_teardown,   \
     .initial_state = (void *)(intptr_t)LGW_TEST_PG}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_duplicates), BOTH(test_rerun), BOTH(test_batch), PG_ONLY(test_batch_failures), BOTH(test_rollback),
        BOTH(test_reopen), BOTH(test_columns),
        BOTH(test_upgrade_from_previous_schema), BOTH(test_upgrade_adds_saved_nusd), BOTH(test_upgrade_adds_key_id),
        BOTH(test_upgrade_adds_simulated_and_ttft),
        BOTH(test_upgrade_adds_trace_id),
        cmocka_unit_test(test_bad_url), cmocka_unit_test(test_password_not_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

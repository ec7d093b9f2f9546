/* test_tenancy_audit.c - the admin audit in the ledger's database (ledger/audit.h), on SQLite and on
 * PostgreSQL when LLMGW_TEST_PG_URL names one: rows with who/what/when, idempotent on id, records without
 * the required fields refused, and a ledger database from before the table gains it. */
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

#include "common/buf.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "ledger/audit.h"
#include "ledger/ledger_db.h"

enum backend { SQLITE, PG };

struct fixture {
    enum backend be;
    char dir[64];
    char url[640]; /* empty: backend not available, the test is skipped */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (!fx)
        return -1;
    fx->be = (enum backend)(intptr_t)*state;
    if (fx->be == SQLITE) {
        lgw_strlcpy(fx->dir, "/tmp/llmgw-audit-XXXXXX", sizeof(fx->dir));
        if (!mkdtemp(fx->dir))
            return -1;
        snprintf(fx->url, sizeof(fx->url), "sqlite:%s/ledger.db", fx->dir);
    } else {
        const char *url = getenv("LLMGW_TEST_PG_URL");
        if (url)
            lgw_strlcpy(fx->url, url, sizeof(fx->url));
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->be == SQLITE) {
        static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
        char path[128];
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
            unlink(path);
        }
        rmdir(fx->dir);
    }
    free(fx);
    return 0;
}

static struct fixture *fixture(void **state)
{
    struct fixture *fx = *state;
    if (!fx->url[0])
        skip();
    return fx;
}

static void exec_sql(const struct fixture *fx, const char *sql)
{
    if (fx->be == SQLITE) {
        sqlite3 *db;
        char *err = NULL;
        assert_int_equal(sqlite3_open(fx->url + 7, &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
            fail_msg("%s: %s", sql, err);
        sqlite3_close(db);
        return;
    }
    PGconn *pg = PQconnectdb(fx->url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

static void query_text(const struct fixture *fx, const char *sql, const char *arg, char *out, size_t outsz)
{
    if (fx->be == SQLITE) {
        sqlite3 *db;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(fx->url + 7, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        const unsigned char *v = sqlite3_column_text(st, 0);
        lgw_strlcpy(out, v ? (const char *)v : "", outsz);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return;
    }
    PGconn *pg = PQconnectdb(fx->url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    const char *params[] = {arg};
    PGresult *res = PQexecParams(pg, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    assert_true(PQntuples(res) > 0);
    lgw_strlcpy(out, PQgetvalue(res, 0, 0), outsz);
    PQclear(res);
    PQfinish(pg);
}

/* On PostgreSQL, a schema of this test's own (the shared database's tables are untouched), as
 * test_ledger_db.c's own_schema does. */
static void own_schema(struct fixture *fx, const char *seed)
{
    if (fx->be != PG)
        return;
    char schema[40] = "aud_", sql[128], url[700];
    for (int i = 0; i < 12; i++)
        schema[4 + i] = seed[i] == '-' ? '_' : seed[i];
    schema[16] = '\0';
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    exec_sql(fx, sql);
    snprintf(url, sizeof(url), "%s%coptions=-csearch_path%%3D%s", fx->url, strchr(fx->url, '?') ? '&' : '?', schema);
    lgw_strlcpy(fx->url, url, sizeof(fx->url));
}

static json_t *audit_record(const char *id)
{
    return json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:n, s:{s:s, s:b}, s:s}", "v", 1, "id", id, "ts_ms",
                     (json_int_t)1790000000000LL, "principal", "ops", "action", "key.revoke", "target",
                     "key:key_0123456789ab", "before", "after", "tenant", "acme", "revoked", 1, "request_id", "req-1");
}

static void test_rows_idempotent(void **state)
{
    struct fixture *fx = fixture(state);
    char id[40], text[256];
    lgw_uuid4(id);
    own_schema(fx, id);
    struct lgw_audit_db *db;
    assert_int_equal(lgw_audit_db_open(fx->url, &db), 0);
    json_t *rec = audit_record(id);
    bool inserted;
    assert_int_equal(lgw_audit_db_insert(db, rec, &inserted), 0);
    assert_true(inserted);
    assert_int_equal(lgw_audit_db_insert(db, rec, &inserted), 0); /* a replay of the topic */
    assert_false(inserted);
    json_decref(rec);
    /* the required fields */
    json_t *bad = json_pack("{s:s, s:s}", "id", "x", "principal", "ops");
    assert_int_equal(lgw_audit_db_insert(db, bad, &inserted), LGW_ERR(INVALID));
    json_decref(bad);
    lgw_audit_db_close(db);
    query_text(fx, "SELECT principal || '|' || action || '|' || target || '|' || ts_ms || '|' || request_id"
                   " FROM admin_audit WHERE id = $1",
               id, text, sizeof(text));
    assert_string_equal(text, "ops|key.revoke|key:key_0123456789ab|1790000000000|req-1");
    query_text(fx, "SELECT count(*) FROM admin_audit WHERE id = $1 AND before IS NULL", id, text, sizeof(text));
    assert_string_equal(text, "1");
    query_text(fx,
               fx->be == PG ? "SELECT after->>'tenant' FROM admin_audit WHERE id = $1"
                            : "SELECT json_extract(after, '$.tenant') FROM admin_audit WHERE id = $1",
               id, text, sizeof(text));
    assert_string_equal(text, "acme");
}

/* A ledger database made before the audit existed (only cost_events): opening it for the audit adds the
 * table, the cost ledger opens it as before, and the old rows stay. */
static void test_upgrade_adds_table(void **state)
{
    struct fixture *fx = fixture(state);
    char id[40], text[64];
    lgw_uuid4(id);
    own_schema(fx, id);
    struct lgw_ledger_db *ldb;
    assert_int_equal(lgw_ledger_db_open(fx->url, &ldb), 0); /* today's cost ledger schema, no admin_audit */
    lgw_ledger_db_close(ldb);
    exec_sql(fx, "DROP TABLE IF EXISTS admin_audit");
    exec_sql(fx, "INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model, kind, cost_nusd,"
                 " cost_known, outcome, rerun, ts_ms) VALUES ('e1', 'r1', 'acme', '', 'openai', 'gpt-4o', 'chat', 5,"
                 " true, 'ok', false, 1)");
    struct lgw_audit_db *db;
    assert_int_equal(lgw_audit_db_open(fx->url, &db), 0);
    json_t *rec = audit_record(id);
    bool inserted;
    assert_int_equal(lgw_audit_db_insert(db, rec, &inserted), 0);
    assert_true(inserted);
    json_decref(rec);
    lgw_audit_db_close(db);
    assert_int_equal(lgw_audit_db_open(fx->url, &db), 0); /* and again over the existing table */
    lgw_audit_db_close(db);
    assert_int_equal(lgw_ledger_db_open(fx->url, &ldb), 0);
    lgw_ledger_db_close(ldb);
    query_text(fx, "SELECT count(*) FROM admin_audit WHERE id = $1", id, text, sizeof(text));
    assert_string_equal(text, "1");
    query_text(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1", "e1", text, sizeof(text));
    assert_string_equal(text, "1");
}

static void test_bad_url(void **state)
{
    (void)state;
    struct lgw_audit_db *db = NULL;
    assert_int_equal(lgw_audit_db_open("mysql://x", &db), LGW_ERR(CONFIG));
    assert_null(db);
    assert_int_equal(lgw_audit_db_open("sqlite:", &db), LGW_ERR(CONFIG));
}

#define BOTH(f)                                                                                            \
    {.name = "sqlite:" #f, .test_func = f, .setup_func = setup, .teardown_func = teardown,                 \
     .initial_state = (void *)(intptr_t)SQLITE},                                                           \
        {.name = "postgresql:" #f, .test_func = f, .setup_func = setup, .teardown_func = teardown,         \
         .initial_state = (void *)(intptr_t)PG}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_rows_idempotent),
        BOTH(test_upgrade_adds_table),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

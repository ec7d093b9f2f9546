/* test_tenancy_audit.c - the admin audit in the ledger's database (ledger/audit.h), on SQLite and on
 * PostgreSQL when LLMGW_TEST_PG_URL names one: rows with who/what/when, idempotent on id, records without
 * the required fields refused, and a ledger database from before the table gains it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/uuid.h"
#include "ledger/audit.h"
#include "ledger/ledger_db.h"
#include "tests/support/db_fixture.h"

static int setup(void **state)
{
    return lgw_test_db_setup(state, "audit");
}

static json_t *audit_record(const char *id)
{
    return json_pack("{s:i, s:s, s:I, s:s, s:s, s:s, s:n, s:{s:s, s:b}, s:s}", "v", 1, "id", id, "ts_ms",
                     (json_int_t)1790000000000LL, "principal", "ops", "action", "key.revoke", "target",
                     "key:key_0123456789ab", "before", "after", "tenant", "acme", "revoked", 1, "request_id", "req-1");
}

static void test_rows_idempotent(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char id[40], text[256];
    lgw_uuid4(id);
    lgw_test_db_own_schema(fx, "aud_", id);
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
    lgw_test_db_query_text(fx,
                           "SELECT principal || '|' || action || '|' || target || '|' || ts_ms || '|' || request_id"
                           " FROM admin_audit WHERE id = $1",
                           id, text, sizeof(text));
    assert_string_equal(text, "ops|key.revoke|key:key_0123456789ab|1790000000000|req-1");
    lgw_test_db_query_text(fx, "SELECT count(*) FROM admin_audit WHERE id = $1 AND before IS NULL", id, text,
                           sizeof(text));
    assert_string_equal(text, "1");
    lgw_test_db_query_text(fx,
                           fx->be == LGW_TEST_PG
                               ? "SELECT after->>'tenant' FROM admin_audit WHERE id = $1"
                               : "SELECT json_extract(after, '$.tenant') FROM admin_audit WHERE id = $1",
                           id, text, sizeof(text));
    assert_string_equal(text, "acme");
}

/* A ledger database made before the audit existed (only cost_events): opening it for the audit adds the
 * table, the cost ledger opens it as before, and the old rows stay. */
static void test_upgrade_adds_table(void **state)
{
    struct lgw_test_db *fx = lgw_test_db_fixture(state);
    char id[40], text[64];
    lgw_uuid4(id);
    lgw_test_db_own_schema(fx, "aud_", id);
    struct lgw_ledger_db *ldb;
    assert_int_equal(lgw_ledger_db_open(fx->url, &ldb), 0); /* today's cost ledger schema, no admin_audit */
    lgw_ledger_db_close(ldb);
    lgw_test_db_exec(fx, "DROP TABLE IF EXISTS admin_audit");
    lgw_test_db_exec(
        fx, "INSERT INTO cost_events (event_id, request_id, tenant, user_id, provider, model, kind, cost_nusd,"
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
    lgw_test_db_query_text(fx, "SELECT count(*) FROM admin_audit WHERE id = $1", id, text, sizeof(text));
    assert_string_equal(text, "1");
    lgw_test_db_query_text(fx, "SELECT count(*) FROM cost_events WHERE event_id = $1", "e1", text, sizeof(text));
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

#define BOTH(f) LGW_TEST_DB_BOTH(f, setup, lgw_test_db_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_rows_idempotent),
        BOTH(test_upgrade_adds_table),
        cmocka_unit_test(test_bad_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_db_conn.c - the database connections every role shares (common/pg.c, common/sqlite.c): the log target
 * never shows a password, a connection the server dropped is made again and its on_connect runs again (the
 * ledger's prepared insert lives in the session), a failed on_connect leaves no connection, result cells are
 * copied with their lengths, and a SQLite file opens with its pragmas or fails with *out NULL. The PostgreSQL
 * cases need LLMGW_TEST_PG_URL and are skipped without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/sqlite.h"
#include "tests/support/services.h"

static void test_target(void **state)
{
    (void)state;
    static const struct {
        const char *url, *want;
    } cases[] = {
        {"postgresql://user:secret@db.example:5433/llmgw?sslmode=require", "db.example:5433"},
        {"postgres://db.example/llmgw", "db.example"},
        {"postgresql://user:p/ss@w@rd@host:5432/db", "host:5432"}, /* an unescaped '/' and '@' in the password */
        {"postgresql:///llmgw?host=/run/postgresql", "(default host)"},
        {"postgresql://u:pw@/db", "(default host)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        lgw_pg_target(cases[i].url, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("lgw_pg_target(%s) = %s, want %s", cases[i].url, out, cases[i].want);
        assert_null(strstr(out, "secret"));
        assert_null(strstr(out, "ss@w"));
    }
}

struct counts {
    int connects;
    int fail; /* on_connect fails while set */
};

static int on_connect_cb(struct lgw_pg *db, void *arg)
{
    struct counts *c = arg;
    c->connects++;
    if (c->fail)
        return LGW_ERR(DB);
    /* What the ledger does on each connection: a statement prepared in the session. */
    return lgw_pg_command(db, "prepare", "PREPARE lgw_test_one AS SELECT 1");
}

static const struct lgw_pg_role test_role = {
    .module = "test",
    .application_name = "llmgw-test-db-conn",
    .options = "-c statement_timeout=5000",
    .notice_level = LGW_LOG_DEBUG,
    .failed_level = LGW_LOG_WARN,
    .name_target = true,
    .on_connect = on_connect_cb,
};

/* The statement on_connect prepared runs in db's session. */
static void assert_prepared(struct lgw_pg *db)
{
    PGresult *res = PQexec(db->pg, "EXECUTE lgw_test_one");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
}

/* The test database's URL; skips the case without one (tests/support/services.h). */
static const char *pg_url(void)
{
    return lgw_test_service("LLMGW_TEST_PG_URL");
}

/* A connection to the test database with c counting its on_connect runs; skips without one. */
static struct lgw_pg *open_or_skip(struct counts *c)
{
    const char *url = pg_url();
    struct lgw_pg *db;
    assert_int_equal(lgw_pg_open(url, &test_role, c, &db), LGW_OK);
    assert_non_null(db->pg);
    return db;
}

static void test_pg_reconnect_runs_on_connect_again(void **state)
{
    (void)state;
    struct counts c = {0};
    struct lgw_pg *db = open_or_skip(&c);
    const char *url = pg_url();
    assert_int_equal(c.connects, 1);
    assert_int_equal(lgw_pg_ensure(db), LGW_OK); /* connected: nothing again */
    assert_int_equal(c.connects, 1);
    assert_prepared(db);

    /* The server drops the session (as a restart would): the next statement fails and finds it broken. */
    PGconn *admin = lgw_pg_connect(url, "llmgw-test-admin", NULL);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)", PQbackendPID(db->pg));
    PGresult *res = PQexec(admin, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    PQfinish(admin);
    for (int i = 0; i < 50 && PQstatus(db->pg) == CONNECTION_OK; i++) { /* until libpq sees it */
        PQclear(PQexec(db->pg, "SELECT 1"));
        usleep(20000);
    }
    assert_int_not_equal(PQstatus(db->pg), CONNECTION_OK);
    lgw_pg_drop_broken(db);
    assert_null(db->pg);

    /* Made again, and on_connect with it: the prepared statement is there in the new session. */
    assert_int_equal(lgw_pg_ensure(db), LGW_OK);
    assert_int_equal(c.connects, 2);
    assert_prepared(db);

    /* A command that fails is LGW_ERR(DB) and leaves a good connection alone. */
    assert_int_equal(lgw_pg_command(db, "bad", "SELECT * FROM lgw_no_such_table"), LGW_ERR(DB));
    lgw_pg_drop_broken(db);
    assert_non_null(db->pg);
    lgw_pg_free(db);
}

static void test_pg_failed_setup_leaves_no_connection(void **state)
{
    (void)state;
    const char *url = pg_url();
    struct counts c = {.fail = 1};
    struct lgw_pg *db = (struct lgw_pg *)1;
    assert_int_equal(lgw_pg_open(url, &test_role, &c, &db), LGW_ERR(DB));
    assert_null(db);
    assert_int_equal(c.connects, 1);

    struct lgw_pg *lazy = lgw_pg_new(url, &test_role, &c);
    assert_null(lazy->pg); /* not connected before the first ensure */
    assert_int_equal(lgw_pg_ensure(lazy), LGW_ERR(DB));
    assert_null(lazy->pg);
    c.fail = 0;
    assert_int_equal(lgw_pg_ensure(lazy), LGW_OK); /* the next ensure tries again */
    assert_non_null(lazy->pg);
    lgw_pg_free(lazy);
    lgw_pg_free(NULL);
}

static void test_pg_unreachable(void **state)
{
    (void)state;
    struct counts c = {0};
    struct lgw_pg *db;
    /* Port 1 on localhost: refused at once. */
    assert_int_equal(lgw_pg_open("postgresql://u:pw@127.0.0.1:1/db", &test_role, &c, &db), LGW_ERR(DB));
    assert_null(db);
    assert_int_equal(c.connects, 0);
}

static void test_pg_cells(void **state)
{
    (void)state;
    struct counts c = {0};
    struct lgw_pg *db = open_or_skip(&c);
    /* Binary results: a bytea's bytes, NULs included, with their length. */
    PGresult *res = PQexecParams(db->pg,
                                 "SELECT 'a'::text, NULL::text, '\\x610062'::bytea UNION ALL "
                                 "SELECT 'bc', 'd', NULL",
                                 0, NULL, NULL, NULL, NULL, 1);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    size_t *lens;
    char **cells = lgw_pg_cells(res, &lens);
    assert_string_equal(cells[0], "a");
    assert_int_equal(lens[0], 1);
    assert_null(cells[1]);
    assert_int_equal(lens[2], 3);
    assert_memory_equal(cells[2], "a\0b", 3);
    assert_int_equal(cells[2][3], '\0');
    assert_string_equal(cells[3], "bc");
    assert_string_equal(cells[4], "d");
    assert_null(cells[5]);
    char **plain = lgw_pg_cells(res, NULL); /* without lengths */
    assert_string_equal(plain[3], "bc");
    for (size_t i = 0; i < 6; i++) {
        free(cells[i]);
        free(plain[i]);
    }
    free(cells);
    free(plain);
    free(lens);
    PQclear(res);
    lgw_pg_free(db);
}

static void test_sqlite_open(void **state)
{
    (void)state;
    char dir[] = "/tmp/llmgw-dbconn-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    sqlite3 *db = (sqlite3 *)1;
    /* Without SQLITE_OPEN_CREATE a missing file is an error (analytics never creates the ledger's file). */
    assert_int_equal(lgw_sqlite_open(path, SQLITE_OPEN_READWRITE, 1000, NULL, "test", LGW_LOG_DEBUG, &db), LGW_ERR(DB));
    assert_null(db);
    assert_int_equal(lgw_sqlite_open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 1000,
                                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "test", LGW_LOG_DEBUG, &db),
                     LGW_OK);
    assert_non_null(db);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* A pragma that fails fails the open, and the handle is closed. */
    assert_int_equal(lgw_sqlite_open(path, SQLITE_OPEN_READWRITE, 1000, "PRAGMA no_such; SELECT * FROM nope;", "test",
                                     LGW_LOG_DEBUG, &db),
                     LGW_ERR(DB));
    assert_null(db);
    char side[96];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target),
        cmocka_unit_test(test_pg_reconnect_runs_on_connect_again),
        cmocka_unit_test(test_pg_failed_setup_leaves_no_connection),
        cmocka_unit_test(test_pg_unreachable),
        cmocka_unit_test(test_pg_cells),
        cmocka_unit_test(test_sqlite_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

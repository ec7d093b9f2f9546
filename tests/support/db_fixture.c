/* db_fixture.c - the database under a unit test, on SQLite or PostgreSQL (see db_fixture.h). */
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
#include "common/uuid.h"
#include "tests/support/db_fixture.h"
#include "tests/support/services.h"

/* The path of a "sqlite:PATH" URL. */
#define SQLITE_PATH(url) ((url) + 7)

/* Fills db for backend be (see db_fixture.h). */
int lgw_test_db_init(struct lgw_test_db *db, enum lgw_test_backend be, const char *name)
{
    memset(db, 0, sizeof(*db));
    db->be = be;
    if (be == LGW_TEST_SQLITE) {
        snprintf(db->dir, sizeof(db->dir), "/tmp/llmgw-%s-XXXXXX", name);
        if (!mkdtemp(db->dir))
            return -1;
        snprintf(db->url, sizeof(db->url), "sqlite:%s/ledger.db", db->dir);
    } else {
        const char *url = getenv("LLMGW_TEST_PG_URL");
        if (url)
            lgw_strlcpy(db->url, url, sizeof(db->url));
    }
    return 0;
}

/* Removes the SQLite database and its directory. */
void lgw_test_db_cleanup(struct lgw_test_db *db)
{
    if (db->be != LGW_TEST_SQLITE || !db->dir[0])
        return;
    static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm"};
    char path[128];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", db->dir, files[i]);
        unlink(path);
    }
    rmdir(db->dir);
}

/* A cmocka setup making a struct lgw_test_db for the backend in *state. */
int lgw_test_db_setup(void **state, const char *name)
{
    struct lgw_test_db *db = calloc(1, sizeof(*db));
    if (!db)
        return -1;
    if (lgw_test_db_init(db, (enum lgw_test_backend)(intptr_t)*state, name)) {
        free(db);
        return -1;
    }
    *state = db;
    return 0;
}

/* The cmocka teardown of lgw_test_db_setup. */
int lgw_test_db_teardown(void **state)
{
    struct lgw_test_db *db = *state;
    lgw_test_db_cleanup(db);
    free(db);
    return 0;
}

/* Skips the running test when db's backend is not available. */
void lgw_test_db_require(const struct lgw_test_db *db)
{
    if (!db->url[0])
        lgw_test_service("LLMGW_TEST_PG_URL"); /* skips, or fails when the run requires its services */
}

/* The fixture lgw_test_db_setup made, after lgw_test_db_require. */
struct lgw_test_db *lgw_test_db_fixture(void **state)
{
    struct lgw_test_db *db = *state;
    lgw_test_db_require(db);
    return db;
}

/* On PostgreSQL, a schema of the test's own, which url's search_path then names. */
void lgw_test_db_own_schema(struct lgw_test_db *db, const char *prefix, const char *seed)
{
    if (db->be != LGW_TEST_PG || !db->url[0])
        return;
    char id[LGW_ID_MAX], sql[128], url[sizeof(db->url)];
    if (!seed) {
        lgw_uuid4(id);
        seed = id;
    }
    snprintf(db->schema, sizeof(db->schema), "%s%.12s", prefix, seed);
    for (char *p = db->schema; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", db->schema);
    lgw_test_db_exec(db, sql);
    if (snprintf(url, sizeof(url), "%s%coptions=-csearch_path%%3D%s", db->url, strchr(db->url, '?') ? '&' : '?',
                 db->schema) >= (int)sizeof(url))
        fail_msg("the test database URL is too long: %s", db->url);
    lgw_strlcpy(db->url, url, sizeof(db->url));
}

/* On PostgreSQL, drops the test's own schema. */
void lgw_test_db_drop_schema(const struct lgw_test_db *db)
{
    if (db->be != LGW_TEST_PG || !db->schema[0])
        return;
    char sql[128];
    snprintf(sql, sizeof(sql), "SET client_min_messages = warning; DROP SCHEMA %s CASCADE", db->schema);
    lgw_test_db_exec(db, sql);
}

/* Runs sql through its own connection. */
void lgw_test_db_exec(const struct lgw_test_db *db, const char *sql)
{
    if (db->be == LGW_TEST_SQLITE) {
        sqlite3 *lite;
        char *err = NULL;
        assert_int_equal(sqlite3_open(SQLITE_PATH(db->url), &lite), SQLITE_OK);
        if (sqlite3_exec(lite, sql, NULL, NULL, &err) != SQLITE_OK)
            fail_msg("%s: %s", sql, err);
        sqlite3_close(lite);
        return;
    }
    PGconn *pg = PQconnectdb(db->url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(pg);
}

/* Runs the query sql with nargs text parameters through its own connection; whether it gave a row. */
bool lgw_test_db_query(const struct lgw_test_db *db, const char *sql, const char *const *args, int nargs, char *out,
                       size_t outsz)
{
    bool row = false;
    if (db->be == LGW_TEST_SQLITE) {
        sqlite3 *lite;
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_open(SQLITE_PATH(db->url), &lite), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(lite, sql, -1, &st, NULL), SQLITE_OK);
        for (int i = 0; i < nargs; i++)
            sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            row = true;
            const unsigned char *v = sqlite3_column_text(st, 0);
            lgw_strlcpy(out, v ? (const char *)v : "", outsz);
        }
        sqlite3_finalize(st);
        sqlite3_close(lite);
        return row;
    }
    PGconn *pg = PQconnectdb(db->url);
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexecParams(pg, sql, nargs, NULL, args, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    if (PQntuples(res) > 0) {
        row = true;
        lgw_strlcpy(out, PQgetvalue(res, 0, 0), outsz);
    }
    PQclear(res);
    PQfinish(pg);
    return row;
}

/* The first column of the first row of sql with one parameter, as text; fails the test without a row. */
void lgw_test_db_query_text(const struct lgw_test_db *db, const char *sql, const char *arg, char *out, size_t outsz)
{
    if (!lgw_test_db_query(db, sql, &arg, 1, out, outsz))
        fail_msg("%s: no row", sql);
}

/* The same as an integer. */
long long lgw_test_db_query_int(const struct lgw_test_db *db, const char *sql, const char *arg)
{
    char text[64];
    long long v;
    lgw_test_db_query_text(db, sql, arg, text, sizeof(text));
    if (lgw_parse_int64(text, strlen(text), &v))
        fail_msg("%s: not an integer: \"%s\"", sql, text);
    return v;
}

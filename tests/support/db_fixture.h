/* db_fixture.h - the database under a unit test that runs on both of the ledger's engines: a fresh SQLite
 * file in a temporary directory, or the PostgreSQL server LLMGW_TEST_PG_URL names (those cases are skipped
 * without it), optionally in a schema of the test's own; statements and queries through a fresh connection
 * of their own, so they see only committed data; and the cmocka table rows naming each case by engine. */
#ifndef LGW_TEST_DB_FIXTURE_H
#define LGW_TEST_DB_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lgw_test_backend { LGW_TEST_SQLITE, LGW_TEST_PG };

struct lgw_test_db {
    enum lgw_test_backend be;
    char dir[64];    /* SQLite: the temporary directory holding ledger.db */
    char schema[40]; /* PostgreSQL: the test's own schema (lgw_test_db_own_schema); empty: the server's default */
    char url[700];   /* the database's URL; empty: the backend is not available, the test is skipped */
};

/* Fills db for backend be: on SQLite a new directory /tmp/llmgw-<name>-XXXXXX and url "sqlite:<dir>/ledger.db";
 * on PostgreSQL url from LLMGW_TEST_PG_URL, left empty when that is not set. Returns 0, or -1 when the
 * directory cannot be made. */
int lgw_test_db_init(struct lgw_test_db *db, enum lgw_test_backend be, const char *name);
/* Removes the SQLite database (with its -wal and -shm files) and its directory. A PostgreSQL schema stays:
 * see lgw_test_db_drop_schema. */
void lgw_test_db_cleanup(struct lgw_test_db *db);

/* A cmocka setup: *state holds the backend (an enum lgw_test_backend as intptr_t) going in, and a new
 * struct lgw_test_db made by lgw_test_db_init(name) coming out. Returns 0, or -1 on failure. */
int lgw_test_db_setup(void **state, const char *name);
/* The cmocka teardown of lgw_test_db_setup: lgw_test_db_cleanup, then frees the fixture. */
int lgw_test_db_teardown(void **state);
/* Skips the running test when db's backend is not available (PostgreSQL without LLMGW_TEST_PG_URL). */
void lgw_test_db_require(const struct lgw_test_db *db);
/* The fixture lgw_test_db_setup made, after lgw_test_db_require. */
struct lgw_test_db *lgw_test_db_fixture(void **state);

/* On PostgreSQL, moves db into a schema of its own so the shared database's tables are untouched: creates
 * schema <prefix><12 characters of seed, '-' as '_'> (seed NULL: a random UUID) and points url's search_path
 * at it. Nothing on SQLite, whose file is the test's own already, nor without a server. Fails the test on error. */
void lgw_test_db_own_schema(struct lgw_test_db *db, const char *prefix, const char *seed);
/* On PostgreSQL, drops the schema lgw_test_db_own_schema made, with everything in it; nothing otherwise. */
void lgw_test_db_drop_schema(const struct lgw_test_db *db);

/* Runs sql (no parameters; several statements allowed) through its own connection; fails the test on error. */
void lgw_test_db_exec(const struct lgw_test_db *db, const char *sql);
/* Runs the query sql with nargs text parameters, written $1, $2, ... (both engines accept that spelling),
 * through its own connection. Returns whether it gave a row; then out holds the first column of the first
 * row as text ("" for NULL). Fails the test on error. */
bool lgw_test_db_query(const struct lgw_test_db *db, const char *sql, const char *const *args, int nargs, char *out,
                       size_t outsz);
/* The first column of the first row of sql with one text parameter $1, as text ("" for NULL); fails the test
 * when there is no row. */
void lgw_test_db_query_text(const struct lgw_test_db *db, const char *sql, const char *arg, char *out, size_t outsz);
/* The same as an integer; fails the test when it is not one. */
long long lgw_test_db_query_int(const struct lgw_test_db *db, const char *sql, const char *arg);

/* Two rows of a cmocka test table for test f, one on each engine, named "sqlite:f" and "postgresql:f" so a
 * failure says which; setup gets the backend as its initial state (lgw_test_db_setup reads it). */
/* clang-format off */
#define LGW_TEST_DB_BOTH(f, setup, teardown)                                                              \
    {.name = "sqlite:" #f, .test_func = f, .setup_func = setup, .teardown_func = teardown,                 \
     .initial_state = (void *)(intptr_t)LGW_TEST_SQLITE},                                                  \
        {.name = "postgresql:" #f, .test_func = f, .setup_func = setup, .teardown_func = teardown,         \
         .initial_state = (void *)(intptr_t)LGW_TEST_PG}
/* clang-format on */

#endif

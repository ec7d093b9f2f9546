/* test_files_store.c - the batch_files table on SQLite (batch/files_store.c): bytes stored and read back
 * exactly (NULs included), tenant scoping on every read and delete, list order and the after cursor, and
 * retention. (PostgreSQL runs the same statements in tests/e2e/test_batch_http.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "batch/files_store.h"
#include "common/errors.h"

static struct lgw_fdb *open_db(char *path, size_t pathsz)
{
    snprintf(path, pathsz, "/tmp/test_files_store_%d.db", (int)getpid());
    unlink(path);
    char url[128];
    snprintf(url, sizeof(url), "sqlite:%s", path);
    struct lgw_fdb *db;
    assert_int_equal(lgw_fdb_open(url, &db), 0);
    assert_int_equal(lgw_files_migrate(db), 0);
    assert_int_equal(lgw_files_migrate(db), 0); /* again at every start */
    return db;
}

static void add(struct lgw_fdb *db, const char *id, const char *tenant, int64_t created, const char *data, size_t len)
{
    struct lgw_file_meta f = {.bytes = (int64_t)len, .created_at = created, .expires_at = created + 100};
    lgw_strlcpy(f.id, id, sizeof(f.id));
    lgw_strlcpy(f.tenant, tenant, sizeof(f.tenant));
    lgw_strlcpy(f.filename, "in.jsonl", sizeof(f.filename));
    lgw_strlcpy(f.purpose, "batch", sizeof(f.purpose));
    assert_int_equal(lgw_files_insert(db, &f, data, len), 0);
}

static void test_store(void **state)
{
    (void)state;
    char path[96];
    struct lgw_fdb *db = open_db(path, sizeof(path));
    static const char bytes[] = "line\0with\0nuls\n";
    add(db, "file-a", "acme", 1000, bytes, sizeof(bytes));
    add(db, "file-b", "acme", 1001, "b", 1);
    add(db, "file-c", "acme", 1001, "c", 1);
    add(db, "file-z", "other", 1002, "z", 1);

    struct lgw_file_meta f;
    assert_int_equal(lgw_files_get(db, "file-a", "acme", &f), 0);
    assert_string_equal(f.tenant, "acme");
    assert_int_equal(f.bytes, sizeof(bytes));
    assert_int_equal(f.created_at, 1000);
    assert_int_equal(lgw_files_get(db, "file-a", "other", &f), LGW_ERR(NOT_FOUND)); /* another tenant's */
    assert_int_equal(lgw_files_get(db, "file-a", "", &f), 0);                        /* an admin */
    char *data;
    size_t len;
    assert_int_equal(lgw_files_content(db, "file-a", "acme", &data, &len), 0);
    assert_int_equal(len, sizeof(bytes));
    assert_memory_equal(data, bytes, len);
    free(data);
    assert_int_equal(lgw_files_content(db, "file-a", "other", &data, &len), LGW_ERR(NOT_FOUND));

    /* Newest first, ties by id; pages of 2 with the after cursor. */
    struct lgw_file_meta *list;
    size_t n;
    assert_int_equal(lgw_files_list(db, "acme", NULL, NULL, false, 2, &list, &n), 0);
    assert_int_equal(n, 3); /* limit + 1: there is more */
    assert_string_equal(list[0].id, "file-c");
    assert_string_equal(list[1].id, "file-b");
    free(list);
    assert_int_equal(lgw_files_list(db, "acme", NULL, "file-b", false, 2, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "file-a");
    free(list);
    assert_int_equal(lgw_files_list(db, "acme", "batch", "file-a", true, 10, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].id, "file-b");
    assert_string_equal(list[1].id, "file-c");
    free(list);
    assert_int_equal(lgw_files_list(db, "acme", "fine-tune", NULL, false, 10, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(lgw_files_list(db, "acme", NULL, "file-z", false, 10, &list, &n), LGW_ERR(NOT_FOUND));
    assert_int_equal(lgw_files_list(db, "", NULL, NULL, false, 10, &list, &n), 0);
    assert_int_equal(n, 4);
    free(list);

    /* Delete is scoped too. */
    assert_int_equal(lgw_files_delete(db, "file-z", "acme"), LGW_ERR(NOT_FOUND));
    assert_int_equal(lgw_files_delete(db, "file-z", "other"), 0);
    assert_int_equal(lgw_files_delete(db, "file-z", "other"), LGW_ERR(NOT_FOUND));

    /* Retention: expires_at is created + 100 here. */
    int64_t deleted = -1;
    assert_int_equal(lgw_files_expire(db, 1100, &deleted), 0);
    assert_int_equal(deleted, 0);
    assert_int_equal(lgw_files_expire(db, 1101, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(lgw_files_get(db, "file-a", "acme", &f), LGW_ERR(NOT_FOUND));
    assert_int_equal(lgw_files_get(db, "file-b", "acme", &f), 0);
    lgw_fdb_close(db);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_store)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* sqlite.c - opening a SQLite database file with the role's flags and pragmas (see sqlite.h). */
#include "common/sqlite.h"

#include <stddef.h>

#include "common/errors.h"
#include "common/log.h"

int lgw_sqlite_open(const char *path, int flags, int busy_timeout_ms, const char *pragmas, const char *module,
                    int failed_level, sqlite3 **out)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    *out = NULL;
    if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        goto fail;
    /* Before the pragmas: journal_mode takes a lock another connection may hold for a moment. */
    sqlite3_busy_timeout(db, busy_timeout_ms);
    if (pragmas && sqlite3_exec(db, pragmas, NULL, NULL, &err) != SQLITE_OK)
        goto fail;
    *out = db;
    return LGW_OK;
fail:
    if (!db) /* sqlite3_open_v2 could not even allocate a handle */
        LGW_LOG(failed_level, module, NULL, NULL, "sqlite %s: cannot open", path);
    else
        LGW_LOG(failed_level, module, NULL, NULL, "sqlite %s: %s", path, err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    sqlite3_close(db);
    return LGW_ERR(DB);
}

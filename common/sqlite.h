/* sqlite.h - opening a SQLite database file the way every role that keeps one does: flags, busy timeout,
 * pragmas, and one log line when it cannot. */
#ifndef LGW_SQLITE_H
#define LGW_SQLITE_H

#include <sqlite3.h>

/* Opens path with flags (SQLITE_OPEN_READWRITE, and SQLITE_OPEN_CREATE where the role may make the file;
 * SQLITE_OPEN_NOMUTEX is added: a connection is used by one thread at a time), waits up to busy_timeout_ms for
 * other connections' locks, then runs pragmas (NULL: none; one or more "PRAGMA ...;"). On failure logs
 * "sqlite <path>: <reason>" at failed_level (enum lgw_log_level) under module, closes what it opened and
 * returns LGW_ERR(DB) with *out NULL; else 0 and *out is the caller's (sqlite3_close). Any thread. */
int lgw_sqlite_open(const char *path, int flags, int busy_timeout_ms, const char *pragmas, const char *module,
                    int failed_level, sqlite3 **out);

#endif

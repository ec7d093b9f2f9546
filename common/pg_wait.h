/* pg_wait.h - a role's start waits for its PostgreSQL server instead of giving up (common/start_wait.h).
 *
 * The ledger and the batch runner open their database at start and exited 1 when it did not answer: a deployment
 * whose database came up after them waited on their supervisor's restart back-off. They retry a database that goes
 * away later (their writes are retried), so only the start needed this. The wait asks PostgreSQL's own ping
 * (PQpingParams): it connects without logging in, so a server that is down, still starting or refusing connections
 * (recovery, shutdown) is waited for, and a wrong password or database name is not: it fails the open after the
 * wait, as a configuration error should, at once. */
#ifndef LGW_PG_WAIT_H
#define LGW_PG_WAIT_H

#include <stdatomic.h>

/* Returns LGW_OK once the server of url answers (at once when it does already, and at once for a URL that is not
 * postgresql:// or postgres://, which names no server: sqlite:), LGW_ERR(UNAVAILABLE) when *stop was set first, or
 * LGW_ERR(CONFIG) when libpq cannot use url. role names the caller in the log, which names the server's host and
 * port, never the URL's user, password or database. */
int lgw_pg_wait_for_server(const char *url, const char *role, const atomic_bool *stop);

#endif

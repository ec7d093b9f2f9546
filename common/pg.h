/* pg.h - connecting to PostgreSQL with the gateway's defaults, for every role that keeps a connection, and the
 * connection those roles keep: made at first use, made again after the server dropped it. */
#ifndef LGW_PG_H
#define LGW_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Connects to url (a postgresql:// URL or a conninfo string) with defaults the URL may override
 * (expand_dbname: values from the URL win over the ones before it): without connect_timeout a black-holed
 * host blocks the caller for the kernel's TCP timeout (minutes), and without keepalives / tcp_user_timeout a
 * dead server is only noticed when the OS gives up on the socket. application_name names the role in
 * pg_stat_activity; options (NULL: none) are server settings ("-c name=value"). Returns what
 * PQconnectdbParams does: NULL only when out of memory; check PQstatus. */
PGconn *lgw_pg_connect(const char *url, const char *application_name, const char *options);

/* Whether url names a PostgreSQL server (postgresql:// or postgres://), the one test every role's choice of
 * database backend makes. */
bool lgw_pg_url(const char *url);

/* "host[:port]" of a postgresql:// URL into out, for logs: never the user, password, database or parameters.
 * The userinfo ends at the last '@' before any query, so even an unescaped '/' in a password is not printed.
 * "(default host)" when the URL names none. */
void lgw_pg_target(const char *url, char *out, size_t outsz);

struct lgw_pg;

/* What a role's connection is: fixed for the role, so a static const. */
struct lgw_pg_role {
    const char *module;           /* the log lines' module */
    const char *application_name; /* and options: as lgw_pg_connect takes them */
    const char *options;
    int notice_level; /* server notices go to the JSON log (not stderr) at this level (enum lgw_log_level) */
    int failed_level; /* the level of the line about a failed connect */
    /* false: a failed connect logs "postgresql: <first line of libpq's message>" (it names host and port,
     * never the password). true: "postgresql <host[:port]>: <libpq's message>", and a made connection logs
     * "connected to postgresql <host[:port]>" at info. */
    bool name_target;
    /* Runs on every new connection before it is used: session settings, the schema, prepared statements
     * (they live in the session, so they are made again after a reconnect). NULL: nothing to do. Logs its own
     * failure; returns 0, or a negative LGW_E... and the connection is closed (the next ensure tries again). */
    int (*on_connect)(struct lgw_pg *db, void *arg);
};

/* A connection kept by one role's handle, used by one thread at a time. Embedded in the role's struct. */
struct lgw_pg {
    PGconn *pg; /* NULL while not connected; owned */
    char *url;  /* owned */
    const struct lgw_pg_role *role;
    void *arg; /* on_connect's */
};

/* Not connected yet: the first lgw_pg_ensure connects. url is copied; role must outlive db. Any thread. */
void lgw_pg_init(struct lgw_pg *db, const char *url, const struct lgw_pg_role *role, void *arg);
/* Closes the connection and frees the copy of the URL. */
void lgw_pg_cleanup(struct lgw_pg *db);
/* The same on the heap: lgw_pg_init into a new struct lgw_pg owned by the caller (lgw_pg_free; NULL is a
 * no-op), for a backend whose connection is nothing more. */
struct lgw_pg *lgw_pg_new(const char *url, const struct lgw_pg_role *role, void *arg);
void lgw_pg_free(struct lgw_pg *db);
/* lgw_pg_new and a first lgw_pg_ensure, for a backend whose open fails while the database is down. Returns 0
 * with *out the caller's (lgw_pg_free), or lgw_pg_ensure's error with *out NULL. */
int lgw_pg_open(const char *url, const struct lgw_pg_role *role, void *arg, struct lgw_pg **out);
/* Connects (again) unless connected and the connection is good: a database restart costs the statement that
 * found it down, not the process. Returns 0 with db->pg usable, or LGW_ERR(DB) (logged) with db->pg NULL, or
 * on_connect's error. Out of memory aborts. */
int lgw_pg_ensure(struct lgw_pg *db);
/* After a failed statement: a connection that is no longer good is closed now, so the next lgw_pg_ensure
 * reconnects. */
void lgw_pg_drop_broken(struct lgw_pg *db);
/* The cells of res, PQntuples x PQnfields row-major: each a malloc'd copy of the value (its text, or its bytes
 * in a binary result), NUL-terminated after its length, or NULL for SQL NULL. The array has one slot more
 * than cells (never a zero-size allocation). lens (NULL: not wanted) gets a calloc'd array of the lengths,
 * the same size. Both owned by the caller (free each cell, then the arrays). */
char **lgw_pg_cells(const PGresult *res, size_t **lens);
/* Runs sql (commands without parameters or rows: settings, a schema script, BEGIN) on db's connection, which
 * must be there (lgw_pg_ensure). A failure is logged at error under the role's module as
 * "postgresql <what>: <the server's message>". Returns 0 or LGW_ERR(DB). */
int lgw_pg_command(struct lgw_pg *db, const char *what, const char *sql);

#endif

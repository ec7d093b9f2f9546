/* pg.c - connecting to PostgreSQL with the gateway's defaults, and the connection a role keeps (see pg.h). */
#include "common/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/log.h"

PGconn *lgw_pg_connect(const char *url, const char *application_name, const char *options)
{
    const char *keys[] = {"connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                          "tcp_user_timeout", "application_name", "dbname", NULL, NULL};
    const char *vals[] = {"5", "10", "5", "3", "30000", application_name, url, NULL, NULL};
    if (options) { /* before dbname, so that an `options` in the URL still wins */
        keys[6] = "options";
        vals[6] = options;
        keys[7] = "dbname";
        vals[7] = url;
    }
    return PQconnectdbParams(keys, vals, 1);
}

bool lgw_pg_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

void lgw_pg_target(const char *url, char *out, size_t outsz)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t end = strcspn(auth, "?#");
    const char *host = auth;
    for (size_t i = 0; i < end; i++)
        if (auth[i] == '@')
            host = auth + i + 1;
    int hostlen = (int)strcspn(host, "/?#");
    if (hostlen == 0)
        snprintf(out, outsz, "(default host)");
    else
        snprintf(out, outsz, "%.*s", hostlen, host);
}

/* Server notices would go to stderr as plain text; route them into the JSON log instead. */
static void notice_cb(void *arg, const char *msg)
{
    const struct lgw_pg_role *role = arg;
    LGW_LOG(role->notice_level, role->module, NULL, NULL, "postgresql notice: %.*s", (int)strcspn(msg, "\n"), msg);
}

void lgw_pg_init(struct lgw_pg *db, const char *url, const struct lgw_pg_role *role, void *arg)
{
    db->pg = NULL;
    db->url = lgw_strdup(url);
    db->role = role;
    db->arg = arg;
}

void lgw_pg_cleanup(struct lgw_pg *db)
{
    if (db->pg)
        PQfinish(db->pg);
    db->pg = NULL;
    free(db->url);
    db->url = NULL;
}

struct lgw_pg *lgw_pg_new(const char *url, const struct lgw_pg_role *role, void *arg)
{
    struct lgw_pg *db = lgw_calloc(1, sizeof(*db));
    lgw_pg_init(db, url, role, arg);
    return db;
}

void lgw_pg_free(struct lgw_pg *db)
{
    if (!db)
        return;
    lgw_pg_cleanup(db);
    free(db);
}

int lgw_pg_open(const char *url, const struct lgw_pg_role *role, void *arg, struct lgw_pg **out)
{
    struct lgw_pg *db = lgw_pg_new(url, role, arg);
    int rc = lgw_pg_ensure(db);
    if (rc) {
        lgw_pg_free(db);
        db = NULL;
    }
    *out = db;
    return rc;
}

int lgw_pg_ensure(struct lgw_pg *db)
{
    const struct lgw_pg_role *role = db->role;
    if (db->pg && PQstatus(db->pg) == CONNECTION_OK)
        return LGW_OK;
    if (db->pg)
        PQfinish(db->pg);
    char target[128] = "";
    if (role->name_target)
        lgw_pg_target(db->url, target, sizeof(target));
    db->pg = lgw_pg_connect(db->url, role->application_name, role->options);
    if (!db->pg) { /* libpq returns NULL only when it cannot allocate: out of memory aborts, as everywhere */
        LGW_ERROR(role->module, "postgresql: out of memory");
        abort();
    }
    int rc = LGW_OK;
    if (PQstatus(db->pg) != CONNECTION_OK) {
        if (role->name_target)
            LGW_LOG(role->failed_level, role->module, NULL, NULL, "postgresql %s: %s", target, PQerrorMessage(db->pg));
        else /* libpq's message names host and port only, never the password */
            LGW_LOG(role->failed_level, role->module, NULL, NULL, "postgresql: %.*s",
                    (int)strcspn(PQerrorMessage(db->pg), "\n"), PQerrorMessage(db->pg));
        rc = LGW_ERR(DB);
        goto fail;
    }
    PQsetNoticeProcessor(db->pg, notice_cb, (void *)role);
    if (role->on_connect && (rc = role->on_connect(db, db->arg)))
        goto fail;
    if (role->name_target)
        LGW_INFO(role->module, "connected to postgresql %s", target);
    return LGW_OK;
fail:
    PQfinish(db->pg);
    db->pg = NULL;
    return rc;
}

void lgw_pg_drop_broken(struct lgw_pg *db)
{
    if (db->pg && PQstatus(db->pg) != CONNECTION_OK) {
        PQfinish(db->pg);
        db->pg = NULL;
    }
}

int lgw_pg_command(struct lgw_pg *db, const char *what, const char *sql)
{
    PGresult *res = PQexec(db->pg, sql);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        LGW_ERROR(db->role->module, "postgresql %s: %s", what, PQresultErrorMessage(res));
    PQclear(res);
    return ok ? LGW_OK : LGW_ERR(DB);
}

char **lgw_pg_cells(const PGresult *res, size_t **lens)
{
    size_t n = (size_t)PQntuples(res), m = (size_t)PQnfields(res);
    char **cells = lgw_calloc(n * m + 1, sizeof(char *));
    if (lens)
        *lens = lgw_calloc(n * m + 1, sizeof(size_t));
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < m; k++) {
            if (PQgetisnull(res, (int)r, (int)k))
                continue;
            size_t len = (size_t)PQgetlength(res, (int)r, (int)k);
            char *v = lgw_malloc(len + 1);
            memcpy(v, PQgetvalue(res, (int)r, (int)k), len);
            v[len] = '\0';
            cells[r * m + k] = v;
            if (lens)
                (*lens)[r * m + k] = len;
        }
    return cells;
}

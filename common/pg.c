/* pg.c - connecting to PostgreSQL with the gateway's defaults (see pg.h). */
#include "common/pg.h"

#include <stddef.h>

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

/* pg_wait.c - a role's start waits for its PostgreSQL server (pg_wait.h). */
#include "common/pg_wait.h"

#include <libpq-fe.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/start_wait.h"

static enum lgw_start_probe probe(void *url)
{
    /* The URL's own connect_timeout wins (expand_dbname): a black-holed host costs one timeout per probe. */
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"2", url, NULL};
    switch (PQpingParams(keys, vals, 1)) {
    case PQPING_OK:
        return LGW_PROBE_UP;
    case PQPING_NO_ATTEMPT: /* libpq's own reading of the URL failed: no wait mends that */
        return LGW_PROBE_CONFIG;
    default: /* PQPING_REJECT (starting, in recovery, shutting down), PQPING_NO_RESPONSE */
        return LGW_PROBE_NOT_YET;
    }
}

int lgw_pg_wait_for_server(const char *url, const char *role, const atomic_bool *stop)
{
    if (!lgw_pg_url(url))
        return LGW_OK;
    char target[256];
    lgw_pg_target(url, target, sizeof(target));
    int rc = lgw_start_wait(role, "PostgreSQL", target, probe, (void *)url, stop);
    if (rc == LGW_ERR(CONFIG))
        LGW_ERROR("start", "%s: database_url: libpq cannot use it (postgresql %s)", role, target);
    return rc;
}

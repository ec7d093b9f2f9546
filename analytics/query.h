/* query.h - one analytics request, parsed and checked: the time range, the groups, the filters, the page,
 * the format, and the caller's tenancy applied. Everything a query builder (sql.h) binds comes from here;
 * nothing of the URL reaches SQL text except through the group whitelist. */
#ifndef LGW_AN_QUERY_H
#define LGW_AN_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics/format.h"
#include "common/http_call.h"

/* The longest range one query may cover (400 days: a year with slack, and a bound on the scan). */
#define LGW_AN_MAX_RANGE_MS (400LL * 86400000LL)
/* The default range when from and to are both absent: the last 24 hours. */
#define LGW_AN_DEFAULT_RANGE_MS 86400000LL
#define LGW_AN_LIMIT_DEFAULT 100
#define LGW_AN_LIMIT_MAX 1000

enum lgw_an_kind { LGW_AN_SUMMARY, LGW_AN_REQUESTS };

/* group_by values, in the order they are accepted and named. */
enum lgw_an_group {
    LGW_AN_G_TENANT,
    LGW_AN_G_KEY,
    LGW_AN_G_USER,
    LGW_AN_G_MODEL,
    LGW_AN_G_PROVIDER,
    LGW_AN_G_STRATEGY,
    LGW_AN_G_OUTCOME,
    LGW_AN_G_DAY,
    LGW_AN_G_HOUR,
    LGW_AN_G_MINUTE,
    LGW_AN_G__COUNT
};

/* Equality filters (both endpoints): the query parameter and the column each one binds. */
enum lgw_an_filter {
    LGW_AN_F_TENANT,
    LGW_AN_F_KEY,
    LGW_AN_F_USER,
    LGW_AN_F_MODEL,
    LGW_AN_F_PROVIDER,
    LGW_AN_F_OUTCOME,
    LGW_AN_F__COUNT
};

struct lgw_an_query {
    enum lgw_an_kind kind;
    int64_t from_ms, to_ms; /* [from, to) */
    enum lgw_an_group groups[LGW_AN_G__COUNT];
    size_t ngroups;
    const char *filters[LGW_AN_F__COUNT]; /* NULL: not filtered; points into the call or the caller */
    int status;                           /* filter on status; -1: none */
    int64_t limit;                        /* requests: page size */
    bool has_cursor;
    int64_t cursor_ts;
    char cursor_event[LGW_AN_EVENT_ID_MAX];
    bool csv;
};

/* The name of a group ("tenant", "key", ...), or of a filter's parameter. Static. */
const char *lgw_an_group_name(enum lgw_an_group g);
const char *lgw_an_filter_param(enum lgw_an_filter f);

/* Parses call's query into q for kind, now_ms being the wall clock (the default range ends there). q's
 * strings point into call, which must outlive q. On bad input returns LGW_ERR(INVALID) (or FORBIDDEN: a
 * tenant key asking for another tenant) with a sentence in msg and the parameter at fault in *param
 * (static). Tenancy: a caller that is not admin sees its own tenant only; q's tenant filter is forced to it.
 * Any thread. */
int lgw_an_query_parse(const struct lgw_http_call *call, enum lgw_an_kind kind, int64_t now_ms,
                       struct lgw_an_query *q, char *msg, size_t msgsz, const char **param);

#endif

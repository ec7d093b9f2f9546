/* query.c - parsing and checking one analytics request (see query.h). */
#include "analytics/query.h"

#include <stdio.h>
#include <string.h>

#include "common/errors.h"

static const char *const group_names[LGW_AN_G__COUNT] = {"tenant",   "key",      "user", "model", "provider",
                                                         "strategy", "outcome",  "day",  "hour", "minute"};
static const char *const filter_params[LGW_AN_F__COUNT] = {"tenant", "key", "user", "model", "provider", "outcome"};

const char *lgw_an_group_name(enum lgw_an_group g)
{
    return group_names[g];
}

const char *lgw_an_filter_param(enum lgw_an_filter f)
{
    return filter_params[f];
}

/* Adds the groups of one group_by value ("model" or "model,day"). */
static int add_groups(struct lgw_an_query *q, const char *v, char *msg, size_t msgsz)
{
    const char *p = v;
    for (;;) {
        size_t n = strcspn(p, ",");
        size_t g = 0;
        while (g < LGW_AN_G__COUNT && !(strlen(group_names[g]) == n && strncmp(p, group_names[g], n) == 0))
            g++;
        if (g == LGW_AN_G__COUNT) {
            snprintf(msg, msgsz, "Unknown group_by value '%.*s': use tenant, key, user, model, provider, strategy, "
                     "outcome, day, hour or minute.", (int)(n > 40 ? 40 : n), p);
            return LGW_ERR(INVALID);
        }
        bool seen = false;
        for (size_t i = 0; i < q->ngroups; i++)
            seen |= q->groups[i] == (enum lgw_an_group)g;
        if (!seen) /* a repeated group adds nothing */
            q->groups[q->ngroups++] = (enum lgw_an_group)g;
        if (!p[n])
            return LGW_OK;
        p += n + 1;
    }
}

static int parse_time(const char *v, const char *name, int64_t *ms, char *msg, size_t msgsz)
{
    if (lgw_an_time_parse(v, ms) == 0)
        return LGW_OK;
    snprintf(msg, msgsz, "'%s' must be an RFC 3339 time (2026-12-01T00:00:00Z) or epoch milliseconds.", name);
    return LGW_ERR(INVALID);
}

int lgw_an_query_parse(const struct lgw_http_call *call, enum lgw_an_kind kind, int64_t now_ms,
                       struct lgw_an_query *q, char *msg, size_t msgsz, const char **param)
{
    memset(q, 0, sizeof(*q));
    q->kind = kind;
    q->status = -1;
    q->limit = LGW_AN_LIMIT_DEFAULT;
    bool has_from = false, has_to = false;
    *param = NULL;
    msg[0] = '\0';
    for (size_t i = 0; i < call->nquery; i++) {
        const char *name = call->query[i].name, *v = call->query[i].value;
        int rc = LGW_OK;
        *param = NULL;
        if (strcmp(name, "from") == 0) {
            *param = "from";
            rc = parse_time(v, "from", &q->from_ms, msg, msgsz);
            has_from = true;
        } else if (strcmp(name, "to") == 0) {
            *param = "to";
            rc = parse_time(v, "to", &q->to_ms, msg, msgsz);
            has_to = true;
        } else if (strcmp(name, "format") == 0) {
            *param = "format";
            if (strcmp(v, "csv") == 0 || strcmp(v, "json") == 0)
                q->csv = v[0] == 'c';
            else {
                snprintf(msg, msgsz, "'format' must be json or csv.");
                rc = LGW_ERR(INVALID);
            }
        } else if (kind == LGW_AN_SUMMARY && strcmp(name, "group_by") == 0) {
            *param = "group_by";
            rc = add_groups(q, v, msg, msgsz);
        } else if (kind == LGW_AN_REQUESTS && strcmp(name, "limit") == 0) {
            long long n;
            *param = "limit";
            if (lgw_parse_int64(v, strlen(v), &n) || n < 1 || n > LGW_AN_LIMIT_MAX) {
                snprintf(msg, msgsz, "'limit' must be an integer from 1 to %d.", LGW_AN_LIMIT_MAX);
                rc = LGW_ERR(INVALID);
            }
            q->limit = n;
        } else if (kind == LGW_AN_REQUESTS && strcmp(name, "cursor") == 0) {
            *param = "cursor";
            if (lgw_an_cursor_decode(v, &q->cursor_ts, q->cursor_event)) {
                snprintf(msg, msgsz, "'cursor' is not a cursor this API gave out (next_cursor of a page).");
                rc = LGW_ERR(INVALID);
            }
            q->has_cursor = true;
        } else if (strcmp(name, "status") == 0) {
            long long n;
            *param = "status";
            if (lgw_parse_int64(v, strlen(v), &n) || n < 100 || n > 999) {
                snprintf(msg, msgsz, "'status' must be an HTTP status (100 to 999).");
                rc = LGW_ERR(INVALID);
            }
            q->status = (int)n;
        } else {
            size_t f = 0;
            while (f < LGW_AN_F__COUNT && strcmp(name, filter_params[f]) != 0)
                f++;
            if (f == LGW_AN_F__COUNT) {
                /* A typo ("group-by", "tenant_id") silently ignored would answer a different question. */
                *param = NULL;
                snprintf(msg, msgsz, "Unknown query parameter '%.40s'.", name);
                rc = LGW_ERR(INVALID);
            } else {
                q->filters[f] = v;
            }
        }
        if (rc)
            return rc;
    }
    *param = NULL;
    if (!has_to)
        q->to_ms = now_ms;
    if (!has_from)
        q->from_ms = q->to_ms - LGW_AN_DEFAULT_RANGE_MS;
    if (q->from_ms >= q->to_ms) {
        *param = "from";
        snprintf(msg, msgsz, "'from' must be before 'to' (the range is [from, to)).");
        return LGW_ERR(INVALID);
    }
    if (q->to_ms - q->from_ms > LGW_AN_MAX_RANGE_MS) {
        *param = "to";
        snprintf(msg, msgsz, "The range from 'from' to 'to' is longer than 400 days; ask in parts.");
        return LGW_ERR(INVALID);
    }
    /* Tenancy: a tenant key reads its own tenant, and asking for another is refused rather than answered
     * empty, so a wrong tenant name is never mistaken for a quiet month. */
    if (!call->caller.admin) {
        const char *t = q->filters[LGW_AN_F_TENANT];
        if (t && strcmp(t, call->caller.tenant) != 0) {
            *param = "tenant";
            snprintf(msg, msgsz, "This key may read its own tenant's analytics only.");
            return LGW_ERR(FORBIDDEN);
        }
        q->filters[LGW_AN_F_TENANT] = call->caller.tenant;
    }
    return LGW_OK;
}

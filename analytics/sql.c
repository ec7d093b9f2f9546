/* sql.c - the analytics statements (see sql.h).
 *
 * One set of aggregate expressions serves both databases (booleans are tested with CASE WHEN, which reads
 * PostgreSQL's BOOLEAN and SQLite's 0/1 alike; NULL final is an old row's only event, so final). Only the
 * percentiles differ: PostgreSQL's percentile_disc, SQLite's ROW_NUMBER/COUNT windows, both nearest rank
 * (the value at rank ceil(p * N) of the ordered latencies), which a unit test checks on the same rows. */
#include "analytics/sql.h"

#include <string.h>

#include "common/assert.h"

#define FINAL "COALESCE(final, TRUE)"

/* Requests are distinct ids, which PostgreSQL counts by sorting them: in the database's collation that is
 * strcoll per comparison, twice the time of the "C" (bytewise) order, and equality is the same either way.
 * SQLite compares bytes already (BINARY). */
static const char distinct_pg[] = "COUNT(DISTINCT request_id COLLATE \"C\"),";
static const char distinct_sqlite[] = "COUNT(DISTINCT request_id),";

/* Column expressions of the groups, by enum: the whitelist. day, hour and minute are bucket numbers of UTC
 * time (integer division of epoch ms), formatted by the renderer. */
static const char *const group_expr[LGW_AN_G__COUNT] = {
    "tenant", "key_id", "user_id", "model", "provider", "strategy", "outcome", "ts_ms / 86400000", "ts_ms / 3600000",
    "ts_ms / 60000",
};

static const char *const filter_col[LGW_AN_F__COUNT] = {"tenant", "key_id", "user_id", "model", "provider",
                                                        "outcome"};

/* The summary's aggregates, LGW_AN_SUM_REQUESTS .. LGW_AN_SUM_SAVED in order, after the distinct count
 * (distinct_pg or distinct_sqlite). */
static const char aggregates[] =
    " COALESCE(SUM(CASE WHEN " FINAL " THEN route_attempts ELSE 0 END), 0),"
    " COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),"
    " COALESCE(SUM(cache_write_input_tokens), 0), COALESCE(SUM(cost_nusd), 0),"
    " COALESCE(SUM(CASE WHEN cost_estimated THEN cost_nusd ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN cost_known THEN 0 ELSE 1 END), 0), COUNT(*),"
    " COALESCE(SUM(CASE WHEN " FINAL " THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN " FINAL " AND latency_ms IS NOT NULL THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN " FINAL " THEN latency_ms ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN " FINAL " AND cache_hit THEN 1 ELSE 0 END), 0),"
    /* 499 (the client left) is neither an error nor a success of the gateway: counted apart. */
    " COALESCE(SUM(CASE WHEN " FINAL " AND status >= 400 AND outcome <> 'cancelled' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN " FINAL " AND outcome = 'cancelled' THEN 1 ELSE 0 END), 0),"
    " COALESCE(SUM(CASE WHEN " FINAL " AND route_attempts > 1 THEN route_attempts - 1 ELSE 0 END), 0),"
    " COALESCE(SUM(saved_nusd), 0)";

static void param(struct lgw_an_sql *sql, bool is_int, int64_t i, const char *s)
{
    LGW_ASSERT(sql->nparams < LGW_AN_SQL_PARAMS_MAX);
    int n = ++sql->nparams;
    sql->params[n - 1] = (struct lgw_an_param){.is_int = is_int, .i = i, .s = s};
    if (sql->pg)
        lgw_buf_printf(&sql->text, is_int ? "$%d::bigint" : "$%d", n);
    else
        lgw_buf_printf(&sql->text, "?%d", n);
}

static void where(const struct lgw_an_query *q, struct lgw_an_sql *sql)
{
    lgw_buf_puts(&sql->text, " WHERE ts_ms >= ");
    param(sql, true, q->from_ms, NULL);
    lgw_buf_puts(&sql->text, " AND ts_ms < ");
    param(sql, true, q->to_ms, NULL);
    for (int f = 0; f < LGW_AN_F__COUNT; f++) {
        if (!q->filters[f])
            continue;
        lgw_buf_printf(&sql->text, " AND %s = ", filter_col[f]);
        param(sql, false, 0, q->filters[f]);
    }
    if (q->status >= 0) {
        lgw_buf_puts(&sql->text, " AND status = ");
        param(sql, true, q->status, NULL);
    }
}

/* "g0, g1" (prefix each with pre, e.g. "a."), or nothing. */
static void group_list(const struct lgw_an_query *q, struct lgw_an_sql *sql, const char *pre)
{
    for (size_t i = 0; i < q->ngroups; i++)
        lgw_buf_printf(&sql->text, "%s%sg%zu", i ? ", " : "", pre, i);
}

static void summary_pg(const struct lgw_an_query *q, struct lgw_an_sql *sql)
{
    lgw_buf_puts(&sql->text, "SELECT ");
    for (size_t i = 0; i < q->ngroups; i++)
        lgw_buf_printf(&sql->text, "%s AS g%zu, ", group_expr[q->groups[i]], i);
    /* One sort for both percentiles: the two identical aggregate calls are computed once, and
     * percentile_disc ignores NULL latencies. */
#define PCT "(percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE " FINAL "))"
    lgw_buf_printf(&sql->text, "%s %s, " PCT "[1], " PCT "[2] FROM cost_events", distinct_pg, aggregates);
#undef PCT
    where(q, sql);
    if (q->ngroups) {
        lgw_buf_puts(&sql->text, " GROUP BY ");
        group_list(q, sql, "");
        lgw_buf_puts(&sql->text, " ORDER BY ");
        group_list(q, sql, "");
    }
}

static void summary_sqlite(const struct lgw_an_query *q, struct lgw_an_sql *sql)
{
    struct lgw_buf *t = &sql->text;
    lgw_buf_puts(t, "WITH base AS (SELECT *");
    for (size_t i = 0; i < q->ngroups; i++)
        lgw_buf_printf(t, ", %s AS g%zu", group_expr[q->groups[i]], i);
    lgw_buf_puts(t, " FROM cost_events");
    where(q, sql);
    lgw_buf_puts(t, "), agg AS (SELECT ");
    for (size_t i = 0; i < q->ngroups; i++)
        lgw_buf_printf(t, "g%zu, ", i);
    lgw_buf_printf(t, "%s %s FROM base", distinct_sqlite, aggregates);
    if (q->ngroups) {
        lgw_buf_puts(t, " GROUP BY ");
        group_list(q, sql, "");
    }
    /* Nearest rank: rank ceil(N/2) = (N+1)/2 and ceil(95N/100) = (95N+99)/100, in integers. */
    lgw_buf_puts(t, "), ranked AS (SELECT *, ROW_NUMBER() OVER (");
    if (q->ngroups) {
        lgw_buf_puts(t, "PARTITION BY ");
        group_list(q, sql, "");
    }
    lgw_buf_puts(t, " ORDER BY latency_ms) AS rn, COUNT(*) OVER (");
    if (q->ngroups) {
        lgw_buf_puts(t, "PARTITION BY ");
        group_list(q, sql, "");
    }
    lgw_buf_puts(t, ") AS n FROM base WHERE " FINAL " AND latency_ms IS NOT NULL), pct AS (SELECT ");
    for (size_t i = 0; i < q->ngroups; i++)
        lgw_buf_printf(t, "g%zu, ", i);
    lgw_buf_puts(t, "MIN(CASE WHEN rn = (n + 1) / 2 THEN latency_ms END) AS p50,"
                    " MIN(CASE WHEN rn = (95 * n + 99) / 100 THEN latency_ms END) AS p95 FROM ranked");
    if (q->ngroups) {
        lgw_buf_puts(t, " GROUP BY ");
        group_list(q, sql, "");
    }
    lgw_buf_puts(t, ") SELECT agg.*, pct.p50, pct.p95 FROM agg LEFT JOIN pct ON 1");
    for (size_t i = 0; i < q->ngroups; i++) /* IS: NULL groups (a keyless key_id) join too */
        lgw_buf_printf(t, " AND agg.g%zu IS pct.g%zu", i, i);
    if (q->ngroups) {
        lgw_buf_puts(t, " ORDER BY ");
        group_list(q, sql, "agg.");
    }
}

static void requests(const struct lgw_an_query *q, struct lgw_an_sql *sql)
{
    static const char *const cols[] = {
#define X(name, label, expr, num) expr,
        LGW_AN_REQ_COLUMNS(X)
#undef X
    };
    lgw_buf_puts(&sql->text, "SELECT ");
    for (size_t i = 0; i < LGW_AN_REQ__COUNT; i++)
        lgw_buf_printf(&sql->text, "%s%s", i ? ", " : "", cols[i]);
    lgw_buf_puts(&sql->text, " FROM cost_events");
    where(q, sql);
    if (q->has_cursor) {
        /* Keyset: strictly after the last row of the previous page in (ts_ms DESC, event_id DESC) order, so
         * rows inserted meanwhile never shift a page (a row newer than the first page is simply not seen). */
        lgw_buf_puts(&sql->text, " AND (ts_ms, event_id) < (");
        param(sql, true, q->cursor_ts, NULL);
        lgw_buf_puts(&sql->text, ", ");
        param(sql, false, 0, q->cursor_event);
        lgw_buf_puts(&sql->text, ")");
    }
    lgw_buf_puts(&sql->text, " ORDER BY ts_ms DESC, event_id DESC LIMIT ");
    param(sql, true, q->limit + 1, NULL);
}

void lgw_an_sql_build(const struct lgw_an_query *q, bool pg, struct lgw_an_sql *sql)
{
    memset(sql, 0, sizeof(*sql));
    sql->pg = pg;
    lgw_buf_init(&sql->text, 0);
    if (q->kind == LGW_AN_REQUESTS)
        requests(q, sql);
    else if (pg)
        summary_pg(q, sql);
    else
        summary_sqlite(q, sql);
}

void lgw_an_sql_cleanup(struct lgw_an_sql *sql)
{
    lgw_buf_cleanup(&sql->text);
}

/* sql.h - the SQL of the analytics API, for PostgreSQL or SQLite, from a checked query (query.h).
 *
 * Every value is a bound parameter; the only text taken from the request is a group's column expression,
 * chosen from a fixed table by the group's enum. The result columns are fixed per kind (LGW_AN_SUM_* and
 * LGW_AN_REQ_* below), so the renderer reads them by position whatever the backend. */
#ifndef LGW_AN_SQL_H
#define LGW_AN_SQL_H

#include <stdbool.h>
#include <stdint.h>

#include "analytics/query.h"
#include "common/buf.h"

#define LGW_AN_SQL_PARAMS_MAX 16

struct lgw_an_param {
    bool is_int;
    int64_t i;
    const char *s; /* not owned: points into the query */
};

struct lgw_an_sql {
    bool pg; /* PostgreSQL ($n placeholders, percentile_disc) or SQLite (?n, window functions) */
    struct lgw_buf text;
    struct lgw_an_param params[LGW_AN_SQL_PARAMS_MAX];
    int nparams;
};

/* Summary columns after the ngroups group columns, in this order. Sums are over every event of the range
 * (a request's spend is all its events); the f_* counts and latency are over final events only. */
enum {
    LGW_AN_SUM_REQUESTS,
    LGW_AN_SUM_ATTEMPTS,
    LGW_AN_SUM_INPUT,
    LGW_AN_SUM_OUTPUT,
    LGW_AN_SUM_CACHED,
    LGW_AN_SUM_CACHE_WRITE,
    LGW_AN_SUM_COST,
    LGW_AN_SUM_COST_ESTIMATED,
    LGW_AN_SUM_UNKNOWN_COST,
    LGW_AN_SUM_EVENTS,
    LGW_AN_SUM_FINAL,          /* final events */
    LGW_AN_SUM_LATENCY_N,      /* final events with a latency */
    LGW_AN_SUM_LATENCY_SUM,
    LGW_AN_SUM_CACHE_HITS,
    LGW_AN_SUM_ERRORS,         /* final, status >= 400, not cancelled */
    LGW_AN_SUM_CANCELLED,      /* final, outcome cancelled (499) */
    LGW_AN_SUM_FALLBACKS,
    LGW_AN_SUM_SAVED,
    LGW_AN_SUM_P50,
    LGW_AN_SUM_P95,
    LGW_AN_SUM__COUNT
};

/* Request-list columns, in this order (booleans as 0/1, NULL where the ledger has none). trace_id leads to the
 * request's trace in a tracing backend (Jaeger's /trace/<id>); "" (an event written without one) reads as NULL. */
#define LGW_AN_REQ_COLUMNS(X)                                                                              \
    X(EVENT_ID, "event_id", "event_id", false)                                                             \
    X(REQUEST_ID, "request_id", "request_id", false)                                                       \
    X(RUN_ID, "run_id", "run_id", false)                                                                   \
    X(TS_MS, "ts_ms", "ts_ms", true)                                                                       \
    X(TENANT, "tenant", "tenant", false)                                                                   \
    X(KEY, "key_id", "key_id", false)                                                                      \
    X(USER, "user_id", "user_id", false)                                                                   \
    X(PROVIDER, "provider", "provider", false)                                                             \
    X(MODEL, "model", "model", false)                                                                      \
    X(KIND, "kind", "kind", false)                                                                         \
    X(STRATEGY, "strategy", "strategy", false)                                                             \
    X(STATUS, "status", "status", true)                                                                    \
    X(OUTCOME, "outcome", "outcome", false)                                                                \
    X(FINAL, "final", "CASE WHEN COALESCE(final, TRUE) THEN 1 ELSE 0 END", true)                          \
    X(RERUN, "rerun", "CASE WHEN rerun THEN 1 ELSE 0 END", true)                                           \
    X(CACHE_HIT, "cache_hit", "CASE WHEN cache_hit THEN 1 ELSE 0 END", true)                              \
    X(INPUT, "input_tokens", "input_tokens", true)                                                         \
    X(OUTPUT, "output_tokens", "output_tokens", true)                                                      \
    X(CACHED, "cached_input_tokens", "cached_input_tokens", true)                                          \
    X(CACHE_WRITE, "cache_write_input_tokens", "cache_write_input_tokens", true)                           \
    X(COST, "cost_nusd", "cost_nusd", true)                                                                \
    X(COST_KNOWN, "cost_known", "CASE WHEN cost_known THEN 1 ELSE 0 END", true)                           \
    X(COST_ESTIMATED, "cost_estimated", "CASE WHEN cost_estimated THEN 1 ELSE 0 END", true)               \
    X(LATENCY, "latency_ms", "latency_ms", true)                                                           \
    X(ROUTE_ATTEMPTS, "route_attempts", "route_attempts", true)                                            \
    X(SAVED, "saved_nusd", "saved_nusd", true)                                                             \
    X(SIMULATED, "simulated", "CASE WHEN simulated THEN 1 ELSE 0 END", true)                              \
    X(TTFT, "ttft_ms", "ttft_ms", true)                                                                    \
    X(TRACE_ID, "trace_id", "NULLIF(trace_id, '')", false)

enum {
#define X(name, label, expr, num) LGW_AN_REQ_##name,
    LGW_AN_REQ_COLUMNS(X)
#undef X
        LGW_AN_REQ__COUNT
};

/* Builds the statement of q into sql (lgw_an_sql_cleanup frees it). The requests statement asks for
 * q->limit + 1 rows (the extra one says has_more). Any thread. */
void lgw_an_sql_build(const struct lgw_an_query *q, bool pg, struct lgw_an_sql *sql);
void lgw_an_sql_cleanup(struct lgw_an_sql *sql);

#endif

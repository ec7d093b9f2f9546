/* render.h - the analytics answers as JSON or CSV (RFC 4180) from the rows of a query. Both formats come
 * from one list of fields per row, so a CSV column and its JSON value are always the same text. */
#ifndef LGW_AN_RENDER_H
#define LGW_AN_RENDER_H

#include "analytics/db.h"
#include "analytics/query.h"
#include "common/buf.h"

/* The summary of q from rows (lgw_an_sql_build's summary columns) into out: JSON
 * {"object":"analytics.summary","from","to","group_by","data"} or CSV with a header row. Returns 0 or
 * LGW_ERR(INTERNAL) for a row the statement cannot have made (a non-number where a number belongs). */
int lgw_an_render_summary(const struct lgw_an_query *q, const struct lgw_an_rows *rows, struct lgw_buf *out);
/* A page of ledger rows (at most q->limit of rows; one more means has_more) into out: JSON
 * {"object":"list","data","next_cursor","has_more"} or CSV (the rows only). Returns 0 or LGW_ERR(INTERNAL). */
int lgw_an_render_requests(const struct lgw_an_query *q, const struct lgw_an_rows *rows, struct lgw_buf *out);
/* The page's next cursor into out (LGW_AN_CURSOR_MAX bytes), "" when it is the last page. Returns 0 or
 * LGW_ERR(INTERNAL). */
int lgw_an_next_cursor(const struct lgw_an_query *q, const struct lgw_an_rows *rows, char *out, size_t outsz);
/* num / den as a decimal with 6 fractional digits, rounded half up ("0.333333"), exactly, into out (32
 * bytes); "" (null) when den is 0. */
void lgw_an_ratio_format(int64_t num, int64_t den, char *out, size_t outsz);

#endif

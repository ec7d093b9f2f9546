/* render.c - JSON and CSV answers of the analytics API (see render.h). */
#include "analytics/render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/sql.h"
#include "common/errors.h"

enum vkind { V_STR, V_NUM, V_BOOL };

/* One output field: its CSV column and JSON name (inside parent when parent is set: the JSON object
 * "latency_ms" holds avg, p50 and p95, flattened in CSV as latency_avg_ms ...). value NULL: null/empty. */
struct field {
    const char *csv;
    const char *parent;
    const char *json;
    enum vkind kind;
    const char *value;
};

#define FIELDS_MAX 48

struct row {
    struct field f[FIELDS_MAX];
    size_t n;
    char text[FIELDS_MAX][40]; /* numbers made here (money, ratios, buckets) */
};

static void add(struct row *r, const char *csv, const char *parent, const char *json, enum vkind kind,
                const char *value)
{
    r->f[r->n++] = (struct field){csv, parent, json ? json : csv, kind, value};
}

static char *scratch(struct row *r)
{
    return r->text[r->n];
}

static int to_i64(const char *s, int64_t *v)
{
    long long n;
    if (!s || lgw_parse_int64(s, strlen(s), &n))
        return LGW_ERR(INTERNAL);
    *v = n;
    return LGW_OK;
}

void lgw_an_ratio_format(int64_t num, int64_t den, char *out, size_t outsz)
{
    if (den <= 0 || num < 0) {
        out[0] = '\0';
        return;
    }
    /* In 128 bits: num * 1e6 of a large count still fits. */
    unsigned __int128 v = ((unsigned __int128)num * 1000000u + (unsigned __int128)den / 2) / (unsigned __int128)den;
    snprintf(out, outsz, "%llu.%06llu", (unsigned long long)(v / 1000000u), (unsigned long long)(v % 1000000u));
}

static int json_row(struct lgw_buf *out, const struct row *r)
{
    lgw_buf_puts(out, "{");
    const char *open_parent = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const struct field *f = &r->f[i];
        if (open_parent && (!f->parent || strcmp(f->parent, open_parent) != 0)) {
            lgw_buf_puts(out, "}");
            open_parent = NULL;
        }
        if (i && !(f->parent && open_parent))
            lgw_buf_puts(out, ",");
        if (f->parent && !open_parent) {
            lgw_buf_json_string(out, f->parent, strlen(f->parent));
            lgw_buf_puts(out, ":{");
            open_parent = f->parent;
        } else if (f->parent) {
            lgw_buf_puts(out, ",");
        }
        lgw_buf_json_string(out, f->json, strlen(f->json));
        lgw_buf_puts(out, ":");
        if (!f->value || (f->kind != V_STR && !f->value[0]))
            lgw_buf_puts(out, "null");
        else if (f->kind == V_STR)
            lgw_buf_json_string(out, f->value, strlen(f->value));
        else if (f->kind == V_BOOL)
            lgw_buf_puts(out, strcmp(f->value, "0") ? "true" : "false");
        else
            lgw_buf_puts(out, f->value);
    }
    return lgw_buf_puts(out, open_parent ? "}}" : "}");
}

static int csv_header(struct lgw_buf *out, const struct row *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (i)
            lgw_buf_puts(out, ",");
        lgw_an_csv_field(out, r->f[i].csv);
    }
    return lgw_buf_puts(out, "\r\n");
}

static int csv_row(struct lgw_buf *out, const struct row *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct field *f = &r->f[i];
        if (i)
            lgw_buf_puts(out, ",");
        if (f->value && f->kind == V_BOOL)
            lgw_buf_puts(out, strcmp(f->value, "0") ? "true" : "false");
        else
            lgw_an_csv_field(out, f->value);
    }
    return lgw_buf_puts(out, "\r\n");
}

/* One row of "0" cells (not owned): what a header is made from when there is no row to name the columns. */
static struct lgw_an_rows zero_rows(size_t ncols)
{
    struct lgw_an_rows z = {.nrows = 1, .ncols = ncols, .cells = lgw_calloc(ncols, sizeof(char *))};
    for (size_t c = 0; c < ncols; c++)
        z.cells[c] = (char *)"0";
    return z;
}

/* The fields of summary row i. */
static int summary_row(const struct lgw_an_query *q, const struct lgw_an_rows *rows, size_t i, struct row *r)
{
    r->n = 0;
    for (size_t g = 0; g < q->ngroups; g++) {
        const char *v = lgw_an_cell(rows, i, g);
        int64_t bucket;
        enum lgw_an_group grp = q->groups[g];
        if (grp == LGW_AN_G_DAY || grp == LGW_AN_G_HOUR || grp == LGW_AN_G_MINUTE) {
            if (to_i64(v, &bucket))
                return LGW_ERR(INTERNAL);
            if (grp == LGW_AN_G_DAY)
                lgw_an_day_format(bucket, scratch(r), 40);
            else if (grp == LGW_AN_G_HOUR)
                lgw_an_hour_format(bucket, scratch(r), 40);
            else
                lgw_an_minute_format(bucket, scratch(r), 40);
            v = scratch(r);
        }
        add(r, lgw_an_group_name(q->groups[g]), NULL, NULL, V_STR, v);
    }
    int64_t s[LGW_AN_SUM__COUNT];
    for (int k = 0; k < LGW_AN_SUM__COUNT; k++) {
        const char *v = lgw_an_cell(rows, i, q->ngroups + (size_t)k);
        if (k == LGW_AN_SUM_P50 || k == LGW_AN_SUM_P95) {
            s[k] = -1; /* no final event with a latency */
            if (v && to_i64(v, &s[k]))
                return LGW_ERR(INTERNAL);
        } else if (to_i64(v, &s[k])) {
            return LGW_ERR(INTERNAL);
        }
    }
#define NUM(csv, parent, json, val)                                                                        \
    do {                                                                                                   \
        snprintf(scratch(r), 40, "%lld", (long long)(val));                                                \
        add(r, csv, parent, json, V_NUM, scratch(r));                                                      \
    } while (0)
    NUM("requests", NULL, NULL, s[LGW_AN_SUM_REQUESTS]);
    NUM("attempts", NULL, NULL, s[LGW_AN_SUM_ATTEMPTS]);
    NUM("input_tokens", NULL, NULL, s[LGW_AN_SUM_INPUT]);
    NUM("output_tokens", NULL, NULL, s[LGW_AN_SUM_OUTPUT]);
    NUM("cached_input_tokens", NULL, NULL, s[LGW_AN_SUM_CACHED]);
    NUM("cache_write_input_tokens", NULL, NULL, s[LGW_AN_SUM_CACHE_WRITE]);
    lgw_an_usd_format(s[LGW_AN_SUM_COST], scratch(r), 40);
    add(r, "cost_usd", NULL, NULL, V_STR, scratch(r));
    lgw_an_usd_format(s[LGW_AN_SUM_COST_ESTIMATED], scratch(r), 40);
    add(r, "estimated_cost_usd", NULL, NULL, V_STR, scratch(r));
    NUM("unknown_cost_events", NULL, NULL, s[LGW_AN_SUM_UNKNOWN_COST]);
    NUM("events", NULL, NULL, s[LGW_AN_SUM_EVENTS]);
    NUM("final_events", NULL, NULL, s[LGW_AN_SUM_FINAL]);
    int64_t n = s[LGW_AN_SUM_LATENCY_N];
    if (n > 0)
        NUM("latency_avg_ms", "latency_ms", "avg", (s[LGW_AN_SUM_LATENCY_SUM] + n / 2) / n);
    else
        add(r, "latency_avg_ms", "latency_ms", "avg", V_NUM, NULL);
    if (s[LGW_AN_SUM_P50] >= 0)
        NUM("latency_p50_ms", "latency_ms", "p50", s[LGW_AN_SUM_P50]);
    else
        add(r, "latency_p50_ms", "latency_ms", "p50", V_NUM, NULL);
    if (s[LGW_AN_SUM_P95] >= 0)
        NUM("latency_p95_ms", "latency_ms", "p95", s[LGW_AN_SUM_P95]);
    else
        add(r, "latency_p95_ms", "latency_ms", "p95", V_NUM, NULL);
    lgw_an_ratio_format(s[LGW_AN_SUM_CACHE_HITS], s[LGW_AN_SUM_FINAL], scratch(r), 40);
    add(r, "cache_hit_rate", NULL, NULL, V_NUM, scratch(r));
    /* Cancelled (499) requests are out of both sides of the error rate: the client left, nobody failed. */
    lgw_an_ratio_format(s[LGW_AN_SUM_ERRORS], s[LGW_AN_SUM_FINAL] - s[LGW_AN_SUM_CANCELLED], scratch(r), 40);
    add(r, "error_rate", NULL, NULL, V_NUM, scratch(r));
    NUM("errors", NULL, NULL, s[LGW_AN_SUM_ERRORS]);
    NUM("cancelled", NULL, NULL, s[LGW_AN_SUM_CANCELLED]);
    NUM("fallbacks", NULL, NULL, s[LGW_AN_SUM_FALLBACKS]);
    lgw_an_usd_format(s[LGW_AN_SUM_SAVED], scratch(r), 40);
    add(r, "cache_saved_usd", NULL, NULL, V_STR, scratch(r));
#undef NUM
    return LGW_OK;
}

int lgw_an_render_summary(const struct lgw_an_query *q, const struct lgw_an_rows *rows, struct lgw_buf *out)
{
    struct row *r = lgw_calloc(1, sizeof(*r));
    int rc = LGW_OK;
    if (rows->ncols != q->ngroups + LGW_AN_SUM__COUNT) {
        rc = LGW_ERR(INTERNAL);
        goto out;
    }
    if (q->csv) {
        for (size_t i = 0; i < rows->nrows && !rc; i++) {
            if ((rc = summary_row(q, rows, i, r)))
                break;
            if (i == 0)
                csv_header(out, r);
            rc = csv_row(out, r);
        }
        if (rows->nrows == 0 && !rc) { /* the header alone: a grouped range with no events */
            struct lgw_an_rows zeros = zero_rows(rows->ncols);
            if (!(rc = summary_row(q, &zeros, 0, r)))
                csv_header(out, r);
            free(zeros.cells);
        }
        goto out;
    }
    char from[32], to[32];
    lgw_an_time_format(q->from_ms, from, sizeof(from));
    lgw_an_time_format(q->to_ms, to, sizeof(to));
    lgw_buf_printf(out, "{\"object\":\"analytics.summary\",\"from\":\"%s\",\"to\":\"%s\",\"group_by\":[", from, to);
    for (size_t g = 0; g < q->ngroups; g++)
        lgw_buf_printf(out, "%s\"%s\"", g ? "," : "", lgw_an_group_name(q->groups[g]));
    lgw_buf_puts(out, "],\"data\":[");
    for (size_t i = 0; i < rows->nrows; i++) {
        if ((rc = summary_row(q, rows, i, r)))
            goto out;
        if (i)
            lgw_buf_puts(out, ",");
        json_row(out, r);
    }
    rc = lgw_buf_puts(out, "]}");
out:
    free(r);
    return rc;
}

static const char *const req_labels[] = {
#define X(name, label, expr, num) label,
    LGW_AN_REQ_COLUMNS(X)
#undef X
};
static const bool req_numeric[] = {
#define X(name, label, expr, num) num,
    LGW_AN_REQ_COLUMNS(X)
#undef X
};

static bool is_bool_col(size_t c)
{
    return c == LGW_AN_REQ_FINAL || c == LGW_AN_REQ_RERUN || c == LGW_AN_REQ_CACHE_HIT ||
           c == LGW_AN_REQ_COST_KNOWN || c == LGW_AN_REQ_COST_ESTIMATED || c == LGW_AN_REQ_SIMULATED;
}

static int request_row(const struct lgw_an_rows *rows, size_t i, struct row *r)
{
    r->n = 0;
    for (size_t c = 0; c < LGW_AN_REQ__COUNT; c++) {
        const char *v = lgw_an_cell(rows, i, c);
        add(r, req_labels[c], NULL, NULL, is_bool_col(c) ? V_BOOL : req_numeric[c] ? V_NUM : V_STR, v);
        if (c == LGW_AN_REQ_COST) { /* the exact decimal next to the integer it comes from */
            int64_t nusd;
            if (to_i64(v, &nusd))
                return LGW_ERR(INTERNAL);
            lgw_an_usd_format(nusd, scratch(r), 40);
            add(r, "cost_usd", NULL, NULL, V_STR, scratch(r));
        }
    }
    return LGW_OK;
}

int lgw_an_render_requests(const struct lgw_an_query *q, const struct lgw_an_rows *rows, struct lgw_buf *out)
{
    if (rows->ncols != LGW_AN_REQ__COUNT && rows->nrows)
        return LGW_ERR(INTERNAL);
    struct row *r = lgw_calloc(1, sizeof(*r));
    int rc = LGW_OK;
    bool has_more = rows->nrows > (size_t)q->limit;
    size_t n = has_more ? (size_t)q->limit : rows->nrows;
    if (!q->csv)
        lgw_buf_puts(out, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if ((rc = request_row(rows, i, r)))
            goto out;
        if (q->csv) {
            if (i == 0)
                csv_header(out, r);
            csv_row(out, r);
        } else {
            if (i)
                lgw_buf_puts(out, ",");
            json_row(out, r);
        }
    }
    if (q->csv) {
        if (n == 0) { /* the header alone */
            struct lgw_an_rows zeros = zero_rows(LGW_AN_REQ__COUNT);
            if (!(rc = request_row(&zeros, 0, r)))
                csv_header(out, r);
            free(zeros.cells);
        }
        goto out;
    }
    lgw_buf_puts(out, "],\"next_cursor\":");
    char cursor[LGW_AN_CURSOR_MAX];
    if ((rc = lgw_an_next_cursor(q, rows, cursor, sizeof(cursor))))
        goto out;
    if (cursor[0])
        lgw_buf_printf(out, "\"%s\"", cursor);
    else
        lgw_buf_puts(out, "null");
    rc = lgw_buf_printf(out, ",\"has_more\":%s}", has_more ? "true" : "false");
out:
    free(r);
    return rc;
}

int lgw_an_next_cursor(const struct lgw_an_query *q, const struct lgw_an_rows *rows, char *out, size_t outsz)
{
    out[0] = '\0';
    if (rows->nrows <= (size_t)q->limit)
        return LGW_OK;
    size_t last = (size_t)q->limit - 1;
    int64_t ts;
    const char *event_id = lgw_an_cell(rows, last, LGW_AN_REQ_EVENT_ID);
    if (to_i64(lgw_an_cell(rows, last, LGW_AN_REQ_TS_MS), &ts) || !event_id ||
        lgw_an_cursor_encode(ts, event_id, out, outsz))
        return LGW_ERR(INTERNAL);
    return LGW_OK;
}

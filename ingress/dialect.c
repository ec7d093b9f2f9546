/* dialect.c - what every dialect shares: the error to answer, and SSE records (see dialect.h). */
#include "ingress/dialect.h"

#include <stdlib.h>
#include <string.h>

#include "common/cost.h"
#include "common/errors.h"
#include "common/json_write.h"

void lgw_answer_error_rc(struct lgw_answer_error *err, int rc, const char *message)
{
    memset(err, 0, sizeof(*err));
    err->rc = rc ? rc : LGW_ERR(INTERNAL);
    err->status = lgw_err_status(err->rc);
    err->message = message;
}

void lgw_answer_error_reply(struct lgw_answer_error *err, int status, json_t *body)
{
    memset(err, 0, sizeof(*err));
    err->status = status;
    err->body = body;
}

const char *lgw_answer_error_message(const struct lgw_answer_error *err)
{
    if (!err->body)
        return err->message ? err->message : lgw_err_message(err->rc);
    return json_string_value(json_object_get(json_object_get(err->body, "error"), "message"));
}

json_t *lgw_stream_cost_object(const struct lgw_reply *final)
{
    char usd[40];
    json_t *cost = json_null();
    if (final->cost_known && lgw_cost_format_usd(final->cost_nusd, usd, sizeof(usd)) == 0)
        cost = json_string(usd); /* text: exact to the nano-dollar, which a JSON double is not */
    json_t *o = json_pack("{s:o, s:b, s:s, s:s, s:i, s:s}", "cost_usd", cost, "cost_estimated", final->cost_estimated,
                          "provider", final->provider, "model", final->model, "attempts", final->route_attempts,
                          "cache", lgw_reply_cache_name(final));
    if (final->simulated) /* only then: a real answer's object is as it always was */
        json_object_set_new(o, "simulated", json_true());
    return o;
}

void lgw_dialect_stream_cleanup(struct lgw_dialect_stream *s)
{
    json_decref(s->held);
    s->held = NULL;
}

/* A record's head: `event: <event>\n` when there is one, then `data: `. Returns 0 or the first append's error. */
static int record_head(struct lgw_buf *out, const char *event)
{
    int rc = 0;
    if (event && ((rc = lgw_buf_puts(out, "event: ")) || (rc = lgw_buf_puts(out, event)) ||
                  (rc = lgw_buf_puts(out, "\n"))))
        return rc;
    return lgw_buf_append(out, "data: ", 6);
}

void lgw_sse_record(struct lgw_buf *out, const char *event, const char *data, size_t len)
{
    if (record_head(out, event) == 0)
        lgw_buf_append(out, data, len);
    lgw_buf_append(out, "\n\n", 2);
}

void lgw_sse_record_json(struct lgw_buf *out, const char *event, json_t *obj, bool take)
{
    size_t before = out->len;
    bool written = false;
    if (obj) { /* the chunk's text goes straight into the record: no copy of it first */
        written = record_head(out, event) == 0 && lgw_buf_dump_json(out, obj, JSON_COMPACT) == 0 &&
                  lgw_buf_append(out, "\n\n", 2) == 0;
        if (!written) /* no half record: as if nothing had been written */
            lgw_buf_truncate(out, before);
    }
    if (!written && event)
        lgw_sse_record(out, event, "{}", 2);
    if (take)
        json_decref(obj);
}

/* span.c - starting, filling and ending spans (see span.h). */
#include "telemetry/span.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "telemetry/span_int.h"
#include "telemetry/tracer.h"

int64_t lgw_span_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct lgw_span *lgw_span_start(struct lgw_tracer *tr, const char *name, enum lgw_span_kind kind,
                                const struct lgw_span_ctx *parent, struct lgw_span_ctx *ctx)
{
    struct lgw_span_ctx mine;
    if (!tr) {
        /* Tracing off: the context travels as it came, or a new trace starts, sampled as W3C's default. */
        if (parent) {
            mine = *parent;
        } else {
            lgw_span_ctx_random_id(mine.trace_id, 16);
            lgw_span_ctx_random_id(mine.span_id, 8);
            mine.sampled = true;
        }
        mine.remote = false;
        if (ctx)
            *ctx = mine;
        return NULL;
    }
    if (parent)
        memcpy(mine.trace_id, parent->trace_id, 16);
    else
        lgw_span_ctx_random_id(mine.trace_id, 16);
    lgw_span_ctx_random_id(mine.span_id, 8);
    mine.sampled = lgw_sampler_decide(lgw_tracer_sampler(tr), mine.trace_id, parent);
    mine.remote = false;
    if (ctx)
        *ctx = mine;
    if (!mine.sampled)
        return NULL;
    struct lgw_span *span = lgw_tracer_span_get(tr);
    span->tracer = tr;
    memcpy(span->trace_id, mine.trace_id, 16);
    memcpy(span->span_id, mine.span_id, 8);
    if (parent) {
        memcpy(span->parent_id, parent->span_id, 8);
        span->has_parent = true;
        span->parent_remote = parent->remote;
    }
    lgw_strlcpy(span->name, name, sizeof(span->name));
    span->kind = kind;
    span->start_ns = lgw_span_now_ns();
    return span;
}

bool lgw_span_context(const struct lgw_span *span, struct lgw_span_ctx *ctx)
{
    if (!span)
        return false;
    memcpy(ctx->trace_id, span->trace_id, 16);
    memcpy(ctx->span_id, span->span_id, 8);
    ctx->sampled = true; /* only recorded spans exist */
    ctx->remote = false;
    return true;
}

struct lgw_span *lgw_span_child(const struct lgw_span *parent, const char *name, enum lgw_span_kind kind)
{
    struct lgw_span_ctx pctx;
    if (!lgw_span_context(parent, &pctx))
        return NULL;
    struct lgw_span *span = lgw_span_start(parent->tracer, name, kind, &pctx, NULL);
    lgw_span_set_trace_state(span, parent->trace_state); /* the context's vendor data goes with it */
    return span;
}

void lgw_span_traceparent(const struct lgw_span *span, char out[LGW_TRACEPARENT_SIZE])
{
    struct lgw_span_ctx ctx;
    if (lgw_span_context(span, &ctx))
        lgw_span_ctx_format(&ctx, out);
    else
        out[0] = '\0';
}

const char *lgw_span_log_tp(const struct lgw_span *span, const char *fallback, char buf[LGW_TRACEPARENT_SIZE])
{
    if (!span)
        return fallback;
    lgw_span_traceparent(span, buf);
    return buf;
}

/* Length of the longest prefix of s[0..len) that is at most max bytes and ends on a UTF-8 boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) /* s[n] continues a character: cut before it */
        n--;
    return n;
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 when the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n;
    unsigned int cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0; /* overlong, a surrogate, or past Unicode */
    return n;
}

/* Room for len bytes and a NUL: in span's arena while it has room, else on the heap (*heap). */
static char *room(struct lgw_span *span, size_t len, bool *heap)
{
    if (span->arena_used + len + 1 <= sizeof(span->arena)) {
        char *p = span->arena + span->arena_used;
        span->arena_used += len + 1;
        *heap = false;
        return p;
    }
    *heap = true;
    return lgw_malloc(len + 1);
}

/* Copies value[0..len) into dst (len bytes and a NUL), bytes that are not UTF-8 as '?'. */
static void copy_utf8(char *dst, const char *value, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t run = i;
        while (run < len && (unsigned char)value[run] < 0x80) /* ASCII, the usual case: copied as a run */
            run++;
        if (run > i) {
            memcpy(dst + i, value + i, run - i);
            i = run;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)value + i, len - i);
        if (n == 0) {
            dst[i++] = '?';
            continue;
        }
        memcpy(dst + i, value + i, n);
        i += n;
    }
    dst[len] = '\0';
}

/* A copy of value[0..len), cut at max bytes, with bytes that are not UTF-8 as '?'; in the span's arena or on
 * the heap (*heap). */
static char *copy_value(struct lgw_span *span, const char *value, size_t len, size_t max, size_t *out_len,
                        bool *heap)
{
    len = utf8_cut(value, len, max);
    char *s = room(span, len, heap);
    copy_utf8(s, value, len);
    *out_len = len;
    return s;
}

/* The slot for key: its current one (value freed) or a new one; NULL when the span is full (counted). */
static struct lgw_attr *slot(struct lgw_span *span, const char *key)
{
    uint32_t klen = (uint32_t)strlen(key);
    uint64_t bit = UINT64_C(1) << (klen & 63);
    for (int i = (span->klens & bit) ? 0 : span->nattrs; i < span->nattrs; i++) {
        struct lgw_attr *a = &span->attrs[i];
        if (a->key == key || (a->klen == klen && memcmp(a->key, key, klen) == 0)) {
            if (a->heap)
                free(a->s);
            a->s = NULL;
            a->heap = false;
            return a;
        }
    }
    if (span->nattrs == LGW_SPAN_ATTRS_MAX) {
        span->dropped_attrs++;
        return NULL;
    }
    span->klens |= bit;
    struct lgw_attr *a = &span->attrs[span->nattrs++];
    a->key = key;
    a->klen = klen;
    a->s = NULL;
    a->heap = false;
    return a;
}

void lgw_span_set_strn(struct lgw_span *span, const char *key, const char *value, size_t len)
{
    struct lgw_attr *a;
    if (!span || !value || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_STR;
    a->s = copy_value(span, value, len, LGW_SPAN_VALUE_MAX, &a->n, &a->heap);
}

void lgw_span_set_long_strn(struct lgw_span *span, const char *key, const char *value, size_t len)
{
    struct lgw_attr *a;
    if (!span || !value || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_STR;
    /* Straight to the heap: a few KB would only fill the arena the span's small values share. */
    len = utf8_cut(value, len, LGW_SPAN_LONG_VALUE_MAX);
    a->s = lgw_malloc(len + 1);
    a->heap = true;
    copy_utf8(a->s, value, len);
    a->n = len;
}

bool lgw_span_captures_content(const struct lgw_span *span)
{
    return span && lgw_tracer_captures_content(span->tracer);
}

void lgw_span_set_trace_state(struct lgw_span *span, const char *ts)
{
    if (!span)
        return;
    if (span->trace_state_heap)
        free(span->trace_state);
    span->trace_state = NULL;
    span->trace_state_heap = false;
    if (!ts || !ts[0])
        return;
    size_t len = strlen(ts);
    span->trace_state = room(span, len, &span->trace_state_heap);
    memcpy(span->trace_state, ts, len + 1); /* validated ASCII (common/trace.h): no UTF-8 pass needed */
}

const char *lgw_span_trace_state(const struct lgw_span *span)
{
    return span ? span->trace_state : NULL;
}

void lgw_span_set_static(struct lgw_span *span, const char *key, const char *literal)
{
    struct lgw_attr *a;
    if (!span || !literal || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_STR;
    a->s = (char *)literal; /* never written through, never freed (heap stays false) */
    a->n = strlen(literal);
}

void lgw_span_set_str(struct lgw_span *span, const char *key, const char *value)
{
    if (value)
        lgw_span_set_strn(span, key, value, strlen(value));
}

void lgw_span_set_int(struct lgw_span *span, const char *key, int64_t value)
{
    struct lgw_attr *a;
    if (!span || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_INT;
    a->v.i = value;
}

void lgw_span_set_double(struct lgw_span *span, const char *key, double value)
{
    struct lgw_attr *a;
    if (!span || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_DOUBLE;
    a->v.d = value;
}

void lgw_span_set_bool(struct lgw_span *span, const char *key, bool value)
{
    struct lgw_attr *a;
    if (!span || !(a = slot(span, key)))
        return;
    a->type = LGW_ATTR_BOOL;
    a->v.b = value;
}

void lgw_span_set_strs(struct lgw_span *span, const char *key, const char *const *values, size_t n)
{
    struct lgw_attr *a;
    if (!span || !(a = slot(span, key)))
        return;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += utf8_cut(values[i], strlen(values[i]), LGW_SPAN_VALUE_MAX) + 1;
    a->type = LGW_ATTR_STRS;
    a->n = n;
    if (n == 0)
        return;
    /* The values one after another, each with its NUL: room for total - 1 bytes and the last NUL. */
    char *p = a->s = room(span, total - 1, &a->heap);
    for (size_t i = 0; i < n; i++) {
        size_t len = utf8_cut(values[i], strlen(values[i]), LGW_SPAN_VALUE_MAX);
        copy_utf8(p, values[i], len);
        p += len + 1;
    }
}

void lgw_span_set_name(struct lgw_span *span, const char *name)
{
    if (span)
        lgw_strlcpy(span->name, name, sizeof(span->name));
}

void lgw_span_add_event(struct lgw_span *span, const char *name)
{
    if (!span)
        return;
    if (span->nevents == LGW_SPAN_EVENTS_MAX) {
        span->dropped_events++;
        return;
    }
    struct lgw_span_event *e = &span->events[span->nevents++];
    lgw_strlcpy(e->name, name, sizeof(e->name));
    e->time_ns = lgw_span_now_ns();
}

void lgw_span_set_status(struct lgw_span *span, enum lgw_span_status status, const char *description)
{
    if (!span)
        return;
    span->status = status;
    free(span->status_msg);
    span->status_msg = NULL;
    if (status == LGW_SPAN_ERROR && description) { /* OTLP: a description only with ERROR */
        size_t len = utf8_cut(description, strlen(description), LGW_SPAN_VALUE_MAX);
        span->status_msg = lgw_malloc(len + 1);
        copy_utf8(span->status_msg, description, len);
    }
}

/* Frees what span holds (not span itself). */
static void free_contents(struct lgw_span *span)
{
    for (int i = 0; i < span->nattrs; i++)
        if (span->attrs[i].heap)
            free(span->attrs[i].s);
    free(span->status_msg);
    if (span->trace_state_heap)
        free(span->trace_state);
}

void lgw_span_free(struct lgw_span *span)
{
    if (!span)
        return;
    free_contents(span);
    if (span->tracer)
        lgw_tracer_span_put(span->tracer, span);
    else
        free(span); /* made by hand (tests) */
}

void lgw_span_free_many(struct lgw_span **spans, size_t n)
{
    size_t i = 0;
    while (i < n) {
        /* A run of spans of one tracer (an exporter's batch is one run) goes back to its pool at once. */
        struct lgw_tracer *tr = spans[i]->tracer;
        size_t from = i;
        for (; i < n && spans[i]->tracer == tr; i++)
            free_contents(spans[i]);
        if (tr)
            lgw_tracer_span_put_many(tr, spans + from, i - from);
        else
            for (size_t j = from; j < i; j++)
                free(spans[j]); /* made by hand (tests) */
    }
}

void lgw_span_end(struct lgw_span **span)
{
    if (!span || !*span)
        return;
    struct lgw_span *s = *span;
    *span = NULL;
    s->end_ns = lgw_span_now_ns();
    lgw_tracer_export(s->tracer, s);
}

void lgw_span_discard(struct lgw_span **span)
{
    if (!span)
        return;
    lgw_span_free(*span);
    *span = NULL;
}

/* test_sse.c - streamed answers at the ingress (ingress/sse.c with the dialects): the bytes a sequence of
 * worker replies puts on the wire, in the OpenAI dialect (data records, then [DONE]) and the Anthropic one
 * (message_start ... message_stop, text and tool_use blocks); a failure before the first chunk answered as
 * a plain error with its status, one after it as an error record that ends the stream; the usage chunk
 * passed only when the client asked; one run only, in order; lgw_sse_finished and lgw_sse_ends; the stream
 * cap for a client that stops reading, through the content reader (lgw_sse_read); one record from a JSON value
 * (lgw_sse_record_json), whole or not at all; the OpenAI streams again with chunks given as text.
 *
 * Everything goes through lgw_sse_reply and lgw_sse_fail on a real request made with no connection: they
 * resume a connection only when it was suspended, which nothing here does. The bytes are read from the
 * request's SSE buffer (req->sse), where the content reader would take them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "ingress/dialect.h"
#include "ingress/request.h"
#include "ingress/sse.h"
#include "providers/wire.h"

static struct lgw_req *stream_req(const struct lgw_dialect *dialect)
{
    struct lgw_req *req = lgw_req_new(NULL, NULL, 0);
    lgw_strlcpy(req->id, "req-1", sizeof(req->id));
    req->stream = true;
    req->dialect = dialect;
    return req;
}

/* Replies of 200 carry their body as text (body_text), as the ingress's reply path leaves them for a dialect
 * that passes chunks on as text (the OpenAI one); else parsed (body). */
static bool as_text;

/* One worker reply; body is JSON text or NULL. */
static struct lgw_reply make_reply(const char *run_id, int seq, bool final, int status, const char *body)
{
    struct lgw_reply r;
    memset(&r, 0, sizeof(r));
    lgw_strlcpy(r.id, "req-1", sizeof(r.id));
    lgw_strlcpy(r.run_id, run_id, sizeof(r.run_id));
    r.seq = seq;
    r.final = final;
    r.status = status;
    if (body && as_text && status == 200) {
        r.body_text = body;
        r.body_len = strlen(body);
    } else if (body) {
        json_error_t jerr;
        r.body = json_loads(body, 0, &jerr);
        if (!r.body)
            fail_msg("test data is not JSON (%s): %s", jerr.text, body);
    }
    lgw_strlcpy(r.provider, "openai", sizeof(r.provider));
    lgw_strlcpy(r.model, "gpt-4o-mini", sizeof(r.model));
    return r;
}

static void deliver(struct lgw_req *req, struct lgw_reply *r)
{
    lgw_sse_reply(req, r);
    lgw_reply_cleanup(r);
}

static void chunk(struct lgw_req *req, const char *run_id, int seq, const char *body)
{
    struct lgw_reply r = make_reply(run_id, seq, false, 200, body);
    deliver(req, &r);
}

static void final_ok(struct lgw_req *req, const char *run_id, int seq, int64_t in, int64_t out, int64_t cached)
{
    struct lgw_reply r = make_reply(run_id, seq, true, 200, "{\"object\":\"llmgw.stream.end\"}");
    r.usage.input_tokens = in;
    r.usage.output_tokens = out;
    r.usage.cached_input_tokens = cached;
    r.cost_nusd = 1234567; /* the request's spend: the llmgw object on the last chunk says it */
    r.cost_known = true;
    r.route_attempts = 1;
    deliver(req, &r);
}

/* The llmgw object final_ok's reply puts on a stream's last chunk (lgw_stream_cost_object). */
#define LLMGW_OBJ                                                                                              \
    "\"llmgw\":{\"cost_usd\":\"0.001234567\",\"cost_estimated\":false,\"provider\":\"openai\","                  \
    "\"model\":\"gpt-4o-mini\",\"attempts\":1,\"cache\":\"miss\"}"

static void final_error(struct lgw_req *req, const char *run_id, int seq, int status, const char *body)
{
    struct lgw_reply r = make_reply(run_id, seq, true, status, body);
    deliver(req, &r);
}

/* The bytes buffered for the client, compared exactly (both printed on a mismatch). */
static void assert_wire(const struct lgw_req *req, const char *want)
{
    const char *got = req->sse.ptr ? req->sse.ptr : "";
    if (req->sse.len != strlen(want) || memcmp(got, want, req->sse.len) != 0)
        fail_msg("wire bytes differ\n--- want (%zu bytes)\n%s\n--- got (%zu bytes)\n%.*s", strlen(want), want,
                 req->sse.len, (int)req->sse.len, got);
}

/* One expected SSE record: its event line (NULL: none) and its data, compared as JSON when it is an object
 * and byte for byte otherwise. */
struct rec {
    const char *event;
    const char *data;
};

static void assert_json_equal(const char *what, int k, const char *want, const char *got, size_t got_len)
{
    json_t *w = json_loads(want, 0, NULL), *g = json_loadb(got, got_len, 0, NULL);
    if (!w)
        fail_msg("%s %d: expected data is not JSON: %s", what, k, want);
    bool same = g && json_equal(w, g);
    json_decref(w);
    json_decref(g);
    if (!same)
        fail_msg("%s %d: data differs\n--- want\n%s\n--- got\n%.*s", what, k, want, (int)got_len, got);
}

/* Splits the buffer into records, strictly: ["event: " name "\n"] "data: " text "\n" "\n", nothing else,
 * nothing left over; and checks each against want. */
static void assert_records(const struct lgw_req *req, const struct rec *want, size_t n)
{
    const char *p = req->sse.ptr ? req->sse.ptr : "", *start = p, *end = p + req->sse.len;
    size_t k = 0;
    for (; p < end; k++) {
        const char *rec = p;
        char event[64] = "";
        bool has_event = false;
        if ((size_t)(end - p) > 7 && memcmp(p, "event: ", 7) == 0) {
            const char *nl = memchr(p + 7, '\n', (size_t)(end - p - 7));
            if (!nl || (size_t)(nl - p - 7) >= sizeof(event))
                fail_msg("record %zu (byte %td): bad event line: %.*s", k, rec - start, (int)(end - rec), rec);
            memcpy(event, p + 7, (size_t)(nl - p - 7));
            has_event = true;
            p = nl + 1;
        }
        if ((size_t)(end - p) < 6 || memcmp(p, "data: ", 6) != 0)
            fail_msg("record %zu (byte %td): no data line: %.*s", k, rec - start, (int)(end - rec), rec);
        const char *data = p + 6, *nl = memchr(data, '\n', (size_t)(end - data));
        if (!nl || nl + 1 >= end || nl[1] != '\n')
            fail_msg("record %zu (byte %td): not ended by a blank line: %.*s", k, rec - start, (int)(end - rec), rec);
        if (k >= n)
            fail_msg("record %zu is one too many: %.*s", k, (int)(end - rec), rec);
        if (!want[k].event && has_event)
            fail_msg("record %zu: event %s, expected none", k, event);
        if (want[k].event && (!has_event || strcmp(event, want[k].event) != 0))
            fail_msg("record %zu: event \"%s\", expected \"%s\"", k, has_event ? event : "(none)", want[k].event);
        size_t len = (size_t)(nl - data);
        if (want[k].data[0] == '{')
            assert_json_equal("record", (int)k, want[k].data, data, len);
        else if (len != strlen(want[k].data) || memcmp(data, want[k].data, len) != 0)
            fail_msg("record %zu: data \"%.*s\", expected \"%s\"", k, (int)len, data, want[k].data);
        p = nl + 2;
    }
    if (k != n)
        fail_msg("%zu records, expected %zu", k, n);
}

/* The plain (non-SSE) answer of a request that failed before streaming. */
static void assert_plain(const struct lgw_req *req, int status, const char *body_json)
{
    assert_true(req->done);
    assert_false(req->stream_started);
    assert_int_equal(req->status, status);
    assert_non_null(req->resp);
    assert_json_equal("plain answer", 0, body_json, req->resp, req->resp_len);
    assert_int_equal(req->sse.len, 0);
}

/* ---- OpenAI: the worker's chunks pass through, so whole records are compared byte for byte (jansson keeps
 * key order, and the chunks below are compact ASCII as it writes them). */

#define OAI_C0 "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\"," \
               "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}"
#define OAI_C1 "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\"," \
               "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}"
#define OAI_C2_BODY "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\"," \
                    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo \\\"q\\\"\"},\"finish_reason\":\"stop\"}]"
#define OAI_C2 OAI_C2_BODY "}"
#define OAI_C2_COST OAI_C2_BODY "," LLMGW_OBJ "}" /* the finish chunk, held for the final reply's cost */

static void test_openai_stream(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    assert_false(lgw_sse_finished(req));
    chunk(req, "run-a", 0, OAI_C0);
    /* the first chunk starts the answer: 200, SSE from now on, the route known but not the cost */
    assert_true(req->stream_started);
    assert_true(req->done);
    assert_int_equal(req->status, 200);
    assert_string_equal(req->provider, "openai");
    assert_string_equal(req->model, "gpt-4o-mini");
    assert_string_equal(req->cost_usd, "");
    assert_false(lgw_sse_finished(req));
    assert_wire(req, "data: " OAI_C0 "\n\n");
    chunk(req, "run-a", 1, OAI_C1);
    chunk(req, "run-a", 2, OAI_C2);
    assert_false(lgw_sse_finished(req));
    /* the finish chunk waits for the final reply, whose cost it will carry */
    assert_wire(req, "data: " OAI_C0 "\n\ndata: " OAI_C1 "\n\n");
    final_ok(req, "run-a", 3, 12, 3, 0);
    assert_true(lgw_sse_finished(req));
    assert_wire(req, "data: " OAI_C0 "\n\ndata: " OAI_C1 "\n\ndata: " OAI_C2_COST "\n\ndata: [DONE]\n\n");
    const struct rec want[] = {{NULL, OAI_C0}, {NULL, OAI_C1}, {NULL, OAI_C2_COST}, {NULL, "[DONE]"}};
    assert_records(req, want, 4);
    assert_int_equal(req->status, 200);
    assert_null(req->resp);
    lgw_req_unref(req);
}

/* The usage chunk: the gateway always asks providers for usage, and the wire layer (lgw_wire_emit, in the
 * worker) passes it to the client only when the client asked (stream_options.include_usage); the ingress
 * sends what it is given, and the final reply's usage adds nothing to an OpenAI stream. Chunks go here from
 * lgw_wire_emit straight into lgw_sse_reply, as the worker's stream sink and the reply topic would carry
 * them. */
struct sink {
    struct lgw_prov_stream base;
    struct lgw_req *req;
    int seq;
};

static int sink_emit(struct lgw_prov_stream *stream, json_t *c)
{
    struct sink *k = (struct sink *)stream;
    char *text = as_text ? json_dumps(c, JSON_COMPACT) : NULL;
    struct lgw_reply r = make_reply("run-a", k->seq++, false, 200, text);
    if (!as_text)
        r.body = json_incref(c);
    deliver(k->req, &r);
    free(text);
    return 0;
}

#define USAGE_C0 "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0," \
                 "\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":null}"
#define USAGE_C1_BODY "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[]," \
                      "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1,\"total_tokens\":10}"
#define USAGE_C1 USAGE_C1_BODY "}"

static struct lgw_req *stream_through_wire(bool include_usage)
{
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    struct sink k = {.base = {.emit = sink_emit, .include_usage = include_usage}, .req = req};
    struct lgw_wire_stream st;
    memset(&st, 0, sizeof(st));
    st.stream = &k.base;
    const char *chunks[] = {USAGE_C0, USAGE_C1};
    for (int i = 0; i < 2; i++) {
        json_t *c = json_loads(chunks[i], 0, NULL);
        assert_non_null(c);
        assert_int_equal(lgw_wire_emit(&st, c), 0);
        json_decref(c);
    }
    final_ok(req, "run-a", k.seq, 9, 1, 0);
    return req;
}

static void test_openai_usage_only_when_asked(void **state)
{
    (void)state;
    struct lgw_req *req = stream_through_wire(false);
    /* no usage asked: the cost rides on the finish chunk */
    assert_wire(req, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
                     "\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]," LLMGW_OBJ "}\n\n"
                     "data: [DONE]\n\n");
    lgw_req_unref(req);

    /* usage asked: on the usage chunk, and the finish chunk goes out as it came */
    req = stream_through_wire(true);
    assert_wire(req, "data: " USAGE_C0 "\n\ndata: " USAGE_C1_BODY "," LLMGW_OBJ "}\n\ndata: [DONE]\n\n");
    lgw_req_unref(req);
}

#define OAI_ERR_429 "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_error\",\"param\":null," \
                    "\"code\":\"rate_limit_exceeded\"}}"
#define GW_TIMEOUT_MSG "The request was not answered within its deadline."
#define OAI_ERR_TIMEOUT "{\"error\":{\"message\":\"" GW_TIMEOUT_MSG "\",\"type\":\"timeout_error\",\"param\":null," \
                        "\"code\":\"gateway_timeout\"}}"

static void test_openai_failure_before_first_chunk(void **state)
{
    (void)state;
    /* the worker's error, as the first reply: its status and body, not SSE */
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    final_error(req, "run-a", 0, 429, OAI_ERR_429);
    assert_plain(req, 429, OAI_ERR_429);
    assert_int_equal(req->resp_len, strlen(OAI_ERR_429));
    assert_memory_equal(req->resp, OAI_ERR_429, req->resp_len); /* passed through as the worker wrote it */
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);

    /* the gateway's own (the deadline), before any chunk */
    req = stream_req(&lgw_dialect_openai);
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), GW_TIMEOUT_MSG);
    assert_plain(req, 504, OAI_ERR_TIMEOUT);
    assert_memory_equal(req->resp, OAI_ERR_TIMEOUT, req->resp_len);
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);
}

static void test_openai_error_after_start(void **state)
{
    (void)state;
    /* the worker's error after a chunk: an error record, then [DONE]; the status stays 200 */
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    chunk(req, "run-a", 0, OAI_C0);
    final_error(req, "run-a", 1, 429, OAI_ERR_429);
    assert_true(lgw_sse_finished(req));
    assert_int_equal(req->status, 200);
    assert_null(req->resp);
    const char *wire = "data: " OAI_C0 "\n\ndata: " OAI_ERR_429 "\n\ndata: [DONE]\n\n";
    assert_wire(req, wire);
    /* the stream is over: nothing more is added */
    chunk(req, "run-a", 2, OAI_C1);
    final_ok(req, "run-a", 2, 1, 1, 0);
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), GW_TIMEOUT_MSG);
    assert_wire(req, wire);
    lgw_req_unref(req);

    /* the gateway's own after a chunk (the deadline passed mid-stream) */
    req = stream_req(&lgw_dialect_openai);
    chunk(req, "run-a", 0, OAI_C0);
    chunk(req, "run-a", 1, OAI_C1);
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), GW_TIMEOUT_MSG);
    assert_true(lgw_sse_finished(req));
    assert_int_equal(req->status, 200);
    wire = "data: " OAI_C0 "\n\ndata: " OAI_C1 "\n\ndata: " OAI_ERR_TIMEOUT "\n\ndata: [DONE]\n\n";
    assert_wire(req, wire);
    lgw_sse_fail(req, LGW_ERR(UNAVAILABLE), NULL);
    final_ok(req, "run-a", 2, 1, 1, 0);
    assert_wire(req, wire);
    lgw_req_unref(req);
}

/* One run, in order: a second run of the job (after a worker crash), duplicates and gaps are dropped, and a
 * run first seen in its middle is not started. */
static void test_one_run_in_order(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    chunk(req, "run-b", 3, OAI_C1); /* the middle of some run */
    assert_false(req->stream_started);
    assert_int_equal(req->sse.len, 0);
    chunk(req, "run-a", 0, OAI_C0);
    chunk(req, "run-b", 0, OAI_C2); /* another run, from its start */
    chunk(req, "run-b", 1, OAI_C2); /* another run, at the very seq expected next */
    chunk(req, "run-a", 0, OAI_C2); /* a duplicate */
    chunk(req, "run-a", 2, OAI_C2); /* a gap */
    chunk(req, "run-a", 1, OAI_C1);
    final_ok(req, "run-b", 2, 1, 1, 0); /* the other run's end, at the seq expected next */
    final_error(req, "run-a", 5, 500, OAI_ERR_429); /* out of order */
    assert_false(lgw_sse_finished(req));
    final_ok(req, "run-a", 2, 1, 1, 0);
    assert_true(lgw_sse_finished(req));
    assert_wire(req, "data: " OAI_C0 "\n\ndata: " OAI_C1 "\n\ndata: [DONE]\n\n");
    lgw_req_unref(req);
}

/* A worker that coalesces sends several chunks in one message (more_chunks after body, seq counting each):
 * the wire is the same as one chunk a message, the run's next message is expected after the last of them,
 * and a message that repeats a chunk already taken is a duplicate. */
static void test_batched_chunks(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    chunk(req, "run-a", 0, OAI_C0);
    struct lgw_reply r = make_reply("run-a", 1, false, 200, OAI_C1);
    r.more_chunks = json_pack("[o]", json_loads(OAI_C2, 0, NULL));
    assert_non_null(r.more_chunks);
    deliver(req, &r);
    chunk(req, "run-a", 2, OAI_C1); /* seq 2 came inside the message before: a duplicate */
    final_error(req, "run-a", 2, 500, OAI_ERR_429); /* not the end either: the run's next is 3 */
    assert_false(lgw_sse_finished(req));
    final_ok(req, "run-a", 3, 12, 3, 0);
    assert_true(lgw_sse_finished(req));
    assert_wire(req, "data: " OAI_C0 "\n\ndata: " OAI_C1 "\n\ndata: " OAI_C2_COST "\n\ndata: [DONE]\n\n");
    lgw_req_unref(req);
}

static void test_finished(void **state)
{
    (void)state;
    /* a request that does not stream: finished once answered */
    struct lgw_req *req = lgw_req_new(NULL, NULL, 0);
    assert_false(lgw_sse_finished(req));
    lgw_req_complete(req, 200, lgw_strdup("{}"), 2);
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);
    req = lgw_req_new(NULL, NULL, 0);
    lgw_sse_fail(req, LGW_ERR(UNAVAILABLE), NULL); /* the drain's answer: plain, with the table's text */
    assert_true(lgw_sse_finished(req));
    assert_plain(req, 503, "{\"error\":{\"message\":\"service unavailable\",\"type\":\"service_unavailable\","
                           "\"param\":null,\"code\":\"service_unavailable\"}}");
    lgw_req_unref(req);

    /* a stream: started is not finished; the final reply is */
    req = stream_req(&lgw_dialect_anthropic);
    assert_false(lgw_sse_finished(req));
    chunk(req, "run-a", 0, OAI_C1);
    assert_false(lgw_sse_finished(req));
    final_ok(req, "run-a", 1, 1, 1, 0);
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);
}

/* lgw_sse_ends says which reply ends the answer before it is passed on (the reply thread takes the request
 * out of the pending map first): a final reply of the run being streamed at the seq expected next, or any
 * final reply before the first chunk; never a chunk, another run's end, or anything once answered. */
static void test_ends(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    struct lgw_reply c0 = make_reply("run-a", 0, false, 200, OAI_C0);
    struct lgw_reply end_a1 = make_reply("run-a", 1, true, 200, "{\"object\":\"llmgw.stream.end\"}");
    struct lgw_reply end_b1 = make_reply("run-b", 1, true, 200, "{\"object\":\"llmgw.stream.end\"}");
    struct lgw_reply end_a5 = make_reply("run-a", 5, true, 500, OAI_ERR_429);
    struct lgw_reply err0 = make_reply("run-a", 0, true, 429, OAI_ERR_429);
    assert_false(lgw_sse_ends(req, &c0));
    assert_true(lgw_sse_ends(req, &err0)); /* a failure before the first chunk ends it */
    assert_true(lgw_sse_ends(req, &end_b1)); /* so does any run's end before it */
    lgw_sse_reply(req, &c0);
    assert_false(lgw_sse_ends(req, &end_b1)); /* another run */
    assert_false(lgw_sse_ends(req, &end_a5)); /* out of order */
    assert_true(lgw_sse_ends(req, &end_a1));
    lgw_sse_reply(req, &end_a1);
    assert_true(lgw_sse_finished(req));
    assert_false(lgw_sse_ends(req, &end_a1)); /* already over */
    lgw_req_unref(req);

    req = stream_req(&lgw_dialect_openai);
    lgw_sse_reply(req, &err0); /* answered as a plain error */
    assert_false(lgw_sse_ends(req, &end_a1));
    lgw_req_unref(req);
    lgw_reply_cleanup(&c0);
    lgw_reply_cleanup(&end_a1);
    lgw_reply_cleanup(&end_b1);
    lgw_reply_cleanup(&end_a5);
    lgw_reply_cleanup(&err0);
}

/* ---- Anthropic: events rebuilt from OpenAI chunks; their data compared as JSON, their framing exactly. */

#define CHUNK(delta, finish)                                                                                   \
    "{\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"claude-x\","       \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}"

#define A_MESSAGE_START                                                                                        \
    A_MESSAGE_START_WITH(0, 0)
/* The chunk id chatcmpl-7 as Anthropic's msg_7; input tokens as known before the first chunk. */
#define A_MESSAGE_START_WITH(in, cached)                                                                      \
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_7\",\"type\":\"message\",\"role\":\"assistant\","    \
    "\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"                          \
    "\"usage\":{\"input_tokens\":" #in ",\"output_tokens\":0,\"cache_read_input_tokens\":" #cached                \
    ",\"cache_creation_input_tokens\":0}}}"
#define A_TEXT_START(i)                                                                                        \
    "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define A_TEXT_DELTA(i, text)                                                                                  \
    "{\"type\":\"content_block_delta\",\"index\":" #i ",\"delta\":{\"type\":\"text_delta\",\"text\":" text "}}"
#define A_TOOL_START(i, id, name)                                                                              \
    "{\"type\":\"content_block_start\",\"index\":" #i ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"" id   \
    "\",\"name\":\"" name "\",\"input\":{}}}"
#define A_JSON_DELTA(i, json)                                                                                  \
    "{\"type\":\"content_block_delta\",\"index\":" #i ",\"delta\":{\"type\":\"input_json_delta\","             \
    "\"partial_json\":" json "}}"
#define A_BLOCK_STOP(i) "{\"type\":\"content_block_stop\",\"index\":" #i "}"
#define A_MESSAGE_DELTA(stop, out, in, cached)                                                                 \
    "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" stop "\",\"stop_sequence\":null},"             \
    "\"usage\":{\"output_tokens\":" #out ",\"input_tokens\":" #in ",\"cache_read_input_tokens\":" #cached "}," \
    LLMGW_OBJ "}"
#define A_MESSAGE_STOP "{\"type\":\"message_stop\"}"

static void test_anthropic_text_stream(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_anthropic);
    chunk(req, "run-a", 0, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"));
    chunk(req, "run-a", 1, CHUNK("{\"content\":\"Hello\"}", "null"));
    chunk(req, "run-a", 2, CHUNK("{\"content\":\" world\"}", "null"));
    chunk(req, "run-a", 3, CHUNK("{}", "\"length\""));
    assert_false(lgw_sse_finished(req));
    final_ok(req, "run-a", 4, 25, 2, 5);
    assert_true(lgw_sse_finished(req));
    const struct rec want[] = {
        {"message_start", A_MESSAGE_START},
        {"content_block_start", A_TEXT_START(0)},
        {"content_block_delta", A_TEXT_DELTA(0, "\"Hello\"")},
        {"content_block_delta", A_TEXT_DELTA(0, "\" world\"")},
        {"content_block_stop", A_BLOCK_STOP(0)},
        {"message_delta", A_MESSAGE_DELTA("max_tokens", 2, 20, 5)},
        {"message_stop", A_MESSAGE_STOP},
    };
    assert_records(req, want, sizeof(want) / sizeof(want[0]));
    /* the first and last records' framing, byte for byte */
    const char *head = "event: message_start\ndata: {\"type\":\"message_start\",";
    const char *tail = "\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    assert_true(req->sse.len > strlen(head) + strlen(tail));
    assert_memory_equal(req->sse.ptr, head, strlen(head));
    assert_memory_equal(req->sse.ptr + req->sse.len - strlen(tail), tail, strlen(tail));
    lgw_req_unref(req);
}

/* message_start reports the input tokens known before the first chunk: the provider's count when the first
 * chunk's reply carries one (Anthropic's message_start, Gemini, echo), else the gateway's estimate that the
 * job route put in the stream state. */
static void test_anthropic_message_start_input_tokens(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_anthropic);
    req->ds.input_tokens = 42; /* the estimate */
    chunk(req, "run-a", 0, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"));
    final_ok(req, "run-a", 1, 40, 1, 0);
    const struct rec want[] = {
        {"message_start", A_MESSAGE_START_WITH(42, 0)},
        {"message_delta", A_MESSAGE_DELTA("end_turn", 1, 40, 0)},
        {"message_stop", A_MESSAGE_STOP},
    };
    assert_records(req, want, 3);
    lgw_req_unref(req);

    req = stream_req(&lgw_dialect_anthropic);
    req->ds.input_tokens = 42;
    struct lgw_reply r = make_reply("run-a", 0, false, 200, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"));
    r.usage.input_tokens = 30; /* the provider's own count, with 10 read from its cache */
    r.usage.cached_input_tokens = 10;
    deliver(req, &r);
    final_ok(req, "run-a", 1, 30, 1, 10);
    const struct rec want2[] = {
        {"message_start", A_MESSAGE_START_WITH(20, 10)},
        {"message_delta", A_MESSAGE_DELTA("end_turn", 1, 20, 10)},
        {"message_stop", A_MESSAGE_STOP},
    };
    assert_records(req, want2, 3);
    lgw_req_unref(req);
}

static void test_anthropic_text_and_tools_stream(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_anthropic);
    int seq = 0;
    chunk(req, "run-a", seq++, CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null"));
    chunk(req, "run-a", seq++, CHUNK("{\"content\":\"Let me check.\"}", "null"));
    chunk(req, "run-a", seq++,
          CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\","
                "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                "null"));
    chunk(req, "run-a", seq++, CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}", "null"));
    chunk(req, "run-a", seq++, CHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}", "null"));
    chunk(req, "run-a", seq++,
          CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\","
                "\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]}",
                "null"));
    chunk(req, "run-a", seq++, CHUNK("{}", "\"tool_calls\""));
    final_ok(req, "run-a", seq, 100, 20, 30);
    assert_true(lgw_sse_finished(req));
    const struct rec want[] = {
        {"message_start", A_MESSAGE_START},
        {"content_block_start", A_TEXT_START(0)},
        {"content_block_delta", A_TEXT_DELTA(0, "\"Let me check.\"")},
        {"content_block_stop", A_BLOCK_STOP(0)},
        {"content_block_start", A_TOOL_START(1, "call_1", "get_weather")},
        {"content_block_delta", A_JSON_DELTA(1, "\"{\\\"city\\\":\"")},
        {"content_block_delta", A_JSON_DELTA(1, "\"\\\"Paris\\\"}\"")},
        {"content_block_stop", A_BLOCK_STOP(1)},
        {"content_block_start", A_TOOL_START(2, "call_2", "get_time")},
        {"content_block_delta", A_JSON_DELTA(2, "\"{}\"")},
        {"content_block_stop", A_BLOCK_STOP(2)},
        {"message_delta", A_MESSAGE_DELTA("tool_use", 20, 70, 30)},
        {"message_stop", A_MESSAGE_STOP},
    };
    assert_records(req, want, sizeof(want) / sizeof(want[0]));
    lgw_req_unref(req);
}

/* A stream that ends before any chunk: the provider's stream ended properly with nothing for the client (a
 * bare [DONE], or only the usage chunk it did not ask for), so the worker's first reply is its final 200.
 * OpenAI's answer is just [DONE]; Anthropic's must still open with message_start, which the SDKs require
 * before anything else ("Unexpected event order, got message_delta before message_start"). No chunk named
 * the message then: its id is made from the request's, its model is null, its input is the final count. */
static void test_stream_with_no_chunk(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    final_ok(req, "run-a", 0, 7, 0, 0);
    assert_true(lgw_sse_finished(req));
    assert_int_equal(req->status, 200);
    assert_wire(req, "data: [DONE]\n\n");
    lgw_req_unref(req);

    req = stream_req(&lgw_dialect_anthropic);
    final_ok(req, "run-a", 0, 7, 0, 0);
    assert_true(lgw_sse_finished(req));
    assert_int_equal(req->status, 200);
    const struct rec want[] = {
        {"message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_req1\",\"type\":\"message\","
                          "\"role\":\"assistant\",\"model\":null,\"content\":[],\"stop_reason\":null,"
                          "\"stop_sequence\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":0,"
                          "\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}"},
        {"message_delta", A_MESSAGE_DELTA("end_turn", 0, 7, 0)},
        {"message_stop", A_MESSAGE_STOP},
    };
    assert_records(req, want, 3);
    lgw_req_unref(req);
}

static void test_anthropic_failure_before_first_chunk(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_anthropic);
    final_error(req, "run-a", 0, 429, OAI_ERR_429);
    assert_plain(req, 429, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Rate limit reached\"}}");
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);

    req = stream_req(&lgw_dialect_anthropic);
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), GW_TIMEOUT_MSG);
    assert_plain(req, 504, "{\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"" GW_TIMEOUT_MSG "\"}}");
    assert_true(lgw_sse_finished(req));
    lgw_req_unref(req);
}

/* After the 200 went out an error is an `error` event that ends the stream, typed by what went wrong (as
 * Anthropic's own mid-stream errors are): no block stop, no message_stop after it, nothing more at all. */
static void test_anthropic_error_after_start(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_anthropic);
    chunk(req, "run-a", 0, CHUNK("{\"role\":\"assistant\",\"content\":\"Hi\"}", "null"));
    final_error(req, "run-a", 1, 429, OAI_ERR_429);
    assert_true(lgw_sse_finished(req));
    assert_int_equal(req->status, 200);
    const struct rec want[] = {
        {"message_start", A_MESSAGE_START},
        {"content_block_start", A_TEXT_START(0)},
        {"content_block_delta", A_TEXT_DELTA(0, "\"Hi\"")},
        {"error", "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"Rate limit reached\"}}"},
    };
    assert_records(req, want, 4);
    size_t len = req->sse.len;
    chunk(req, "run-a", 2, CHUNK("{\"content\":\"more\"}", "null"));
    final_ok(req, "run-a", 2, 1, 1, 0);
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), NULL);
    assert_int_equal(req->sse.len, len);
    lgw_req_unref(req);

    req = stream_req(&lgw_dialect_anthropic);
    chunk(req, "run-a", 0, CHUNK("{\"role\":\"assistant\",\"content\":\"Hi\"}", "null"));
    lgw_sse_fail(req, LGW_ERR(TIMEOUT), GW_TIMEOUT_MSG);
    assert_true(lgw_sse_finished(req));
    const struct rec want2[] = {
        {"message_start", A_MESSAGE_START},
        {"content_block_start", A_TEXT_START(0)},
        {"content_block_delta", A_TEXT_DELTA(0, "\"Hi\"")},
        {"error", "{\"type\":\"error\",\"error\":{\"type\":\"timeout_error\",\"message\":\"" GW_TIMEOUT_MSG "\"}}"},
    };
    assert_records(req, want2, 4);
    lgw_req_unref(req);
}

/* An error answer tells the SDKs whether to retry when the error table and their status rule disagree:
 * the gateway's own row, or a worker's error found in the table by status and code. */
static void test_error_answers_carry_the_tables_retry_advice(void **state)
{
    (void)state;
    struct {
        int rc, status;
        const char *code;
        int want;
    } cases[] = {
        {LGW_ERR(QUOTA), 0, NULL, 0},          /* 429 that waiting does not cure: false */
        {LGW_ERR(RATE_LIMITED), 0, NULL, -1},  /* 429 the SDKs retry anyway: no header */
        {LGW_ERR(INTERNAL), 0, NULL, 0},       /* the gateway's own bug: a retry cannot help */
        {LGW_ERR(UNAVAILABLE), 0, NULL, -1},
        {LGW_ERR(INVALID), 0, NULL, -1},
        {0, 429, "insufficient_quota", 0},     /* a provider's quota error passed on */
        {0, 429, "rate_limit_exceeded", -1},
        {0, 503, "overloaded_error", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lgw_req *req = lgw_req_new(NULL, NULL, 0);
        if (cases[i].rc) {
            lgw_req_complete_error(req, cases[i].rc, NULL);
        } else {
            json_t *body = json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", "m", "type", "t", "param",
                                     "code", cases[i].code);
            lgw_req_complete_reply(req, cases[i].status, body);
            json_decref(body);
        }
        if (req->retry_header != cases[i].want)
            fail_msg("case %zu: x-should-retry %d, want %d", i, req->retry_header, cases[i].want);
        lgw_req_unref(req);
    }
}

/* ---- A client that stops reading: the stream cap (sse_max) counts only once the response's first block has
 * gone out, which the content reader learns from a call past position 0; the server makes the call at 0
 * before it writes the headers, and an HTTP thread held off the core then must not cut a healthy client.
 * Before that the bound is 4 times the cap. */

/* One ~1 KB content chunk of run-1 at seq. */
static void big_chunk(struct lgw_req *req, int seq)
{
    char body[1400], text[1025];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\","
             "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},\"finish_reason\":null}]}",
             text);
    chunk(req, "run-1", seq, body);
}

/* Chunks from seq on until more than want bytes wait, or the stream overflowed; returns the next seq. */
static int fill_past(struct lgw_req *req, int seq, size_t want)
{
    while (!req->sse_overflow && req->sse.len - req->sse_off <= want)
        big_chunk(req, seq++);
    return seq;
}

static void test_stream_cap_counts_once_the_first_block_went_out(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    req->sse_max = 16384;
    char out[4096];
    int seq = fill_past(req, 0, sizeof(out));
    ssize_t first = lgw_sse_read(req, 0, out, sizeof(out)); /* before the headers are written */
    assert_int_equal(first, sizeof(out));
    /* The HTTP thread is held off: three caps pile up, and the stream goes on. */
    seq = fill_past(req, seq, 3 * req->sse_max);
    assert_false(req->sse_overflow);
    assert_false(req->sse_done);
    /* The first block went out (the server asks for the next): what waits now waits for the client. */
    assert_int_equal(lgw_sse_read(req, (uint64_t)first, out, sizeof(out)), sizeof(out));
    assert_true(req->sse_sent);
    big_chunk(req, seq);
    assert_true(req->sse_overflow);
    assert_true(req->sse_done);
    assert_int_equal(req->sse.len, 0); /* dropped: nothing more is sent */
    assert_int_equal(lgw_sse_read(req, (uint64_t)(2 * first), out, sizeof(out)), LGW_HRESP_END);
    lgw_req_unref(req);
}

static void test_stream_cap_before_the_first_block_is_four_caps(void **state)
{
    (void)state;
    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    req->sse_max = 16384;
    char out[4096];
    int seq = fill_past(req, 0, sizeof(out));
    assert_int_equal(lgw_sse_read(req, 0, out, sizeof(out)), sizeof(out));
    seq = fill_past(req, seq, 4 * req->sse_max - 2048); /* the next ~1.1 KB chunk passes 4 caps */
    assert_false(req->sse_overflow);
    assert_false(req->sse_sent);
    fill_past(req, seq, 4 * req->sse_max);
    assert_true(req->sse_overflow);
    assert_true(req->sse_done);
    lgw_req_unref(req);
}

/* One record from a JSON value: written whole, or (past the buffer's cap) not at all, with the event's "{}" when
 * there is room for it. */
static void test_sse_record_json_whole_or_nothing(void **state)
{
    (void)state;
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    json_t *chunk = json_pack("{s:s}", "text", "hi");
    lgw_sse_record_json(&out, "delta", chunk, false);
    lgw_sse_record_json(&out, NULL, chunk, false);
    assert_string_equal(out.ptr, "event: delta\ndata: {\"text\":\"hi\"}\n\ndata: {\"text\":\"hi\"}\n\n");
    lgw_buf_cleanup(&out);
    lgw_buf_init(&out, 32); /* room for the head and "{}", not for the chunk */
    json_t *big = json_pack("{s:s}", "text", "a chunk longer than the room that is left");
    lgw_sse_record_json(&out, "delta", big, false);
    assert_string_equal(out.ptr, "event: delta\ndata: {}\n\n");
    lgw_sse_record_json(&out, NULL, big, false);
    assert_string_equal(out.ptr, "event: delta\ndata: {}\n\n"); /* no event: nothing at all */
    lgw_buf_cleanup(&out);
    json_decref(big);
    json_decref(chunk);
}

/* The OpenAI streams again with every 200 body as text: the same bytes on the wire, the tail chunk still held
 * for the final reply's llmgw object. A tail whose text jansson will not read (a key repeated) goes as it came.
 * Last in the list: it leaves as_text set if it fails, which the Anthropic tests (bodies parsed) must not see. */
static void test_openai_streams_from_text(void **state)
{
    as_text = true;
    test_openai_stream(state);
    test_openai_usage_only_when_asked(state);
    test_openai_failure_before_first_chunk(state);
    test_openai_error_after_start(state);
    test_one_run_in_order(state);
    test_batched_chunks(state);
    test_ends(state);
    test_stream_with_no_chunk(state);
    test_stream_cap_counts_once_the_first_block_went_out(state);
    test_stream_cap_before_the_first_block_is_four_caps(state);

    struct lgw_req *req = stream_req(&lgw_dialect_openai);
    const char *twice = "{\"choices\":[{\"finish_reason\":\"stop\",\"finish_reason\":\"stop\"}]}";
    chunk(req, "run-a", 0, OAI_C0);
    chunk(req, "run-a", 1, twice);
    chunk(req, "run-a", 2, "{\"choices\":[{\"delta\":{}},{\"finish_reason\":null}],\"usage\":{}}"); /* not a tail */
    final_ok(req, "run-a", 3, 12, 3, 0);
    assert_wire(req, "data: " OAI_C0 "\n\n"
                     "data: {\"choices\":[{\"finish_reason\":\"stop\",\"finish_reason\":\"stop\"}]}\n\n"
                     "data: {\"choices\":[{\"delta\":{}},{\"finish_reason\":null}],\"usage\":{}}\n\ndata: [DONE]\n\n");
    lgw_req_unref(req);
    as_text = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_stream),
        cmocka_unit_test(test_openai_usage_only_when_asked),
        cmocka_unit_test(test_openai_failure_before_first_chunk),
        cmocka_unit_test(test_openai_error_after_start),
        cmocka_unit_test(test_one_run_in_order),
        cmocka_unit_test(test_batched_chunks),
        cmocka_unit_test(test_finished),
        cmocka_unit_test(test_ends),
        cmocka_unit_test(test_anthropic_text_stream),
        cmocka_unit_test(test_anthropic_text_and_tools_stream),
        cmocka_unit_test(test_anthropic_message_start_input_tokens),
        cmocka_unit_test(test_stream_with_no_chunk),
        cmocka_unit_test(test_anthropic_failure_before_first_chunk),
        cmocka_unit_test(test_anthropic_error_after_start),
        cmocka_unit_test(test_error_answers_carry_the_tables_retry_advice),
        cmocka_unit_test(test_stream_cap_counts_once_the_first_block_went_out),
        cmocka_unit_test(test_stream_cap_before_the_first_block_is_four_caps),
        cmocka_unit_test(test_sse_record_json_whole_or_nothing),
        cmocka_unit_test(test_openai_streams_from_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

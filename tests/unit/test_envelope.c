/* test_envelope.c - job, reply, cost-event, cancel and dead-letter messages: round trips, rejection of bad
 * messages, and the upgrade rule (readers take "v" 1 and 2 and ignore unknown fields). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/batch_record.h"
#include "common/envelope.h"
#include "common/errors.h"
#include "common/uuid.h"

static void expect_bad_job(const char *text, const char *why_part)
{
    struct lgw_job job;
    char why[256] = "";
    assert_int_equal(lgw_job_decode(text, strlen(text), &job, why, sizeof(why)), LGW_ERR(INVALID));
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
    lgw_job_cleanup(&job);
}

static void test_job_roundtrip(void **state)
{
    (void)state;
    struct lgw_job job, back;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "3f1c");
    job.kind = LGW_JOB_EMBEDDINGS;
    strcpy(job.tenant, "acme");
    strcpy(job.key_id, "key_0123456789ab");
    strcpy(job.user, "u1");
    job.created_ms = 1700000000000;
    job.deadline_ms = 1700000030000;
    strcpy(job.reply_topic, "llmgw.replies.a");
    job.reply_partition = 0;
    strcpy(job.strategy, "cost");
    job.attempt = 1;
    job.body = json_pack("{s:s, s:s}", "model", "echo-embedding", "input", "héllo \"q\"");
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    char why[256];
    assert_int_equal(lgw_job_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, "3f1c");
    assert_int_equal(back.kind, LGW_JOB_EMBEDDINGS);
    assert_string_equal(back.tenant, "acme");
    assert_string_equal(back.key_id, "key_0123456789ab");
    assert_string_equal(back.user, "u1");
    assert_int_equal(back.created_ms, 1700000000000);
    assert_int_equal(back.deadline_ms, 1700000030000);
    assert_string_equal(back.reply_topic, "llmgw.replies.a");
    assert_string_equal(back.strategy, "cost");
    assert_int_equal(back.attempt, 1);
    assert_true(json_equal(back.body, job.body));
    /* no cache directives: no "cache" object, and none read back */
    assert_null(strstr(buf.ptr, "\"cache\""));
    assert_int_equal(back.cache_ttl_s, 0);
    assert_false(back.cache_no_lookup || back.cache_no_store);
    lgw_job_cleanup(&back);
    /* the response-cache directives travel */
    job.cache_ttl_s = 300;
    job.cache_no_store = true;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    assert_int_equal(lgw_job_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.cache_ttl_s, 300);
    assert_true(back.cache_no_store);
    assert_false(back.cache_no_lookup);
    lgw_job_cleanup(&back);
    lgw_job_cleanup(&job);
    lgw_buf_cleanup(&buf);
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                   "\"reply_to\":{\"topic\":\"r\"},\"cache\":{\"ttl_s\":-1},\"body\":{}}",
                   "ttl_s");
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                   "\"reply_to\":{\"topic\":\"r\"},\"cache\":true,\"body\":{}}",
                   "cache");
}


static void test_job_rejects(void **state)
{
    (void)state;
    expect_bad_job("not json", "not JSON");
    expect_bad_job("[]", "object");
    expect_bad_job("{\"v\":3}", "version");
    expect_bad_job("{\"v\":1}", "\"id\"");
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"image\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                   "\"reply_to\":{\"topic\":\"r\"},\"body\":{}}",
                   "kind");
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                   "\"body\":{}}",
                   "reply_to");
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                   "\"reply_to\":{\"topic\":\"r\"},\"body\":[]}",
                   "body");
    expect_bad_job("{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":\"1\",\"deadline_ms\":2,"
                   "\"reply_to\":{\"topic\":\"r\"},\"body\":{}}",
                   "created_ms");
}

static void test_reply_roundtrip(void **state)
{
    (void)state;
    struct lgw_reply r, back;
    memset(&r, 0, sizeof(r));
    strcpy(r.id, "x");
    r.final = true;
    r.status = 404;
    r.body = json_pack("{s:{s:s, s:s, s:s}}", "error", "message", "m", "type", "invalid_request_error", "code",
                       "model_not_found");
    strcpy(r.provider, "echo");
    strcpy(r.tenant, "acme");
    r.usage.input_tokens = 10;
    r.cost_nusd = 1234;
    r.retry_after_ms = 1500;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    char why[256];
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.status, 404);
    assert_true(back.final);
    assert_int_equal(back.usage.input_tokens, 10);
    assert_int_equal(back.cost_nusd, 1234);
    assert_string_equal(back.tenant, "acme");
    assert_int_equal(back.retry_after_ms, 1500);
    assert_true(json_equal(back.body, r.body));
    assert_string_equal(lgw_reply_cache_name(&back), "miss");
    lgw_reply_cleanup(&back);
    /* the cache's three answers */
    r.cache_bypass = true;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_non_null(strstr(buf.ptr, "\"cache\":\"bypass\""));
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_true(back.cache_bypass && !back.cache_hit);
    lgw_reply_cleanup(&back);
    r.cache_bypass = false;
    r.cache_hit = true;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_true(back.cache_hit && !back.cache_bypass);
    assert_string_equal(lgw_reply_cache_name(&back), "hit");
    assert_false(back.simulated);
    assert_null(strstr(buf.ptr, "simulated")); /* absent unless a simulated provider answered */
    lgw_reply_cleanup(&back);
    r.simulated = true;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_non_null(strstr(buf.ptr, "\"simulated\":true"));
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_true(back.simulated);
    lgw_reply_cleanup(&back);
    lgw_reply_cleanup(&r);
    lgw_buf_cleanup(&buf);
}

static void test_cost_event_roundtrip(void **state)
{
    (void)state;
    struct lgw_cost_event ev, back;
    memset(&ev, 0, sizeof(ev));
    lgw_uuid4(ev.event_id);
    strcpy(ev.request_id, "req");
    strcpy(ev.tenant, "acme");
    strcpy(ev.provider, "echo");
    strcpy(ev.model, "echo");
    ev.usage = (struct lgw_usage){100, 20, 5, 30};
    ev.cost_nusd = 9223372036854775807LL; /* money survives the trip to the last nano-dollar */
    ev.cost_known = true;
    ev.status = 499;
    strcpy(ev.outcome, "cancelled");
    ev.ts_ms = 1;
    ev.final = false;
    ev.provider_call = 2;
    ev.cost_estimated = true;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_cost_event_encode(&ev, &buf), 0);
    char why[256];
    assert_int_equal(lgw_cost_event_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.event_id, ev.event_id);
    assert_int_equal(back.cost_nusd, 9223372036854775807LL);
    assert_int_equal(back.usage.cached_input_tokens, 5);
    assert_true(back.cost_known);
    assert_string_equal(back.outcome, "cancelled");
    assert_int_equal(back.status, 499);
    assert_false(back.final);
    assert_int_equal(back.provider_call, 2);
    assert_true(back.cost_estimated);
    assert_int_equal(back.usage.cache_write_input_tokens, 30);
    assert_int_equal(back.saved_nusd, 0);
    assert_null(strstr(buf.ptr, "saved_nusd")); /* absent unless a hit saved something */
    assert_string_equal(back.key_id, "");
    assert_null(strstr(buf.ptr, "key_id")); /* absent for a keyless request */
    lgw_strlcpy(ev.key_id, "key_0123456789ab", sizeof(ev.key_id));
    ev.cache_hit = true;
    ev.saved_nusd = 4500;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_cost_event_encode(&ev, &buf), 0);
    assert_int_equal(lgw_cost_event_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_true(back.cache_hit);
    assert_int_equal(back.saved_nusd, 4500);
    assert_string_equal(back.key_id, "key_0123456789ab");
    /* simulated and ttft_ms: absent for a real, unstreamed answer (readers before them see nothing new) */
    assert_false(back.simulated || back.has_ttft);
    assert_null(strstr(buf.ptr, "simulated"));
    assert_null(strstr(buf.ptr, "ttft_ms"));
    ev.simulated = true;
    ev.has_ttft = true;
    ev.ttft_ms = 0; /* a first token at once is a time, not an absence */
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_cost_event_encode(&ev, &buf), 0);
    assert_int_equal(lgw_cost_event_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_true(back.simulated && back.has_ttft);
    assert_int_equal(back.ttft_ms, 0);
    const char *null_ttft = "{\"v\":1,\"event_id\":\"e\",\"request_id\":\"r\",\"tenant\":\"t\",\"kind\":\"chat\","
                            "\"input_tokens\":1,\"output_tokens\":1,\"cost_nusd\":5,\"status\":200,\"outcome\":\"ok\","
                            "\"ts_ms\":1,\"ttft_ms\":null,\"simulated\":false}";
    assert_int_equal(lgw_cost_event_decode(null_ttft, strlen(null_ttft), &back, why, sizeof(why)), 0);
    assert_false(back.simulated || back.has_ttft);
    const char *bad_ttft = "{\"v\":1,\"event_id\":\"e\",\"request_id\":\"r\",\"tenant\":\"t\",\"kind\":\"chat\","
                           "\"input_tokens\":1,\"output_tokens\":1,\"cost_nusd\":5,\"status\":200,\"outcome\":\"ok\","
                           "\"ts_ms\":1,\"ttft_ms\":-3}";
    assert_int_equal(lgw_cost_event_decode(bad_ttft, strlen(bad_ttft), &back, why, sizeof(why)), LGW_ERR(INVALID));
    /* The trace id: absent when the job had no trace context, carried when it had one. */
    assert_string_equal(back.trace_id, "");
    assert_null(strstr(buf.ptr, "trace_id"));
    lgw_strlcpy(ev.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", sizeof(ev.trace_id));
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_cost_event_encode(&ev, &buf), 0);
    assert_int_equal(lgw_cost_event_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    const char *bad = "{\"v\":1,\"event_id\":\"e\",\"request_id\":\"r\",\"tenant\":\"t\",\"kind\":\"chat\","
                      "\"input_tokens\":1,\"output_tokens\":1,\"cost_nusd\":-5,\"status\":200,\"outcome\":\"ok\","
                      "\"ts_ms\":1}";
    assert_int_equal(lgw_cost_event_decode(bad, strlen(bad), &back, why, sizeof(why)), LGW_ERR(INVALID));
    lgw_buf_cleanup(&buf);
}

/* A malformed trace id never costs the event: the spend is recorded, the link to the trace is not. */
static void test_cost_event_bad_trace_id_ignored(void **state)
{
    (void)state;
    static const char *const ids[] = {"\"4BF92F3577B34DA6A3CE929D0E0E4736\"", "\"00000000000000000000000000000000\"",
                                      "\"4bf92f\"", "17", "null"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char text[512], why[256];
        snprintf(text, sizeof(text),
                 "{\"v\":1,\"event_id\":\"e\",\"request_id\":\"r\",\"tenant\":\"t\",\"kind\":\"chat\","
                 "\"input_tokens\":1,\"output_tokens\":1,\"cost_nusd\":5,\"cost_known\":true,\"status\":200,"
                 "\"outcome\":\"ok\",\"ts_ms\":1,\"trace_id\":%s}",
                 ids[i]);
        struct lgw_cost_event ev;
        assert_int_equal(lgw_cost_event_decode(text, strlen(text), &ev, why, sizeof(why)), 0);
        assert_string_equal(ev.trace_id, "");
        assert_int_equal(ev.cost_nusd, 5);
    }
}

static void test_cancel_roundtrip(void **state)
{
    (void)state;
    struct lgw_cancel c, back;
    memset(&c, 0, sizeof(c));
    strcpy(c.id, "6d0e3b1a-9f1e-4c3a-8a55-0b9c1d2e3f40");
    c.ts_ms = 1700000000123;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_cancel_encode(&c, &buf), 0);
    json_t *o = json_loadb(buf.ptr, buf.len, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "v")), LGW_ENVELOPE_VERSION);
    assert_string_equal(json_string_value(json_object_get(o, "id")), c.id);
    json_decref(o);
    char why[256];
    assert_int_equal(lgw_cancel_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, c.id);
    assert_int_equal(back.ts_ms, 1700000000123);
    /* ts_ms is optional for a reader: 0 when the writer did not say */
    const char *no_ts = "{\"v\":1,\"id\":\"r1\"}";
    assert_int_equal(lgw_cancel_decode(no_ts, strlen(no_ts), &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, "r1");
    assert_int_equal(back.ts_ms, 0);
    lgw_buf_cleanup(&buf);
}

static void expect_bad_cancel(const char *text, const char *why_part)
{
    struct lgw_cancel c;
    char why[256] = "";
    assert_int_equal(lgw_cancel_decode(text, strlen(text), &c, why, sizeof(why)), LGW_ERR(INVALID));
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
}

static void test_cancel_rejects_missing_id(void **state)
{
    (void)state;
    expect_bad_cancel("{\"v\":1,\"ts_ms\":5}", "\"id\"");
    expect_bad_cancel("{\"v\":1,\"id\":\"\",\"ts_ms\":5}", "\"id\"");
    expect_bad_cancel("{\"v\":1,\"id\":7,\"ts_ms\":5}", "\"id\"");
    expect_bad_cancel("{\"v\":1,\"id\":\"r1\",\"ts_ms\":-1}", "ts_ms");
    expect_bad_cancel("r1", "not JSON");
}

/* Messages as a writer of version V might send them: every field a v1 reader needs, plus fields it has
 * never heard of (an object, an array, a string), which it must ignore. */
#define JOB_V(V)                                                                                             \
    "{\"v\":" #V ",\"id\":\"j1\",\"kind\":\"chat\",\"tenant\":\"acme\",\"created_ms\":1,\"deadline_ms\":2,"  \
    "\"reply_to\":{\"topic\":\"r\",\"partition\":0,\"headers\":{\"x\":1}},\"body\":{\"model\":\"echo\"},"    \
    "\"priority\":\"high\",\"future\":{\"nested\":[1,2,{\"deep\":null}]},\"tags\":[\"a\",\"b\"]}"
#define REPLY_V(V)                                                                                           \
    "{\"v\":" #V ",\"id\":\"j1\",\"seq\":0,\"final\":true,\"status\":200,\"body\":{\"object\":\"x\"},"         \
    "\"provider\":\"echo\",\"model\":\"echo\",\"cache\":\"miss\",\"usage\":{\"input_tokens\":3,"             \
    "\"output_tokens\":4,\"cached_input_tokens\":0,\"reasoning_tokens\":9},\"cost\":5,\"latency_ms\":6,"     \
    "\"region\":\"eu\",\"future\":{\"nested\":[1,2]}}"
#define COST_V(V)                                                                                            \
    "{\"v\":" #V ",\"event_id\":\"e1\",\"request_id\":\"j1\",\"tenant\":\"acme\",\"kind\":\"chat\","         \
    "\"input_tokens\":3,\"output_tokens\":4,\"cost_nusd\":5,\"status\":200,\"outcome\":\"ok\",\"ts_ms\":7,"  \
    "\"currency\":\"usd\",\"future\":{\"nested\":[1,2]},\"labels\":[\"a\"]}"

static void test_job_accepts_v2_with_unknown_fields(void **state)
{
    (void)state;
    struct lgw_job job;
    char why[256] = "";
    const char *text = JOB_V(2);
    if (lgw_job_decode(text, strlen(text), &job, why, sizeof(why)))
        fail_msg("a v2 job was rejected: %s", why);
    assert_string_equal(job.id, "j1");
    assert_string_equal(job.tenant, "acme");
    assert_string_equal(job.reply_topic, "r");
    assert_int_equal(job.deadline_ms, 2);
    assert_string_equal(json_string_value(json_object_get(job.body, "model")), "echo");
    lgw_job_cleanup(&job);
    text = JOB_V(1);
    assert_int_equal(lgw_job_decode(text, strlen(text), &job, why, sizeof(why)), 0);
    lgw_job_cleanup(&job);
}

static void test_job_rejects_v0_and_v3(void **state)
{
    (void)state;
    expect_bad_job(JOB_V(0), "version");
    expect_bad_job(JOB_V(3), "version");
    expect_bad_job(JOB_V(-1), "version");
    expect_bad_job(JOB_V("1"), "version");
    expect_bad_job("{\"id\":\"j1\"}", "version");
}

static void test_reply_accepts_v2_with_unknown_fields(void **state)
{
    (void)state;
    struct lgw_reply r;
    char why[256] = "";
    const char *text = REPLY_V(2);
    if (lgw_reply_decode(text, strlen(text), &r, why, sizeof(why)))
        fail_msg("a v2 reply was rejected: %s", why);
    assert_string_equal(r.id, "j1");
    assert_int_equal(r.status, 200);
    assert_true(r.final);
    assert_int_equal(r.usage.input_tokens, 3);
    assert_int_equal(r.usage.output_tokens, 4);
    assert_int_equal(r.cost_nusd, 5);
    assert_string_equal(r.tenant, ""); /* written before replies named their tenant: not checked */
    lgw_reply_cleanup(&r);
}

static void expect_bad_reply(const char *text, const char *why_part)
{
    struct lgw_reply r;
    char why[256] = "";
    assert_int_equal(lgw_reply_decode(text, strlen(text), &r, why, sizeof(why)), LGW_ERR(INVALID));
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
    lgw_reply_cleanup(&r);
}

/* A stream's coalesced chunks (reply more_chunks) and the job's batched_chunks: both round-trip; a job or a
 * reply from a writer older than them reads as "one chunk a message" (the upgrade: an older ingress's jobs
 * never get batched replies, and its replies are read as before); more_chunks is bounded and only in a
 * chunk. */
static void test_batched_chunks_fields(void **state)
{
    (void)state;
    char why[256] = "";
    struct lgw_job job;
    const char *old_job = JOB_V(1);
    assert_int_equal(lgw_job_decode(old_job, strlen(old_job), &job, why, sizeof(why)), 0);
    assert_false(job.batched_chunks);
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    assert_null(strstr(buf.ptr, "batched_chunks")); /* absent unless said */
    job.batched_chunks = true;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    lgw_job_cleanup(&job);
    assert_int_equal(lgw_job_decode(buf.ptr, buf.len, &job, why, sizeof(why)), 0);
    assert_true(job.batched_chunks);
    lgw_job_cleanup(&job);

    struct lgw_reply r, back;
    const char *old_reply = REPLY_V(1);
    assert_int_equal(lgw_reply_decode(old_reply, strlen(old_reply), &back, why, sizeof(why)), 0);
    assert_null(back.more_chunks);
    lgw_reply_cleanup(&back);
    memset(&r, 0, sizeof(r));
    strcpy(r.id, "x");
    r.seq = 4;
    r.status = 200;
    r.body = json_pack("{s:s}", "object", "chat.completion.chunk");
    r.more_chunks = json_pack("[{s:i}, {s:i}]", "n", 5, "n", 6);
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.seq, 4);
    assert_true(json_equal(back.more_chunks, r.more_chunks));
    lgw_reply_cleanup(&back);
    json_array_clear(r.more_chunks); /* an empty array is not written */
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    assert_null(strstr(buf.ptr, "more_chunks"));
    lgw_reply_cleanup(&r);
    lgw_buf_cleanup(&buf);

#define CHUNK_WITH(MORE) "{\"v\":1,\"id\":\"j1\",\"seq\":1,\"final\":false,\"status\":200,\"body\":{}," MORE "}"
    expect_bad_reply(CHUNK_WITH("\"more_chunks\":{}"), "more_chunks");
    expect_bad_reply(CHUNK_WITH("\"more_chunks\":[{},3]"), "more_chunks");
    expect_bad_reply("{\"v\":1,\"id\":\"j1\",\"seq\":1,\"final\":true,\"status\":200,\"body\":{},\"more_chunks\":[{}]}",
                     "more_chunks");
    expect_bad_reply("{\"v\":1,\"id\":\"j1\",\"seq\":2147483647,\"final\":false,\"status\":200,\"body\":{}}", "seq");
    struct lgw_buf big;
    lgw_buf_init(&big, 0);
    lgw_buf_puts(&big, "{\"v\":1,\"id\":\"j1\",\"seq\":1,\"final\":false,\"status\":200,\"body\":{},\"more_chunks\":[");
    for (int i = 0; i <= LGW_REPLY_MORE_CHUNKS_MAX; i++)
        lgw_buf_puts(&big, i ? ",{}" : "{}");
    lgw_buf_puts(&big, "]}");
    expect_bad_reply(big.ptr, "more_chunks");
    lgw_buf_cleanup(&big);
#undef CHUNK_WITH
}

static void test_reply_rejects_v0_and_v3(void **state)
{
    (void)state;
    expect_bad_reply(REPLY_V(0), "version");
    expect_bad_reply(REPLY_V(3), "version");
    /* money is never negative (schemas/reply.schema.json: cost minimum 0) */
    expect_bad_reply("{\"v\":1,\"id\":\"j1\",\"final\":true,\"status\":200,\"body\":{},\"cost\":-5}", "cost");
}

static void test_cost_event_accepts_v2_with_unknown_fields(void **state)
{
    (void)state;
    struct lgw_cost_event ev;
    char why[256] = "";
    const char *text = COST_V(2);
    if (lgw_cost_event_decode(text, strlen(text), &ev, why, sizeof(why)))
        fail_msg("a v2 cost event was rejected: %s", why);
    assert_string_equal(ev.event_id, "e1");
    assert_string_equal(ev.request_id, "j1");
    assert_int_equal(ev.usage.output_tokens, 4);
    assert_int_equal(ev.cost_nusd, 5);
    /* written before per-attempt events: its execution's final event, usage reported, no cache writes */
    assert_true(ev.final);
    assert_false(ev.cost_estimated);
    assert_int_equal(ev.provider_call, 0);
    assert_int_equal(ev.usage.cache_write_input_tokens, 0);
    assert_string_equal(ev.outcome, "ok");
    assert_int_equal(ev.ts_ms, 7);
}

static void test_cost_event_rejects_v0_and_v3(void **state)
{
    (void)state;
    struct lgw_cost_event ev;
    char why[256] = "";
    const char *texts[] = {COST_V(0), COST_V(3)};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        assert_int_equal(lgw_cost_event_decode(texts[i], strlen(texts[i]), &ev, why, sizeof(why)), LGW_ERR(INVALID));
        assert_non_null(strstr(why, "version"));
    }
}

static void test_cancel_accepts_v2_rejects_v0_and_v3(void **state)
{
    (void)state;
    struct lgw_cancel c;
    char why[256] = "";
    const char *v2 = "{\"v\":2,\"id\":\"r1\",\"ts_ms\":5,\"reason\":\"client left\"}";
    assert_int_equal(lgw_cancel_decode(v2, strlen(v2), &c, why, sizeof(why)), 0);
    assert_string_equal(c.id, "r1");
    expect_bad_cancel("{\"v\":0,\"id\":\"r1\",\"ts_ms\":5}", "version");
    expect_bad_cancel("{\"v\":3,\"id\":\"r1\",\"ts_ms\":5}", "version");
}

static void test_dead_letter(void **state)
{
    (void)state;
    const char text[] = "{\"v\":1,\"id\":\"x\"}";
    struct lgw_dead_letter dl = {.reason = "missing field \"kind\"", .topic = "llmgw.jobs.chat", .partition = 3,
                                 .offset = 42, .ts_ms = 1700000000000, .payload = text,
                                 .payload_len = sizeof(text) - 1};
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_dead_letter_encode(&dl, &buf), 0);
    json_t *o = json_loadb(buf.ptr, buf.len, 0, NULL);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "v")), LGW_ENVELOPE_VERSION);
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "missing field \"kind\"");
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "llmgw.jobs.chat");
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 42);
    assert_int_equal(json_integer_value(json_object_get(o, "ts_ms")), 1700000000000);
    assert_string_equal(json_string_value(json_object_get(o, "payload")), text);
    json_decref(o);
    lgw_buf_cleanup(&buf);
}

static void test_dead_letter_non_utf8_payload_is_null(void **state)
{
    (void)state;
    const char bytes[] = "\xff\xfe\x00junk \xc3\x28";
    struct lgw_dead_letter dl = {.reason = "not JSON (error at byte 0)", .topic = "llmgw.jobs.chat", .partition = 0,
                                 .offset = 7, .ts_ms = 1, .payload = bytes, .payload_len = sizeof(bytes) - 1};
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_dead_letter_encode(&dl, &buf), 0);
    json_t *o = json_loadb(buf.ptr, buf.len, 0, NULL); /* the message itself is valid JSON */
    assert_non_null(o);
    json_t *payload = json_object_get(o, "payload");
    assert_non_null(payload); /* present, and null: the bytes stay in the source topic */
    assert_true(json_is_null(payload));
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 7);
    json_decref(o);
    lgw_buf_cleanup(&buf);
}

/* A batch line's "batch" part survives a job and its reply; a job without one has none; a bad one is refused
 * with the field named. */
static void test_batch_part(void **state)
{
    (void)state;
    struct lgw_job job, back;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "batch_0123-7");
    strcpy(job.tenant, "acme");
    job.created_ms = 1;
    job.deadline_ms = 2;
    strcpy(job.reply_topic, "llmgw.batch.results");
    job.reply_partition = 3;
    strcpy(job.batch.id, "batch_0123");
    job.batch.index = 7;
    strcpy(job.batch.custom_id, "request-8");
    job.body = json_pack("{s:s}", "model", "echo");
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    char why[256];
    assert_int_equal(lgw_job_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.batch.id, "batch_0123");
    assert_int_equal(back.batch.index, 7);
    assert_string_equal(back.batch.custom_id, "request-8");
    assert_int_equal(back.reply_partition, 3);
    lgw_job_cleanup(&back);

    struct lgw_reply reply, rback;
    memset(&reply, 0, sizeof(reply));
    strcpy(reply.id, job.id);
    reply.final = true;
    reply.status = 200;
    reply.body = json_object();
    reply.batch = job.batch;
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_reply_encode(&reply, &buf), 0);
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &rback, why, sizeof(why)), 0);
    assert_string_equal(rback.batch.id, "batch_0123");
    assert_int_equal(rback.batch.index, 7);
    assert_string_equal(rback.batch.custom_id, "request-8");
    lgw_reply_cleanup(&rback);
    json_decref(reply.body);

    memset(&job.batch, 0, sizeof(job.batch));
    lgw_buf_reset(&buf);
    assert_int_equal(lgw_job_encode(&job, &buf), 0);
    assert_null(strstr(buf.ptr, "\"batch\""));
    assert_int_equal(lgw_job_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.batch.id, "");
    lgw_job_cleanup(&back);
    json_decref(job.body);
    lgw_buf_cleanup(&buf);

    const char *base = "{\"v\":1,\"id\":\"a\",\"kind\":\"chat\",\"tenant\":\"t\",\"created_ms\":1,\"deadline_ms\":2,"
                       "\"reply_to\":{\"topic\":\"r\"},\"body\":{},";
    char text[512];
    snprintf(text, sizeof(text), "%s\"batch\":[]}", base);
    expect_bad_job(text, "\"batch\"");
    snprintf(text, sizeof(text), "%s\"batch\":{\"id\":\"b\",\"index\":-1,\"custom_id\":\"c\"}}", base);
    expect_bad_job(text, "\"index\"");
    snprintf(text, sizeof(text), "%s\"batch\":{\"id\":\"b\",\"index\":0}}", base);
    expect_bad_job(text, "\"custom_id\"");
}

/* The batch record: a round trip, the states and endpoints it takes, and the ids and partition everyone
 * computes alike. */
static void test_batch_line_key(void **state)
{
    (void)state;
    char key[LGW_BATCH_LINE_KEY_MAX];
    lgw_batch_line_key("acme", 0, key, sizeof(key));
    assert_string_equal(key, "acme|0");
    lgw_batch_line_key("acme", 7, key, sizeof(key));
    assert_string_equal(key, "acme|3");
    lgw_batch_line_key("acme", 1000001, key, sizeof(key));
    assert_string_equal(key, "acme|1");
    lgw_batch_line_key("acme", -1, key, sizeof(key));
    assert_string_equal(key, "acme|3");
    /* Lines 0..SPREAD-1 get SPREAD different keys, and the next line starts over. */
    char first[LGW_BATCH_LINE_KEY_MAX], again[LGW_BATCH_LINE_KEY_MAX];
    lgw_batch_line_key("t", 0, first, sizeof(first));
    lgw_batch_line_key("t", LGW_BATCH_TENANT_SPREAD, again, sizeof(again));
    assert_string_equal(first, again);
    char small[4];
    lgw_batch_line_key("acme", 2, small, sizeof(small));
    assert_string_equal(small, "acm");
}

static void test_batch_record(void **state)
{
    (void)state;
    struct lgw_batch_record rec, back;
    memset(&rec, 0, sizeof(rec));
    lgw_batch_new_id(rec.id);
    assert_int_equal(strlen(rec.id), LGW_BATCH_ID_LEN);
    assert_memory_equal(rec.id, "batch_", 6);
    char other[LGW_BATCH_ID_LEN + 1];
    lgw_batch_new_id(other);
    assert_string_not_equal(rec.id, other);
    strcpy(rec.tenant, "acme");
    rec.state = LGW_BATCH_CANCELLING;
    strcpy(rec.endpoint, "/v1/embeddings");
    rec.created_ms = 1000;
    rec.expires_ms = 1000 + LGW_BATCH_WINDOW_MS;
    rec.total = 10000;
    strcpy(rec.input_file_id, "file-abc");
    rec.metadata = json_pack("{s:s}", "job", "nightly");
    rec.ts_ms = 2000;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_batch_record_encode(&rec, &buf), 0);
    char why[256] = "";
    assert_int_equal(lgw_batch_record_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.id, rec.id);
    assert_int_equal(back.state, LGW_BATCH_CANCELLING);
    assert_string_equal(back.endpoint, "/v1/embeddings");
    assert_int_equal(back.expires_ms, 1000 + LGW_BATCH_WINDOW_MS);
    assert_int_equal(back.total, 10000);
    assert_string_equal(back.input_file_id, "file-abc");
    assert_true(json_equal(back.metadata, rec.metadata));
    assert_string_equal(back.key_id, "");
    lgw_batch_record_cleanup(&back);
    lgw_batch_record_cleanup(&rec);
    lgw_buf_cleanup(&buf);

    static const char *const bad[] = {
        "{\"v\":1,\"id\":\"b\",\"tenant\":\"t\",\"state\":\"done\",\"endpoint\":\"/v1/embeddings\",\"created_ms\":1,"
        "\"expires_ms\":2,\"total\":1,\"ts_ms\":1}",
        "{\"v\":1,\"id\":\"b\",\"tenant\":\"t\",\"state\":\"submitted\",\"endpoint\":\"/v1/completions\","
        "\"created_ms\":1,\"expires_ms\":2,\"total\":1,\"ts_ms\":1}",
        "{\"v\":3,\"id\":\"b\",\"tenant\":\"t\",\"state\":\"submitted\",\"endpoint\":\"/v1/embeddings\","
        "\"created_ms\":1,\"expires_ms\":2,\"total\":1,\"ts_ms\":1}",
        "{\"v\":1,\"id\":\"b\",\"tenant\":\"t\",\"state\":\"submitted\",\"endpoint\":\"/v1/embeddings\","
        "\"created_ms\":1,\"expires_ms\":2,\"total\":-1,\"ts_ms\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(lgw_batch_record_decode(bad[i], strlen(bad[i]), &back, why, sizeof(why)), LGW_ERR(INVALID));
        lgw_batch_record_cleanup(&back);
    }
    /* Unknown fields are ignored (the upgrade rule). */
    const char *v2 = "{\"v\":2,\"id\":\"b\",\"tenant\":\"t\",\"state\":\"submitted\",\"endpoint\":\"/v1/embeddings\","
                     "\"created_ms\":1,\"expires_ms\":2,\"total\":1,\"ts_ms\":1,\"priority\":\"low\"}";
    assert_int_equal(lgw_batch_record_decode(v2, strlen(v2), &back, why, sizeof(why)), 0);
    lgw_batch_record_cleanup(&back);

    int hits[8] = {0};
    for (int i = 0; i < 800; i++) {
        char id[LGW_BATCH_ID_LEN + 1];
        lgw_batch_new_id(id);
        int32_t p = lgw_batch_results_partition(id, 8);
        assert_true(p >= 0 && p < 8);
        assert_int_equal(lgw_batch_results_partition(id, 8), p);
        hits[p]++;
    }
    for (int p = 0; p < 8; p++)
        assert_true(hits[p] > 40); /* spread: 100 expected per partition */
    assert_int_equal(lgw_batch_results_partition("batch_x", 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip),       cmocka_unit_test(test_job_rejects),
        cmocka_unit_test(test_reply_roundtrip),     cmocka_unit_test(test_cost_event_roundtrip),
        cmocka_unit_test(test_cost_event_bad_trace_id_ignored),
        cmocka_unit_test(test_batched_chunks_fields),
        cmocka_unit_test(test_batch_part),
        cmocka_unit_test(test_batch_record),
        cmocka_unit_test(test_batch_line_key),
        cmocka_unit_test(test_cancel_roundtrip),
        cmocka_unit_test(test_cancel_rejects_missing_id),
        cmocka_unit_test(test_job_accepts_v2_with_unknown_fields),
        cmocka_unit_test(test_job_rejects_v0_and_v3),
        cmocka_unit_test(test_reply_accepts_v2_with_unknown_fields),
        cmocka_unit_test(test_reply_rejects_v0_and_v3),
        cmocka_unit_test(test_cost_event_accepts_v2_with_unknown_fields),
        cmocka_unit_test(test_cost_event_rejects_v0_and_v3),
        cmocka_unit_test(test_cancel_accepts_v2_rejects_v0_and_v3),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_dead_letter_non_utf8_payload_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

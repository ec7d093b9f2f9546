/* test_envelope.c - job, reply and cost-event messages: round trips and rejection of bad messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "envelope.h"
#include "errors.h"

static void test_job_roundtrip(void **state)
{
    (void)state;
    struct lgw_job job, back;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "3f1c");
    job.kind = LGW_JOB_EMBEDDINGS;
    strcpy(job.tenant, "acme");
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
    assert_string_equal(back.user, "u1");
    assert_int_equal(back.created_ms, 1700000000000);
    assert_int_equal(back.deadline_ms, 1700000030000);
    assert_string_equal(back.reply_topic, "llmgw.replies.a");
    assert_string_equal(back.strategy, "cost");
    assert_int_equal(back.attempt, 1);
    assert_true(json_equal(back.body, job.body));
    lgw_job_cleanup(&back);
    lgw_job_cleanup(&job);
    lgw_buf_cleanup(&buf);
}

static void expect_bad_job(const char *text, const char *why_part)
{
    struct lgw_job job;
    char why[256] = "";
    assert_int_equal(lgw_job_decode(text, strlen(text), &job, why, sizeof(why)), LGW_ERR(INVALID));
    if (!strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
    lgw_job_cleanup(&job);
}

static void test_job_rejects(void **state)
{
    (void)state;
    expect_bad_job("not json", "not JSON");
    expect_bad_job("[]", "object");
    expect_bad_job("{\"v\":2}", "version");
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
    r.usage.input_tokens = 10;
    r.cost_nusd = 1234;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_reply_encode(&r, &buf), 0);
    char why[256];
    assert_int_equal(lgw_reply_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_int_equal(back.status, 404);
    assert_true(back.final);
    assert_int_equal(back.usage.input_tokens, 10);
    assert_int_equal(back.cost_nusd, 1234);
    assert_true(json_equal(back.body, r.body));
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
    ev.usage = (struct lgw_usage){100, 20, 5, 0};
    ev.cost_nusd = 9223372036854775807LL; /* money survives the trip to the last nano-dollar */
    ev.cost_known = true;
    ev.status = 200;
    strcpy(ev.outcome, "ok");
    ev.ts_ms = 1;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    assert_int_equal(lgw_cost_event_encode(&ev, &buf), 0);
    char why[256];
    assert_int_equal(lgw_cost_event_decode(buf.ptr, buf.len, &back, why, sizeof(why)), 0);
    assert_string_equal(back.event_id, ev.event_id);
    assert_int_equal(back.cost_nusd, 9223372036854775807LL);
    assert_int_equal(back.usage.cached_input_tokens, 5);
    assert_true(back.cost_known);
    assert_string_equal(back.outcome, "ok");
    const char *bad = "{\"v\":1,\"event_id\":\"e\",\"request_id\":\"r\",\"tenant\":\"t\",\"kind\":\"chat\","
                      "\"input_tokens\":1,\"output_tokens\":1,\"cost_nusd\":-5,\"status\":200,\"outcome\":\"ok\","
                      "\"ts_ms\":1}";
    assert_int_equal(lgw_cost_event_decode(bad, strlen(bad), &back, why, sizeof(why)), LGW_ERR(INVALID));
    lgw_buf_cleanup(&buf);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    lgw_uuid4(a);
    lgw_uuid4(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_job_roundtrip),       cmocka_unit_test(test_job_rejects),
        cmocka_unit_test(test_reply_roundtrip),     cmocka_unit_test(test_cost_event_roundtrip),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_wire.c - the wire layer's rules (providers/wire.c), through the real OpenAI adapter against a scripted
 * upstream (tests/support/upstream.h): which answers are retried and how often, Retry-After and
 * retry-after-ms, x-should-retry, the job's deadline, no retry once a chunk reached the client, an abort during
 * a transfer and during a retry wait, and the client-left flag.
 *
 * Waits asked of the wire are tens to hundreds of ms (retry-after-ms), and time checks have a wide margin
 * above: the machine is shared, so only "at least the asked wait" is tight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/errors.h"
#include "common/log.h"
#include "providers/http.h"
#include "providers/http_loop.h"
#include "tests/support/prov_call.h"
#include "tests/support/upstream.h"

#define WAIT_MS 10000 /* the most any call here may take before the test fails */

static struct lgw_upstream *up;
static struct lgw_http_loop *loop;
static struct lgw_config cfg;
static const struct lgw_model_info gpt = {.id = "gpt-4o-mini", .provider = "openai", .kind = LGW_JOB_CHAT};

static const char ANSWER[] = "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"gpt-4o-mini\","
                             "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
                             "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
                             "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}";
static const char CHUNK[] = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w\"},\"finish_reason\":null}]}\n\n";
static const char DONE[] = "data: [DONE]\n\n";

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Queues an answer: status, a JSON body (an OpenAI error object for errors), and header pairs (NULL-ended). */
static void push(int status, int delay_ms, const char *const *headers)
{
    struct lgw_upstream_answer *a = lgw_upstream_answer_new(status);
    for (size_t i = 0; headers && headers[i]; i += 2)
        lgw_upstream_answer_header(a, headers[i], headers[i + 1]);
    char body[256];
    if (status == 200)
        lgw_upstream_answer_body(a, ANSWER, strlen(ANSWER));
    else
        lgw_upstream_answer_body(a, body, (size_t)snprintf(body, sizeof(body), "{\"error\":{\"message\":\"status "
                                                           "%d\",\"type\":\"server_error\",\"param\":null,\"code\":null}}",
                                                           status));
    lgw_upstream_answer_delay(a, delay_ms);
    lgw_upstream_push(up, a);
}

/* Queues a stream of n chunks, delay_ms apart, then [DONE] (or, cut, a cut in the middle of an event). */
static void push_stream(int n, int delay_ms, bool cut)
{
    struct lgw_upstream_answer *a = lgw_upstream_answer_new(200);
    for (int i = 0; i < n; i++)
        lgw_upstream_answer_piece(a, CHUNK, strlen(CHUNK), i ? delay_ms : 0);
    if (cut) {
        lgw_upstream_answer_piece(a, CHUNK, 20, 0);
        lgw_upstream_answer_cut(a);
    } else {
        lgw_upstream_answer_piece(a, DONE, strlen(DONE), 0);
    }
    lgw_upstream_push(up, a);
}

/* Starts a call with max_retries retries, streamed or not, deadline_ms away. */
static struct lgw_test_call *start(int max_retries, bool stream, int64_t deadline_ms)
{
    cfg.provider_max_retries = max_retries;
    struct lgw_test_call *tc = lgw_calloc(1, sizeof(*tc));
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "gpt-4o-mini", "messages", "role", "user", "content", "hi");
    if (stream)
        json_object_set_new(body, "stream", json_true());
    lgw_test_call_init(tc, &cfg, &gpt, loop, body, deadline_ms);
    assert_int_equal(lgw_test_call_start(tc), 0);
    return tc;
}

static void finish(struct lgw_test_call *tc)
{
    lgw_test_call_cleanup(tc);
    free(tc);
}

static const char *error_code(const struct lgw_test_call *tc)
{
    return json_string_value(json_object_get(json_object_get(tc->call.res.body, "error"), "code"));
}

/* The gap between the arrivals of requests i and i+1, in ms. */
static int64_t gap_ms(size_t i)
{
    return (lgw_upstream_request(up, i + 1)->arrived_us - lgw_upstream_request(up, i)->arrived_us) / 1000;
}

static void abort_task(void *opaque)
{
    lgw_prov_call_abort(&((struct lgw_test_call *)opaque)->call);
}

static int reset(void **state)
{
    (void)state;
    lgw_upstream_reset(up);
    lgw_test_config(&cfg, lgw_upstream_url(up));
    return 0;
}

/* ---- which answers are retried ---- */

static void test_retriable_status_retried_then_succeeds(void **state)
{
    (void)state;
    static const int statuses[] = {429, 500, 503, 409};
    static const char *const soon[] = {"retry-after-ms", "1", NULL};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        lgw_upstream_reset(up);
        push(statuses[i], 0, soon);
        push(200, 0, NULL);
        struct lgw_test_call *tc = start(2, false, 30000);
        assert_true(lgw_test_call_wait(tc, WAIT_MS));
        print_message("HTTP %d then 200: %zu requests, status %d\n", statuses[i], lgw_upstream_count(up),
                      tc->call.res.status);
        assert_int_equal(tc->call.res.status, 200);
        assert_int_equal(lgw_upstream_count(up), 2);
        assert_int_equal(tc->call.res.usage.input_tokens, 3); /* the answer that succeeded, not the failed one */
        finish(tc);
    }
}

static void test_retries_bounded_by_max_retries(void **state)
{
    (void)state;
    static const char *const soon[] = {"retry-after-ms", "1", NULL};
    for (int i = 0; i < 4; i++)
        push(500, 0, soon);
    struct lgw_test_call *tc = start(2, false, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(lgw_upstream_count(up), 3); /* the first attempt and two retries */
    assert_int_equal(lgw_upstream_unused(up), 1);
    assert_int_equal(tc->call.res.status, 500);
    assert_string_equal(json_string_value(json_object_get(json_object_get(tc->call.res.body, "error"), "message")),
                        "status 500"); /* the last answer's error, as the provider sent it */
    finish(tc);
}

static void test_should_retry_false_stops_a_429(void **state)
{
    (void)state;
    static const char *const no[] = {"x-should-retry", "false", "retry-after-ms", "1", NULL};
    push(429, 0, no);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(2, false, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 429);
    assert_int_equal(lgw_upstream_count(up), 1);
    finish(tc);
}

static void test_should_retry_true_retries_a_400(void **state)
{
    (void)state;
    static const char *const yes[] = {"x-should-retry", "true", "retry-after-ms", "1", NULL};
    push(400, 0, yes);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(2, false, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 200);
    assert_int_equal(lgw_upstream_count(up), 2);
    finish(tc);
}

static void test_non_retriable_status_not_retried(void **state)
{
    (void)state;
    static const int statuses[] = {400, 401, 404};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        lgw_upstream_reset(up);
        push(statuses[i], 0, NULL);
        push(200, 0, NULL);
        struct lgw_test_call *tc = start(2, false, 30000);
        assert_true(lgw_test_call_wait(tc, WAIT_MS));
        assert_int_equal(tc->call.res.status, statuses[i]);
        assert_int_equal(lgw_upstream_count(up), 1);
        finish(tc);
    }
}

/* A slow attempt (the provider timeout) is retried within the request's deadline. */
static void test_timeout_retried(void **state)
{
    (void)state;
    cfg.provider_timeout_ms = 500; /* the second attempt, answered at once, has as long */
    push(200, 3000, NULL);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(1, false, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 200);
    assert_int_equal(lgw_upstream_count(up), 2);
    finish(tc);
}

/* ---- how long between attempts ---- */

static void test_retry_after_seconds_honoured(void **state)
{
    (void)state;
    static const char *const one_second[] = {"retry-after", "1", NULL};
    push(503, 0, one_second);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(1, false, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 200);
    assert_int_equal(lgw_upstream_count(up), 2);
    print_message("retry-after: 1 -> the retry came %lld ms later\n", (long long)gap_ms(0));
    assert_true(gap_ms(0) >= 1000);
    assert_true(gap_ms(0) < 6000);
    finish(tc);
}

static void test_retry_after_ms_honoured_and_wins(void **state)
{
    (void)state;
    /* retry-after-ms is OpenAI's more precise header: it wins over retry-after (30 s here, which would make
     * the test time out) */
    static const char *const both[] = {"retry-after-ms", "300", "retry-after", "30", NULL};
    push(429, 0, both);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(1, false, 60000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 200);
    assert_int_equal(lgw_upstream_count(up), 2);
    print_message("retry-after-ms: 300 -> the retry came %lld ms later\n", (long long)gap_ms(0));
    assert_true(gap_ms(0) >= 300);
    assert_true(gap_ms(0) < 5000);
    finish(tc);
}

/* ---- the deadline ---- */

static void test_retry_not_made_past_deadline(void **state)
{
    (void)state;
    static const char *const later[] = {"retry-after", "5", NULL};
    push(429, 0, later);
    push(200, 0, NULL);
    int64_t t0 = lgw_mono_ms();
    struct lgw_test_call *tc = start(2, false, 1500); /* the 5 s wait would outlast the request */
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 429); /* the answer it had */
    assert_true(lgw_mono_ms() - t0 < 4000);    /* it did not wait first */
    assert_int_equal(lgw_upstream_count(up), 1);
    finish(tc);
}

static void test_slow_upstream_past_deadline_is_504(void **state)
{
    (void)state;
    push(200, 3000, NULL);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(2, false, 500);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 504);
    assert_string_equal(json_string_value(json_object_get(json_object_get(tc->call.res.body, "error"), "type")),
                        "timeout_error");
    assert_int_equal(lgw_upstream_count(up), 1); /* no time was left for another attempt */
    finish(tc);
}

/* ---- streams ---- */

static void test_stream_not_retried_after_a_chunk(void **state)
{
    (void)state;
    push_stream(1, 0, true); /* one chunk, then cut */
    push_stream(2, 0, false);
    struct lgw_test_call *tc = start(2, true, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 502);
    assert_string_equal(error_code(tc), "bad_gateway");
    assert_int_equal(json_array_size(tc->chunks), 1);
    assert_int_equal(lgw_upstream_count(up), 1);
    assert_int_equal(lgw_upstream_unused(up), 1);
    finish(tc);
}

static void test_stream_cut_before_any_chunk_retried(void **state)
{
    (void)state;
    push_stream(0, 0, true); /* cut inside the first event: nothing reached the client */
    push_stream(2, 0, false);
    struct lgw_test_call *tc = start(1, true, 30000);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 200);
    assert_int_equal(json_array_size(tc->chunks), 2);
    assert_int_equal(lgw_upstream_count(up), 2);
    finish(tc);
}

static void cancel_after_first(struct lgw_test_call *tc, size_t n)
{
    if (n == 1)
        atomic_store(&tc->cancelled, true); /* the client left */
}

static void test_client_left_flag_stops_stream(void **state)
{
    (void)state;
    push_stream(10, 100, false);
    cfg.provider_max_retries = 2;
    struct lgw_test_call *tc = lgw_calloc(1, sizeof(*tc));
    lgw_test_call_init(tc, &cfg, &gpt, loop,
                       json_pack("{s:s, s:[{s:s, s:s}], s:b}", "model", "gpt-4o-mini", "messages", "role", "user",
                                 "content", "hi", "stream", 1),
                       30000);
    tc->on_chunk = cancel_after_first;
    assert_int_equal(lgw_test_call_start(tc), 0);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(json_array_size(tc->chunks), 1); /* read no further once the flag was up */
    assert_int_equal(tc->call.res.status, 502);
    assert_int_equal(lgw_upstream_count(up), 1); /* not retried */
    /* and the upstream saw its connection go before the stream's end */
    for (int i = 0; i < 300 && lgw_upstream_cut_by_client(up) == 0; i++)
        sleep_ms(10);
    assert_int_equal(lgw_upstream_cut_by_client(up), 1);
    finish(tc);
}

/* ---- abort ---- */

static void test_abort_during_transfer_ends_once(void **state)
{
    (void)state;
    push(200, 2000, NULL); /* slow: the transfer is running when the abort comes */
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(2, false, 30000);
    assert_true(lgw_upstream_wait_count(up, 1, WAIT_MS));
    lgw_http_loop_post(loop, 0, abort_task, tc);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_not_equal(tc->call.res.status, 200);
    assert_non_null(json_object_get(tc->call.res.body, "error"));
    sleep_ms(600); /* longer than any backoff without Retry-After could make a retry wait (250 ms) */
    assert_int_equal(lgw_test_call_done_runs(tc), 1);
    assert_int_equal(lgw_upstream_count(up), 1); /* an aborted call is not retried */
    finish(tc);
}

static void test_abort_during_retry_wait_ends_once(void **state)
{
    (void)state;
    static const char *const wait_a_bit[] = {"retry-after-ms", "800", NULL};
    push(429, 0, wait_a_bit);
    push(200, 0, NULL);
    struct lgw_test_call *tc = start(2, false, 30000);
    assert_true(lgw_upstream_wait_count(up, 1, WAIT_MS));
    sleep_ms(200); /* the 429 is in: the call waits to retry */
    lgw_http_loop_post(loop, 0, abort_task, tc);
    assert_true(lgw_test_call_wait(tc, WAIT_MS));
    assert_int_equal(tc->call.res.status, 502);
    assert_string_equal(error_code(tc), "bad_gateway");
    sleep_ms(1000); /* past the retry's time: its timer fires and finds the call over */
    assert_int_equal(lgw_test_call_done_runs(tc), 1);
    assert_int_equal(lgw_upstream_count(up), 1);
    finish(tc);
}

static int setup(void **state)
{
    (void)state;
    return lgw_test_calls_setup(&up, &loop);
}

static int teardown(void **state)
{
    (void)state;
    lgw_test_calls_teardown(up, loop);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_retriable_status_retried_then_succeeds, reset),
        cmocka_unit_test_setup(test_retries_bounded_by_max_retries, reset),
        cmocka_unit_test_setup(test_should_retry_false_stops_a_429, reset),
        cmocka_unit_test_setup(test_should_retry_true_retries_a_400, reset),
        cmocka_unit_test_setup(test_non_retriable_status_not_retried, reset),
        cmocka_unit_test_setup(test_timeout_retried, reset),
        cmocka_unit_test_setup(test_retry_after_seconds_honoured, reset),
        cmocka_unit_test_setup(test_retry_after_ms_honoured_and_wins, reset),
        cmocka_unit_test_setup(test_retry_not_made_past_deadline, reset),
        cmocka_unit_test_setup(test_slow_upstream_past_deadline_is_504, reset),
        cmocka_unit_test_setup(test_stream_not_retried_after_a_chunk, reset),
        cmocka_unit_test_setup(test_stream_cut_before_any_chunk_retried, reset),
        cmocka_unit_test_setup(test_client_left_flag_stops_stream, reset),
        cmocka_unit_test_setup(test_abort_during_transfer_ends_once, reset),
        cmocka_unit_test_setup(test_abort_during_retry_wait_ends_once, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

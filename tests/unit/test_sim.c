/* test_sim.c - the simulated providers (providers/sim.c), run as the worker runs an adapter: on a real transfer
 * loop, through the adapter the registry picks (lgw_provider_serving). The answer is posted to the loop, never
 * slept on the caller's thread; done runs once, on the loop; failures are the provider's overloaded answer;
 * usage is reported so the catalog's price gives a real cost; streams pace their chunks, wait for a full sink
 * and stop at once when the client leaves.
 *
 * Times are only ever checked as lower bounds (a timer never fires early), never as upper ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/cost.h"
#include "common/errors.h"
#include "providers/http_loop.h"
#include "providers/provider.h"
#include "routing/catalog.h"
#include "tests/support/prov_call.h"
#include "tests/support/upstream.h"

struct fixture {
    struct lgw_upstream *up; /* unused: simulated calls make no request */
    struct lgw_http_loop *loop;
    struct lgw_config cfg;
    struct lgw_catalog *cat;
};

static int setup(void **state)
{
    struct fixture *f = lgw_calloc(1, sizeof(*f));
    if (lgw_test_calls_setup(&f->up, &f->loop))
        return -1;
    lgw_config_defaults(&f->cfg); /* no provider key at all */
    f->cfg.simulate = 1;
    f->cfg.simulate_failure_pct = 0;
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    int rc = lgw_catalog_load(&f->cfg, &f->cat, &errs);
    lgw_buf_cleanup(&errs);
    *state = f;
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lgw_catalog_unref(f->cat);
    lgw_test_calls_teardown(f->up, f->loop);
    lgw_config_cleanup(&f->cfg);
    free(f);
    return 0;
}

static const struct lgw_model_info *model(const struct fixture *f, const char *id, enum lgw_job_kind kind)
{
    const struct lgw_model_info *m;
    assert_int_equal(lgw_catalog_resolve(f->cat, id, kind, &m, 1), 1);
    return m;
}

static json_t *chat(const char *model_id, const char *text, bool stream)
{
    json_t *body = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "model", model_id, "messages", "role", "system",
                             "content", "be brief", "role", "user", "content", text);
    if (stream) {
        json_object_set_new(body, "stream", json_true());
        json_object_set_new(body, "stream_options", json_pack("{s:b}", "include_usage", 1));
    }
    return body;
}

/* Text of a chat.completion's first choice, or of a stream's content deltas joined. */
static void answer_text(const struct lgw_test_call *tc, struct lgw_buf *out)
{
    if (tc->call.res.body) {
        json_t *msg = json_object_get(json_array_get(json_object_get(tc->call.res.body, "choices"), 0), "message");
        lgw_buf_puts(out, json_string_value(json_object_get(msg, "content")));
        return;
    }
    size_t i;
    json_t *chunk;
    json_array_foreach(tc->chunks, i, chunk) {
        json_t *c = json_object_get(json_object_get(json_array_get(json_object_get(chunk, "choices"), 0), "delta"),
                                    "content");
        if (json_is_string(c))
            lgw_buf_puts(out, json_string_value(c));
    }
}

static int64_t cost_of(const struct lgw_model_info *m, const struct lgw_usage *u)
{
    int64_t nusd = 0;
    assert_true(m->price.known);
    assert_int_equal(lgw_cost_of_usage(&m->price, u, &nusd), 0);
    return nusd;
}

/* The registry hands OpenAI's model to the simulated adapter (no key); call() only posts: done has not run when
 * it returns, runs once later on the loop thread, no earlier than the profile's fastest first token. */
static void test_posted_not_slept(void **state)
{
    struct fixture *f = *state;
    const struct lgw_model_info *m = model(f, "gpt-4o-mini", LGW_JOB_CHAT);
    assert_ptr_equal(lgw_provider_serving(&f->cfg, m->provider), &lgw_provider_sim);
    const struct lgw_sim_profile *prof = lgw_provider_sim_profile("openai");
    assert_non_null(prof);
    assert_string_equal(prof->name, "openai-sim");
    struct lgw_test_call tc;
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, chat("gpt-4o-mini", "How far is the moon?", false), 10000);
    int64_t t0 = lgw_mono_us();
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_int_equal(lgw_test_call_done_runs(&tc), 0); /* at least ttft - jitter (250 ms) away */
    assert_true(lgw_test_call_wait(&tc, 5000));
    assert_int_equal(lgw_test_call_done_runs(&tc), 1);
    assert_true(tc.done_on_loop);
    assert_true(tc.done_us - t0 >= (int64_t)(prof->ttft_ms - prof->jitter_ms) * 1000);

    struct lgw_prov_result *res = &tc.call.res;
    assert_int_equal(res->status, 200);
    assert_int_equal(res->bill, LGW_BILL_REPORTED);
    assert_int_equal(res->requests, 1);
    assert_string_equal(res->model, "gpt-4o-mini");
    assert_string_equal(json_string_value(json_object_get(res->body, "model")), "gpt-4o-mini");
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    answer_text(&tc, &text);
    assert_string_equal(text.ptr, "[simulated gpt-4o-mini via openai-sim] How far is the moon?");
    lgw_buf_cleanup(&text);
    json_t *usage = json_object_get(res->body, "usage");
    assert_true(res->usage.input_tokens > 0 && res->usage.output_tokens > 0);
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), res->usage.input_tokens);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), res->usage.output_tokens);
    assert_true(cost_of(m, &res->usage) > 0); /* the catalog's price of simulated usage: never a silent $0 */
    lgw_test_call_cleanup(&tc);
}

/* simulate_latency_pct 0: no delay, but still posted, and done still on the loop. */
static void test_no_latency_still_on_loop(void **state)
{
    struct fixture *f = *state;
    f->cfg.simulate_latency_pct = 0;
    const struct lgw_model_info *m = model(f, "claude-haiku-4-5", LGW_JOB_CHAT);
    struct lgw_test_call tc;
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, chat("claude-haiku-4-5", "hi", true), 10000);
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_true(lgw_test_call_wait(&tc, 5000));
    assert_true(tc.done_on_loop);
    assert_int_equal(tc.call.res.status, 200);
    assert_true(json_array_size(tc.chunks) >= 3);
    lgw_test_call_cleanup(&tc);
}

/* A failure percentage of 100: the provider's overloaded answer, 503 and retriable (so dispatch fails over and
 * breakers hear it), its own code, says it is simulated, billed nothing; the others at 0 answer. */
static void test_failure_pct_100(void **state)
{
    struct fixture *f = *state;
    f->cfg.simulate_latency_pct = 10;
    lgw_strlcpy(f->cfg.simulate_fail, "anthropic:100,gemini:0", sizeof(f->cfg.simulate_fail));
    f->cfg.simulate_failure_pct = 100; /* every provider not named */
    static const struct {
        const char *model, *type, *code; /* what the provider's adapter would pass on; NULL: not checked */
        int status;
    } cases[] = {{"claude-haiku-4-5", "service_unavailable", "overloaded_error", 503},
                 {"gpt-4o-mini", "server_error", NULL, 503},
                 {"mistral-small-latest", "service_unavailable", NULL, 503},
                 {"gemini-2.5-flash-lite", NULL, NULL, 200}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lgw_model_info *m = model(f, cases[i].model, LGW_JOB_CHAT);
        for (int stream = 0; stream < 2; stream++) {
            struct lgw_test_call tc;
            lgw_test_call_init(&tc, &f->cfg, m, f->loop, chat(cases[i].model, "hello", stream), 10000);
            assert_int_equal(lgw_test_call_start(&tc), 0);
            assert_true(lgw_test_call_wait(&tc, 5000));
            struct lgw_prov_result *res = &tc.call.res;
            if (res->status != cases[i].status)
                fail_msg("%s: status %d, want %d", cases[i].model, res->status, cases[i].status);
            if (res->status == 503) {
                assert_true(lgw_err_retriable(lgw_err_from_status(res->status)));
                assert_int_equal(res->bill, LGW_BILL_NONE);
                assert_int_equal(json_array_size(tc.chunks), 0); /* nothing streamed before the failure */
                json_t *err = json_object_get(res->body, "error");
                assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "(simulated failure of "));
                assert_non_null(strstr(json_string_value(json_object_get(err, "message")),
                                       lgw_provider_sim_name(m->provider)));
                assert_string_equal(json_string_value(json_object_get(err, "type")), cases[i].type);
                if (cases[i].code)
                    assert_string_equal(json_string_value(json_object_get(err, "code")), cases[i].code);
            }
            lgw_test_call_cleanup(&tc);
        }
    }
}

static int64_t chunk_us[64];
static size_t nchunk_us;

static void stamp(struct lgw_test_call *tc, size_t n)
{
    (void)tc;
    if (n <= 64) {
        chunk_us[n - 1] = lgw_mono_us();
        nchunk_us = n;
    }
}

static int full_checks;

/* Full for its first few looks: the stream must wait (and not drop or reorder anything). */
static bool full_at_first(struct lgw_prov_stream *stream)
{
    (void)stream;
    return full_checks++ < 3;
}

/* A stream: a role chunk, a chunk per word at least chunk_ms apart, the finish chunk and the usage chunk; the
 * first no earlier than the fastest first token; content as the plain answer's; usage reported and priced. */
static void test_stream_paced_chunks(void **state)
{
    struct fixture *f = *state;
    const struct lgw_model_info *m = model(f, "gemini-2.5-flash-lite", LGW_JOB_CHAT);
    const struct lgw_sim_profile *prof = lgw_provider_sim_profile("gemini");
    struct lgw_test_call tc;
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, chat("gemini-2.5-flash-lite", "one two three", true), 10000);
    tc.on_chunk = stamp;
    tc.stream.full = full_at_first;
    full_checks = 0;
    nchunk_us = 0;
    int64_t t0 = lgw_mono_us();
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_true(lgw_test_call_wait(&tc, 5000));
    assert_int_equal(lgw_test_call_done_runs(&tc), 1);
    assert_true(tc.done_on_loop);
    assert_true(full_checks > 3);
    struct lgw_prov_result *res = &tc.call.res;
    assert_int_equal(res->status, 200);
    assert_null(res->body); /* the chunks were the answer */
    assert_int_equal(res->bill, LGW_BILL_REPORTED);
    size_t n = json_array_size(tc.chunks);
    assert_true(n >= 3);
    assert_int_equal(n, nchunk_us);
    assert_true(chunk_us[0] - t0 >= (int64_t)(prof->ttft_ms - prof->jitter_ms) * 1000);
    /* between content chunks: at least the profile's gap (the finish chunk follows the last word at once) */
    for (size_t i = 1; i + 2 < n; i++)
        if (chunk_us[i] - chunk_us[i - 1] < (int64_t)prof->chunk_ms * 1000)
            fail_msg("chunk %zu came %lld us after the previous", i, (long long)(chunk_us[i] - chunk_us[i - 1]));
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    answer_text(&tc, &text);
    assert_string_equal(text.ptr, "[simulated gemini-2.5-flash-lite via gemini-sim] one two three");
    lgw_buf_cleanup(&text);
    json_t *first = json_array_get(tc.chunks, 0), *last = json_array_get(tc.chunks, n - 1);
    assert_string_equal(json_string_value(json_object_get(first, "object")), "chat.completion.chunk");
    assert_string_equal(json_string_value(json_object_get(first, "model")), "gemini-2.5-flash-lite");
    assert_int_equal(json_array_size(json_object_get(last, "choices")), 0);
    json_t *usage = json_object_get(last, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), res->usage.output_tokens);
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), res->usage.input_tokens);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(tc.chunks,
                                                                                                        n - 2),
                                                                                         "choices"),
                                                                         0),
                                                          "finish_reason")),
                        "stop");
    assert_true(cost_of(m, &res->usage) > 0);
    lgw_test_call_cleanup(&tc);
}

/* The client leaves after the second chunk, by the flag (seen at the next step) or by lgw_prov_call_abort from
 * the sink itself: the stream stops there, done runs once, and the call is billed as sent (estimated). */
static bool abort_in_sink;

static void leave_at_two(struct lgw_test_call *tc, size_t n)
{
    if (n != 2)
        return;
    if (abort_in_sink)
        lgw_prov_call_abort(&tc->call); /* the sink runs on the loop: abort's thread */
    else
        atomic_store(&tc->cancelled, true);
}

static void test_cancel_mid_stream(void **state)
{
    struct fixture *f = *state;
    f->cfg.simulate_latency_pct = 10;
    const struct lgw_model_info *m = model(f, "mistral-small-latest", LGW_JOB_CHAT);
    for (int how = 0; how < 2; how++) {
        abort_in_sink = how == 1;
        struct lgw_test_call tc;
        lgw_test_call_init(&tc, &f->cfg, m, f->loop,
                           chat("mistral-small-latest", "a long answer of many words to cut short", true), 10000);
        tc.on_chunk = leave_at_two;
        assert_int_equal(lgw_test_call_start(&tc), 0);
        assert_true(lgw_test_call_wait(&tc, 5000));
        /* nothing more comes, and done never runs again */
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
        assert_int_equal(lgw_test_call_done_runs(&tc), 1);
        assert_int_equal(json_array_size(tc.chunks), 2);
        assert_int_equal(tc.call.res.status, 502);
        assert_int_equal(tc.call.res.bill, LGW_BILL_ESTIMATED);
        assert_null(tc.call.abort); /* the call is over: nothing left to abort */
        lgw_prov_call_abort(&tc.call); /* so a late abort is a no-op */
        lgw_test_call_cleanup(&tc);
    }
}

/* An abort before the first chunk (the cancel posted to the loop while the answer waits): done runs once, with
 * no chunk; the step still queued only frees (ASan sees it freed by the loop's teardown). */
static void abort_task(void *opaque)
{
    lgw_prov_call_abort(opaque);
}

static void test_abort_before_first_chunk(void **state)
{
    struct fixture *f = *state;
    const struct lgw_model_info *m = model(f, "claude-haiku-4-5", LGW_JOB_CHAT);
    struct lgw_test_call tc;
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, chat("claude-haiku-4-5", "hello", true), 10000);
    assert_int_equal(lgw_test_call_start(&tc), 0);
    lgw_http_loop_post(f->loop, 0, abort_task, &tc.call);
    assert_true(lgw_test_call_wait(&tc, 5000));
    struct timespec ts = {0, 800 * 1000000L}; /* past the first token: the queued step must not answer */
    nanosleep(&ts, NULL);
    assert_int_equal(lgw_test_call_done_runs(&tc), 1);
    assert_int_equal(json_array_size(tc.chunks), 0);
    assert_int_equal(tc.call.res.status, 502);
    lgw_test_call_cleanup(&tc);
}

/* Embeddings: echo's deterministic vectors under the simulated provider's name, with usage the catalog prices. */
static void test_embeddings(void **state)
{
    struct fixture *f = *state;
    f->cfg.simulate_latency_pct = 10;
    const struct lgw_model_info *m = model(f, "text-embedding-3-small", LGW_JOB_EMBEDDINGS);
    struct lgw_test_call tc;
    lgw_test_call_init(&tc, &f->cfg, m, f->loop,
                       json_pack("{s:s, s:[s, s], s:i}", "model", "text-embedding-3-small", "input", "first text",
                                 "second", "dimensions", 8),
                       10000);
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_true(lgw_test_call_wait(&tc, 5000));
    struct lgw_prov_result *res = &tc.call.res;
    assert_int_equal(res->status, 200);
    assert_int_equal(res->bill, LGW_BILL_REPORTED);
    json_t *data = json_object_get(res->body, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(data, 1), "embedding")), 8);
    assert_true(res->usage.input_tokens > 0);
    assert_true(cost_of(m, &res->usage) > 0);
    lgw_test_call_cleanup(&tc);
}

/* JSON mode gets a JSON object that says it is simulated; max_tokens cuts the answer ("length"). */
static void test_json_mode_and_max_tokens(void **state)
{
    struct fixture *f = *state;
    f->cfg.simulate_latency_pct = 0;
    const struct lgw_model_info *m = model(f, "gpt-4o-mini", LGW_JOB_CHAT);
    struct lgw_test_call tc;
    json_t *body = chat("gpt-4o-mini", "say \"hi\" in JSON", false);
    json_object_set_new(body, "response_format", json_pack("{s:s}", "type", "json_object"));
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, body, 10000);
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_true(lgw_test_call_wait(&tc, 5000));
    struct lgw_buf text;
    lgw_buf_init(&text, 0);
    answer_text(&tc, &text);
    json_t *o = json_loads(text.ptr, 0, NULL);
    assert_non_null(o);
    assert_true(json_is_true(json_object_get(o, "simulated")));
    assert_string_equal(json_string_value(json_object_get(o, "provider")), "openai-sim");
    assert_string_equal(json_string_value(json_object_get(o, "echo")), "say \"hi\" in JSON");
    json_decref(o);
    lgw_test_call_cleanup(&tc);

    body = chat("gpt-4o-mini", "a few words here", false);
    json_object_set_new(body, "max_tokens", json_integer(3));
    lgw_test_call_init(&tc, &f->cfg, m, f->loop, body, 10000);
    assert_int_equal(lgw_test_call_start(&tc), 0);
    assert_true(lgw_test_call_wait(&tc, 5000));
    lgw_buf_reset(&text);
    answer_text(&tc, &text);
    assert_string_equal(text.ptr, "[simulated g"); /* 3 tokens: 12 bytes */
    json_t *choice = json_array_get(json_object_get(tc.call.res.body, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(choice, "finish_reason")), "length");
    assert_int_equal(tc.call.res.usage.output_tokens, 3);
    lgw_buf_cleanup(&text);
    lgw_test_call_cleanup(&tc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_posted_not_slept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_latency_still_on_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_pct_100, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_paced_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_before_first_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_embeddings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_mode_and_max_tokens, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

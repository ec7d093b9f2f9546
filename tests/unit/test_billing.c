/* test_billing.c - what an execution spent (workers/billing.c): the final answer's usage as the provider
 * counted it or as estimated when it never did, events of their own for the other billed requests, and
 * prices that are never a silent $0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "routing/estimate.h"
#include "workers/billing.h"

/* gpt-4o-mini's price: $0.15 input, $0.60 output, $0.075 cached input per 1M tokens */
static const struct lgw_model_info mini = {.id = "gpt-4o-mini", .provider = "openai", .kind = LGW_JOB_CHAT,
                                           .price = {150000000, 600000000, 75000000, true, 0, 0, 0, 0, 0, 0}};
static const struct lgw_model_info unpriced = {.id = "x", .provider = "compat", .kind = LGW_JOB_CHAT};

static struct lgw_job job_of(const char *text)
{
    struct lgw_job job;
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "req-1");
    strcpy(job.tenant, "acme");
    job.kind = LGW_JOB_CHAT;
    job.body = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "gpt-4o-mini", "messages", "role", "user", "content", text);
    return job;
}

static int64_t input_estimate(const struct lgw_job *job)
{
    struct lgw_route_needs needs;
    lgw_route_needs_of(job->body, job->kind, job->stream, &needs);
    return needs.input_tokens;
}

static void test_reported_usage_is_the_providers(void **state)
{
    (void)state;
    struct lgw_job job = job_of("hello there");
    struct lgw_dispatch d = {.attempts = 1};
    d.res = (struct lgw_prov_result){.status = 200, .bill = LGW_BILL_REPORTED, .usage = {12, 3, 4, 0}};
    struct lgw_usage u;
    bool estimated = true;
    lgw_billing_final_usage(&d, &job, 99, &u, &estimated);
    assert_false(estimated);
    assert_int_equal(u.input_tokens, 12);
    assert_int_equal(u.output_tokens, 3); /* the sink's count does not override the provider's */
    assert_int_equal(u.cached_input_tokens, 4);
    json_decref(job.body);
}

static void test_unreported_usage_is_estimated(void **state)
{
    (void)state;
    struct lgw_job job = job_of("a question of some length, asked once and then abandoned by its client");
    struct lgw_dispatch d = {.attempts = 1};
    d.res = (struct lgw_prov_result){.status = 502, .bill = LGW_BILL_ESTIMATED};
    struct lgw_usage u;
    bool estimated = false;
    lgw_billing_final_usage(&d, &job, 7, &u, &estimated);
    assert_true(estimated);
    assert_int_equal(u.input_tokens, input_estimate(&job));
    assert_true(u.input_tokens > 10);
    assert_int_equal(u.output_tokens, 7); /* what reached the client */
    /* a part the provider did report (Anthropic's input at the start of a stream) is kept */
    d.res.usage.input_tokens = 5000;
    lgw_billing_final_usage(&d, &job, 7, &u, &estimated);
    assert_int_equal(u.input_tokens, 5000);
    /* a whole answer without usage: its text is the output */
    d.res = (struct lgw_prov_result){.status = 200, .bill = LGW_BILL_ESTIMATED};
    d.res.body = json_pack("{s:[{s:{s:s, s:s}}]}", "choices", "message", "role", "assistant", "content",
                           "twelve letters and more words");
    lgw_billing_final_usage(&d, &job, 0, &u, &estimated);
    assert_int_equal(u.output_tokens, lgw_estimate_tokens("twelve letters and more words", 29));
    json_decref(d.res.body);
    json_decref(job.body);
}

static void test_nothing_sent_is_nothing_billed(void **state)
{
    (void)state;
    struct lgw_job job = job_of("hello");
    struct lgw_dispatch d = {.attempts = 1};
    d.res = (struct lgw_prov_result){.status = 400, .bill = LGW_BILL_NONE, .usage = {3, 0, 0, 0}};
    struct lgw_usage u;
    bool estimated = true;
    lgw_billing_final_usage(&d, &job, 5, &u, &estimated);
    assert_false(estimated);
    assert_int_equal(u.input_tokens + u.output_tokens, 0);
    d.attempts = 0; /* no call made at all */
    d.res.bill = LGW_BILL_ESTIMATED;
    lgw_billing_final_usage(&d, &job, 5, &u, &estimated);
    assert_false(estimated);
    assert_int_equal(u.input_tokens, 0);
    json_decref(job.body);
}

static void test_spend_events(void **state)
{
    (void)state;
    struct lgw_job job = job_of("please answer");
    struct lgw_dispatch_spend s = {.model = &mini, .status = 504, .provider_call = 2, .requests = 1};
    struct lgw_cost_event ev;
    memset(&ev, 0, sizeof(ev));
    lgw_billing_spend_event(&s, &job, "0b9f945a-e3c1-4d2b-9a61-6f1d3c2b1a00", &ev);
    assert_string_equal(ev.event_id, "0b9f945a-e3c1-4d2b-9a61-6f1d3c2b1a00.2");
    assert_false(ev.final);
    assert_int_equal(ev.provider_call, 2);
    assert_int_equal(ev.status, 504);
    assert_string_equal(ev.outcome, "error");
    assert_string_equal(ev.provider, "openai");
    assert_string_equal(ev.route, "openai/gpt-4o-mini=504");
    assert_true(ev.cost_estimated && ev.cost_known);
    int64_t in = input_estimate(&job);
    assert_int_equal(ev.usage.input_tokens, in);
    assert_int_equal(ev.cost_nusd, (in * 150000000 + 500000) / 1000000);
    /* an entry standing for three requests (the list was full) is billed three times the input */
    s.requests = 3;
    lgw_billing_spend_event(&s, &job, "run", &ev);
    assert_int_equal(ev.usage.input_tokens, 3 * in);
    /* a reported one keeps the provider's count and is not flagged */
    s = (struct lgw_dispatch_spend){.model = &mini, .status = 500, .provider_call = 1, .requests = 1,
                                    .usage = {1000, 0, 0, 0}, .reported = true};
    lgw_billing_spend_event(&s, &job, "run", &ev);
    assert_false(ev.cost_estimated);
    assert_int_equal(ev.usage.input_tokens, 1000);
    assert_int_equal(ev.cost_nusd, 150000);
    assert_false(ev.simulated);
    /* a simulated provider's request: labelled as it served, priced as the catalog's model */
    s.provider = "openai-sim";
    s.simulated = true;
    lgw_billing_spend_event(&s, &job, "run", &ev);
    assert_string_equal(ev.provider, "openai-sim");
    assert_string_equal(ev.route, "openai-sim/gpt-4o-mini=500");
    assert_true(ev.simulated);
    assert_int_equal(ev.cost_nusd, 150000);
    /* a model without a price: unknown, never a silent $0 that looks real */
    s.model = &unpriced;
    lgw_billing_spend_event(&s, &job, "run", &ev);
    assert_false(ev.cost_known);
    assert_int_equal(ev.cost_nusd, 0);
    json_decref(job.body);
}

static void test_chunk_tokens(void **state)
{
    (void)state;
    json_t *chunk = json_pack("{s:[{s:i, s:{s:s}}, {s:i, s:{s:[{s:i, s:{s:s, s:s}}]}}]}", "choices", "index", 0,
                              "delta", "content", "Hello world", "index", 1, "delta", "tool_calls", "index", 0,
                              "function", "name", "get_weather", "arguments", "{\"city\":\"Paris\"}");
    int64_t want = lgw_estimate_tokens("Hello world", 11) + lgw_estimate_tokens("get_weather", 11) +
                   lgw_estimate_tokens("{\"city\":\"Paris\"}", 16);
    assert_int_equal(lgw_billing_chunk_tokens(chunk), want);
    json_decref(chunk);
    json_t *usage_only = json_pack("{s:[], s:{s:i}}", "choices", "usage", "prompt_tokens", 3);
    assert_int_equal(lgw_billing_chunk_tokens(usage_only), 0);
    json_decref(usage_only);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reported_usage_is_the_providers),
        cmocka_unit_test(test_unreported_usage_is_estimated),
        cmocka_unit_test(test_nothing_sent_is_nothing_billed),
        cmocka_unit_test(test_spend_events),
        cmocka_unit_test(test_chunk_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

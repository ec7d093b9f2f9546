/* test_metrics_instruments.c - what the worker records per provider call and per HTTP attempt: the GenAI
 * histograms' labels, buckets and error_type (workers/genai_metrics.c), and the attempt outcomes
 * (providers/wire_metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/metrics.h"
#include "providers/wire_metrics.h"
#include "workers/genai_metrics.h"

#define LABELS(op, model)                                                                                    \
    "gen_ai_operation_name=\"" op "\",gen_ai_provider_name=\"openai\",gen_ai_request_model=\"gpt-4o-mini\","  \
    "gen_ai_response_model=\"" model "\""

static char *render(struct lgw_metrics *m)
{
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    assert_int_equal(lgw_metrics_render(m, &out), 0);
    return lgw_buf_take(&out, NULL);
}

static void expect_in(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing %s in:\n%s", want, text);
}

/* A successful chat call: its duration, and input and output tokens in the GenAI buckets. */
static void test_genai_chat(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_genai_metrics_declare(m);
    struct lgw_job job = {.kind = LGW_JOB_CHAT};
    struct lgw_prov_result res = {.status = 200, .usage = {.input_tokens = 20, .output_tokens = 3}};
    strcpy(res.model, "gpt-4o-mini-2024-07-18");
    lgw_genai_metrics_call(m, &job, "openai", "gpt-4o-mini", &res, 300000);
    const char *labels = LABELS("chat", "gpt-4o-mini-2024-07-18");
    char in[512], out[512];
    snprintf(in, sizeof(in), "%s,gen_ai_token_type=\"input\"", labels);
    snprintf(out, sizeof(out), "%s,gen_ai_token_type=\"output\"", labels);
    assert_int_equal(lgw_metrics_value(m, "gen_ai_client_operation_duration_seconds", labels), 1);
    assert_int_equal(lgw_metrics_value(m, "gen_ai_client_token_usage", in), 1);
    assert_int_equal(lgw_metrics_value(m, "gen_ai_client_token_usage", out), 1);
    char *text = render(m);
    char want[2048];
    snprintf(want, sizeof(want), "gen_ai_client_token_usage_bucket{%s,le=\"16\"} 0\n"
                                 "gen_ai_client_token_usage_bucket{%s,le=\"64\"} 1\n", in, in);
    expect_in(text, want);
    snprintf(want, sizeof(want), "gen_ai_client_token_usage_bucket{%s,le=\"4\"} 1\n", out);
    expect_in(text, want);
    snprintf(want, sizeof(want), "gen_ai_client_operation_duration_seconds_bucket{%s,le=\"0.16\"} 0\n"
                                 "gen_ai_client_operation_duration_seconds_bucket{%s,le=\"0.32\"} 1\n"
                                 "gen_ai_client_operation_duration_seconds_bucket{%s,le=\"0.64\"} 1\n",
             labels, labels, labels);
    expect_in(text, want);
    expect_in(text, "# TYPE gen_ai_client_token_usage histogram\n");
    free(text);
    lgw_metrics_free(m);
}

/* A failed call: its duration with error_type (its status), no tokens; the request's model stands for the
 * response's. An embedding: input tokens only. */
static void test_genai_failure_and_embeddings(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_genai_metrics_declare(m);
    struct lgw_job chat = {.kind = LGW_JOB_CHAT}, emb = {.kind = LGW_JOB_EMBEDDINGS};
    struct lgw_prov_result failed = {.status = 429, .usage = {.input_tokens = 5}};
    lgw_genai_metrics_call(m, &chat, "openai", "gpt-4o-mini", &failed, 1000);
    assert_int_equal(lgw_metrics_value(m, "gen_ai_client_operation_duration_seconds",
                                       LABELS("chat", "gpt-4o-mini") ",error_type=\"429\""), 1);
    struct lgw_prov_result ok = {.status = 200, .usage = {.input_tokens = 7}};
    strcpy(ok.model, "gpt-4o-mini");
    lgw_genai_metrics_call(m, &emb, "openai", "gpt-4o-mini", &ok, 1000);
    assert_int_equal(lgw_metrics_value(m, "gen_ai_client_token_usage",
                                       LABELS("embeddings", "gpt-4o-mini") ",gen_ai_token_type=\"input\""), 1);
    char *text = render(m);
    if (strstr(text, "gen_ai_token_type=\"output\"") || strstr(text, "error_type=\"429\",gen_ai_token_type"))
        fail_msg("unexpected token series:\n%s", text);
    free(text);
    lgw_metrics_free(m);
}

/* Each attempt's outcome is one of a few words, whatever the status. */
static void test_attempt_outcomes(void **state)
{
    (void)state;
    struct lgw_metrics *m = lgw_metrics_new();
    lgw_provider_metrics_declare(m);
    lgw_wire_metrics_attempt(m, "openai", 200, 0, false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 200, LGW_ERR(PROVIDER), false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 429, 0, false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 404, 0, false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 503, 0, false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 0, LGW_ERR(TIMEOUT), false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 0, LGW_ERR(UNAVAILABLE), false, 1000);
    lgw_wire_metrics_attempt(m, "openai", 200, 0, true, 1000);
    lgw_wire_metrics_attempt(NULL, "openai", 200, 0, false, 1000); /* no registry: nothing */
    static const char *const outcomes[] = {"ok", "error", "rate_limited", "client_error", "server_error",
                                           "timeout", "unreachable", "cancelled"};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        char labels[96];
        snprintf(labels, sizeof(labels), "provider=\"openai\",outcome=\"%s\"", outcomes[i]);
        if (lgw_metrics_value(m, "llmgw_provider_request_duration_seconds", labels) != 1)
            fail_msg("outcome %s: %lld", outcomes[i],
                     (long long)lgw_metrics_value(m, "llmgw_provider_request_duration_seconds", labels));
    }
    lgw_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genai_chat),
        cmocka_unit_test(test_genai_failure_and_embeddings),
        cmocka_unit_test(test_attempt_outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

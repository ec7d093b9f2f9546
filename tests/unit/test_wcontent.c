/* test_wcontent.c - GenAI content on candidate spans (workers/content.c): nothing unless the tracer captures
 * content; the conventions' message shapes (text, tool calls, tool responses, other parts by type only); the
 * 16 KiB cap kept with valid JSON, cut texts marked, oldest messages left out and counted; a stream's text
 * gathered up to the cap. Spans come from a real tracer whose endpoint nobody serves, and are discarded (never
 * exported). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "telemetry/span_int.h"
#include "telemetry/tracer.h"
#include "workers/content.h"

static const char *env_on[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9",
                               "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true", NULL};
static const char *env_off[] = {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", NULL};
static const char **env;

static const char *fake_get(const char *name)
{
    for (size_t i = 0; env[i]; i += 2)
        if (strcmp(env[i], name) == 0)
            return env[i + 1];
    return NULL;
}

struct fx {
    struct lgw_metrics *m;
    struct lgw_tracer *tr;
    struct lgw_span *span;
};

static struct fx *fx_new(bool capture)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct lgw_otel_config *c = malloc(sizeof(*c));
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    env = capture ? env_on : env_off;
    assert_int_equal(lgw_otel_config_load("worker", fake_get, c, &errs), 0);
    f->m = lgw_metrics_new();
    assert_int_equal(lgw_tracer_new(c, "test", f->m, &f->tr), 0);
    f->span = lgw_span_start(f->tr, "chat gpt-4o-mini", LGW_SPAN_CLIENT, NULL, NULL);
    assert_non_null(f->span);
    lgw_buf_cleanup(&errs);
    free(c);
    return f;
}

static void fx_free(struct fx *f)
{
    lgw_span_discard(&f->span);
    lgw_tracer_free(f->tr);
    lgw_metrics_free(f->m);
    free(f);
}

static const struct lgw_attr *attr(const struct lgw_span *s, const char *key)
{
    for (int i = 0; i < s->nattrs; i++)
        if (strcmp(s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    return NULL;
}

/* The attribute's JSON, parsed (the caller decrefs); fails the test when absent or not JSON. */
static json_t *attr_json(const struct lgw_span *s, const char *key)
{
    const struct lgw_attr *a = attr(s, key);
    if (!a)
        fail_msg("no %s", key);
    assert_int_equal(a->type, LGW_ATTR_STR);
    assert_true(a->n <= LGW_WCONTENT_MAX);
    json_error_t err;
    json_t *v = json_loadb(a->s, a->n, 0, &err);
    if (!v)
        fail_msg("%s is not JSON (%s): %.200s", key, err.text, a->s);
    return v;
}

static void job_with(struct lgw_job *job, const char *body)
{
    memset(job, 0, sizeof(*job));
    job->kind = LGW_JOB_CHAT;
    json_error_t err;
    job->body = json_loads(body, 0, &err);
    assert_non_null(job->body);
}

static void expect_json(json_t *got, const char *want)
{
    json_error_t err;
    json_t *w = json_loads(want, 0, &err);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT);
        fail_msg("got %s\nwant %s", g, want);
    }
    json_decref(w);
}

static void test_off_captures_nothing(void **state)
{
    (void)state;
    struct fx *f = fx_new(false);
    struct lgw_job job;
    job_with(&job, "{\"messages\":[{\"role\":\"user\",\"content\":\"secret prompt\"}]}");
    lgw_wcontent_input(f->span, &job);
    json_t *body = json_loads("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"secret answer\"},"
                              "\"finish_reason\":\"stop\"}]}", 0, NULL);
    lgw_wcontent_output(f->span, body, NULL, "");
    assert_int_equal(f->span->nattrs, 0);
    lgw_wcontent_input(NULL, &job); /* an unrecorded span: nothing, no crash */
    lgw_wcontent_output(NULL, body, NULL, "");
    json_decref(body);
    json_decref(job.body);
    fx_free(f);
}

static void test_messages_as_the_conventions_shape_them(void **state)
{
    (void)state;
    struct fx *f = fx_new(true);
    struct lgw_job job;
    job_with(&job,
             "{\"messages\":["
             "{\"role\":\"system\",\"content\":\"You are terse.\"},"
             "{\"role\":\"user\",\"name\":\"ann\",\"content\":[{\"type\":\"text\",\"text\":\"What is this?\"},"
             "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,AAAA\"}}]},"
             "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
             "\"function\":{\"name\":\"lookup\",\"arguments\":\"{\\\"q\\\":\\\"x\\\"}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"a cat\"}]}");
    lgw_wcontent_input(f->span, &job);
    json_t *in = attr_json(f->span, "gen_ai.input.messages");
    expect_json(in, "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"You are terse.\"}]},"
                    "{\"role\":\"user\",\"name\":\"ann\",\"parts\":[{\"type\":\"text\",\"content\":\"What is this?\"},"
                    "{\"type\":\"image_url\"}]},"
                    "{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"lookup\","
                    "\"arguments\":\"{\\\"q\\\":\\\"x\\\"}\"}]},"
                    "{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_call_response\",\"response\":\"a cat\","
                    "\"id\":\"call_1\"}]}]");
    json_decref(in);
    assert_null(attr(f->span, "llmgw.gen_ai.input.messages.truncated"));
    assert_null(strstr(attr(f->span, "gen_ai.input.messages")->s, "base64")); /* an image's data is never copied */

    json_t *body = json_loads("{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Let me "
                              "look.\",\"tool_calls\":[{\"id\":\"call_2\",\"function\":{\"name\":\"lookup\","
                              "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}", 0, NULL);
    lgw_wcontent_output(f->span, body, NULL, "");
    json_t *out = attr_json(f->span, "gen_ai.output.messages");
    expect_json(out, "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"Let me look.\"},"
                     "{\"type\":\"tool_call\",\"id\":\"call_2\",\"name\":\"lookup\",\"arguments\":\"{}\"}],"
                     "\"finish_reason\":\"tool_call\"}]");
    json_decref(out);
    json_decref(body);
    json_decref(job.body);

    /* Embeddings are not a conversation: no input messages. */
    struct fx *g = fx_new(true);
    job_with(&job, "{\"input\":\"embed me\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}");
    job.kind = LGW_JOB_EMBEDDINGS;
    lgw_wcontent_input(g->span, &job);
    assert_int_equal(g->span->nattrs, 0);
    json_decref(job.body);
    fx_free(g);
    fx_free(f);
}

/* Texts past the cap are cut to the longest length that fits, each marked, and the JSON stays whole. */
static void test_long_texts_cut_and_marked(void **state)
{
    (void)state;
    struct fx *f = fx_new(true);
    json_t *body = json_object(), *msgs = json_array();
    char *text = malloc(12001);
    for (int i = 0; i < 3; i++) {
        memset(text, 'a' + i, 12000);
        memcpy(text + 11000, "\xc3\xa9\"\\", 4); /* a character and two escaped ones */
        text[12000] = '\0';
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", i == 1 ? "assistant" : "user", "content", text));
    }
    json_object_set_new(body, "messages", msgs);
    struct lgw_job job = {.kind = LGW_JOB_CHAT, .body = body};
    lgw_wcontent_input(f->span, &job);
    json_t *in = attr_json(f->span, "gen_ai.input.messages");
    assert_int_equal(json_array_size(in), 3); /* nobody left out: cutting was enough */
    size_t longest = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *c = json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(in, i), "parts"), 0), "content"));
        size_t n = strlen(c);
        assert_true(n > 3000); /* a third of the cap each, not a few bytes */
        assert_memory_equal(c + n - 3, "\xe2\x80\xa6", 3); /* marked */
        longest = n > longest ? n : longest;
    }
    assert_true(attr(f->span, "gen_ai.input.messages")->n > LGW_WCONTENT_MAX - 100); /* the longest that fits */
    assert_true(attr(f->span, "llmgw.gen_ai.input.messages.truncated")->v.b);
    assert_null(attr(f->span, "llmgw.gen_ai.input.messages.dropped"));
    json_decref(in);
    json_decref(body);
    free(text);
    fx_free(f);
}

/* So many messages that even empty texts do not fit: the oldest are left out (counted), the newest kept. */
static void test_many_messages_oldest_left_out(void **state)
{
    (void)state;
    struct fx *f = fx_new(true);
    json_t *body = json_object(), *msgs = json_array();
    char text[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(text, sizeof(text), "message %d", i);
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", text));
    }
    json_object_set_new(body, "messages", msgs);
    struct lgw_job job = {.kind = LGW_JOB_CHAT, .body = body};
    lgw_wcontent_input(f->span, &job);
    json_t *in = attr_json(f->span, "gen_ai.input.messages");
    size_t kept = json_array_size(in);
    const struct lgw_attr *dropped = attr(f->span, "llmgw.gen_ai.input.messages.dropped");
    assert_non_null(dropped);
    assert_true(kept > 100 && kept < 3000);
    assert_int_equal(dropped->v.i + (int64_t)kept, 3000);
    json_t *last = json_array_get(json_object_get(json_array_get(in, kept - 1), "parts"), 0);
    assert_string_equal(json_string_value(json_object_get(last, "content")), "message 2999"); /* the newest, whole */
    assert_true(attr(f->span, "llmgw.gen_ai.input.messages.truncated")->v.b);
    json_decref(in);
    json_decref(body);
    fx_free(f);
}

/* A stream's text is gathered from its chunks up to the cap, and the answer says when it was cut. */
static void test_stream_text(void **state)
{
    (void)state;
    struct fx *f = fx_new(true);
    struct lgw_wcontent_stream st;
    lgw_wcontent_stream_init(&st);
    const char *parts[] = {"Hel", "lo ", "wor", "ld"};
    for (size_t i = 0; i < 4; i++) {
        json_t *chunk = json_pack("{s:[{s:{s:s}}]}", "choices", "delta", "content", parts[i]);
        lgw_wcontent_stream_add(&st, chunk);
        json_decref(chunk);
    }
    json_t *role_only = json_pack("{s:[{s:{s:s}}]}", "choices", "delta", "role", "assistant");
    lgw_wcontent_stream_add(&st, role_only); /* no content: nothing */
    json_decref(role_only);
    lgw_wcontent_output(f->span, NULL, &st, "stop");
    json_t *out = attr_json(f->span, "gen_ai.output.messages");
    expect_json(out, "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"Hello world\"}],"
                     "\"finish_reason\":\"stop\"}]");
    json_decref(out);
    assert_null(attr(f->span, "llmgw.gen_ai.output.messages.truncated"));

    /* Past the cap: what fits is kept (on a character boundary), the rest left out and the answer marked. */
    char *big = malloc(LGW_WCONTENT_MAX + 1);
    memset(big, 'x', LGW_WCONTENT_MAX);
    memcpy(big + LGW_WCONTENT_MAX - 20 - 2, "\xc3\xa9", 2); /* a character just before the end */
    big[LGW_WCONTENT_MAX - 20] = '\0';
    json_t *chunk = json_pack("{s:[{s:{s:s}}]}", "choices", "delta", "content", big);
    assert_non_null(chunk);
    lgw_wcontent_stream_add(&st, chunk);
    assert_false(st.cut);
    lgw_wcontent_stream_add(&st, chunk);
    assert_true(st.cut);
    assert_true(st.text.len <= LGW_WCONTENT_MAX);
    json_decref(chunk);
    free(big);
    lgw_wcontent_output(f->span, NULL, &st, "length");
    out = attr_json(f->span, "gen_ai.output.messages");
    json_decref(out);
    assert_true(attr(f->span, "llmgw.gen_ai.output.messages.truncated")->v.b);
    lgw_wcontent_stream_cleanup(&st);
    lgw_wcontent_stream_add(NULL, NULL); /* no stream gathered: a no-op */
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_captures_nothing),
        cmocka_unit_test(test_messages_as_the_conventions_shape_them),
        cmocka_unit_test(test_long_texts_cut_and_marked),
        cmocka_unit_test(test_many_messages_oldest_left_out),
        cmocka_unit_test(test_stream_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

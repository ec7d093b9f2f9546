/* prov_call.c - a provider call run to its end, for tests (see prov_call.h). */
#include "tests/support/prov_call.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "providers/http_loop.h"
#include "tests/support/upstream.h"

void lgw_test_config(struct lgw_config *cfg, const char *base)
{
    lgw_config_defaults(cfg);
    snprintf(cfg->openai_base_url, sizeof(cfg->openai_base_url), "%s/v1", base);
    snprintf(cfg->anthropic_base_url, sizeof(cfg->anthropic_base_url), "%s/v1", base);
    snprintf(cfg->gemini_base_url, sizeof(cfg->gemini_base_url), "%s/v1beta", base);
    snprintf(cfg->mistral_base_url, sizeof(cfg->mistral_base_url), "%s/v1", base);
    snprintf(cfg->compat_base_url, sizeof(cfg->compat_base_url), "%s/v1", base);
    lgw_strlcpy(cfg->openai_api_key, LGW_TEST_OPENAI_KEY, sizeof(cfg->openai_api_key));
    lgw_strlcpy(cfg->anthropic_api_key, LGW_TEST_ANTHROPIC_KEY, sizeof(cfg->anthropic_api_key));
    lgw_strlcpy(cfg->gemini_api_key, LGW_TEST_GEMINI_KEY, sizeof(cfg->gemini_api_key));
    lgw_strlcpy(cfg->mistral_api_key, LGW_TEST_MISTRAL_KEY, sizeof(cfg->mistral_api_key));
    lgw_strlcpy(cfg->compat_api_key, LGW_TEST_COMPAT_KEY, sizeof(cfg->compat_api_key));
    lgw_strlcpy(cfg->compat_models, "compat-model=upstream-model,embeddings:compat-embed=upstream-embed",
                sizeof(cfg->compat_models));
    cfg->provider_max_retries = 0; /* a test that wants retries asks for them */
}

/* The sink (loop thread): keeps a copy of every chunk, as the worker's sink would send it on. */
static int keep_chunk(struct lgw_prov_stream *stream, json_t *chunk)
{
    struct lgw_test_call *tc = stream->opaque;
    json_array_append_new(tc->chunks, json_deep_copy(chunk));
    stream->emitted++;
    if (!stream->first_emit_us)
        stream->first_emit_us = lgw_mono_us();
    if (tc->on_chunk)
        tc->on_chunk(tc, json_array_size(tc->chunks));
    return 0;
}

static void call_done(struct lgw_prov_call *call)
{
    struct lgw_test_call *tc = call->opaque;
    pthread_mutex_lock(&tc->lock);
    if (tc->done_runs++ == 0) {
        tc->done_us = lgw_mono_us();
        tc->done_on_loop = call->loop && lgw_http_loop_on_thread(call->loop);
    }
    pthread_cond_broadcast(&tc->cond);
    pthread_mutex_unlock(&tc->lock);
}

void lgw_test_call_init(struct lgw_test_call *tc, const struct lgw_config *cfg, const struct lgw_model_info *model,
                        struct lgw_http_loop *loop, json_t *body, int64_t deadline_ms)
{
    memset(tc, 0, sizeof(*tc));
    pthread_mutex_init(&tc->lock, NULL);
    pthread_cond_init(&tc->cond, NULL);
    atomic_init(&tc->cancelled, false);
    tc->chunks = json_array();
    lgw_strlcpy(tc->job.id, LGW_TEST_JOB_ID, sizeof(tc->job.id));
    lgw_strlcpy(tc->job.tenant, "tenant1", sizeof(tc->job.tenant));
    tc->job.kind = model->kind;
    tc->job.body = body;
    tc->job.stream = json_is_true(json_object_get(body, "stream"));
    tc->job.created_ms = lgw_wall_ms();
    tc->job.deadline_ms = tc->job.created_ms + deadline_ms;
    /* As the worker does: only a chat job streams, and the client's stream_options decide the usage chunk. */
    bool streamed = tc->job.stream && model->kind == LGW_JOB_CHAT;
    tc->stream.emit = keep_chunk;
    tc->stream.opaque = tc;
    tc->stream.include_usage =
        json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
    tc->call = (struct lgw_prov_call){.cfg = cfg, .model = model, .job = &tc->job,
                                     .stream = streamed ? &tc->stream : NULL, .cancelled = &tc->cancelled,
                                     .loop = loop, .done = call_done, .opaque = tc};
}

int lgw_test_call_start(struct lgw_test_call *tc)
{
    const struct lgw_provider *prov = lgw_provider_serving(tc->call.cfg, tc->call.model->provider);
    return prov ? prov->call(prov, &tc->call) : -1;
}

bool lgw_test_call_wait(struct lgw_test_call *tc, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&tc->lock);
    int rc = 0;
    while (tc->done_runs == 0 && rc == 0)
        rc = pthread_cond_timedwait(&tc->cond, &tc->lock, &until);
    bool done = tc->done_runs > 0;
    pthread_mutex_unlock(&tc->lock);
    return done;
}

int lgw_test_call_done_runs(struct lgw_test_call *tc)
{
    pthread_mutex_lock(&tc->lock);
    int n = tc->done_runs;
    pthread_mutex_unlock(&tc->lock);
    return n;
}

void lgw_test_call_cleanup(struct lgw_test_call *tc)
{
    lgw_prov_result_cleanup(&tc->call.res);
    json_decref(tc->chunks);
    json_decref(tc->job.body);
    tc->chunks = tc->job.body = NULL;
    pthread_mutex_destroy(&tc->lock);
    pthread_cond_destroy(&tc->cond);
}

int lgw_test_calls_setup(struct lgw_upstream **up, struct lgw_http_loop **loop)
{
    lgw_log_set_level(LGW_LOG_ERROR);
    if (lgw_http_global_init())
        return -1;
    *up = lgw_upstream_new();
    struct lgw_http_loop_opts opts = {.max_host_connections = 8, .max_connections = 16, .max_idle_connections = 8};
    if (!*up || lgw_http_loop_new(&opts, loop)) {
        lgw_upstream_free(*up);
        *up = NULL;
        return -1;
    }
    return 0;
}

void lgw_test_calls_teardown(struct lgw_upstream *up, struct lgw_http_loop *loop)
{
    lgw_http_loop_free(loop);
    lgw_upstream_free(up);
}

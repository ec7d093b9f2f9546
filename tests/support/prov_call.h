/* prov_call.h - one provider call run the way the worker runs it, for tests: a real adapter
 * (lgw_provider_by_name(name)->call) on a real transfer loop, a stream sink that keeps every chunk, and a
 * wait for done. Plus a configuration that points every provider at a test server. Test-only code. */
#ifndef LGW_TEST_PROV_CALL_H
#define LGW_TEST_PROV_CALL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/config.h"
#include "providers/provider.h"

/* The fake keys lgw_test_config sets, so cases can say which header carries which. */
#define LGW_TEST_OPENAI_KEY "sk-test-openai"
#define LGW_TEST_ANTHROPIC_KEY "sk-ant-test"
#define LGW_TEST_GEMINI_KEY "test-gemini-key"
#define LGW_TEST_MISTRAL_KEY "test-mistral-key"
#define LGW_TEST_COMPAT_KEY "test-compat-key"
/* The job id of every test call (Gemini's answers carry it: "chatcmpl-<job id>"). */
#define LGW_TEST_JOB_ID "job1"

struct lgw_test_call {
    struct lgw_prov_call call;
    struct lgw_prov_stream stream;
    struct lgw_job job;
    json_t *chunks;           /* copies of the chunks the sink accepted, in order */
    atomic_bool cancelled;    /* call.cancelled points here */
    /* Runs on the loop thread after each accepted chunk (n: how many so far); NULL: nothing. */
    void (*on_chunk)(struct lgw_test_call *tc, size_t n);
    void *opaque;             /* the test's */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done_runs;            /* under lock: how many times done ran (the contract: once) */
    int64_t done_us;          /* under lock: monotonic time of the first */
    bool done_on_loop;        /* under lock: the first ran on the call's loop thread (as provider.h requires) */
};

/* Defaults, with every provider's base URL at base (the real paths after it: "<base>/v1" for OpenAI,
 * Anthropic, Mistral and the compatible server, "<base>/v1beta" for Gemini), the LGW_TEST_* keys, the
 * compatible server's models "compat-model" (upstream "upstream-model") and "compat-embed" (embeddings,
 * upstream "upstream-embed") as text (lgw_config_parse_compat_models reads it), and no retries. */
void lgw_test_config(struct lgw_config *cfg, const char *base);

/* Prepares a call of model with body (taken) as the client's request: a chat job streams when body says
 * "stream": true (the sink then collects chunks, include_usage as stream_options says), deadline_ms from
 * now. The call runs on loop. */
void lgw_test_call_init(struct lgw_test_call *tc, const struct lgw_config *cfg, const struct lgw_model_info *model,
                        struct lgw_http_loop *loop, json_t *body, int64_t deadline_ms);
/* Starts the call with the adapter that serves model->provider under the call's configuration (its own, or
 * the simulated one: lgw_provider_serving); returns what call() returned. */
int lgw_test_call_start(struct lgw_test_call *tc);
/* Waits up to timeout_ms for done; true when it ran. */
bool lgw_test_call_wait(struct lgw_test_call *tc, int timeout_ms);
/* How many times done has run so far. */
int lgw_test_call_done_runs(struct lgw_test_call *tc);
/* Frees the result, the chunks and the job's body. */
void lgw_test_call_cleanup(struct lgw_test_call *tc);

struct lgw_upstream;
/* A test program's scripted upstream and transfer loop (logs at error level only: failed attempts and cut
 * streams are what such tests are about). Returns 0 or -1. */
int lgw_test_calls_setup(struct lgw_upstream **up, struct lgw_http_loop **loop);
void lgw_test_calls_teardown(struct lgw_upstream *up, struct lgw_http_loop *loop);

#endif

/* test_dispatch.c - a job along its route plan (workers/dispatch.c) with real adapters on a real transfer
 * loop: two local OpenAI-wire servers (the openai and mistral adapters) and echo as the last candidate.
 * Failover follows the error table's retry predicate, client errors end the route, breakers skip, the
 * attempt cap and the deadline hold, a stream that reached the client never fails over, and done runs
 * exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/errors.h"
#include "providers/http_loop.h"
#include "routing/health.h"
#include "routing/router.h"
#include "workers/dispatch.h"

/* ---- an OpenAI-wire upstream answering a set status (and the matching body) to every call */

struct upstream {
    struct MHD_Daemon *d;
    int port;
    atomic_int status;  /* what the next calls get */
    atomic_bool stream_cut; /* 200 as SSE: one chunk, then the end of the body without [DONE] */
    const char *error_code; /* the error body's code */
    atomic_int calls;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    struct upstream *u = cls;
    if (!*con_cls) {
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&u->calls, 1);
    int status = atomic_load(&u->status);
    char body[512];
    const char *ctype = "application/json";
    if (status == 200 && atomic_load(&u->stream_cut)) {
        snprintf(body, sizeof(body),
                 "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
                 "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part\"},\"finish_reason\":null}]}\n\n");
        ctype = "text/event-stream";
    } else if (status == 200) {
        snprintf(body, sizeof(body),
                 "{\"id\":\"c1\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
                 "\"message\":{\"role\":\"assistant\",\"content\":\"up\"},\"finish_reason\":\"stop\"}],"
                 "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}");
    } else {
        snprintf(body, sizeof(body), "{\"error\":{\"message\":\"status %d\",\"type\":\"x\",\"param\":null,\"code\":\"%s\"}}",
                 status, u->error_code ? u->error_code : "x");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, "content-type", ctype);
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static void upstream_start(struct upstream *u)
{
    atomic_init(&u->status, 200);
    u->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, u,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    assert_non_null(u->d);
    u->port = MHD_get_daemon_info(u->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

/* ---- fixture: config, router (health table), loop, the three candidates */

struct fx {
    struct lgw_config cfg;
    struct lgw_router *router;
    struct lgw_http_loop *loop;
    struct upstream a, b; /* openai, mistral */
    struct lgw_model_info ma, mb, echo;
    struct lgw_job job;
    struct lgw_route_plan plan;
    struct lgw_dispatch d;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int dones, runs;
};

static int setup(void **state)
{
    struct fx *f = lgw_calloc(1, sizeof(*f));
    lgw_config_defaults(&f->cfg);
    upstream_start(&f->a);
    upstream_start(&f->b);
    snprintf(f->cfg.openai_base_url, sizeof(f->cfg.openai_base_url), "http://127.0.0.1:%d/v1", f->a.port);
    snprintf(f->cfg.mistral_base_url, sizeof(f->cfg.mistral_base_url), "http://127.0.0.1:%d/v1", f->b.port);
    strcpy(f->cfg.openai_api_key, "sk-a");
    strcpy(f->cfg.mistral_api_key, "sk-b");
    f->cfg.provider_max_retries = 0; /* one call per candidate: the wire layer's retries are test_wire's */
    f->cfg.breaker_failures = 2;
    f->cfg.breaker_cooldown_ms = 60000;
    f->router = lgw_router_new(&f->cfg, NULL);
    struct lgw_http_loop_opts opts = {0, 0, 8};
    assert_int_equal(lgw_http_loop_new(&opts, &f->loop), 0);
    f->ma = (struct lgw_model_info){.id = "m-a", .provider = "openai", .kind = LGW_JOB_CHAT};
    f->mb = (struct lgw_model_info){.id = "m-b", .provider = "mistral", .kind = LGW_JOB_CHAT};
    f->echo = (struct lgw_model_info){.id = "echo", .provider = "echo", .kind = LGW_JOB_CHAT};
    strcpy(f->job.id, "job-1");
    strcpy(f->job.tenant, "acme");
    f->job.kind = LGW_JOB_CHAT;
    f->job.deadline_ms = lgw_wall_ms() + 20000;
    f->job.body = json_pack("{s:s, s:[{s:s, s:s}]}", "model", "m-a", "messages", "role", "user", "content", "hi");
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lgw_http_loop_free(f->loop); /* runs whatever the loop still held: a late second done would count now */
    assert_int_equal(f->dones, f->runs); /* done ran exactly once per dispatch */
    lgw_router_free(f->router);
    MHD_stop_daemon(f->a.d);
    MHD_stop_daemon(f->b.d);
    lgw_prov_result_cleanup(&f->d.res);
    json_decref(f->job.body);
    lgw_config_cleanup(&f->cfg);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->cond);
    free(f);
    return 0;
}

static void on_done(struct lgw_dispatch *d)
{
    struct fx *f = d->opaque;
    pthread_mutex_lock(&f->lock);
    f->dones++;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

/* Runs one dispatch along the candidates given, and waits for its end. */
static struct lgw_dispatch *run(struct fx *f, struct lgw_prov_stream *stream, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    f->plan = (struct lgw_route_plan){.n = (size_t)n};
    for (int i = 0; i < n; i++)
        f->plan.chain[i] = va_arg(ap, const struct lgw_model_info *);
    va_end(ap);
    lgw_prov_result_cleanup(&f->d.res);
    f->d = (struct lgw_dispatch){.stream = stream, .router = f->router, .cfg = &f->cfg, .plan = &f->plan,
                                 .job = &f->job, .loop = f->loop, .done = on_done, .opaque = f};
    pthread_mutex_lock(&f->lock);
    int before = f->dones;
    f->runs++;
    pthread_mutex_unlock(&f->lock);
    lgw_dispatch_start(&f->d);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 15;
    pthread_mutex_lock(&f->lock);
    while (f->dones == before)
        if (pthread_cond_timedwait(&f->cond, &f->lock, &until) != 0)
            break;
    int got = f->dones - before;
    pthread_mutex_unlock(&f->lock);
    assert_int_equal(got, 1);
    return &f->d;
}

static void test_retriable_answers_fail_over(void **state)
{
    struct fx *f = *state;
    static const int statuses[] = {408, 409, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        atomic_store(&f->a.status, statuses[i]);
        atomic_store(&f->b.status, 200);
        struct lgw_dispatch *d = run(f, NULL, 2, &f->ma, &f->mb);
        assert_int_equal(d->res.status, 200);
        assert_int_equal(d->attempts, 2);
        assert_ptr_equal(d->current, &f->mb);
        char want[128];
        snprintf(want, sizeof(want), "openai/m-a=%d,mistral/m-b=200", statuses[i]);
        assert_string_equal(d->route, want);
        /* the failures feed m-a's breaker: reset it by a success before the next status */
        atomic_store(&f->a.status, 200);
        run(f, NULL, 1, &f->ma);
    }
}

static void test_quota_fails_over_to_another_account(void **state)
{
    struct fx *f = *state;
    /* 429 insufficient_quota is not retried on the same account (x-should-retry: false, see test_wire) but
     * another provider's account may have credit: the status rule says retriable, so the route goes on */
    atomic_store(&f->a.status, 429);
    f->a.error_code = "insufficient_quota";
    struct lgw_dispatch *d = run(f, NULL, 2, &f->ma, &f->echo);
    assert_int_equal(d->res.status, 200);
    assert_string_equal(d->route, "openai/m-a=429,echo/echo=200");
}

static void test_client_errors_end_the_route(void **state)
{
    struct fx *f = *state;
    static const int statuses[] = {400, 401, 403, 404, 413, 422};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        atomic_store(&f->a.status, statuses[i]);
        int b_calls = atomic_load(&f->b.calls);
        struct lgw_dispatch *d = run(f, NULL, 2, &f->ma, &f->mb);
        assert_int_equal(d->res.status, statuses[i]);
        assert_int_equal(d->attempts, 1);
        assert_int_equal(atomic_load(&f->b.calls), b_calls); /* it would fail anywhere */
        char want[32];
        snprintf(want, sizeof(want), "status %d", statuses[i]); /* the provider's own error, passed on */
        assert_string_equal(json_string_value(json_object_get(json_object_get(d->res.body, "error"), "message")),
                            want);
    }
}

static void test_breaker_skips_and_no_healthy_provider(void **state)
{
    struct fx *f = *state;
    atomic_store(&f->a.status, 503);
    run(f, NULL, 2, &f->ma, &f->echo);
    run(f, NULL, 2, &f->ma, &f->echo); /* the second consecutive failure opens m-a's breaker */
    int calls = atomic_load(&f->a.calls);
    struct lgw_dispatch *d = run(f, NULL, 2, &f->ma, &f->echo);
    assert_int_equal(atomic_load(&f->a.calls), calls); /* skipped without a call */
    assert_int_equal(d->attempts, 1);
    assert_int_equal(d->skipped, 1);
    assert_string_equal(d->route, "echo/echo=200");
    assert_int_equal(d->retry_after_ms, 0); /* answered: no advice */
    d = run(f, NULL, 1, &f->ma);
    assert_int_equal(d->attempts, 0);
    assert_int_equal(d->res.status, 503);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d->res.body, "error"), "code")),
                        "provider_unavailable");
    /* no call made: the route names the skipped candidate, and the answer says when its cooldown ends */
    assert_string_equal(d->route, "openai/m-a=open");
    assert_true(d->retry_after_ms > 0 && d->retry_after_ms <= f->cfg.breaker_cooldown_ms);
    assert_true(d->retry_after_ms > f->cfg.breaker_cooldown_ms - 10000); /* it opened moments ago */
}

static void test_attempt_cap(void **state)
{
    struct fx *f = *state;
    f->cfg.route_max_attempts = 2;
    f->cfg.breaker_failures = 100;
    atomic_store(&f->a.status, 500);
    atomic_store(&f->b.status, 500);
    struct lgw_dispatch *d = run(f, NULL, 3, &f->ma, &f->mb, &f->echo);
    assert_int_equal(d->attempts, 2);
    assert_int_equal(d->res.status, 500); /* the last call's answer */
    assert_string_equal(d->route, "openai/m-a=500,mistral/m-b=500");
}

static void test_deadline_passed_before_any_call(void **state)
{
    struct fx *f = *state;
    f->job.deadline_ms = lgw_wall_ms() - 1;
    int calls = atomic_load(&f->a.calls);
    struct lgw_dispatch *d = run(f, NULL, 2, &f->ma, &f->echo);
    assert_int_equal(d->attempts, 0);
    assert_int_equal(d->res.status, 504);
    assert_int_equal(atomic_load(&f->a.calls), calls);
}

/* A stream sink that takes every chunk. */
static int emit(struct lgw_prov_stream *s, json_t *chunk)
{
    (void)chunk;
    s->emitted++;
    return 0;
}

static void test_stream_that_reached_the_client_never_fails_over(void **state)
{
    struct fx *f = *state;
    atomic_store(&f->a.status, 200);
    atomic_store(&f->a.stream_cut, true); /* one chunk, then the stream ends without [DONE] */
    json_object_set_new(f->job.body, "stream", json_true());
    f->job.stream = true;
    struct lgw_prov_stream sink = {.emit = emit};
    int b_calls = atomic_load(&f->b.calls);
    struct lgw_dispatch *d = run(f, &sink, 2, &f->ma, &f->mb);
    assert_int_equal(sink.emitted, 1);
    assert_int_equal(d->res.status, 502); /* cut short: a bad gateway, told inside the stream */
    assert_int_equal(d->attempts, 1);
    assert_int_equal(atomic_load(&f->b.calls), b_calls);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_retriable_answers_fail_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota_fails_over_to_another_account, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_errors_end_the_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_breaker_skips_and_no_healthy_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attempt_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passed_before_any_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_that_reached_the_client_never_fails_over, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

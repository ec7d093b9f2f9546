/* limits_bench.c - the rate limiter's added latency: lgw_limits_admit (the one Redis script a request waits
 * for at admission) timed call by call, p50/p99/max, with Redis (a URL, loopback for the figure in
 * docs/PERFORMANCE.md) and in memory. lgw_limits_finish runs once the answer is ready, so it is timed apart.
 *
 * Usage: bench_limits redis://127.0.0.1:6379 [requests] [threads] [window_ms] [user_limits]
 * window_ms (60,000 by default) short enough for the run to outlast it measures the steady state, where each
 * request's admission also drops the entries that left the window. user_limits 0 leaves the user's two limits
 * out (the tenant's three only, as bench/peers.py configures llmgw).
 * Limits: tenant rpm, tpm and in-flight plus user rpm and tpm (three sets per request in Redis: the tenant's
 * log, its in-flight set and the user's log), high enough never to refuse; one tenant, 100 users. With Redis
 * it also prints what Redis itself counted over the run (its statistics are reset first, so use a Redis of
 * the bench's own): the scripts' time per call and per request, the commands they ran per request, and
 * Redis's CPU per request, which on loopback is what the scripts cost the machine apart from the client. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/redis.h"
#include "limits/limits.h"

struct run {
    struct lgw_limits *l;
    int n, thread;
    int64_t *admit_ns, *finish_ns;
    char tenant[32];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    for (int i = 0; i < r->n; i++) {
        char id[48], user[16], msg[256];
        snprintf(id, sizeof(id), "bench-%d-%d-%" PRId64, r->thread, i, now_ns());
        snprintf(user, sizeof(user), "u%d", i % 100);
        struct lgw_limits_request rq = {.id = id, .tenant = r->tenant, .user = user, .model = "m",
                                        .tokens = 300, .hold_ms = 60000};
        struct lgw_limits_ticket t;
        struct lgw_limits_state st;
        int64_t t0 = now_ns();
        int rc = lgw_limits_admit(r->l, &rq, &t, &st, msg, sizeof(msg));
        int64_t t1 = now_ns();
        lgw_limits_finish(r->l, &t, 250);
        int64_t t2 = now_ns();
        if (rc) {
            fprintf(stderr, "refused: %s\n", msg);
            exit(1);
        }
        r->admit_ns[i] = t1 - t0;
        r->finish_ns[i] = t2 - t1;
    }
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    printf("%-22s n=%d p50=%.3f ms p99=%.3f ms p99.9=%.3f ms max=%.3f ms\n", what, n, v[n / 2] / 1e6,
           v[(int)(n * 0.99)] / 1e6, v[(int)(n * 0.999)] / 1e6, v[n - 1] / 1e6);
}

/* A number in INFO's text: on the first line holding line_start (as "cmdstat_evalsha:" or
 * "used_cpu_sys:"), the one right after key (as "calls=", or line_start itself), or -1 when Redis does not
 * say. */
static double info_field(const char *text, const char *line_start, const char *key)
{
    const char *line = strstr(text, line_start);
    if (!line)
        return -1;
    const char *end = strchr(line, '\n');
    const char *at = strstr(line, key);
    if (!at || (end && at > end))
        return -1;
    return strtod(at + strlen(key), NULL);
}

/* INFO <section> as text (the caller frees it), or NULL. */
static char *info(struct lgw_redis *redis, const char *section)
{
    const char *argv[] = {"INFO", section};
    struct redisReply *rep;
    if (lgw_redis_command(redis, 2, argv, NULL, &rep) || !rep || rep->type != REDIS_REPLY_STRING) {
        if (rep)
            freeReplyObject(rep);
        return NULL;
    }
    char *text = strdup(rep->str);
    freeReplyObject(rep);
    return text;
}

static double redis_cpu_s(struct lgw_redis *redis)
{
    char *text = info(redis, "cpu");
    double cpu = text ? info_field(text, "used_cpu_sys:", "used_cpu_sys:") +
                            info_field(text, "used_cpu_user:", "used_cpu_user:")
                      : -1;
    free(text);
    return cpu;
}

/* What Redis counted over a run of n requests (INFO commandstats since CONFIG RESETSTAT). */
static void report_server(struct lgw_redis *redis, int n, double cpu_s)
{
    char *text = info(redis, "commandstats");
    if (!text) {
        printf("  (Redis gave no statistics)\n");
        return;
    }
    double calls = info_field(text, "cmdstat_evalsha:", "calls="), usec = info_field(text, "cmdstat_evalsha:", "usec=");
    /* Every command a script ran is counted too: all calls but EVALSHA, INFO and the reset are the scripts'. */
    double all = 0;
    for (const char *p = strstr(text, "cmdstat_"); p; p = strstr(p + 1, "cmdstat_"))
        all += info_field(p, "cmdstat_", "calls=");
    double inner = all - calls - info_field(text, "cmdstat_info:", "calls=") -
                   fmax(0, info_field(text, "cmdstat_config|resetstat:", "calls="));
    if (calls > 0)
        printf("  Redis: scripts %.1f us per call, %.1f us per request; %.1f commands per request inside them; "
               "Redis CPU %.1f us per request\n",
               usec / calls, usec / n, inner / n, cpu_s * 1e6 / n);
    free(text);
}

static void bench(const char *label, struct lgw_config *cfg, struct lgw_redis *redis, int n, int threads)
{
    struct lgw_buf errs;
    lgw_buf_init(&errs, 0);
    struct lgw_limits *l;
    if (lgw_limits_new(cfg, redis, NULL, &l, &errs)) {
        fprintf(stderr, "%s\n", errs.ptr);
        exit(1);
    }
    lgw_buf_cleanup(&errs);
    int per = n / threads;
    struct run *runs = calloc((size_t)threads, sizeof(*runs));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    int64_t *admit = calloc((size_t)per * (size_t)threads, sizeof(int64_t));
    int64_t *finish = calloc((size_t)per * (size_t)threads, sizeof(int64_t));
    double cpu0 = 0;
    if (redis) {
        const char *reset[] = {"CONFIG", "RESETSTAT"};
        struct redisReply *rep;
        if (lgw_redis_command(redis, 2, reset, NULL, &rep) == 0 && rep)
            freeReplyObject(rep);
        cpu0 = redis_cpu_s(redis);
    }
    for (int i = 0; i < threads; i++) {
        runs[i] = (struct run){l, per, i, admit + (size_t)i * (size_t)per, finish + (size_t)i * (size_t)per, ""};
        snprintf(runs[i].tenant, sizeof(runs[i].tenant), "bench%d", (int)getpid());
        pthread_create(&tids[i], NULL, worker, &runs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    char what[64];
    snprintf(what, sizeof(what), "%s admit", label);
    report(what, admit, per * threads);
    snprintf(what, sizeof(what), "%s finish", label);
    report(what, finish, per * threads);
    if (redis)
        report_server(redis, per * threads, redis_cpu_s(redis) - cpu0);
    if (redis && lgw_limits_is_local(l))
        printf("  (some requests fell back to memory: Redis was over its budget)\n");
    lgw_limits_free(l);
    free(runs);
    free(tids);
    free(admit);
    free(finish);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_limits redis://host:port [requests] [threads] [window_ms] [user_limits]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    int64_t window_ms = argc > 4 ? atoll(argv[4]) : 60000;
    bool user_limits = argc > 5 ? atoi(argv[5]) != 0 : true;
    lgw_log_set_level(LGW_LOG_WARN);
    struct lgw_config cfg;
    lgw_config_defaults(&cfg);
    cfg.limit_tenant_rpm = 100000000;
    cfg.limit_tenant_tpm = 100000000000;
    cfg.limit_tenant_inflight = 1000000;
    cfg.limit_user_rpm = user_limits ? 100000000 : 0;
    cfg.limit_user_tpm = user_limits ? 100000000000 : 0;
    cfg.limit_window_ms = window_ms;
    lgw_strlcpy(cfg.topic_prefix, "bench", sizeof(cfg.topic_prefix));
    struct lgw_redis *redis;
    struct lgw_redis_options opt = {.url = argv[1], .timeout_ms = 1000, .connect_timeout_ms = 1000,
                                    .pool = threads};
    if (lgw_redis_new(&opt, &redis) || !lgw_redis_healthy(redis)) {
        fprintf(stderr, "cannot reach %s\n", argv[1]);
        return 1;
    }
    bench("memory", &cfg, NULL, n, threads);
    bench("redis", &cfg, redis, n, threads);
    lgw_redis_free(redis);
    return 0;
}

/* span_cost.c - what one span costs in isolation: building a span with the 17 attributes of a job's consumer
 * span (a string copy each, as lgw_span_set_* make them) and encoding them in batches of 512 as an OTLP
 * protobuf request, the exporter's batch size. Prints ns per span and bytes per span: the median over 400
 * rounds of one batch each, in this thread's CPU time, so that on a machine shared with other work the
 * figure moves with what a span costs, not with the CPU the other work takes (the mean in wall-clock time,
 * what this printed before 2026-12-03 08:30 UTC, rose two- to fourfold under a load average of 15).
 * Usage: bench_span_cost (no arguments). Not a test: nothing asserts a timing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_clock.h"
#include "common/buf.h"
#include "telemetry/otlp.h"
#include "telemetry/span.h"
#include "telemetry/span_int.h"

#define ROUNDS 400
#define BATCH 512

/* A span as the worker's job consumer span is, without a tracer (so the test frees it with free()). */
static struct lgw_span *job_span(void)
{
    struct lgw_span *s = lgw_calloc(1, sizeof(*s));
    s->start_ns = 1;
    s->end_ns = 2;
    s->kind = LGW_SPAN_CONSUMER;
    lgw_strlcpy(s->name, "process tabcdef123.jobs.chat", sizeof(s->name));
    lgw_span_set_str(s, "messaging.system", "kafka");
    lgw_span_set_str(s, "messaging.destination.name", "tabcdef123.jobs.chat");
    lgw_span_set_str(s, "messaging.operation.type", "process");
    lgw_span_set_str(s, "messaging.operation.name", "process");
    lgw_span_set_str(s, "messaging.kafka.message.key", "8b0d05ba-eb09-46f5-9c71-cf78a016f1f1");
    lgw_span_set_str(s, "messaging.destination.partition.id", "2");
    lgw_span_set_int(s, "messaging.kafka.offset", 1234);
    lgw_span_set_str(s, "messaging.consumer.group.name", "tabcdef123-workers");
    lgw_span_set_str(s, "llmgw.request_id", "8b0d05ba-eb09-46f5-9c71-cf78a016f1f1");
    lgw_span_set_str(s, "llmgw.tenant", "acme");
    lgw_span_set_str(s, "gen_ai.operation.name", "chat");
    lgw_span_set_str(s, "llmgw.strategy", "cost");
    lgw_span_set_str(s, "llmgw.cache", "bypass");
    lgw_span_set_int(s, "llmgw.attempts", 1);
    lgw_span_set_double(s, "llmgw.cost_usd", 2.7e-6);
    lgw_span_set_str(s, "llmgw.outcome", "ok");
    lgw_span_set_int(s, "llmgw.status", 200);
    return s;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(void)
{
    static struct lgw_span *spans[BATCH];
    const struct lgw_otlp_kv res[] = {{"service.name", "llmgw-worker"}};
    struct lgw_otlp_meta meta = {res, 1, "llmgw", "bench"};
    struct lgw_buf out;
    lgw_buf_init(&out, 0);
    static double build[ROUNDS], encode[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_thread_cpu_s();
        for (int i = 0; i < BATCH; i++)
            spans[i] = job_span();
        double t1 = bench_thread_cpu_s();
        lgw_buf_reset(&out);
        lgw_otlp_encode_proto(&meta, spans, BATCH, &out);
        double t2 = bench_thread_cpu_s();
        for (int i = 0; i < BATCH; i++)
            lgw_span_free(spans[i]);
        build[r] = (t1 - t0) / BATCH;
        encode[r] = (t2 - t1) / BATCH;
    }
    double n = (double)ROUNDS * BATCH;
    printf("{\"bench\":\"span_cost\",\"spans\":%.0f,\"build_ns_per_span\":%.0f,\"encode_ns_per_span\":%.0f,"
           "\"bytes_per_span\":%zu}\n",
           n, median(build, ROUNDS) * 1e9, median(encode, ROUNDS) * 1e9, out.len / BATCH);
    lgw_buf_cleanup(&out);
    return 0;
}

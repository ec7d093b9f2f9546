/* wire_metrics.c - the provider attempt latency histogram (see wire_metrics.h and provider.h). */
#include "providers/wire_metrics.h"

#include <stdio.h>

#include "common/errors.h"
#include "providers/provider.h"

#define NAME "llmgw_provider_request_duration_seconds"

void lgw_provider_metrics_declare(struct lgw_metrics *m)
{
    struct lgw_metric_def def = {
        .name = NAME,
        .type = LGW_METRIC_HISTOGRAM,
        .help = "Latency of each HTTP attempt to a provider (retries counted one by one), to the end of its "
                "answer, by provider and outcome (ok, client_error, rate_limited, server_error, timeout, "
                "unreachable, cancelled, error).",
        .otel_name = "llmgw.provider.request.duration",
        .unit = "s",
    };
    lgw_metrics_define(m, &def);
}

/* A handful of outcomes, never the raw status: the label stays bounded whatever a provider answers. */
static const char *outcome(int status, int hrc, bool cancelled)
{
    if (cancelled)
        return "cancelled";
    if (hrc == LGW_ERR(TIMEOUT))
        return "timeout";
    if (hrc == LGW_ERR(UNAVAILABLE))
        return "unreachable";
    if (status >= 200 && status < 300)
        return hrc == 0 ? "ok" : "error"; /* a 2xx cut short is a failed attempt */
    if (status == 429)
        return "rate_limited";
    if (status >= 400 && status < 500)
        return "client_error";
    if (status >= 500 && status < 600)
        return "server_error";
    return "error";
}

void lgw_wire_metrics_attempt(struct lgw_metrics *m, const char *provider, int status, int hrc, bool cancelled,
                              int64_t us)
{
    if (!m)
        return;
    char name[128], labels[192];
    snprintf(labels, sizeof(labels), "provider=\"%s\",outcome=\"%s\"", lgw_metrics_escape(provider, name, sizeof(name)),
             outcome(status, hrc, cancelled));
    lgw_metrics_observe(m, NAME, labels, (double)us / 1e6);
}

/* resource.c - the OTLP resource and scope of a process (see resource.h). */
#include "telemetry/resource.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

void lgw_otel_resource_init(struct lgw_otel_resource *r, const struct lgw_otel_config *cfg, const char *version)
{
    memset(r, 0, sizeof(*r));
    lgw_strlcpy(r->host, "unknown", sizeof(r->host));
    gethostname(r->host, sizeof(r->host) - 1);
    snprintf(r->instance, sizeof(r->instance), "%s-%d", r->host, (int)getpid());
    size_t n = 0;
    r->kv[n++] = (struct lgw_otlp_kv){"service.name", cfg->service_name};
    r->kv[n++] = (struct lgw_otlp_kv){"service.version", version};
    r->kv[n++] = (struct lgw_otlp_kv){"service.instance.id", r->instance};
    r->kv[n++] = (struct lgw_otlp_kv){"host.name", r->host};
    r->kv[n++] = (struct lgw_otlp_kv){"telemetry.sdk.name", "llmgw"};
    r->kv[n++] = (struct lgw_otlp_kv){"telemetry.sdk.language", "c"};
    r->kv[n++] = (struct lgw_otlp_kv){"telemetry.sdk.version", version};
    for (int i = 0; i < cfg->nresource; i++) /* OTEL_RESOURCE_ATTRIBUTES: the operator's own */
        r->kv[n++] = (struct lgw_otlp_kv){cfg->resource[i].key, cfg->resource[i].value};
    r->meta = (struct lgw_otlp_meta){r->kv, n, "llmgw", version};
}

/* resource.h - who a process's telemetry comes from: the OTLP resource (service.name, service.version,
 * service.instance.id, host.name, telemetry.sdk.*, then OTEL_RESOURCE_ATTRIBUTES) and the instrumentation
 * scope, the same for its spans (tracer.c) and its metrics (meter.c). */
#ifndef LGW_TELEMETRY_RESOURCE_H
#define LGW_TELEMETRY_RESOURCE_H

#include "telemetry/otel_env.h"
#include "telemetry/otlp.h"

struct lgw_otel_resource {
    char host[256], instance[300];
    struct lgw_otlp_kv kv[8 + LGW_OTEL_RESOURCE_MAX];
    struct lgw_otlp_meta meta; /* points into kv, this struct, cfg and version */
};

/* Fills r for cfg and version (both borrowed: they must outlive r's use; the exporters copy meta at once).
 * Any thread. */
void lgw_otel_resource_init(struct lgw_otel_resource *r, const struct lgw_otel_config *cfg, const char *version);

#endif

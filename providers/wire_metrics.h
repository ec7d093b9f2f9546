/* wire_metrics.h - llmgw_provider_request_duration_seconds: the latency of each HTTP attempt to a provider
 * (a retry is an attempt of its own), by provider and outcome. Recorded by wire.c; declared by
 * lgw_provider_metrics_declare (provider.h). */
#ifndef LGW_WIRE_METRICS_H
#define LGW_WIRE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/metrics.h"

/* Records one attempt that took `us` microseconds: its HTTP status (0: none came), the transfer's result
 * code hrc (0, LGW_ERR(TIMEOUT), LGW_ERR(UNAVAILABLE), LGW_ERR(PROVIDER) ...) and whether the client left.
 * m NULL: nothing. Loop thread. */
void lgw_wire_metrics_attempt(struct lgw_metrics *m, const char *provider, int status, int hrc, bool cancelled,
                              int64_t us);

#endif

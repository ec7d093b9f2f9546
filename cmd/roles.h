/* roles.h - the subcommands of the llmgw binary, each a role that runs until SIGTERM/SIGINT. */
#ifndef LGW_ROLES_H
#define LGW_ROLES_H

#include <stdatomic.h>

#include "common/config.h"
#include "telemetry/otel_env.h"

/* Set by the signal handler; every role's loop watches it. */
extern atomic_bool lgw_stop_requested;

/* What every role runs with besides its configuration: the OpenTelemetry variables (validated; tracing is off
 * unless they name an endpoint) and the version spans report as service.version. Borrowed. */
struct lgw_role_env {
    const struct lgw_otel_config *otel;
    const char *version;
};

/* A role's metrics registry with the configured label caps (metrics_max_tenants on `tenant`,
 * metrics_max_models on the model labels). The caller owns it (lgw_metrics_free). */
struct lgw_metrics *lgw_role_metrics_new(const struct lgw_config *cfg);

/* Each returns the process exit code: 0 after a clean drain, non-zero when it could not start. */
int lgw_role_ingress(struct lgw_config *cfg, const struct lgw_role_env *env);
int lgw_role_worker(struct lgw_config *cfg, const struct lgw_role_env *env);
int lgw_role_ledger(struct lgw_config *cfg, const struct lgw_role_env *env);
int lgw_role_batch(struct lgw_config *cfg, const struct lgw_role_env *env);
int lgw_role_dev(struct lgw_config *cfg, const struct lgw_role_env *env);
#endif

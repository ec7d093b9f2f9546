/* opsrv.h - the small HTTP server that `llmgw worker` and `llmgw ledger` run for operations:
 * GET /healthz (alive: 200 {"status":"ok"}), GET /readyz (200 when ready_cb says so, else 503; 503
 * {"status":"starting"} before the role has one),
 * GET /metrics (Prometheus text from the registry). Anything else: 404/405 with an OpenAI-style error.
 * libmicrohttpd, internal polling thread, epoll. */
#ifndef LGW_OPSRV_H
#define LGW_OPSRV_H

#include <stdbool.h>

#include "common/metrics.h"

struct lgw_opsrv;

/* ready_cb is called from the server's thread; it must be thread-safe and quick. It may be NULL (always
 * ready). The registry must outlive the server. Returns 0 or LGW_ERR(IO) (e.g. port in use);
 * *out is owned by the caller and freed by lgw_opsrv_stop. */
int lgw_opsrv_start(const char *addr, int port, struct lgw_metrics *m, bool (*ready_cb)(void *opaque),
                    void *opaque, struct lgw_opsrv **out);
/* The same server, started before the role it reports on exists: a role's start can wait seconds on its brokers
 * or database, and a supervisor should see a process that is alive (/healthz 200) and not ready (/readyz 503
 * "starting") in that time, not a closed port it cannot tell from a dead process. A port already taken fails here,
 * before that wait. lgw_opsrv_set_ready gives the server its readiness once the role is made. */
int lgw_opsrv_start_early(const char *addr, int port, struct lgw_metrics *m, struct lgw_opsrv **out);
/* Call at most once, from one thread; srv may be NULL (no ops port): a no-op. */
void lgw_opsrv_set_ready(struct lgw_opsrv *srv, bool (*ready_cb)(void *opaque), void *opaque);
/* Stops the server and frees it; NULL is a no-op. */
void lgw_opsrv_stop(struct lgw_opsrv *srv);

#endif

/* opsrv.h - the small HTTP server that `llmgw worker` and `llmgw ledger` run for operations:
 * GET /healthz (alive: 200 {"status":"ok"}), GET /readyz (200 when ready_cb says so, else 503),
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
/* Stops the server and frees it; NULL is a no-op. */
void lgw_opsrv_stop(struct lgw_opsrv *srv);

#endif

/* api.h - the OpenAI Files and Batch API over HTTP (/v1/files, /v1/batches; docs/BATCH.md "Over HTTP"): a
 * library mounted in each ingress through common/http_call.h, like analytics, with its own small pool of
 * threads and their own database connections, so an upload being stored or a batch being submitted never
 * takes an HTTP thread. A bounded queue in front of the pool answers 503 when full. */
#ifndef LGW_BATCH_API_H
#define LGW_BATCH_API_H

#include <stddef.h>

#include "common/config.h"
#include "common/http_call.h"
#include "common/metrics.h"

/* The mounts lgw_batch_api_mounts fills: POST, GET and DELETE on /v1/files, POST and GET on /v1/batches. */
#define LGW_BATCH_API_MOUNTS 5

struct lgw_batch_api;

/* Starts batch_api_pool threads over cfg->database_url and creates the files table (again at the first call
 * when the database is down now). cfg and m must outlive it; *out owned by the caller (lgw_batch_api_free).
 * Returns 0 or LGW_ERR(CONFIG)/LGW_ERR(INTERNAL). Main thread. */
int lgw_batch_api_new(const struct lgw_config *cfg, struct lgw_metrics *m, struct lgw_batch_api **out);
/* Fills out[0..LGW_BATCH_API_MOUNTS) with the mounts serving api, for lgw_ingress_new_mounted. */
void lgw_batch_api_mounts(struct lgw_batch_api *api, struct lgw_http_mount *out);
/* Stops the threads after the call each is serving; calls still queued are done with 503. Call after the
 * ingress drained and before it is freed. NULL is a no-op. Main thread. */
void lgw_batch_api_free(struct lgw_batch_api *api);

#endif

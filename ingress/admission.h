/* admission.h - the ingress's admission step: may this request run, and as whom. The single place where
 * the gates in front of the queue live, in this order:
 *   1. identify   who is asking (tenant API key), for every route marked `auth` in the route table;
 *   2. admit      for a validated job, just before it is produced: the model allow-list of the key or
 *                 tenant (403), rate limits (limits/limits.h: requests
 *                 and tokens per window, requests in flight; the hold ends in lgw_req_settle_limits, request.h)
 *                 -> budgets (limits/budget.h: USD per tenant and key per UTC day and month, against
 *                 the spend the ledger publishes) -> readiness (Kafka reachable, replies positioned, not
 *                 draining).
 * A refusal is an LGW_ERR the caller answers in the client's dialect. */
#ifndef LGW_ADMISSION_H
#define LGW_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include "common/envelope.h"
#include "ingress/request.h"

/* Checks the caller's key (Authorization: Bearer, or x-api-key as the Anthropic SDK sends it) against the
 * admin keys, then the tenancy directory (config keys and admin-API keys; tenancy/tenancy.h), and sets
 * req->tenant and key_id (a tenant key) or req->admin (an admin key: tenant ""), and req->principal; in
 * `llmgw dev` with no keys configured the caller is tenant "dev" and admin. Returns 0 or
 * LGW_ERR(UNAUTHORIZED) with msg saying why when the key is known but revoked or expired ("" otherwise).
 * HTTP thread. */
int lgw_admission_identify(struct lgw_req *req, char *msg, size_t msgsz);
/* True when the request presents one of the configured admin keys (Authorization: Bearer). Unlike
 * lgw_admission_identify, `llmgw dev`'s anonymous caller is not an admin here: this gates per-tenant data on
 * routes anyone may call (/metrics). HTTP thread. */
bool lgw_admission_has_admin_key(const struct lgw_req *req);
/* Decides whether job (built, validated, not yet produced) may be queued now. Returns 0, or an LGW_ERR
 * with a message for the client in msg. HTTP thread. */
int lgw_admission_admit(struct lgw_req *req, const struct lgw_job *job, char *msg, size_t msgsz);
/* Readiness of this ingress (also /readyz): Kafka reachable, replies positioned, not draining, and every
 * extra check (`llmgw dev` adds its worker and ledger). Any thread. */
bool lgw_admission_ready(const struct lgw_ingress *ing);

#endif

/* admin.h - tenant administration in the ingress: the tenancy directory's life (built from the config, kept
 * current from the tenants topic, pushing tenant limits into the limiter) and the admin HTTP routes that
 * change it (docs/ADMIN.md).
 *
 * A change is written as the whole new record to the tenants topic (compacted: the latest per key is the
 * state) with an audit record on the audit topic; the route answers once Kafka acknowledged both and this
 * instance's own reader applied the record, so the caller reads its own write here, and every other
 * instance applies it when its reader gets it (within a second in practice; docs/ADMIN.md has the bound). */
#ifndef LGW_ADMIN_H
#define LGW_ADMIN_H

#include "httpd/server.h"

#include "ingress/request.h"

struct lgw_ingress;

/* Builds ing->tenancy from the config, starts the tenants topic's reader and the admin producer. Call after
 * ing->limits exists and before the HTTP server starts. Returns 0 or an LGW_ERR (the config's problems are
 * logged). Start-up thread. */
int lgw_admin_start(struct lgw_ingress *ing);
/* Stops the reader, flushes and closes the admin producer, frees the directory. Safe after a failed or
 * partial start. Call before ing->limits is freed. */
void lgw_admin_stop(struct lgw_ingress *ing);

/* Route handlers (ingress/routes.h; admin keys only). HTTP thread. */
enum lgw_hres lgw_admin_keys_create(struct lgw_req *req); /* POST /v1/admin/keys */
enum lgw_hres lgw_admin_keys_list(struct lgw_req *req);   /* GET /v1/admin/keys[?tenant=] */
enum lgw_hres lgw_admin_key_get(struct lgw_req *req);     /* GET /v1/admin/keys/{id} */
enum lgw_hres lgw_admin_key_update(struct lgw_req *req);  /* PATCH /v1/admin/keys/{id} */
enum lgw_hres lgw_admin_key_revoke(struct lgw_req *req);  /* DELETE /v1/admin/keys/{id} */
enum lgw_hres lgw_admin_tenant_get(struct lgw_req *req);  /* GET /v1/admin/tenants/{name} */
enum lgw_hres lgw_admin_tenant_put(struct lgw_req *req);  /* PUT /v1/admin/tenants/{name} */
enum lgw_hres lgw_admin_tenant_patch(struct lgw_req *req); /* PATCH /v1/admin/tenants/{name} */

#endif

/* info.h - the ingress's GET endpoints that answer from this process: liveness, readiness, metrics, the
 * model list and its entries (from this ingress's copy of the catalog), and the providers' status (from what the
 * workers publish). Route handlers (ingress/routes.h);
 * HTTP thread. */
#ifndef LGW_INFO_H
#define LGW_INFO_H

#include "httpd/server.h"

#include "ingress/request.h"

enum lgw_hres lgw_info_healthz(struct lgw_req *req);
enum lgw_hres lgw_info_readyz(struct lgw_req *req);
enum lgw_hres lgw_info_metrics(struct lgw_req *req);
enum lgw_hres lgw_info_models(struct lgw_req *req);
/* One model of that list by the id in the path (req->path_arg), or 404 model_not_found. */
enum lgw_hres lgw_info_model(struct lgw_req *req);
/* GET /v1/providers: every provider with what the workers' breakers say of it (ingress/providers.h). */
enum lgw_hres lgw_info_providers(struct lgw_req *req);

#endif

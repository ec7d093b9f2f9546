/* info.c - GET /healthz, /readyz, /metrics, /v1/models, /v1/models/{id}, /v1/providers (see info.h); the model
 * routes show a key with an allow-list only what it may use. */
#include "ingress/info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/errors.h"
#include "ingress/admission.h"
#include "ingress/ingress_int.h"
#include "ingress/providers.h"
#include "routing/catalog.h"
#include "routing/router.h"
#include "tenancy/tenancy.h"

enum lgw_hres lgw_info_healthz(struct lgw_req *req)
{
    return lgw_req_answer_text(req, 200, "{\"status\":\"ok\"}", NULL);
}

enum lgw_hres lgw_info_readyz(struct lgw_req *req)
{
    return lgw_admission_ready(req->ing) ? lgw_req_answer_text(req, 200, "{\"status\":\"ready\"}", NULL)
                                         : lgw_req_answer_text(req, 503, "{\"status\":\"not ready\"}", NULL);
}

/* Anyone may scrape the public port, so per-tenant (private) metrics need the admin key here; the ops port
 * (ingress_ops_port) serves them to whoever can reach it, like the worker's and ledger's. */
enum lgw_hres lgw_info_metrics(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    struct lgw_buf buf;
    lgw_buf_init(&buf, 0);
    if (lgw_admission_has_admin_key(req))
        lgw_metrics_render(ing->m, &buf);
    else
        lgw_metrics_render_public(ing->m, &buf);
    size_t len;
    char *text = lgw_buf_take(&buf, &len);
    lgw_req_complete(req, 200, text, len);
    return lgw_req_queue(req, "text/plain; version=0.0.4; charset=utf-8");
}

enum lgw_hres lgw_info_models(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    lgw_catalog_holder_refresh(ing->catalog);
    struct lgw_catalog *cat = lgw_catalog_current(ing->catalog);
    json_t *models = lgw_router_models_json(cat, ing->cfg);
    lgw_catalog_unref(cat);
    /* A key or tenant with a model allow-list sees the models it may name, so a client picking from the list
     * does not pick a 403. */
    json_t *data = json_object_get(models, "data");
    char msg[512];
    for (size_t i = json_array_size(data); i-- > 0;) {
        const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
        if (id && lgw_tenancy_check_model(ing->tenancy, req->tenant, req->key_id, id, msg, sizeof(msg)))
            json_array_remove(data, i);
    }
    char *text = json_dumps(models, JSON_COMPACT);
    json_decref(models);
    if (!text)
        return lgw_req_answer_error(req, LGW_ERR(INTERNAL), NULL);
    lgw_req_complete(req, 200, text, strlen(text));
    return lgw_req_queue(req, NULL);
}

enum lgw_hres lgw_info_model(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    lgw_catalog_holder_refresh(ing->catalog);
    struct lgw_catalog *cat = lgw_catalog_current(ing->catalog);
    json_t *model = req->path_arg[0] ? lgw_router_model_json(cat, ing->cfg, req->path_arg) : NULL;
    lgw_catalog_unref(cat);
    char why[512];
    if (model && lgw_tenancy_check_model(ing->tenancy, req->tenant, req->key_id, req->path_arg, why, sizeof(why))) {
        json_decref(model);
        return lgw_req_answer_error_param(req, LGW_ERR(FORBIDDEN), why, "model");
    }
    if (!model) {
        char msg[256];
        snprintf(msg, sizeof(msg), "The model '%.128s' does not exist or is not served by this gateway.",
                 req->path_arg);
        return lgw_req_answer_error_param(req, LGW_ERR(MODEL_NOT_FOUND), msg, "model");
    }
    char *text = json_dumps(model, JSON_COMPACT);
    json_decref(model);
    if (!text)
        return lgw_req_answer_error(req, LGW_ERR(INTERNAL), NULL);
    lgw_req_complete(req, 200, text, strlen(text));
    return lgw_req_queue(req, NULL);
}

/* Any identified caller, a tenant key or an admin key, reads the same answer: it holds nothing of any tenant
 * (provider and model names, breaker states, latencies, and counts summed over every tenant's calls), so no
 * tenant learns anything of another from it. */
enum lgw_hres lgw_info_providers(struct lgw_req *req)
{
    struct lgw_ingress *ing = req->ing;
    lgw_catalog_holder_refresh(ing->catalog);
    struct lgw_catalog *cat = lgw_catalog_current(ing->catalog);
    json_t *list = lgw_providers_json(ing->providers, cat, lgw_wall_ms());
    lgw_catalog_unref(cat);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    if (!text)
        return lgw_req_answer_error(req, LGW_ERR(INTERNAL), NULL);
    lgw_req_complete(req, 200, text, strlen(text));
    return lgw_req_queue(req, NULL);
}

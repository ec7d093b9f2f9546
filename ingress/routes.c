/* routes.c - the route table (see routes.h). */
#include "ingress/routes.h"

#include <string.h>

#include "ingress/info.h"
#include "ingress/jobs.h"

static const struct lgw_route routes[] = {
    /* method  path                    handler               auth   body   dialect */
    {"POST", "/v1/chat/completions", lgw_jobs_chat,        true,  true,  &lgw_dialect_openai},
    {"POST", "/v1/chat",             lgw_jobs_chat,        true,  true,  &lgw_dialect_openai},
    {"POST", "/v1/messages",         lgw_jobs_chat,        true,  true,  &lgw_dialect_anthropic},
    {"POST", "/v1/embeddings",       lgw_jobs_embeddings,  true,  true,  &lgw_dialect_openai},
    {"GET",  "/v1/models",           lgw_info_models,      true,  false, &lgw_dialect_openai},
    {"GET",  "/healthz",             lgw_info_healthz,     false, false, NULL},
    {"GET",  "/readyz",              lgw_info_readyz,      false, false, NULL},
    {"GET",  "/metrics",             lgw_info_metrics,     false, false, NULL},
};

const struct lgw_route *lgw_route_find(const char *method, const char *path, const struct lgw_route **same_path)
{
    *same_path = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(path, routes[i].path) != 0)
            continue;
        *same_path = &routes[i];
        if (strcmp(method, routes[i].method) == 0)
            return &routes[i];
    }
    return NULL;
}

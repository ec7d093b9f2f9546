/* routes.c - the route table (see routes.h). */
#include "ingress/routes.h"

#include <string.h>

#include "common/errors.h"
#include "ingress/admin.h"
#include "ingress/count_tokens.h"
#include "ingress/info.h"
#include "ingress/jobs.h"
#include "ingress/static.h"

/* Paths under a dialect's prefix that no row serves are answered in that dialect (a 404 in Anthropic's shape
 * for /v1/messages/<anything else>), which a client of that API can read. */
static enum lgw_hres not_found(struct lgw_req *req)
{
    return lgw_req_answer_error(req, LGW_ERR(NOT_FOUND), NULL);
}

static const struct lgw_route routes[] = {
    /* method  path                          handler               auth   body   dialect                 admin  body_max */
    {"POST", "/v1/chat/completions",       lgw_jobs_chat,        true,  true,  &lgw_dialect_openai,    false, 0},
    {"POST", "/v1/chat",                   lgw_jobs_chat,        true,  true,  &lgw_dialect_openai,    false, 0},
    {"POST", "/v1/messages",               lgw_jobs_chat,        true,  true,  &lgw_dialect_anthropic, false, 0},
    {"POST", "/v1/messages/count_tokens",  lgw_count_tokens,     true,  true,  &lgw_dialect_anthropic, false, 0},
    {NULL,   "/v1/messages/{any}",         not_found,            false, false, &lgw_dialect_anthropic, false, 0},
    {"POST", "/v1/embeddings",             lgw_jobs_embeddings,  true,  true,  &lgw_dialect_openai,    false, 0},
    {"GET",  "/v1/models",                 lgw_info_models,      true,  false, &lgw_dialect_openai,    false, 0},
    {"GET",  "/v1/models/{id}",            lgw_info_model,       true,  false, &lgw_dialect_openai,    false, 0},
    /* admin: an operator's key may read it too; it holds nothing of any tenant (info.c). */
    {"GET",  "/v1/providers",              lgw_info_providers,   true,  false, &lgw_dialect_openai,    true, 0},
    {"POST", "/v1/admin/keys",             lgw_admin_keys_create, true, true,  &lgw_dialect_openai,    true, 0},
    {"GET",  "/v1/admin/keys",             lgw_admin_keys_list,  true,  false, &lgw_dialect_openai,    true, 0},
    {"GET",  "/v1/admin/keys/{id}",        lgw_admin_key_get,    true,  false, &lgw_dialect_openai,    true, 0},
    {"PATCH", "/v1/admin/keys/{id}",       lgw_admin_key_update, true,  true,  &lgw_dialect_openai,    true, 0},
    {"DELETE", "/v1/admin/keys/{id}",      lgw_admin_key_revoke, true,  false, &lgw_dialect_openai,    true, 0},
    {"GET",  "/v1/admin/tenants/{name}",   lgw_admin_tenant_get, true,  false, &lgw_dialect_openai,    true, 0},
    {"PUT",  "/v1/admin/tenants/{name}",   lgw_admin_tenant_put, true,  true,  &lgw_dialect_openai,    true, 0},
    {"PATCH", "/v1/admin/tenants/{name}",  lgw_admin_tenant_patch, true, true, &lgw_dialect_openai,    true, 0},
    {"GET",  "/healthz",                   lgw_info_healthz,     false, false, NULL,                   false, 0},
    {"GET",  "/readyz",                    lgw_info_readyz,      false, false, NULL,                   false, 0},
    {"GET",  "/metrics",                   lgw_info_metrics,     false, false, NULL,                   false, 0},
    /* The dashboard (static.h): public, like any web page; the calls it makes carry the key. */
    {"GET",  "/",                          lgw_static_serve_index, false, false, NULL,                 false, 0},
    {"HEAD", "/",                          lgw_static_serve_index, false, false, NULL,                 false, 0},
    {"GET",  "/ui/{name}",                 lgw_static_serve_file, false, false, NULL,                  false, 0},
    {"HEAD", "/ui/{name}",                 lgw_static_serve_file, false, false, NULL,                  false, 0},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* A pattern's fixed part: up to its "{" (the whole path when it has none). */
static size_t fixed_len(const char *pattern)
{
    const char *brace = strchr(pattern, '{');
    return brace ? (size_t)(brace - pattern) : strlen(pattern);
}

static bool method_ok(const struct lgw_route *r, const char *method)
{
    return !r->method || strcmp(method, r->method) == 0;
}

const struct lgw_route *lgw_route_find(const char *method, const char *path, const struct lgw_route **same_path,
                                       const char **arg)
{
    *same_path = NULL;
    *arg = NULL;
    /* Exact paths first: a known path with another method is a 405, never a pattern's answer. */
    for (size_t i = 0; i < NROUTES; i++) {
        if (strchr(routes[i].path, '{') || strcmp(path, routes[i].path) != 0)
            continue;
        *same_path = &routes[i];
        if (method_ok(&routes[i], method))
            return &routes[i];
    }
    if (*same_path)
        return NULL;
    for (size_t i = 0; i < NROUTES; i++) {
        size_t n = fixed_len(routes[i].path);
        if (!routes[i].path[n] || strncmp(path, routes[i].path, n) != 0 || !path[n])
            continue; /* not a pattern, another prefix, or nothing after it */
        *same_path = &routes[i];
        if (method_ok(&routes[i], method)) {
            *arg = path + n;
            return &routes[i];
        }
    }
    return NULL;
}

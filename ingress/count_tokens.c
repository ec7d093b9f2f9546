/* count_tokens.c - Anthropic's count_tokens from the gateway's estimate (see count_tokens.h). */
#include "ingress/count_tokens.h"

#include <stdio.h>

#include "common/errors.h"
#include "ingress/ingress_int.h"
#include "common/validate.h"
#include "routing/catalog.h"
#include "routing/estimate.h"

/* A model this gateway can route to: a group, or a catalog model by name (whether its provider has a key is
 * the worker's business at request time; a count costs nothing). */
static bool known_model(struct lgw_ingress *ing, const char *name)
{
    lgw_catalog_holder_refresh(ing->catalog);
    struct lgw_catalog *cat = lgw_catalog_current(ing->catalog);
    size_t n;
    const struct lgw_model_info *m;
    bool known = lgw_catalog_group(cat, name, &n) || lgw_catalog_resolve(cat, name, LGW_JOB_CHAT, &m, 1) > 0;
    lgw_catalog_unref(cat);
    return known;
}

enum lgw_hres lgw_count_tokens(struct lgw_req *req)
{
    const struct lgw_config *cfg = req->ing->cfg;
    char msg[512];
    json_t *raw = NULL, *body = NULL;
    int rc = lgw_validate_parse(req->body.ptr ? req->body.ptr : "", req->body.len, (int)cfg->max_json_depth, &raw,
                                msg, sizeof(msg));
    if (rc)
        return lgw_req_answer_error(req, rc, msg);
    /* count_tokens takes the Messages request without max_tokens, which the conversion requires; the count
     * is of the input only, so any value does. */
    if (!json_object_get(raw, "max_tokens"))
        json_object_set_new(raw, "max_tokens", json_integer(1));
    rc = req->dialect->request(raw, &body, msg, sizeof(msg));
    json_decref(raw);
    if (rc)
        return lgw_req_answer_error(req, rc, msg);
    const char *model = json_string_value(json_object_get(body, "model"));
    if (!known_model(req->ing, model)) {
        snprintf(msg, sizeof(msg), "model: %.128s", model);
        json_decref(body);
        return lgw_req_answer_error(req, LGW_ERR(MODEL_NOT_FOUND), msg);
    }
    struct lgw_route_needs needs;
    lgw_route_needs_of(body, LGW_JOB_CHAT, false, &needs);
    json_decref(body);
    char text[64];
    snprintf(text, sizeof(text), "{\"input_tokens\":%lld}", (long long)needs.input_tokens);
    return lgw_req_answer_text(req, 200, text, NULL);
}

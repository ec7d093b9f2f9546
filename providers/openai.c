/* openai.c - the OpenAI adapter: OpenAI's own endpoint and key (its models and prices are in the catalog);
 * the wire protocol is openai_wire.c. */
#include <stdio.h>

#include "providers/openai_wire.h"
#include "providers/provider.h"

static bool configured(const struct lgw_config *cfg)
{
    return cfg->openai_api_key[0] != '\0';
}

static int openai_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_config *cfg = call->cfg;
    const struct lgw_model_info *model = call->model;
    char url[320], auth[600];
    snprintf(url, sizeof(url), "%s%s", cfg->openai_base_url,
             model->kind == LGW_JOB_CHAT ? "/chat/completions" : "/embeddings");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->openai_api_key);
    return lgw_oai_call(call, url, curl_slist_append(NULL, auth), 0);
}

const struct lgw_provider lgw_provider_openai = {
    .name = "openai",
    .title = "OpenAI",
    .configured = configured,
    .call = openai_call,
};

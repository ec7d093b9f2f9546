/* mistral.c - the Mistral adapter: Mistral's API is OpenAI's with a few renamed fields (openai_wire.c's
 * LGW_OAI_MISTRAL dialect) and errors at the top level of the body; models and prices are in the catalog. */
#include <stdio.h>

#include "providers/openai_wire.h"
#include "providers/provider.h"

static bool configured(const struct lgw_config *cfg)
{
    return cfg->mistral_api_key[0] != '\0';
}

static int mistral_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_config *cfg = call->cfg;
    const struct lgw_model_info *model = call->model;
    char url[320], auth[600];
    snprintf(url, sizeof(url), "%s%s", cfg->mistral_base_url,
             model->kind == LGW_JOB_CHAT ? "/chat/completions" : "/embeddings");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->mistral_api_key);
    return lgw_oai_call(call, url, curl_slist_append(NULL, auth), LGW_OAI_MISTRAL);
}

const struct lgw_provider lgw_provider_mistral = {
    .name = "mistral",
    .title = "Mistral AI",
    .configured = configured,
    .call = mistral_call,
};

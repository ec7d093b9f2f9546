/* openai.c - the OpenAI adapter: OpenAI's own endpoint, key and model list with prices (docs/PRICES.md);
 * the wire protocol is openai_wire.c. */
#include <stdio.h>

#include "openai_wire.h"
#include "provider.h"

/* Prices in nano-USD per 1M tokens (input, output, cached input), from the OpenAI price list as recorded
 * in docs/PRICES.md. */
static const struct lgw_model_info openai_models[] = {
    {"gpt-4o", NULL, LGW_JOB_CHAT, {2500000000LL, 10000000000LL, 1250000000LL, true, 0}},
    {"gpt-4o-mini", NULL, LGW_JOB_CHAT, {150000000LL, 600000000LL, 75000000LL, true, 0}},
    {"gpt-4.1", NULL, LGW_JOB_CHAT, {2000000000LL, 8000000000LL, 500000000LL, true, 0}},
    {"gpt-4.1-mini", NULL, LGW_JOB_CHAT, {400000000LL, 1600000000LL, 100000000LL, true, 0}},
    {"gpt-4.1-nano", NULL, LGW_JOB_CHAT, {100000000LL, 400000000LL, 25000000LL, true, 0}},
    {"o3", NULL, LGW_JOB_CHAT, {2000000000LL, 8000000000LL, 500000000LL, true, 0}},
    {"o3-mini", NULL, LGW_JOB_CHAT, {1100000000LL, 4400000000LL, 550000000LL, true, 0}},
    {"o4-mini", NULL, LGW_JOB_CHAT, {1100000000LL, 4400000000LL, 275000000LL, true, 0}},
    {"text-embedding-3-small", NULL, LGW_JOB_EMBEDDINGS, {20000000LL, 0, 0, true, 0}},
    {"text-embedding-3-large", NULL, LGW_JOB_EMBEDDINGS, {130000000LL, 0, 0, true, 0}},
};

static bool configured(const struct lgw_config *cfg)
{
    return cfg->openai_api_key[0] != '\0';
}

static int openai_call(const struct lgw_provider *prov, const struct lgw_config *cfg,
                       const struct lgw_model_info *model, const struct lgw_job *job, struct lgw_prov_stream *stream,
                       struct lgw_prov_result *res)
{
    (void)prov;
    char url[320], auth[600];
    snprintf(url, sizeof(url), "%s%s", cfg->openai_base_url,
             model->kind == LGW_JOB_CHAT ? "/chat/completions" : "/embeddings");
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->openai_api_key);
    return lgw_oai_call(cfg, url, curl_slist_append(NULL, auth), model, job, stream, res);
}

const struct lgw_provider lgw_provider_openai = {
    .name = "openai",
    .configured = configured,
    .models = openai_models,
    .nmodels = sizeof(openai_models) / sizeof(openai_models[0]),
    .call = openai_call,
};

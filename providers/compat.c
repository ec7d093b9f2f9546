/* compat.c - the OpenAI-compatible adapter: one configurable server that speaks OpenAI's API (Mistral,
 * Groq, Together, DeepSeek, vLLM, Ollama, Azure OpenAI). Base URL (with `{model}` for Azure deployment
 * URLs), auth header style, api-version and the model list with prices all come from configuration. */
#include <stdio.h>
#include <string.h>

#include "common/errors.h"
#include "providers/openai_wire.h"
#include "providers/provider.h"

static bool configured(const struct lgw_config *cfg)
{
    return cfg->compat_base_url[0] != '\0' && cfg->ncompat > 0;
}

/* Base URL with {model} replaced by the upstream name, the endpoint path, and ?api-version= if set. */
static int build_url(const struct lgw_config *cfg, const struct lgw_model_info *model, char *url, size_t urlsz)
{
    const char *base = cfg->compat_base_url, *mark = strstr(base, "{model}");
    const char *name = model->upstream ? model->upstream : model->id;
    const char *path = model->kind == LGW_JOB_CHAT ? "/chat/completions" : "/embeddings";
    int n;
    if (mark)
        n = snprintf(url, urlsz, "%.*s%s%s%s", (int)(mark - base), base, name, mark + 7, path);
    else
        n = snprintf(url, urlsz, "%s%s", base, path);
    if (n > 0 && (size_t)n < urlsz && cfg->compat_api_version[0])
        n += snprintf(url + n, urlsz - (size_t)n, "?api-version=%s", cfg->compat_api_version);
    return n > 0 && (size_t)n < urlsz ? 0 : -1;
}

static int compat_call(const struct lgw_provider *prov, struct lgw_prov_call *call)
{
    (void)prov;
    const struct lgw_config *cfg = call->cfg;
    const struct lgw_model_info *model = call->model;
    char url[768], auth[600];
    if (build_url(cfg, model, url, sizeof(url))) {
        lgw_prov_result_error(&call->res, LGW_ERR(PROVIDER), "The compatible server's URL is too long.");
        call->done(call);
        return 0;
    }
    struct curl_slist *headers = NULL;
    if (strcmp(cfg->compat_auth, "api-key") == 0) {
        snprintf(auth, sizeof(auth), "api-key: %s", cfg->compat_api_key);
        headers = curl_slist_append(headers, auth);
    } else if (strcmp(cfg->compat_auth, "bearer") == 0 && cfg->compat_api_key[0]) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->compat_api_key);
        headers = curl_slist_append(headers, auth);
    }
    return lgw_oai_call(call, url, headers, 0);
}

const struct lgw_provider lgw_provider_compat = {
    .name = "compat",
    .title = "OpenAI-compatible",
    .configured = configured,
    .call = compat_call,
};

/* registry.c - the table of provider adapters and model lookup over it. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "errors.h"
#include "provider.h"

/* One line per provider; order is the lookup order for bare model names. */
static const struct lgw_provider *const providers[] = {
    &lgw_provider_echo,
    &lgw_provider_openai,
    &lgw_provider_anthropic,
    &lgw_provider_gemini,
    &lgw_provider_compat,
};

static const struct lgw_model_info *models_of(const struct lgw_provider *prov, const struct lgw_config *cfg,
                                              size_t *n)
{
    if (prov->list)
        return prov->list(cfg, n);
    *n = prov->nmodels;
    return prov->models;
}
#define NPROVIDERS (sizeof(providers) / sizeof(providers[0]))

const struct lgw_provider *lgw_provider_find(const struct lgw_config *cfg, const char *model, enum lgw_job_kind kind,
                                             const struct lgw_model_info **info)
{
    const char *slash = strchr(model, '/');
    for (size_t p = 0; p < NPROVIDERS; p++) {
        const struct lgw_provider *prov = providers[p];
        if (!prov->configured(cfg))
            continue;
        const char *name = model;
        if (slash) {
            size_t plen = (size_t)(slash - model);
            if (strlen(prov->name) != plen || strncmp(prov->name, model, plen) != 0)
                continue;
            name = slash + 1;
        }
        size_t n;
        const struct lgw_model_info *models = models_of(prov, cfg, &n);
        for (size_t m = 0; m < n; m++) {
            if (models[m].kind == kind && strcmp(models[m].id, name) == 0) {
                *info = &models[m];
                return prov;
            }
        }
    }
    *info = NULL;
    return NULL;
}

json_t *lgw_provider_models_json(const struct lgw_config *cfg)
{
    json_t *data = json_array();
    for (size_t p = 0; p < NPROVIDERS; p++) {
        if (!providers[p]->configured(cfg))
            continue;
        size_t n;
        const struct lgw_model_info *models = models_of(providers[p], cfg, &n);
        for (size_t m = 0; m < n; m++)
            json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id", models[m].id, "object", "model",
                                                  "created", 0, "owned_by", providers[p]->name));
    }
    return json_pack("{s:s, s:o}", "object", "list", "data", data);
}

void lgw_prov_result_cleanup(struct lgw_prov_result *res)
{
    json_decref(res->body);
    res->body = NULL;
}

json_t *lgw_error_json(int rc, const char *message)
{
    return json_pack("{s:{s:s, s:s, s:n, s:s}}", "error", "message", message ? message : lgw_err_message(rc), "type",
                     lgw_err_type(rc), "param", "code", lgw_err_code(rc));
}

void lgw_prov_result_error(struct lgw_prov_result *res, int status, const char *type, const char *code,
                           const char *message)
{
    json_decref(res->body);
    res->status = status;
    res->body = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type", type, "param", "code",
                          code);
}

json_t *lgw_prov_embedding_value(json_t *numbers, bool base64)
{
    if (!base64)
        return json_incref(numbers);
    size_t n = json_array_size(numbers);
    float *v = lgw_calloc(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++)
        v[i] = (float)json_number_value(json_array_get(numbers, i));
    size_t nbytes = n * sizeof(float);
    char *b64 = lgw_malloc(4 * ((nbytes + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)v, (int)nbytes);
    json_t *s = json_string(b64);
    free(b64);
    free(v);
    return s;
}
